"""The JSON API at ``/api/v1``: documentation, tokens for residents, staff and partner
clients, and RFC 9457 problem documents for every error (SECURITY.md A3, A4, A5, D3)."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import time_machine

from portal.accounts.roles import Role
from portal.accounts.services import set_active
from portal.api.auth import create_client
from portal.core.clock import utcnow
from portal.core.errors import ValidationFailed
from portal.core.identifiers import make_credit_code
from tests.factories import PASSWORD, DistrictFactory
from tests.factories.fixtures import make_staff, totp_now

PROBLEM = "application/problem+json"
MASKED_ID = re.compile(r"^\d{4}\*{10}[\dX]{4}$")
COURT = "桂林市中级人民法院"
CREDIT_CODE = make_credit_code("91450300MA5L12345")


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def get_token(client, identifier: str, password: str = PASSWORD, **extra) -> str:
    resp = client.post(
        "/api/v1/auth/token", json={"identifier": identifier, "password": password, **extra}
    )
    assert resp.status_code == 201, resp.get_data(as_text=True)
    return resp.get_json()["access_token"]


def assert_problem(resp, status: int) -> dict:
    """An RFC 9457 problem document with the given status."""
    assert resp.status_code == status, resp.get_data(as_text=True)
    assert resp.mimetype == PROBLEM
    body = resp.get_json(force=True)
    for key in ("type", "title", "status", "detail"):
        assert key in body, f"{key} missing from {body}"
    assert body["status"] == status
    assert body["title"]
    assert body["detail"]
    return body


def retry_after(resp) -> int:
    value = resp.headers.get("Retry-After")
    assert value is not None, "no Retry-After header"
    assert value.isdigit(), value
    assert int(value) > 0
    return int(value)


# --- documentation ---------------------------------------------------------------------


def test_openapi_document_describes_the_api(client):
    resp = client.get("/api/v1/openapi.json")
    assert resp.status_code == 200
    spec = resp.get_json()
    assert spec["openapi"].startswith("3.")
    for path in ("/api/v1/auth/token", "/api/v1/auth/client-token", "/api/v1/me"):
        assert path in spec["paths"], path
    assert "/api/v1/districts" in spec["paths"]
    assert spec["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"


def test_openapi_document_is_valid(client):
    validator = pytest.importorskip("openapi_spec_validator")
    validator.validate(client.get("/api/v1/openapi.json").get_json())


def test_api_docs_page_uses_the_bundled_swagger_ui(client):
    resp = client.get("/api/v1/docs")
    assert resp.status_code == 200
    assert resp.mimetype == "text/html"
    html = resp.get_data(as_text=True)
    assert "/static/vendor/swagger-ui/swagger-ui-bundle.js" in html
    links = re.findall(r"""(?:src|href)\s*=\s*["']([^"']*)["']""", html)
    assert links
    external = [u for u in links if re.match(r"(?i)(https?:)?//", u)]
    assert external == []
    static = client.get("/static/vendor/swagger-ui/swagger-ui-bundle.js")
    assert static.status_code == 200
    assert len(static.get_data()) > 1000


# --- residents' tokens -----------------------------------------------------------------


def test_resident_gets_a_token_and_sees_own_masked_identity(client, resident):
    resp = client.post(
        "/api/v1/auth/token", json={"identifier": resident.mobile, "password": PASSWORD}
    )
    assert resp.status_code == 201, resp.get_data(as_text=True)
    body = resp.get_json()
    assert body["token_type"] == "Bearer"
    assert body["access_token"]
    assert body["expires_in"] > 0

    me = client.get("/api/v1/me", headers=bearer(body["access_token"]))
    assert me.status_code == 200, me.get_data(as_text=True)
    data = me.get_json()
    assert data["kind"] == "user"
    assert data["role"] == "resident"
    assert data["name"] == resident.real_name
    assert MASKED_ID.fullmatch(data["id_number"])
    assert data["id_number"] != resident.id_number
    assert data["id_number"] == resident.id_number[:4] + "*" * 10 + resident.id_number[-4:]
    assert data["mobile"] == resident.mobile[:3] + "****" + resident.mobile[-4:]
    raw = me.get_data(as_text=True)
    assert resident.id_number not in raw
    assert resident.mobile not in raw
    assert data["scopes"] == []


def test_resident_may_use_the_id_number_as_identifier(client, resident):
    token = get_token(client, resident.id_number)
    me = client.get("/api/v1/me", headers=bearer(token))
    assert me.status_code == 200
    assert me.get_json()["name"] == resident.real_name


def test_wrong_password_and_unknown_identifier_answer_alike(client, resident):
    wrong = client.post(
        "/api/v1/auth/token", json={"identifier": resident.mobile, "password": PASSWORD + "x"}
    )
    unknown = client.post(
        "/api/v1/auth/token", json={"identifier": "13712345678", "password": PASSWORD}
    )
    a, b = assert_problem(wrong, 401), assert_problem(unknown, 401)
    assert (a["title"], a["detail"]) == (b["title"], b["detail"])
    assert "access_token" not in a


def test_five_wrong_passwords_lock_the_account_through_the_api(client, resident):
    for _ in range(5):
        resp = client.post(
            "/api/v1/auth/token", json={"identifier": resident.mobile, "password": "wrong-1234"}
        )
        assert_problem(resp, 401)
    locked = client.post(
        "/api/v1/auth/token", json={"identifier": resident.mobile, "password": PASSWORD}
    )
    assert_problem(locked, 429)
    assert retry_after(locked) <= 15 * 60
    assert "access_token" not in locked.get_json(force=True)


def test_failed_api_sign_in_writes_one_audit_event(client, resident, db):
    import sqlalchemy as sa

    from portal.core.audit import AuditEvent

    def failures() -> int:
        return db.session.scalar(
            sa.select(sa.func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.event == "auth.login", AuditEvent.result == "failure")
        )

    before = failures()
    resp = client.post(
        "/api/v1/auth/token", json={"identifier": resident.mobile, "password": "wrong-1234"}
    )
    assert_problem(resp, 401)
    assert failures() == before + 1


def test_eleventh_token_request_from_one_address_is_refused(client):
    for i in range(10):
        resp = client.post(
            "/api/v1/auth/token", json={"identifier": f"nobody{i}", "password": "wrong-1234"}
        )
        assert_problem(resp, 401)
    resp = client.post(
        "/api/v1/auth/token", json={"identifier": "nobody-else", "password": "wrong-1234"}
    )
    assert_problem(resp, 429)
    retry_after(resp)


def test_another_address_is_not_limited_by_the_first(client):
    for i in range(11):
        client.post(
            "/api/v1/auth/token", json={"identifier": f"nobody{i}", "password": "wrong-1234"}
        )
    resp = client.post(
        "/api/v1/auth/token",
        json={"identifier": "nobody-else", "password": "wrong-1234"},
        environ_base={"REMOTE_ADDR": "192.0.2.7"},
    )
    assert_problem(resp, 401)


def test_revoked_token_is_refused(client, resident):
    token = get_token(client, resident.mobile)
    assert client.get("/api/v1/me", headers=bearer(token)).status_code == 200
    resp = client.delete("/api/v1/auth/token", headers=bearer(token))
    assert resp.status_code == 204
    me = client.get("/api/v1/me", headers=bearer(token))
    assert_problem(me, 401)
    assert me.headers["WWW-Authenticate"].startswith("Bearer")


def test_me_without_token_is_refused(client):
    resp = client.get("/api/v1/me")
    assert_problem(resp, 401)
    assert resp.headers["WWW-Authenticate"].startswith("Bearer")
    bogus = client.get("/api/v1/me", headers=bearer("not-a-token"))
    assert_problem(bogus, 401)


def test_cookie_session_does_not_authenticate_the_api(resident_client):
    assert_problem(resident_client.get("/api/v1/me"), 401)


def test_token_expires_after_the_configured_hours(app, client, resident):
    token = get_token(client, resident.mobile)
    hours = app.config["API_TOKEN_HOURS"]
    with time_machine.travel(utcnow() + timedelta(hours=hours, minutes=-1), tick=False):
        assert client.get("/api/v1/me", headers=bearer(token)).status_code == 200
    with time_machine.travel(utcnow() + timedelta(hours=hours, minutes=1), tick=False):
        assert_problem(client.get("/api/v1/me", headers=bearer(token)), 401)


def test_disabling_an_account_ends_its_tokens(client, resident, db):
    token = get_token(client, resident.mobile)
    assert client.get("/api/v1/me", headers=bearer(token)).status_code == 200
    admin = make_staff(Role.ADMIN)
    set_active(admin, resident, False)
    db.session.flush()
    assert_problem(client.get("/api/v1/me", headers=bearer(token)), 401)
    # and no new token either
    resp = client.post(
        "/api/v1/auth/token", json={"identifier": resident.mobile, "password": PASSWORD}
    )
    assert_problem(resp, 401)


# --- staff ------------------------------------------------------------------------------


def test_staff_token_needs_the_totp_code(client):
    officer = make_staff(Role.OFFICER)
    resp = client.post(
        "/api/v1/auth/token", json={"identifier": officer.username, "password": PASSWORD}
    )
    body = assert_problem(resp, 422)
    assert "code" in body["errors"]
    assert "access_token" not in body


def test_staff_token_with_code_and_the_code_is_single_use(client):
    officer = make_staff(Role.OFFICER)
    code = totp_now(officer)
    token = get_token(client, officer.username, code=code)
    me = client.get("/api/v1/me", headers=bearer(token)).get_json()
    assert me["kind"] == "user"
    assert me["role"] == "officer"
    assert me["districts"] == [d.code for d in officer.districts]

    replay = client.post(
        "/api/v1/auth/token",
        json={"identifier": officer.username, "password": PASSWORD, "code": code},
    )
    body = assert_problem(replay, 422)
    assert "code" in body["errors"]
    assert "access_token" not in body


def test_staff_without_an_authenticator_is_refused(client):
    officer = make_staff(Role.OFFICER, totp_confirmed_at=None)
    resp = client.post(
        "/api/v1/auth/token",
        json={"identifier": officer.username, "password": PASSWORD, "code": "123456"},
    )
    assert_problem(resp, 403)


# --- partner clients --------------------------------------------------------------------


def test_partner_client_gets_a_token_and_sees_itself(client):
    new = create_client(None, name=COURT, credit_code=CREDIT_CODE, scopes=["credit.read"])
    resp = client.post(
        "/api/v1/auth/client-token",
        json={
            "grant_type": "client_credentials",
            "client_id": new.client.client_id,
            "client_secret": new.secret,
        },
    )
    assert resp.status_code == 201, resp.get_data(as_text=True)
    body = resp.get_json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] > 0

    me = client.get("/api/v1/me", headers=bearer(body["access_token"]))
    assert me.status_code == 200
    data = me.get_json()
    # a client token is the client: no user's data comes with it
    assert data["kind"] == "client"
    assert data["name"] == COURT
    assert data["scopes"] == ["credit.read"]
    assert data["role"] is None
    assert data.get("id_number") is None
    assert data.get("mobile") is None
    assert data["districts"] == []


def test_partner_client_with_a_wrong_secret_is_refused(client):
    new = create_client(None, name=COURT, credit_code=CREDIT_CODE, scopes=["credit.read"])
    resp = client.post(
        "/api/v1/auth/client-token",
        json={
            "grant_type": "client_credentials",
            "client_id": new.client.client_id,
            "client_secret": new.secret + "x",
        },
    )
    assert_problem(resp, 401)
    unknown = client.post(
        "/api/v1/auth/client-token",
        json={
            "grant_type": "client_credentials",
            "client_id": "pc_0000000000000000",
            "client_secret": new.secret,
        },
    )
    assert_problem(unknown, 401)


def test_partner_client_needs_the_client_credentials_grant(client):
    new = create_client(None, name=COURT, credit_code=CREDIT_CODE, scopes=["credit.read"])
    resp = client.post(
        "/api/v1/auth/client-token",
        json={
            "grant_type": "password",
            "client_id": new.client.client_id,
            "client_secret": new.secret,
        },
    )
    assert_problem(resp, 422)


def test_partner_client_with_an_invalid_credit_code_is_not_created():
    bad = CREDIT_CODE[:-1] + ("0" if CREDIT_CODE[-1] != "0" else "1")
    with pytest.raises(ValidationFailed) as info:
        create_client(None, name=COURT, credit_code=bad, scopes=["credit.read"])
    assert info.value.field == "credit_code"


def test_only_an_administrator_creates_partner_clients():
    from portal.core.errors import Forbidden

    officer = make_staff(Role.OFFICER)
    with pytest.raises(Forbidden):
        create_client(officer, name=COURT, credit_code=CREDIT_CODE, scopes=["credit.read"])


# --- validation, reference data, health -------------------------------------------------


def test_token_request_without_fields_is_a_validation_problem(client):
    assert_problem(client.post("/api/v1/auth/token", json={}), 422)


def test_districts_are_public_and_follow_the_language(client):
    a = DistrictFactory(name_zh="甲区", name_en="District A")
    b = DistrictFactory(name_zh="乙区", name_en="District B")

    zh = client.get("/api/v1/districts")
    assert zh.status_code == 200
    rows = {r["code"]: r for r in zh.get_json()}
    assert {a.code, b.code} <= rows.keys()
    assert rows[a.code]["name"] == "甲区"
    assert rows[a.code]["name_zh"] == "甲区"
    assert rows[a.code]["name_en"] == "District A"
    assert rows[b.code]["name"] == "乙区"

    en = client.get("/api/v1/districts", headers={"Accept-Language": "en"})
    assert en.status_code == 200
    rows = {r["code"]: r for r in en.get_json()}
    assert rows[a.code]["name"] == "District A"
    assert rows[b.code]["name"] == "District B"
    assert rows[b.code]["name_zh"] == "乙区"


def test_health_check(client):
    resp = client.get("/healthz")
    assert resp.status_code == 200
    assert resp.get_json() == {"status": "ok", "database": "ok"}


# --- every error is a problem document --------------------------------------------------


def test_errors_are_problem_documents(client):
    assert_problem(client.get("/api/v1/me"), 401)
    assert_problem(client.get("/api/v1/nope"), 404)
    not_allowed = assert_problem(client.put("/api/v1/districts", json={}), 405)
    assert not_allowed["status"] == 405
    assert_problem(client.post("/api/v1/auth/token", json={"identifier": ""}), 422)
    assert_problem(client.post("/api/v1/auth/token", data="not json"), 422)


def test_rate_limit_error_is_a_problem_document(client):
    for i in range(10):
        client.post("/api/v1/auth/token", json={"identifier": f"x{i}", "password": "p"})
    resp = client.post("/api/v1/auth/token", json={"identifier": "x", "password": "p"})
    assert_problem(resp, 429)
    retry_after(resp)
