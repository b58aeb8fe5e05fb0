"""The choosing API for households: invitations, the units they may take, choosing,
refusing and the lease, with RFC 9457 errors (409 taken or not your turn, 422 too large)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from portal.allocation import choosing
from portal.allocation.models import EntrantStatus
from portal.extensions import db
from portal.housing.models import UnitStatus
from tests.factories import ResidentFactory
from tests.factories.allocation import ordered_round
from tests.factories.housing import UnitFactory
from tests.factories.waitlist import waiting_entry
from tests.functional.test_notices_api import bearer, problem, resident_token, staff_token


@pytest.fixture
def choosing_round(district, officer):
    first, second = (waiting_entry(district, household_size=2) for _ in range(2))
    small = UnitFactory(district=district, area=Decimal("45.00"), rent=Decimal("480.00"))
    other = UnitFactory(district=district, area=Decimal("49.00"))
    big = UnitFactory(district=district, area=Decimal("66.00"))
    rnd = ordered_round(district, units=[small, other, big], entrants=[first, second])
    choosing.open_choosing(rnd, officer)
    return rnd, first, second, small, other, big


def entrant_of(rnd, entry):
    return next(e for e in choosing.entrants_of(rnd) if e.entry_id == entry.id)


def token_of(client, entry) -> dict:
    return bearer(resident_token(client, entry.application.applicant))


def test_a_household_lists_its_invitations_and_the_units_it_may_take(client, choosing_round):
    rnd, first, second, small, other, _big = choosing_round
    headers = token_of(client, first)

    resp = client.get("/api/v1/me/invitations", headers=headers)
    assert resp.status_code == 200
    [invitation] = resp.get_json()
    assert invitation["round"]["reference"] == rnd.reference
    assert invitation["position"] == 1
    assert invitation["status"] == "invited"
    assert invitation["my_turn"] is True
    assert invitation["choosing_now"] == 1
    assert "50" in invitation["size_rule"]

    units = client.get(f"/api/v1/me/invitations/{invitation['id']}/units", headers=headers)
    assert units.status_code == 200
    assert {u["id"] for u in units.get_json()} == {small.id, other.id}
    assert next(u for u in units.get_json() if u["id"] == small.id)["rent"] == "480.00"

    waiting = client.get("/api/v1/me/invitations", headers=token_of(client, second)).get_json()
    assert waiting[0]["my_turn"] is False
    not_yet = client.get(
        f"/api/v1/me/invitations/{waiting[0]['id']}/units", headers=token_of(client, second)
    )
    assert not_yet.get_json() == []


def test_a_household_chooses_and_reads_its_lease(client, choosing_round):
    rnd, first, _, small, _, _ = choosing_round
    headers = token_of(client, first)
    entrant = entrant_of(rnd, first)

    assert client.get("/api/v1/me/lease", headers=headers).status_code == 404
    resp = client.post(
        f"/api/v1/me/invitations/{entrant.id}/choose", json={"unit_id": small.id}, headers=headers
    )
    assert resp.status_code == 201, resp.get_data(as_text=True)
    lease = resp.get_json()
    assert lease["reference"].startswith("L")
    assert lease["monthly_rent"] == "480.00"
    assert lease["unit"]["id"] == small.id
    assert client.get("/api/v1/me/lease", headers=headers).get_json() == lease
    db.session.expire_all()
    assert small.status is UnitStatus.OCCUPIED


def test_errors_say_what_is_wrong(client, choosing_round, officer):
    rnd, first, second, small, _other, big = choosing_round
    first_headers, second_headers = token_of(client, first), token_of(client, second)
    url_1 = f"/api/v1/me/invitations/{entrant_of(rnd, first).id}/choose"
    url_2 = f"/api/v1/me/invitations/{entrant_of(rnd, second).id}/choose"

    body = problem(client.post(url_2, json={"unit_id": small.id}, headers=second_headers), 409)
    assert body["code"] == "not_your_turn"
    body = problem(client.post(url_1, json={"unit_id": big.id}, headers=first_headers), 422)
    assert "too large" in body["detail"]
    assert "unit" in body["errors"]

    choosing.choose_unit(entrant_of(rnd, first), small, officer)
    body = problem(client.post(url_2, json={"unit_id": small.id}, headers=second_headers), 409)
    assert body["code"] == "unit_taken"
    problem(client.post(url_2, json={"unit_id": 999999}, headers=second_headers), 404)
    problem(client.post(url_2, json={}, headers=second_headers), 422)


def test_a_household_refuses(client, choosing_round):
    rnd, first, _second, *_ = choosing_round
    url = f"/api/v1/me/invitations/{entrant_of(rnd, first).id}/refuse"
    headers = token_of(client, first)

    problem(client.post(url, json={"reason": ""}, headers=headers), 422)
    resp = client.post(url, json={"reason": "离工作单位太远"}, headers=headers)
    assert resp.status_code == 200
    assert resp.get_json()["status"] == "refused"
    db.session.expire_all()
    assert first.refusals == 1
    problem(client.post(url, json={"reason": "再次拒绝"}, headers=headers), 409)


def test_other_people_cannot_use_a_households_invitation(client, choosing_round, officer):
    rnd, first, _, small, _, _ = choosing_round
    entrant = entrant_of(rnd, first)
    stranger = bearer(resident_token(client, ResidentFactory()))

    assert client.get("/api/v1/me/invitations", headers=stranger).get_json() == []
    problem(client.get(f"/api/v1/me/invitations/{entrant.id}/units", headers=stranger), 404)
    problem(
        client.post(
            f"/api/v1/me/invitations/{entrant.id}/choose",
            json={"unit_id": small.id},
            headers=stranger,
        ),
        404,
    )
    staff = bearer(staff_token(client, officer))
    problem(client.get("/api/v1/me/invitations", headers=staff), 403)
    problem(client.get("/api/v1/me/invitations"), 401)
    assert entrant.status is EntrantStatus.INVITED
