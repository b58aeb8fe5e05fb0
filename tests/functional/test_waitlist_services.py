"""The waiting list's services: joining, ranking, positions, refusals, officers' actions and
rotation (RULES.md "Waiting list")."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine
from flask import current_app

from portal.accounts.roles import Role
from portal.applications import services as applications
from portal.applications.models import PersonClaim, Programme, Status
from portal.core.audit import AuditEvent
from portal.core.clock import today
from portal.core.errors import Forbidden, InvalidTransition, ValidationFailed
from portal.notices import services as notices
from portal.notifications.models import Message
from portal.tenancy.models import Lease, LeaseStatus
from portal.verification.backends import Answer
from portal.waitlist import services
from portal.waitlist.models import EntryStatus, Group, QueueEntry, QueueRank, Sector
from tests.factories import DistrictFactory, ResidentFactory
from tests.factories.applications import draft_for, settle_all, submit
from tests.factories.fixtures import make_staff
from tests.factories.housing import UnitFactory
from tests.factories.registry import local_household
from tests.factories.waitlist import waiting_entry


def kinds(user, kind):
    return [
        json.loads(m.params_json)
        for m in Message.query.filter_by(user_id=user.id, kind=kind).order_by(Message.id)
    ]


def claims_of(entry) -> int:
    return PersonClaim.query.filter_by(application_id=entry.application_id).count()


def registered(entry, **facts):
    """Put the household's members in the embedded registry as a modest local household."""
    local_household(*[(m.name, m.id_number) for m in entry.application.members], **facts)


# --- joining -----------------------------------------------------------------------------


def qualified_through_the_notice(district, officer, *, assistance="none", programme=None):
    resident = ResidentFactory(birth_date=date(1985, 5, 5))  # no points for age
    local_household((resident.real_name, resident.id_number), assistance=assistance)
    app = submit(draft_for(resident, district, programme or Programme.PUBLIC_RENTAL), resident)
    settle_all(app)
    applications.approve(app, officer)
    notice = notices.publish_notice(officer, district, app.programme)
    moment = datetime.combine(notice.ends_on + timedelta(days=1), datetime.min.time(), UTC)
    with time_machine.travel(moment + timedelta(hours=4), tick=False):
        notices.close_notice(officer, notice)
    return resident, app


def test_closing_the_notice_puts_the_household_on_the_list_ranked(district, officer):
    _, app = qualified_through_the_notice(district, officer, assistance="dibao")
    entry = QueueEntry.query.filter_by(application_id=app.id).one()
    assert entry.status is EntryStatus.WAITING
    assert entry.group is Group.P1  # 低保 from the civil-affairs check
    assert entry.points == 50
    assert entry.qualified_on == app.qualified_at.astimezone(UTC).date()
    assert len(entry.tiebreak) == 64
    pos = services.position(entry)
    assert pos is not None
    assert (pos.rank, pos.waiting_total) == (1, 1)
    assert services.join_queue(app, officer) is entry  # idempotent
    assert QueueEntry.query.filter_by(application_id=app.id).count() == 1


def test_rental_subsidy_households_do_not_queue(district, officer):
    _, app = qualified_through_the_notice(district, officer, programme=Programme.RENTAL_SUBSIDY)
    assert app.status is Status.QUALIFIED
    assert QueueEntry.query.filter_by(application_id=app.id).count() == 0
    with pytest.raises(InvalidTransition):
        services.join_queue(app, officer)


def test_an_application_not_yet_qualified_cannot_join(district):
    resident = ResidentFactory()
    app = draft_for(resident, district)
    with pytest.raises(InvalidTransition):
        services.join_queue(app, None)


# --- ranking and positions ---------------------------------------------------------------


def test_position_is_none_before_any_ranking(district):
    entry = waiting_entry(district)
    assert services.current_generation() is None
    assert services.position(entry) is None


def test_rerank_orders_by_group_date_points_birth_and_draw(district):
    d = date(2024, 3, 1)
    g_old = waiting_entry(district, group=Group.G, qualified_on=d - timedelta(days=10))
    g_new_more_points = waiting_entry(district, group=Group.G, qualified_on=d, points=30)
    g_new = waiting_entry(district, group=Group.G, qualified_on=d, points=10)
    p2 = waiting_entry(district, group=Group.P2, qualified_on=d + timedelta(days=100))
    p1 = waiting_entry(district, group=Group.P1, qualified_on=d + timedelta(days=200))
    s = waiting_entry(district, group=Group.S, qualified_on=d)
    other = waiting_entry(district, programme=Programme.AFFORDABLE_RENTAL)
    ranking = services.rerank()
    order = [p1, p2, s, g_old, g_new_more_points, g_new]
    assert [services.position(e).rank for e in order] == [1, 2, 3, 4, 5, 6]
    assert [services.position(e).group_rank for e in order] == [1, 1, 1, 1, 2, 3]
    assert services.position(g_new).ahead_in_group == 2
    assert services.position(g_new).group_total == 3
    assert services.position(g_new).waiting_total == 6
    assert services.position(other).rank == 1  # its own programme's list
    assert ranking.stats["waiting"]["public_rental"] == {
        "total": 6,
        "p1": 1,
        "p2": 1,
        "s": 1,
        "g": 3,
    }


def test_same_day_same_points_older_applicant_first_then_the_draw(district):
    d = date(2024, 3, 1)
    young = waiting_entry(
        district, qualified_on=d, resident=ResidentFactory(birth_date=date(1990, 1, 1))
    )
    old = waiting_entry(
        district, qualified_on=d, resident=ResidentFactory(birth_date=date(1950, 1, 1))
    )
    twins = [
        waiting_entry(
            district, qualified_on=d, resident=ResidentFactory(birth_date=date(1970, 5, 5))
        )
        for _ in range(3)
    ]
    services.rerank()
    assert services.position(old).rank == 1
    assert services.position(young).rank == 5
    by_draw = sorted(twins, key=lambda e: e.tiebreak)
    assert [services.position(e).rank for e in by_draw] == [2, 3, 4]


def test_the_draw_is_a_keyed_digest_of_the_reference(district):
    entry = waiting_entry(district)
    ref = entry.application.reference
    assert entry.tiebreak == services.tiebreak_of(ref)
    assert entry.tiebreak != services.tiebreak_of(ref + "0")
    import hashlib

    assert entry.tiebreak != hashlib.sha256(ref.encode()).hexdigest()  # needs the key


def test_a_new_ranking_replaces_the_old_generation(district):
    a = waiting_entry(district)
    first = services.rerank()
    b = waiting_entry(district, group=Group.P1)
    assert services.position(b) is None  # joined after the ranking
    assert services.joined_after_ranking(b, services.current_ranking())
    second = services.rerank()
    assert second.id > first.id
    assert services.current_generation() == second.id
    assert QueueRank.query.filter(QueueRank.generation < second.id).count() == 0
    assert services.position(b).rank == 1
    assert services.position(a).rank == 2


def test_position_of_a_household_no_longer_waiting_is_none(district):
    entry = waiting_entry(district)
    services.rerank()
    entry.status = EntryStatus.SUSPENDED
    assert services.position(entry) is None


def test_request_rerank_ranks_at_once_without_workers(district):
    entry = waiting_entry(district)
    services.request_rerank()
    assert services.position(entry).rank == 1


def lease_for(entry, unit, days_ago: int = 30) -> Lease:
    lease = Lease(
        reference=f"L{entry.id:010d}",
        unit_id=unit.id,
        application_id=entry.application_id,
        tenant_id=entry.application.applicant_id,
        starts_on=today() - timedelta(days=days_ago),
        ends_on=today() + timedelta(days=1000),
        monthly_rent=Decimal("500.00"),
        status=LeaseStatus.ACTIVE,
    )
    from portal.extensions import db

    db.session.add(lease)
    db.session.flush()
    return lease


def test_estimated_wait_from_last_years_allocations(district):
    entries = [
        waiting_entry(district, qualified_on=date(2024, 1, 1) + timedelta(days=i)) for i in range(7)
    ]
    services.rerank()
    assert services.position(entries[6]).estimated_months is None  # nobody housed yet
    for _ in range(24):  # two households a month
        housed = waiting_entry(district)
        housed.status = EntryStatus.HOUSED
        lease_for(housed, UnitFactory(district=district))
    services.rerank()
    assert services.current_ranking().stats["monthly_rate"]["public_rental"] == 2
    assert services.position(entries[0]).estimated_months == 0
    assert services.position(entries[6]).estimated_months == 3  # 6 ahead / 2 a month
    assert services.estimate_months(5, 2.0) == 3


# --- housed, refusals --------------------------------------------------------------------


def test_mark_housed_takes_the_household_off_the_list(district, officer):
    entry = waiting_entry(district)
    other = waiting_entry(district, qualified_on=date(2030, 1, 1))
    services.rerank()
    lease = lease_for(entry, UnitFactory(district=district), days_ago=0)
    services.mark_housed(entry, officer, lease)
    assert entry.status is EntryStatus.HOUSED
    assert services.position(entry) is None
    assert services.position(other).rank == 1
    with pytest.raises(InvalidTransition):
        services.mark_housed(entry, officer, lease)


def test_refusals_with_good_reason_do_not_count(district, officer):
    entry = waiting_entry(district)
    for _ in range(4):
        assert (
            services.record_refusal(entry, officer, good_reason=True, reason="轮椅无法进入")
            is False
        )
    assert entry.refusals == 0
    assert entry.status is EntryStatus.WAITING


def test_third_refusal_without_good_reason_removes_the_household(district, officer):
    entry = waiting_entry(district)
    assert claims_of(entry) == 2
    assert services.record_refusal(entry, officer, good_reason=False, reason="嫌远") is False
    assert services.record_refusal(entry, officer, good_reason=False, reason="嫌远") is False
    assert services.record_refusal(entry, officer, good_reason=False, reason="嫌小") is True
    assert entry.status is EntryStatus.REMOVED
    assert entry.refusals == 3
    assert claims_of(entry) == 0  # the members may apply again
    [message] = kinds(entry.application.applicant, "waitlist_removed")
    assert message["reference"] == entry.application.reference
    with pytest.raises(InvalidTransition):
        services.record_refusal(entry, officer, good_reason=False, reason="x")


def test_mark_invited_writes_the_history(district):
    entry = waiting_entry(district)

    class Round:
        reference, title = "R2026-0001", "第一批"

    services.mark_invited(entry, Round())
    assert [e.kind for e in services.events_of(entry)] == ["invited"]


# --- officers' actions -------------------------------------------------------------------


def test_officer_records_a_verified_reason_and_the_group_follows(district, officer):
    entry = waiting_entry(district)
    services.rerank()
    services.record_priority_reason(entry, officer, "veteran", "优抚证 No. 12345")
    assert entry.group is Group.P2
    assert entry.points == 30
    assert services.recorded_reasons(entry) == ["veteran"]
    assert services.position(entry).group_rank == 1
    event = AuditEvent.query.filter_by(event="waitlist.priority_reason").one()
    assert event.actor_id == officer.id
    with pytest.raises(ValidationFailed):
        services.record_priority_reason(entry, officer, "veteran", "again, same")
    with pytest.raises(ValidationFailed):
        services.record_priority_reason(entry, officer, "serious_illness", "")


def test_an_officer_of_another_district_cannot_act(district):
    entry = waiting_entry(district)
    stranger = make_staff(Role.OFFICER)
    with pytest.raises(Forbidden):
        services.record_priority_reason(entry, stranger, "veteran", "优抚证 No. 12345")
    with pytest.raises(Forbidden):
        services.assign_sector(entry, stranger, Sector.TRANSIT, "公交集团来函")


def test_sector_assignment_moves_a_general_household_to_s_and_back(district, officer):
    entry = waiting_entry(district)
    services.assign_sector(entry, officer, Sector.SANITATION, "环卫处来函 2026-17")
    assert (entry.group, entry.sector) == (Group.S, Sector.SANITATION)
    services.assign_sector(entry, officer, None, "已离职，来函撤回")
    assert (entry.group, entry.sector) == (Group.G, None)


# --- rotation ----------------------------------------------------------------------------

ON = date(2027, 3, 1)


def due_entry(district, **kw):
    resident = ResidentFactory(birth_date=date(1985, 5, 5))  # no points for age
    entry = waiting_entry(
        district, household_size=1, qualified_on=date(2025, 1, 10), resident=resident, **kw
    )
    entry.next_verification_on = ON
    return entry


def test_reverify_keeps_an_eligible_household_and_recomputes_it(district):
    entry = due_entry(district)
    registered(entry, assistance="tekun")
    not_due = due_entry(district)
    not_due.next_verification_on = ON + timedelta(days=1)
    assert services.reverify_due(ON) == {"kept": 1, "suspended": 0, "unanswered": 0, "failed": 0}
    assert entry.status is EntryStatus.WAITING
    assert entry.group is Group.P1
    assert entry.points == 50 + 10  # 特困, two full years waited
    assert entry.verified_on == ON
    assert entry.next_verification_on == date(2028, 3, 1)
    assert not_due.verified_on != ON
    assert services.position(entry).rank == 1  # re-ranked


def test_reverify_suspends_an_ineligible_household_with_the_reason(district):
    entry = due_entry(district)
    registered(entry, owned_area=120)  # bought a flat meanwhile
    assert services.reverify_due(ON)["suspended"] == 1
    assert entry.status is EntryStatus.SUSPENDED
    assert entry.object_by == ON + timedelta(days=15)
    [message] = kinds(entry.application.applicant, "waitlist_suspended")
    assert message["object_by"] == (ON + timedelta(days=15)).isoformat()
    assert "120.00" in message["reason"]
    assert json.loads(entry.status_reason)[0]["code"] == "housing"


def test_a_department_that_does_not_answer_leaves_the_household_waiting(district, monkeypatch):
    entry = due_entry(district)

    class Down:
        name, concurrent = "down", False

        def lookup(self, department, people, timeout):
            return Answer(department, "error", source=self.name, error="timeout")

    monkeypatch.setitem(current_app.extensions, "portal.department_source", Down())
    assert services.reverify_due(ON)["unanswered"] == 1
    assert entry.status is EntryStatus.WAITING
    assert entry.next_verification_on == ON  # tried again tomorrow


def suspended(district, officer):
    entry = due_entry(district)
    registered(entry, owned_area=120)
    with time_machine.travel(datetime(2027, 3, 1, 2, tzinfo=UTC), tick=False):
        services.reverify_due(ON)
    assert entry.status is EntryStatus.SUSPENDED
    return entry


def at(day: date):
    return time_machine.travel(
        datetime.combine(day, datetime.min.time(), UTC) + timedelta(hours=4), tick=False
    )


def test_objection_then_restore(district, officer):
    entry = suspended(district, officer)
    resident = entry.application.applicant
    with at(ON + timedelta(days=3)):
        with pytest.raises(ValidationFailed):
            services.object_to_suspension(entry, resident, "错了")
        with pytest.raises(Forbidden):
            services.object_to_suspension(
                entry, ResidentFactory(), "这套房子已经在去年卖掉了，有合同。"
            )
        services.object_to_suspension(entry, resident, "这套房子已经在去年卖掉了，有合同。")
        assert services.objections_waiting(officer) == [entry]
        assert services.objections_waiting(make_staff(Role.OFFICER)) == []
        services.decide_objection(entry, officer, restore=True, reason="核实已过户")
    assert entry.status is EntryStatus.WAITING
    assert entry.object_by is None
    assert services.position(entry) is not None
    [message] = kinds(entry.application.applicant, "waitlist_restored")
    assert message["reason"] == "核实已过户"


def test_objection_then_removal(district, officer):
    entry = suspended(district, officer)
    with at(ON + timedelta(days=3)):
        services.object_to_suspension(
            entry, entry.application.applicant, "我们只是代持，不是我们的房子。"
        )
        services.decide_objection(entry, officer, restore=False, reason="不动产登记在申请人名下")
    assert entry.status is EntryStatus.REMOVED
    assert claims_of(entry) == 0
    [message] = kinds(entry.application.applicant, "waitlist_removed")
    assert "不动产登记在申请人名下" in message["reason"]


def test_objection_after_the_deadline_is_refused(district, officer):
    entry = suspended(district, officer)
    with at(ON + timedelta(days=16)), pytest.raises(InvalidTransition):
        services.object_to_suspension(
            entry, entry.application.applicant, "来晚了，但是数据是错的。"
        )


def test_unanswered_suspensions_are_removed_after_the_deadline(district, officer):
    silent = suspended(district, officer)
    objecting = suspended(district, officer)
    with at(ON + timedelta(days=2)):
        services.object_to_suspension(
            objecting, objecting.application.applicant, "数据有误，请再核实一次。"
        )
    assert services.remove_unanswered(ON + timedelta(days=15)) == {"removed": 0}  # last day
    assert services.remove_unanswered(ON + timedelta(days=16)) == {"removed": 1}
    assert silent.status is EntryStatus.REMOVED
    assert objecting.status is EntryStatus.SUSPENDED  # waits for the officer
    assert claims_of(silent) == 0
    assert kinds(silent.application.applicant, "waitlist_removed")


# --- time --------------------------------------------------------------------------------


def test_long_waiters_are_listed_for_their_districts(district, officer):
    old = waiting_entry(district, qualified_on=today() - timedelta(days=5 * 365))
    waiting_entry(district, qualified_on=today() - timedelta(days=3 * 365))
    waiting_entry(DistrictFactory(), qualified_on=today() - timedelta(days=6 * 365))
    rows = services.long_waiters(officer)
    assert [(e.id, years) for e, years in rows] == [(old.id, 4)]
    assert len(services.long_waiters(make_staff(Role.MANAGER))) == 2


def test_daily_refresh_adds_the_years_waited_points(district):
    day = date(2026, 7, 1)
    anniversary = waiting_entry(district, qualified_on=date(2025, 7, 1))
    before = waiting_entry(district, qualified_on=date(2025, 7, 2))
    capped = waiting_entry(district, qualified_on=date(2022, 7, 1))
    assert services.refresh_waited_points(day, day - timedelta(days=1)) == 1
    assert anniversary.points == 5
    assert anniversary.point_items[-1]["code"] == "waited"
    assert before.points == 0
    assert capped.points == 0  # fourth anniversary: no more points to add, not even read
    with at(day):
        result = services.daily_rerank(day)
    assert result["points_changed"] == 0  # already done for the day
    assert services.current_ranking().stats["points_on"] == day.isoformat()
