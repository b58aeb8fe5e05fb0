"""Applications over the JSON API: a resident's whole way from draft to approval with bearer
tokens only, the officer's decisions, scope (404 outside it), bad input as problem
documents, uploads (SECURITY.md B1, B2, C1, C4, D3, F2) and the OpenAPI document."""

from __future__ import annotations

import io
import itertools
import re
from datetime import date, timedelta

import pytest
import sqlalchemy as sa

from portal.accounts.roles import Role
from portal.applications import services
from portal.applications.models import Application, Programme, SpotCheck, Status
from portal.applications.texts import texts_hash
from portal.core.audit import AuditEvent
from portal.core.clock import today
from portal.core.identifiers import make_id_number
from portal.core.uploads import MAX_BYTES
from portal.verification import services as verification
from portal.verification.departments import Department
from portal.verification.models import CheckStatus
from tests.factories import PASSWORD, DistrictFactory, ResidentFactory
from tests.factories.fixtures import make_staff, totp_now
from tests.factories.registry import local_household

PROBLEM = "application/problem+json"
# an 18-character number standing alone (not inside a hex digest such as a payload hash)
FULL_ID = re.compile(r"(?<![0-9a-fA-F])\d{17}[\dXx](?![0-9a-fA-F])")
MASKED_ID = re.compile(r"^\d{4}\*{10}[\dX]{4}$")
SPOUSE = make_id_number("450302", date(1987, 5, 5), 42)
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 100
PDF = b"%PDF-1.7\n" + b"0" * 100


class Api:
    """A client holding one bearer token; it keeps every body it receives, so a test can
    look for whole ID numbers in everything the API said."""

    def __init__(self, client, token: str, seen: list[str]) -> None:
        self.client, self.token, self.seen = client, token, seen

    def call(self, method: str, url: str, headers: dict | None = None, **kwargs):
        headers = {"Authorization": f"Bearer {self.token}", **(headers or {})}
        resp = self.client.open(url, method=method, headers=headers, **kwargs)
        self.seen.append(resp.get_data(as_text=True))
        return resp

    def get(self, url, **kw):
        return self.call("GET", url, **kw)

    def post(self, url, **kw):
        return self.call("POST", url, **kw)

    def patch(self, url, **kw):
        return self.call("PATCH", url, **kw)

    def delete(self, url, **kw):
        return self.call("DELETE", url, **kw)


@pytest.fixture
def seen() -> list[str]:
    return []


@pytest.fixture
def api_as(client, seen):
    """``api_as(user)``: an :class:`Api` with a fresh token of that resident or staff member.
    Each token comes from its own address, so the sign-in rate limit is not what is tested."""
    addresses = itertools.count(1)

    def make(user) -> Api:
        if user.role is Role.RESIDENT:
            body = {"identifier": user.mobile, "password": PASSWORD}
        else:
            body = {"identifier": user.username, "password": PASSWORD, "code": totp_now(user)}
        resp = client.post(
            "/api/v1/auth/token",
            json=body,
            environ_base={"REMOTE_ADDR": f"198.51.100.{next(addresses)}"},
        )
        assert resp.status_code == 201, resp.get_data(as_text=True)
        return Api(client, resp.get_json()["access_token"], seen)

    return make


@pytest.fixture
def district(db):
    return DistrictFactory(code="450302")


def assert_problem(resp, status: int) -> dict:
    assert resp.status_code == status, resp.get_data(as_text=True)
    assert resp.mimetype == PROBLEM
    body = resp.get_json(force=True)
    assert body["status"] == status
    assert body["title"]
    assert body["detail"]
    return body


def assert_no_full_id(seen: list[str], *numbers: str) -> None:
    text = "\n".join(seen)
    assert text, "nothing was answered"
    for number in numbers:
        assert number not in text
    assert FULL_ID.findall(text) == []


DETAILS = {
    "contact_phone": "13907730000",
    "email": "wei@example.cn",
    "current_address": "桂林市秀峰区中山中路1号",
    "district": "450302",
    "preferred_districts": ["450302"],
    "declared_income": 2400,
}


def new_draft(api: Api, **details) -> dict:
    resp = api.post("/api/v1/applications", json={"programme": "public_rental"})
    assert resp.status_code == 201, resp.get_data(as_text=True)
    app = resp.get_json()
    resp = api.patch(f"/api/v1/applications/{app['id']}", json={**DETAILS, **details})
    assert resp.status_code == 200, resp.get_data(as_text=True)
    return resp.get_json()


def sign_and_submit(api: Api, app_id: int, **headers) -> dict:
    texts = api.get(f"/api/v1/applications/{app_id}/texts").get_json()
    resp = api.post(
        f"/api/v1/applications/{app_id}/submission",
        json={
            "accept_pledge": True,
            "accept_authorization": True,
            "accept_privacy": True,
            "locale": texts["locale"],
            "hash": texts["hash"],
        },
        headers=headers,
    )
    assert resp.status_code == 200, resp.get_data(as_text=True)
    return resp.get_json()


def submitted_by_services(resident, district) -> Application:
    """Set-up for tests about later steps: a household submitted through the services."""
    app = services.start_application(resident, Programme.PUBLIC_RENTAL)
    services.update_details(
        app,
        resident,
        contact_phone=resident.mobile,
        email=None,
        current_address="桂林市秀峰区中山中路1号",
        district_code=district.code,
        preferred_codes=[district.code],
    )
    return services.submit(
        app,
        resident,
        accept_pledge=True,
        accept_authorization=True,
        accept_privacy=True,
        locale="zh_Hans_CN",
        shown_hash=texts_hash("zh_Hans_CN"),
    )


def settle_all(app: Application) -> None:
    for check in verification.checks_of(app):
        reviewer = make_staff(Role.REVIEWER, department=check.department)
        note = None if check.status is CheckStatus.MATCH else "seen the original"
        verification.confirm(check, reviewer, note)


# --- the whole journey -------------------------------------------------------------------


def test_the_whole_journey_over_the_api(client, district, api_as, seen):
    resident = ResidentFactory()
    local_household((resident.real_name, resident.id_number), ("李梅", SPOUSE), married=True)
    me = api_as(resident)

    # a draft; the same Idempotency-Key gives the same draft back
    first = me.post(
        "/api/v1/applications",
        json={"programme": "public_rental"},
        headers={"Idempotency-Key": "a1"},
    )
    assert first.status_code == 201, first.get_data(as_text=True)
    draft = first.get_json()
    app_id = draft["id"]
    assert first.headers["Location"].endswith(f"/api/v1/applications/{app_id}")
    again = me.post(
        "/api/v1/applications",
        json={"programme": "public_rental"},
        headers={"Idempotency-Key": "a1"},
    )
    assert again.status_code == 200
    assert again.get_json()["id"] == app_id
    assert [a["id"] for a in me.get("/api/v1/applications").get_json()] == [app_id]
    assert draft["status"]["code"] == "draft"
    assert draft["reference"] is None
    [applicant] = draft["members"]
    assert applicant["relationship"]["code"] == "applicant"
    assert applicant["id_number"] == resident.id_number[:4] + "*" * 10 + resident.id_number[-4:]

    # the household and the details
    resp = me.post(
        f"/api/v1/applications/{app_id}/members",
        json={"name": "李梅", "id_number": SPOUSE, "relationship": "spouse"},
    )
    assert resp.status_code == 201, resp.get_data(as_text=True)
    spouse = resp.get_json()
    assert MASKED_ID.fullmatch(spouse["id_number"])
    assert spouse["birth_date"] == "1987-05-05"
    resp = me.patch(f"/api/v1/applications/{app_id}", json=DETAILS)
    assert resp.status_code == 200, resp.get_data(as_text=True)
    doc = resp.get_json()
    assert doc["district"] == "450302"
    assert doc["preferred_districts"] == ["450302"]
    assert doc["current_address"] == DETAILS["current_address"]
    assert doc["contact_phone"] == "139****0000"
    assert [m["name"] for m in doc["members"]] == [resident.real_name, "李梅"]

    # the texts to sign, in the language asked for
    texts = me.get(f"/api/v1/applications/{app_id}/texts", headers={"Accept-Language": "en"})
    assert texts.status_code == 200
    texts = texts.get_json()
    assert texts["locale"] == "en"
    assert texts["hash"] == texts_hash("en")
    assert texts["pledge"]["version"].startswith("pledge-")
    assert any("true and complete" in p for p in texts["pledge"]["paragraphs"])
    assert texts["privacy"]["version"]

    # sign and submit; again (also with an Idempotency-Key): the same application
    body = {
        "accept_pledge": True,
        "accept_authorization": True,
        "accept_privacy": True,
        "locale": texts["locale"],
        "hash": texts["hash"],
    }
    submission = f"/api/v1/applications/{app_id}/submission"
    resp = me.post(submission, json=body)
    assert resp.status_code == 200, resp.get_data(as_text=True)
    submitted = resp.get_json()
    assert submitted["status"]["code"] == "checking"
    assert submitted["reference"].startswith("GL")
    assert submitted["decide_by"]
    for headers in ({}, {"Idempotency-Key": "s1"}, {"Idempotency-Key": "s1"}):
        replay = me.post(submission, json=body, headers=headers)
        assert replay.status_code == 200
        assert replay.get_json()["id"] == app_id
        assert replay.get_json()["reference"] == submitted["reference"]
    assert len(me.get("/api/v1/applications").get_json()) == 1

    # the resident sees each department's state, not its facts
    doc = me.get(f"/api/v1/applications/{app_id}").get_json()
    assert {c["department"]["code"] for c in doc["checks"]} == {d.value for d in Department}
    assert all(c["status"]["code"] == "match" for c in doc["checks"])
    assert all(set(c) == {"department", "status", "outcome"} for c in doc["checks"])
    assert doc["next_step"]

    # every department's reviewer confirms its check
    member_ids = {str(m["id"]) for m in doc["members"]}
    for dept in Department:
        reviewer = api_as(make_staff(Role.REVIEWER, department=dept))
        queue = reviewer.get("/api/v1/checks").get_json()
        [item] = [c for c in queue["items"] if c["application_id"] == app_id]
        assert item["department"]["code"] == dept.value
        detail = reviewer.get(f"/api/v1/checks/{item['id']}").get_json()
        assert set(detail["facts"]) <= member_ids
        if dept is Department.PUBLIC_SECURITY:
            assert set(detail["facts"]) == member_ids
            names = {detail["facts"][str(spouse["id"])]["registered_name"]}
            assert names == {"李梅"}
        resp = reviewer.post(f"/api/v1/checks/{item['id']}/confirmation", json={})
        assert resp.status_code == 200, resp.get_data(as_text=True)
        assert resp.get_json()["outcome"]["code"] == "confirmed"

    doc = me.get(f"/api/v1/applications/{app_id}").get_json()
    assert doc["status"]["code"] == "review"
    assert doc["eligible"] is True
    assert {r["title"] for r in doc["evaluation"]}
    assert all(r["passed"] and r["text"] for r in doc["evaluation"])

    # the officer of the district reads the whole file and approves
    officer = api_as(make_staff(Role.OFFICER, districts=[district]))
    queue = officer.get("/api/v1/officer/applications?status=review").get_json()
    assert [a["id"] for a in queue["items"]] == [app_id]
    file = officer.get(f"/api/v1/officer/applications/{app_id}").get_json()
    assert file["applicant"]["id_number"] == applicant["id_number"]
    civil = next(c for c in file["checks"] if c["department"]["code"] == "civil_affairs")
    assert civil["facts"][str(applicant["id"])]["marital_status"] == "married"
    assert civil["source"]
    assert re.fullmatch(r"[0-9a-f]{64}", civil["payload_hash"])
    assert file["pledge_version"] == texts["pledge"]["version"]
    resp = officer.post(f"/api/v1/officer/applications/{app_id}/approval", json={})
    assert resp.status_code == 200, resp.get_data(as_text=True)
    assert resp.get_json()["status"]["code"] == "approved"

    # the resident sees the decision and the way there
    assert me.get(f"/api/v1/applications/{app_id}").get_json()["status"]["code"] == "approved"
    timeline = me.get(f"/api/v1/applications/{app_id}/timeline").get_json()
    kinds = [e["kind"] for e in timeline]
    assert kinds[:2] == ["created", "submitted"]
    assert kinds[-1] == "approved"
    assert "spot_check_drawn" not in kinds
    assert all(e["text"] and e["at"] for e in timeline)
    assert submitted["reference"] in timeline[1]["text"]

    assert_no_full_id(seen, resident.id_number, SPOUSE)


# --- scope -------------------------------------------------------------------------------


def test_a_resident_cannot_reach_another_residents_application(db, district, api_as, seen):
    owner, other = ResidentFactory(), ResidentFactory()
    app = new_draft(api_as(owner))
    stranger = api_as(other)
    before = db.session.scalar(
        sa.select(sa.func.count())
        .select_from(AuditEvent)
        .where(AuditEvent.event == "access.out_of_scope")
    )
    url = f"/api/v1/applications/{app['id']}"
    assert_problem(stranger.get(url), 404)
    assert_problem(stranger.patch(url, json={"current_address": "别人的地址，某路1号"}), 404)
    assert_problem(stranger.get(url + "/timeline"), 404)
    assert_problem(stranger.get(url + "/texts"), 404)
    assert_problem(
        stranger.post(
            url + "/members", json={"name": "李梅", "id_number": SPOUSE, "relationship": "spouse"}
        ),
        404,
    )
    assert_problem(stranger.post(url + "/withdrawal"), 404)
    assert stranger.get("/api/v1/applications").get_json() == []
    after = db.session.scalar(
        sa.select(sa.func.count())
        .select_from(AuditEvent)
        .where(AuditEvent.event == "access.out_of_scope")
    )
    assert after == before + 6
    stored = db.session.get(Application, app["id"])
    assert stored.current_address == DETAILS["current_address"]
    assert len(stored.members) == 1
    assert stored.status is Status.DRAFT


def test_staff_and_residents_stay_on_their_own_side(district, api_as):
    resident = ResidentFactory()
    app = submitted_by_services(resident, district)
    me = api_as(resident)
    officer = api_as(make_staff(Role.OFFICER, districts=[district]))
    assert_problem(me.get("/api/v1/officer/applications"), 403)
    assert_problem(me.post(f"/api/v1/officer/applications/{app.id}/approval", json={}), 403)
    assert_problem(officer.get(f"/api/v1/applications/{app.id}"), 403)
    assert_problem(officer.get("/api/v1/checks"), 403)
    anonymous = officer.client.get(f"/api/v1/applications/{app.id}")
    assert_problem(anonymous, 401)


def test_an_officer_of_another_district_gets_404(db, district, api_as):
    resident = ResidentFactory()
    local_household((resident.real_name, resident.id_number))
    app = submitted_by_services(resident, district)
    settle_all(app)
    stranger = api_as(make_staff(Role.OFFICER, districts=[DistrictFactory()]))
    url = f"/api/v1/officer/applications/{app.id}"
    assert_problem(stranger.get(url), 404)
    assert_problem(stranger.post(url + "/approval", json={"note": "looks fine"}), 404)
    assert_problem(stranger.post(url + "/rejection", json={"reason": "收入超过标准"}), 404)
    assert stranger.get("/api/v1/officer/applications").get_json() == {"items": [], "next": None}
    db.session.expire_all()
    assert db.session.get(Application, app.id).status is Status.REVIEW


def test_officers_do_not_see_drafts(district, api_as):
    resident = ResidentFactory()
    draft = new_draft(api_as(resident))
    officer = api_as(make_staff(Role.OFFICER, districts=[district]))
    assert_problem(officer.get(f"/api/v1/officer/applications/{draft['id']}"), 404)
    assert officer.get("/api/v1/officer/applications").get_json()["items"] == []


# --- bad input ---------------------------------------------------------------------------


def test_an_invalid_id_number_is_refused_naming_the_field(db, district, api_as):
    me = api_as(ResidentFactory())
    app = new_draft(me)
    wrong_check = SPOUSE[:-1] + ("0" if SPOUSE[-1] != "0" else "1")
    resp = me.post(
        f"/api/v1/applications/{app['id']}/members",
        json={"name": "李梅", "id_number": wrong_check, "relationship": "spouse"},
    )
    body = assert_problem(resp, 422)
    assert list(body["errors"]) == ["id_number"]
    assert body["errors"]["id_number"][0]
    assert len(me.get(f"/api/v1/applications/{app['id']}").get_json()["members"]) == 1


def test_a_member_of_another_active_application_is_a_conflict(db, district, api_as):
    first = ResidentFactory()
    local_household((first.real_name, first.id_number))
    taken = submitted_by_services(first, district)
    assert taken.status is Status.CHECKING
    held = taken.members[0]
    me = api_as(ResidentFactory())
    app = new_draft(me)
    resp = me.post(
        f"/api/v1/applications/{app['id']}/members",
        json={"name": held.name, "id_number": first.id_number, "relationship": "parent"},
    )
    body = assert_problem(resp, 409)
    assert body["code"] == "duplicate_application"
    assert len(me.get(f"/api/v1/applications/{app['id']}").get_json()["members"]) == 1


def test_fields_not_offered_cannot_be_set(db, district, api_as):
    me = api_as(ResidentFactory())
    app = new_draft(me)
    url = f"/api/v1/applications/{app['id']}"
    for body in ({"status": "approved"}, {"reference": "GL2026999999"}, {"eligible": True}):
        assert_problem(me.patch(url, json=body), 422)
    doc = me.get(url).get_json()
    assert doc["status"]["code"] == "draft"
    assert doc["reference"] is None
    stored = db.session.get(Application, app["id"])
    assert stored.status is Status.DRAFT


def test_a_partial_update_keeps_the_other_details(district, api_as):
    me = api_as(ResidentFactory())
    app = new_draft(me)
    resp = me.patch(f"/api/v1/applications/{app['id']}", json={"declared_income": 1800})
    assert resp.status_code == 200, resp.get_data(as_text=True)
    doc = resp.get_json()
    assert doc["declared_income"] == 1800
    assert doc["current_address"] == DETAILS["current_address"]
    assert doc["district"] == "450302"
    resp = me.patch(f"/api/v1/applications/{app['id']}", json={"district": "nowhere"})
    assert "district" in assert_problem(resp, 422)["errors"]


def test_submission_needs_consent_and_the_texts_read(district, api_as):
    me = api_as(ResidentFactory())
    app = new_draft(me)
    url = f"/api/v1/applications/{app['id']}/submission"
    zh = texts_hash("zh_Hans_CN")
    body = assert_problem(me.post(url, json={"locale": "zh_Hans_CN", "hash": zh}), 422)
    assert "accept" in body["errors"]
    everything = {"accept_pledge": True, "accept_authorization": True, "accept_privacy": True}
    stale = me.post(url, json={**everything, "locale": "zh_Hans_CN", "hash": "0" * 64})
    assert_problem(stale, 409)
    assert me.get(f"/api/v1/applications/{app['id']}").get_json()["status"]["code"] == "draft"
    resp = me.post(url, json={**everything, "locale": "zh_Hans_CN", "hash": zh})
    assert resp.status_code == 200
    assert resp.get_json()["status"]["code"] == "checking"


def test_members_are_removed_from_a_draft_only(district, api_as):
    me = api_as(ResidentFactory())
    app = new_draft(me)
    url = f"/api/v1/applications/{app['id']}/members"
    spouse = me.post(url, json={"name": "李梅", "id_number": SPOUSE, "relationship": "spouse"})
    spouse_id = spouse.get_json()["id"]
    applicant_id = app["members"][0]["id"]
    assert_problem(me.delete(f"{url}/{applicant_id}"), 422)
    resp = me.delete(f"{url}/{spouse_id}")
    assert resp.status_code == 204
    assert len(me.get(f"/api/v1/applications/{app['id']}").get_json()["members"]) == 1
    sign_and_submit(me, app["id"])
    assert_problem(
        me.post(url, json={"name": "李梅", "id_number": SPOUSE, "relationship": "spouse"}), 409
    )


# --- uploads -----------------------------------------------------------------------------


@pytest.fixture
def awaiting_document(district, api_as):
    """(resident's Api, application id, supplement request id): a document is asked for."""
    resident = ResidentFactory()  # no register data: public security has no record
    app = submitted_by_services(resident, district)
    check = next(
        c for c in verification.checks_of(app) if c.department is Department.PUBLIC_SECURITY
    )
    reviewer = make_staff(Role.REVIEWER, department=Department.PUBLIC_SECURITY)
    req = verification.request_document(check, reviewer, document="户口簿", reason="无户籍记录")
    return api_as(resident), app.id, req.id


def upload(api: Api, app_id: int, req_id: int, data: bytes, name: str):
    return api.post(
        f"/api/v1/applications/{app_id}/supplements/{req_id}",
        data={"file": (io.BytesIO(data), name)},
        content_type="multipart/form-data",
    )


def test_a_png_named_pdf_is_refused(awaiting_document):
    me, app_id, req_id = awaiting_document
    body = assert_problem(upload(me, app_id, req_id, PNG, "户口簿.pdf"), 422)
    assert "file" in body["errors"]
    doc = me.get(f"/api/v1/applications/{app_id}").get_json()
    assert doc["supplements"][0]["status"]["code"] == "open"
    assert doc["status"]["code"] == "supplement"


def test_a_file_over_ten_mebibytes_is_refused(awaiting_document):
    me, app_id, req_id = awaiting_document
    too_big = PDF + b"0" * (MAX_BYTES - len(PDF) + 1)
    assert_problem(upload(me, app_id, req_id, too_big, "户口簿.pdf"), 413)
    doc = me.get(f"/api/v1/applications/{app_id}").get_json()
    assert doc["supplements"][0]["status"]["code"] == "open"


def test_the_document_asked_for_is_uploaded(awaiting_document, api_as):
    me, app_id, req_id = awaiting_document
    resp = upload(me, app_id, req_id, PDF, "户口簿.pdf")
    assert resp.status_code == 200, resp.get_data(as_text=True)
    doc = resp.get_json()
    [req] = doc["supplements"]
    assert req["status"]["code"] == "answered"
    assert req["file_name"] == "户口簿.pdf"
    assert doc["status"]["code"] == "checking"  # the reviewer settles it with the document
    assert_problem(upload(me, app_id, req_id, PDF, "again.pdf"), 409)
    kinds = [e["kind"] for e in me.get(f"/api/v1/applications/{app_id}/timeline").get_json()]
    assert kinds[-2:] == ["supplement_requested", "supplement_answered"]
    # someone else's request is not found through this application
    other = api_as(ResidentFactory())
    assert_problem(upload(other, app_id, req_id, PDF, "x.pdf"), 404)


# --- decisions ---------------------------------------------------------------------------


def test_rejection_then_second_review_then_approval(db, district, api_as):
    resident = ResidentFactory()
    local_household((resident.real_name, resident.id_number), wage=5000)
    app = submitted_by_services(resident, district)
    settle_all(app)
    me = api_as(resident)
    officer = api_as(make_staff(Role.OFFICER, districts=[district]))
    url = f"/api/v1/officer/applications/{app.id}"
    assert officer.get(url).get_json()["eligible"] is False
    body = assert_problem(officer.post(url + "/approval", json={}), 422)
    assert "note" in body["errors"]
    resp = officer.post(url + "/rejection", json={"reason": "家庭人均收入超过标准"})
    assert resp.status_code == 200, resp.get_data(as_text=True)
    doc = me.get(f"/api/v1/applications/{app.id}").get_json()
    assert doc["status"]["code"] == "rejected"
    assert doc["decision_reason"] == "家庭人均收入超过标准"
    assert date.fromisoformat(doc["second_review_by"]) > today()
    income = next(r for r in doc["evaluation"] if r["passed"] is False)
    assert "5000" in income["text"]
    mine = f"/api/v1/applications/{app.id}/second-review"
    assert "reason" in assert_problem(me.post(mine, json={"reason": "不对"}), 422)["errors"]
    resp = me.post(mine, json={"reason": "我的工资去年已经下降，社保记录没有更新，请重新核对。"})
    assert resp.status_code == 200, resp.get_data(as_text=True)
    assert resp.get_json()["status"]["code"] == "second_review"
    resp = officer.post(url + "/approval", json={"note": "复核：收入证明显示已下降"})
    assert resp.status_code == 200, resp.get_data(as_text=True)
    assert me.get(f"/api/v1/applications/{app.id}").get_json()["status"]["code"] == "approved"


def test_withdrawal_frees_the_household(db, district, api_as):
    resident = ResidentFactory()
    app = submitted_by_services(resident, district)
    me = api_as(resident)
    resp = me.post(f"/api/v1/applications/{app.id}/withdrawal")
    assert resp.status_code == 200, resp.get_data(as_text=True)
    assert resp.get_json()["status"]["code"] == "withdrawn"
    assert_problem(me.post(f"/api/v1/applications/{app.id}/withdrawal"), 409)
    # free to start again
    resp = me.post("/api/v1/applications", json={"programme": "rental_subsidy"})
    assert resp.status_code == 201, resp.get_data(as_text=True)
    assert resp.get_json()["id"] != app.id


def test_an_officer_asks_for_a_document(district, api_as):
    resident = ResidentFactory()
    local_household((resident.real_name, resident.id_number))
    app = submitted_by_services(resident, district)
    settle_all(app)
    officer = api_as(make_staff(Role.OFFICER, districts=[district]))
    url = f"/api/v1/officer/applications/{app.id}/document-request"
    assert (
        "document"
        in assert_problem(officer.post(url, json={"document": " ", "reason": "需要核实"}), 422)[
            "errors"
        ]
    )
    resp = officer.post(url, json={"document": "收入证明", "reason": "需要核实工资"})
    assert resp.status_code == 201, resp.get_data(as_text=True)
    assert resp.get_json()["status"]["code"] == "open"
    doc = api_as(resident).get(f"/api/v1/applications/{app.id}").get_json()
    assert doc["status"]["code"] == "supplement"
    assert [s["document"] for s in doc["supplements"]] == ["收入证明"]


def test_a_false_pledge_found_by_a_spot_check_revokes(db, district, api_as):
    resident = ResidentFactory()
    local_household((resident.real_name, resident.id_number))
    app = submitted_by_services(resident, district)
    settle_all(app)
    officer_user = make_staff(Role.OFFICER, districts=[district])
    services.approve(app, officer_user)
    spot = db.session.scalars(
        sa.select(SpotCheck).where(SpotCheck.application_id == app.id)
    ).first()
    if spot is None:  # drawn at random on approval; draw this one
        spot = SpotCheck(application_id=app.id)
        db.session.add(spot)
        db.session.flush()
    officer = api_as(officer_user)
    file = officer.get(f"/api/v1/officer/applications/{app.id}").get_json()
    assert file["spot_check"]["id"] == spot.id
    assert file["spot_check"]["outcome"] is None
    stranger = api_as(make_staff(Role.OFFICER, districts=[DistrictFactory()]))
    url = f"/api/v1/officer/spot-checks/{spot.id}"
    finding = {"false_pledge": True, "finding": "申请人名下有未申报的商铺"}
    assert_problem(stranger.post(url, json=finding), 404)
    resp = officer.post(url, json=finding)
    assert resp.status_code == 200, resp.get_data(as_text=True)
    file = resp.get_json()
    assert file["status"]["code"] == "revoked"
    assert file["spot_check"]["outcome"] == "false_pledge"
    assert_problem(officer.post(url, json=finding), 409)
    doc = api_as(resident).get(f"/api/v1/applications/{app.id}").get_json()
    assert doc["status"]["code"] == "revoked"


def test_the_officer_queue_filters_and_pages(db, district, api_as):
    other_district = DistrictFactory()
    apps = []
    for _ in range(3):
        r = ResidentFactory()
        apps.append(submitted_by_services(r, district))
    elsewhere = submitted_by_services(ResidentFactory(), other_district)
    apps[0].decide_by = today() - timedelta(days=1)
    db.session.flush()
    officer = api_as(make_staff(Role.OFFICER, districts=[district]))
    page = officer.get("/api/v1/officer/applications?limit=2").get_json()
    assert [a["id"] for a in page["items"]] == [apps[0].id, apps[1].id]
    assert page["next"] == apps[1].id
    page = officer.get(f"/api/v1/officer/applications?limit=2&after={page['next']}").get_json()
    assert [a["id"] for a in page["items"]] == [apps[2].id]
    assert page["next"] is None
    overdue = officer.get("/api/v1/officer/applications?overdue=true").get_json()["items"]
    assert [(a["id"], a["overdue"]) for a in overdue] == [(apps[0].id, True)]
    assert elsewhere.id not in [
        a["id"] for a in officer.get("/api/v1/officer/applications?limit=100").get_json()["items"]
    ]
    by_district = officer.get(f"/api/v1/officer/applications?district={other_district.code}")
    assert by_district.get_json()["items"] == []
    assert officer.get("/api/v1/officer/applications?status=review").get_json()["items"] == []
    assert_problem(officer.get("/api/v1/officer/applications?limit=101"), 422)
    assert_problem(officer.get("/api/v1/officer/applications?status=nonsense"), 422)


# --- the OpenAPI document ----------------------------------------------------------------

NEW_PATHS = {
    "/api/v1/applications": {"get", "post"},
    "/api/v1/applications/{app_id}": {"get", "patch"},
    "/api/v1/applications/{app_id}/members": {"post"},
    "/api/v1/applications/{app_id}/members/{member_id}": {"delete"},
    "/api/v1/applications/{app_id}/texts": {"get"},
    "/api/v1/applications/{app_id}/submission": {"post"},
    "/api/v1/applications/{app_id}/timeline": {"get"},
    "/api/v1/applications/{app_id}/supplements/{req_id}": {"post"},
    "/api/v1/applications/{app_id}/second-review": {"post"},
    "/api/v1/applications/{app_id}/withdrawal": {"post"},
    "/api/v1/officer/applications": {"get"},
    "/api/v1/officer/applications/{app_id}": {"get"},
    "/api/v1/officer/applications/{app_id}/approval": {"post"},
    "/api/v1/officer/applications/{app_id}/rejection": {"post"},
    "/api/v1/officer/applications/{app_id}/document-request": {"post"},
    "/api/v1/officer/spot-checks/{spot_id}": {"post"},
    "/api/v1/checks": {"get"},
    "/api/v1/checks/{check_id}": {"get"},
    "/api/v1/checks/{check_id}/confirmation": {"post"},
    "/api/v1/checks/{check_id}/correction": {"post"},
    "/api/v1/checks/{check_id}/retry": {"post"},
    "/api/v1/checks/{check_id}/document-request": {"post"},
}


def test_the_openapi_document_lists_every_new_route(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    for path, methods in NEW_PATHS.items():
        assert path in spec["paths"], path
        operations = spec["paths"][path]
        assert methods <= set(operations), (path, set(operations))
        for method in methods:
            op = operations[method]
            assert op["security"] == [{"bearerAuth": []}], (path, method)
            assert op.get("summary"), (path, method)
    schemas = spec["components"]["schemas"]
    for name in ("Application", "OfficerApplication", "CheckDetail", "Submission", "Member"):
        assert any(s.startswith(name) for s in schemas), name
    submit = spec["paths"]["/api/v1/applications/{app_id}/submission"]["post"]
    body = submit["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    fields = schemas[body.rsplit("/", 1)[-1]]["properties"]
    assert {"accept_pledge", "accept_authorization", "accept_privacy", "locale", "hash"} <= set(
        fields
    )
    headers = [p["name"] for p in submit["parameters"] if p["in"] == "header"]
    assert headers == ["Idempotency-Key"]
    upload_op = spec["paths"]["/api/v1/applications/{app_id}/supplements/{req_id}"]["post"]
    assert "multipart/form-data" in upload_op["requestBody"]["content"]
    assert "413" in upload_op["responses"]
    member = schemas["Member"]["properties"]
    assert "masked" in member["id_number"]["description"]


def test_the_openapi_document_stays_valid(client):
    validator = pytest.importorskip("openapi_spec_validator")
    validator.validate(client.get("/api/v1/openapi.json").get_json())
