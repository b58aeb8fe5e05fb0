"""Exit cases (退出): a tenancy ends because of a RULES.md trigger, an annual review, rent
arrears, a serious credit record, a refused renewal, or because the household leaves.

The way of a case:

- ``open_case``: MOVING, with a moving period (the ``tenancy`` rule set's ``moving_months``
  from the day it opens, or the date a household gave notice for, or the lease's end for a
  refused renewal). One open case a lease (a partial unique index); opening again returns
  the open one. The tenant is told.
- The daily job ``tenancy.exits_overdue``: a MOVING case past ``move_out_by`` is OVERDUE,
  the tenant is told and a refusal to vacate is flagged once as a credit record
  (``portal.credit.services.record_refusal_to_vacate``; kept on the case). The rent of the
  months after ``move_out_by`` escalates (``portal.tenancy.rent.price``).
- ``check_out``: an officer takes the home back on a day (condition, keys, damages): the
  lease ends that day (the unit returns to stock as vacated, the subsidy award ends from
  the next month) and the deposit settlement is computed: CHECKED_OUT.
- ``settle``: deposit − unpaid rent − damages (+ rent paid in advance) is refunded
  (positive) or still owed (negative); the part of the deposit that pays the rent goes on
  the ledger as a DEPOSIT payment: CLOSED.
- ``cancel``: before check-out, with a reason (the arrears were paid, the review was
  wrong): CANCELLED.
"""

from __future__ import annotations

import secrets
from datetime import date
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from flask_babel import gettext as _

from portal.accounts.models import District, User
from portal.accounts.roles import Role
from portal.applications.models import Application
from portal.core import audit
from portal.core.clock import today, utcnow
from portal.core.errors import Conflict, Forbidden, InvalidTransition, ValidationFailed
from portal.core.i18n import lazy_gettext as _l
from portal.core.i18n import params_in_locale_of
from portal.core.scope import lock_row, officer_district_ids
from portal.extensions import db
from portal.notifications.services import notify
from portal.tenancy import rent
from portal.tenancy.models import (
    OPEN_EXIT,
    ExitCase,
    ExitReason,
    ExitStatus,
    Lease,
    LeaseStatus,
    PaymentSource,
    RentCharge,
    RentPayment,
)

FACTS_MIN = 2
FACTS_MAX = 4000
NOTE_MAX = 2000
REASON_MIN = 4
NOTICE_MIN_DAYS = 0  # a household may leave from today …
PAGE = 100

OPEN = (ExitStatus.MOVING, ExitStatus.OVERDUE, ExitStatus.CHECKED_OUT)
BEFORE_CHECK_OUT = (ExitStatus.MOVING, ExitStatus.OVERDUE)
# Reasons an officer may open a case for by hand (the others come from their own steps,
# but an officer may use them too when the facts are on paper).
OFFICER_REASONS = tuple(ExitReason)


# --- scope ---------------------------------------------------------------------------------


def case_scope(user: User) -> sa.ColumnElement[bool]:
    """Exit cases ``user`` may see: a manager every one, an officer their districts', a
    resident their household's (through the lease)."""
    if user.role is Role.MANAGER:
        return sa.true()
    if user.role is Role.OFFICER:
        return ExitCase.district_id.in_(officer_district_ids(user))
    if user.role is Role.RESIDENT:
        return ExitCase.lease_id.in_(sa.select(Lease.id).where(rent.lease_scope(user)))
    return sa.false()


def open_case_of(lease: Lease) -> ExitCase | None:
    """The lease's case still open (moving, overdue or checked out)."""
    return rent.open_exit_case(lease)


def latest_case_of(lease: Lease) -> ExitCase | None:
    """The lease's latest case, open or not."""
    return db.session.scalars(
        sa.select(ExitCase).where(ExitCase.lease_id == lease.id).order_by(ExitCase.id.desc())
    ).first()


def cases_of(lease: Lease) -> list[ExitCase]:
    return list(
        db.session.scalars(
            sa.select(ExitCase).where(ExitCase.lease_id == lease.id).order_by(ExitCase.id.desc())
        )
    )


# --- telling people ------------------------------------------------------------------------


def _tell_tenant(case: ExitCase, kind: str, make) -> None:
    rent._tell_tenant(case.lease, kind, make)


def _officers_of(district_id: int | None) -> list[User]:
    if district_id is None:
        return []
    return list(
        db.session.scalars(
            sa.select(User).where(
                User.role == Role.OFFICER,
                User.is_active.is_(True),
                User.districts.any(District.id == district_id),
            )
        )
    )


def _tell_officers(case: ExitCase, kind: str, make) -> None:
    for officer in _officers_of(case.district_id):
        notify(
            officer,
            kind,
            params_in_locale_of(officer, make),
            link=f"/staff/tenancy/exits/{case.id}",
        )


# --- opening -------------------------------------------------------------------------------


def _facts(value: str | None) -> str:
    text = (value or "").strip()
    if len(text) < FACTS_MIN:
        raise ValidationFailed(
            _l("Write the facts: at least %(min)d characters.", min=FACTS_MIN), field="facts"
        )
    if len(text) > FACTS_MAX:
        raise ValidationFailed(
            _l("The facts are at most %(max)d characters.", max=FACTS_MAX), field="facts"
        )
    return text


def moving_deadline(opened_on: date, values: dict[str, Any] | None = None) -> date:
    """The end of the moving period of a case opened on ``opened_on``."""
    values = values or rent.rule_values(opened_on)
    return rent.add_months(opened_on, int(values["moving_months"]))


def open_case(
    lease: Lease,
    reason: ExitReason,
    actor,
    *,
    facts: str,
    review=None,
    move_out_by: date | None = None,
) -> ExitCase:
    """Open an exit case for ``lease`` (MOVING) and tell the tenant.

    Idempotent: if the lease already has an open case, that case is returned unchanged.
    The moving period ends ``moving_months`` (the ``tenancy`` rule set) after today, or on
    ``move_out_by`` when given (a household's notice, a refused renewal's lease end; not
    before today). A refused renewal without a date moves out at the lease's end if that
    is later than today, else after the moving period. ``actor`` is a user (an officer, a
    resident giving notice, the reviewer deciding) or a label such as ``"system"``.
    Raises InvalidTransition when the lease has ended."""
    lease = lock_row(Lease, lease.id)
    existing = open_case_of(lease)
    if existing is not None:
        return existing
    if lease.status is not LeaseStatus.ACTIVE:
        raise InvalidTransition(_l("This lease has already ended."))
    reason = ExitReason(reason)
    facts = _facts(facts)
    opened_on = today()
    values = rent.rule_values(opened_on)
    if move_out_by is None and reason is ExitReason.REFUSED_RENEWAL and lease.ends_on > opened_on:
        move_out_by = lease.ends_on
    if move_out_by is None:
        move_out_by = moving_deadline(opened_on, values)
    if move_out_by < opened_on:
        raise ValidationFailed(_l("The moving date cannot be before today."), field="move_out_by")
    app = db.session.get(Application, lease.application_id)
    case = ExitCase(
        reference=f"new-{secrets.token_hex(8)}",  # until the row has its id
        lease_id=lease.id,
        district_id=app.district_id if app is not None else None,
        reason=reason,
        facts=facts,
        status=ExitStatus.MOVING,
        opened_on=opened_on,
        move_out_by=move_out_by,
        opened_by_id=actor.id if isinstance(actor, User) else None,
        review_id=getattr(review, "id", None),
        deposit=lease.deposit,
    )
    try:
        with db.session.begin_nested():
            db.session.add(case)
            db.session.flush()
    except sa.exc.IntegrityError as exc:  # another open case won the race
        existing = open_case_of(lease)
        if existing is not None:
            return existing
        raise Conflict() from exc
    case.reference = f"X{utcnow().year}{case.id:06d}"
    db.session.flush()
    audit.record(
        "exit.open",
        actor=actor,
        obj=case,
        reference=case.reference,
        lease=lease.reference,
        reason=reason.value,
        move_out_by=move_out_by,
        review=case.review_id,
        rule_version=rent.current_version(rent.RULES, opened_on).id,
    )
    _tell_tenant(
        case,
        "exit_opened",
        lambda: {
            "reference": case.reference,
            "lease": lease.reference,
            "reason": case.reason.label,
            "move_out_by": case.move_out_by,
        },
    )
    if reason is ExitReason.VOLUNTARY:
        _tell_officers(
            case,
            "exit_notice_given",
            lambda: {
                "reference": case.reference,
                "lease": lease.reference,
                "move_out_by": case.move_out_by,
            },
        )
    return case


def open_by_officer(
    lease: Lease, actor: User, *, reason: Any, facts: str, move_out_by: date | None = None
) -> ExitCase:
    """An officer opens a case (any RULES.md trigger, with the facts). Unlike the portal's
    own triggers, a lease that already has an open case is a conflict, not a no-op."""
    rent.require_staff(actor)
    try:
        reason = ExitReason(reason)
    except ValueError:
        raise ValidationFailed(_l("Choose the reason for the exit."), field="reason") from None
    if open_case_of(lease) is not None:
        raise Conflict(_l("This lease already has an exit case open."))
    if move_out_by is not None and move_out_by < today():
        raise ValidationFailed(_l("The moving date cannot be before today."), field="move_out_by")
    return open_case(lease, reason, actor, facts=facts, move_out_by=move_out_by)


def notice_window(on: date | None = None) -> tuple[date, date]:
    """The dates a household may give notice to leave by: from today to the end of a
    moving period from today."""
    on = on or today()
    return on, moving_deadline(on)


def give_notice(user: User, lease: Lease, *, leave_on: Any, note: str | None = "") -> ExitCase:
    """The tenant gives notice: the household leaves of its own accord by ``leave_on``
    (from today to the end of a moving period from today). The officers of the district
    are told; the check-out is arranged with them. Other members of the household see the
    lease but may not end it."""
    if user.role is not Role.RESIDENT:
        raise Forbidden()
    if user.id != lease.tenant_id:
        raise Forbidden(_l("Only the tenant who signed the lease can give notice to leave."))
    if not isinstance(leave_on, date):
        raise ValidationFailed(
            _l("Write the date as year-month-day, like 2026-03-31."), field="leave_on"
        )
    first, last = notice_window()
    if not first <= leave_on <= last:
        raise ValidationFailed(
            _l(
                "Choose a day from %(first)s to %(last)s.",
                first=first.isoformat(),
                last=last.isoformat(),
            ),
            field="leave_on",
        )
    if open_case_of(lease) is not None:
        raise Conflict(_l("An exit case is already open for your lease."))
    note = (note or "").strip()
    if len(note) > NOTE_MAX:
        raise ValidationFailed(
            _l("The note is at most %(max)d characters.", max=NOTE_MAX), field="note"
        )
    facts = _("The household gives notice to leave by %(date)s.", date=leave_on.isoformat())
    if note:
        facts = f"{facts} {note}"
    return open_case(lease, ExitReason.VOLUNTARY, user, facts=facts, move_out_by=leave_on)


# --- overdue -------------------------------------------------------------------------------


def mark_overdue(on: date | None = None) -> dict[str, int]:
    """The daily job: a case still MOVING after its ``move_out_by`` is OVERDUE; the tenant
    is told and a refusal to vacate is flagged once (the record is kept on the case)."""
    from portal.credit import services as credit

    on = on or today()
    ids = db.session.scalars(
        sa.select(ExitCase.id)
        .where(
            sa.or_(
                sa.and_(ExitCase.status == ExitStatus.MOVING, ExitCase.move_out_by < on),
                # a flag that failed before is asked for again
                sa.and_(ExitCase.status == ExitStatus.OVERDUE, ExitCase.credit_record_id.is_(None)),
            )
        )
        .order_by(ExitCase.id)
    ).all()
    overdue = flagged = 0
    for case_id in ids:
        case = lock_row(ExitCase, case_id)
        if case.status is ExitStatus.MOVING and case.move_out_by < on:
            case.status = ExitStatus.OVERDUE
            overdue += 1
            audit.record(
                "exit.overdue",
                actor="system",
                obj=case,
                reference=case.reference,
                move_out_by=case.move_out_by,
            )
            values = rent.rule_values(on)
            _tell_tenant(
                case,
                "exit_overdue",
                lambda case=case, values=values: {
                    "reference": case.reference,
                    "move_out_by": case.move_out_by,
                    "factor": rent.overdue_factor(0, values),
                    "step1": rent.overdue_factor(int(values["overdue_step1_months"]), values),
                    "step2": rent.overdue_factor(int(values["overdue_step2_months"]), values),
                },
            )
        if case.status is ExitStatus.OVERDUE and case.credit_record_id is None:
            record = credit.record_refusal_to_vacate(case.lease)
            case.credit_record_id = record.id
            flagged += 1
        db.session.flush()
    return {"overdue": overdue, "flagged": flagged}


# --- check-out and settlement --------------------------------------------------------------


def _damages(value: Any) -> Decimal:
    """Damages in yuan: blank or 0 for none, else as a payment is written."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return Decimal("0.00")
    return rent.parse_amount(value, "damages", allow_zero=True)


def _lock_case(case: ExitCase) -> ExitCase:
    return lock_row(ExitCase, case.id)


def _drop_charges_after(lease: Lease, day: date) -> None:
    """Months after the lease ended are not charged; the month it ends is charged up to
    that day."""
    later = db.session.scalars(
        sa.select(RentCharge).where(
            RentCharge.lease_id == lease.id, RentCharge.month > rent.month_of(day)
        )
    ).all()
    for charge in later:
        db.session.delete(charge)
    last = rent.charge_of_month(lease, day)
    if last is not None:
        full, _basis, _multiplier = rent.price(lease, last.month)
        first_day = lease.starts_on.day if last.month == rent.month_of(lease.starts_on) else 1
        last.amount = rent._prorated(full, last.month, first_day, day.day)
    db.session.flush()


def settlement_of(case: ExitCase) -> dict[str, Decimal]:
    """The deposit settlement as it stands: the deposit, the rent still unpaid (less any
    paid in advance), the damages, and what is refunded (positive) or still owed
    (negative)."""
    state = rent.balance_of(case.lease)
    deposit_used = Decimal(0)
    if case.status is ExitStatus.CLOSED:
        deposit_used = db.session.scalar(
            sa.select(rent._sum_cents(RentPayment.amount)).where(
                RentPayment.lease_id == case.lease_id,
                RentPayment.source == PaymentSource.DEPOSIT,
            )
        )
        deposit_used = rent.from_cents(deposit_used)
    owed = state.balance + deposit_used  # what the rent ledger showed before the deposit
    arrears = max(owed, Decimal(0))
    credit = max(-owed, Decimal(0))
    total = case.deposit + credit - arrears - case.damages
    return {
        "deposit": case.deposit,
        "arrears": arrears,
        "credit": credit,
        "damages": case.damages,
        "settlement": total,
    }


def check_out(
    case: ExitCase,
    actor: User,
    *,
    on: Any,
    condition_note: str | None,
    keys_returned: bool,
    damages: Any,
) -> ExitCase:
    """The officer takes the home back on ``on`` (not before the case opened, not in the
    future): condition, keys, damages (0 or more). The lease ends that day: the unit
    returns to stock as vacated since then, the household's members are free, and its
    subsidy award ends from the next month. The settlement is computed: CHECKED_OUT."""
    from portal.tenancy.services import end_lease

    rent.require_staff(actor)
    case = _lock_case(case)
    if case.status not in BEFORE_CHECK_OUT:
        raise InvalidTransition(_l("This exit case is not waiting for a check-out."))
    if not isinstance(on, date):
        raise ValidationFailed(_l("Write the date as year-month-day, like 2026-03-31."), field="on")
    if on < case.opened_on:
        raise ValidationFailed(
            _l(
                "The check-out cannot be before the case opened (%(date)s).",
                date=case.opened_on.isoformat(),
            ),
            field="on",
        )
    if on > today():
        raise ValidationFailed(_l("The date cannot be in the future."), field="on")
    note = (condition_note or "").strip()
    if not note:
        raise ValidationFailed(_l("Describe the condition of the home."), field="condition_note")
    if len(note) > NOTE_MAX:
        raise ValidationFailed(
            _l("The note is at most %(max)d characters.", max=NOTE_MAX), field="condition_note"
        )
    damages = _damages(damages)
    lease = case.lease
    # the rent is charged up to the check-out day
    rent.ensure_charges(lease, on)
    _drop_charges_after(lease, on)
    rent.allocate(lease)
    end_lease(lease, actor, on)
    case.status = ExitStatus.CHECKED_OUT
    case.checked_out_on = on
    case.condition_note = note
    case.keys_returned = bool(keys_returned)
    case.damages = damages
    case.checked_out_by_id = actor.id
    case.deposit = lease.deposit
    figures = settlement_of(case)
    case.arrears = figures["arrears"]
    case.settlement = figures["settlement"]
    db.session.flush()
    audit.record(
        "exit.check_out",
        actor=actor,
        obj=case,
        reference=case.reference,
        lease=lease.reference,
        on=on,
        keys_returned=case.keys_returned,
        damages=damages,
        deposit=case.deposit,
        arrears=case.arrears,
        settlement=case.settlement,
    )
    return case


def settle(case: ExitCase, actor: User, *, note: str | None = "") -> ExitCase:
    """Settle the deposit of a checked-out case and close it: the figures are taken again
    (a payment made since the check-out counts); the deposit pays the unpaid rent first (a
    DEPOSIT payment on the ledger), then the damages; the rest is refunded, or what the
    deposit does not cover is still owed. The tenant is told."""
    rent.require_staff(actor)
    case = _lock_case(case)
    if case.status is not ExitStatus.CHECKED_OUT:
        raise InvalidTransition(_l("Only a checked-out case can be settled."))
    note = (note or "").strip()
    if len(note) > NOTE_MAX:
        raise ValidationFailed(
            _l("The note is at most %(max)d characters.", max=NOTE_MAX), field="note"
        )
    lease = lock_row(Lease, case.lease_id)
    figures = settlement_of(case)
    from_deposit = min(case.deposit, figures["arrears"])
    if from_deposit > 0:
        payment = RentPayment(
            lease_id=lease.id,
            amount=from_deposit,
            paid_on=today(),
            source=PaymentSource.DEPOSIT,
            note=case.reference,
            recorded_by_id=actor.id,
        )
        db.session.add(payment)
        db.session.flush()
        rent.allocate(lease)
    case.arrears = figures["arrears"]
    case.settlement = figures["settlement"]
    case.status = ExitStatus.CLOSED
    case.settled_on = today()
    case.settled_by_id = actor.id
    db.session.flush()
    audit.record(
        "exit.settle",
        actor=actor,
        obj=case,
        reference=case.reference,
        lease=lease.reference,
        deposit=case.deposit,
        arrears=case.arrears,
        credit=figures["credit"],
        damages=case.damages,
        from_deposit=from_deposit,
        settlement=case.settlement,
        note=note,
    )
    _tell_tenant(case, "exit_settled", lambda: _settled_params(case))
    return case


def _settled_params(case: ExitCase) -> dict[str, Any]:
    if case.settlement >= 0:
        outcome = _("%(amount)s yuan is refunded to you.", amount=case.settlement)
    else:
        outcome = _("%(amount)s yuan is still owed.", amount=-case.settlement)
    return {
        "reference": case.reference,
        "deposit": case.deposit,
        "arrears": case.arrears,
        "damages": case.damages,
        "outcome": outcome,
    }


def cancel(case: ExitCase, actor: User, *, reason: str | None) -> ExitCase:
    """Cancel a case before the check-out, with a reason the tenant reads (the arrears
    were paid, the review's finding was wrong). The lease continues."""
    rent.require_staff(actor)
    case = _lock_case(case)
    if case.status not in BEFORE_CHECK_OUT:
        raise InvalidTransition(_l("Only a case before its check-out can be cancelled."))
    text = (reason or "").strip()
    if len(text) < REASON_MIN:
        raise ValidationFailed(
            _l("Give the reason: at least %(min)d characters.", min=REASON_MIN), field="reason"
        )
    if len(text) > NOTE_MAX:
        raise ValidationFailed(
            _l("The reason is at most %(max)d characters.", max=NOTE_MAX), field="reason"
        )
    case.status = ExitStatus.CANCELLED
    case.cancelled_reason = text
    db.session.flush()
    audit.record("exit.cancel", actor=actor, obj=case, reference=case.reference, reason=text)
    _tell_tenant(case, "exit_cancelled", lambda: {"reference": case.reference, "reason": text})
    return case


# --- lists ---------------------------------------------------------------------------------


def cases_page(user: User, *, status: str | None = None, limit: int = PAGE) -> list[ExitCase]:
    """Cases in ``user``'s scope: open ones by default, overdue first, then by the moving
    deadline; ``status`` one of the ExitStatus values or ``all``."""
    stmt = sa.select(ExitCase).where(case_scope(user))
    if status and status != "all":
        stmt = stmt.where(ExitCase.status == ExitStatus(status))
    elif not status:
        stmt = stmt.where(OPEN_EXIT)
    order = sa.case(
        (ExitCase.status == ExitStatus.OVERDUE, 0),
        (ExitCase.status == ExitStatus.MOVING, 1),
        (ExitCase.status == ExitStatus.CHECKED_OUT, 2),
        else_=3,
    )
    return list(
        db.session.scalars(
            stmt.order_by(order, ExitCase.move_out_by, ExitCase.id.desc()).limit(limit)
        )
    )


def counts(user: User) -> dict[str, int]:
    rows = db.session.execute(
        sa.select(ExitCase.status, sa.func.count())
        .where(case_scope(user), OPEN_EXIT)
        .group_by(ExitCase.status)
    ).all()
    return {status.value: n for status, n in rows}
