"""Choosing units (选房): invitations in the drawn order, turns, the size rule, refusals and
their count, no-shows and the next in line (递补), expiring turns, closing a round."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa
import time_machine

from portal.accounts.roles import Role
from portal.allocation import choosing
from portal.allocation.models import EntrantStatus, RoundStatus
from portal.applications.models import PersonClaim
from portal.core.audit import AuditEvent
from portal.core.clock import CITY_TZ, today
from portal.core.errors import (
    Conflict,
    Forbidden,
    InvalidTransition,
    UnitTaken,
    ValidationFailed,
)
from portal.extensions import db
from portal.housing.models import UnitStatus
from portal.notifications.models import Message
from portal.waitlist.models import EntryStatus
from tests.factories import DistrictFactory, ResidentFactory
from tests.factories.allocation import ordered_round
from tests.factories.fixtures import make_staff
from tests.factories.housing import UnitFactory
from tests.factories.waitlist import waiting_entry


@pytest.fixture
def district(db):
    return DistrictFactory()


@pytest.fixture
def officer(district):
    return make_staff(Role.OFFICER, districts=[district])


def units(district, *areas):
    return [UnitFactory(district=district, area=Decimal(a)) for a in areas]


def households(district, *sizes):
    return [waiting_entry(district, household_size=n) for n in sizes]


def applicant(entry):
    return entry.application.applicant


def entrant_of(rnd, entry):
    return next(e for e in choosing.entrants_of(rnd) if e.entry_id == entry.id)


def kinds(user) -> list[str]:
    return list(
        db.session.scalars(
            sa.select(Message.kind).where(Message.user_id == user.id).order_by(Message.id)
        )
    )


def statuses(rnd) -> list[EntrantStatus]:
    return [e.status for e in choosing.entrants_of(rnd)]


# --- opening and turns ---------------------------------------------------------------------


def test_opening_invites_as_many_households_as_units_in_the_drawn_order(district, officer):
    entries = households(district, 2, 2, 2)
    rnd = ordered_round(district, units=units(district, "45", "48"), entrants=entries)

    choosing.open_choosing(rnd, officer)

    assert rnd.status is RoundStatus.CHOOSING
    assert statuses(rnd) == [EntrantStatus.INVITED, EntrantStatus.INVITED, EntrantStatus.WAITING]
    first = entrant_of(rnd, entries[0])
    assert first.respond_by == today() + timedelta(days=rnd.choose_days)
    assert choosing.current_turn(rnd).id == first.id
    assert kinds(applicant(entries[0])) == ["choose_invited"]
    assert kinds(applicant(entries[1])) == ["choose_invited"]
    assert kinds(applicant(entries[2])) == []


def test_only_an_officer_of_the_district_opens_the_choosing(district):
    rnd = ordered_round(district, entrants=households(district, 2))
    stranger = make_staff(Role.OFFICER)
    with pytest.raises(Forbidden):
        choosing.open_choosing(rnd, stranger)
    assert rnd.status is RoundStatus.ORDERED


def test_households_choose_in_order(district, officer):
    first, second = households(district, 2, 2)
    u1, u2 = units(district, "45", "48")
    rnd = ordered_round(district, units=[u1, u2], entrants=[first, second])
    choosing.open_choosing(rnd, officer)

    with pytest.raises(Conflict) as exc:
        choosing.choose_unit(entrant_of(rnd, second), u2, applicant(second))
    assert exc.value.code == "not_your_turn"
    assert u2.status is UnitStatus.IN_ROUND

    choosing.choose_unit(entrant_of(rnd, first), u1, applicant(first))
    lease = choosing.choose_unit(entrant_of(rnd, second), u2, applicant(second))

    assert lease.unit_id == u2.id
    assert statuses(rnd) == [EntrantStatus.CHOSEN, EntrantStatus.CHOSEN]


def test_a_taken_unit_cannot_be_chosen_again(district, officer):
    first, second = households(district, 2, 2)
    u1, u2 = units(district, "45", "48")
    rnd = ordered_round(district, units=[u1, u2], entrants=[first, second])
    choosing.open_choosing(rnd, officer)
    choosing.choose_unit(entrant_of(rnd, first), u1, applicant(first))

    with pytest.raises(UnitTaken):
        choosing.choose_unit(entrant_of(rnd, second), u1, applicant(second))
    assert entrant_of(rnd, second).status is EntrantStatus.INVITED


def test_only_the_household_or_an_officer_of_the_district_chooses(district, officer):
    [entry] = households(district, 2)
    [unit] = units(district, "45")
    rnd = ordered_round(district, units=[unit], entrants=[entry])
    choosing.open_choosing(rnd, officer)
    entrant = entrant_of(rnd, entry)

    for intruder in (ResidentFactory(), make_staff(Role.OFFICER), make_staff(Role.MANAGER)):
        with pytest.raises(Forbidden):
            choosing.choose_unit(entrant, unit, intruder)
    assert unit.status is UnitStatus.IN_ROUND

    lease = choosing.choose_unit(entrant, unit, officer, starts_on=today() + timedelta(days=7))
    assert lease.starts_on == today() + timedelta(days=7)
    assert lease.created_by_id == officer.id


def test_a_unit_of_another_round_cannot_be_chosen(district, officer):
    [entry] = households(district, 2)
    rnd = ordered_round(district, units=1, entrants=[entry])
    other = ordered_round(district, units=1)
    choosing.open_choosing(rnd, officer)
    with pytest.raises(ValidationFailed):
        choosing.choose_unit(entrant_of(rnd, entry), other.units[0].unit, applicant(entry))


# --- the size rule --------------------------------------------------------------------------


def test_a_household_of_three_cannot_take_a_70_m2_unit(district, officer):
    [entry] = households(district, 3)
    big, fitting = units(district, "70", "58.5")
    rnd = ordered_round(district, units=[big, fitting], entrants=[entry])
    choosing.open_choosing(rnd, officer)
    entrant = entrant_of(rnd, entry)

    assert [u.id for u in choosing.fitting_units(rnd, entrant)] == [fitting.id]
    with pytest.raises(ValidationFailed) as exc:
        choosing.choose_unit(entrant, big, applicant(entry))
    assert "60" in str(exc.value)
    assert big.status is UnitStatus.IN_ROUND
    assert entrant.status is EntrantStatus.INVITED


def test_a_household_of_one_cannot_take_40_m2(district, officer):
    [entry] = households(district, 1)
    too_big, small = units(district, "40", "35")
    rnd = ordered_round(district, units=[too_big, small], entrants=[entry])
    choosing.open_choosing(rnd, officer)
    entrant = entrant_of(rnd, entry)

    assert [u.id for u in choosing.fitting_units(rnd, entrant)] == [small.id]
    with pytest.raises(ValidationFailed) as exc:
        choosing.choose_unit(entrant, too_big, officer)
    assert "35" in str(exc.value)


def test_a_household_no_unit_fits_is_passed_over_and_keeps_its_place(district, officer):
    single, family = households(district, 1, 3)
    rnd = ordered_round(district, units=units(district, "55"), entrants=[single, family])

    choosing.open_choosing(rnd, officer)

    assert statuses(rnd) == [EntrantStatus.NOT_REACHED, EntrantStatus.INVITED]
    assert single.status is EntryStatus.WAITING
    assert "choose_no_fitting_unit" in kinds(applicant(single))
    assert choosing.current_turn(rnd).entry_id == family.id


# --- the lease -------------------------------------------------------------------------------


def test_choosing_makes_the_lease_lets_the_unit_and_houses_the_household(district, officer):
    [entry] = households(district, 3)
    unit = UnitFactory(district=district, area=Decimal("58.00"), rent=Decimal("612.40"))
    rnd = ordered_round(district, units=[unit], entrants=[entry])
    choosing.open_choosing(rnd, officer)

    lease = choosing.choose_unit(entrant_of(rnd, entry), unit, applicant(entry))

    assert lease.reference == f"L{today().year}{lease.id:06d}"
    assert lease.starts_on == today()
    assert lease.ends_on == today().replace(year=today().year + 3)
    assert lease.monthly_rent == Decimal("612.40")
    assert lease.tenant_id == applicant(entry).id
    assert lease.round_id == rnd.id
    assert unit.status is UnitStatus.OCCUPIED
    assert entry.status is EntryStatus.HOUSED
    claims = db.session.scalars(
        sa.select(PersonClaim).where(PersonClaim.application_id == entry.application_id)
    ).all()
    assert len(claims) == 3
    assert {c.kind for c in claims} == {"tenancy"}
    assert "unit_chosen" in kinds(applicant(entry))
    events = db.session.scalars(
        sa.select(AuditEvent.event).where(AuditEvent.event.in_(("round.choose", "lease.create")))
    ).all()
    assert sorted(events) == ["lease.create", "round.choose"]


def test_the_round_closes_by_itself_when_every_unit_is_let(district, officer):
    first, second, third = households(district, 2, 2, 2)
    u1, u2 = units(district, "45", "48")
    rnd = ordered_round(district, units=[u1, u2], entrants=[first, second, third])
    choosing.open_choosing(rnd, officer)

    choosing.choose_unit(entrant_of(rnd, first), u1, applicant(first))
    choosing.choose_unit(entrant_of(rnd, second), u2, applicant(second))

    assert rnd.status is RoundStatus.CLOSED
    assert rnd.notice_until == today() + timedelta(days=15)
    assert entrant_of(rnd, third).status is EntrantStatus.NOT_REACHED
    assert third.status is EntryStatus.WAITING
    assert "choose_not_reached" in kinds(applicant(third))


# --- refusals, no-shows, the next in line ----------------------------------------------------


def test_a_refusal_invites_the_next_household(district, officer):
    first, second = households(district, 2, 2)
    rnd = ordered_round(district, units=units(district, "45"), entrants=[first, second])
    choosing.open_choosing(rnd, officer)

    choosing.refuse(entrant_of(rnd, first), applicant(first), reason="离工作单位太远")

    refused = entrant_of(rnd, first)
    assert refused.status is EntrantStatus.REFUSED
    assert refused.good_reason is False
    assert first.refusals == 1
    assert first.status is EntryStatus.WAITING
    assert choosing.current_turn(rnd).entry_id == second.id
    assert kinds(applicant(first))[-1] == "choose_refused"
    assert kinds(applicant(second)) == ["choose_invited"]


def test_a_resident_cannot_excuse_their_own_refusal_an_officer_can(district, officer):
    first, second, third = households(district, 2, 2, 2)
    rnd = ordered_round(district, units=units(district, "45"), entrants=[first, second, third])
    choosing.open_choosing(rnd, officer)

    choosing.refuse(entrant_of(rnd, first), applicant(first), good_reason=True, reason="太远")
    choosing.refuse(
        entrant_of(rnd, second), officer, good_reason=True, reason="楼层太高，老人腿脚不便"
    )

    assert first.refusals == 1
    assert second.refusals == 0
    assert entrant_of(rnd, second).good_reason is True
    assert kinds(applicant(second))[-1] == "choose_refused_excused"


def test_a_refusal_needs_a_reason(district, officer):
    [entry] = households(district, 2)
    rnd = ordered_round(district, units=1, entrants=[entry])
    choosing.open_choosing(rnd, officer)
    with pytest.raises(ValidationFailed):
        choosing.refuse(entrant_of(rnd, entry), applicant(entry), reason=" ")
    assert entrant_of(rnd, entry).status is EntrantStatus.INVITED


def test_three_refusals_without_good_reason_remove_the_household(district, officer):
    [entry] = households(district, 2)
    for n in range(3):
        rnd = ordered_round(district, units=1, entrants=[entry])
        choosing.open_choosing(rnd, officer)
        choosing.refuse(entrant_of(rnd, entry), applicant(entry), reason=f"不合适 {n}")
        assert rnd.status is RoundStatus.CLOSED  # nobody else was in the line
        assert entry.refusals == n + 1
    assert entry.status is EntryStatus.REMOVED
    claims = db.session.scalar(
        sa.select(sa.func.count())
        .select_from(PersonClaim)
        .where(PersonClaim.application_id == entry.application_id)
    )
    assert claims == 0


def test_a_no_show_passes_the_turn_to_the_next(district, officer):
    first, second = households(district, 2, 2)
    rnd = ordered_round(district, units=units(district, "45"), entrants=[first, second])
    choosing.open_choosing(rnd, officer)

    with pytest.raises(Forbidden):
        choosing.no_show(entrant_of(rnd, first), applicant(second))
    choosing.no_show(entrant_of(rnd, first), officer)

    assert statuses(rnd) == [EntrantStatus.NO_SHOW, EntrantStatus.INVITED]
    assert first.status is EntryStatus.WAITING
    assert first.refusals == 0
    assert kinds(applicant(first))[-1] == "choose_no_show"
    assert kinds(applicant(second)) == ["choose_invited"]
    with pytest.raises(InvalidTransition):
        choosing.no_show(entrant_of(rnd, first), officer)


def morning(day):
    """Half past midnight in the city on ``day``, when the daily jobs run."""
    return datetime(day.year, day.month, day.day, 0, 30, tzinfo=CITY_TZ)


def test_a_turn_that_runs_out_passes_and_the_next_gets_full_time(district, officer):
    first, second, third = households(district, 2, 2, 2)
    two = units(district, "45", "46")
    rnd = ordered_round(district, units=two, entrants=[first, second, third])
    choosing.open_choosing(rnd, officer)
    deadline = entrant_of(rnd, first).respond_by
    assert entrant_of(rnd, second).respond_by == deadline

    with time_machine.travel(morning(deadline), tick=False):
        assert choosing.expire_turns() == 0
    after = deadline + timedelta(days=1)
    with time_machine.travel(morning(after), tick=False):
        assert choosing.expire_turns() == 1

    assert statuses(rnd) == [EntrantStatus.NO_SHOW, EntrantStatus.INVITED, EntrantStatus.INVITED]
    # the second household's turn came only now: it has its full time from today
    assert entrant_of(rnd, second).respond_by == after + timedelta(days=rnd.choose_days)
    assert kinds(applicant(second))[-1] == "choose_turn"
    assert kinds(applicant(third)) == ["choose_invited"]


def test_the_daily_job_passes_turns_whose_time_ran_out(district, officer):
    first, second = households(district, 2, 2)
    rnd = ordered_round(district, units=units(district, "45"), entrants=[first, second])
    choosing.open_choosing(rnd, officer)
    later = today() + timedelta(days=rnd.choose_days + 1)

    with time_machine.travel(morning(later), tick=False):
        from portal.jobs.tasks import expire_choosing_turns

        assert expire_choosing_turns() == {"passed": 1}
    assert choosing.current_turn(rnd).entry_id == second.id
    assert entrant_of(rnd, second).respond_by == later + timedelta(days=rnd.choose_days)


# --- closing ---------------------------------------------------------------------------------


def test_closing_early_returns_the_units_and_the_households_to_the_queue(district, officer):
    first, second, third = households(district, 2, 2, 2)
    u1, u2 = units(district, "45", "46")
    rnd = ordered_round(district, units=[u1, u2], entrants=[first, second, third])
    choosing.open_choosing(rnd, officer)
    choosing.choose_unit(entrant_of(rnd, first), u1, applicant(first))

    with pytest.raises(Forbidden):
        choosing.close_round(rnd, make_staff(Role.OFFICER))
    choosing.close_round(rnd, officer)

    assert rnd.status is RoundStatus.CLOSED
    assert rnd.closed_at is not None
    assert rnd.notice_until == today() + timedelta(days=15)
    assert u1.status is UnitStatus.OCCUPIED
    assert u2.status is UnitStatus.VACANT
    assert statuses(rnd) == [
        EntrantStatus.CHOSEN,
        EntrantStatus.NOT_REACHED,
        EntrantStatus.NOT_REACHED,
    ]
    assert second.status is EntryStatus.WAITING
    assert third.status is EntryStatus.WAITING
    assert kinds(applicant(second))[-1] == "choose_not_reached"
    with pytest.raises(InvalidTransition):
        choosing.close_round(rnd, officer)
    with pytest.raises(InvalidTransition):
        choosing.refuse(entrant_of(rnd, second), officer, reason="太远了")


def test_progress_counts_units_and_households(district, officer):
    first, second, third = households(district, 2, 2, 2)
    u1, u2 = units(district, "45", "46")
    rnd = ordered_round(district, units=[u1, u2], entrants=[first, second, third])
    choosing.open_choosing(rnd, officer)
    choosing.choose_unit(entrant_of(rnd, first), u1, applicant(first))

    p = choosing.progress(rnd)
    assert (p.units, p.let, p.left) == (2, 1, 1)
    assert p.by_status[EntrantStatus.CHOSEN] == 1
    assert p.by_status[EntrantStatus.INVITED] == 1
    assert p.by_status[EntrantStatus.WAITING] == 1
    assert p.turn.entry_id == second.id


# --- units assigned in order (services.allocate_in_order) -----------------------------------


def test_a_household_offered_a_unit_takes_it_or_refuses_it(district, officer):
    from portal.allocation import services as rounds

    first, second, third = households(district, 2, 2, 2)
    big, small = units(district, "48", "45")
    rnd = ordered_round(district, units=[big, small], entrants=[first, second, third])
    rounds.allocate_in_order(rnd, officer)
    offer_1, offer_2 = entrant_of(rnd, first), entrant_of(rnd, second)
    assert choosing.offered_unit(offer_1).id == big.id
    assert choosing.choices_for(offer_2) == [small]

    with pytest.raises(ValidationFailed):
        choosing.choose_unit(offer_2, big, applicant(second))
    # no turn between offers: the second takes its unit before the first answers
    choosing.choose_unit(offer_2, small, applicant(second))
    assert small.status is UnitStatus.OCCUPIED

    choosing.refuse(offer_1, applicant(first), reason="太贵了")
    assert offer_1.unit_id is None
    # the refused unit is free for the next in line, who chooses on their turn
    nxt = entrant_of(rnd, third)
    assert nxt.status is EntrantStatus.INVITED
    assert choosing.choices_for(nxt) == [big]
    choosing.choose_unit(nxt, big, applicant(third))
    assert rnd.status is RoundStatus.CLOSED


def test_offers_not_taken_up_lapse_when_the_round_closes(district, officer):
    from portal.allocation import services as rounds

    first, second = households(district, 2, 2)
    u1, u2 = units(district, "45", "46")
    rnd = ordered_round(district, units=[u1, u2], entrants=[first, second])
    rounds.allocate_in_order(rnd, officer)
    choosing.choose_unit(entrant_of(rnd, first), entrant_of(rnd, first).unit, officer)

    later = entrant_of(rnd, second).respond_by + timedelta(days=1)
    with time_machine.travel(morning(later), tick=False):
        assert choosing.expire_turns() == 1
    assert entrant_of(rnd, second).status is EntrantStatus.NO_SHOW
    assert entrant_of(rnd, second).unit_id is None
    assert rnd.status is RoundStatus.CLOSED
    assert {u1.status, u2.status} == {UnitStatus.OCCUPIED, UnitStatus.VACANT}
