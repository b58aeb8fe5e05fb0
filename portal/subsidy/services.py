"""Rental subsidies (租赁补贴): awards, the facts they are paid on, monthly runs, the payment
ledger and recoveries.

Who is paid: a qualified ``rental_subsidy`` household (basis SUBSIDY, from its notice's
close), a ``public_rental`` household while it waits for a unit (WAITING, from joining the
list), and, once housed, an assistance household whose subsidy is offset against its rent
(TENANT; the others' awards end from the month after the lease starts). An award starts
from the next month and is valid a year (renewed by the annual review or the waiting list's
yearly re-verification). Before it is paid to a bank the household gives the rent it pays
(the cap) and the account (DETAILS → ACTIVE).

A month is payable for an award when the award is not waiting for details nor suspended,
``starts_month ≤ month``, ``month < ends_month`` (if set) and ``valid_until ≥ month``; the
facts in force are those of the basis with the latest ``effective_month ≤ month``. A change
takes effect from the month after it happened; closed months never change: a late-reported
change that lowers the amount becomes a recovery, deducted from later payments (oldest
first, at most the month's payment) or repaid or waived by a manager.

A run (``compute_month``) writes every payable household's line in one ``INSERT … SELECT``
over awards × basis in force, with the rule values as bound parameters, in integer
hundredths with half-up rounding; ``portal.subsidy.rules.compute`` is the reference it
agrees with to the fen. Recoveries (few) are applied in Python afterwards. A run may be
computed again any number of times while COMPUTED (same facts: identical lines, totals and
checksum); a manager other than the last one who computed it closes it, after which it never
changes: rent offsets go to the rent ledger, recoveries are counted, the bank file may be
made (``portal.subsidy.exports``).

Scope: runs are city-wide. Officers and managers compute them; managers close them;
officers see the awards and lines of their districts only (totals are the city's).
"""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from portal.accounts.models import User
from portal.accounts.roles import Role
from portal.applications.models import Application
from portal.core import audit
from portal.core.clock import today, utcnow
from portal.core.errors import (
    Conflict,
    Forbidden,
    InvalidTransition,
    SameActor,
    ValidationFailed,
)
from portal.core.i18n import in_locale_of
from portal.core.i18n import lazy_gettext as _l
from portal.core.scope import lock_row, officer_district_ids
from portal.core.settings import RuleVersion, current_version
from portal.extensions import db
from portal.subsidy import rules
from portal.subsidy.models import (
    AwardBasis,
    AwardStatus,
    Channel,
    LineKind,
    RecoveryStatus,
    RunStatus,
    SubsidyAward,
    SubsidyBasis,
    SubsidyPayment,
    SubsidyRecovery,
    SubsidyRun,
)
from portal.tenancy.models import Lease

PAGE = 50
NOTE_MAX = 2000
REASON_MIN = 4
RENT_MAX = Decimal("100000.00")
ACCOUNT_MIN, ACCOUNT_MAX = 12, 30
RUN_WORK_MEM = "128MB"  # PostgreSQL memory for the run's joins and sort (the server's)
HISTORY_REFS = 20  # award references listed for a re-run that changed households

# Where a basis came from (SubsidyBasis.source).
SOURCES = {
    "application": _l("The application's department checks"),
    "details": _l("Rent given by the household"),
    "change": _l("A reported change"),
    "review": _l("A review"),
    "correction": _l("An officer's correction"),
    "tenancy": _l("The household moved into public rental housing"),
}
# Why an award ended (SubsidyAward.ended_reason); other text is shown as given.
END_REASONS = {
    "housed": _l("The household moved into public rental housing."),
    "removed": _l("The household left the waiting list."),
    "review": _l("The review found the household no longer eligible."),
    "checked_out": _l("The household left its public rental home."),
    "officer": _l("Ended by the housing office."),
}
# Statuses whose months may still be paid (a lapsed or ended award is paid for the months
# before its validity or end, if their run is computed late); DETAILS and SUSPENDED are not.
PAYABLE_STATUSES = (AwardStatus.ACTIVE, AwardStatus.LAPSED, AwardStatus.ENDED)
STAFF = (Role.OFFICER, Role.MANAGER)


# --- months --------------------------------------------------------------------------------


def month_of(day: date) -> date:
    """The month ``day`` is in (its first day)."""
    return date(day.year, day.month, 1)


def add_months(month: date, months: int) -> date:
    """The first day of the month ``months`` after (or before) ``month``'s."""
    index = month.year * 12 + month.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def next_month(day: date | None = None) -> date:
    """The first day of the month after ``day`` (today)."""
    return add_months(month_of(day or today()), 1)


def _same_day_later(day: date, months: int) -> date:
    import calendar

    first = add_months(month_of(day), months)
    last = calendar.monthrange(first.year, first.month)[1]
    return first.replace(day=min(day.day, last))


def _valid_until(start: date, values: dict[str, Any]) -> date:
    return _same_day_later(start, int(values.get("valid_months", 12))) - timedelta(days=1)


def month_text(month: date, locale: str | None = None) -> str:
    """``April 2026`` / ``2026年4月`` in the reader's language (or ``locale``'s)."""
    from babel.dates import format_skeleton
    from flask_babel import get_locale

    return format_skeleton("yMMMM", month, locale=locale or get_locale() or "zh_Hans_CN")


# --- small helpers -------------------------------------------------------------------------


def _actor_id(actor) -> int | None:
    return getattr(actor, "id", None) if isinstance(actor, User) else None


def _lock(award: SubsidyAward) -> SubsidyAward:
    return lock_row(SubsidyAward, award.id)


def _tell(award: SubsidyAward, kind: str, **params: Any) -> None:
    """Tell the household (the applicant, at the contact of the application)."""
    from portal.applications.services import tell_applicant

    app = award.application
    tell_applicant(app, kind, {"reference": award.reference, **params}, link="/my/subsidy")


def mask_account(account: str | None) -> str:
    """A bank account as pages show it: the first 4 and last 4 digits at most."""
    if not account:
        return ""
    if len(account) < 9:
        return "*" * len(account)
    return f"{account[:4]}{'*' * (len(account) - 8)}{account[-4:]}"


def rule_version(month: date) -> RuleVersion:
    """The ``subsidy`` rule version in force on ``month``'s first day."""
    return current_version("subsidy", month_of(month))


def end_reason_text(code: str | None) -> str:
    if not code:
        return ""
    return str(END_REASONS.get(code, code))


# --- scope ---------------------------------------------------------------------------------


def award_scope(user: User) -> sa.ColumnElement[bool]:
    """Awards a staff member may see (SECURITY.md B1): managers all, officers their
    districts'."""
    if user.role is Role.MANAGER:
        return sa.true()
    if user.role is Role.OFFICER:
        return SubsidyAward.district_id.in_(officer_district_ids(user))
    return sa.false()


def _require_staff_for(award: SubsidyAward, actor: User) -> None:
    if actor.role is Role.MANAGER:
        return
    if actor.role is Role.OFFICER and award.district_id in officer_district_ids(actor):
        return
    raise Forbidden()


def award_of(app: Application) -> SubsidyAward | None:
    """The household's award (one per application), if it has one."""
    return db.session.scalars(
        sa.select(SubsidyAward).where(SubsidyAward.application_id == app.id)
    ).one_or_none()


def award_of_resident(user: User) -> SubsidyAward | None:
    """The latest award of a household ``user`` applied for."""
    if user.role is not Role.RESIDENT:
        return None
    return db.session.scalars(
        sa.select(SubsidyAward)
        .join(Application, Application.id == SubsidyAward.application_id)
        .where(Application.applicant_id == user.id)
        .order_by(SubsidyAward.id.desc())
        .limit(1)
    ).first()


# --- facts ---------------------------------------------------------------------------------


def bases_of(award: SubsidyAward) -> list[SubsidyBasis]:
    """The award's facts, each with the month it is in force from, the oldest first."""
    return list(
        db.session.scalars(
            sa.select(SubsidyBasis)
            .where(SubsidyBasis.award_id == award.id)
            .order_by(SubsidyBasis.effective_month)
        )
    )


def basis_for(award: SubsidyAward, month: date) -> SubsidyBasis | None:
    """The basis in force for ``month``: the latest with ``effective_month ≤ month``."""
    return db.session.scalars(
        sa.select(SubsidyBasis)
        .where(SubsidyBasis.award_id == award.id, SubsidyBasis.effective_month <= month)
        .order_by(SubsidyBasis.effective_month.desc())
        .limit(1)
    ).first()


def latest_basis(award: SubsidyAward) -> SubsidyBasis | None:
    return db.session.scalars(
        sa.select(SubsidyBasis)
        .where(SubsidyBasis.award_id == award.id)
        .order_by(SubsidyBasis.effective_month.desc())
        .limit(1)
    ).first()


def lease_rent(award: SubsidyAward) -> Decimal | None:
    """A tenant's cap: the lease's monthly rent."""
    if award.lease_id is None:
        return None
    lease = db.session.get(Lease, award.lease_id)
    return lease.monthly_rent if lease is not None else None


def inputs_of(award: SubsidyAward, basis: SubsidyBasis, cap: Decimal | None = None) -> rules.Inputs:
    """The inputs of the computation for a month whose basis is ``basis``; a tenant's cap is
    the lease rent (or ``cap`` when given, as a stored line's)."""
    if cap is None:
        cap = lease_rent(award) if award.basis is AwardBasis.TENANT else basis.actual_rent
    return rules.Inputs(
        household_size=basis.household_size,
        assistance=basis.assistance,
        veteran=award.veteran,
        per_capita_income=basis.per_capita_income,
        own_area=basis.own_area,
        actual_rent=cap,
    )


def details_complete(award: SubsidyAward) -> bool:
    """Whether the award can be paid: a tenant's goes to the rent; the others need the rent
    they pay (the cap) and an account."""
    if award.basis is AwardBasis.TENANT:
        return award.lease_id is not None
    basis = latest_basis(award)
    return bool(
        award.bank_account
        and award.payee_name
        and basis is not None
        and basis.actual_rent is not None
    )


def is_payable(award: SubsidyAward, month: date) -> bool:
    """Whether ``month`` would be paid for the award (the run's condition)."""
    return (
        award.status in PAYABLE_STATUSES
        and award.starts_month <= month
        and (award.ends_month is None or month < award.ends_month)
        and award.valid_until >= month
        and details_complete(award)
    )


def amount_for(award: SubsidyAward, month: date) -> rules.Computation | None:
    """What ``month`` pays (or would pay) for the award under the rules in force then: None
    when the award is not paid that month (not started, ended, suspended, lapsed) or has no
    facts. An award still waiting for its details gets the amount it will have (uncapped if
    the rent is not known)."""
    month = month_of(month)
    if award.status is AwardStatus.SUSPENDED:
        return None
    if month < award.starts_month or award.valid_until < month:
        return None
    if award.ends_month is not None and month >= award.ends_month:
        return None
    basis = basis_for(award, month)
    if basis is None:
        return None
    return rules.compute(inputs_of(award, basis), rule_version(month).values)


def amount_now(award: SubsidyAward) -> rules.Computation | None:
    """What the next month would pay (contract A): see :func:`amount_for`."""
    return amount_for(award, next_month())


# --- awards --------------------------------------------------------------------------------


def start_award(
    app: Application,
    basis: AwardBasis,
    actor,
    *,
    facts: dict | None = None,
    lease: Lease | None = None,
) -> SubsidyAward:
    """Award the subsidy to a household (contract A). Idempotent per application: a second
    call returns the existing award unchanged.

    The first basis comes from ``facts`` (default: the application's settled department
    facts), in force from next month, the first month payable; valid a year. A TENANT award
    needs ``lease`` (its rent is the cap) and is ACTIVE at once; the others wait for the rent
    and the account (DETAILS). The household is told."""
    existing = award_of(app)
    if existing is not None:
        return existing
    if basis is AwardBasis.TENANT and lease is None:
        raise ValidationFailed(_l("A tenant's subsidy needs the lease it offsets."))
    if facts is None:
        from portal.verification.services import settled_facts

        facts = settled_facts(app)
    on = today()
    starts = next_month(on)
    version = rule_version(on)
    inputs = rules.inputs_from_facts(app, facts)
    award = SubsidyAward(
        reference=f"new-{secrets.token_hex(8)}",  # unique until the id gives the reference
        application_id=app.id,
        district_id=app.district_id,
        basis=basis,
        status=AwardStatus.ACTIVE if basis is AwardBasis.TENANT else AwardStatus.DETAILS,
        starts_month=starts,
        valid_until=_valid_until(on, version.values),
        lease_id=lease.id if lease is not None else None,
    )
    try:
        with db.session.begin_nested():
            db.session.add(award)
            db.session.flush()
    except IntegrityError:  # started meanwhile by another request
        found = award_of(app)
        if found is None:
            raise
        return found
    award.reference = f"S{on.year}{award.id:06d}"
    db.session.add(
        SubsidyBasis(
            award_id=award.id,
            effective_month=starts,
            household_size=inputs.household_size,
            assistance=inputs.assistance,
            per_capita_income=inputs.per_capita_income,
            own_area=inputs.own_area,
            actual_rent=None,
            source="application",
            occurred_on=on,
            recorded_by_id=_actor_id(actor),
        )
    )
    db.session.flush()
    audit.record(
        "subsidy.award",
        actor=actor or "system",
        obj=award,
        reference=award.reference,
        basis=basis.value,
        application=app.reference,
        starts_month=starts,
        valid_until=award.valid_until,
        rule_version=version.id,
    )
    kind = "subsidy_tenant" if basis is AwardBasis.TENANT else "subsidy_awarded"
    _tell(award, kind, month=starts)
    return award


def _clean_occurred(occurred_on) -> date:
    if not isinstance(occurred_on, date):
        raise ValidationFailed(_l("Enter the date the change happened."), field="occurred_on")
    if occurred_on > today():
        raise ValidationFailed(
            _l("A change is recorded once it has happened: the date cannot be in the future."),
            field="occurred_on",
        )
    if occurred_on < date(2000, 1, 1):
        raise ValidationFailed(_l("Check the date of the change."), field="occurred_on")
    return occurred_on


def _note(note: str | None) -> str:
    note = (note or "").strip()
    if len(note) > NOTE_MAX:
        raise ValidationFailed(
            _l("Keep the note under %(count)d characters.", count=NOTE_MAX), field="note"
        )
    return note


def last_closed_month() -> date | None:
    return db.session.scalar(
        sa.select(sa.func.max(SubsidyRun.month)).where(SubsidyRun.status == RunStatus.CLOSED)
    )


def _set_basis(
    award: SubsidyAward,
    effective: date,
    *,
    size: int,
    assistance: bool,
    income: Decimal,
    own_area: Decimal,
    actual_rent: Decimal | None,
    source: str,
    occurred_on: date | None,
    note: str,
    actor,
) -> tuple[SubsidyBasis, dict[str, Any] | None]:
    """The basis in force from ``effective``: a new row, or the row already starting that
    month with its facts replaced (returns its former facts for the audit log)."""
    row = db.session.scalars(
        sa.select(SubsidyBasis).where(
            SubsidyBasis.award_id == award.id, SubsidyBasis.effective_month == effective
        )
    ).one_or_none()
    before = None
    if row is None:
        row = SubsidyBasis(award_id=award.id, effective_month=effective)
        db.session.add(row)
    else:
        before = basis_facts(row)
    row.household_size = int(size)
    row.assistance = bool(assistance)
    row.per_capita_income = rules.money(income)
    row.own_area = rules.money(own_area)
    row.actual_rent = None if actual_rent is None else rules.money(actual_rent)
    row.source = source
    row.occurred_on = occurred_on
    row.note = note
    row.recorded_by_id = _actor_id(actor)
    row.recorded_at = utcnow()
    db.session.flush()
    return row, before


def basis_facts(basis: SubsidyBasis) -> dict[str, Any]:
    return {
        "household_size": basis.household_size,
        "assistance": basis.assistance,
        "per_capita_income": str(basis.per_capita_income),
        "own_area": str(basis.own_area),
        "actual_rent": None if basis.actual_rent is None else str(basis.actual_rent),
    }


def record_change(
    award: SubsidyAward,
    inputs: rules.Inputs,
    actor,
    *,
    occurred_on: date,
    source: str,
    note: str = "",
) -> tuple[SubsidyBasis, SubsidyRecovery | None]:
    """A change of the household's facts (contract A): in force from the month after
    ``occurred_on`` (not before the award's first facts); the months before keep theirs.

    ``inputs.actual_rent`` None keeps the rent already known; ``inputs.veteran`` is not a
    fact of the basis (an officer records it on the award: :func:`set_veteran`). When the
    change reaches back into closed months (reported late), every closed month it covers is
    computed again with the rule version of its run: what was paid above what was due
    becomes a recovery (returned), deducted from the next payments; no back-pay when the
    amount rises."""
    if source not in SOURCES:
        raise ValidationFailed(_l("Unknown source of the change."), field="source")
    occurred_on = _clean_occurred(occurred_on)
    note = _note(note)
    if inputs.household_size < 1:
        raise ValidationFailed(_l("A household has at least one person."), field="household_size")
    if inputs.per_capita_income < 0 or inputs.own_area < 0:
        raise ValidationFailed(_l("Income and area cannot be negative."))
    award = _lock(award)
    first = db.session.scalar(
        sa.select(sa.func.min(SubsidyBasis.effective_month)).where(
            SubsidyBasis.award_id == award.id
        )
    )
    effective = next_month(occurred_on)
    if first is not None and effective < first:
        effective = first
    if award.ends_month is not None and effective >= award.ends_month:
        raise InvalidTransition(
            _l("The award has ended before this change would take effect: nothing changes.")
        )
    current = basis_for(award, effective)
    rent = inputs.actual_rent
    if rent is None and current is not None:
        rent = current.actual_rent
    row, before = _set_basis(
        award,
        effective,
        size=inputs.household_size,
        assistance=inputs.assistance,
        income=inputs.per_capita_income,
        own_area=inputs.own_area,
        actual_rent=rent,
        source=source,
        occurred_on=occurred_on,
        note=note,
        actor=actor,
    )
    recovery = _recovery_for(award, row, actor, note or str(SOURCES[source]))
    audit.record(
        "subsidy.change",
        actor=actor or "system",
        obj=award,
        reference=award.reference,
        effective_month=effective,
        occurred_on=occurred_on,
        source=source,
        facts=basis_facts(row),
        replaced=before,
        recovery=recovery.id if recovery is not None else None,
    )
    return row, recovery


def _recovered_before(award: SubsidyAward) -> dict[str, Decimal]:
    """Per month (ISO), what earlier recoveries of the award already counted as overpaid."""
    counted: dict[str, Decimal] = {}
    for rec in db.session.scalars(
        sa.select(SubsidyRecovery).where(SubsidyRecovery.award_id == award.id)
    ):
        for item in rec.detail:
            counted[item["month"]] = counted.get(item["month"], Decimal(0)) + Decimal(
                item["overpaid"]
            )
    return counted


def _recovery_for(
    award: SubsidyAward, basis: SubsidyBasis, actor, reason: str
) -> SubsidyRecovery | None:
    """Closed months the basis now governs, paid above what it makes due: a recovery."""
    last = last_closed_month()
    if last is None or basis.effective_month > last:
        return None
    following = db.session.scalar(
        sa.select(sa.func.min(SubsidyBasis.effective_month)).where(
            SubsidyBasis.award_id == award.id,
            SubsidyBasis.effective_month > basis.effective_month,
        )
    )
    stmt = (
        sa.select(SubsidyPayment, SubsidyRun)
        .join(SubsidyRun, SubsidyRun.id == SubsidyPayment.run_id)
        .where(
            SubsidyPayment.award_id == award.id,
            SubsidyPayment.kind == LineKind.PAYMENT,
            SubsidyRun.status == RunStatus.CLOSED,
            SubsidyPayment.month >= basis.effective_month,
        )
        .order_by(SubsidyPayment.month)
    )
    if following is not None:
        stmt = stmt.where(SubsidyPayment.month < following)
    counted = _recovered_before(award)
    detail, total = [], Decimal(0)
    for line, run in db.session.execute(stmt):
        values = db.session.get(RuleVersion, run.rule_version_id).values
        cap = line.cap if line.channel is Channel.RENT else basis.actual_rent
        due = rules.compute(inputs_of(award, basis, cap=cap), values).amount
        key = line.month.isoformat()
        over = line.amount - due - counted.get(key, Decimal(0))
        over = over if over > 0 else Decimal("0.00")
        detail.append(
            {
                "month": key,
                "paid": str(line.amount),
                "due": str(due),
                "overpaid": str(over),
                "rule_version": run.rule_version_id,
            }
        )
        total += over
    overpaid = [d for d in detail if Decimal(d["overpaid"]) > 0]
    if not overpaid:
        return None
    recovery = SubsidyRecovery(
        award_id=award.id,
        basis_id=basis.id,
        status=RecoveryStatus.OPEN,
        amount=total,
        recovered=Decimal(0),
        from_month=date.fromisoformat(overpaid[0]["month"]),
        to_month=date.fromisoformat(overpaid[-1]["month"]),
        detail_json=json.dumps(detail),
        reason=reason[:NOTE_MAX],
        created_by_id=_actor_id(actor),
    )
    db.session.add(recovery)
    db.session.flush()
    audit.record(
        "subsidy.recovery",
        actor=actor or "system",
        obj=recovery,
        award=award.reference,
        amount=total,
        months=len(overpaid),
    )
    _tell(
        award,
        "subsidy_recovery",
        amount=total,
        first=recovery.from_month,
        last=recovery.to_month,
    )
    return recovery


def renew_validity(award: SubsidyAward, actor, on: date) -> SubsidyAward:
    """A review was passed (contract A): the award is valid a further year. Renewed in the
    last ``review_days_before`` days, the year runs on from the old end; renewed after it
    lapsed, from ``on``, and payments resume from the next month (no back-pay)."""
    award = _lock(award)
    if award.status is AwardStatus.ENDED:
        raise InvalidTransition(_l("This award has ended."))
    values = rule_version(on).values
    lapsed = award.status is AwardStatus.LAPSED or on > award.valid_until
    soon = (award.valid_until - on).days <= int(values.get("review_days_before", 30))
    start = award.valid_until + timedelta(days=1) if soon and not lapsed else on
    before = award.valid_until
    award.valid_until = max(award.valid_until, _valid_until(start, values))
    if lapsed:
        award.starts_month = max(award.starts_month, next_month(on))
        if award.status is AwardStatus.LAPSED:
            award.status = AwardStatus.ACTIVE if details_complete(award) else AwardStatus.DETAILS
    db.session.flush()
    audit.record(
        "subsidy.renew",
        actor=actor or "system",
        obj=award,
        reference=award.reference,
        valid_until=f"{before}->{award.valid_until}",
        resumed_from=award.starts_month if lapsed else None,
    )
    return award


def end_award(award: SubsidyAward, actor, *, from_month: date, reason: str) -> SubsidyAward:
    """No payment from ``from_month`` on (contract A); the months before are paid as due.
    ``reason``: a code of :data:`END_REASONS` or a short text. Ending it again from a later
    month changes nothing. A closed month cannot be taken back: an overpayment is a late
    change (:func:`record_change`)."""
    if not isinstance(from_month, date):
        raise ValidationFailed(_l("Enter the first month not paid."), field="from_month")
    from_month = month_of(from_month)
    reason = (reason or "").strip()
    if len(reason) < 4:
        raise ValidationFailed(_l("Give the reason the award ends."), field="reason")
    award = _lock(award)
    if award.ends_month is not None and award.ends_month <= from_month:
        return award
    last = last_closed_month()
    if last is not None and from_month <= last:
        raise ValidationFailed(
            _l(
                "The months up to %(month)s are closed and paid: the award can end from "
                "%(next)s at the earliest. Record an overpayment as a late change.",
                month=month_text(last),
                next=month_text(add_months(last, 1)),
            ),
            field="from_month",
        )
    award.status = AwardStatus.ENDED
    award.ends_month = from_month
    award.ended_reason = reason[:40]
    db.session.flush()
    audit.record(
        "subsidy.end",
        actor=actor or "system",
        obj=award,
        reference=award.reference,
        from_month=from_month,
        reason=reason[:200],
    )
    app = award.application
    _tell(
        award,
        "subsidy_ended",
        month=from_month,
        reason=in_locale_of(app.applicant, lambda: end_reason_text(award.ended_reason)),
    )
    return award


def become_tenant(award: SubsidyAward, lease: Lease, actor) -> SubsidyAward:
    """The household took a public rental unit and keeps its subsidy (an assistance
    household): from now it is offset against the lease's rent, capped at it."""
    award = _lock(award)
    if award.status is AwardStatus.ENDED:
        raise InvalidTransition(_l("This award has ended."))
    award.basis = AwardBasis.TENANT
    award.lease_id = lease.id
    if award.status is AwardStatus.DETAILS:
        award.starts_month = max(award.starts_month, next_month())
        award.status = AwardStatus.ACTIVE
    db.session.flush()
    audit.record(
        "subsidy.tenant",
        actor=actor or "system",
        obj=award,
        reference=award.reference,
        lease=lease.reference,
    )
    _tell(award, "subsidy_tenant", month=month_of(max(lease.starts_on, today())))
    return award


def suspend_award(award: SubsidyAward, actor, reason: str) -> bool:
    """No payment while suspended (the waiting list suspended the household). Returns
    whether it changed."""
    award = _lock(award)
    if award.status not in (AwardStatus.ACTIVE, AwardStatus.DETAILS, AwardStatus.LAPSED):
        return False
    award.status = AwardStatus.SUSPENDED
    db.session.flush()
    audit.record(
        "subsidy.suspend",
        actor=actor or "system",
        obj=award,
        reference=award.reference,
        reason=reason[:200],
    )
    _tell(award, "subsidy_suspended")
    return True


def resume_award(award: SubsidyAward, actor) -> bool:
    """Paid again from the next month, without back-pay for the months suspended."""
    award = _lock(award)
    if award.status is not AwardStatus.SUSPENDED:
        return False
    award.starts_month = max(award.starts_month, next_month())
    award.status = AwardStatus.ACTIVE if details_complete(award) else AwardStatus.DETAILS
    db.session.flush()
    audit.record(
        "subsidy.resume",
        actor=actor or "system",
        obj=award,
        reference=award.reference,
        from_month=award.starts_month,
    )
    _tell(award, "subsidy_resumed", month=award.starts_month)
    return True


def mark_lapsed(on: date | None = None, limit: int = 5000) -> dict[str, int]:
    """The daily job: awards whose validity has passed (the review is overdue) show as
    LAPSED and the household is told. Runs pay nothing after ``valid_until`` anyway."""
    on = on or today()
    ids = db.session.scalars(
        sa.select(SubsidyAward.id)
        .where(
            SubsidyAward.status.in_((AwardStatus.ACTIVE, AwardStatus.DETAILS)),
            SubsidyAward.valid_until < on,
        )
        .order_by(SubsidyAward.id)
        .limit(limit)
    ).all()
    for award_id in ids:
        award = lock_row(SubsidyAward, award_id)
        award.status = AwardStatus.LAPSED
        audit.record(
            "subsidy.lapse", actor="system:scheduler", obj=award, valid_until=award.valid_until
        )
        _tell(award, "subsidy_lapsed", date=award.valid_until)
    db.session.flush()
    return {"lapsed": len(ids)}


# --- details given by the household --------------------------------------------------------


def _require_details_actor(award: SubsidyAward, actor: User) -> None:
    if actor.role is Role.RESIDENT:
        if award.application.applicant_id != actor.id:
            raise Forbidden()
        return
    _require_staff_for(award, actor)


def parse_money(raw, field: str, message) -> Decimal:
    try:
        value = Decimal(str(raw).strip().replace(",", ""))
    except (InvalidOperation, ValueError, TypeError) as exc:
        raise ValidationFailed(message, field=field) from exc
    if not value.is_finite():
        raise ValidationFailed(message, field=field)
    return value


def give_details(
    award: SubsidyAward,
    actor: User,
    *,
    actual_rent,
    payee_name: str,
    bank_name: str,
    bank_account: str,
) -> SubsidyAward:
    """The rent the household pays a month (the cap) and the account the subsidy is paid to,
    given by the applicant or entered by an officer. The first time, the award is paid from
    the next month (DETAILS → ACTIVE); a new rent counts from the next month."""
    _require_details_actor(award, actor)
    if award.basis is AwardBasis.TENANT:
        raise InvalidTransition(
            _l("A tenant's subsidy is offset against the rent: no account is needed.")
        )
    if award.status is AwardStatus.ENDED:
        raise InvalidTransition(_l("This award has ended."))
    rent = parse_money(
        actual_rent, "actual_rent", _l("Enter the rent in yuan, for example 1200 or 1200.50.")
    )
    if rent <= 0 or rent > RENT_MAX or rent != rent.quantize(rules.CENT):
        raise ValidationFailed(
            _l("Enter the monthly rent in yuan and fen, more than 0 and at most 100,000."),
            field="actual_rent",
        )
    payee = (payee_name or "").strip()
    names = {m.name.strip() for m in award.application.members}
    if not payee:
        raise ValidationFailed(_l("Enter the account holder's name."), field="payee_name")
    if payee not in names:
        raise ValidationFailed(
            _l(
                "The account must be held by a member of the household, named as on the "
                "application."
            ),
            field="payee_name",
        )
    bank = (bank_name or "").strip()
    if not 2 <= len(bank) <= 80:
        raise ValidationFailed(
            _l("Enter the bank and branch (2 to 80 characters)."), field="bank_name"
        )
    account = "".join((bank_account or "").split()).replace("-", "")
    if not (account.isdigit() and account.isascii() and ACCOUNT_MIN <= len(account) <= ACCOUNT_MAX):
        raise ValidationFailed(
            _l(
                "Enter the account number: %(low)d to %(high)d digits, as on the bank card.",
                low=ACCOUNT_MIN,
                high=ACCOUNT_MAX,
            ),
            field="bank_account",
        )
    award = _lock(award)
    first_time = not details_complete(award)
    if first_time:
        award.starts_month = max(award.starts_month, next_month())
    effective = max(award.starts_month, next_month())
    current = basis_for(award, effective) or latest_basis(award)
    if current is not None and current.actual_rent != rent:
        _set_basis(
            award,
            effective,
            size=current.household_size,
            assistance=current.assistance,
            income=current.per_capita_income,
            own_area=current.own_area,
            actual_rent=rent,
            source="details",
            occurred_on=today(),
            note=current.note if current.effective_month == effective else "",
            actor=actor,
        )
    award.payee_name = payee[:64]
    award.bank_name = bank
    award.bank_account = account
    if award.status is AwardStatus.DETAILS:
        award.status = AwardStatus.ACTIVE
    db.session.flush()
    audit.record(
        "subsidy.details",
        actor=actor,
        obj=award,
        reference=award.reference,
        rent=rent,
        account=mask_account(account),
        first_time=first_time,
    )
    return award


def set_veteran(award: SubsidyAward, officer: User, *, veteran: bool, reason: str) -> SubsidyAward:
    """An officer of the district records (or removes) the 优抚 status after seeing the
    certificate: the veteran coefficient applies to the runs computed from now on."""
    if officer.role is not Role.OFFICER:
        raise Forbidden()
    _require_staff_for(award, officer)
    reason = (reason or "").strip()
    if len(reason) < REASON_MIN:
        raise ValidationFailed(
            _l("Say what you saw (the certificate and its number)."), field="reason"
        )
    award = _lock(award)
    if award.veteran == bool(veteran):
        raise ValidationFailed(_l("Nothing changes."), field="veteran")
    if award.status is AwardStatus.ENDED:
        raise InvalidTransition(_l("This award has ended."))
    award.veteran = bool(veteran)
    db.session.flush()
    audit.record(
        "subsidy.veteran",
        actor=officer,
        obj=award,
        reference=award.reference,
        veteran=award.veteran,
        reason=reason[:500],
    )
    return award


def correct_facts(
    award: SubsidyAward,
    officer: User,
    *,
    household_size: int,
    assistance: bool,
    per_capita_income,
    own_area,
    occurred_on: date,
    note: str,
) -> tuple[SubsidyBasis, SubsidyRecovery | None]:
    """An officer records a change of the household's facts (or corrects them), from the
    month after ``occurred_on``: the page's form over :func:`record_change`."""
    _require_staff_for(award, officer)
    if officer.role is not Role.OFFICER:
        raise Forbidden()
    note = (note or "").strip()
    if len(note) < REASON_MIN:
        raise ValidationFailed(
            _l("Say what changed and how you know it (the document you saw)."), field="note"
        )
    try:
        size = int(household_size)
    except (TypeError, ValueError) as exc:
        raise ValidationFailed(_l("Enter a whole number."), field="household_size") from exc
    if not 1 <= size <= 20:
        raise ValidationFailed(_l("A household has 1 to 20 persons."), field="household_size")
    income = parse_money(per_capita_income, "per_capita_income", _l("Enter an amount in yuan."))
    area = parse_money(own_area, "own_area", _l("Enter an area in m²."))
    if income < 0:
        raise ValidationFailed(_l("Income cannot be negative."), field="per_capita_income")
    if area < 0:
        raise ValidationFailed(_l("An area cannot be negative."), field="own_area")
    inputs = rules.Inputs(
        household_size=size,
        assistance=bool(assistance),
        veteran=award.veteran,
        per_capita_income=income,
        own_area=area,
        actual_rent=None,
    )
    return record_change(
        award, inputs, officer, occurred_on=occurred_on, source="correction", note=note
    )


# --- recoveries ----------------------------------------------------------------------------


def recoveries_of(award: SubsidyAward) -> list[SubsidyRecovery]:
    return list(
        db.session.scalars(
            sa.select(SubsidyRecovery)
            .where(SubsidyRecovery.award_id == award.id)
            .order_by(SubsidyRecovery.id.desc())
        )
    )


def _open_recovery(recovery: SubsidyRecovery, manager: User, reason: str):
    if manager.role is not Role.MANAGER:
        raise Forbidden()
    reason = (reason or "").strip()
    if len(reason) < REASON_MIN:
        raise ValidationFailed(_l("Give the reason."), field="reason")
    recovery = lock_row(SubsidyRecovery, recovery.id)
    if recovery.status is not RecoveryStatus.OPEN:
        raise InvalidTransition(_l("This recovery is already settled."))
    return recovery, reason


def repay(recovery: SubsidyRecovery, manager: User, *, amount, reason: str) -> SubsidyRecovery:
    """The household repaid (part of) an overpayment directly: recorded by a manager."""
    recovery, reason = _open_recovery(recovery, manager, reason)
    value = parse_money(amount, "amount", _l("Enter an amount in yuan."))
    if value <= 0 or value != value.quantize(rules.CENT) or value > recovery.outstanding:
        raise ValidationFailed(
            _l(
                "Enter an amount above 0 and at most the %(amount)s yuan outstanding.",
                amount=recovery.outstanding,
            ),
            field="amount",
        )
    recovery.recovered = recovery.recovered + value
    recovery.reason = f"{recovery.reason}\n{reason}".strip()[:NOTE_MAX]
    if recovery.outstanding <= 0:
        recovery.status = RecoveryStatus.SETTLED
        recovery.settled_at = utcnow()
    db.session.flush()
    audit.record(
        "subsidy.recovery_repaid",
        actor=manager,
        obj=recovery,
        amount=value,
        outstanding=recovery.outstanding,
        reason=reason[:500],
    )
    return recovery


def waive(recovery: SubsidyRecovery, manager: User, *, reason: str) -> SubsidyRecovery:
    """A manager waives what is still outstanding (with the reason)."""
    recovery, reason = _open_recovery(recovery, manager, reason)
    recovery.status = RecoveryStatus.WAIVED
    recovery.settled_at = utcnow()
    recovery.reason = f"{recovery.reason}\n{reason}".strip()[:NOTE_MAX]
    db.session.flush()
    audit.record(
        "subsidy.recovery_waived",
        actor=manager,
        obj=recovery,
        outstanding=recovery.outstanding,
        reason=reason[:500],
    )
    return recovery


# --- the monthly run -----------------------------------------------------------------------


def _int(value: Decimal) -> int:
    """Hundredths of a rule value (already to two places)."""
    return int(value * 100)


def payment_params(month: date, values: dict[str, Any]) -> dict[str, Any]:
    """The bound parameters of :func:`payment_select` (rule values in hundredths)."""
    v = {
        k: _int(rules.value(values, k))
        for k in rules.DEFAULTS
        if k.startswith(("rate", "tier", "area", "coefficient", "table"))
    }
    v["area_one"] = min(v["area_one_person"], v["area_cap"])
    return {"month": month, **v}


def payment_select(values: dict[str, Any], dialect: str = "sqlite") -> str:
    """The SELECT of one month's payment lines: every payable award with the basis in force,
    its tier, rate, area, coefficient, amount before and after the cap (integer hundredths;
    ``(rate × area × coefficient + 5000) / 10000`` is the half-up rounding to the fen).
    Each step is a subquery the planner keeps (``LIMIT -1`` on SQLite, ``OFFSET 0`` on
    PostgreSQL), so every expression is evaluated once a row, not again wherever it is used."""
    fence = "OFFSET 0" if dialect == "postgresql" else "LIMIT -1"
    tenant = AwardBasis.TENANT.value
    statuses = ", ".join(f"'{s.value}'" for s in PAYABLE_STATUSES)
    where = f"""
        FROM subsidy_awards a
        JOIN (SELECT award_id, max(effective_month) AS m FROM subsidy_bases
              WHERE effective_month <= :month GROUP BY award_id) bm ON bm.award_id = a.id
        JOIN subsidy_bases b ON b.award_id = bm.award_id AND b.effective_month = bm.m
        LEFT JOIN leases l ON l.id = a.lease_id
        WHERE a.status IN ({statuses})
          AND a.starts_month <= :month
          AND (a.ends_month IS NULL OR a.ends_month > :month)
          AND a.valid_until >= :month
          AND ((a.basis = '{tenant}' AND l.id IS NOT NULL)
               OR (a.basis <> '{tenant}' AND a.bank_account IS NOT NULL
                   AND b.actual_rent IS NOT NULL))"""  # noqa: S608
    cap = f"CASE WHEN a.basis = '{tenant}' THEN l.monthly_rent ELSE b.actual_rent END"
    channel = f"CASE WHEN a.basis = '{tenant}' THEN 'rent' ELSE 'bank' END"
    if int(values.get("mode_table", 0) or 0):
        table = (
            "CASE WHEN b.household_size >= 5 THEN CAST(:table_5 AS BIGINT) "
            "WHEN b.household_size = 4 THEN CAST(:table_4 AS BIGINT) "
            "WHEN b.household_size = 3 THEN CAST(:table_3 AS BIGINT) "
            "WHEN b.household_size = 2 THEN CAST(:table_2 AS BIGINT) "
            "ELSE CAST(:table_1 AS BIGINT) END"
        )
        inner = f"""
            SELECT a.id AS award_id, b.id AS basis_id, {channel} AS channel,
                'table' AS tier, CAST(NULL AS BIGINT) AS rate, CAST(NULL AS BIGINT) AS area,
                CAST(NULL AS BIGINT) AS coefficient,
                {table} AS uncapped, {cap} AS cap
            {where}"""
    else:
        standard = (
            "(CASE WHEN b.household_size <= 1 THEN CAST(:area_one AS BIGINT) "
            "WHEN b.household_size * CAST(:area_per_person AS BIGINT) < CAST(:area_cap AS BIGINT) "
            "THEN b.household_size * CAST(:area_per_person AS BIGINT) "
            "ELSE CAST(:area_cap AS BIGINT) END)"
        )
        tier = (
            "CASE WHEN b.assistance THEN 'assistance' "
            "WHEN b.per_capita_income <= CAST(:tier1_income AS BIGINT) THEN 'tier1' "
            "WHEN b.per_capita_income <= CAST(:tier2_income AS BIGINT) THEN 'tier2' "
            "ELSE 'above' END"
        )
        rate = (
            "CASE WHEN b.assistance THEN CAST(:rate_assistance AS BIGINT) "
            "WHEN b.per_capita_income <= CAST(:tier1_income AS BIGINT) "
            "THEN CAST(:rate_tier1 AS BIGINT) "
            "WHEN b.per_capita_income <= CAST(:tier2_income AS BIGINT) "
            "THEN CAST(:rate_tier2 AS BIGINT) "
            "ELSE CAST(:rate_above AS BIGINT) END"
        )
        area = f"CASE WHEN {standard} > b.own_area THEN {standard} - b.own_area ELSE 0 END"
        coefficient = (
            "CASE WHEN a.veteran THEN CAST(:coefficient_veteran AS BIGINT) "
            "ELSE CAST(:coefficient AS BIGINT) END"
        )
        inner = f"""
            SELECT y.award_id, y.basis_id, y.channel, y.tier, y.rate, y.area, y.coefficient,
                (y.rate * y.area * y.coefficient + 5000) / 10000 AS uncapped, y.cap
            FROM (
                SELECT a.id AS award_id, b.id AS basis_id, {channel} AS channel,
                    {tier} AS tier, {rate} AS rate, {area} AS area,
                    {coefficient} AS coefficient, {cap} AS cap
                {where}
                {fence}
            ) y"""  # noqa: S608
    return f"""
        SELECT x.award_id, x.basis_id, x.channel, x.tier, x.rate, x.area, x.coefficient,
            x.uncapped, x.cap,
            CASE WHEN x.cap IS NOT NULL AND x.cap < x.uncapped THEN x.cap ELSE x.uncapped END
                AS amount
        FROM ({inner} {fence}) x {fence}"""  # noqa: S608


def _text(sql: str) -> sa.TextClause:
    stmt = sa.text(sql)
    if ":month" in sql:
        stmt = stmt.bindparams(sa.bindparam("month", type_=sa.Date))
    return stmt


def open_run() -> SubsidyRun | None:
    """The run computed but not closed (at most one at a time)."""
    return db.session.scalars(
        sa.select(SubsidyRun).where(SubsidyRun.status == RunStatus.COMPUTED)
    ).first()


def next_to_compute() -> date | None:
    """The month a run may be computed for now: the open run's; else the month after the
    last closed one, if it has begun; with no run yet, the current month."""
    run = open_run()
    if run is not None:
        return run.month
    last = last_closed_month()
    current = month_of(today())
    if last is None:
        return current
    following = add_months(last, 1)
    return following if following <= current else None


def runs() -> list[SubsidyRun]:
    return list(db.session.scalars(sa.select(SubsidyRun).order_by(SubsidyRun.month.desc())))


def run_of(month: date) -> SubsidyRun | None:
    return db.session.scalars(
        sa.select(SubsidyRun).where(SubsidyRun.month == month_of(month))
    ).one_or_none()


def _check_order(month: date) -> None:
    if month > month_of(today()):
        raise ValidationFailed(
            _l(
                "%(month)s has not begun: a month is computed from its first day.",
                month=month_text(month),
            ),
            field="month",
        )
    pending = open_run()
    if pending is not None and pending.month != month:
        raise Conflict(
            _l(
                "The run of %(month)s is computed but not closed: close it before computing "
                "another month.",
                month=month_text(pending.month),
            ),
            field="month",
        )
    last = last_closed_month()
    if last is not None and month != add_months(last, 1):
        raise Conflict(
            _l(
                "Months are paid in order: %(month)s is the next month to compute.",
                month=month_text(add_months(last, 1)),
            ),
            field="month",
        )


def _totals(conn, run_id: int) -> dict[str, Any]:
    rows = conn.execute(
        sa.text(
            "SELECT kind, channel, count(*), coalesce(sum(amount), 0) FROM subsidy_payments "
            "WHERE run_id = :run GROUP BY kind, channel"
        ),
        {"run": run_id},
    ).all()
    cents = {"households": 0, "total": 0, "recovered": 0, "to_bank": 0, "to_rent": 0}
    for kind, channel, count, amount in rows:
        amount = int(amount)
        if kind == LineKind.PAYMENT.value:
            cents["households"] += int(count)
            cents["total"] += amount
        else:
            cents["recovered"] -= amount
        cents["to_bank" if channel == Channel.BANK.value else "to_rent"] += amount
    return {
        "households": cents["households"],
        **{k: _money_of(v) for k, v in cents.items() if k != "households"},
    }


def _money_of(hundredths: int) -> Decimal:
    return (Decimal(int(hundredths)) / 100).quantize(rules.CENT)


# Every field of a line as a number, for the fingerprint (text fields by their position in
# a list of their values, absent ones as -1).
LINE_NUMBERS = (
    "CAST(award_id AS BIGINT)",
    "CASE WHEN kind = 'payment' THEN 1 ELSE 2 END",
    "CASE WHEN channel = 'bank' THEN 1 ELSE 2 END",
    "amount",
    "CASE tier WHEN 'assistance' THEN 1 WHEN 'tier1' THEN 2 WHEN 'tier2' THEN 3 "
    "WHEN 'above' THEN 4 WHEN 'table' THEN 5 ELSE 0 END",
    "coalesce(rate, -1)",
    "coalesce(area, -1)",
    "coalesce(coefficient, -1)",
    "coalesce(uncapped, -1)",
    "coalesce(cap, -1)",
    "coalesce(basis_id, -1)",
    "coalesce(recovery_id, -1)",
)
_PRIMES = ((1000003, 2147483647), (998244353, 2147483629))


def _line_hash(multiplier: int, modulus: int) -> str:
    """A polynomial hash of every field of a line, modulo a prime (integers stay below
    2⁶³ on both databases)."""
    expr = LINE_NUMBERS[0]
    for field in LINE_NUMBERS[1:]:
        expr = f"(({expr}) % {modulus} * {multiplier} + {field})"
    return f"({expr}) % {modulus}"


def checksum_of(run_id: int) -> str:
    """The run's fingerprint: SHA-256 of its lines' count, total, and the sums of two
    polynomial hashes of every field of every line (each line is one award and kind, so
    the set is the ordered list). Computed by the database in one pass: the same lines give
    the same checksum; a changed field of any line changes it."""
    sums = ", ".join(f"coalesce(sum({_line_hash(m, p)}), 0)" for m, p in _PRIMES)
    row = (
        db.session.connection()
        .execute(
            sa.text(
                f"SELECT count(*), coalesce(sum(amount), 0), {sums} "  # noqa: S608
                "FROM subsidy_payments WHERE run_id = :run"
            ),
            {"run": run_id},
        )
        .one()
    )
    return hashlib.sha256("|".join(str(int(v)) for v in row).encode()).hexdigest()


def _apply_recoveries(conn, run: SubsidyRun) -> int:
    """A RECOVERY line for each award with an open recovery and a payment this month: the
    oldest recovery's outstanding amount, at most the payment."""
    rows = conn.execute(
        sa.text(
            "SELECT r.id, r.award_id, r.amount - r.recovered, p.amount, p.channel, p.basis_id "
            "FROM subsidy_recoveries r JOIN subsidy_payments p "
            "ON p.award_id = r.award_id AND p.run_id = :run AND p.kind = 'payment' "
            "WHERE r.status = 'open' ORDER BY r.award_id, r.created_at, r.id"
        ),
        {"run": run.id},
    ).all()
    lines, seen = [], set()
    for recovery_id, award_id, outstanding, paid, channel, basis_id in rows:
        if award_id in seen or int(outstanding) <= 0:
            continue
        seen.add(award_id)
        lines.append(
            {
                "run": run.id,
                "month": run.month,
                "award": award_id,
                "basis": basis_id,
                "channel": channel,
                "amount": -min(int(outstanding), int(paid)),
                "recovery": recovery_id,
            }
        )
    if lines:
        conn.execute(
            _text(
                "INSERT INTO subsidy_payments (run_id, month, award_id, basis_id, kind, "
                "channel, amount, tier, recovery_id) VALUES (:run, :month, :award, :basis, "
                "'recovery', :channel, :amount, '', :recovery)"
            ),
            lines,
        )
    return len(lines)


_NEW = "subsidy_new_lines"
_CHANGED = "subsidy_changed_awards"
PAYMENT_COLUMNS = (
    "award_id, basis_id, channel, amount, tier, rate, area, coefficient, uncapped, cap"
)
_INSERT_PAYMENTS = (
    "INSERT INTO subsidy_payments (run_id, month, award_id, basis_id, kind, channel, "
    "amount, tier, rate, area, coefficient, uncapped, cap) "
    "SELECT CAST(:run AS BIGINT), :month, p.award_id, p.basis_id, 'payment', p.channel, "
    "p.amount, p.tier, p.rate, p.area, p.coefficient, p.uncapped, p.cap "
)


def _write_payments(conn, run: SubsidyRun, select: str, params: dict[str, Any]) -> None:
    """The first computation: every line in one INSERT … SELECT."""
    # in award order: each index grows at its end and the foreign keys are checked in
    # the order of their tables
    conn.execute(
        _text(f"{_INSERT_PAYMENTS} FROM ({select}) p WHERE p.amount > 0 ORDER BY p.award_id"),
        {"run": run.id, **params},
    )


def _rewrite_payments(conn, run: SubsidyRun, select: str, params: dict[str, Any]) -> None:
    """A computation again: the new lines are computed into a temporary table and compared
    with the stored ones; only the households whose line differs (kept in a second
    temporary table, see :func:`_changes`) are rewritten: none when nothing changed."""
    for table in (_NEW, _CHANGED):
        conn.execute(sa.text(f"DROP TABLE IF EXISTS {table}"))
    create = f"CREATE TEMPORARY TABLE {_NEW} AS SELECT p.* FROM ({select}) p"  # noqa: S608
    conn.execute(_text(f"{create} WHERE p.amount > 0"), params)
    old = f"SELECT {PAYMENT_COLUMNS} FROM subsidy_payments"  # noqa: S608
    old += " WHERE run_id = :run AND kind = 'payment'"
    new = f"SELECT {PAYMENT_COLUMNS} FROM {_NEW}"  # noqa: S608
    conn.execute(
        sa.text(
            f"CREATE TEMPORARY TABLE {_CHANGED} AS "  # noqa: S608
            f"SELECT award_id FROM ({old} EXCEPT {new}) d1 "
            f"UNION SELECT award_id FROM ({new} EXCEPT {old}) d2"
        ),
        {"run": run.id},
    )
    changed = f"SELECT award_id FROM {_CHANGED}"  # noqa: S608
    conn.execute(
        sa.text(
            "DELETE FROM subsidy_payments WHERE run_id = :run AND kind = 'payment' "  # noqa: S608
            f"AND award_id IN ({changed})"
        ),
        {"run": run.id},
    )
    conn.execute(
        _text(
            f"{_INSERT_PAYMENTS} FROM {_NEW} p WHERE p.award_id IN ({changed}) ORDER BY p.award_id"
        ),
        {"run": run.id, "month": run.month},
    )


def _changes(conn, recovered: set[int]) -> tuple[int, list[str]]:
    """The households whose lines changed (payments, and ``recovered``: those whose
    deduction changed): how many, and the first references. Drops the temporary tables."""
    known = set(conn.execute(sa.text(f"SELECT award_id FROM {_CHANGED}")).scalars())  # noqa: S608
    extra = [{"award": a} for a in sorted(recovered - known)]
    if extra:
        conn.execute(
            sa.text(f"INSERT INTO {_CHANGED} (award_id) VALUES (:award)"),  # noqa: S608
            extra,
        )
    count = len(known) + len(extra)
    refs = (
        conn.execute(
            sa.text(
                "SELECT a.reference FROM subsidy_awards a "  # noqa: S608
                f"WHERE a.id IN (SELECT award_id FROM {_CHANGED}) "
                f"ORDER BY a.id LIMIT {HISTORY_REFS}"
            )
        )
        .scalars()
        .all()
    )
    for table in (_NEW, _CHANGED):
        conn.execute(sa.text(f"DROP TABLE {table}"))
    return count, list(refs)


def _recovery_lines(conn, run_id: int) -> set[tuple]:
    return set(
        conn.execute(
            sa.text(
                "SELECT award_id, channel, amount, recovery_id FROM subsidy_payments "
                "WHERE run_id = :run AND kind = 'recovery'"
            ),
            {"run": run_id},
        ).all()
    )


def _expire_lines() -> None:
    """Lines written by SQL: objects of the session holding old rows are read again."""
    for obj in list(db.session.identity_map.values()):
        if isinstance(obj, SubsidyPayment):
            db.session.expire(obj)


def _require_staff(actor) -> None:
    if not isinstance(actor, User) or actor.role not in STAFF:
        raise Forbidden()


def _figures(run: SubsidyRun) -> dict[str, Any]:
    return {
        "households": run.households,
        "total": str(run.total),
        "recovered": str(run.recovered),
        "to_bank": str(run.to_bank),
        "to_rent": str(run.to_rent),
    }


def compute_month(month: date, actor: User) -> SubsidyRun:
    """Compute (or compute again) the run of ``month``: every payable household's line in
    one INSERT … SELECT, then the recoveries, the totals and the checksum; the history keeps
    each computation with what changed. Computed again (COMPUTED), the new lines are
    compared with the stored ones in the same transaction and only the households whose line
    differs are rewritten. A CLOSED month is refused, and so is a month out of order (only
    the month after the last closed one, and not later than the current month)."""
    _require_staff(actor)
    if not isinstance(month, date):
        raise ValidationFailed(_l("Choose the month."), field="month")
    month = month_of(month)
    run = db.session.scalars(
        sa.select(SubsidyRun)
        .where(SubsidyRun.month == month)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one_or_none()
    if run is not None and run.status is RunStatus.CLOSED:
        raise Conflict(
            _l(
                "%(month)s is closed and paid: it is never computed again. A late change to "
                "a household is recorded on its award, and an overpayment is recovered from "
                "later payments.",
                month=month_text(month),
            ),
            field="month",
        )
    _check_order(month)
    version = rule_version(month)
    values = version.values
    if run is None:
        run = SubsidyRun(month=month, status=RunStatus.COMPUTED, rule_version_id=version.id)
        try:
            with db.session.begin_nested():
                db.session.add(run)
                db.session.flush()
        except IntegrityError as exc:
            raise Conflict(
                _l("This month is being computed by someone else: reload the page.")
            ) from exc
    conn = db.session.connection()
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text(f"SET LOCAL work_mem = '{RUN_WORK_MEM}'"))
        # compiling the plan to machine code costs more than it saves for one statement
        conn.execute(sa.text("SET LOCAL jit = off"))
    previous = run.computations > 0
    before = _figures(run) if previous else None
    old_checksum = run.checksum
    select, params = payment_select(values, conn.dialect.name), payment_params(month, values)
    old_recoveries = _recovery_lines(conn, run.id) if previous else set()
    conn.execute(
        sa.text("DELETE FROM subsidy_payments WHERE run_id = :run AND kind = 'recovery'"),
        {"run": run.id},
    )
    if previous:
        _rewrite_payments(conn, run, select, params)
    else:
        _write_payments(conn, run, select, params)
    _apply_recoveries(conn, run)
    _expire_lines()
    totals = _totals(conn, run.id)
    checksum = checksum_of(run.id)
    change: dict[str, Any] = {}
    if previous:
        recovered = {line[0] for line in old_recoveries ^ _recovery_lines(conn, run.id)}
        count, refs = _changes(conn, recovered)
        change["unchanged"] = checksum == old_checksum
        change["before"] = before
        if not change["unchanged"]:
            change["changed_households"] = count
            change["changed_references"] = refs
    run.rule_version_id = version.id
    run.households = totals["households"]
    run.total = totals["total"]
    run.recovered = totals["recovered"]
    run.to_bank = totals["to_bank"]
    run.to_rent = totals["to_rent"]
    run.checksum = checksum
    run.computations += 1
    run.computed_at = utcnow()
    run.computed_by_id = actor.id
    _add_history(
        run,
        "computed",
        actor,
        run.computed_at,
        n=run.computations,
        rule_version=version.id,
        checksum=checksum,
        **_figures(run),
        **change,
    )
    db.session.flush()
    audit.record(
        "subsidy.compute",
        actor=actor,
        obj=run,
        month=month,
        computation=run.computations,
        rule_version=version.id,
        checksum=checksum,
        unchanged=change.get("unchanged"),
        **_figures(run),
    )
    return run


def _add_history(run: SubsidyRun, event: str, actor: User, at: datetime, **fields: Any) -> None:
    """An entry at the end of the run's history: the event, when, by whom (id, and the name
    shown), and ``fields``."""
    entry = {
        "event": event,
        "at": at.isoformat(),
        "by": actor.id,
        "by_name": actor.real_name or actor.username or "",
        **fields,
    }
    run.history_json = json.dumps([*run.history, entry], ensure_ascii=False)


def last_computation(run: SubsidyRun) -> dict[str, Any] | None:
    computed = [h for h in run.history if h.get("event") == "computed"]
    return computed[-1] if computed else None


def changes_since_computed(run: SubsidyRun) -> int:
    """Changes since the run was last computed that its lines may not reflect: awards
    changed, facts in force for its month recorded, recoveries of households it pays opened
    or settled. It must be computed again before closing (or the change would be lost: a
    closed month is never computed again)."""
    at = run.computed_at
    if at is None:
        return 1
    awards = db.session.scalar(
        sa.select(sa.func.count()).select_from(SubsidyAward).where(SubsidyAward.updated_at > at)
    )
    bases = db.session.scalar(
        sa.select(sa.func.count())
        .select_from(SubsidyBasis)
        .where(SubsidyBasis.recorded_at > at, SubsidyBasis.effective_month <= run.month)
    )
    paid = sa.select(SubsidyPayment.award_id).where(
        SubsidyPayment.run_id == run.id, SubsidyPayment.kind == LineKind.PAYMENT
    )
    recoveries = db.session.scalar(
        sa.select(sa.func.count())
        .select_from(SubsidyRecovery)
        .where(
            sa.or_(SubsidyRecovery.created_at > at, SubsidyRecovery.settled_at > at),
            SubsidyRecovery.award_id.in_(paid),
        )
    )
    return int(awards or 0) + int(bases or 0) + int(recoveries or 0)


def close_run(run: SubsidyRun, actor: User) -> SubsidyRun:
    """A manager other than the last one who computed it closes the run (SECURITY.md B4):
    it never changes again. Recoveries count what was deducted; a tenant's payment is
    offset against the rent on the rent ledger; the bank file may be made."""
    if not isinstance(actor, User) or actor.role is not Role.MANAGER:
        raise Forbidden()
    run = lock_row(SubsidyRun, run.id)
    if run.status is not RunStatus.COMPUTED:
        raise InvalidTransition(_l("This month is already closed."))
    if run.computed_by_id == actor.id:
        audit.record("subsidy.close", actor=actor, obj=run, result="denied", reason="same_actor")
        raise SameActor(
            _l("You computed this month last, so another manager must close it (four eyes)."),
            persist=True,
        )
    if changes_since_computed(run):
        raise Conflict(
            _l(
                "Facts, awards or recoveries changed after this month was computed: compute "
                "it again, then another manager closes it."
            )
        )
    for line in db.session.scalars(
        sa.select(SubsidyPayment)
        .where(SubsidyPayment.run_id == run.id, SubsidyPayment.kind == LineKind.RECOVERY)
        .order_by(SubsidyPayment.id)
    ):
        recovery = lock_row(SubsidyRecovery, line.recovery_id)
        if recovery.status is not RecoveryStatus.OPEN or -line.amount > recovery.outstanding:
            raise Conflict(
                _l(
                    "A recovery was repaid or waived after this month was computed: compute "
                    "it again, then another manager closes it."
                )
            )
        recovery.recovered = recovery.recovered - line.amount
        if recovery.outstanding <= 0:
            recovery.status = RecoveryStatus.SETTLED
            recovery.settled_at = utcnow()
    offsets = _rent_offsets(run, actor)
    run.status = RunStatus.CLOSED
    run.closed_at = utcnow()
    run.closed_by_id = actor.id
    _add_history(run, "closed", actor, run.closed_at, rent_offsets=offsets)
    db.session.flush()
    audit.record(
        "subsidy.close",
        actor=actor,
        obj=run,
        month=run.month,
        checksum=run.checksum,
        rent_offsets=offsets,
        **_figures(run),
    )
    return run


def _rent_offsets(run: SubsidyRun, actor: User) -> int:
    """Each tenant's net subsidy of the month is paid into the rent ledger."""
    nets = dict(
        db.session.execute(
            sa.select(SubsidyPayment.award_id, sa.func.sum(SubsidyPayment.amount))
            .where(SubsidyPayment.run_id == run.id, SubsidyPayment.channel == Channel.RENT)
            .group_by(SubsidyPayment.award_id)
        ).all()
    )
    if not nets:
        return 0
    from portal.tenancy import rent

    count = 0
    lines = db.session.execute(
        sa.select(SubsidyPayment, SubsidyAward)
        .join(SubsidyAward, SubsidyAward.id == SubsidyPayment.award_id)
        .where(
            SubsidyPayment.run_id == run.id,
            SubsidyPayment.channel == Channel.RENT,
            SubsidyPayment.kind == LineKind.PAYMENT,
        )
        .order_by(SubsidyPayment.award_id)
    ).all()
    for line, award in lines:
        net = nets.get(award.id)
        if net is None or net <= 0 or award.lease_id is None:
            continue
        lease = db.session.get(Lease, award.lease_id)
        rent.record_subsidy_offset(
            lease, amount=net, month=run.month, subsidy_payment_id=line.id, actor=actor
        )
        count += 1
    return count


# --- reconciliation ------------------------------------------------------------------------


@dataclass(frozen=True)
class Check:
    code: str
    stored: Decimal
    counted: Decimal

    @property
    def ok(self) -> bool:
        return self.stored == self.counted


@dataclass(frozen=True)
class Reconciliation:
    figures: list[tuple[str, str, int, Decimal]]  # kind, channel, lines, sum
    checks: list[Check]
    bank_rows: int
    bank_total: Decimal

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)


CHECKS = {
    "payments": _l("Payment lines add up to the month's total"),
    "recoveries": _l("Recovery lines add up to the amount recovered"),
    "bank": _l("Lines paid to banks add up to the amount to the banks"),
    "rent": _l("Lines offset against rent add up to the amount to the rent ledger"),
    "split": _l("To the banks plus to the rent ledger = total minus recovered"),
    "bank_file": _l("The bank file adds up to the amount to the banks"),
    "households": _l("One payment line per household paid"),
}


def bank_file_totals(run_id: int, district_ids: list[int] | None = None) -> tuple[int, Decimal]:
    """Rows and total of the bank file: one row per award paid to a bank, its net amount."""
    where = "p.run_id = :run AND p.channel = 'bank'"
    params: dict[str, Any] = {"run": run_id}
    join = ""
    if district_ids is not None:
        join = " JOIN subsidy_awards a ON a.id = p.award_id"
        where += " AND a.district_id IN :districts"
        params["districts"] = list(district_ids)
    stmt = sa.text(
        "SELECT count(*), coalesce(sum(net), 0) FROM ("  # noqa: S608
        f"SELECT sum(p.amount) AS net FROM subsidy_payments p{join} WHERE {where} "
        "GROUP BY p.award_id HAVING sum(p.amount) > 0) t"
    )
    if district_ids is not None:
        stmt = stmt.bindparams(sa.bindparam("districts", expanding=True))
    rows, total = db.session.connection().execute(stmt, params).one()
    return int(rows), _money_of(int(total))


def reconcile(run: SubsidyRun) -> Reconciliation:
    """The run's stored totals against independent sums of its lines, to the fen."""
    rows = (
        db.session.connection()
        .execute(
            sa.text(
                "SELECT kind, channel, count(*), coalesce(sum(amount), 0) FROM subsidy_payments "
                "WHERE run_id = :run GROUP BY kind, channel ORDER BY kind, channel"
            ),
            {"run": run.id},
        )
        .all()
    )
    figures = [(k, c, int(n), _money_of(int(s))) for k, c, n, s in rows]

    def total(kind=None, channel=None) -> Decimal:
        return sum(
            (s for k, c, _, s in figures if kind in (None, k) and channel in (None, c)),
            Decimal("0.00"),
        )

    lines = sum(n for k, _, n, _ in figures if k == LineKind.PAYMENT.value)
    bank_rows, bank_total = bank_file_totals(run.id)
    checks = [
        Check("payments", run.total, total(LineKind.PAYMENT.value)),
        Check("recoveries", run.recovered, -total(LineKind.RECOVERY.value)),
        Check("bank", run.to_bank, total(channel=Channel.BANK.value)),
        Check("rent", run.to_rent, total(channel=Channel.RENT.value)),
        Check("split", run.total - run.recovered, run.to_bank + run.to_rent),
        Check("bank_file", run.to_bank, bank_total),
        Check("households", Decimal(run.households), Decimal(lines)),
    ]
    return Reconciliation(figures, checks, bank_rows, bank_total)


# --- lists ---------------------------------------------------------------------------------


@dataclass
class LineFilter:
    district_id: int | None = None
    tier: str | None = None
    channel: Channel | None = None
    kind: LineKind | None = None


def lines_page(
    run: SubsidyRun, user: User, wanted: LineFilter, *, after: int | None = None, limit: int = PAGE
) -> tuple[list[tuple[SubsidyPayment, SubsidyAward]], int | None]:
    """A page of the run's lines in the user's scope (officers: their districts), by line."""
    stmt = (
        sa.select(SubsidyPayment, SubsidyAward)
        .join(SubsidyAward, SubsidyAward.id == SubsidyPayment.award_id)
        .where(SubsidyPayment.run_id == run.id, award_scope(user))
        .order_by(SubsidyPayment.id)
        .limit(limit + 1)
    )
    if wanted.district_id:
        stmt = stmt.where(SubsidyAward.district_id == wanted.district_id)
    if wanted.tier:
        stmt = stmt.where(SubsidyPayment.tier == wanted.tier)
    if wanted.channel:
        stmt = stmt.where(SubsidyPayment.channel == wanted.channel)
    if wanted.kind:
        stmt = stmt.where(SubsidyPayment.kind == wanted.kind)
    if after:
        stmt = stmt.where(SubsidyPayment.id > after)
    rows = [tuple(r) for r in db.session.execute(stmt).all()]
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, (rows[-1][0].id if more and rows else None)


@dataclass
class AwardFilter:
    status: AwardStatus | None = None
    basis: AwardBasis | None = None
    district_id: int | None = None
    q: str = ""


def awards_page(
    user: User, wanted: AwardFilter, *, before: int | None = None, limit: int = PAGE
) -> tuple[list[SubsidyAward], int | None]:
    """Awards in the user's scope, the newest first, with filters; ``q`` finds an award or
    application reference."""
    stmt = (
        sa.select(SubsidyAward)
        .where(award_scope(user))
        .order_by(SubsidyAward.id.desc())
        .limit(limit + 1)
        .options(selectinload(SubsidyAward.application), selectinload(SubsidyAward.district))
    )
    if wanted.status:
        stmt = stmt.where(SubsidyAward.status == wanted.status)
    if wanted.basis:
        stmt = stmt.where(SubsidyAward.basis == wanted.basis)
    if wanted.district_id:
        stmt = stmt.where(SubsidyAward.district_id == wanted.district_id)
    q = (wanted.q or "").strip().upper()[:40]
    if q:
        apps = sa.select(Application.id).where(Application.reference == q)
        stmt = stmt.where(
            sa.or_(SubsidyAward.reference == q, SubsidyAward.application_id.in_(apps))
        )
    if before:
        stmt = stmt.where(SubsidyAward.id < before)
    rows = list(db.session.scalars(stmt))
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, (rows[-1].id if more and rows else None)


@dataclass
class LedgerMonth:
    month: date
    payment: SubsidyPayment | None
    recovery: SubsidyPayment | None
    run: SubsidyRun

    @property
    def net(self) -> Decimal:
        return sum(
            (line.amount for line in (self.payment, self.recovery) if line is not None),
            Decimal("0.00"),
        )

    @property
    def closed(self) -> bool:
        return self.run.status is RunStatus.CLOSED


def ledger_of(award: SubsidyAward) -> list[LedgerMonth]:
    """The award's ledger by month, the latest first: payment, recovery and net."""
    months: dict[date, LedgerMonth] = {}
    rows = db.session.execute(
        sa.select(SubsidyPayment, SubsidyRun)
        .join(SubsidyRun, SubsidyRun.id == SubsidyPayment.run_id)
        .where(SubsidyPayment.award_id == award.id)
        .order_by(SubsidyPayment.month.desc(), SubsidyPayment.kind)
    ).all()
    for line, run in rows:
        item = months.setdefault(line.month, LedgerMonth(line.month, None, None, run))
        if line.kind is LineKind.PAYMENT:
            item.payment = line
        else:
            item.recovery = line
    return list(months.values())


def explain_line(award: SubsidyAward, line: SubsidyPayment) -> rules.Computation | None:
    """A stored payment line's computation again (its basis, its cap, its run's rules),
    for the explanation: the same figures as the line."""
    if line.basis_id is None:
        return None
    basis = db.session.get(SubsidyBasis, line.basis_id)
    run = db.session.get(SubsidyRun, line.run_id)
    values = db.session.get(RuleVersion, run.rule_version_id).values
    return rules.compute(inputs_of(award, basis, cap=line.cap), values)


def this_month(award: SubsidyAward) -> tuple[rules.Computation | None, SubsidyPayment | None]:
    """This month's amount: the run's line if the month is computed, else the computation."""
    month = month_of(today())
    line = db.session.scalars(
        sa.select(SubsidyPayment).where(
            SubsidyPayment.award_id == award.id,
            SubsidyPayment.month == month,
            SubsidyPayment.kind == LineKind.PAYMENT,
        )
    ).first()
    if line is not None:
        return explain_line(award, line), line
    run = run_of(month)
    if run is not None and run.status is RunStatus.CLOSED:
        return None, None  # the month is closed and this award was not paid in it
    if not is_payable(award, month):
        return None, None
    return amount_for(award, month), None


def outstanding_of(award: SubsidyAward) -> Decimal:
    return sum(
        (r.outstanding for r in recoveries_of(award) if r.status is RecoveryStatus.OPEN),
        Decimal("0.00"),
    )


def request_bank_file(run: SubsidyRun, user: User, fmt: str, locale: str):
    """Ask for the bank file of a closed run through the exports module (its owner builds
    and downloads it; an officer's holds the households of their districts)."""
    from portal.exports.services import request_export

    if user.role not in STAFF:
        raise Forbidden()
    if run.status is not RunStatus.CLOSED:
        raise InvalidTransition(
            _l("The bank file is made once the month is closed."), field="format"
        )
    export = request_export(user, "subsidy_bank_file", fmt, locale, params={"run_id": run.id})
    audit.record("subsidy.bank_file", actor=user, obj=run, export=export.id, format=fmt)
    return export


def request_ledger_export(run: SubsidyRun, user: User, fmt: str, locale: str):
    """Ask for the run's lines (the ledger of the month) as a spreadsheet."""
    from portal.exports.services import request_export

    if user.role not in STAFF:
        raise Forbidden()
    return request_export(user, "subsidy_ledger", fmt, locale, params={"run_id": run.id})
