"""Choosing a unit in the portal (the household) and at the counter (the officer): the
whole way from the invitation to the lease, in the browser, with scope checks."""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa

from portal.accounts.roles import Role
from portal.allocation import choosing
from portal.allocation.models import EntrantStatus, RoundStatus
from portal.core.clock import today
from portal.extensions import db
from portal.housing.models import UnitStatus
from portal.tenancy.models import Lease
from portal.waitlist.models import EntryStatus
from tests.factories import ResidentFactory
from tests.factories.allocation import ordered_round
from tests.factories.fixtures import (
    make_staff,
    resident_browser,
    staff_browser,
)
from tests.factories.housing import UnitFactory
from tests.factories.waitlist import waiting_entry

MASKED_ID = re.compile(r"\d{4}\*{10}[\dX]{4}")


def text(resp) -> str:
    return resp.get_data(as_text=True)


@pytest.fixture
def round_of_two(district, officer):
    """A round choosing: two households of two, a 45 m² and a 58 m² unit, and a 66 m² unit
    no household of two may take."""
    first, second = (waiting_entry(district, household_size=2) for _ in range(2))
    units = [
        UnitFactory(district=district, area=Decimal(a), rent=Decimal(r), number=n)
        for a, r, n in (("45.00", "480.00", "A-101"), ("48.20", "510.50", "A-102"))
    ]
    big = UnitFactory(district=district, area=Decimal("66.00"), number="A-301")
    rnd = ordered_round(district, units=[*units, big], entrants=[first, second])
    choosing.open_choosing(rnd, officer)
    return rnd, first, second, units, big


def entrant_of(rnd, entry):
    return next(e for e in choosing.entrants_of(rnd) if e.entry_id == entry.id)


# --- the household ---------------------------------------------------------------------------


def test_a_household_chooses_its_unit_and_sees_its_lease(app, round_of_two):
    rnd, first, _, (u1, _u2), _big = round_of_two
    browser = resident_browser(app, first.application.applicant)
    entrant = entrant_of(rnd, first)

    page = text(browser.get("/my/rounds/"))
    assert rnd.title in page
    assert "It is your turn." in page
    assert "A-101" in page
    assert "A-102" in page
    assert "A-301" not in page  # too large for two
    assert "at most 50 m²" in page

    confirm = browser.post_form(f"/my/rounds/{entrant.id}/confirm", {"unit_id": u1.id})
    assert confirm.status_code == 200
    assert "Confirm your choice" in text(confirm)
    assert u1.estate.address in text(confirm)
    db.session.expire_all()
    assert u1.status is UnitStatus.IN_ROUND  # confirming changes nothing yet

    done = browser.post_form(f"/my/rounds/{entrant.id}/choose", {"unit_id": u1.id})
    assert done.status_code == 302
    assert done.location.endswith("/my/rounds/lease")
    lease_page = text(browser.get(done.location))
    lease = db.session.scalars(sa.select(Lease)).one()
    assert lease.reference in lease_page
    assert "480.00 yuan" in lease_page
    assert u1.estate.address in lease_page
    db.session.expire_all()
    assert u1.status is UnitStatus.OCCUPIED
    assert first.status is EntryStatus.HOUSED
    assert "See your lease" in text(browser.get("/my/rounds/"))


def test_a_household_waits_for_its_turn(app, round_of_two):
    rnd, _, second, (u1, _u2), _ = round_of_two
    browser = resident_browser(app, second.application.applicant)
    entrant = entrant_of(rnd, second)

    page = text(browser.get("/my/rounds/"))
    assert "No. 1" in page  # choosing now
    assert "Choose this unit" not in page
    resp = browser.post_form(f"/my/rounds/{entrant.id}/choose", {"unit_id": u1.id})
    assert resp.status_code == 409
    assert "not this household&#39;s turn" in text(resp)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Lease)) == 0


def test_a_unit_just_taken_is_reported(app, round_of_two, officer):
    rnd, first, second, (u1, _u2), _ = round_of_two
    choosing.choose_unit(entrant_of(rnd, first), u1, officer)
    browser = resident_browser(app, second.application.applicant)

    resp = browser.post_form(f"/my/rounds/{entrant_of(rnd, second).id}/choose", {"unit_id": u1.id})
    assert resp.status_code == 409
    assert "just been taken" in text(resp)


def test_a_household_refuses_with_a_reason(app, round_of_two):
    rnd, first, second, _, _ = round_of_two
    browser = resident_browser(app, first.application.applicant)
    url = f"/my/rounds/{entrant_of(rnd, first).id}/refuse"

    empty = browser.post_form(url, {"reason": ""})
    assert empty.status_code == 422
    assert entrant_of(rnd, first).status is EntrantStatus.INVITED

    resp = browser.post_form(url, {"reason": "离孩子学校太远"})
    assert resp.status_code == 302
    db.session.expire_all()
    assert entrant_of(rnd, first).status is EntrantStatus.REFUSED
    assert first.refusals == 1
    assert choosing.current_turn(rnd).entry_id == second.id
    assert "keeps its place" in text(browser.get(resp.location))


def test_another_resident_cannot_see_or_use_the_invitation(app, round_of_two):
    rnd, first, _, (u1, _u2), _ = round_of_two
    stranger = resident_browser(app, ResidentFactory())
    entrant = entrant_of(rnd, first)

    assert rnd.title not in text(stranger.get("/my/rounds/"))
    for step, data in (("confirm", {"unit_id": u1.id}), ("choose", {"unit_id": u1.id})):
        assert stranger.post_form(f"/my/rounds/{entrant.id}/{step}", data).status_code == 404
    assert (
        stranger.post_form(f"/my/rounds/{entrant.id}/refuse", {"reason": "不要"}).status_code == 404
    )
    assert "no lease in force" in text(stranger.get("/my/rounds/lease"))
    db.session.expire_all()
    assert entrant.status is EntrantStatus.INVITED


def test_staff_do_not_use_the_households_pages(app, officer):
    browser = staff_browser(app, officer)
    assert browser.get("/my/rounds/").status_code == 403
    assert browser.get("/my/rounds/lease").status_code == 403


# --- the counter -----------------------------------------------------------------------------


def test_the_counter_opens_the_choosing_and_records_a_choice(app, district, officer):
    first, second = (waiting_entry(district, household_size=3) for _ in range(2))
    fitting = UnitFactory(district=district, area=Decimal("58.00"), number="B-201")
    too_big = UnitFactory(district=district, area=Decimal("70.00"), number="B-301")
    rnd = ordered_round(district, units=[fitting, too_big], entrants=[first, second])
    browser = staff_browser(app, officer)
    url = f"/staff/rounds/{rnd.id}/counter"

    assert "Start choosing" in text(browser.get(url))
    assert browser.post_form(f"{url}/open").status_code == 302
    db.session.expire_all()
    assert rnd.status is RoundStatus.CHOOSING

    page = text(browser.get(url))
    assert MASKED_ID.search(page)
    assert first.application.reference in page
    assert "B-201" in page
    assert "B-301" not in page  # a household of three may take at most 60 m²

    serving = entrant_of(rnd, first)
    start = today() + timedelta(days=10)
    refused = browser.post_form(
        f"{url}/choose",
        {"entrant_id": serving.id, "unit_id": too_big.id, "starts_on": start.isoformat()},
    )
    assert refused.status_code == 422
    assert "too large" in text(refused)

    resp = browser.post_form(
        f"{url}/choose",
        {"entrant_id": serving.id, "unit_id": fitting.id, "starts_on": start.isoformat()},
    )
    assert resp.status_code == 302
    lease = db.session.scalars(sa.select(Lease)).one()
    assert lease.starts_on == start
    assert lease.ends_on == start.replace(year=start.year + 3)
    assert lease.created_by_id == officer.id
    assert "B-201" in text(browser.get(url))


def test_the_counter_records_refusals_no_shows_and_closes(app, district, officer):
    entries = [waiting_entry(district, household_size=2) for _ in range(3)]
    rnd = ordered_round(district, units=1, entrants=entries)
    choosing.open_choosing(rnd, officer)
    browser = staff_browser(app, officer)
    url = f"/staff/rounds/{rnd.id}/counter"

    first = entrant_of(rnd, entries[0])
    resp = browser.post_form(
        f"{url}/refuse",
        {"entrant_id": first.id, "reason": "老人行动不便，楼层太高", "good_reason": "y"},
    )
    assert resp.status_code == 302
    db.session.expire_all()
    assert first.status is EntrantStatus.REFUSED
    assert first.good_reason is True
    assert entries[0].refusals == 0

    second = entrant_of(rnd, entries[1])
    assert browser.post_form(f"{url}/no-show", {"entrant_id": second.id}).status_code == 302
    db.session.expire_all()
    assert second.status is EntrantStatus.NO_SHOW
    assert choosing.current_turn(rnd).entry_id == entries[2].id

    assert browser.post_form(f"{url}/close").status_code == 302
    db.session.expire_all()
    assert rnd.status is RoundStatus.CLOSED
    assert rnd.units[0].unit.status is UnitStatus.VACANT
    assert entrant_of(rnd, entries[2]).status is EntrantStatus.NOT_REACHED
    assert "public until" in text(browser.get(url))


def test_the_round_page_shows_the_counter_panel(app, round_of_two, officer):
    rnd = round_of_two[0]
    page = text(staff_browser(app, officer).get(f"/staff/rounds/{rnd.id}"))
    assert "Choosing units" in page
    assert f"/staff/rounds/{rnd.id}/counter" in page


def test_the_counter_is_for_officers_of_the_district(app, round_of_two):
    rnd, first, _, (u1, _u2), _ = round_of_two
    entrant = entrant_of(rnd, first)
    url = f"/staff/rounds/{rnd.id}/counter"

    other = staff_browser(app, make_staff(Role.OFFICER))
    assert other.get(url).status_code == 404
    assert (
        other.post_form(f"{url}/choose", {"entrant_id": entrant.id, "unit_id": u1.id}).status_code
        == 404
    )
    assert other.post_form(f"{url}/no-show", {"entrant_id": entrant.id}).status_code == 404
    assert other.post_form(f"{url}/close").status_code == 404
    manager = staff_browser(app, make_staff(Role.MANAGER))
    assert manager.get(url).status_code == 403
    household = resident_browser(app, first.application.applicant)
    assert household.get(url).status_code == 403
    db.session.expire_all()
    assert entrant.status is EntrantStatus.INVITED
    assert rnd.status is RoundStatus.CHOOSING


def test_the_counter_acts_only_on_households_of_its_round(app, round_of_two, district, officer):
    rnd = round_of_two[0]
    other = ordered_round(district, units=1, entrants=[waiting_entry(district)])
    choosing.open_choosing(other, officer)
    stranger = choosing.current_turn(other)
    browser = staff_browser(app, officer)

    resp = browser.post_form(f"/staff/rounds/{rnd.id}/counter/no-show", {"entrant_id": stranger.id})
    assert resp.status_code == 404
    assert browser.get(f"/staff/rounds/{rnd.id}/counter?entrant={stranger.id}").status_code == 404
