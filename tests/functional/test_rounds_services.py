"""Allocation rounds up to the draw: drafting in scope, proposing, four eyes, the frozen
entrants, the draw, cancelling and assigning units in order."""

from __future__ import annotations

from decimal import Decimal

import pytest
import sqlalchemy as sa

from portal.accounts.roles import Role
from portal.allocation import lottery, services
from portal.allocation.models import (
    AllocationRound,
    EntrantStatus,
    Method,
    RoundEntrant,
    RoundStatus,
)
from portal.applications.models import Programme
from portal.core.errors import (
    Conflict,
    Forbidden,
    InvalidTransition,
    SameActor,
    ValidationFailed,
)
from portal.housing.models import UnitStatus
from portal.notifications.models import Message
from portal.waitlist.models import Group
from tests.factories import DistrictFactory
from tests.factories.fixtures import make_staff
from tests.factories.housing import EstateFactory, UnitFactory
from tests.factories.waitlist import waiting_entry


@pytest.fixture
def manager():
    return make_staff(Role.MANAGER)


@pytest.fixture
def estate(district):
    return EstateFactory(district=district)


def _units(estate, *areas):
    return [UnitFactory(estate=estate, area=Decimal(a)) for a in areas]


def _round(officer, district, units, **kw):
    args = {
        "district": district,
        "programme": Programme.PUBLIC_RENTAL,
        "title": "2026年第一批公租房配租",
        "method": Method.LOTTERY,
        "groups": [Group.P1, Group.G],
        "sector_share": 0,
        "choose_days": 3,
        "unit_ids": [u.id for u in units],
    }
    args.update(kw)
    return services.create_round(officer, **args)


def _approved(officer, manager, district, units, **kw):
    rnd = _round(officer, district, units, **kw)
    services.propose(rnd, officer)
    return services.approve(rnd, manager, "ok")


def _entrants(rnd):
    from portal.extensions import db

    return list(
        db.session.scalars(
            sa.select(RoundEntrant)
            .where(RoundEntrant.round_id == rnd.id)
            .order_by(RoundEntrant.position, RoundEntrant.code)
        )
    )


# --- drafting --------------------------------------------------------------------------------


def test_officer_drafts_a_round_of_vacant_units_in_their_district(officer, district, estate):
    units = _units(estate, "30", "45")
    rnd = _round(officer, district, units)
    assert rnd.status is RoundStatus.DRAFT
    assert rnd.reference.startswith("R20")
    assert rnd.reference.endswith("-0001")
    assert sorted(ru.unit_id for ru in rnd.units) == sorted(u.id for u in units)
    second = _round(officer, district, [UnitFactory(estate=estate)])
    assert second.reference.endswith("-0002")


def test_officer_of_another_district_may_not_draft(district, estate):
    stranger = make_staff(Role.OFFICER, districts=[DistrictFactory()])
    with pytest.raises(Forbidden):
        _round(stranger, district, _units(estate, "40"))


def test_units_must_be_vacant_and_of_the_district(officer, district, estate):
    let = UnitFactory(estate=estate, status=UnitStatus.OCCUPIED)
    with pytest.raises(Conflict):
        _round(officer, district, [let])
    elsewhere = UnitFactory()
    with pytest.raises(ValidationFailed):
        _round(officer, district, [elsewhere])
    with pytest.raises(ValidationFailed) as err:
        _round(officer, district, [])
    assert err.value.field == "units"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("title", "  "),
        ("groups", []),
        ("sector_share", 101),
        ("choose_days", 0),
        ("programme", Programme.RENTAL_SUBSIDY),
    ],
)
def test_bad_settings_are_refused_with_the_field_named(officer, district, estate, field, value):
    with pytest.raises(ValidationFailed) as err:
        _round(officer, district, _units(estate, "40"), **{field: value})
    assert err.value.field == field


def test_a_sector_share_needs_the_sector_group(officer, district, estate):
    with pytest.raises(ValidationFailed) as err:
        _round(officer, district, _units(estate, "40"), sector_share=10, groups=[Group.G])
    assert err.value.field == "sector_share"


def test_a_draft_can_be_changed_but_not_once_proposed(officer, district, estate):
    a, b = _units(estate, "40", "50")
    rnd = _round(officer, district, [a])
    services.set_units(rnd, officer, [b.id])
    assert [ru.unit_id for ru in rnd.units] == [b.id]
    services.update_round(
        rnd,
        officer,
        title="改过的标题",
        programme=Programme.PUBLIC_RENTAL,
        method=Method.RANK,
        groups=[Group.P2],
        sector_share=0,
        choose_days=5,
    )
    assert (rnd.title, rnd.method, rnd.groups, rnd.choose_days) == (
        "改过的标题",
        Method.RANK,
        "p2",
        5,
    )
    services.propose(rnd, officer)
    with pytest.raises(InvalidTransition):
        services.set_units(rnd, officer, [a.id])


# --- proposing and deciding ----------------------------------------------------------------------


def test_proposing_offers_the_units_and_tells_the_managers(officer, manager, district, estate):
    units = _units(estate, "30", "45")
    rnd = _round(officer, district, units)
    services.propose(rnd, officer)
    assert rnd.status is RoundStatus.PROPOSED
    assert {u.status for u in units} == {UnitStatus.IN_ROUND}
    from portal.extensions import db

    kinds = db.session.scalars(sa.select(Message.kind).where(Message.user_id == manager.id)).all()
    assert "round_proposed" in kinds


def test_a_unit_let_meanwhile_stops_the_proposal(officer, district, estate):
    a, b = _units(estate, "30", "45")
    rnd = _round(officer, district, [a, b])
    b.status = UnitStatus.OCCUPIED
    with pytest.raises(Conflict):
        services.propose(rnd, officer)


def test_the_proposer_may_not_approve_four_eyes(district, estate):
    author = make_staff(Role.MANAGER)
    rnd = _round(author, district, _units(estate, "40"))
    services.propose(rnd, author)
    waiting_entry(district)
    with pytest.raises(SameActor) as err:
        services.approve(rnd, author)
    assert err.value.status == 409
    with pytest.raises(SameActor):
        services.reject(rnd, author, "not like this")
    assert not services.may_decide(rnd, author)
    other = make_staff(Role.MANAGER)
    assert services.may_decide(rnd, other)
    services.approve(rnd, other)
    assert rnd.status is RoundStatus.APPROVED


def test_an_officer_may_not_approve(officer, district, estate):
    rnd = _round(officer, district, _units(estate, "40"))
    services.propose(rnd, officer)
    with pytest.raises(Forbidden):
        services.approve(rnd, make_staff(Role.OFFICER, districts=[district]))


def test_approval_freezes_the_fitting_entrants_and_publishes_the_hashes(
    officer, manager, district, estate
):
    units = _units(estate, "40", "48")  # too large for one person (35 m² at most)
    single = waiting_entry(district, household_size=1, group=Group.G)  # no unit fits
    pair = waiting_entry(district, household_size=2, group=Group.P1)
    three = waiting_entry(district, household_size=3, group=Group.G)
    p2 = waiting_entry(district, household_size=1, group=Group.P2)  # group not in the round
    elsewhere = waiting_entry(DistrictFactory(), household_size=1)  # wants another district
    anywhere = waiting_entry(DistrictFactory(), household_size=2)
    anywhere.application.preferred_districts = []  # named no district: any will do
    affordable = waiting_entry(district, household_size=1, programme=Programme.AFFORDABLE_RENTAL)
    rnd = _approved(officer, manager, district, units)

    entrants = {e.code: e for e in _entrants(rnd)}
    codes = {e.application.reference for e in (three, pair, anywhere)}
    assert set(entrants) == codes
    assert all(e.application.reference not in entrants for e in (single, p2, elsewhere, affordable))
    assert rnd.entrant_count == 3
    e = entrants[pair.application.reference]
    assert (e.group, e.household_size, e.status, e.position) == (
        Group.P1,
        2,
        EntrantStatus.WAITING,
        None,
    )
    assert e.masked_name.endswith("*")
    assert len(e.masked_name) > 1
    assert e.queue_rank is not None
    assert rnd.seed
    assert rnd.published_seed is None
    assert rnd.seed_hash == lottery.seed_hash(rnd.seed)
    assert rnd.entrants_hash == lottery.entrants_hash(sorted(codes))
    assert services.entrants_file(rnd) == "".join(f"{c}\n" for c in sorted(codes)).encode()


def test_a_household_in_another_live_round_is_not_entered_twice(officer, manager, district, estate):
    entry = waiting_entry(district, household_size=1)
    first = _approved(officer, manager, district, _units(estate, "30"))
    assert first.entrant_count == 1
    rnd = _round(officer, district, _units(estate, "30"))
    services.propose(rnd, officer)
    waiting_entry(district, household_size=1)
    services.approve(rnd, manager)
    assert entry.application.reference not in {e.code for e in _entrants(rnd)}
    assert rnd.entrant_count == 1


def test_a_round_nobody_fits_cannot_be_approved(officer, manager, district, estate):
    waiting_entry(district, household_size=1)
    rnd = _round(officer, district, _units(estate, "40"))
    services.propose(rnd, officer)
    with pytest.raises(Conflict):
        services.approve(rnd, manager)


def test_reject_returns_the_units(officer, manager, district, estate):
    units = _units(estate, "30", "40")
    rnd = _round(officer, district, units)
    services.propose(rnd, officer)
    with pytest.raises(ValidationFailed):
        services.reject(rnd, manager, "")
    services.reject(rnd, manager, "单位面积不合适")
    assert rnd.status is RoundStatus.REJECTED
    assert rnd.decision_note == "单位面积不合适"
    assert {u.status for u in units} == {UnitStatus.VACANT}
    assert [h.event for h in services.history(rnd)] == [
        "round.create",
        "round.propose",
        "round.reject",
    ]


# --- the draw --------------------------------------------------------------------------------


def test_the_lottery_draw_is_lottery_order_and_reveals_the_seed(officer, manager, district, estate):
    for _ in range(6):
        waiting_entry(district, household_size=1)
    rnd = _approved(officer, manager, district, _units(estate, "30", "30"))
    seed = rnd.seed
    services.draw(rnd, officer)
    assert rnd.status is RoundStatus.ORDERED
    assert rnd.published_seed == seed
    expected = lottery.order(seed, [e.code for e in _entrants(rnd)], 0)
    got = [(e.code, e.position, e.draw) for e in _entrants(rnd)]
    assert got == expected
    assert all(c.passed for c in services.verification(rnd))
    with pytest.raises(InvalidTransition):
        services.draw(rnd, officer)


def test_the_sector_quota_chooses_first(officer, manager, district, estate):
    sector = [waiting_entry(district, household_size=1, group=Group.S) for _ in range(3)]
    for _ in range(5):
        waiting_entry(district, household_size=1)
    units = _units(estate, *["30"] * 10)
    rnd = _approved(officer, manager, district, units, groups=[Group.S, Group.G], sector_share=20)
    assert services.quota_count(rnd) == 2  # 20 % of 10 units, and 3 households could use it
    services.draw(rnd, officer)
    entrants = _entrants(rnd)
    codes = {e.application.reference for e in sector}
    assert all(e.sector == (e.code in codes) for e in entrants)
    assert [e.code in codes for e in entrants[:2]] == [True, True]
    pairs = [(e.code, e.sector) for e in entrants]
    assert [(e.code, e.position) for e in entrants] == [
        (c, p) for c, p, _ in lottery.order(rnd.published_seed, pairs, 2)
    ]
    assert "S\n" in services.entrants_file(rnd).decode()
    assert all(c.passed for c in services.verification(rnd))


def test_rank_rounds_order_by_queue_rank(officer, manager, district, estate):
    from datetime import timedelta

    from portal.core.clock import today

    late = waiting_entry(district, household_size=1, qualified_on=today() - timedelta(days=10))
    early = waiting_entry(district, household_size=1, qualified_on=today() - timedelta(days=300))
    priority = waiting_entry(
        district, household_size=1, group=Group.P1, qualified_on=today() - timedelta(days=5)
    )
    rnd = _approved(officer, manager, district, _units(estate, "30"), method=Method.RANK)
    assert rnd.seed is None
    assert rnd.seed_hash is None
    services.draw(rnd, officer)
    order = [e.code for e in _entrants(rnd)]
    assert order == [e.application.reference for e in (priority, early, late)]
    assert [e.queue_rank for e in _entrants(rnd)] == sorted(e.queue_rank for e in _entrants(rnd))
    assert services.verification(rnd) == []


# --- cancelling ----------------------------------------------------------------------------------


def test_cancel_before_choosing_returns_the_units(officer, manager, district, estate):
    waiting_entry(district, household_size=1)
    units = _units(estate, "30")
    rnd = _approved(officer, manager, district, units)
    services.draw(rnd, officer)
    with pytest.raises(ValidationFailed):
        services.cancel(rnd, officer, "")
    services.cancel(rnd, officer, "房源需要维修")
    assert rnd.status is RoundStatus.CANCELLED
    assert units[0].status is UnitStatus.VACANT
    # an approved round stays published, cancelled
    assert services.published_round(rnd.reference) is not None


def test_a_draft_can_be_cancelled_and_its_units_were_never_offered(officer, district, estate):
    units = _units(estate, "30")
    rnd = _round(officer, district, units)
    services.cancel(rnd, officer, "重复创建")
    assert units[0].status is UnitStatus.VACANT
    assert services.published_round(rnd.reference) is None


# --- assigning units in order --------------------------------------------------------------------


def test_allocate_in_order_gives_each_the_largest_unit_it_may_have(
    officer, manager, district, estate
):
    sizes = [1, 5, 2, 1, 3]
    for size in sizes:
        waiting_entry(district, household_size=size)
    units = _units(estate, "30", "35", "48", "58", "75")
    rnd = _approved(officer, manager, district, units, method=Method.RANK)
    services.draw(rnd, officer)
    invited = services.allocate_in_order(rnd, officer)
    assert rnd.status is RoundStatus.CHOOSING
    areas = {u.id: u.area for u in units}
    given = [(e.household_size, areas.get(e.unit_id)) for e in _entrants(rnd)]
    by_position = dict(enumerate(given, start=1))
    assert invited == 5
    # walking by position, each takes the largest free unit its size allows
    free = sorted(areas.values(), reverse=True)
    for _, (size, area) in sorted(by_position.items()):
        limit = {1: 35, 2: 50, 3: 60, 4: 60}.get(size)
        fitting = [a for a in free if limit is None or a <= limit]
        assert area == fitting[0]
        free.remove(area)
    assert all(e.status is EntrantStatus.INVITED for e in _entrants(rnd))
    assert all(e.respond_by is not None for e in _entrants(rnd))


def test_allocate_in_order_leaves_waiting_who_find_no_unit(officer, manager, district, estate):
    for _ in range(3):
        waiting_entry(district, household_size=1)
    rnd = _approved(officer, manager, district, _units(estate, "30"), method=Method.RANK)
    services.draw(rnd, officer)
    assert services.allocate_in_order(rnd, officer) == 1
    statuses = [e.status for e in _entrants(rnd)]
    assert statuses == [EntrantStatus.INVITED, EntrantStatus.WAITING, EntrantStatus.WAITING]
    assert _entrants(rnd)[0].unit_id is not None


def test_households_offered_a_unit_in_order_are_told_once(officer, manager, district, estate):
    from portal.allocation.choosing import tell_offers
    from portal.extensions import db

    entries = [waiting_entry(district, household_size=1) for _ in range(2)]
    rnd = _approved(officer, manager, district, _units(estate, "30", "32"), method=Method.RANK)
    services.draw(rnd, officer)
    assert services.allocate_in_order(rnd, officer) == 2  # the job runs in-process here

    def invitations(entry):
        return db.session.scalar(
            sa.select(sa.func.count())
            .select_from(Message)
            .where(
                Message.user_id == entry.application.applicant_id,
                Message.kind == "choose_invited",
            )
        )

    assert [invitations(e) for e in entries] == [1, 1]
    assert tell_offers(rnd.id) == 0  # a second run tells nobody twice
    assert [invitations(e) for e in entries] == [1, 1]


def test_rounds_in_scope(officer, manager, district, estate):
    from portal.extensions import db

    mine = _round(officer, district, _units(estate, "30"))
    theirs = _round(manager, (d := DistrictFactory()), _units(EstateFactory(district=d), "30"))
    seen = set(db.session.scalars(services.rounds_for(officer)))
    assert mine in seen
    assert theirs not in seen
    assert {mine, theirs} <= set(db.session.scalars(services.rounds_for(manager)))
    assert isinstance(mine, AllocationRound)
