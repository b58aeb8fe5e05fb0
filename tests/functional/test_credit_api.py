"""The credit records API: residents read their records and score, object and ask for repair;
staff list and flag; managers confirm (the flagger gets 409, an officer 403); errors are
problem documents."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa
import time_machine

from portal.accounts.roles import Role
from portal.core.audit import AuditEvent
from portal.core.clock import today
from portal.credit import services
from portal.credit.models import RecordStatus, SubjectKind
from portal.extensions import db
from tests.factories import DistrictFactory, ResidentFactory
from tests.factories.credit import person_id_number
from tests.factories.fixtures import make_staff
from tests.factories.waitlist import waiting_entry
from tests.functional.test_credit_effects import noon
from tests.functional.test_notices_api import bearer, problem, resident_token, staff_token

FACTS = "经现场核查，承租人将住房转租给他人居住，有租赁合同为证。"
REASON = "转租合同是伪造的，我一直住在这里，有水电缴费记录可以证明。"


def flag_body(**changes) -> dict:
    body = {
        "subject_kind": "person",
        "id_number": person_id_number(),
        "name": "李四",
        "code": "V-SUBLET",
        "facts": FACTS,
        "occurred_on": (today() - timedelta(days=2)).isoformat(),
    }
    body.update(changes)
    return body


def confirmed(flagger, confirmer, id_number: str, code: str = "V-SUBLET"):
    record = services.flag_violation(
        flagger,
        subject_kind=SubjectKind.PERSON,
        id_number=id_number,
        name="张三",
        code=code,
        facts=FACTS,
        occurred_on=today() - timedelta(days=2),
    )
    return services.confirm(record, confirmer)


@pytest.fixture
def flagger(db):
    return make_staff(Role.MANAGER)


@pytest.fixture
def confirmer(db):
    return make_staff(Role.MANAGER)


def test_staff_flag_and_the_flagger_cannot_confirm(client, flagger, confirmer):
    own = bearer(staff_token(client, flagger))
    resp = client.post("/api/v1/staff/credit/records", json=flag_body(), headers=own)
    assert resp.status_code == 201, resp.get_data(as_text=True)
    record = resp.get_json()
    assert record["status"] == "pending"
    assert record["flagged_by_self"] is True
    assert record["subject_id"].count("*") == 10  # masked

    refused = client.post(
        f"/api/v1/staff/credit/records/{record['id']}/confirmation", json={}, headers=own
    )
    body = problem(refused, 409)
    assert body["code"] == "same_actor"
    assert "another manager" in body["detail"]
    denied = db.session.scalars(
        sa.select(AuditEvent).where(
            AuditEvent.event == "credit.confirm", AuditEvent.result == "denied"
        )
    ).one()
    assert denied.actor_id == flagger.id

    other = bearer(staff_token(client, confirmer))
    resp = client.post(
        f"/api/v1/staff/credit/records/{record['id']}/confirmation",
        json={"note": "证据充分"},
        headers=other,
    )
    assert resp.status_code == 200
    done = resp.get_json()
    assert done["status"] == "active"
    assert done["ban_until"]
    assert done["subject_score"] == 70
    assert done["subject_grade"] == "C"


def test_an_officer_gets_403_on_confirmation(client, flagger):
    district = DistrictFactory()
    officer = make_staff(Role.OFFICER, districts=[district])
    number = waiting_entry(district).application.applicant.id_number
    token = bearer(staff_token(client, officer))
    resp = client.post(
        "/api/v1/staff/credit/records", json=flag_body(id_number=number), headers=token
    )
    assert resp.status_code == 201
    record_id = resp.get_json()["id"]
    problem(
        client.post(
            f"/api/v1/staff/credit/records/{record_id}/confirmation", json={}, headers=token
        ),
        403,
    )
    # out of the officer's districts: refused with the field named
    body = problem(
        client.post("/api/v1/staff/credit/records", json=flag_body(), headers=token), 422
    )
    assert "id_number" in body["errors"]


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"id_number": "450305198001010010"}, "id_number"),
        ({"subject_kind": "organisation", "credit_code": "91450300MA5K000010"}, "credit_code"),
        ({"occurred_on": (today() + timedelta(days=1)).isoformat()}, "occurred_on"),
        ({"facts": ""}, "facts"),
    ],
)
def test_flagging_errors_are_problem_documents(client, flagger, changes, field):
    token = bearer(staff_token(client, flagger))
    body = problem(
        client.post("/api/v1/staff/credit/records", json=flag_body(**changes), headers=token),
        422,
    )
    assert field in body["errors"]


def test_staff_list_in_scope_with_filters(client, flagger, confirmer):
    record = confirmed(flagger, confirmer, person_id_number())
    token = bearer(staff_token(client, confirmer))
    resp = client.get("/api/v1/staff/credit/records?status=active", headers=token)
    assert resp.status_code == 200
    assert [r["reference"] for r in resp.get_json()["records"]] == [record.reference]
    resp = client.get("/api/v1/staff/credit/records?status=pending", headers=token)
    assert resp.get_json()["records"] == []
    officer = bearer(staff_token(client, make_staff(Role.OFFICER)))
    assert client.get("/api/v1/staff/credit/records", headers=officer).get_json()["records"] == []
    problem(client.get(f"/api/v1/staff/credit/records/{record.id}", headers=officer), 404)
    problem(client.get("/api/v1/staff/credit/records"), 401)


def test_the_resident_reads_objects_and_is_decided(client, flagger, confirmer):
    resident = ResidentFactory()
    record = confirmed(flagger, confirmer, resident.id_number, code="V-BREACH")
    someone = confirmed(flagger, confirmer, person_id_number())
    token = bearer(resident_token(client, resident))

    mine = client.get("/api/v1/me/credit", headers=token).get_json()
    assert (mine["score"], mine["grade"]) == (95, "A")
    (shown,) = mine["records"]
    assert shown["reference"] == record.reference
    assert shown["can_object"] is True
    assert shown["can_ask_repair"] is False
    assert shown["violation_code"] == "V-BREACH"

    problem(
        client.post(
            f"/api/v1/me/credit/{someone.reference}/objection",
            json={"reason": REASON},
            headers=token,
        ),
        404,
    )
    problem(
        client.post(
            f"/api/v1/me/credit/{record.reference}/objection", json={"reason": "短"}, headers=token
        ),
        422,
    )
    resp = client.post(
        f"/api/v1/me/credit/{record.reference}/objection", json={"reason": REASON}, headers=token
    )
    assert resp.status_code == 201
    appeal = resp.get_json()
    assert (appeal["kind"], appeal["status"]) == ("objection", "open")
    problem(
        client.post(
            f"/api/v1/me/credit/{record.reference}/objection",
            json={"reason": REASON},
            headers=token,
        ),
        409,
    )

    manager = bearer(staff_token(client, confirmer))
    resp = client.post(
        f"/api/v1/staff/credit/appeals/{appeal['id']}/decision",
        json={"granted": False, "reason": "证据确凿，维持原记录。"},
        headers=manager,
    )
    assert resp.status_code == 200
    assert resp.get_json()["status"] == "refused"
    mine = client.get("/api/v1/me/credit", headers=token).get_json()
    assert mine["records"][0]["status"] == RecordStatus.ACTIVE.value
    assert mine["records"][0]["appeals"][0]["decision_reason"] == "证据确凿，维持原记录。"


def test_repair_through_the_api_only_from_its_day(client, flagger, confirmer):
    resident = ResidentFactory()
    record = confirmed(flagger, confirmer, resident.id_number, code="V-BREACH")
    token = bearer(resident_token(client, resident))
    url = f"/api/v1/me/credit/{record.reference}/repair"
    early = problem(client.post(url, json={"reason": REASON}, headers=token), 409)
    assert "Credit repair may be asked from" in early["detail"]
    with time_machine.travel(noon(record.repair_from), tick=False):
        later = bearer(resident_token(client, resident))  # the first token has expired
        resp = client.post(url, json={"reason": REASON}, headers=later)
    assert resp.status_code == 201
    assert resp.get_json()["kind"] == "repair"


def test_staff_tokens_cannot_use_the_residents_endpoints(client, flagger):
    problem(client.get("/api/v1/me/credit", headers=bearer(staff_token(client, flagger))), 403)
