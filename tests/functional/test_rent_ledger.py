"""The rent ledger (租金代缴): a lease's deposit, review date and first month's charge; the
daily charge job made idempotent; payments allocated to the oldest month first with the
overpayment kept as credit; arrears, their reminders once per charge, and the 6-month
threshold that opens an exit case and asks for a credit record; market rent; the subsidy
offset."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
import sqlalchemy as sa
import time_machine

from portal.accounts.roles import Role
from portal.core.errors import Forbidden, InvalidTransition, ValidationFailed
from portal.core.settings import add_version
from portal.credit.models import CreditRecord, RecordStatus
from portal.extensions import db
from portal.tenancy import rent
from portal.tenancy.models import (
    ExitCase,
    ExitReason,
    ExitStatus,
    PaymentSource,
    RentBasis,
    RentCharge,
    RentPayment,
)
from tests.factories.fixtures import make_staff, messages
from tests.factories.tenancy import make_lease, noon

START = date(2027, 1, 1)


@pytest.fixture
def clock():
    with time_machine.travel(noon(START), tick=False) as traveller:
        yield traveller


def at(clock, day: date) -> None:
    clock.move_to(noon(day))


def months(lease) -> dict[str, tuple]:
    return {
        c.month.strftime("%Y-%m"): (c.amount, c.paid, c.settled_on)
        for c in sorted(rent.charges_of(lease), key=lambda c: c.month)
    }


# --- the lease -----------------------------------------------------------------------------


def test_a_new_lease_has_a_deposit_a_review_date_and_its_first_charge(clock, district, officer):
    lease = make_lease(district, officer, starts_on=START)
    assert lease.deposit == Decimal("1000.00")  # 2 months of 500.00
    assert lease.next_review_on == date(2028, 1, 1)
    (charge,) = rent.charges_of(lease)
    assert (charge.month, charge.due_on, charge.amount) == (START, date(2027, 1, 10), Decimal(500))
    assert (charge.basis, charge.multiplier, charge.paid) == ("contract", Decimal(1), Decimal(0))


def test_the_first_month_counts_from_the_start_day(clock, district, officer):
    lease = make_lease(district, officer, starts_on=date(2027, 1, 16))
    (charge,) = rent.charges_of(lease)
    assert charge.amount == Decimal("258.06")  # 500.00 × 16 / 31, half up
    assert charge.due_on == date(2027, 1, 16)  # not due before the lease starts


def test_a_lease_starting_next_month_is_charged_for_that_month(clock, district, officer):
    lease = make_lease(district, officer, starts_on=date(2027, 2, 1))
    assert [c.month for c in rent.charges_of(lease)] == [date(2027, 2, 1)]
    assert rent.charge_rent()["charges"] == 0


def test_the_deposit_follows_the_rule_set(clock, district, officer):
    manager = make_staff(Role.MANAGER)
    add_version(manager, "tenancy", {"deposit_months": 3}, date(2026, 1, 1))
    lease = make_lease(district, officer, starts_on=START, rent=Decimal("333.33"))
    assert lease.deposit == Decimal("999.99")


# --- the daily charge ------------------------------------------------------------------------


def test_charging_is_idempotent_and_catches_up_missed_months(clock, district, officer):
    lease = make_lease(district, officer, starts_on=START)
    ended = make_lease(district, officer, starts_on=START)
    at(clock, date(2027, 3, 2))
    first = rent.charge_rent()
    assert first["charges"] >= 4  # February and March of both (and any other lease)
    assert rent.charge_rent() == {"leases": 0, "charges": 0}
    assert sorted(months(lease)) == ["2027-01", "2027-02", "2027-03"]
    assert (
        db.session.scalar(
            sa.select(sa.func.count())
            .select_from(RentCharge)
            .where(RentCharge.lease_id == lease.id)
        )
        == 3
    )
    from portal.tenancy.services import end_lease

    end_lease(ended, officer, date(2027, 3, 2))
    at(clock, date(2027, 4, 1))
    rent.charge_rent()
    assert "2027-04" in months(lease)
    assert "2027-04" not in months(ended)


def test_a_charge_is_unique_per_lease_and_month(clock, district, officer):
    lease = make_lease(district, officer, starts_on=START)
    db.session.add(
        RentCharge(
            lease_id=lease.id,
            month=START,
            due_on=START,
            amount=Decimal(1),
            basis="contract",
            multiplier=Decimal(1),
            paid=Decimal(0),
        )
    )
    with pytest.raises(sa.exc.IntegrityError):
        db.session.flush()
    db.session.rollback()


# --- payments ------------------------------------------------------------------------------


def test_payments_go_to_the_oldest_month_first_and_overpayment_is_credit(clock, district, officer):
    lease = make_lease(district, officer, starts_on=START)
    at(clock, date(2027, 3, 15))
    rent.charge_rent()
    rent.record_payment(lease, officer, amount="700", paid_on=date(2027, 3, 14), note="现金")
    assert months(lease) == {
        "2027-01": (Decimal(500), Decimal(500), date(2027, 3, 14)),
        "2027-02": (Decimal(500), Decimal(200), None),
        "2027-03": (Decimal(500), Decimal(0), None),
    }
    assert rent.arrears_of(lease) == rent.Arrears(Decimal("800.00"), 2)
    rent.record_payment(lease, officer, amount="1,000.00", paid_on=date(2027, 3, 15))
    state = rent.balance_of(lease)
    assert (state.charged, state.paid, state.balance) == (
        Decimal(1500),
        Decimal(1700),
        Decimal(-200),
    )
    assert (state.owed, state.credit) == (Decimal(0), Decimal(200))
    assert rent.arrears_of(lease) == rent.Arrears(Decimal(0), 0)

    at(clock, date(2027, 4, 1))
    rent.charge_rent()
    april = months(lease)["2027-04"]
    assert april == (Decimal(500), Decimal(200), None)  # the credit pays part of April
    tenant = lease.tenant
    told = messages(tenant, "rent_paid")
    assert [t["amount"] for t in told] == ["700.00", "1000.00"]


def test_a_late_entered_payment_reallocates_by_its_date(clock, district, officer):
    lease = make_lease(district, officer, starts_on=START)
    at(clock, date(2027, 2, 20))
    rent.charge_rent()
    rent.record_payment(lease, officer, amount="500", paid_on=date(2027, 2, 20))
    rent.record_payment(lease, officer, amount="500", paid_on=date(2027, 1, 8))
    assert months(lease)["2027-01"][2] == date(2027, 1, 8)
    assert months(lease)["2027-02"][2] == date(2027, 2, 20)


@pytest.mark.parametrize(
    "amount",
    ["0", "-5", "12.345", "1e3", "abc", "", "NaN", "1,2.3", "1000000"],
)
def test_a_counter_payment_amount_is_checked(clock, district, officer, amount):
    lease = make_lease(district, officer, starts_on=START)
    with pytest.raises(ValidationFailed) as failed:
        rent.record_payment(lease, officer, amount=amount, paid_on=START)
    assert failed.value.field == "amount"
    assert rent.payments_of(lease) == []


def test_a_counter_payment_date_is_checked(clock, district, officer):
    lease = make_lease(district, officer, starts_on=START)
    with pytest.raises(ValidationFailed):
        rent.record_payment(lease, officer, amount="5", paid_on=date(2027, 1, 2))
    with pytest.raises(ValidationFailed):
        rent.record_payment(lease, officer, amount="5", paid_on=date(2026, 10, 1))
    with pytest.raises(Forbidden):
        rent.record_payment(lease, lease.tenant, amount="5", paid_on=START)


def test_float_amounts_are_refused():
    with pytest.raises(ValidationFailed):
        rent.parse_amount(0.1 + 0.2)
    assert rent.parse_amount(512.5) == Decimal("512.50")
    assert rent.parse_amount(Decimal("1.10")) == Decimal("1.10")
    assert rent.parse_amount("¥1,234.50") == Decimal("1234.50")


# --- arrears: reminders and the threshold ---------------------------------------------------


def test_a_household_is_reminded_once_per_overdue_charge(clock, district, officer):
    lease = make_lease(district, officer, starts_on=START)
    tenant = lease.tenant
    at(clock, date(2027, 1, 14))  # due the 10th, reminded from the 15th
    assert rent.remind_arrears()["charges"] == 0
    at(clock, date(2027, 1, 15))
    assert rent.remind_arrears()["charges"] >= 1
    assert rent.remind_arrears()["charges"] == 0
    (told,) = messages(tenant, "rent_reminder")
    assert told["months"] == "2027-01"
    assert told["amount"] == "500.00"
    assert rent.charges_of(lease)[0].reminded_on == date(2027, 1, 15)

    at(clock, date(2027, 2, 16))
    rent.charge_rent()
    rent.remind_arrears()
    rent.remind_arrears()
    assert [m["months"] for m in messages(tenant, "rent_reminder")] == ["2027-01", "2027-02"]


def test_a_paid_charge_is_not_reminded(clock, district, officer):
    lease = make_lease(district, officer, starts_on=START)
    rent.record_payment(lease, officer, amount="500", paid_on=START)
    at(clock, date(2027, 1, 20))
    rent.remind_arrears()
    assert messages(lease.tenant, "rent_reminder") == []


def _exit_cases(lease):
    return db.session.scalars(sa.select(ExitCase).where(ExitCase.lease_id == lease.id)).all()


def _arrears_records(lease):
    return db.session.scalars(
        sa.select(CreditRecord).where(
            CreditRecord.lease_id == lease.id, CreditRecord.source == "arrears"
        )
    ).all()


def test_six_months_of_arrears_open_an_exit_case_and_ask_for_a_credit_record(
    clock, district, officer
):
    lease = make_lease(district, officer, starts_on=START)
    at(clock, date(2027, 5, 11))
    rent.charge_rent()
    rent.remind_arrears()
    assert rent.arrears_of(lease).months == 5
    assert _exit_cases(lease) == []
    assert _arrears_records(lease) == []

    at(clock, date(2027, 6, 11))
    rent.charge_rent()
    rent.remind_arrears()
    assert rent.arrears_of(lease) == rent.Arrears(Decimal("3000.00"), 6)
    (case,) = _exit_cases(lease)
    assert (case.reason, case.status, case.opened_by_id) == (
        ExitReason.ARREARS,
        ExitStatus.MOVING,
        None,
    )
    assert case.move_out_by == date(2027, 9, 11)
    assert lease.reference in case.facts
    (record,) = _arrears_records(lease)
    assert record.status is RecordStatus.PENDING
    assert record.points == 30  # 5 points a month
    assert messages(lease.tenant, "exit_opened")[0]["reference"] == case.reference

    at(clock, date(2027, 7, 11))
    rent.charge_rent()
    rent.remind_arrears()
    rent.remind_arrears()
    assert rent.arrears_of(lease).months == 7
    assert [c.id for c in _exit_cases(lease)] == [case.id]
    assert [r.id for r in _arrears_records(lease)] == [record.id]


def test_arrears_paid_below_the_threshold_open_nothing(clock, district, officer):
    lease = make_lease(district, officer, starts_on=START)
    at(clock, date(2027, 6, 11))
    rent.charge_rent()
    rent.record_payment(lease, officer, amount="500", paid_on=date(2027, 6, 11))
    rent.remind_arrears()
    assert rent.arrears_of(lease).months == 5
    assert _exit_cases(lease) == []


# --- market rent and escalation ------------------------------------------------------------


def test_market_rent_is_the_estates_rate_times_the_area(clock, district, officer):
    lease = make_lease(district, officer, starts_on=START, area=Decimal("45.55"))
    assert rent.market_rent_of(lease) == Decimal("911.00")
    bare = make_lease(district, officer, starts_on=START, market_rate=None)
    with pytest.raises(ValidationFailed):
        rent.market_rent_of(bare)
    with pytest.raises(ValidationFailed):
        rent.set_market_rent(bare, officer, from_month=date(2027, 2, 1))
    assert bare.rent_basis is RentBasis.CONTRACT


def test_market_rent_applies_from_the_month_given(clock, district, officer):
    lease = make_lease(district, officer, starts_on=START)
    at(clock, date(2027, 2, 20))
    rent.set_market_rent(lease, officer, from_month=date(2027, 3, 1))
    assert lease.rent_basis is RentBasis.MARKET
    at(clock, date(2027, 3, 1))
    rent.charge_rent()
    charges = {c.month: c for c in rent.charges_of(lease)}
    assert charges[date(2027, 2, 1)].amount == Decimal(500)
    assert charges[date(2027, 2, 1)].basis == "contract"
    assert (charges[date(2027, 3, 1)].amount, charges[date(2027, 3, 1)].basis) == (
        Decimal(1000),
        "market",
    )
    assert messages(lease.tenant, "rent_market")[0]["amount"] == "1000.00"


def test_market_rent_reprices_a_charge_made_ahead(clock, district, officer):
    lease = make_lease(district, officer, starts_on=date(2027, 2, 1))
    rent.set_market_rent(lease, officer, from_month=date(2027, 2, 1))
    (charge,) = rent.charges_of(lease)
    assert (charge.amount, charge.basis) == (Decimal(1000), "market")


@pytest.mark.parametrize(
    ("overdue", "factor"),
    [(None, None), (0, "1.0"), (5, "1.0"), (6, "1.2"), (11, "1.2"), (12, "1.5"), (30, "1.5")],
)
def test_the_overdue_factor_steps_at_6_and_12_months(overdue, factor, app):
    from portal.tenancy.rules import DEFAULTS

    if overdue is None:
        assert rent.months_overdue(date(2027, 4, 5), date(2027, 4, 1)) is None
        assert rent.months_overdue(date(2027, 4, 1), date(2027, 4, 1)) is None
        assert rent.months_overdue(date(2027, 4, 30), date(2027, 5, 1)) == 0
        return
    assert rent.overdue_factor(overdue, DEFAULTS) == Decimal(factor)


def test_months_after_the_moving_period_escalate_from_the_market_rent(clock, district, officer):
    from portal.tenancy import exits

    lease = make_lease(district, officer, starts_on=START)
    at(clock, date(2027, 1, 5))
    case = exits.open_case(lease, ExitReason.SUBLET, officer, facts="经核查转租他人")
    assert case.move_out_by == date(2027, 4, 5)
    at(clock, date(2028, 5, 2))
    rent.charge_rent()
    charges = {c.month.strftime("%Y-%m"): c for c in rent.charges_of(lease)}
    expected = {
        "2027-04": ("500.00", "contract", "1.00"),  # the moving period: contract rent
        "2027-05": ("1000.00", "exit_overdue", "1.00"),  # 0 months overdue
        "2027-10": ("1000.00", "exit_overdue", "1.00"),  # 5
        "2027-11": ("1200.00", "exit_overdue", "1.20"),  # 6
        "2028-04": ("1200.00", "exit_overdue", "1.20"),  # 11
        "2028-05": ("1500.00", "exit_overdue", "1.50"),  # 12
    }
    for month, (amount, basis, multiplier) in expected.items():
        c = charges[month]
        assert (str(c.amount), c.basis, str(c.multiplier)) == (amount, basis, multiplier), month


def test_escalation_without_a_market_rent_uses_the_contract_rent(clock, district, officer):
    from portal.tenancy import exits

    lease = make_lease(district, officer, starts_on=START, market_rate=None)
    exits.open_case(lease, ExitReason.DAMAGE, officer, facts="损坏房屋设施")
    at(clock, date(2027, 11, 1))
    rent.charge_rent()
    november = rent.charge_of_month(lease, date(2027, 11, 1))
    assert (november.amount, november.basis) == (Decimal(600), "exit_overdue")


# --- the subsidy offset --------------------------------------------------------------------


def _subsidy_line(lease, amount: Decimal, month: date) -> int:
    from portal.core.settings import current_version
    from portal.subsidy.models import (
        AwardBasis,
        AwardStatus,
        Channel,
        LineKind,
        RunStatus,
        SubsidyAward,
        SubsidyPayment,
        SubsidyRun,
    )

    award = SubsidyAward(
        reference=f"S-T{lease.id}",
        application_id=lease.application_id,
        basis=AwardBasis.TENANT,
        status=AwardStatus.ACTIVE,
        starts_month=month,
        valid_until=date(2028, 1, 1),
        lease_id=lease.id,
    )
    run = SubsidyRun(
        month=month, status=RunStatus.CLOSED, rule_version_id=current_version("subsidy").id
    )
    db.session.add_all([award, run])
    db.session.flush()
    line = SubsidyPayment(
        run_id=run.id,
        month=month,
        award_id=award.id,
        kind=LineKind.PAYMENT,
        channel=Channel.RENT,
        amount=amount,
    )
    db.session.add(line)
    db.session.flush()
    return line.id


def test_the_subsidy_offset_pays_rent_once_per_subsidy_line(clock, district, officer):
    lease = make_lease(district, officer, starts_on=START)
    line = _subsidy_line(lease, Decimal("320.00"), START)
    first = rent.record_subsidy_offset(
        lease, amount=Decimal("320.00"), month=START, subsidy_payment_id=line, actor=officer
    )
    again = rent.record_subsidy_offset(
        lease, amount=Decimal("320.00"), month=START, subsidy_payment_id=line, actor=officer
    )
    assert first.id == again.id
    assert first.source is PaymentSource.SUBSIDY
    assert (first.amount, first.paid_on) == (Decimal("320.00"), START)
    assert months(lease)["2027-01"][1] == Decimal("320.00")
    assert len(db.session.scalars(sa.select(RentPayment)).all()) >= 1
    with pytest.raises(ValidationFailed):
        rent.record_subsidy_offset(
            lease, amount=Decimal("-1"), month=START, subsidy_payment_id=line + 1, actor=None
        )


def test_market_rent_cannot_be_set_on_an_ended_lease(clock, district, officer):
    from portal.tenancy.services import end_lease

    lease = make_lease(district, officer, starts_on=START)
    end_lease(lease, officer, START)
    with pytest.raises(InvalidTransition):
        rent.set_market_rent(lease, officer, from_month=date(2027, 2, 1))


def test_a_first_month_of_thirty_days_is_priced_again_over_thirty_days(clock, district, officer):
    """A lease starting on 16 April (30 days) owes 15/30 of the month, also when that
    month is priced again at market rent."""
    at(clock, date(2027, 4, 16))
    lease = make_lease(district, officer, starts_on=date(2027, 4, 16))
    assert months(lease)["2027-04"][0] == Decimal("250.00")  # 500.00 × 15 / 30
    rent.set_market_rent(lease, officer, from_month=date(2027, 4, 1))
    market = rent.market_rent_of(lease)
    assert months(lease)["2027-04"][0] == rent.yuan(market * 15 / 30)
