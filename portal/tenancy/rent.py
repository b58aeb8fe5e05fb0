"""Rent collection (租金代缴): a ledger per lease of what is due each month and what has
been paid, arrears and their reminders.

- A lease is charged once a month (``RentCharge``, unique per lease and month), due on the
  ``tenancy`` rule set's ``rent_due_day``. The charge of the month a lease starts is made
  with the lease (the first month counted from the start day); the daily job
  ``tenancy.charge_rent`` makes every month a lease in force lacks, up to the current one,
  so running it twice, or after a missed day, changes nothing more.
- The amount is the contract rent (``Lease.monthly_rent``), or the market rent
  (:func:`market_rent_of`) once the lease is at market rent (:func:`set_market_rent`, an
  annual review's decision), or, for months after an exit case's ``move_out_by``, the
  market rent times the escalating factor (1.0× for the first 6 months overdue, 1.2× from
  6, 1.5× from 12: the rule set's ``overdue_*`` numbers). The charge keeps its basis and
  multiplier.
- Payments (``RentPayment``: at the counter, from the bank's collection file, the
  household's subsidy offset, the deposit at check-out) are pooled and allocated to the
  charges oldest month first (:func:`allocate`): a charge's ``paid`` and ``settled_on``
  always follow from the payments, and what is paid beyond the charges is credit that the
  next charge takes. The balance is the sum of the charges less the sum of the payments:
  positive, the household owes it; negative, it is in credit.
- Arrears (:func:`arrears_of`) are the charges past their due day and not fully paid. The
  daily job ``tenancy.remind_arrears`` tells the household once per overdue charge,
  ``reminder_days`` after the due day, and when ``arrears_exit_months`` months are in
  arrears it opens an exit case (``ARREARS``) and asks for a credit record
  (``portal.credit.services.record_arrears``); both are idempotent.

Money is ``Decimal`` to the fen, never float.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import sqlalchemy as sa
from flask import current_app

from portal.accounts.models import User
from portal.accounts.roles import Role
from portal.applications.models import Application, HouseholdMember
from portal.core import audit
from portal.core.clock import today
from portal.core.errors import Forbidden, InvalidTransition, NotFound, ValidationFailed
from portal.core.i18n import in_locale_of, params_in_locale_of
from portal.core.i18n import lazy_gettext as _l
from portal.core.scope import lock_row, officer_district_ids
from portal.core.settings import current_version
from portal.extensions import db
from portal.housing.models import Estate, Unit
from portal.notifications.services import notify
from portal.tenancy.models import (
    OPEN_EXIT,
    ExitCase,
    ExitReason,
    ExitStatus,
    Lease,
    LeaseStatus,
    PaymentSource,
    RentBasis,
    RentCharge,
    RentPayment,
)

RULES = "tenancy"
CENT = Decimal("0.01")
MAX_PAYMENT = Decimal("1000000")  # a single payment is less than a million yuan
NOTE_MAX = 500
LINK = "/my/home"

BASIS_CONTRACT = "contract"
BASIS_MARKET = "market"
BASIS_OVERDUE = "exit_overdue"
BASIS_LABELS = {
    BASIS_CONTRACT: _l("Contract rent"),
    BASIS_MARKET: _l("Market rent"),
    BASIS_OVERDUE: _l("Market rent after the moving period"),
}


# --- months and money ---------------------------------------------------------------------


def month_of(day: date) -> date:
    """The month ``day`` falls in, as its first day."""
    return day.replace(day=1)


def add_months(day: date, months: int) -> date:
    """The same day ``months`` later (or earlier), or the month's last day if shorter."""
    month = day.month - 1 + months
    year, month = day.year + month // 12, month % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def months_between(first: date, later: date) -> int:
    """Whole calendar months from the month of ``first`` to the month of ``later``."""
    return (later.year - first.year) * 12 + later.month - first.month


def days_in_month(month: date) -> int:
    return calendar.monthrange(month.year, month.month)[1]


def yuan(value: Decimal) -> Decimal:
    """Half up to the fen."""
    return Decimal(value).quantize(CENT, rounding=ROUND_HALF_UP)


def _sum_cents(expr) -> sa.ColumnElement:
    """SUM of a money column (or of a difference of two) as integer hundredths, 0 if none."""
    return sa.func.coalesce(sa.func.sum(sa.type_coerce(expr, sa.BigInteger)), 0)


def from_cents(value) -> Decimal:
    """Integer hundredths (a stored sum) as yuan."""
    return (Decimal(int(value or 0)) * CENT).quantize(CENT)


def rule_values(on: date | None = None) -> dict[str, Any]:
    """The ``tenancy`` rule values in force on ``on`` (today)."""
    return current_version(RULES, on).values


def number(values: dict[str, Any], key: str) -> Decimal:
    return Decimal(str(values[key]))


def due_day(month: date, values: dict[str, Any]) -> date:
    day = max(1, min(int(values["rent_due_day"]), days_in_month(month)))
    return month.replace(day=day)


# --- scope ---------------------------------------------------------------------------------


def lease_scope(user: User) -> sa.ColumnElement[bool]:
    """Leases ``user`` may see (SECURITY.md B1): a manager every one; an officer those of
    applications in their districts; a resident their own household's; nobody else any."""
    if user.role is Role.MANAGER:
        return sa.true()
    if user.role is Role.OFFICER:
        return Lease.application_id.in_(
            sa.select(Application.id).where(Application.district_id.in_(officer_district_ids(user)))
        )
    if user.role is Role.RESIDENT:
        members = sa.select(HouseholdMember.application_id).where(
            HouseholdMember.id_index == user.id_number_index
        )
        if not user.id_number_index:
            return Lease.tenant_id == user.id
        return sa.or_(Lease.tenant_id == user.id, Lease.application_id.in_(members))
    return sa.false()


def require_staff(user) -> None:
    if getattr(user, "role", None) not in (Role.OFFICER, Role.MANAGER):
        raise Forbidden()


def lease_by_reference(user: User, reference: str) -> Lease:
    """A lease in ``user``'s scope by its reference; any other answers 404."""
    reference = (reference or "").strip().upper()[:24]
    row = db.session.scalars(
        sa.select(Lease).where(Lease.reference == reference, lease_scope(user))
    ).one_or_none()
    if row is None:
        raise NotFound()
    return row


def home_lease(user: User) -> Lease | None:
    """The lease a resident's page shows: the household's lease in force, else its latest
    (ended) lease, whose exit case and settlement the household still needs to see."""
    from portal.tenancy.services import lease_for

    lease = lease_for(user)
    if lease is not None or user.role is not Role.RESIDENT:
        return lease
    return db.session.scalars(
        sa.select(Lease).where(lease_scope(user)).order_by(Lease.id.desc()).limit(1)
    ).first()


# --- market rent ---------------------------------------------------------------------------


def market_rent_of(lease: Lease) -> Decimal:
    """The unit's market rent a month: the estate's market rent (yuan per m² a month) times
    the unit's floor area, half up to the fen. Raises ValidationFailed when the estate has
    no market rent (an officer sets it on the estate's page)."""
    unit = db.session.get(Unit, lease.unit_id)
    estate = db.session.get(Estate, unit.estate_id)
    if estate.market_rent is None:
        raise ValidationFailed(
            _l(
                "Estate %(estate)s has no market rent. Set its market rent (yuan per m² a "
                "month) on the estate's page first.",
                estate=estate.name,
            ),
            field="market_rent",
        )
    return yuan(estate.market_rent * unit.area)


def open_exit_case(lease: Lease) -> ExitCase | None:
    """The exit case of ``lease`` still open (moving, overdue or checked out), if any."""
    return db.session.scalars(
        sa.select(ExitCase).where(ExitCase.lease_id == lease.id, OPEN_EXIT)
    ).first()


def overdue_factor(months_overdue: int, values: dict[str, Any]) -> Decimal:
    """The multiple of the market rent ``months_overdue`` whole months after the moving
    period (0: the first month after it)."""
    if months_overdue >= int(values["overdue_step2_months"]):
        return number(values, "overdue_step2_factor")
    if months_overdue >= int(values["overdue_step1_months"]):
        return number(values, "overdue_step1_factor")
    return number(values, "overdue_factor")


def months_overdue(move_out_by: date, month: date) -> int | None:
    """How many whole months ``month`` lies after the moving period ending ``move_out_by``:
    None while the month starts on or before that day, 0 for the first month after it."""
    if month <= move_out_by:
        return None
    return months_between(add_months(month_of(move_out_by), 1), month)


def price(lease: Lease, month: date, values: dict[str, Any] | None = None):
    """What ``lease`` is charged for ``month``: ``(amount, basis, multiplier)`` for a whole
    month, before the first month's proration."""
    values = values or rule_values(month)
    case = open_exit_case(lease)
    overdue = months_overdue(case.move_out_by, month) if case is not None else None
    if overdue is not None:
        factor = overdue_factor(overdue, values)
        try:
            base = market_rent_of(lease)
        except ValidationFailed:
            # No market rent is known for the estate: the contract rent is the base, so
            # the escalation still applies (the officer is shown the basis).
            current_app.logger.warning("lease %s: no market rent, contract rent used", lease.id)
            base = lease.monthly_rent
        return yuan(base * factor), BASIS_OVERDUE, factor
    if lease.rent_basis is RentBasis.MARKET:
        try:
            return market_rent_of(lease), BASIS_MARKET, Decimal(1)
        except ValidationFailed:
            current_app.logger.warning("lease %s: no market rent, contract rent used", lease.id)
    return yuan(lease.monthly_rent), BASIS_CONTRACT, Decimal(1)


def _prorated(amount: Decimal, month: date, first_day: int, last_day: int) -> Decimal:
    """The part of a month's ``amount`` for the days ``first_day`` to ``last_day``."""
    days = days_in_month(month)
    if first_day <= 1 and last_day >= days:
        return amount
    return yuan(amount * (last_day - first_day + 1) / days)


# --- charges -------------------------------------------------------------------------------


def _lock(lease: Lease) -> Lease:
    return lock_row(Lease, lease.id)


def _last_month(lease: Lease) -> date | None:
    return db.session.scalar(
        sa.select(sa.func.max(RentCharge.month)).where(RentCharge.lease_id == lease.id)
    )


def _first_month_share(lease: Lease, month: date, amount: Decimal) -> Decimal:
    """The month's ``amount``, prorated from the start day in the month the lease starts."""
    if month_of(lease.starts_on) != month:
        return amount
    return _prorated(amount, month, lease.starts_on.day, days_in_month(month))


def _new_charge(lease: Lease, month: date) -> RentCharge:
    values = rule_values(month)
    amount, basis, multiplier = price(lease, month, values)
    amount = _first_month_share(lease, month, amount)
    due_on = due_day(month, values)
    if month_of(lease.starts_on) == month:
        due_on = max(due_on, lease.starts_on)
    charge = RentCharge(
        lease_id=lease.id,
        month=month,
        due_on=due_on,
        amount=amount,
        basis=basis,
        multiplier=multiplier,
        paid=Decimal(0),
    )
    db.session.add(charge)
    return charge


def ensure_charges(lease: Lease, up_to: date | None = None) -> list[RentCharge]:
    """Make the charges ``lease`` lacks, from its first month (or the month after its latest
    charge) to the month of ``up_to`` (today), then allocate the payments. Only a lease in
    force is charged; idempotent."""
    lease = _lock(lease)
    if lease.status is not LeaseStatus.ACTIVE:
        return []
    target = month_of(up_to or today())
    last = _last_month(lease)
    month = add_months(last, 1) if last is not None else month_of(lease.starts_on)
    made = []
    while month <= target:
        made.append(_new_charge(lease, month))
        month = add_months(month, 1)
    if made:
        db.session.flush()
        allocate(lease)
    return made


def charge_rent(on: date | None = None) -> dict[str, int]:
    """The daily job: every lease in force has its charges up to the current month."""
    on = on or today()
    month = month_of(on)
    latest = (
        sa.select(sa.func.max(RentCharge.month))
        .where(RentCharge.lease_id == Lease.id)
        .scalar_subquery()
    )
    ids = db.session.scalars(
        sa.select(Lease.id)
        .where(
            Lease.status == LeaseStatus.ACTIVE,
            Lease.starts_on < add_months(month, 1),
            sa.or_(latest.is_(None), latest < month),
        )
        .order_by(Lease.id)
    ).all()
    made = 0
    for lease_id in ids:
        made += len(ensure_charges(db.session.get(Lease, lease_id), on))
    return {"leases": len(ids), "charges": made}


def reprice_from(lease: Lease, month: date) -> int:
    """Price again the charges of ``month`` and later (made ahead of time) after the
    lease's basis changed; returns how many changed."""
    changed = 0
    for charge in db.session.scalars(
        sa.select(RentCharge).where(RentCharge.lease_id == lease.id, RentCharge.month >= month)
    ):
        amount, basis, multiplier = price(lease, charge.month)
        amount = _first_month_share(lease, charge.month, amount)
        if (charge.amount, charge.basis, charge.multiplier) != (amount, basis, multiplier):
            charge.amount, charge.basis, charge.multiplier = amount, basis, multiplier
            changed += 1
    if changed:
        db.session.flush()
        allocate(lease)
    return changed


def set_market_rent(lease: Lease, actor, *, from_month: date) -> Lease:
    """The household is over the income line with no other home (an annual review's
    decision): the lease is at market rent (:func:`market_rent_of`) from ``from_month``
    (the first day of a month). The months before keep the contract rent; a charge already
    made for ``from_month`` or later is priced again. Raises ValidationFailed when the
    estate has no market rent, InvalidTransition when the lease has ended."""
    lease = _lock(lease)
    if lease.status is not LeaseStatus.ACTIVE:
        raise InvalidTransition(_l("This lease has already ended."))
    from_month = month_of(from_month)
    market = market_rent_of(lease)
    # the months before keep the contract rent: make them now, at the old basis
    before = add_months(from_month, -1)
    if before >= month_of(lease.starts_on):
        ensure_charges(lease, min(before, month_of(today())))
    lease.rent_basis = RentBasis.MARKET
    db.session.flush()
    repriced = reprice_from(lease, from_month)
    audit.record(
        "lease.market_rent",
        actor=actor,
        obj=lease,
        reference=lease.reference,
        from_month=from_month,
        market_rent=market,
        repriced=repriced,
    )
    _tell_tenant(
        lease,
        "rent_market",
        lambda: {
            "lease": lease.reference,
            "month": from_month,
            "amount": market,
        },
    )
    return lease


# --- allocation ----------------------------------------------------------------------------


def allocate(lease: Lease) -> None:
    """Allocate the lease's payments to its charges, the oldest month first.

    The payments are a pool: a charge is paid by what the payments total beyond the charges
    before it, up to its amount, and is settled on the day of the payment that made the
    running total reach it. Whatever is left is credit for the next charge. Computed from
    scratch each time, so a late or corrected payment cannot leave the ledger inconsistent."""
    charges = list(
        db.session.scalars(
            sa.select(RentCharge).where(RentCharge.lease_id == lease.id).order_by(RentCharge.month)
        )
    )
    payments = db.session.execute(
        sa.select(RentPayment.paid_on, RentPayment.amount)
        .where(RentPayment.lease_id == lease.id)
        .order_by(RentPayment.paid_on, RentPayment.id)
    ).all()
    total = sum((p.amount for p in payments), Decimal(0))
    before = Decimal(0)
    for charge in charges:
        covered = min(max(total - before, Decimal(0)), charge.amount)
        before += charge.amount
        settled = None
        if covered >= charge.amount:
            settled = _settled_on(payments, before, charge)
        if charge.paid != covered:
            charge.paid = covered
        if charge.settled_on != settled:
            charge.settled_on = settled
    db.session.flush()


def _settled_on(payments, reached: Decimal, charge: RentCharge) -> date:
    """The day the running total of ``payments`` last rose to ``reached``."""
    if reached <= 0:
        return charge.due_on
    running = Decimal(0)
    day = None
    for paid_on, amount in payments:
        below = running < reached
        running += amount
        if below and running >= reached:
            day = paid_on
        elif running < reached:
            day = None
    return day or charge.due_on


# --- balances, arrears ---------------------------------------------------------------------


@dataclass(frozen=True)
class Arrears:
    """Rent overdue and unpaid: the amount and the number of months (charges) it spans."""

    amount: Decimal
    months: int


@dataclass(frozen=True)
class Balance:
    charged: Decimal
    paid: Decimal

    @property
    def balance(self) -> Decimal:
        """Positive: owed; negative: in credit."""
        return self.charged - self.paid

    @property
    def owed(self) -> Decimal:
        return max(self.balance, Decimal(0))

    @property
    def credit(self) -> Decimal:
        return max(-self.balance, Decimal(0))


def arrears_of(lease: Lease, on: date | None = None) -> Arrears:
    """The charges of ``lease`` past their due day on ``on`` (today) and not fully paid:
    their unpaid amount and how many months they are."""
    on = on or today()
    row = db.session.execute(
        sa.select(
            sa.func.count(RentCharge.id), _sum_cents(RentCharge.amount - RentCharge.paid)
        ).where(
            RentCharge.lease_id == lease.id,
            RentCharge.due_on < on,
            RentCharge.paid < RentCharge.amount,
        )
    ).one()
    return Arrears(amount=from_cents(row[1]), months=int(row[0]))


def balance_of(lease: Lease) -> Balance:
    """Everything charged and everything paid on ``lease``."""
    charged = db.session.scalar(
        sa.select(_sum_cents(RentCharge.amount)).where(RentCharge.lease_id == lease.id)
    )
    paid = db.session.scalar(
        sa.select(_sum_cents(RentPayment.amount)).where(RentPayment.lease_id == lease.id)
    )
    return Balance(charged=from_cents(charged), paid=from_cents(paid))


def charges_of(lease: Lease) -> list[RentCharge]:
    """The ledger's months, the newest first."""
    return list(
        db.session.scalars(
            sa.select(RentCharge)
            .where(RentCharge.lease_id == lease.id)
            .order_by(RentCharge.month.desc())
        )
    )


def payments_of(lease: Lease) -> list[RentPayment]:
    """The lease's payments, the newest first."""
    return list(
        db.session.scalars(
            sa.select(RentPayment)
            .where(RentPayment.lease_id == lease.id)
            .order_by(RentPayment.paid_on.desc(), RentPayment.id.desc())
        )
    )


def charge_of_month(lease: Lease, month: date) -> RentCharge | None:
    return db.session.scalars(
        sa.select(RentCharge).where(
            RentCharge.lease_id == lease.id, RentCharge.month == month_of(month)
        )
    ).first()


# --- payments ------------------------------------------------------------------------------


def parse_amount(value: Any, field: str = "amount", *, allow_zero: bool = False) -> Decimal:
    """A payment in yuan: more than 0, less than a million, at most two decimal places.
    Written as digits with an optional decimal point (``1,234.50`` with thousands commas
    is accepted too); anything else (``1e3``, ``12.345``, words) is refused."""
    import re

    if isinstance(value, bool):
        value = str(value)
    if isinstance(value, float):
        value = repr(value)  # a spreadsheet's number: its shortest exact spelling
    if isinstance(value, int | Decimal):
        value = str(value)
    raw = str(value or "").strip().lstrip("¥￥").strip()
    if not raw:
        raise ValidationFailed(_l("Enter the amount in yuan, like 512.50."), field=field)
    if not re.fullmatch(r"[+-]?(\d{1,3}(,\d{3})+|\d+)(\.\d+)?", raw):
        raise ValidationFailed(_l("The amount must be a number of yuan, like 512.50."), field=field)
    amount = Decimal(raw.replace(",", ""))
    if amount != amount.quantize(CENT):
        raise ValidationFailed(
            _l("The amount may have at most two decimal places (fen)."), field=field
        )
    if amount < 0 and allow_zero:
        raise ValidationFailed(_l("The amount cannot be negative."), field=field)
    if amount <= 0 and not allow_zero:
        raise ValidationFailed(_l("The amount must be more than 0."), field=field)
    if amount >= MAX_PAYMENT:
        raise ValidationFailed(
            _l("A payment must be less than %(max)s yuan.", max="1,000,000"), field=field
        )
    return amount.quantize(CENT)


def check_paid_on(lease: Lease, paid_on: Any, field: str = "paid_on") -> date:
    """A payment's date: not in the future, not before the month before the lease starts."""
    if not isinstance(paid_on, date):
        raise ValidationFailed(
            _l("Write the date as year-month-day, like 2026-03-31."), field=field
        )
    if paid_on > today():
        raise ValidationFailed(_l("The date cannot be in the future."), field=field)
    earliest = add_months(month_of(lease.starts_on), -1)
    if paid_on < earliest:
        raise ValidationFailed(
            _l(
                "The lease starts on %(date)s: a payment cannot be dated long before it.",
                date=lease.starts_on.isoformat(),
            ),
            field=field,
        )
    return paid_on


def _payment(lease: Lease, actor, **values) -> RentPayment:
    payment = RentPayment(lease_id=lease.id, recorded_by_id=getattr(actor, "id", None), **values)
    db.session.add(payment)
    db.session.flush()
    return payment


def record_payment(
    lease: Lease, actor, *, amount: Any, paid_on: Any, note: str | None = ""
) -> RentPayment:
    """A payment at the counter, recorded by an officer or manager: allocated to the oldest
    unpaid month first; anything beyond what is due is credit for the next month. A lease
    that has ended may still be paid (what remained owed at check-out)."""
    require_staff(actor)
    amount = parse_amount(amount)
    lease = _lock(lease)
    paid_on = check_paid_on(lease, paid_on)
    note = (note or "").strip()
    if len(note) > NOTE_MAX:
        raise ValidationFailed(
            _l("The note is at most %(max)d characters.", max=NOTE_MAX), field="note"
        )
    payment = _payment(
        lease, actor, amount=amount, paid_on=paid_on, source=PaymentSource.COUNTER, note=note
    )
    allocate(lease)
    audit.record(
        "rent.payment",
        actor=actor,
        obj=payment,
        lease=lease.reference,
        amount=amount,
        paid_on=paid_on,
        source=PaymentSource.COUNTER.value,
    )
    _tell_tenant(
        lease,
        "rent_paid",
        lambda: {
            "lease": lease.reference,
            "amount": amount,
            "paid_on": paid_on,
            "balance": _balance_sentence(lease),
        },
    )
    return payment


def record_subsidy_offset(
    lease: Lease, *, amount: Decimal, month: date, subsidy_payment_id: int, actor
) -> RentPayment:
    """The household's rental subsidy of ``month`` pays part of its rent (a closed subsidy
    run's RENT-channel line ``subsidy_payment_id``): a SUBSIDY payment dated today (the day
    the run closed), allocated like any payment. Idempotent per subsidy line: the same line
    again returns the payment already recorded. ``amount`` is not negative (a zero line is
    recorded for the trail)."""
    existing = db.session.scalars(
        sa.select(RentPayment).where(RentPayment.subsidy_payment_id == subsidy_payment_id)
    ).first()
    if existing is not None:
        return existing
    amount = Decimal(amount)
    if amount < 0 or amount != amount.quantize(CENT):
        raise ValidationFailed(_l("A subsidy offset is a sum of yuan and fen, not negative."))
    lease = _lock(lease)
    month = month_of(month)
    payment = _payment(
        lease,
        actor,
        amount=amount.quantize(CENT),
        paid_on=today(),
        source=PaymentSource.SUBSIDY,
        subsidy_payment_id=subsidy_payment_id,
        note=month.strftime("%Y-%m"),
    )
    allocate(lease)
    audit.record(
        "rent.subsidy_offset",
        actor=actor,
        obj=payment,
        lease=lease.reference,
        amount=payment.amount,
        month=month,
        subsidy_payment=subsidy_payment_id,
    )
    return payment


# --- telling the tenant --------------------------------------------------------------------


def _tell_tenant(lease: Lease, kind: str, make) -> None:
    """Tell the tenant in their language; ``make`` gives the message's values."""
    tenant = db.session.get(User, lease.tenant_id)
    if tenant is None:
        return
    notify(tenant, kind, params_in_locale_of(tenant, make), link=LINK)


def _balance_sentence(lease: Lease) -> str:
    from flask_babel import gettext as _

    state = balance_of(lease)
    if state.balance > 0:
        return _("Still owed: %(amount)s yuan.", amount=state.owed)
    if state.balance < 0:
        return _(
            "In credit: %(amount)s yuan, taken from the next month's rent.", amount=state.credit
        )
    return _("Nothing is owed.")


# --- reminders and the arrears threshold ---------------------------------------------------


def remind_arrears(on: date | None = None) -> dict[str, int]:
    """The daily job: remind each household once per charge still unpaid ``reminder_days``
    after its due day (one message a household, naming what it owes); a lease with
    ``arrears_exit_months`` months in arrears gets an exit case (ARREARS) and a credit
    record for a manager to confirm (both idempotent)."""
    from portal.credit import services as credit
    from portal.tenancy import exits

    on = on or today()
    values = rule_values(on)
    cutoff = on - timedelta(days=int(values["reminder_days"]))
    due = db.session.scalars(
        sa.select(RentCharge)
        .join(Lease, Lease.id == RentCharge.lease_id)
        .where(
            RentCharge.settled_on.is_(None),
            RentCharge.reminded_on.is_(None),
            RentCharge.due_on <= cutoff,
            RentCharge.paid < RentCharge.amount,
            Lease.status == LeaseStatus.ACTIVE,
        )
        .order_by(RentCharge.lease_id, RentCharge.month)
    ).all()
    by_lease: dict[int, list[RentCharge]] = {}
    for charge in due:
        by_lease.setdefault(charge.lease_id, []).append(charge)
    for lease_id, charges in by_lease.items():
        lease = db.session.get(Lease, lease_id)
        for charge in charges:
            charge.reminded_on = on
        arrears = arrears_of(lease, on)
        months = ", ".join(c.month.strftime("%Y-%m") for c in charges)
        _tell_tenant(
            lease,
            "rent_reminder",
            lambda lease=lease, arrears=arrears, months=months: {
                "lease": lease.reference,
                "months": months,
                "amount": arrears.amount,
                "count": arrears.months,
                "limit": values["arrears_exit_months"],
            },
        )
        audit.record(
            "rent.reminder",
            actor="system",
            obj=lease,
            lease=lease.reference,
            months=months,
            arrears=arrears.amount,
        )
    db.session.flush()

    threshold = int(values["arrears_exit_months"])
    overdue = (
        sa.select(RentCharge.lease_id)
        .join(Lease, Lease.id == RentCharge.lease_id)
        .where(
            Lease.status == LeaseStatus.ACTIVE,
            RentCharge.due_on < on,
            RentCharge.paid < RentCharge.amount,
        )
        .group_by(RentCharge.lease_id)
        .having(sa.func.count(RentCharge.id) >= threshold)
        .order_by(RentCharge.lease_id)
    )
    cases = records = 0
    for lease_id in db.session.scalars(overdue).all():
        lease = db.session.get(Lease, lease_id)
        arrears = arrears_of(lease, on)
        before = open_exit_case(lease)
        case = exits.open_case(
            lease,
            ExitReason.ARREARS,
            "system",
            facts=in_locale_of(
                None, lambda lease=lease, arrears=arrears: _arrears_facts(lease, arrears)
            ),
        )
        if before is None or before.id != case.id:
            cases += 1
        record = credit.record_arrears(lease, arrears.months)
        if record is not None:
            records += 1
    return {"reminded": len(by_lease), "charges": len(due), "exit_cases": cases, "records": records}


def _arrears_facts(lease: Lease, arrears: Arrears) -> str:
    from flask_babel import gettext as _

    return _(
        "The rent of lease %(lease)s is unpaid for %(months)d months: %(amount)s yuan.",
        lease=lease.reference,
        months=arrears.months,
        amount=arrears.amount,
    )


# --- lists for the officers' pages ---------------------------------------------------------


PAGE = 50


@dataclass
class LeaseRow:
    lease: Lease
    arrears: Arrears
    balance: Balance
    exit_case: ExitCase | None


def arrears_subquery(on: date):
    return (
        sa.select(
            RentCharge.lease_id.label("lease_id"),
            sa.func.count(RentCharge.id).label("months"),
            _sum_cents(RentCharge.amount - RentCharge.paid).label("amount"),
            sa.func.max(RentCharge.reminded_on).label("reminded_on"),
            sa.func.min(RentCharge.month).label("since"),
        )
        .where(RentCharge.due_on < on, RentCharge.paid < RentCharge.amount)
        .group_by(RentCharge.lease_id)
        .subquery()
    )


def leases_page(
    user: User,
    *,
    q: str = "",
    arrears_only: bool = False,
    status: str = "active",
    after: int | None = None,
) -> tuple[list[LeaseRow], int | None]:
    """Leases in ``user``'s scope, by reference, with their arrears; a page of ``PAGE``
    and the id to continue after."""
    on = today()
    arrears = arrears_subquery(on)
    stmt = (
        sa.select(Lease, arrears.c.months, arrears.c.amount)
        .outerjoin(arrears, arrears.c.lease_id == Lease.id)
        .where(lease_scope(user))
    )
    if status in ("active", "ended"):
        stmt = stmt.where(Lease.status == LeaseStatus(status))
    q = (q or "").strip().upper()[:24]
    if q:
        stmt = stmt.where(Lease.reference.like(f"{q}%"))
    if arrears_only:
        stmt = stmt.where(arrears.c.months > 0)
    if after:
        stmt = stmt.where(Lease.id > after)
    rows = db.session.execute(stmt.order_by(Lease.id).limit(PAGE + 1)).all()
    more = len(rows) > PAGE
    rows = rows[:PAGE]
    out = []
    for lease, months, amount in rows:
        out.append(
            LeaseRow(
                lease=lease,
                arrears=Arrears(
                    amount=from_cents(amount),
                    months=int(months or 0),
                ),
                balance=balance_of(lease),
                exit_case=open_exit_case(lease),
            )
        )
    return out, (rows[-1][0].id if more and rows else None)


def arrears_count(user: User) -> int:
    """How many leases in ``user``'s scope are in arrears."""
    arrears = arrears_subquery(today())
    return db.session.scalar(
        sa.select(sa.func.count())
        .select_from(Lease)
        .join(arrears, arrears.c.lease_id == Lease.id)
        .where(lease_scope(user))
    )


@dataclass
class ArrearsRow:
    lease: Lease
    months: int
    amount: Decimal
    since: date
    reminded_on: date | None
    exit_case: ExitCase | None


def arrears_rows(user: User, *, min_months: int = 1, limit: int = 500) -> list[ArrearsRow]:
    """Leases in arrears in ``user``'s scope, the most months first."""
    on = today()
    arrears = arrears_subquery(on)
    rows = db.session.execute(
        sa.select(Lease, arrears.c.months, arrears.c.amount, arrears.c.since, arrears.c.reminded_on)
        .join(arrears, arrears.c.lease_id == Lease.id)
        .where(lease_scope(user), arrears.c.months >= max(1, min_months))
        .order_by(arrears.c.months.desc(), arrears.c.amount.desc(), Lease.id)
        .limit(limit)
    ).all()
    return [
        ArrearsRow(
            lease=lease,
            months=int(months),
            amount=from_cents(amount),
            since=since,
            reminded_on=reminded_on,
            exit_case=open_exit_case(lease),
        )
        for lease, months, amount, since, reminded_on in rows
    ]


def exit_status_open() -> tuple[ExitStatus, ...]:
    return (ExitStatus.MOVING, ExitStatus.OVERDUE, ExitStatus.CHECKED_OUT)
