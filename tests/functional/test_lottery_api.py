"""The rounds API: public rounds, their published data and verification; staff proposing,
approving (four eyes: 409), rejecting and drawing with bearer tokens."""

from __future__ import annotations

import pytest

from portal.accounts.roles import Role
from portal.allocation import services
from portal.allocation.models import Method, RoundStatus
from portal.applications.models import Programme
from portal.waitlist.models import Group
from tests.factories import DistrictFactory
from tests.factories.fixtures import make_staff
from tests.factories.housing import UnitFactory
from tests.factories.waitlist import waiting_entry
from tests.functional.test_lottery_public import make_round
from tests.functional.test_notices_api import bearer, problem, staff_token


def test_public_list_and_detail(client):
    rnd = make_round(households=4)
    listed = client.get("/api/v1/rounds").get_json()
    assert rnd.reference in [r["reference"] for r in listed]
    body = client.get(f"/api/v1/rounds/{rnd.reference}").get_json()
    assert body["seed"] == rnd.published_seed
    assert body["seed_hash"] == rnd.seed_hash
    assert body["entrants_hash"] == rnd.entrants_hash
    assert len(body["units"]) == 3
    assert body["units"][0]["area"] == "45.50"
    assert [r["position"] for r in body["results"]] == [1, 2, 3, 4]
    assert all("name" not in r for r in body["results"])  # codes only


def test_verification(client):
    rnd = make_round(households=4)
    body = client.get(f"/api/v1/rounds/{rnd.reference}/verification").get_json()
    assert body["verified"] is True
    assert {c["name"] for c in body["checks"]} >= {"seed_hash", "entrants_hash", "order"}
    assert all(c["passed"] for c in body["checks"])


def test_before_the_draw_nothing_is_verified_and_the_seed_is_secret(client):
    rnd = make_round(draw=False)
    body = client.get(f"/api/v1/rounds/{rnd.reference}").get_json()
    assert body["seed"] is None
    assert body["results"] == []
    assert len(body["entrants"]) == rnd.entrant_count
    check = client.get(f"/api/v1/rounds/{rnd.reference}/verification").get_json()
    assert check == {"reference": rnd.reference, "verified": False, "checks": []}


def test_unknown_round_is_a_problem_document(client):
    problem(client.get("/api/v1/rounds/R2026-9999"), 404)


@pytest.fixture
def proposed():
    district = DistrictFactory()
    waiting_entry(district, household_size=2)
    author = make_staff(Role.MANAGER)
    rnd = services.create_round(
        author,
        district=district,
        programme=Programme.PUBLIC_RENTAL,
        title="接口批次",
        method=Method.LOTTERY,
        groups=[Group.G],
        unit_ids=[UnitFactory(district=district).id],
    )
    return rnd, author, district


def test_staff_propose_approve_draw(client, proposed):
    rnd, author, district = proposed
    token = staff_token(client, author)
    resp = client.post(f"/api/v1/staff/rounds/{rnd.id}/proposal", headers=bearer(token))
    assert resp.status_code == 200, resp.get_data(as_text=True)
    assert resp.get_json()["status"] == RoundStatus.PROPOSED.value

    body = problem(
        client.post(f"/api/v1/staff/rounds/{rnd.id}/approval", json={}, headers=bearer(token)),
        409,
    )
    assert body["code"] == "same_actor"

    officer = make_staff(Role.OFFICER, districts=[district])
    officer_token = staff_token(client, officer)
    problem(
        client.post(
            f"/api/v1/staff/rounds/{rnd.id}/approval", json={}, headers=bearer(officer_token)
        ),
        403,
    )

    other = staff_token(client, make_staff(Role.MANAGER))
    resp = client.post(
        f"/api/v1/staff/rounds/{rnd.id}/approval", json={"note": "同意"}, headers=bearer(other)
    )
    assert resp.status_code == 200, resp.get_data(as_text=True)
    assert resp.get_json()["entrant_count"] == 1

    resp = client.post(f"/api/v1/staff/rounds/{rnd.id}/draw", headers=bearer(officer_token))
    assert resp.status_code == 200, resp.get_data(as_text=True)
    assert resp.get_json()["status"] == RoundStatus.ORDERED.value
    verified = client.get(f"/api/v1/rounds/{rnd.reference}/verification").get_json()
    assert verified["verified"] is True


def test_staff_reject_needs_a_reason_and_scope_holds(client, proposed):
    rnd, author, _ = proposed
    services.propose(rnd, author)
    other = staff_token(client, make_staff(Role.MANAGER))
    problem(
        client.post(f"/api/v1/staff/rounds/{rnd.id}/rejection", json={}, headers=bearer(other)),
        422,
    )
    resp = client.post(
        f"/api/v1/staff/rounds/{rnd.id}/rejection",
        json={"note": "房源面积不符"},
        headers=bearer(other),
    )
    assert resp.status_code == 200
    assert resp.get_json()["status"] == RoundStatus.REJECTED.value
    stranger = staff_token(client, make_staff(Role.OFFICER, districts=[DistrictFactory()]))
    problem(client.post(f"/api/v1/staff/rounds/{rnd.id}/draw", headers=bearer(stranger)), 404)
