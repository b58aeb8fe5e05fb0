"""The notices API: public notices with masked entries, objections with a user's token, and
officers publishing, answering objections and closing notices (RFC 9457 errors)."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
import sqlalchemy as sa
import time_machine

from portal.accounts.roles import Role
from portal.applications.models import Programme, Status
from portal.core.calendar import add_working_days
from portal.core.clock import today
from portal.notices import services
from portal.notices.models import Notice, NoticeStatus, Objection, ObjectionStatus
from tests.factories import PASSWORD, DistrictFactory, ResidentFactory
from tests.factories.fixtures import make_staff, totp_now
from tests.functional.test_notices import REASON, after_the_notice, approved, entry_of, messages

PROBLEM = "application/problem+json"
MASKED_ID = re.compile(r"^\d{4}\*{10}[\dX]{4}$")


def bearer(token: str) -> dict[str, str]:
    # the answers' texts are compared in English
    return {"Authorization": f"Bearer {token}", "Accept-Language": "en"}


def resident_token(client, resident) -> str:
    resp = client.post(
        "/api/v1/auth/token", json={"identifier": resident.mobile, "password": PASSWORD}
    )
    assert resp.status_code == 201, resp.get_data(as_text=True)
    return resp.get_json()["access_token"]


def staff_token(client, user) -> str:
    resp = client.post(
        "/api/v1/auth/token",
        json={"identifier": user.username, "password": PASSWORD, "code": totp_now(user)},
    )
    assert resp.status_code == 201, resp.get_data(as_text=True)
    return resp.get_json()["access_token"]


def problem(resp, status: int) -> dict:
    assert resp.status_code == status, resp.get_data(as_text=True)
    assert resp.mimetype == PROBLEM
    body = resp.get_json(force=True)
    assert body["status"] == status
    assert body["detail"]
    return body


@pytest.fixture
def district(db):
    return DistrictFactory(code="450302", name_en="Xiufeng District", name_zh="秀峰区")


@pytest.fixture
def published(db, district, officer):
    households = {name: approved(district, officer, name) for name in ("张伟", "欧阳修")}
    notice = services.publish_notice(officer, district, Programme.PUBLIC_RENTAL)
    return notice, households


def objections_url(notice, entry) -> str:
    return f"/api/v1/notices/{notice.id}/entries/{entry.id}/objections"


# --- public ------------------------------------------------------------------------------


def test_public_list_and_detail_show_masked_households(client, published):
    notice, households = published
    listing = client.get("/api/v1/notices", headers={"Accept-Language": "en"})
    assert listing.status_code == 200
    [item] = listing.get_json()
    assert item["id"] == notice.id
    assert item["district"] == "450302"
    assert item["district_name"] == "Xiufeng District"
    assert item["programme"] == "public_rental"
    assert item["households"] == 2
    assert item["ends_on"] == (today() + timedelta(days=10)).isoformat()

    detail = client.get(f"/api/v1/notices/{notice.id}")
    assert detail.status_code == 200
    body = detail.get_json()
    assert body["objection_working_days"] == 10
    assert sorted(e["masked_name"] for e in body["entries"]) == ["张*", "欧**"]
    assert all(MASKED_ID.match(e["masked_id"]) for e in body["entries"])
    assert all(e["open_to_objection"] for e in body["entries"])
    text = json.dumps(body, ensure_ascii=False)
    for person, application in households.values():
        assert application.reference in text
        assert person.id_number not in text
        assert person.real_name not in text
    problem(client.get("/api/v1/notices/999999"), 404)


def test_a_closed_notice_leaves_the_public_list(client, published, officer):
    notice, _households = published
    with time_machine.travel(after_the_notice(notice), tick=False):
        services.close_notice(officer, notice)
    assert client.get("/api/v1/notices").get_json() == []
    assert client.get(f"/api/v1/notices/{notice.id}").get_json()["status"] == "closed"


# --- objections --------------------------------------------------------------------------


def test_resident_objects_with_a_token(client, db, published):
    notice, households = published
    zhang, zhang_app = households["张伟"]
    entry = entry_of(notice, zhang_app)
    url = objections_url(notice, entry)
    problem(client.post(url, json={"reason": REASON}), 401)

    neighbour = ResidentFactory()
    token = resident_token(client, neighbour)
    resp = client.post(url, json={"reason": REASON}, headers=bearer(token))
    assert resp.status_code == 201, resp.get_data(as_text=True)
    body = resp.get_json()
    assert body["status"] == "open"
    assert body["reference"] == zhang_app.reference
    assert body["respond_by"] == add_working_days(today(), 10).isoformat()

    again = problem(client.post(url, json={"reason": REASON}, headers=bearer(token)), 409)
    assert "already being looked into" in again["detail"]
    short = problem(
        client.post(
            objections_url(notice, entry_of(notice, households["欧阳修"][1])),
            json={"reason": "太短"},
            headers=bearer(token),
        ),
        422,
    )
    assert short["errors"]["reason"]
    problem(client.post(url, json={}, headers=bearer(token)), 422)

    own = problem(
        client.post(url, json={"reason": REASON}, headers=bearer(resident_token(client, zhang))),
        403,
    )
    assert "own household" in own["detail"]
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Objection)) == 1


def test_staff_may_object_too(client, db, published):
    notice, households = published
    reviewer = make_staff(Role.REVIEWER)
    resp = client.post(
        objections_url(notice, entry_of(notice, households["张伟"][1])),
        json={"reason": REASON},
        headers=bearer(staff_token(client, reviewer)),
    )
    assert resp.status_code == 201


# --- officers ----------------------------------------------------------------------------


def test_officer_publishes_through_the_api(client, db, district, officer):
    _zhang, zhang_app = approved(district, officer, "张伟")
    token = staff_token(client, officer)
    resp = client.post(
        "/api/v1/officer/notices",
        json={"district": district.code, "programme": "public_rental"},
        headers=bearer(token),
    )
    assert resp.status_code == 201, resp.get_data(as_text=True)
    body = resp.get_json()
    assert body["status"] == "open"
    assert [e["reference"] for e in body["entries"]] == [zhang_app.reference]
    assert body["entries"][0]["masked_name"] == "张*"
    db.session.expire_all()
    assert zhang_app.status is Status.NOTICE

    again = problem(
        client.post(
            "/api/v1/officer/notices",
            json={"district": district.code, "programme": "public_rental"},
            headers=bearer(token),
        ),
        422,
    )
    assert "nothing to publish" in again["detail"]
    problem(
        client.post(
            "/api/v1/officer/notices",
            json={"district": DistrictFactory().code, "programme": "public_rental"},
            headers=bearer(token),
        ),
        404,
    )
    problem(
        client.post(
            "/api/v1/officer/notices",
            json={"district": district.code, "programme": "mansion"},
            headers=bearer(token),
        ),
        422,
    )
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Notice)) == 1


def test_residents_cannot_use_the_officers_endpoints(client, db, published):
    notice, _households = published
    token = resident_token(client, ResidentFactory())
    problem(
        client.post(
            "/api/v1/officer/notices",
            json={"district": "450302", "programme": "public_rental"},
            headers=bearer(token),
        ),
        403,
    )
    problem(client.post(f"/api/v1/officer/notices/{notice.id}/close", headers=bearer(token)), 403)


def test_officer_answers_an_objection_through_the_api(client, db, published, officer):
    notice, households = published
    _zhang, zhang_app = households["张伟"]
    objector = ResidentFactory(locale="en")
    objection = services.file_objection(objector, entry_of(notice, zhang_app), REASON)
    url = f"/api/v1/officer/objections/{objection.id}/resolution"
    answer = {"upheld": True, "resolution": "经核查，申请人在七星区有住房。"}

    stranger = make_staff(Role.OFFICER, districts=[DistrictFactory()])
    problem(client.post(url, json=answer, headers=bearer(staff_token(client, stranger))), 404)

    token = staff_token(client, officer)
    problem(client.post(url, json={"upheld": True, "resolution": ""}, headers=bearer(token)), 422)
    resp = client.post(url, json=answer, headers=bearer(token))
    assert resp.status_code == 200, resp.get_data(as_text=True)
    assert resp.get_json()["status"] == "upheld"
    assert resp.get_json()["resolution"] == answer["resolution"]
    db.session.expire_all()
    assert objection.status is ObjectionStatus.UPHELD
    assert zhang_app.status is Status.REVIEW
    assert messages(objector, "objection_resolved")[0]["outcome"] == "upheld"
    problem(client.post(url, json=answer, headers=bearer(token)), 409)


def test_officer_closes_a_notice_through_the_api(client, db, published, officer):
    notice, households = published
    objection = services.file_objection(
        ResidentFactory(), entry_of(notice, households["张伟"][1]), REASON
    )
    url = f"/api/v1/officer/notices/{notice.id}/close"
    early = problem(client.post(url, headers=bearer(staff_token(client, officer))), 409)
    assert "can be closed after" in early["detail"]

    moment = after_the_notice(notice)
    with time_machine.travel(moment, tick=False):
        token = staff_token(client, officer)
        busy = problem(client.post(url, headers=bearer(token)), 409)
        assert "still open" in busy["detail"]
        services.resolve_objection(officer, objection, False, "经核查，情况不属实。")
        resp = client.post(url, headers=bearer(token))
    assert resp.status_code == 200, resp.get_data(as_text=True)
    body = resp.get_json()
    assert body["status"] == "closed"
    assert body["qualified"] == 2
    db.session.expire_all()
    assert notice.status is NoticeStatus.CLOSED
    for person, application in households.values():
        assert application.status is Status.QUALIFIED
        assert application.qualified_at == moment
        assert len(messages(person, "qualified")) == 1


def test_openapi_document_lists_the_notice_endpoints(client):
    paths = client.get("/api/v1/openapi.json").get_json()["paths"]
    for path in (
        "/api/v1/notices",
        "/api/v1/notices/{notice_id}",
        "/api/v1/notices/{notice_id}/entries/{entry_id}/objections",
        "/api/v1/officer/notices",
        "/api/v1/officer/notices/{notice_id}/close",
        "/api/v1/officer/objections/{objection_id}/resolution",
    ):
        assert path in paths, path
