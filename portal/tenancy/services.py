"""Leases: creating one when a household takes a unit, ending one, finding a person's.

A unit has at most one active lease and a household at most one (SECURITY.md F1). The
services take the unit's row lock before writing, and the database's partial unique indexes
(``uq_leases_active_unit``, ``uq_leases_active_application``) are the last word: a second
active lease for the same unit fails there even if every check before it was fooled, and
becomes :class:`~portal.core.errors.UnitTaken`.
"""

from __future__ import annotations

import secrets
from datetime import date

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from portal.accounts.models import User
from portal.accounts.roles import Role
from portal.applications.models import Application, HouseholdMember, PersonClaim
from portal.core import audit
from portal.core.clock import today, utcnow
from portal.core.errors import (
    Conflict,
    DuplicateApplication,
    InvalidTransition,
    UnitTaken,
    ValidationFailed,
)
from portal.core.i18n import lazy_gettext as _l
from portal.core.identifiers import mask_id_number
from portal.core.scope import lock_row
from portal.extensions import db
from portal.housing import services as housing
from portal.housing.models import Unit, UnitStatus
from portal.tenancy import rent
from portal.tenancy.models import Lease, LeaseStatus

MIN_YEARS = 1
MAX_YEARS = 5  # RULES.md: 3 years by default, at most 5
TENANCY = "tenancy"  # PersonClaim.kind of a person held by a lease


def add_years(day: date, years: int) -> date:
    """The same calendar day ``years`` later; 29 February becomes 28 February."""
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return day.replace(year=day.year + years, day=28)


def _lock_lease(lease: Lease) -> Lease:
    return lock_row(Lease, lease.id)


def _active_on_unit(unit_id: int) -> bool:
    return (
        db.session.scalar(
            sa.select(Lease.id).where(Lease.unit_id == unit_id, Lease.status == LeaseStatus.ACTIVE)
        )
        is not None
    )


def _hold_household(app: Application) -> None:
    """Every member of the household is held by the tenancy from now (one active case per
    person): the application's claims change kind, a member without a claim gets one."""
    db.session.execute(
        sa.update(PersonClaim)
        .where(PersonClaim.application_id == app.id)
        .values(kind=TENANCY)
        .execution_options(synchronize_session=False)
    )
    held = set(
        db.session.scalars(
            sa.select(PersonClaim.id_index).where(PersonClaim.application_id == app.id)
        )
    )
    for member in app.members:
        if member.id_index in held:
            continue
        other = db.session.get(PersonClaim, member.id_index)
        if other is not None:
            raise DuplicateApplication(
                _l(
                    "%(member)s is already in another active application or tenancy.",
                    member=mask_id_number(member.id_number),
                )
            )
        db.session.add(PersonClaim(id_index=member.id_index, application_id=app.id, kind=TENANCY))
    db.session.flush()


def create_lease(
    *,
    unit: Unit,
    application: Application,
    tenant: User,
    actor,
    starts_on: date,
    years: int,
    round=None,
) -> Lease:
    """A lease of ``unit`` to ``application``'s household, ``tenant`` signing, from
    ``starts_on`` for ``years`` years at the unit's rent. The unit becomes let.

    Raises UnitTaken when the unit already has an active lease (or is let), Conflict when
    the household already has one."""
    if not MIN_YEARS <= years <= MAX_YEARS:
        raise ValidationFailed(
            _l("A lease runs for %(min)d to %(max)d years.", min=MIN_YEARS, max=MAX_YEARS),
            field="years",
        )
    unit = housing.lock_unit(unit.id)
    if unit.status is UnitStatus.OCCUPIED:
        raise UnitTaken()
    if unit.status not in (UnitStatus.IN_ROUND, UnitStatus.VACANT):
        raise InvalidTransition(_l("This unit cannot be let in its current state."))
    values = rent.rule_values(starts_on)
    lease = Lease(
        # a unique placeholder until the row has its id (the reference is made from it)
        reference=f"new-{secrets.token_hex(8)}",
        unit_id=unit.id,
        application_id=application.id,
        tenant_id=tenant.id,
        round_id=getattr(round, "id", None),
        starts_on=starts_on,
        ends_on=add_years(starts_on, years),
        monthly_rent=unit.rent,
        deposit=rent.yuan(unit.rent * rent.number(values, "deposit_months")),
        next_review_on=rent.add_months(starts_on, int(values["review_every_months"])),
        status=LeaseStatus.ACTIVE,
        created_by_id=getattr(actor, "id", None),
    )
    try:
        with db.session.begin_nested():
            db.session.add(lease)
            db.session.flush()
    except IntegrityError as exc:
        if _active_on_unit(unit.id):
            raise UnitTaken() from exc
        raise Conflict(_l("This household already has a lease in force.")) from exc
    lease.reference = f"L{utcnow().year}{lease.id:06d}"
    housing.let_unit(unit, actor)
    _hold_household(application)
    db.session.flush()
    # the first month's rent (counted from the start day); the daily job makes the rest
    rent.ensure_charges(lease, starts_on)
    audit.record(
        "lease.create",
        actor=actor,
        obj=lease,
        reference=lease.reference,
        unit=unit.id,
        application=application.reference,
        starts_on=lease.starts_on,
        ends_on=lease.ends_on,
        monthly_rent=lease.monthly_rent,
        deposit=lease.deposit,
        next_review_on=lease.next_review_on,
        round=lease.round_id,
        rule_version=rent.current_version(rent.RULES, starts_on).id,
    )
    return lease


def end_lease(lease: Lease, actor, on: date | None = None) -> Lease:
    """End an active lease on ``on``: the unit falls vacant that day, the household's
    members are free for another application and its subsidy award ends from the next
    month. (An exit case's check-out calls this; the rent ledger is settled there.)"""
    lease = _lock_lease(lease)
    if lease.status is not LeaseStatus.ACTIVE:
        raise InvalidTransition(_l("This lease has already ended."))
    on = on or today()
    if on < lease.starts_on:
        raise ValidationFailed(
            _l("A lease cannot end before it starts."),
            field="on",
        )
    lease.status = LeaseStatus.ENDED
    lease.ended_on = on
    db.session.flush()
    housing.vacate_unit(housing.lock_unit(lease.unit_id), actor, on)
    db.session.execute(
        sa.delete(PersonClaim).where(
            PersonClaim.application_id == lease.application_id, PersonClaim.kind == TENANCY
        ),
        execution_options={"synchronize_session": False},
    )
    audit.record("lease.end", actor=actor, obj=lease, reference=lease.reference, ended_on=on)
    _end_subsidy(lease, actor, on)
    db.session.flush()
    return lease


def _end_subsidy(lease: Lease, actor, on: date) -> None:
    """The household's subsidy award (an assistance household's rent offset) ends from the
    month after the lease ends, or after the last closed subsidy month if that is later
    (a closed month stands; an overpayment there is the subsidy's own late change)."""
    from portal.subsidy import services as subsidy
    from portal.subsidy.models import AwardStatus

    award = subsidy.award_of(lease.application)
    if award is None or award.status is AwardStatus.ENDED:
        return
    from_month = rent.add_months(rent.month_of(on), 1)
    last = subsidy.last_closed_month()
    if last is not None and from_month <= last:
        from_month = rent.add_months(last, 1)
    subsidy.end_award(award, actor, from_month=from_month, reason="checked_out")


def lease_for(user: User) -> Lease | None:
    """The active lease of the household ``user`` belongs to (as tenant or member)."""
    if user.role is not Role.RESIDENT:
        return None
    member_of = sa.select(HouseholdMember.application_id).where(
        HouseholdMember.id_index == user.id_number_index
    )
    return db.session.scalars(
        sa.select(Lease)
        .where(
            Lease.status == LeaseStatus.ACTIVE,
            sa.or_(Lease.tenant_id == user.id, Lease.application_id.in_(member_of)),
        )
        .order_by(Lease.id.desc())
        .limit(1)
    ).first()
