"""Partner agencies' API of the joint-punishment lists: scopes (B1), signed pulls (D6), the
allow-list (C2), atomic pushes with per-entry errors, and screening of applicants."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives import serialization

from portal.accounts.roles import Role
from portal.api.auth import create_client
from portal.applications import services as applications
from portal.applications.models import Programme
from portal.core.audit import AuditEvent
from portal.core.clock import today
from portal.core.errors import NotEligible
from portal.core.identifiers import make_credit_code
from portal.credit import lists, signing
from portal.credit.models import ChangeAction, CreditBan, ExternalListing, RecordStatus
from tests.factories import PASSWORD, ResidentFactory
from tests.factories.credit import credit_record, organisation_code, person_id_number
from tests.factories.fixtures import make_staff, totp_now

PROBLEM = "application/problem+json"
COURT_CODE = make_credit_code("11450300MB1234567")


@pytest.fixture
def partner_token(client, db):
    """``partner_token(*scopes)`` -> a bearer header of a new partner client."""

    def make(*scopes: str, name: str = "桂林市中级人民法院") -> dict[str, str]:
        new = create_client(None, name=name, credit_code=COURT_CODE, scopes=list(scopes))
        resp = client.post(
            "/api/v1/auth/client-token",
            json={
                "grant_type": "client_credentials",
                "client_id": new.client.client_id,
                "client_secret": new.secret,
            },
        )
        assert resp.status_code == 201, resp.get_data(as_text=True)
        return {"Authorization": f"Bearer {resp.get_json()['access_token']}"}

    return make


def verify(resp) -> bool:
    """What a receiver does: fetch the published key, check the key id and the signature."""
    from flask import current_app

    key = current_app.test_client().get("/api/v1/credit/signing-key").get_json()
    assert resp.headers[signing.KEY_ID_HEADER] == key["key_id"]
    public = serialization.load_pem_public_key(key["public_key_pem"].encode())
    return signing.verify(
        resp.get_data(),
        resp.headers[signing.SIGNATURE_HEADER],
        public.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ),
    )


def listed(n: int = 1, **kw):
    out = []
    for _ in range(n):
        record = credit_record(**kw)
        lists.record_changed(record, ChangeAction.LISTED)
        out.append(record)
    return out


# --- scope ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "url"),
    [
        ("get", "/api/v1/credit/changes"),
        ("get", "/api/v1/credit/list"),
        ("post", "/api/v1/credit/listings"),
        ("delete", "/api/v1/credit/listings/X1"),
    ],
)
def test_without_a_token_a_partner_gets_nothing(client, db, method, url):
    listed()
    resp = getattr(client, method)(url, json={"entries": []} if method == "post" else None)
    assert resp.status_code == 401
    assert resp.mimetype == PROBLEM
    assert "record" not in resp.get_data(as_text=True)


def test_a_token_without_the_scope_is_refused_and_audited(client, partner_token, db):
    listed()
    push_only = partner_token("credit.push")
    resp = client.get("/api/v1/credit/changes", headers=push_only)
    assert resp.status_code == 403
    assert resp.mimetype == PROBLEM
    read_only = partner_token("credit.read")
    assert (
        client.post("/api/v1/credit/listings", json={"entries": []}, headers=read_only).status_code
        == 403
    )
    assert (
        db.session.scalar(
            sa.select(sa.func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.event == "access.denied")
        )
        == 2
    )


def test_a_residents_token_is_refused(client, resident, db):
    listed()
    token = client.post(
        "/api/v1/auth/token", json={"identifier": resident.mobile, "password": PASSWORD}
    ).get_json()["access_token"]
    bearer = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/v1/credit/changes", headers=bearer).status_code == 403
    assert client.get("/api/v1/credit/list", headers=bearer).status_code == 403
    entry = {"external_id": "A", "removed": True}
    assert (
        client.post(
            "/api/v1/credit/listings", json={"entries": [entry]}, headers=bearer
        ).status_code
        == 403
    )


def test_a_managers_token_may_pull_but_not_push(client, db):
    manager = make_staff(Role.MANAGER)
    token = client.post(
        "/api/v1/auth/token",
        json={"identifier": manager.username, "password": PASSWORD, "code": totp_now(manager)},
    ).get_json()["access_token"]
    bearer = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/v1/credit/changes", headers=bearer).status_code == 200
    entry = {"external_id": "A", "removed": True}
    resp = client.post("/api/v1/credit/listings", json={"entries": [entry]}, headers=bearer)
    assert resp.status_code == 403


# --- pull ----------------------------------------------------------------------------------


def test_pull_changes_signed_with_removals_and_the_allow_list(client, partner_token, db):
    bearer = partner_token("credit.read")
    records = listed(3)
    number = records[0].subject_id_number
    records[0].status = RecordStatus.ANNULLED
    lists.record_changed(records[0], ChangeAction.REMOVED)

    resp = client.get("/api/v1/credit/changes?cursor=0&limit=2", headers=bearer)
    assert resp.status_code == 200, resp.get_data(as_text=True)
    assert verify(resp)
    body = resp.get_json()
    assert len(body["changes"]) == 2
    assert body["has_more"] is True
    for change in body["changes"]:
        assert set(change) == {"id", "action", "at", "record"}
        assert tuple(change["record"]) == lists.SCHEMA
    raw = resp.get_data(as_text=True)
    assert number not in raw

    resp = client.get(f"/api/v1/credit/changes?cursor={body['next_cursor']}", headers=bearer)
    assert verify(resp)
    rest = resp.get_json()
    assert [c["action"] for c in rest["changes"]] == ["listed", "removed"]
    assert rest["changes"][-1]["record"]["removed"] is True
    assert rest["changes"][-1]["record"]["removed_reason"] == "annulled"
    assert rest["has_more"] is False

    events = db.session.scalars(
        sa.select(AuditEvent).where(AuditEvent.event == "credit.changes_pulled")
    ).all()
    assert [(e.details_dict["cursor"], e.details_dict["count"]) for e in events] == [
        (0, 2),
        (body["next_cursor"], 2),
    ]
    assert all(e.actor_label.startswith("client:") for e in events)


def test_a_tampered_response_fails_verification(client, partner_token, db):
    bearer = partner_token("credit.read")
    listed()
    resp = client.get("/api/v1/credit/changes", headers=bearer)
    body = resp.get_data()
    sig = resp.headers[signing.SIGNATURE_HEADER]
    pem = client.get("/api/v1/credit/signing-key").get_json()["public_key_pem"]
    assert signing.verify(body, sig, pem)
    tampered = body.replace(b'"removed":false', b'"removed":true ', 1)
    assert tampered != body
    assert not signing.verify(tampered, sig, pem)


def test_pull_limit_is_at_most_ten_thousand(client, partner_token, db):
    bearer = partner_token("credit.read")
    resp = client.get("/api/v1/credit/changes?limit=10001", headers=bearer)
    assert resp.status_code == 422
    assert resp.mimetype == PROBLEM
    assert client.get("/api/v1/credit/changes?limit=10000", headers=bearer).status_code == 200


def test_the_joint_list_page_by_page_signed(client, partner_token, db):
    bearer = partner_token("credit.read")
    records = listed(3)
    credit_record("V-BREACH")  # 5 points, general: not on the list
    seen, after = [], ""
    while True:
        resp = client.get(f"/api/v1/credit/list?limit=2&after={after}", headers=bearer)
        assert resp.status_code == 200, resp.get_data(as_text=True)
        assert verify(resp)
        page = resp.get_json()
        for subject in page["subjects"]:
            assert subject["credit_grade"] == "C"
            assert subject["score"] == 70
            assert [tuple(r) for r in subject["records"]] == [lists.SCHEMA]
            seen.append(subject["records"][0]["reference"])
        if not page["has_more"]:
            break
        after = page["next_after"]
    assert sorted(seen) == sorted(r.reference for r in records)
    assert (
        db.session.scalar(
            sa.select(sa.func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.event == "credit.list_pulled")
        )
        == 2
    )


def test_the_signing_key_is_public(client):
    resp = client.get("/api/v1/credit/signing-key")
    assert resp.status_code == 200
    key = resp.get_json()
    assert key["algorithm"] == "Ed25519"
    assert key["public_key_pem"].startswith("-----BEGIN PUBLIC KEY-----")
    assert len(key["key_id"]) == 64


# --- push ----------------------------------------------------------------------------------


def person_entry(external_id: str, id_number: str, **kw) -> dict:
    return {
        "external_id": external_id,
        "list_name": "失信被执行人名单",
        "subject_kind": "person",
        "id_number": id_number,
        "name": "张三",
        "reason": "失信被执行人（(2026)桂03执123号）",
        "starts_on": (today() - timedelta(days=10)).isoformat(),
        "ends_on": (today() + timedelta(days=365)).isoformat(),
        **kw,
    }


def bans(db) -> list[CreditBan]:
    db.session.expire_all()
    return db.session.scalars(sa.select(CreditBan).order_by(CreditBan.id)).all()


def test_a_valid_batch_is_listed_and_screens_the_person(client, partner_token, db):
    bearer = partner_token("credit.push", name="桂林市中级人民法院")
    resident = ResidentFactory()
    org_code = organisation_code()
    entries = [
        person_entry("J-1", resident.id_number),
        person_entry("J-2", person_id_number(), ends_on=None),
        {
            **person_entry("J-3", ""),
            "subject_kind": "organisation",
            "id_number": None,
            "credit_code": org_code.lower(),
            "name": "某某建筑工程有限公司",
        },
    ]
    resp = client.post("/api/v1/credit/listings", json={"entries": entries}, headers=bearer)
    assert resp.status_code == 200, resp.get_data(as_text=True)
    assert resp.get_json() == {"listed": 3, "updated": 0, "removed": 0, "unchanged": 0}
    made = bans(db)
    assert len(made) == 3
    assert made[0].id_index == resident.id_number_index
    assert made[0].source.startswith("桂林市中级人民法院")
    assert made[1].ends_on is None
    assert made[2].id_index == lists.subject_index(lists.SubjectKind.ORGANISATION, org_code)
    assert (
        db.session.scalar(
            sa.select(AuditEvent.details).where(AuditEvent.event == "credit.listings_pushed")
        )
        is not None
    )

    with pytest.raises(NotEligible) as refused:
        applications.start_application(resident, Programme.PUBLIC_RENTAL)
    assert "失信被执行人（(2026)桂03执123号）" in str(refused.value)

    # the same external id again updates, not duplicates
    again = [person_entry("J-1", resident.id_number, reason="已更正的原因")]
    resp = client.post("/api/v1/credit/listings", json={"entries": again}, headers=bearer)
    assert resp.get_json()["updated"] == 1
    assert len(bans(db)) == 3
    assert bans(db)[0].reason == "已更正的原因"


def test_one_bad_entry_refuses_the_whole_batch_with_each_error(client, partner_token, db):
    bearer = partner_token("credit.push")
    good = person_id_number()
    bad_checksum = good[:-1] + ("0" if good[-1] != "0" else "1")
    entries = [
        person_entry("J-1", good),
        person_entry("J-2", bad_checksum),
        {
            **person_entry("J-3", good),
            "subject_kind": "organisation",
            "credit_code": "91450300MA5L1234X",
        },
        person_entry("J-4", good, starts_on="2026-13-01", name=""),
        person_entry("J-1", good),
    ]
    resp = client.post("/api/v1/credit/listings", json={"entries": entries}, headers=bearer)
    assert resp.status_code == 422
    assert resp.mimetype == PROBLEM
    errors = resp.get_json()["errors"]["entries"]
    assert set(errors) == {"1", "2", "3", "4"}
    assert list(errors["1"]) == ["id_number"]
    assert list(errors["2"]) == ["credit_code"]
    assert set(errors["3"]) == {"starts_on", "name"}
    assert list(errors["4"]) == ["external_id"]
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ExternalListing)) == 0
    assert bans(db) == []
    [refused] = db.session.scalars(
        sa.select(AuditEvent).where(AuditEvent.event == "credit.listings_pushed")
    ).all()
    assert refused.result == "failure"
    assert refused.details_dict == {"entries": 5, "refused": 4}


def test_an_unknown_removal_refuses_the_batch(client, partner_token, db):
    bearer = partner_token("credit.push")
    entries = [person_entry("J-1", person_id_number()), {"external_id": "NOPE", "removed": True}]
    resp = client.post("/api/v1/credit/listings", json={"entries": entries}, headers=bearer)
    assert resp.status_code == 422
    assert list(resp.get_json()["errors"]["entries"]) == ["1"]
    assert bans(db) == []


def test_removal_ends_the_ban_and_the_person_may_apply_again(client, partner_token, db):
    bearer = partner_token("credit.push")
    one, two = ResidentFactory(), ResidentFactory()
    entries = [person_entry("J-1", one.id_number), person_entry("J-2", two.id_number)]
    client.post("/api/v1/credit/listings", json={"entries": entries}, headers=bearer)

    resp = client.post(
        "/api/v1/credit/listings",
        json={"entries": [{"external_id": "J-1", "removed": True}]},
        headers=bearer,
    )
    assert resp.get_json()["removed"] == 1
    assert client.delete("/api/v1/credit/listings/J-2", headers=bearer).status_code == 204
    assert client.delete("/api/v1/credit/listings/J-2", headers=bearer).status_code == 204  # again
    assert client.delete("/api/v1/credit/listings/J-9", headers=bearer).status_code == 404

    assert applications.active_bans([one.id_number_index, two.id_number_index]) == []
    applications.start_application(one, Programme.PUBLIC_RENTAL)  # no longer refused
    removed = db.session.scalars(sa.select(ExternalListing)).all()
    assert all(r.removed_at is not None for r in removed)
    events = db.session.scalars(sa.select(AuditEvent.event)).all()
    assert "credit.listing_withdrawn" in events


def test_a_partner_cannot_end_another_partners_listing(client, partner_token, db):
    court = partner_token("credit.push", name="法院")
    bank = partner_token("credit.push", name="银行")
    client.post(
        "/api/v1/credit/listings",
        json={"entries": [person_entry("J-1", person_id_number())]},
        headers=court,
    )
    assert client.delete("/api/v1/credit/listings/J-1", headers=bank).status_code == 404
    assert db.session.scalars(sa.select(ExternalListing.removed_at)).one() is None


def test_a_batch_must_hold_entries(client, partner_token, db):
    bearer = partner_token("credit.push")
    assert (
        client.post("/api/v1/credit/listings", json={"entries": []}, headers=bearer).status_code
        == 422
    )
    assert client.post("/api/v1/credit/listings", json={}, headers=bearer).status_code == 422
    resp = client.post("/api/v1/credit/listings", json={"entries": ["x"]}, headers=bearer)
    assert resp.status_code == 422
    assert list(resp.get_json()["errors"]["entries"]["0"]) == ["entry"]


def test_openapi_documents_the_credit_routes(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    for path in (
        "/api/v1/credit/changes",
        "/api/v1/credit/list",
        "/api/v1/credit/listings",
        "/api/v1/credit/signing-key",
    ):
        assert path in spec["paths"], path
    entry = spec["components"]["schemas"]["ListingEntry"]
    assert "id_number" in entry["properties"]
    record = spec["components"]["schemas"]["Record"]
    assert tuple(record["properties"]) == lists.SCHEMA
    assert json.dumps(spec)  # serialisable
