"""Exit cases (退出): opened by an officer, by arrears, by a serious credit record, by the
household's notice; the moving period and the overdue job with its one refusal-to-vacate
record; check-out ending the lease and vacating the unit; the deposit settlement (refund
and still owed); cancellation."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
import sqlalchemy as sa
import time_machine

from portal.accounts.roles import Role
from portal.applications.models import PersonClaim
from portal.core.errors import Conflict, Forbidden, InvalidTransition, ValidationFailed
from portal.credit import services as credit
from portal.credit.models import CreditRecord, Grade, RecordStatus, SubjectKind
from portal.extensions import db
from portal.housing.models import UnitStatus
from portal.tenancy import exits, rent
from portal.tenancy.models import (
    ExitCase,
    ExitReason,
    ExitStatus,
    LeaseStatus,
    PaymentSource,
)
from tests.factories.fixtures import make_staff, messages
from tests.factories.tenancy import make_lease, noon

START = date(2027, 1, 1)
FACTS = "经现场核查，承租人将住房转租给他人居住。"


@pytest.fixture
def clock():
    with time_machine.travel(noon(START), tick=False) as traveller:
        yield traveller


def at(clock, day: date) -> None:
    clock.move_to(noon(day))


# --- opening -------------------------------------------------------------------------------


def test_an_officer_opens_a_case_and_the_tenant_is_told(clock, district, officer):
    lease = make_lease(district, officer, starts_on=START)
    at(clock, date(2027, 2, 3))
    case = exits.open_by_officer(lease, officer, reason="sublet", facts=FACTS)
    assert case.reference == f"X2027{case.id:06d}"
    assert (case.status, case.reason, case.opened_on) == (
        ExitStatus.MOVING,
        ExitReason.SUBLET,
        date(2027, 2, 3),
    )
    assert case.move_out_by == date(2027, 5, 3)  # 3 months
    assert case.district_id == district.id
    assert case.deposit == Decimal("1000.00")
    (told,) = messages(lease.tenant, "exit_opened")
    assert (told["reference"], told["move_out_by"]) == (case.reference, "2027-05-03")
    with pytest.raises(Conflict):
        exits.open_by_officer(lease, officer, reason="damage", facts=FACTS)
    assert exits.open_case(lease, ExitReason.ARREARS, "system", facts=FACTS).id == case.id


def test_opening_checks_the_facts_the_reason_and_the_date(clock, district, officer):
    lease = make_lease(district, officer, starts_on=START)
    with pytest.raises(ValidationFailed) as short:
        exits.open_by_officer(lease, officer, reason="sublet", facts="  ")
    assert short.value.field == "facts"
    with pytest.raises(ValidationFailed) as reason:
        exits.open_by_officer(lease, officer, reason="nonsense", facts=FACTS)
    assert reason.value.field == "reason"
    with pytest.raises(ValidationFailed) as when:
        exits.open_by_officer(
            lease, officer, reason="sublet", facts=FACTS, move_out_by=date(2026, 12, 31)
        )
    assert when.value.field == "move_out_by"
    with pytest.raises(Forbidden):
        exits.open_by_officer(lease, lease.tenant, reason="sublet", facts=FACTS)
    assert exits.open_case_of(lease) is None


def test_a_refused_renewal_moves_out_at_the_lease_end(clock, district, officer):
    lease = make_lease(district, officer, starts_on=START, years=1)
    at(clock, date(2027, 11, 1))
    case = exits.open_case(lease, ExitReason.REFUSED_RENEWAL, officer, facts="不续租")
    assert case.move_out_by == date(2028, 1, 1)


def test_a_serious_credit_record_opens_a_credit_exit_case(clock, district, officer):
    lease = make_lease(district, officer, starts_on=START)
    flagger, confirmer = make_staff(Role.MANAGER), make_staff(Role.MANAGER)
    tenant = lease.tenant
    record = credit.flag_violation(
        flagger,
        subject_kind=SubjectKind.PERSON,
        id_number=tenant.id_number,
        name=tenant.real_name,
        code="V-SUBLET",
        facts=FACTS,
        occurred_on=date(2026, 12, 20),
    )
    credit.confirm(record, confirmer)
    assert record.grade is Grade.SERIOUS
    case = exits.open_case_of(lease)
    assert (case.reason, case.status, case.opened_by_id) == (
        ExitReason.CREDIT,
        ExitStatus.MOVING,
        None,
    )
    assert record.reference in case.facts
    (told,) = messages(officer, "credit_exit_case")
    assert told["case"] == case.reference


def test_the_household_gives_notice(clock, district, officer):
    lease = make_lease(district, officer, starts_on=START)
    tenant = lease.tenant
    with pytest.raises(ValidationFailed):
        exits.give_notice(tenant, lease, leave_on=date(2026, 12, 31))
    with pytest.raises(ValidationFailed):
        exits.give_notice(tenant, lease, leave_on=date(2027, 4, 2))  # beyond 3 months
    with pytest.raises(Forbidden):
        exits.give_notice(officer, lease, leave_on=date(2027, 2, 1))
    case = exits.give_notice(tenant, lease, leave_on=date(2027, 2, 1), note="搬去子女家")
    assert (case.reason, case.move_out_by, case.opened_by_id) == (
        ExitReason.VOLUNTARY,
        date(2027, 2, 1),
        tenant.id,
    )
    assert "搬去子女家" in case.facts
    (told,) = messages(officer, "exit_notice_given")
    assert told["lease"] == lease.reference
    with pytest.raises(Conflict):
        exits.give_notice(tenant, lease, leave_on=date(2027, 2, 1))


# --- overdue -------------------------------------------------------------------------------


def test_a_case_past_its_moving_period_is_overdue_and_flagged_once(clock, district, officer):
    lease = make_lease(district, officer, starts_on=START)
    case = exits.open_by_officer(lease, officer, reason="damage", facts="损坏房屋主体结构")
    at(clock, date(2027, 4, 1))  # move_out_by is today: still moving
    assert exits.mark_overdue() == {"overdue": 0, "flagged": 0}
    at(clock, date(2027, 4, 2))
    assert exits.mark_overdue() == {"overdue": 1, "flagged": 1}
    assert exits.mark_overdue() == {"overdue": 0, "flagged": 0}
    assert case.status is ExitStatus.OVERDUE
    record = db.session.get(CreditRecord, case.credit_record_id)
    assert (record.source, record.status, record.lease_id) == (
        "refuse_vacate",
        RecordStatus.PENDING,
        lease.id,
    )
    refusals = db.session.scalars(
        sa.select(CreditRecord).where(CreditRecord.source == "refuse_vacate")
    ).all()
    assert len(refusals) == 1
    (told,) = messages(lease.tenant, "exit_overdue")
    assert (told["factor"], told["step1"], told["step2"]) == ("1.0", "1.2", "1.5")

    # confirmed, the (serious) refusal asks for an exit case: the open one is kept
    credit.confirm(record, make_staff(Role.MANAGER))
    assert [c.id for c in exits.cases_of(lease)] == [case.id]


# --- check-out and settlement ---------------------------------------------------------------


def test_check_out_ends_the_lease_vacates_the_unit_and_refunds_the_deposit(
    clock, district, officer
):
    lease = make_lease(district, officer, starts_on=START)
    unit = lease.unit
    case = exits.give_notice(lease.tenant, lease, leave_on=date(2027, 3, 20))
    at(clock, date(2027, 3, 20))
    rent.charge_rent()
    rent.record_payment(lease, officer, amount="1000", paid_on=date(2027, 2, 5))
    exits.check_out(
        case,
        officer,
        on=date(2027, 3, 20),
        condition_note="墙面完好，水电表已抄",
        keys_returned=True,
        damages="150.00",
    )
    assert case.status is ExitStatus.CHECKED_OUT
    assert (lease.status, lease.ended_on) == (LeaseStatus.ENDED, date(2027, 3, 20))
    assert (unit.status, unit.vacated_on) == (UnitStatus.VACANT, date(2027, 3, 20))
    assert (
        db.session.scalars(
            sa.select(PersonClaim).where(PersonClaim.application_id == lease.application_id)
        ).all()
        == []
    )
    march = rent.charge_of_month(lease, date(2027, 3, 1))
    assert march.amount == Decimal("322.58")  # 500.00 × 20 / 31
    # deposit 1000 − unpaid rent 322.58 − damages 150 = 527.42
    assert (case.arrears, case.damages, case.settlement) == (
        Decimal("322.58"),
        Decimal("150.00"),
        Decimal("527.42"),
    )
    exits.settle(case, officer)
    assert case.status is ExitStatus.CLOSED
    assert case.settlement == Decimal("527.42")
    deposit = [p for p in rent.payments_of(lease) if p.source is PaymentSource.DEPOSIT]
    assert [p.amount for p in deposit] == [Decimal("322.58")]
    assert rent.balance_of(lease).balance == 0
    assert exits.settlement_of(case)["settlement"] == Decimal("527.42")
    (told,) = messages(lease.tenant, "exit_settled")
    assert "527.42" in told["outcome"]
    with pytest.raises(InvalidTransition):
        exits.settle(case, officer)


def test_a_settlement_can_leave_an_amount_owed(clock, district, officer):
    lease = make_lease(district, officer, starts_on=START)
    case = exits.open_by_officer(lease, officer, reason="arrears", facts="欠租")
    at(clock, date(2027, 3, 31))
    exits.check_out(
        case,
        officer,
        on=date(2027, 3, 31),
        condition_note="门锁损坏",
        keys_returned=False,
        damages="200",
    )
    # three months unpaid: 1500; deposit 1000 − 1500 − 200 = −700
    assert (case.arrears, case.settlement) == (Decimal("1500.00"), Decimal("-700.00"))
    exits.settle(case, officer, note="欠款另行追缴")
    assert case.settlement == Decimal("-700.00")
    state = rent.balance_of(lease)
    assert state.owed == Decimal("500.00")  # the deposit paid 1000 of the 1500
    assert not case.keys_returned


def test_credit_paid_in_advance_is_refunded_with_the_deposit(clock, district, officer):
    lease = make_lease(district, officer, starts_on=START)
    rent.record_payment(lease, officer, amount="800", paid_on=START)
    case = exits.open_by_officer(lease, officer, reason="other_housing", facts="已购买商品房")
    exits.check_out(case, officer, on=START, condition_note="完好", keys_returned=True, damages="")
    # January counted for its first day: 16.13; paid 800 → credit 783.87
    figures = exits.settlement_of(case)
    assert figures["credit"] == Decimal("783.87")
    assert case.settlement == Decimal("1783.87")


def test_check_out_is_checked(clock, district, officer):
    lease = make_lease(district, officer, starts_on=START)
    at(clock, date(2027, 2, 10))
    case = exits.open_by_officer(lease, officer, reason="vacant", facts="连续六个月空置")
    for kwargs, field in (
        ({"on": date(2027, 2, 9)}, "on"),  # before the case opened
        ({"on": date(2027, 2, 11)}, "on"),  # in the future
        ({"condition_note": " "}, "condition_note"),
        ({"damages": "-1"}, "damages"),
        ({"damages": "1.234"}, "damages"),
    ):
        values = {
            "on": date(2027, 2, 10),
            "condition_note": "完好",
            "keys_returned": True,
            "damages": "0",
            **kwargs,
        }
        with pytest.raises(ValidationFailed) as failed:
            exits.check_out(case, officer, **values)
        assert failed.value.field == field
    assert lease.status is LeaseStatus.ACTIVE
    with pytest.raises(Forbidden):
        exits.check_out(
            case,
            lease.tenant,
            on=date(2027, 2, 10),
            condition_note="x",
            keys_returned=True,
            damages="0",
        )


# --- cancellation ----------------------------------------------------------------------------


def test_a_case_is_cancelled_before_check_out_only(clock, district, officer):
    lease = make_lease(district, officer, starts_on=START)
    case = exits.open_by_officer(lease, officer, reason="arrears", facts="欠租六个月")
    with pytest.raises(ValidationFailed):
        exits.cancel(case, officer, reason="")
    exits.cancel(case, officer, reason="欠租已全部结清")
    assert (case.status, case.cancelled_reason) == (ExitStatus.CANCELLED, "欠租已全部结清")
    (told,) = messages(lease.tenant, "exit_cancelled")
    assert told["reason"] == "欠租已全部结清"
    with pytest.raises(InvalidTransition):
        exits.cancel(case, officer, reason="再次取消")
    # a new case may be opened after a cancelled one
    second = exits.open_by_officer(lease, officer, reason="sublet", facts=FACTS)
    exits.check_out(
        second, officer, on=START, condition_note="完好", keys_returned=True, damages="0"
    )
    with pytest.raises(InvalidTransition):
        exits.cancel(second, officer, reason="太晚了")
    assert (
        db.session.scalar(
            sa.select(sa.func.count()).select_from(ExitCase).where(ExitCase.lease_id == lease.id)
        )
        == 2
    )


def test_check_out_ends_the_households_subsidy_from_the_next_month(clock, district, officer):
    from portal.subsidy.models import AwardBasis, AwardStatus, SubsidyAward

    lease = make_lease(district, officer, starts_on=START)
    award = SubsidyAward(
        reference=f"S-T{lease.id}",
        application_id=lease.application_id,
        district_id=district.id,
        basis=AwardBasis.TENANT,
        status=AwardStatus.ACTIVE,
        starts_month=START,
        valid_until=date(2028, 1, 1),
        lease_id=lease.id,
    )
    db.session.add(award)
    db.session.flush()
    case = exits.give_notice(lease.tenant, lease, leave_on=date(2027, 2, 14))
    at(clock, date(2027, 2, 14))
    exits.check_out(
        case, officer, on=date(2027, 2, 14), condition_note="完好", keys_returned=True, damages=""
    )
    assert (award.status, award.ends_month, award.ended_reason) == (
        AwardStatus.ENDED,
        date(2027, 3, 1),
        "checked_out",
    )


def test_only_the_tenant_gives_notice(clock, district, officer):
    from portal.applications.models import Relationship
    from tests.factories import ResidentFactory

    lease = make_lease(district, officer, starts_on=START)
    spouse = next(m for m in lease.application.members if m.relation is Relationship.SPOUSE)
    member = ResidentFactory(id_number=spouse.id_number, id_number_index=spouse.id_index)
    assert rent.home_lease(member).id == lease.id
    with pytest.raises(Forbidden):
        exits.give_notice(member, lease, leave_on=date(2027, 2, 1))
    assert exits.open_case_of(lease) is None
