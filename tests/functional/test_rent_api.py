"""The rent and exit API: the resident's ledger and notice, the staff's leases, payments,
bank file, arrears and exit cases (open, check out, settle, cancel), with scope and
problem documents."""

from __future__ import annotations

import io
from datetime import timedelta
from decimal import Decimal

import pytest

from portal.accounts.roles import Role
from portal.core.clock import today
from portal.extensions import db
from portal.tenancy import exits, rent
from portal.tenancy.models import ExitReason, ExitStatus, LeaseStatus
from tests.factories import DistrictFactory, ResidentFactory
from tests.factories.fixtures import make_staff
from tests.factories.tenancy import make_lease
from tests.functional.test_notices_api import bearer, problem, resident_token, staff_token

FACTS = "经现场核查，承租人将住房转租给他人居住。"


@pytest.fixture
def lease(district, officer):
    made = make_lease(district, officer, starts_on=rent.add_months(rent.month_of(today()), -2))
    rent.charge_rent()
    return made


def test_the_resident_reads_the_ledger_and_gives_notice(client, lease):
    token = bearer(resident_token(client, lease.tenant))
    body = client.get("/api/v1/me/lease/rent", headers=token).get_json()
    assert body["reference"] == lease.reference
    assert body["deposit"] == "1000.00"
    assert body["rent_basis"] == "contract"
    assert len(body["charges"]) == 3
    assert body["charges"][0]["amount"] == "500.00"
    assert body["arrears"]["months"] >= 1
    assert body["balance"]["owed"] == "1500.00"
    assert body["exit_case"] is None

    late = (today() + timedelta(days=400)).isoformat()
    problem(client.post("/api/v1/me/lease/notice", json={"leave_on": late}, headers=token), 422)
    leave_on = (today() + timedelta(days=30)).isoformat()
    resp = client.post("/api/v1/me/lease/notice", json={"leave_on": leave_on}, headers=token)
    assert resp.status_code == 201, resp.get_data(as_text=True)
    case = resp.get_json()
    assert (case["reason"], case["status"], case["move_out_by"]) == (
        "voluntary",
        "moving",
        leave_on,
    )
    problem(client.post("/api/v1/me/lease/notice", json={"leave_on": leave_on}, headers=token), 409)
    assert (
        client.get("/api/v1/me/lease/rent", headers=token).get_json()["exit_case"]["id"]
        == (case["id"])
    )

    nobody = bearer(resident_token(client, ResidentFactory()))
    problem(client.get("/api/v1/me/lease/rent", headers=nobody), 404)


def test_staff_list_leases_and_record_a_payment(client, officer, lease):
    token = bearer(staff_token(client, officer))
    body = client.get("/api/v1/staff/tenancy/leases?arrears=true", headers=token).get_json()
    assert [row["reference"] for row in body["leases"]] == [lease.reference]
    resp = client.post(
        f"/api/v1/staff/tenancy/leases/{lease.id}/payments",
        json={"amount": "1e3", "paid_on": today().isoformat()},
        headers=token,
    )
    assert problem(resp, 422)["errors"] == {
        "amount": ["The amount must be a number of yuan, like 512.50."]
    }
    resp = client.post(
        f"/api/v1/staff/tenancy/leases/{lease.id}/payments",
        json={"amount": "1600.00", "paid_on": today().isoformat(), "note": "现金"},
        headers=token,
    )
    assert resp.status_code == 201, resp.get_data(as_text=True)
    body = resp.get_json()
    assert body["balance"]["credit"] == "100.00"
    assert body["payments"][0]["source"] == "counter"
    assert all(c["settled_on"] for c in body["charges"])
    arrears = client.get("/api/v1/staff/tenancy/arrears", headers=token).get_json()
    assert arrears == []


def test_staff_import_the_bank_file(client, officer, lease):
    token = bearer(staff_token(client, officer))
    day = today().isoformat()
    bad = f"lease_reference,amount,paid_on,transaction_id\n{lease.reference},0,{day},X1\n"
    resp = client.post(
        "/api/v1/staff/tenancy/rent-imports",
        data={"file": (io.BytesIO(bad.encode()), "bank.csv")},
        content_type="multipart/form-data",
        headers=token,
    )
    body = problem(resp, 422)
    assert body["code"] == "import_rejected"
    assert body["rows"] == [
        {"row": 2, "column": "amount", "message": "The amount must be more than 0."}
    ]
    good = f"lease_reference,amount,paid_on,transaction_id\n{lease.reference},500,{day},X1\n"
    resp = client.post(
        "/api/v1/staff/tenancy/rent-imports?check_only=true",
        data={"file": (io.BytesIO(good.encode()), "bank.csv")},
        content_type="multipart/form-data",
        headers=token,
    )
    assert resp.status_code == 200, resp.get_data(as_text=True)
    assert resp.get_json()["imported"] is False
    resp = client.post(
        "/api/v1/staff/tenancy/rent-imports",
        data={"file": (io.BytesIO(good.encode()), "bank.csv")},
        content_type="multipart/form-data",
        headers=token,
    )
    assert resp.status_code == 201, resp.get_data(as_text=True)
    assert resp.get_json() == {"imported": True, "rows": 1, "leases": 1, "total": "500.00"}
    resp = client.post(
        "/api/v1/staff/tenancy/rent-imports",
        data={"file": (io.BytesIO(good.encode()), "bank.csv")},
        content_type="multipart/form-data",
        headers=token,
    )
    assert "file" in problem(resp, 422)["errors"]
    problem(
        client.post(
            "/api/v1/staff/tenancy/rent-imports",
            data={},
            content_type="multipart/form-data",
            headers=token,
        ),
        422,
    )


def test_staff_take_an_exit_case_through_to_settlement(client, officer, lease):
    token = bearer(staff_token(client, officer))
    resp = client.post(
        "/api/v1/staff/tenancy/exits",
        json={"lease_id": lease.id, "reason": "sublet", "facts": FACTS},
        headers=token,
    )
    assert resp.status_code == 201, resp.get_data(as_text=True)
    case = resp.get_json()
    assert case["status"] == "moving"
    problem(
        client.post(
            "/api/v1/staff/tenancy/exits",
            json={"lease_id": lease.id, "reason": "damage", "facts": FACTS},
            headers=token,
        ),
        409,
    )
    listed = client.get("/api/v1/staff/tenancy/exits", headers=token).get_json()
    assert [c["id"] for c in listed] == [case["id"]]
    url = f"/api/v1/staff/tenancy/exits/{case['id']}"
    body = {"on": today().isoformat(), "condition_note": "完好", "keys_returned": True}
    problem(client.post(f"{url}/check-out", json={**body, "damages": "-3"}, headers=token), 422)
    resp = client.post(f"{url}/check-out", json={**body, "damages": "100"}, headers=token)
    assert resp.status_code == 200, resp.get_data(as_text=True)
    checked = resp.get_json()
    assert checked["status"] == "checked_out"
    # 1000 deposit − rent (two whole months and this one up to today) − 100 damages
    this_month = rent.yuan(Decimal(500) * today().day / rent.days_in_month(today()))
    expected = Decimal(1000) - (Decimal(1000) + this_month) - Decimal(100)
    assert checked["settlement"]["settlement"] == str(expected)
    problem(client.post(f"{url}/cancellation", json={"reason": "取消"}, headers=token), 409)
    resp = client.post(f"{url}/settlement", json={}, headers=token)
    assert resp.status_code == 200
    assert resp.get_json()["status"] == "closed"
    db.session.expire_all()
    assert lease.status is LeaseStatus.ENDED


def test_staff_cancel_and_scope(client, officer, lease):
    case = exits.open_case(lease, ExitReason.ARREARS, "system", facts="欠租六个月")
    stranger = bearer(staff_token(client, make_staff(Role.OFFICER, districts=[DistrictFactory()])))
    problem(client.get(f"/api/v1/staff/tenancy/leases/{lease.id}", headers=stranger), 404)
    problem(client.get(f"/api/v1/staff/tenancy/exits/{case.id}", headers=stranger), 404)
    problem(
        client.post(
            f"/api/v1/staff/tenancy/exits/{case.id}/cancellation",
            json={"reason": "不相干的人"},
            headers=stranger,
        ),
        404,
    )
    assert client.get("/api/v1/staff/tenancy/leases", headers=stranger).get_json()["leases"] == []
    token = bearer(staff_token(client, officer))
    resp = client.post(
        f"/api/v1/staff/tenancy/exits/{case.id}/cancellation",
        json={"reason": "欠租已结清"},
        headers=token,
    )
    assert resp.get_json()["status"] == "cancelled"
    db.session.expire_all()
    assert case.status is ExitStatus.CANCELLED
    resident = bearer(resident_token(client, lease.tenant))
    problem(client.get("/api/v1/staff/tenancy/leases", headers=resident), 403)
