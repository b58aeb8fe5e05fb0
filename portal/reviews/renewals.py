"""Lease renewals (RULES.md "Allocation": renewal asked 3 months before expiry).

The daily job ``renewals.ask_due`` asks every tenant ``renewal_ask_months`` before the lease
ends (a ``LeaseRenewal`` ASKED, the tenant told). The tenant answers on /my/review:

- renew: REVIEWING, with a RENEWAL review (``portal.reviews.services.open_review``; an
  annual review already open serves). Its decision CONTINUE, ADJUST_SUBSIDY or MARKET_RENT
  extends ``Lease.ends_on`` by the lease term (waiting-list rule ``lease_years``): RENEWED;
  EXIT: REFUSED and an exit case (reason REFUSED_RENEWAL).
- not renew: DECLINED and an exit case (REFUSED_RENEWAL).

No answer by the day the lease ends: LAPSED and an exit case (REFUSED_RENEWAL), by the same
daily job.
"""

from __future__ import annotations

import logging
from datetime import date, timedelta

import sqlalchemy as sa

from portal.accounts.models import User
from portal.applications.models import Application
from portal.applications.services import tell_applicant
from portal.core import audit
from portal.core.clock import today, utcnow
from portal.core.errors import Forbidden, InvalidTransition
from portal.core.i18n import in_locale_of
from portal.core.i18n import lazy_gettext as _l
from portal.core.scope import lock_row
from portal.core.settings import current_version
from portal.extensions import db
from portal.reviews import services
from portal.reviews.models import LeaseRenewal, RenewalStatus, Review, ReviewKind
from portal.tenancy.models import ExitCase, ExitReason, Lease, LeaseStatus
from portal.tenancy.services import add_years
from portal.waitlist.services import add_months

log = logging.getLogger(__name__)

WAITING = (RenewalStatus.ASKED, RenewalStatus.REVIEWING)


def _lock(renewal: LeaseRenewal) -> LeaseRenewal:
    return lock_row(LeaseRenewal, renewal.id)


def lease_years(on: date | None = None) -> int:
    """The lease term a renewal adds (waiting-list rule set, ``lease_years``)."""
    return int(current_version("waitlist", on).values["lease_years"])


# --- scope ---------------------------------------------------------------------------------


def renewal_scope(user: User) -> sa.ColumnElement[bool]:
    """Renewals a staff member may see: officers their districts' households', managers
    all."""
    from portal.accounts.roles import Role
    from portal.core.scope import officer_district_ids

    if user.role is Role.MANAGER:
        return sa.true()
    districts = officer_district_ids(user)
    if not districts:
        return sa.false()
    return LeaseRenewal.lease_id.in_(
        sa.select(Lease.id)
        .join(Application, Application.id == Lease.application_id)
        .where(Application.district_id.in_(districts))
    )


def renewals(user: User, *, waiting_only: bool = True, limit: int = 500) -> list[LeaseRenewal]:
    """The renewals in scope: those still waiting (asked or under review) by the lease's
    end, the earliest first; or all, the newest first."""
    query = sa.select(LeaseRenewal).where(renewal_scope(user))
    if waiting_only:
        query = query.where(LeaseRenewal.status.in_(WAITING)).order_by(
            LeaseRenewal.old_ends_on, LeaseRenewal.id
        )
    else:
        query = query.order_by(LeaseRenewal.id.desc())
    return list(db.session.scalars(query.limit(limit)))


def renewal_of_resident(user: User) -> LeaseRenewal | None:
    """The latest renewal of the resident's lease in force (as tenant or applicant)."""
    household = services.household_of(user)
    if household is None or household.lease is None:
        return None
    return db.session.scalars(
        sa.select(LeaseRenewal)
        .where(LeaseRenewal.lease_id == household.lease.id)
        .order_by(LeaseRenewal.id.desc())
        .limit(1)
    ).first()


def waiting_on(review: Review) -> LeaseRenewal | None:
    """The renewal under review that this review decides, if any."""
    return db.session.scalars(
        sa.select(LeaseRenewal).where(
            LeaseRenewal.review_id == review.id, LeaseRenewal.status == RenewalStatus.REVIEWING
        )
    ).first()


def can_answer(renewal: LeaseRenewal, on: date | None = None) -> bool:
    """Asked, and the lease has not ended yet (``answer_by`` is the day asked for; an
    answer after it is still taken until the lease ends)."""
    lease = db.session.get(Lease, renewal.lease_id)
    return (
        renewal.status is RenewalStatus.ASKED
        and lease.status is LeaseStatus.ACTIVE
        and (on or today()) < renewal.old_ends_on
    )


# --- asking --------------------------------------------------------------------------------


def _open_exit(lease: Lease) -> bool:
    return (
        db.session.scalar(
            sa.select(ExitCase.id).where(
                ExitCase.lease_id == lease.id, ExitCase.status.in_(services.OPEN_EXIT_STATUSES)
            )
        )
        is not None
    )


def ask(lease: Lease, on: date | None = None) -> LeaseRenewal:
    """Ask the tenant whether they renew the lease (once per end date) and tell them."""
    on = on or today()
    existing = db.session.scalars(
        sa.select(LeaseRenewal).where(
            LeaseRenewal.lease_id == lease.id, LeaseRenewal.old_ends_on == lease.ends_on
        )
    ).first()
    if existing is not None:
        return existing
    values = services.tenancy_values(on)
    answer_by = min(
        on + timedelta(days=int(values["renewal_answer_days"])), lease.ends_on - timedelta(days=1)
    )
    renewal = LeaseRenewal(
        lease_id=lease.id,
        old_ends_on=lease.ends_on,
        status=RenewalStatus.ASKED,
        asked_on=on,
        answer_by=max(answer_by, on),
    )
    db.session.add(renewal)
    db.session.flush()
    audit.record(
        "renewal.ask",
        actor=services.SYSTEM,
        obj=renewal,
        lease=lease.reference,
        ends_on=lease.ends_on,
        answer_by=renewal.answer_by,
    )
    app = lease.application
    tell_applicant(
        app,
        "renewal_asked",
        {"lease": lease.reference, "ends_on": lease.ends_on, "answer_by": renewal.answer_by},
        link="/my/review",
    )
    return renewal


def due_for_asking(on: date, limit: int) -> list[int]:
    """Active leases ending within ``renewal_ask_months`` not asked yet for that end date,
    and not in an exit."""
    horizon = add_months(on, int(services.tenancy_values(on)["renewal_ask_months"]))
    asked = sa.exists().where(
        LeaseRenewal.lease_id == Lease.id, LeaseRenewal.old_ends_on == Lease.ends_on
    )
    open_exit = sa.exists().where(
        ExitCase.lease_id == Lease.id, ExitCase.status.in_(services.OPEN_EXIT_STATUSES)
    )
    return list(
        db.session.scalars(
            sa.select(Lease.id)
            .where(
                Lease.status == LeaseStatus.ACTIVE,
                Lease.ends_on <= horizon,
                Lease.ends_on > on,
                ~asked,
                ~open_exit,
            )
            .order_by(Lease.ends_on, Lease.id)
            .limit(limit)
        )
    )


def ask_due(on: date | None = None, limit: int = services.BATCH) -> dict[str, int]:
    """The daily job: ask the tenants whose lease ends within ``renewal_ask_months``, and
    close unanswered renewals whose lease has reached its end (LAPSED, exit case). At most
    ``limit`` of each per run; one failure does not stop the others."""
    on = on or today()
    counts = {"asked": 0, "lapsed": 0, "failed": 0}
    for lease_id in due_for_asking(on, limit):
        try:
            with db.session.begin_nested():
                ask(db.session.get(Lease, lease_id), on)
            counts["asked"] += 1
        except Exception:
            log.exception("asking about the renewal of lease %s failed", lease_id)
            counts["failed"] += 1
    ids = db.session.scalars(
        sa.select(LeaseRenewal.id)
        .where(LeaseRenewal.status == RenewalStatus.ASKED, LeaseRenewal.old_ends_on <= on)
        .order_by(LeaseRenewal.old_ends_on, LeaseRenewal.id)
        .limit(limit)
    ).all()
    for renewal_id in ids:
        try:
            with db.session.begin_nested():
                lapse(db.session.get(LeaseRenewal, renewal_id))
            counts["lapsed"] += 1
        except Exception:
            log.exception("closing the unanswered renewal %s failed", renewal_id)
            counts["failed"] += 1
    return counts


# --- the tenant's answer -------------------------------------------------------------------


def _exit_case(lease: Lease, actor, facts: str, review: Review | None = None):
    from portal.tenancy.exits import open_case

    return open_case(lease, ExitReason.REFUSED_RENEWAL, actor, facts=facts, review=review)


def _facts(text) -> str:
    """A lazily translated text, made in the city's language (stored on the exit case)."""
    return in_locale_of(None, lambda: str(text))


def answer(renewal: LeaseRenewal, resident: User, *, renew: bool) -> LeaseRenewal:
    """The tenant answers: renew (REVIEWING, a renewal review opens) or not (DECLINED, an
    exit case with the lease's end as the day to move out)."""
    renewal = _lock(renewal)
    lease = db.session.get(Lease, renewal.lease_id)
    app = lease.application
    if resident.id not in (lease.tenant_id, app.applicant_id):
        raise Forbidden()
    if renewal.status is not RenewalStatus.ASKED:
        raise InvalidTransition(_l("Your answer about the renewal has already been given."))
    if not can_answer(renewal):
        raise InvalidTransition(_l("The lease has ended; the renewal can no longer be answered."))
    renewal.answered_at = utcnow()
    if renew:
        review = services.open_review(
            app,
            ReviewKind.RENEWAL,
            resident,
            lease=lease,
            award=services.award_of(app),
            due_on=renewal.old_ends_on,
        )
        renewal.status = RenewalStatus.REVIEWING
        renewal.review_id = review.id
        db.session.flush()
        audit.record(
            "renewal.answer", actor=resident, obj=renewal, renew=True, review=review.reference
        )
        return renewal
    renewal.status = RenewalStatus.DECLINED
    renewal.decided_at = utcnow()
    db.session.flush()
    case = _exit_case(
        lease,
        resident,
        _facts(
            _l(
                "The tenant does not renew lease %(lease)s, which ends on %(date)s.",
                lease=lease.reference,
                date=lease.ends_on.isoformat(),
            )
        ),
    )
    audit.record(
        "renewal.answer", actor=resident, obj=renewal, renew=False, exit_case=case.reference
    )
    return renewal


def lapse(renewal: LeaseRenewal) -> LeaseRenewal:
    """No answer by the lease's end: LAPSED, and an exit case."""
    renewal = _lock(renewal)
    if renewal.status is not RenewalStatus.ASKED:
        return renewal
    lease = db.session.get(Lease, renewal.lease_id)
    renewal.status = RenewalStatus.LAPSED
    renewal.decided_at = utcnow()
    db.session.flush()
    case_ref = None
    if lease.status is LeaseStatus.ACTIVE:
        case = _exit_case(
            lease,
            services.SYSTEM,
            _facts(
                _l(
                    "The tenant did not answer whether to renew lease %(lease)s, which ended "
                    "on %(date)s.",
                    lease=lease.reference,
                    date=lease.ends_on.isoformat(),
                )
            ),
        )
        case_ref = case.reference
    audit.record("renewal.lapsed", actor=services.SYSTEM, obj=renewal, exit_case=case_ref)
    return renewal


# --- the review's decision (called by services.decide) -------------------------------------


def renew(renewal: LeaseRenewal, actor, review: Review) -> date:
    """The review allows the household to stay: the lease runs a further term."""
    renewal = _lock(renewal)
    lease = lock_row(Lease, renewal.lease_id)
    years = lease_years()
    new_end = add_years(renewal.old_ends_on, years)
    before = lease.ends_on
    lease.ends_on = new_end
    renewal.new_ends_on = new_end
    renewal.status = RenewalStatus.RENEWED
    renewal.decided_at = utcnow()
    db.session.flush()
    audit.record(
        "lease.renew",
        actor=actor,
        obj=lease,
        review=review.reference,
        before=before,
        after=new_end,
        years=years,
    )
    return new_end


def refuse(renewal: LeaseRenewal, actor, review: Review) -> None:
    """The review ends in an exit: the renewal is refused (the exit case is the review's)."""
    renewal = _lock(renewal)
    renewal.status = RenewalStatus.REFUSED
    renewal.decided_at = utcnow()
    db.session.flush()
    audit.record("renewal.refused", actor=actor, obj=renewal, review=review.reference)
