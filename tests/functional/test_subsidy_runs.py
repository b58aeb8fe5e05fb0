"""The monthly subsidy run: computed in SQL for every payable household, the same figures
as the Python rules, idempotent, corrected and computed again, closed by another manager,
never changed once closed; changes count from the next month; lapsed months are not
back-paid; late-reported changes become recoveries; totals reconcile to the fen."""

from __future__ import annotations

import json
from datetime import date, datetime
from decimal import Decimal

import pytest
import sqlalchemy as sa
import time_machine
from flask_babel import force_locale

from portal.accounts.roles import Role
from portal.core.audit import AuditEvent
from portal.core.clock import CITY_TZ
from portal.core.errors import Conflict, Forbidden, SameActor, ValidationFailed
from portal.extensions import db
from portal.subsidy import rules, services
from portal.subsidy.models import (
    AwardStatus,
    Channel,
    LineKind,
    RecoveryStatus,
    RunStatus,
    SubsidyPayment,
    SubsidyRecovery,
)
from tests.factories import DistrictFactory
from tests.factories.fixtures import make_staff
from tests.factories.subsidy import award

D = Decimal
JAN, FEB, MAR, APR = (date(2026, m, 1) for m in (1, 2, 3, 4))


def at(day: date, hour: int = 12):
    """A moment of ``day`` in the city (the frozen clock)."""
    return time_machine.travel(
        datetime(day.year, day.month, day.day, hour, tzinfo=CITY_TZ), tick=False
    )


@pytest.fixture
def managers(db):
    return make_staff(Role.MANAGER), make_staff(Role.MANAGER)


def lines_of(run) -> list[tuple]:
    return [
        (p.award_id, p.kind.value, p.channel.value, p.amount, p.tier)
        for p in db.session.scalars(
            sa.select(SubsidyPayment)
            .where(SubsidyPayment.run_id == run.id)
            .order_by(SubsidyPayment.award_id, SubsidyPayment.kind)
        )
    ]


def line(run, a, kind=LineKind.PAYMENT) -> SubsidyPayment | None:
    return db.session.scalars(
        sa.select(SubsidyPayment).where(
            SubsidyPayment.run_id == run.id,
            SubsidyPayment.award_id == a.id,
            SubsidyPayment.kind == kind,
        )
    ).one_or_none()


def test_a_run_pays_every_payable_household_as_the_rules_compute(district, officer):
    with at(date(2026, 1, 20)):
        paid = [
            award(district, size=1, income="1693"),
            award(district, size=3, income="1693.01", own_area="10"),
            award(district, size=2, income="2540.01", rent="300"),
            award(district, size=4, assistance=True, veteran=True),
        ]
        waiting = award(district, details=False)
        later = award(district, starts_month=FEB)
        owner = award(district, size=2, own_area="40")  # owns the standard: nothing due
        run = services.compute_month(JAN, officer)
    assert run.status is RunStatus.COMPUTED
    got = {p.award_id: p for p in db.session.scalars(sa.select(SubsidyPayment))}
    assert set(got) == {a.id for a in paid}
    assert waiting.id not in got
    assert later.id not in got
    assert owner.id not in got
    values = rules.DEFAULTS
    for a in paid:
        basis = services.basis_for(a, JAN)
        expected = rules.compute(services.inputs_of(a, basis), values)
        p = got[a.id]
        assert (p.amount, p.tier, p.rate, p.area, p.coefficient, p.uncapped, p.cap) == (
            expected.amount,
            expected.tier,
            expected.rate,
            expected.area,
            expected.coefficient,
            expected.uncapped,
            expected.cap,
        )
        assert p.channel is Channel.BANK
    assert got[paid[2].id].amount == D("300.00")  # capped at the rent
    assert got[paid[3].id].amount == D("1800.00")  # 20 × 60 × 1.5
    assert run.households == 4
    assert run.total == sum((p.amount for p in got.values()), D(0))
    assert run.to_bank == run.total
    assert run.to_rent == 0
    assert run.recovered == 0
    assert services.reconcile(run).ok


def test_computing_again_changes_nothing(district, officer):
    with at(date(2026, 1, 20)):
        for i in range(5):
            award(district, size=1 + i, income=str(1500 + 300 * i))
        run = services.compute_month(JAN, officer)
        first = (lines_of(run), run.checksum, run.total, run.households)
    with at(date(2026, 1, 21)):
        again = services.compute_month(JAN, officer)
    assert again.id == run.id
    assert (lines_of(again), again.checksum, again.total, again.households) == first
    assert again.computations == 2
    last = services.last_computation(again)
    assert last["unchanged"] is True
    assert last["before"]["total"] == str(first[2])


def test_a_correction_and_a_new_computation_change_only_that_household(district, officer):
    with at(date(2026, 1, 10)):
        awards = [award(district, size=2, income="1000") for _ in range(4)]
        run = services.compute_month(JAN, officer)
        before = {row[0]: row for row in lines_of(run)}
        total = run.total
    with at(date(2026, 1, 11)):
        corrected = awards[1]
        services.correct_facts(
            corrected,
            officer,
            household_size=2,
            assistance=False,
            per_capita_income="2000",
            own_area="0",
            occurred_on=date(2025, 12, 20),  # before January: January's facts change
            note="Wage certificate seen: 2,000 a person",
        )
        run = services.compute_month(JAN, officer)
    after = {row[0]: row for row in lines_of(run)}
    assert {k for k in after if after[k] != before[k]} == {corrected.id}
    assert after[corrected.id][3] == D("480.00")  # 16 × 30
    assert run.total == total - D("60.00")
    last = services.last_computation(run)
    assert last["unchanged"] is False
    assert last["changed_households"] == 1
    assert last["changed_references"] == [corrected.reference]


def test_closing_takes_another_manager_and_a_closed_month_never_changes(
    district, officer, managers
):
    first, second = managers
    with at(date(2026, 1, 10)):
        a = award(district)
        run = services.compute_month(JAN, first)
        with pytest.raises(Forbidden):
            services.close_run(run, officer)
        with pytest.raises(SameActor):
            services.close_run(run, first)
        denied = db.session.scalars(
            sa.select(AuditEvent).where(
                AuditEvent.event == "subsidy.close", AuditEvent.result == "denied"
            )
        ).all()
        assert len(denied) == 1
        services.close_run(run, second)
        assert run.status is RunStatus.CLOSED
        with pytest.raises(Conflict) as refused:
            services.compute_month(JAN, first)
        with force_locale("en"):
            assert "is closed and paid" in str(refused.value)
    assert line(run, a).amount == D("540.00")


def test_months_are_computed_in_order_and_not_before_they_begin(district, officer, managers):
    with at(date(2026, 2, 10)):
        award(district, starts_month=JAN)
        with pytest.raises(ValidationFailed):
            services.compute_month(MAR, officer)
        run = services.compute_month(JAN, managers[0])
        with pytest.raises(Conflict):  # January is open: close it first
            services.compute_month(FEB, officer)
        services.close_run(run, managers[1])
        with pytest.raises(Conflict):  # the month after January comes next
            services.compute_month(date(2025, 12, 1), officer)
        assert services.next_to_compute() == FEB
        assert services.compute_month(FEB, officer).month == FEB


def test_closing_is_refused_when_facts_changed_after_the_computation(district, officer, managers):
    with at(date(2026, 1, 10)):
        a = award(district)
        run = services.compute_month(JAN, managers[0])
    with at(date(2026, 1, 11)):
        services.set_veteran(a, officer, veteran=True, reason="优抚证 No. 123")
        with pytest.raises(Conflict):
            services.close_run(run, managers[1])
    with at(date(2026, 1, 12)):
        services.compute_month(JAN, managers[0])
        services.close_run(run, managers[1])
    assert line(run, a).amount == D("810.00")


def test_a_change_counts_from_the_next_month(district, officer, managers):
    """Reported on the last day of January: February changes; on the first of February:
    March changes."""
    with at(date(2026, 1, 5)):
        early = award(district, income="1000", starts_month=JAN)
        late = award(district, income="1000", starts_month=JAN)
    higher = rules.Inputs(2, False, False, D("3000"), D("0"), None)
    with at(date(2026, 1, 31)):
        services.record_change(
            early, higher, officer, occurred_on=date(2026, 1, 31), source="change"
        )
        jan = services.compute_month(JAN, managers[0])
    with at(date(2026, 2, 1)):
        services.record_change(late, higher, officer, occurred_on=date(2026, 2, 1), source="change")
        services.close_run(jan, managers[1])
        feb = services.compute_month(FEB, managers[0])
        services.close_run(feb, managers[1])
    with at(date(2026, 3, 1)):
        mar = services.compute_month(MAR, managers[0])
    assert line(jan, early).amount == D("540.00")
    assert line(feb, early).amount == D("420.00")  # 14 × 30 from February
    assert line(jan, late).amount == line(feb, late).amount == D("540.00")
    assert line(mar, late).amount == D("420.00")  # from March
    # the rent is kept when a change does not give it
    assert services.basis_for(late, MAR).actual_rent == D("2000.00")


def test_lapsed_months_are_not_back_paid(district, officer, managers):
    with at(date(2026, 1, 5)):
        a = award(district, starts_month=JAN, valid_until=date(2026, 1, 31))
        jan = services.compute_month(JAN, managers[0])
        services.close_run(jan, managers[1])
    with at(date(2026, 2, 2)):
        assert services.mark_lapsed() == {"lapsed": 1}
        assert a.status is AwardStatus.LAPSED
        feb = services.compute_month(FEB, managers[0])
    assert line(jan, a) is not None
    assert line(feb, a) is None
    with at(date(2026, 2, 20)):
        services.renew_validity(a, officer, date(2026, 2, 20))
        assert a.status is AwardStatus.ACTIVE
        assert a.starts_month == MAR
        feb = services.compute_month(FEB, managers[0])  # February computed again
        assert line(feb, a) is None  # not back-paid
        services.close_run(feb, managers[1])
    with at(date(2026, 3, 2)):
        mar = services.compute_month(MAR, managers[0])
    assert line(mar, a).amount == D("540.00")
    assert a.valid_until == date(2027, 2, 19)


def test_a_late_reported_change_becomes_a_recovery_deducted_next(district, officer, managers):
    with at(date(2026, 1, 5)):
        a = award(district, income="1000", starts_month=JAN)
        jan = services.compute_month(JAN, managers[0])
        services.close_run(jan, managers[1])
    with at(date(2026, 2, 3)):
        feb = services.compute_month(FEB, managers[0])
        services.close_run(feb, managers[1])
    with at(date(2026, 3, 3)):
        # income rose in December, reported in March: January and February were overpaid
        inputs = rules.Inputs(2, False, False, D("2600"), D("0"), None)
        basis, recovery = services.record_change(
            a, inputs, officer, occurred_on=date(2025, 12, 15), source="change", note="Late"
        )
        assert basis.effective_month == JAN
        assert recovery.amount == D("240.00")  # (540 − 420) × 2
        assert [d["month"] for d in recovery.detail] == ["2026-01-01", "2026-02-01"]
        assert {d["rule_version"] for d in recovery.detail} == {jan.rule_version_id}
        assert (recovery.from_month, recovery.to_month) == (JAN, FEB)
        mar = services.compute_month(MAR, managers[0])
        pay, deduct = line(mar, a), line(mar, a, LineKind.RECOVERY)
        assert pay.amount == D("420.00")
        assert deduct.amount == D("-240.00")
        assert deduct.recovery_id == recovery.id
        assert mar.recovered == D("240.00")
        assert mar.to_bank == mar.total - D("240.00")
        assert services.reconcile(mar).ok
        assert services.outstanding_of(a) == D("240.00")  # recovered once closed
        services.close_run(mar, managers[1])
    assert recovery.status is RecoveryStatus.SETTLED
    assert recovery.recovered == D("240.00")
    assert services.outstanding_of(a) == 0


def test_a_recovery_larger_than_a_payment_is_recovered_over_months(district, officer, managers):
    with at(date(2026, 1, 5)):
        a = award(district, size=2, income="1000", starts_month=JAN)
        jan = services.compute_month(JAN, managers[0])
        services.close_run(jan, managers[1])
    with at(date(2026, 2, 3)):
        # the household bought a home in December: nothing was due in January
        inputs = rules.Inputs(2, False, False, D("1000"), D("29"), None)
        _, recovery = services.record_change(
            a, inputs, officer, occurred_on=date(2025, 12, 1), source="change"
        )
        assert recovery.amount == D("522.00")  # 540 − 18
        # then sold it in January: February is due in full again
        services.record_change(
            a,
            rules.Inputs(2, False, False, D("1000"), D("0"), None),
            officer,
            occurred_on=date(2026, 1, 10),
            source="change",
        )
        feb = services.compute_month(FEB, managers[0])
        assert line(feb, a, LineKind.RECOVERY).amount == D("-522.00")
        services.close_run(feb, managers[1])
    assert recovery.status is RecoveryStatus.SETTLED


def test_recovery_at_most_the_payment_and_the_balance_stays_open(district, officer, managers):
    with at(date(2026, 1, 5)):
        a = award(district, size=2, income="1000", starts_month=JAN)
        jan = services.compute_month(JAN, managers[0])
        services.close_run(jan, managers[1])
    with at(date(2026, 2, 3)):
        feb = services.compute_month(FEB, managers[0])
        services.close_run(feb, managers[1])
    with at(date(2026, 3, 3)):
        # owned 25 m² since December: 18 × 5 = 90 due instead of 540, two months
        inputs = rules.Inputs(2, False, False, D("1000"), D("25"), None)
        _, recovery = services.record_change(
            a, inputs, officer, occurred_on=date(2025, 12, 1), source="change"
        )
        assert recovery.amount == D("900.00")
        mar = services.compute_month(MAR, managers[0])
        assert line(mar, a).amount == D("90.00")
        assert line(mar, a, LineKind.RECOVERY).amount == D("-90.00")
        services.close_run(mar, managers[1])
    assert recovery.status is RecoveryStatus.OPEN
    assert recovery.outstanding == D("810.00")
    _rows, total = services.bank_file_totals(mar.id)
    assert total == mar.to_bank  # the award nets to zero: not in the bank file


def test_a_manager_waives_or_records_a_repayment(district, officer, managers):
    with at(date(2026, 1, 5)):
        a = award(district, starts_month=JAN)
        jan = services.compute_month(JAN, managers[0])
        services.close_run(jan, managers[1])
    with at(date(2026, 2, 3)):
        inputs = rules.Inputs(2, False, False, D("1000"), D("25"), None)
        _, recovery = services.record_change(
            a, inputs, officer, occurred_on=date(2025, 12, 1), source="change"
        )
        with pytest.raises(Forbidden):
            services.waive(recovery, officer, reason="hardship")
        with pytest.raises(ValidationFailed):
            services.repay(recovery, managers[0], amount="451", reason="paid at the counter")
        services.repay(recovery, managers[0], amount="100", reason="paid at the counter")
        assert recovery.outstanding == D("350.00")
        services.waive(recovery, managers[0], reason="Hardship: illness in the family")
    assert recovery.status is RecoveryStatus.WAIVED
    assert db.session.get(SubsidyRecovery, recovery.id).recovered == D("100.00")


def test_reconciliation_ticks(district, officer, managers):
    with at(date(2026, 1, 5)):
        for i in range(6):
            award(district, size=1 + i % 4, income=str(1200 + 500 * i), rent=str(300 + 100 * i))
        run = services.compute_month(JAN, officer)
    rec = services.reconcile(run)
    assert rec.ok
    assert {c.code for c in rec.checks} == set(services.CHECKS)
    assert rec.bank_total == run.to_bank
    assert rec.bank_rows == run.households
    # a line changed behind the run's back is caught
    db.session.execute(
        sa.update(SubsidyPayment)
        .where(SubsidyPayment.run_id == run.id)
        .values(amount=SubsidyPayment.amount + D("0.01"))
        .execution_options(synchronize_session=False)
    )
    broken = services.reconcile(run)
    assert not broken.ok
    assert not next(c for c in broken.checks if c.code == "payments").ok


def test_history_keeps_every_computation_and_the_close(district, officer, managers):
    with at(date(2026, 1, 5)):
        award(district)
        run = services.compute_month(JAN, officer)
        services.compute_month(JAN, managers[0])
        services.close_run(run, managers[1])
    history = json.loads(run.history_json)
    assert [h["event"] for h in history] == ["computed", "computed", "closed"]
    assert history[0]["by"] == officer.id
    assert history[1]["by"] == managers[0].id
    assert history[2]["by"] == managers[1].id


def test_an_officer_sees_the_lines_of_their_districts_only(district, officer):
    with at(date(2026, 1, 5)):
        mine = award(district)
        other = award(DistrictFactory())
        run = services.compute_month(JAN, officer)
    rows, _ = services.lines_page(run, officer, services.LineFilter())
    assert [a.id for _, a in rows] == [mine.id]
    manager = make_staff(Role.MANAGER)
    rows, _ = services.lines_page(run, manager, services.LineFilter())
    assert {a.id for _, a in rows} == {mine.id, other.id}
    assert run.households == 2  # the run itself is the city's


def test_ending_an_award_stops_it_from_that_month(district, officer, managers):
    with at(date(2026, 1, 5)):
        a = award(district, starts_month=JAN)
        jan = services.compute_month(JAN, managers[0])
        services.close_run(jan, managers[1])
        with pytest.raises(ValidationFailed):
            services.end_award(a, officer, from_month=JAN, reason="officer")
        services.end_award(a, officer, from_month=MAR, reason="officer")
    with at(date(2026, 2, 3)):
        feb = services.compute_month(FEB, managers[0])
        services.close_run(feb, managers[1])
    with at(date(2026, 3, 3)):
        mar = services.compute_month(MAR, managers[0])
    assert line(feb, a) is not None
    assert line(mar, a) is None
    assert a.status is AwardStatus.ENDED


def test_subsidy_rules_versions_apply_by_month(district, officer, managers):
    from portal.core.settings import add_version

    with at(date(2026, 1, 5)):
        a = award(district, starts_month=JAN)
        version = add_version(managers[0], "subsidy", {"rate_tier1": 19}, FEB, "new notice")
        jan = services.compute_month(JAN, managers[0])
        services.close_run(jan, managers[1])
    with at(date(2026, 2, 3)):
        feb = services.compute_month(FEB, managers[0])
    assert line(jan, a).amount == D("540.00")
    assert line(feb, a).amount == D("570.00")
    assert feb.rule_version_id == version.id
