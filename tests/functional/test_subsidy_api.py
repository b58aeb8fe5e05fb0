"""The subsidy API: the resident reads the amount with its explanation and the ledger, and
gives the rent and account; staff compute, read the reconciliation, close (another manager:
409 for the same, 403 for an officer), page the lines in scope, ask for the bank file and
download it, change an award's facts, end it, settle recoveries."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from decimal import Decimal

from portal.accounts.roles import Role
from portal.core.clock import today
from portal.subsidy import services
from tests.factories import DistrictFactory, ResidentFactory
from tests.factories.fixtures import make_staff
from tests.factories.subsidy import award
from tests.functional.test_notices_api import bearer, problem, resident_token, staff_token

D = Decimal
MONTH = today().replace(day=1)
KEY = MONTH.strftime("%Y-%m")


def test_the_resident_reads_the_amount_and_gives_the_details(client, district):
    resident = ResidentFactory()
    a = award(district, resident=resident, details=False, size=2, income="2000")
    headers = bearer(resident_token(client, resident))
    resp = client.get("/api/v1/me/subsidy", headers=headers)
    assert resp.status_code == 200, resp.get_data(as_text=True)
    body = resp.get_json()
    assert body["reference"] == a.reference
    assert body["status"] == "details"
    assert body["account"] is None
    upcoming = body["next_month"]
    assert upcoming["amount"] == "480.00"
    assert upcoming["tier"] == "tier2"
    assert upcoming["explanation"][-1] == "Monthly subsidy: 480.00 yuan."

    bad = client.put(
        "/api/v1/me/subsidy/details",
        json={
            "actual_rent": "400",
            "payee_name": "Nobody",
            "bank_name": "工商银行",
            "bank_account": "6222020000000001",
        },
        headers=headers,
    )
    assert problem(bad, 422)["errors"] == {"payee_name": [bad.get_json()["detail"]]}
    resp = client.put(
        "/api/v1/me/subsidy/details",
        json={
            "actual_rent": "400",
            "payee_name": resident.real_name,
            "bank_name": "工商银行",
            "bank_account": "6222020000000001",
        },
        headers=headers,
    )
    assert resp.status_code == 200, resp.get_data(as_text=True)
    body = resp.get_json()
    assert body["status"] == "active"
    assert body["account"] == "6222********0001"
    assert body["rent"] == "400.00"
    assert body["next_month"]["amount"] == "400.00"  # capped at the rent
    ledger = client.get("/api/v1/me/subsidy/ledger", headers=headers)
    assert ledger.status_code == 200
    assert ledger.get_json() == []


def test_a_resident_without_a_subsidy_gets_404(client):
    headers = bearer(resident_token(client, ResidentFactory()))
    problem(client.get("/api/v1/me/subsidy", headers=headers), 404)


def test_staff_compute_close_and_take_the_bank_file(client, district):
    officer = make_staff(Role.OFFICER, districts=[district])
    first, second = make_staff(Role.MANAGER), make_staff(Role.MANAGER)
    mine = award(district, income="1000")
    other = award(DistrictFactory(), income="3000")
    as_officer = bearer(staff_token(client, officer))
    as_first = bearer(staff_token(client, first))
    as_second = bearer(staff_token(client, second))

    listed = client.get("/api/v1/staff/subsidy/runs", headers=as_officer).get_json()
    assert listed == {"runs": [], "next_to_compute": KEY}
    problem(
        client.post(
            "/api/v1/staff/subsidy/runs",
            json={"month": (MONTH + timedelta(days=40)).strftime("%Y-%m")},
            headers=as_officer,
        ),
        422,
    )
    resp = client.post("/api/v1/staff/subsidy/runs", json={"month": KEY}, headers=as_first)
    assert resp.status_code == 200, resp.get_data(as_text=True)
    run = resp.get_json()
    assert run["households"] == 2
    assert run["total"] == "960.00"  # 540 + 420
    assert run["reconciled"] is True
    assert all(c["ok"] for c in run["checks"])
    assert run["computed_by_self"] is True

    lines = client.get(f"/api/v1/staff/subsidy/runs/{KEY}/lines", headers=as_officer)
    assert [x["award_id"] for x in lines.get_json()["lines"]] == [mine.id]
    lines = client.get(
        f"/api/v1/staff/subsidy/runs/{KEY}/lines", query_string={"tier": "above"}, headers=as_first
    )
    assert [x["award_id"] for x in lines.get_json()["lines"]] == [other.id]

    problem(client.post(f"/api/v1/staff/subsidy/runs/{KEY}/close", headers=as_officer), 403)
    assert (
        problem(client.post(f"/api/v1/staff/subsidy/runs/{KEY}/close", headers=as_first), 409)[
            "code"
        ]
        == "same_actor"
    )
    problem(
        client.post(
            f"/api/v1/staff/subsidy/runs/{KEY}/bank-file", json={"format": "csv"}, headers=as_second
        ),
        409,
    )
    resp = client.post(f"/api/v1/staff/subsidy/runs/{KEY}/close", headers=as_second)
    assert resp.status_code == 200
    assert resp.get_json()["status"] == "closed"
    problem(client.post("/api/v1/staff/subsidy/runs", json={"month": KEY}, headers=as_first), 409)

    resp = client.post(
        f"/api/v1/staff/subsidy/runs/{KEY}/bank-file", json={"format": "csv"}, headers=as_officer
    )
    assert resp.status_code == 202, resp.get_data(as_text=True)
    export = resp.get_json()
    assert export["status"] == "done"  # built in-process without a job queue
    status = client.get(f"/api/v1/staff/subsidy/exports/{export['id']}", headers=as_officer)
    assert status.get_json()["done_rows"] == 1
    problem(client.get(f"/api/v1/staff/subsidy/exports/{export['id']}", headers=as_first), 404)
    data = client.get(export["file"], headers=as_officer)
    assert data.status_code == 200
    rows = list(csv.reader(io.StringIO(data.get_data().decode("utf-8-sig"))))
    assert [r[0] for r in rows[1:]] == [mine.reference]  # the officer's districts only
    assert rows[1][3] == mine.bank_account
    assert rows[1][4] == "540.00"


def test_staff_change_an_award_and_settle_a_recovery(client, district):
    officer = make_staff(Role.OFFICER, districts=[district])
    first, second = make_staff(Role.MANAGER), make_staff(Role.MANAGER)
    a = award(district, income="1000")
    services.compute_month(MONTH, first)
    services.close_run(services.run_of(MONTH), second)
    as_officer = bearer(staff_token(client, officer))
    as_first = bearer(staff_token(client, first))

    resp = client.post(
        f"/api/v1/staff/subsidy/awards/{a.id}/changes",
        json={
            "household_size": 2,
            "per_capita_income": "3000",
            "own_area": "0",
            "occurred_on": (MONTH - timedelta(days=3)).isoformat(),
            "note": "Income certificate seen late",
        },
        headers=as_officer,
    )
    assert resp.status_code == 201, resp.get_data(as_text=True)
    body = resp.get_json()
    assert body["effective_month"] == KEY
    recovery = body["recovery"]
    assert recovery["amount"] == "120.00"  # 540 − 420
    problem(
        client.post(
            f"/api/v1/staff/subsidy/awards/{a.id}/changes",
            json={
                "household_size": 2,
                "per_capita_income": "3000",
                "own_area": "0",
                "occurred_on": today().isoformat(),
                "note": "x",
            },
            headers=as_first,
        ),
        403,
    )
    got = client.get(f"/api/v1/staff/subsidy/awards/{a.id}", headers=as_officer).get_json()
    assert got["outstanding"] == "120.00"
    assert next(b["effective_month"] for b in got["bases"]) == KEY
    assert got["ledger"][0]["payment"] == "540.00"
    assert got["ledger"][0]["closed"] is True

    resp = client.post(
        f"/api/v1/staff/subsidy/recoveries/{recovery['id']}/waiver",
        json={"reason": "Hardship, decided by the office"},
        headers=as_first,
    )
    assert resp.status_code == 200
    assert resp.get_json()["status"] == "waived"

    resp = client.post(
        f"/api/v1/staff/subsidy/awards/{a.id}/end",
        json={"from_month": (MONTH + timedelta(days=40)).strftime("%Y-%m"), "reason": "officer"},
        headers=as_officer,
    )
    assert resp.status_code == 200
    assert resp.get_json()["status"] == "ended"
    other = award(DistrictFactory())
    problem(client.get(f"/api/v1/staff/subsidy/awards/{other.id}", headers=as_officer), 404)
    listed = client.get("/api/v1/staff/subsidy/awards", headers=as_officer).get_json()
    assert [x["id"] for x in listed["awards"]] == [a.id]
