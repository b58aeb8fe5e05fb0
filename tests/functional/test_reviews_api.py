"""Department reviewers over the JSON API: their department's queue a page at a time, one
check's facts per household member, and confirm / correct / ask again / ask for a document;
another department's checks answer 404 (SECURITY.md B1, D3)."""

from __future__ import annotations

import itertools
import re
from datetime import date, timedelta

import pytest
import sqlalchemy as sa

from portal.accounts.roles import Role
from portal.applications import services
from portal.applications.models import Application, Programme, Relationship, Status
from portal.applications.texts import texts_hash
from portal.core.audit import AuditEvent
from portal.core.clock import today
from portal.core.identifiers import make_id_number
from portal.verification import services as verification
from portal.verification.departments import Department
from portal.verification.models import CheckOutcome, DepartmentCheck
from tests.factories import PASSWORD, DistrictFactory, ResidentFactory
from tests.factories.fixtures import make_staff, totp_now
from tests.factories.registry import local_household

PROBLEM = "application/problem+json"
FULL_ID = re.compile(r"(?<![0-9a-fA-F])\d{17}[\dXx](?![0-9a-fA-F])")
SPOUSE = make_id_number("450302", date(1987, 5, 5), 42)


@pytest.fixture
def district(db):
    return DistrictFactory(code="450302")


@pytest.fixture
def seen() -> list[str]:
    return []


@pytest.fixture
def token_of(client):
    """``token_of(user)``: the headers of a fresh bearer token (each from its own address,
    so the sign-in rate limit does not get in the way)."""
    addresses = itertools.count(1)

    def make(user) -> dict[str, str]:
        if user.role is Role.RESIDENT:
            body = {"identifier": user.mobile, "password": PASSWORD}
        else:
            body = {"identifier": user.username, "password": PASSWORD, "code": totp_now(user)}
        resp = client.post(
            "/api/v1/auth/token",
            json=body,
            environ_base={"REMOTE_ADDR": f"203.0.113.{next(addresses)}"},
        )
        assert resp.status_code == 201, resp.get_data(as_text=True)
        return {"Authorization": f"Bearer {resp.get_json()['access_token']}"}

    return make


@pytest.fixture
def reviewer_of(client, token_of, seen):
    """``reviewer_of(department)``: a function ``(method, url, json=None)`` calling the API
    as a new reviewer of that department; every body is kept in ``seen``."""

    def make(department: Department):
        headers = token_of(make_staff(Role.REVIEWER, department=department))

        def call(method: str, url: str, json=None):
            resp = client.open(url, method=method, headers=headers, json=json)
            seen.append(resp.get_data(as_text=True))
            return resp

        return call

    return make


def assert_problem(resp, status: int) -> dict:
    assert resp.status_code == status, resp.get_data(as_text=True)
    assert resp.mimetype == PROBLEM
    body = resp.get_json(force=True)
    assert body["status"] == status
    assert body["detail"]
    return body


def submitted(resident, district, *members) -> Application:
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
    for name, number, relation in members:
        services.add_member(app, resident, name=name, id_number=number, relationship=relation)
    return services.submit(
        app,
        resident,
        accept_pledge=True,
        accept_authorization=True,
        accept_privacy=True,
        locale="zh_Hans_CN",
        shown_hash=texts_hash("zh_Hans_CN"),
    )


def check_of(app: Application, department: Department) -> DepartmentCheck:
    return next(c for c in verification.checks_of(app) if c.department is department)


def test_the_queue_holds_the_departments_open_checks_a_page_at_a_time(db, district, reviewer_of):
    apps = []
    for _ in range(3):
        r = ResidentFactory()
        local_household((r.real_name, r.id_number))
        apps.append(submitted(r, district))
    mine = [check_of(a, Department.PROPERTY).id for a in apps]
    check_of(apps[2], Department.PROPERTY).deadline = today() - timedelta(days=1)
    db.session.flush()
    call = reviewer_of(Department.PROPERTY)

    page = call("GET", "/api/v1/checks?limit=2").get_json()
    assert [c["id"] for c in page["items"]] == mine[:2]
    assert {c["department"]["code"] for c in page["items"]} == {"property"}
    assert page["next"] == mine[1]
    page = call("GET", f"/api/v1/checks?limit=2&after={page['next']}").get_json()
    assert [c["id"] for c in page["items"]] == mine[2:]
    assert page["next"] is None

    late = call("GET", "/api/v1/checks?overdue=true").get_json()["items"]
    assert [(c["id"], c["overdue"]) for c in late] == [(mine[2], True)]
    assert call("GET", "/api/v1/checks?status=mismatch").get_json()["items"] == []
    matching = call("GET", "/api/v1/checks?status=match").get_json()["items"]
    assert [c["id"] for c in matching] == mine

    # a settled check leaves the queue
    assert call("POST", f"/api/v1/checks/{mine[0]}/confirmation", json={}).status_code == 200
    assert [c["id"] for c in call("GET", "/api/v1/checks").get_json()["items"]] == mine[1:]
    assert_problem(call("GET", "/api/v1/checks?limit=0"), 422)
    assert_problem(call("GET", "/api/v1/checks?limit=101"), 422)


def test_a_check_shows_facts_per_member_and_where_they_came_from(district, reviewer_of, seen):
    resident = ResidentFactory()
    # married, but the spouse is not in the application: civil affairs finds it
    local_household((resident.real_name, resident.id_number), ("李梅", SPOUSE), married=True)
    app = submitted(resident, district)
    check = check_of(app, Department.CIVIL_AFFAIRS)
    call = reviewer_of(Department.CIVIL_AFFAIRS)

    resp = call("GET", f"/api/v1/checks/{check.id}")
    assert resp.status_code == 200, resp.get_data(as_text=True)
    doc = resp.get_json()
    applicant = app.members[0]
    assert doc["status"]["code"] == "mismatch"
    assert list(doc["facts"]) == [str(applicant.id)]
    facts = doc["facts"][str(applicant.id)]
    assert facts["marital_status"] == "married"
    assert facts["spouse_masked"] == SPOUSE[:4] + "*" * 10 + SPOUSE[-4:]
    assert "spouse_index" not in facts  # no blind index leaves the portal
    assert applicant.id_index not in resp.get_data(as_text=True)
    assert len(doc["findings"]) == 1
    assert SPOUSE[-4:] in doc["findings"][0]
    assert doc["source"] == "embedded registry"
    assert re.fullmatch(r"[0-9a-f]{64}", doc["payload_hash"])
    assert doc["fetched_at"]
    assert date.fromisoformat(doc["deadline"]) > today()
    assert doc["members"][0]["id"] == applicant.id
    assert {f["name"] for f in doc["fact_fields"]} == {
        "marital_status",
        "spouse_masked",
        "assistance",
    }
    assert FULL_ID.findall("\n".join(seen)) == []
    assert resident.id_number not in "\n".join(seen)


def test_confirming_data_that_differ_needs_a_note(db, district, reviewer_of):
    resident = ResidentFactory()
    local_household((resident.real_name, resident.id_number), ("李梅", SPOUSE), married=True)
    app = submitted(resident, district)
    check = check_of(app, Department.CIVIL_AFFAIRS)
    call = reviewer_of(Department.CIVIL_AFFAIRS)
    url = f"/api/v1/checks/{check.id}/confirmation"
    body = assert_problem(call("POST", url, json={}), 422)
    assert "note" in body["errors"]
    resp = call("POST", url, json={"note": "配偶已离婚，见离婚证"})
    assert resp.status_code == 200, resp.get_data(as_text=True)
    doc = resp.get_json()
    assert doc["outcome"]["code"] == "confirmed"
    assert doc["review_note"] == "配偶已离婚，见离婚证"
    assert_problem(call("POST", url, json={"note": "again"}), 409)


def test_a_correction_is_keyed_by_member_id(db, district, reviewer_of):
    resident = ResidentFactory()
    local_household((resident.real_name, resident.id_number), ("李梅", SPOUSE), married=True)
    app = submitted(resident, district, ("李梅", SPOUSE, Relationship.SPOUSE))
    applicant, spouse = app.members
    check = check_of(app, Department.SOCIAL_SECURITY)
    call = reviewer_of(Department.SOCIAL_SECURITY)
    url = f"/api/v1/checks/{check.id}/correction"

    body = assert_problem(
        call("POST", url, json={"facts": {"999999": {"monthly_wage": 1}}, "reason": "单位证明"}),
        422,
    )
    assert "facts" in body["errors"]
    body = assert_problem(
        call(
            "POST",
            url,
            json={"facts": {str(applicant.id): {"monthly_wage": "a lot"}}, "reason": "单位证明"},
        ),
        422,
    )
    assert "monthly_wage" in body["errors"]
    assert_problem(
        call("POST", url, json={"facts": {str(applicant.id): {"monthly_wage": 900}}}), 422
    )

    resp = call(
        "POST",
        url,
        json={"facts": {str(applicant.id): {"monthly_wage": 900}}, "reason": "单位出具的工资证明"},
    )
    assert resp.status_code == 200, resp.get_data(as_text=True)
    doc = resp.get_json()
    assert doc["outcome"]["code"] == "overridden"
    assert doc["facts"][str(applicant.id)] == {"local_months_continuous": 60, "monthly_wage": 900}
    assert doc["facts"][str(spouse.id)] == {"local_months_continuous": 60, "monthly_wage": 1200}
    db.session.expire_all()
    stored = db.session.get(DepartmentCheck, check.id)
    assert stored.outcome is CheckOutcome.OVERRIDDEN
    assert stored.facts[applicant.id_index]["monthly_wage"] == 900


def test_asking_the_department_again_finds_new_data(db, district, reviewer_of):
    resident = ResidentFactory()  # the register has no record yet
    app = submitted(resident, district)
    check = check_of(app, Department.PUBLIC_SECURITY)
    call = reviewer_of(Department.PUBLIC_SECURITY)
    doc = call("GET", f"/api/v1/checks/{check.id}").get_json()
    assert doc["status"]["code"] == "no_data"
    assert doc["findings"]
    local_household((resident.real_name, resident.id_number))
    resp = call("POST", f"/api/v1/checks/{check.id}/retry")
    assert resp.status_code == 200, resp.get_data(as_text=True)
    doc = resp.get_json()
    assert doc["status"]["code"] == "match"
    assert doc["findings"] == []
    assert doc["facts"][str(app.members[0].id)]["registered_name"] == resident.real_name


def test_a_reviewer_asks_the_resident_for_a_document(db, district, reviewer_of, token_of, client):
    resident = ResidentFactory()
    app = submitted(resident, district)
    check = check_of(app, Department.PUBLIC_SECURITY)
    call = reviewer_of(Department.PUBLIC_SECURITY)
    url = f"/api/v1/checks/{check.id}/document-request"
    assert (
        "reason"
        in assert_problem(call("POST", url, json={"document": "户口簿", "reason": ""}), 422)[
            "errors"
        ]
    )
    resp = call("POST", url, json={"document": "户口簿", "reason": "户籍系统中没有记录"})
    assert resp.status_code == 201, resp.get_data(as_text=True)
    req = resp.get_json()
    assert req["document"] == "户口簿"
    assert req["status"]["code"] == "open"
    assert date.fromisoformat(req["deadline"]) > today()
    assert call("GET", f"/api/v1/checks/{check.id}").get_json()["outcome"]["code"] == "document"

    mine = client.get(f"/api/v1/applications/{app.id}", headers=token_of(resident)).get_json()
    assert mine["status"]["code"] == "supplement"
    assert [s["id"] for s in mine["supplements"]] == [req["id"]]

    # a settled check cannot ask for more
    settled = check_of(app, Department.PROPERTY)
    property_reviewer = reviewer_of(Department.PROPERTY)
    property_reviewer("POST", f"/api/v1/checks/{settled.id}/confirmation", json={})
    resp = property_reviewer(
        "POST",
        f"/api/v1/checks/{settled.id}/document-request",
        json={"document": "房产证", "reason": "核实房产面积"},
    )
    assert_problem(resp, 409)


def test_a_reviewer_cannot_reach_another_departments_check(db, district, reviewer_of):
    resident = ResidentFactory()
    local_household((resident.real_name, resident.id_number))
    app = submitted(resident, district)
    check = check_of(app, Department.PROPERTY)
    other = reviewer_of(Department.VEHICLES)
    before = db.session.scalar(
        sa.select(sa.func.count())
        .select_from(AuditEvent)
        .where(AuditEvent.event == "access.out_of_scope")
    )
    base = f"/api/v1/checks/{check.id}"
    assert_problem(other("GET", base), 404)
    assert_problem(other("POST", base + "/confirmation", json={}), 404)
    assert_problem(
        other(
            "POST",
            base + "/correction",
            json={"facts": {str(app.members[0].id): {"owned_area": 0}}, "reason": "证明材料"},
        ),
        404,
    )
    assert_problem(other("POST", base + "/retry"), 404)
    assert_problem(
        other("POST", base + "/document-request", json={"document": "房产证", "reason": "核实"}),
        404,
    )
    assert check.id not in [c["id"] for c in other("GET", "/api/v1/checks").get_json()["items"]]
    after = db.session.scalar(
        sa.select(sa.func.count())
        .select_from(AuditEvent)
        .where(AuditEvent.event == "access.out_of_scope")
    )
    assert after == before + 5
    db.session.expire_all()
    assert db.session.get(DepartmentCheck, check.id).outcome is None
    assert db.session.get(Application, app.id).status is Status.CHECKING


def test_residents_and_officers_cannot_use_the_review_api(district, token_of, client):
    resident = ResidentFactory()
    app = submitted(resident, district)
    check = check_of(app, Department.PROPERTY)
    for user in (resident, make_staff(Role.OFFICER, districts=[district])):
        headers = token_of(user)
        assert_problem(client.get("/api/v1/checks", headers=headers), 403)
        assert_problem(
            client.post(f"/api/v1/checks/{check.id}/confirmation", headers=headers, json={}), 403
        )
    assert_problem(client.get(f"/api/v1/checks/{check.id}"), 401)
