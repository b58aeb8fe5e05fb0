"""Annual reviews (年度复核) and reviews of a reported change (RULES.md "Annual review and
exit").

A review checks a household again against the departments' data, with the same rules as
an application (``portal.applications.rules.evaluate``), and ends in an officer's decision:

1. ``open_review`` (the daily job ``reviews.open_due`` ahead of ``Lease.next_review_on`` or
   ``SubsidyAward.valid_until``; a resident's change report; a tenant who wants to renew):
   one open review per household (the partial unique index ``uq_reviews_open_application``),
   the household is told and may answer until ``answer_by``, the department checks are
   queued (job ``reviews.run_checks``).
2. ``run_checks``: fresh department facts (``portal.waitlist.services.fresh_facts``); a
   department that does not answer leaves the review OPEN, asked again by the daily job.
   With the facts: the evaluation, the rule version, and the proposed outcome
   (``propose``): CONTINUE, ADJUST_SUBSIDY, MARKET_RENT or EXIT. The review awaits the
   officer's DECISION.
3. ``decide``: an officer of the household's district, with a reason (required when the
   outcome differs from the proposal), once the household has answered or its time to
   answer has passed. The outcome is applied through the subsidy and tenancy services
   (``portal.subsidy.services``, ``portal.tenancy.rent``, ``portal.tenancy.exits``) and a
   renewal waiting on the review is settled (``portal.reviews.renewals``).
"""

from __future__ import annotations

import json
import logging
import secrets
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from portal.accounts.models import User
from portal.accounts.roles import Role
from portal.applications import rules as eligibility
from portal.applications.models import Application
from portal.applications.services import active_bans, tell_applicant
from portal.core import audit
from portal.core.clock import today, utcnow
from portal.core.errors import Forbidden, InvalidTransition, ValidationFailed
from portal.core.i18n import in_locale_of
from portal.core.i18n import lazy_gettext as _l
from portal.core.scope import lock_row, officer_district_ids
from portal.core.settings import current_version
from portal.extensions import db
from portal.reviews.models import (
    LeaseRenewal,
    RenewalStatus,
    Review,
    ReviewKind,
    ReviewOutcome,
    ReviewStatus,
)
from portal.subsidy.models import AwardBasis, AwardStatus, SubsidyAward
from portal.tenancy.models import ExitCase, ExitReason, ExitStatus, Lease, LeaseStatus
from portal.waitlist.services import add_months

log = logging.getLogger(__name__)

OPEN_STATUSES = (ReviewStatus.OPEN, ReviewStatus.DECISION)
REASON_MIN = 4
REASON_MAX = 2000
ANSWER_MIN = 10
ANSWER_MAX = 2000
BATCH = 2000  # reviews opened or checked again per daily run at most; the rest the next day
PAGE = 50
SYSTEM = "system:scheduler"
OPEN_EXIT_STATUSES = (ExitStatus.MOVING, ExitStatus.OVERDUE, ExitStatus.CHECKED_OUT)
# the award states an annual review renews (a suspended or ended award is not reviewed)
REVIEWED_AWARDS = (AwardStatus.ACTIVE, AwardStatus.LAPSED, AwardStatus.DETAILS)


class ChangeKind:
    """What a resident reports (RULES.md: a change of income or household)."""

    INCOME = "income"
    HOUSEHOLD = "household"
    OTHER = "other"
    ALL = (INCOME, HOUSEHOLD, OTHER)


CHANGE_TITLES = {
    ChangeKind.INCOME: _l("Income changed"),
    ChangeKind.HOUSEHOLD: _l("The household changed (a member joined or left)"),
    ChangeKind.OTHER: _l("Something else changed (e.g. housing obtained)"),
}


# --- rules and small helpers ---------------------------------------------------------------


def tenancy_values(on: date | None = None) -> dict[str, Any]:
    """The ``tenancy`` rule set in force (review and renewal numbers)."""
    return current_version("tenancy", on).values


def first_of_next_month(day: date) -> date:
    return add_months(day.replace(day=1), 1)


def _lock(review: Review) -> Review:
    return lock_row(Review, review.id)


def award_of(app: Application) -> SubsidyAward | None:
    """The household's subsidy award, if it has one (one per application)."""
    return db.session.scalars(
        sa.select(SubsidyAward).where(SubsidyAward.application_id == app.id)
    ).one_or_none()


def active_lease_of(app: Application) -> Lease | None:
    return db.session.scalars(
        sa.select(Lease).where(Lease.application_id == app.id, Lease.status == LeaseStatus.ACTIVE)
    ).first()


def open_review_of(app: Application) -> Review | None:
    return db.session.scalars(
        sa.select(Review).where(Review.application_id == app.id, Review.status.in_(OPEN_STATUSES))
    ).first()


def is_overdue(review: Review, on: date | None = None) -> bool:
    return review.status in OPEN_STATUSES and review.due_on < (on or today())


def documents_of(review: Review) -> list[int]:
    """Upload ids of the documents the household sent with its answer or change report."""
    return [int(i) for i in review.proposal.get("documents", [])]


def _set_proposal(review: Review, proposal: dict[str, Any]) -> None:
    """Store the proposal, keeping the documents the household sent (kept alongside)."""
    docs = documents_of(review)
    if docs:
        proposal = {**proposal, "documents": docs}
    review.proposal_json = json.dumps(proposal, ensure_ascii=False, sort_keys=True)


def _add_document(review: Review, upload_id: int) -> None:
    proposal = review.proposal
    proposal["documents"] = [*proposal.get("documents", []), upload_id]
    review.proposal_json = json.dumps(proposal, ensure_ascii=False, sort_keys=True)


# --- scope ---------------------------------------------------------------------------------


def officer_scope(user: User) -> sa.ColumnElement[bool]:
    """Reviews an officer acts on: those of their districts (SECURITY.md B1)."""
    districts = officer_district_ids(user)
    if not districts:
        return sa.false()
    return Review.district_id.in_(districts)


def reader_scope(user: User) -> sa.ColumnElement[bool]:
    """Reviews a staff member may look at: officers their districts', managers all."""
    if user.role is Role.MANAGER:
        return sa.true()
    return officer_scope(user)


def resident_scope(user: User) -> sa.ColumnElement[bool]:
    """A resident's own household's reviews: as applicant, or as the lease's tenant."""
    return sa.or_(
        Review.application_id.in_(
            sa.select(Application.id).where(Application.applicant_id == user.id)
        ),
        Review.lease_id.in_(sa.select(Lease.id).where(Lease.tenant_id == user.id)),
    )


def can_decide(user: User, review: Review) -> bool:
    return (
        user.role is Role.OFFICER
        and review.district_id is not None
        and review.district_id in officer_district_ids(user)
    )


def _require_officer(review: Review, actor: User) -> None:
    if not can_decide(actor, review):
        raise Forbidden()


def _is_household(review: Review, user: User) -> bool:
    if review.application.applicant_id == user.id:
        return True
    lease = db.session.get(Lease, review.lease_id) if review.lease_id else None
    return lease is not None and lease.tenant_id == user.id


# --- opening -------------------------------------------------------------------------------


def open_review(
    app: Application,
    kind: ReviewKind,
    actor: User | str | None,
    *,
    lease: Lease | None = None,
    award: SubsidyAward | None = None,
    due_on: date,
) -> Review:
    """Open a review of the household, or return the one already open (one at a time).

    ``lease`` and ``award`` are what the review may change (when not given: the
    household's active lease and its subsidy award, if any). The reference is
    ``R<year><id>``; the household may answer for ``review_answer_days`` days and is told
    (a message with a link to /my/review); the department checks are queued
    (``reviews.run_checks``), so they may already be done when this returns."""
    existing = open_review_of(app)
    if existing is not None:
        return _complete_links(existing, lease, award)
    lease = lease or active_lease_of(app)
    award = award or award_of(app)
    if award is not None and award.status is AwardStatus.ENDED:
        award = None
    on = today()
    values = tenancy_values(on)
    review = Review(
        # a unique placeholder until the row has its id (the reference is made from it)
        reference=f"new-{secrets.token_hex(8)}",
        kind=kind,
        application_id=app.id,
        lease_id=lease.id if lease else None,
        award_id=award.id if award else None,
        district_id=app.district_id,
        status=ReviewStatus.OPEN,
        due_on=due_on,
        opened_on=on,
        answer_by=on + timedelta(days=int(values["review_answer_days"])),
        opened_by_id=actor.id if isinstance(actor, User) else None,
    )
    try:
        with db.session.begin_nested():
            db.session.add(review)
            db.session.flush()
    except IntegrityError:
        # another request opened one at the same moment (the partial unique index)
        existing = open_review_of(app)
        if existing is None:
            raise
        return _complete_links(existing, lease, award)
    review.reference = f"R{utcnow().year}{review.id:06d}"
    db.session.flush()
    audit.record(
        "review.open",
        actor=actor or "system",
        obj=review,
        reference=review.reference,
        kind=kind.value,
        application=app.reference,
        lease=lease.reference if lease else None,
        award=award.reference if award else None,
        due_on=due_on,
        answer_by=review.answer_by,
    )
    tell_applicant(
        app,
        "review_opened",
        {
            "reference": review.reference,
            "kind": in_locale_of(app.applicant, lambda: kind.label),
            "answer_by": review.answer_by,
            "due_on": due_on,
        },
        link="/my/review",
    )
    queue_checks(review)
    return review


def _complete_links(review: Review, lease: Lease | None, award: SubsidyAward | None) -> Review:
    """An open review found again: it learns of a lease or award it did not know."""
    if lease is not None and review.lease_id is None:
        review.lease_id = lease.id
    if award is not None and review.award_id is None and award.status is not AwardStatus.ENDED:
        review.award_id = award.id
    db.session.flush()
    return review


def queue_checks(review: Review) -> None:
    """Ask for the department checks in the background (at once without workers)."""
    from portal import jobs

    jobs.enqueue("reviews.run_checks", review_id=review.id)


# --- the checks and the proposal -----------------------------------------------------------


def _fresh_facts(app: Application) -> dict[str, dict[str, dict[str, Any]]] | None:
    from portal.waitlist.services import fresh_facts

    try:
        return fresh_facts(app)
    except Exception:  # a broken source is a department that did not answer: asked again
        log.exception("department checks for review of application %s failed", app.id)
        return None


def run_checks(review: Review, actor: User | str | None = None) -> str:
    """Ask the departments about the household and propose an outcome.

    Returns ``"checked"`` (the review awaits the decision), ``"unanswered"`` (a department
    did not answer: the review keeps what it had and is asked again by the daily job) or
    ``"skipped"`` (decided or cancelled meanwhile)."""
    review = _lock(review)
    if review.status not in OPEN_STATUSES:
        return "skipped"
    app = review.application
    on = today()
    facts = _fresh_facts(app)
    if facts is None:
        if review.checked_at is None and not _unanswered_before(review):
            audit.record("review.checks_unanswered", actor=actor or "system", obj=review)
        return "unanswered"
    version = current_version("eligibility", on)
    people = [eligibility.Person(m.id_index, m.relation.value, m.birth_date) for m in app.members]
    evaluation = eligibility.evaluate(
        app.programme.value,
        people,
        facts,
        version.values,
        on,
        active_bans([m.id_index for m in app.members], on),
    )
    lease = db.session.get(Lease, review.lease_id) if review.lease_id else None
    award = db.session.get(SubsidyAward, review.award_id) if review.award_id else None
    proposed, proposal = propose(evaluation, app, facts, lease=lease, award=award)
    review.facts_json = json.dumps(facts, ensure_ascii=False, sort_keys=True, default=str)
    review.evaluation_json = json.dumps(evaluation.as_dict(), ensure_ascii=False)
    review.rule_version_id = version.id
    review.proposed = proposed
    _set_proposal(review, proposal)
    review.checked_at = utcnow()
    review.status = ReviewStatus.DECISION
    db.session.flush()
    audit.record(
        "review.checked",
        actor=actor or "system",
        obj=review,
        eligible=evaluation.eligible,
        failed=[r.code for r in evaluation.results if r.passed is False],
        proposed=proposed.value,
        rule_version=version.id,
    )
    return "checked"


def _unanswered_before(review: Review) -> bool:
    """One line in the audit log for a review whose departments keep not answering."""
    return (
        db.session.scalar(
            sa.select(audit.AuditEvent.id)
            .where(
                audit.AuditEvent.event == "review.checks_unanswered",
                audit.AuditEvent.object_type == Review.__tablename__,
                audit.AuditEvent.object_id == str(review.id),
            )
            .limit(1)
        )
        is not None
    )


def _failed(evaluation: eligibility.Evaluation) -> list[str]:
    """The rule families (``income``, ``housing``…) that failed."""
    return sorted({r.code.split("_")[0] for r in evaluation.results if r.passed is False})


def propose(
    evaluation: eligibility.Evaluation,
    app: Application,
    facts: dict,
    *,
    lease: Lease | None,
    award: SubsidyAward | None,
) -> tuple[ReviewOutcome, dict[str, Any]]:
    """The outcome the rules suggest, with what it would change (RULES.md):

    - every rule met: CONTINUE, or ADJUST_SUBSIDY when the subsidy the facts give differs
      from the award's current amount;
    - only the income rule failed, the housing rule passed (no other home), a tenant:
      MARKET_RENT at the unit's market rent;
    - otherwise EXIT: OTHER_HOUSING when the housing rule failed, else INELIGIBLE (for a
      subsidy household without a lease, the subsidy ends)."""
    failed = _failed(evaluation)
    proposal: dict[str, Any] = {"failed": failed}
    if not failed:
        change = _subsidy_change(app, facts, award)
        if change is not None:
            proposal["subsidy"] = change
            if change["changed"]:
                return ReviewOutcome.ADJUST_SUBSIDY, proposal
        return ReviewOutcome.CONTINUE, proposal
    if failed == ["income"] and lease is not None:
        proposal["contract_rent"] = str(lease.monthly_rent)
        proposal["market_rent"] = _market_rent(lease)
        return ReviewOutcome.MARKET_RENT, proposal
    reason = ExitReason.OTHER_HOUSING if "housing" in failed else ExitReason.INELIGIBLE
    proposal["exit_reason"] = reason.value
    return ReviewOutcome.EXIT, proposal


def _market_rent(lease: Lease) -> str | None:
    """The lease's market rent (``portal.tenancy.rent.market_rent_of``); None when the
    estate has none recorded (the page says so)."""
    from portal.tenancy.rent import market_rent_of

    try:
        return str(market_rent_of(lease))
    except ValidationFailed:
        return None


def subsidy_inputs(app: Application, facts: dict, award: SubsidyAward, *, cap: bool = True):
    """The subsidy inputs the facts give (``portal.subsidy.rules.inputs_from_facts``). With
    ``cap`` the rent capping the amount is the award's own (a tenant's lease rent, else the
    rent the household gave); without, None (a recorded change keeps the rent known)."""
    from portal.subsidy.rules import inputs_from_facts
    from portal.subsidy.services import latest_basis, lease_rent

    rent = None
    if cap:
        basis = latest_basis(award)
        rent = lease_rent(award) if award.basis is AwardBasis.TENANT else None
        if rent is None and basis is not None:
            rent = basis.actual_rent
    return inputs_from_facts(app, facts, veteran=award.veteran, actual_rent=rent)


def _subsidy_change(
    app: Application, facts: dict, award: SubsidyAward | None
) -> dict[str, Any] | None:
    """Old and new monthly subsidy of an award under review; None without an award."""
    if award is None or award.status is AwardStatus.ENDED:
        return None
    from portal.subsidy import rules as subsidy_rules
    from portal.subsidy.services import amount_now, latest_basis

    inputs = subsidy_inputs(app, facts, award)
    computed = subsidy_rules.compute(inputs, current_version("subsidy").values)
    current = amount_now(award)
    if current is not None:
        old = current.amount
        changed = old != computed.amount
    else:  # not payable now (lapsed, details missing): compare the facts themselves
        basis = latest_basis(award)
        old = None
        changed = basis is None or (
            basis.household_size,
            basis.assistance,
            Decimal(basis.per_capita_income),
            Decimal(basis.own_area),
        ) != (
            inputs.household_size,
            inputs.assistance,
            Decimal(inputs.per_capita_income),
            Decimal(inputs.own_area),
        )
    return {
        "old": None if old is None else str(old),
        "new": str(computed.amount),
        "tier": str(getattr(computed, "tier", "")),
        "household_size": inputs.household_size,
        "per_capita_income": str(inputs.per_capita_income),
        "changed": bool(changed),
    }


def checks_job(review_id: int) -> dict[str, Any]:
    """The ``reviews.run_checks`` job: one review's department checks."""
    review = db.session.get(Review, review_id)
    if review is None:
        return {"outcome": "missing"}
    return {"outcome": run_checks(review)}


def run_checks_now(review: Review, officer: User) -> str:
    """An officer asks the departments again now (a department was down, or the household
    reported something): same as the job, returns its outcome."""
    _require_officer(review, officer)
    if review.status not in OPEN_STATUSES:
        raise InvalidTransition(_l("This review is already decided."))
    return run_checks(review, officer)


# --- the household -------------------------------------------------------------------------


@dataclass(frozen=True)
class Household:
    """What a resident's household holds that a review looks at."""

    application: Application
    lease: Lease | None
    award: SubsidyAward | None


def household_of(user: User) -> Household | None:
    """The resident's household under review: its lease in force (as tenant or applicant),
    else its subsidy award that has not ended. None when it has neither."""
    if user.role is not Role.RESIDENT:
        return None
    lease = db.session.scalars(
        sa.select(Lease)
        .join(Application, Application.id == Lease.application_id)
        .where(
            Lease.status == LeaseStatus.ACTIVE,
            sa.or_(Lease.tenant_id == user.id, Application.applicant_id == user.id),
        )
        .order_by(Lease.id.desc())
        .limit(1)
    ).first()
    if lease is not None:
        award = award_of(lease.application)
        if award is not None and award.status is AwardStatus.ENDED:
            award = None
        return Household(lease.application, lease, award)
    award = db.session.scalars(
        sa.select(SubsidyAward)
        .join(Application, Application.id == SubsidyAward.application_id)
        .where(Application.applicant_id == user.id, SubsidyAward.status != AwardStatus.ENDED)
        .order_by(SubsidyAward.id.desc())
        .limit(1)
    ).first()
    if award is not None:
        return Household(award.application, None, award)
    return None


def reviews_of_resident(user: User) -> list[Review]:
    """The household's reviews, the newest first."""
    return list(
        db.session.scalars(
            sa.select(Review)
            .where(resident_scope(user), Review.status != ReviewStatus.CANCELLED)
            .order_by(Review.id.desc())
            .limit(20)
        )
    )


def current_review_of_resident(user: User) -> Review | None:
    """The household's open review, else its latest decided one."""
    rows = reviews_of_resident(user)
    open_ = [r for r in rows if r.status in OPEN_STATUSES]
    return (open_ or rows or [None])[0]


def can_answer(review: Review, on: date | None = None) -> bool:
    return review.status in OPEN_STATUSES and (on or today()) <= review.answer_by


def _text(text: str | None, field: str) -> str:
    text = (text or "").strip()
    if len(text) < ANSWER_MIN:
        raise ValidationFailed(
            _l("Write at least %(count)d characters.", count=ANSWER_MIN), field=field
        )
    if len(text) > ANSWER_MAX:
        raise ValidationFailed(
            _l("Keep the text under %(count)d characters.", count=ANSWER_MAX), field=field
        )
    return text


def _append_answer(review: Review, text: str) -> None:
    review.answer = f"{review.answer}\n\n{text}" if review.answer else text
    review.answered_at = utcnow()


def answer(review: Review, resident: User, text: str, file=None) -> Review:
    """The household answers its review (until ``answer_by``): what the officer should
    know. A second answer is added to the first; an optional document (PDF, JPG, PNG)."""
    review = _lock(review)
    if not _is_household(review, resident):
        raise Forbidden()
    if review.status not in OPEN_STATUSES:
        raise InvalidTransition(_l("This review is already decided."))
    if today() > review.answer_by:
        raise InvalidTransition(_l("The time to answer this review has passed."))
    text = _text(text, "answer")
    if file is not None and getattr(file, "filename", None):
        from portal.core.uploads import save_upload

        _add_document(review, save_upload(resident, file, field="document").id)
    _append_answer(review, text)
    db.session.flush()
    audit.record("review.answer", actor=resident, obj=review, documents=len(documents_of(review)))
    return review


def report_change(resident: User, kind: str, text: str, file=None) -> Review:
    """A resident reports a change of income or household: a CHANGE review through the same
    path as the annual one (or, when a review is open, the report joins it and the
    departments are asked again). An optional document (PDF, JPG, PNG)."""
    household = household_of(resident)
    if household is None:
        raise InvalidTransition(
            _l("Your household has no lease or rental subsidy whose data could change.")
        )
    if kind not in ChangeKind.ALL:
        raise ValidationFailed(_l("Choose what changed."), field="kind")
    text = _text(text, "text")
    upload = None
    if file is not None and getattr(file, "filename", None):
        from portal.core.uploads import save_upload

        upload = save_upload(resident, file, field="document")
    app = household.application
    already = open_review_of(app)
    review = open_review(
        app,
        ReviewKind.CHANGE,
        resident,
        lease=household.lease,
        award=household.award,
        due_on=today() + timedelta(days=int(tenancy_values()["review_notice_days"])),
    )
    review = _lock(review)
    title = in_locale_of(app.applicant, lambda: CHANGE_TITLES[kind])
    _append_answer(review, f"{title}: {text}")
    if upload is not None:
        _add_document(review, upload.id)
    db.session.flush()
    audit.record(
        "review.change_reported",
        actor=resident,
        obj=review,
        change=kind,
        joined_open_review=already is not None,
        document=upload.id if upload else None,
    )
    if already is not None and review.status in OPEN_STATUSES:
        queue_checks(review)  # the new situation counts
    return review


# --- deciding ------------------------------------------------------------------------------


def may_decide_now(review: Review, on: date | None = None) -> bool:
    """Checked, and the household has answered or its time to answer has passed."""
    return review.status is ReviewStatus.DECISION and (
        review.answered_at is not None or (on or today()) > review.answer_by
    )


def _reason(review: Review, outcome: ReviewOutcome, reason: str | None) -> str:
    reason = (reason or "").strip()
    if len(reason) < REASON_MIN:
        if review.proposed is not None and outcome is not review.proposed:
            raise ValidationFailed(
                _l(
                    "The decision differs from the proposal (%(proposed)s): say why, in words "
                    "the household understands.",
                    proposed=review.proposed.label,
                ),
                field="reason",
            )
        raise ValidationFailed(
            _l("Give the reason, in words the household understands."), field="reason"
        )
    if len(reason) > REASON_MAX:
        raise ValidationFailed(
            _l("Keep the reason under %(count)d characters.", count=REASON_MAX), field="reason"
        )
    return reason


def decide(review: Review, officer: User, *, outcome: ReviewOutcome, reason: str) -> Review:
    """The officer's decision, applied at once, and the household is told with the reason.

    CONTINUE renews the subsidy's validity and moves the lease's next review a year on;
    ADJUST_SUBSIDY records the new subsidy facts from next month (and renews); MARKET_RENT
    charges market rent from next month; EXIT opens an exit case for a tenant, or ends the
    subsidy of a subsidy household. A renewal waiting on the review is renewed or refused."""
    review = _lock(review)
    _require_officer(review, officer)
    if review.status is ReviewStatus.OPEN:
        raise InvalidTransition(
            _l(
                "The departments have not all answered yet: ask them again, or wait for the "
                "daily check."
            )
        )
    if review.status is not ReviewStatus.DECISION:
        raise InvalidTransition(_l("This review is already decided."))
    on = today()
    if not may_decide_now(review, on):
        from flask_babel import format_date

        raise InvalidTransition(
            _l(
                "The household may answer until %(date)s: decide after that day, or once it "
                "has answered.",
                date=format_date(review.answer_by),
            )
        )
    outcome = ReviewOutcome(outcome)
    reason = _reason(review, outcome, reason)
    lease = lock_row(Lease, review.lease_id) if review.lease_id else None
    if lease is not None and lease.status is not LeaseStatus.ACTIVE:
        lease = None
    award = db.session.get(SubsidyAward, review.award_id) if review.award_id else None
    if award is not None and award.status is AwardStatus.ENDED:
        award = None
    if outcome is ReviewOutcome.MARKET_RENT:
        if lease is None:
            raise ValidationFailed(
                _l("Market rent is for a household renting a public rental home."),
                field="outcome",
            )
        from portal.tenancy.rent import market_rent_of

        market_rent_of(lease)  # the estate's market rent must be known: refused otherwise
    if outcome is ReviewOutcome.ADJUST_SUBSIDY and award is None:
        raise ValidationFailed(_l("This household receives no rental subsidy."), field="outcome")
    if outcome is ReviewOutcome.EXIT and lease is None and award is None:
        raise ValidationFailed(
            _l("This household has neither a lease nor a subsidy to end."), field="outcome"
        )
    review.outcome = outcome
    review.decision_reason = reason
    review.decided_by_id = officer.id
    review.decided_at = utcnow()
    review.status = ReviewStatus.DECIDED
    db.session.flush()
    effects = _apply(review, officer, outcome, lease=lease, award=award, on=on)
    audit.record(
        "review.decide",
        actor=officer,
        obj=review,
        proposed=review.proposed.value if review.proposed else None,
        outcome=outcome.value,
        overridden=review.proposed is not None and outcome is not review.proposed,
        **effects,
    )
    app = review.application
    tell_applicant(
        app,
        "review_decided",
        {
            "reference": review.reference,
            "outcome": in_locale_of(app.applicant, lambda: outcome.label),
            "reason": reason,
            "effect": in_locale_of(app.applicant, lambda: effect_sentence(review)),
        },
        link="/my/review",
    )
    return review


def _apply(
    review: Review,
    officer: User,
    outcome: ReviewOutcome,
    *,
    lease: Lease | None,
    award: SubsidyAward | None,
    on: date,
) -> dict[str, Any]:
    """Carry out the decision through the subsidy and tenancy services; what changed."""
    from portal.reviews import renewals

    effects: dict[str, Any] = {}
    next_month = first_of_next_month(on)
    yearly = review.kind in (ReviewKind.ANNUAL, ReviewKind.RENEWAL)
    renewal = renewals.waiting_on(review)
    if outcome is ReviewOutcome.EXIT:
        reason = (
            ExitReason.REFUSED_RENEWAL
            if renewal is not None
            else ExitReason(review.proposal.get("exit_reason") or _exit_reason(review).value)
        )
        if lease is not None:
            from portal.tenancy.exits import open_case

            case = open_case(lease, reason, officer, facts=exit_facts(review), review=review)
            effects["exit_case"] = case.reference
        elif award is not None:
            from portal.subsidy.services import end_award

            end_award(award, officer, from_month=next_month, reason="review")
            effects["award_ended_from"] = next_month
        _set_proposal_key(review, "applied_exit_reason", reason.value)
        if renewal is not None:
            renewals.refuse(renewal, officer, review)
        return effects
    if outcome is ReviewOutcome.ADJUST_SUBSIDY and award is not None and review.facts:
        from portal.subsidy.services import record_change

        inputs = subsidy_inputs(review.application, review.facts, award, cap=False)
        record_change(
            award, inputs, officer, occurred_on=on, source="review", note=review.reference
        )
        effects["subsidy_changed_from"] = next_month
    if outcome is ReviewOutcome.MARKET_RENT and lease is not None:
        from portal.tenancy.rent import set_market_rent

        set_market_rent(lease, officer, from_month=next_month)
        effects["market_rent_from"] = next_month
        if award is not None and award.basis is AwardBasis.TENANT:
            from portal.subsidy.services import end_award

            end_award(award, officer, from_month=next_month, reason="review")
            effects["award_ended_from"] = next_month
            award = None
    if yearly:
        if award is not None and outcome is not ReviewOutcome.MARKET_RENT:
            from portal.subsidy.services import renew_validity

            renew_validity(award, officer, on)
            effects["award_renewed"] = award.reference
        if lease is not None:
            effects["next_review_on"] = _advance_review(lease, review, officer, on)
    if renewal is not None:
        effects["lease_ends_on"] = renewals.renew(renewal, officer, review)
    return effects


def _set_proposal_key(review: Review, key: str, value: Any) -> None:
    proposal = review.proposal
    proposal[key] = value
    review.proposal_json = json.dumps(proposal, ensure_ascii=False, sort_keys=True)


def _exit_reason(review: Review) -> ExitReason:
    return (
        ExitReason.OTHER_HOUSING
        if "housing" in review.proposal.get("failed", [])
        else ExitReason.INELIGIBLE
    )


def exit_reason_of(review: Review) -> ExitReason | None:
    """The exit reason the decision used (or the proposal would use)."""
    value = review.proposal.get("applied_exit_reason") or review.proposal.get("exit_reason")
    return ExitReason(value) if value else None


def _advance_review(lease: Lease, review: Review, actor, on: date) -> date:
    """The lease's next annual review, ``review_every_months`` after this one was due."""
    every = int(tenancy_values(on)["review_every_months"])
    base = lease.next_review_on or review.due_on
    following = add_months(base, every)
    while following <= on:
        following = add_months(following, every)
    before = lease.next_review_on
    lease.next_review_on = following
    db.session.flush()
    audit.record(
        "lease.next_review",
        actor=actor,
        obj=lease,
        review=review.reference,
        before=before,
        after=following,
    )
    return following


def exit_facts(review: Review) -> str:
    """The facts an exit case opened by the review records, in the city's language."""
    from portal.reviews.explain import rule_rows

    def make() -> str:
        failed = [r["text"] for r in rule_rows(review) if r["passed"] is False]
        head = str(
            _l(
                "%(kind)s %(reference)s, decided on %(date)s.",
                kind=review.kind.label,
                reference=review.reference,
                date=(review.decided_at or utcnow()).date().isoformat(),
            )
        )
        return " ".join([head, *failed, review.decision_reason or ""]).strip()

    return in_locale_of(None, make)


def effect_sentence(review: Review) -> str:
    """What the decision changes for the household, in one or two sentences."""
    from portal.reviews.explain import effect_text

    return effect_text(review)


def cancel(review: Review, actor, reason: str) -> Review:
    """A review that has nothing left to review (the lease ended and no subsidy is paid)."""
    review = _lock(review)
    if review.status not in OPEN_STATUSES:
        raise InvalidTransition(_l("This review is already decided."))
    review.status = ReviewStatus.CANCELLED
    review.decision_reason = reason
    review.decided_at = utcnow()
    db.session.flush()
    audit.record("review.cancel", actor=actor or "system", obj=review, reason=reason)
    return review


# --- the daily job -------------------------------------------------------------------------


def _no_review_for(due: sa.ColumnElement, application_id: sa.ColumnElement):
    """No open review of the household, and none (not cancelled) already made for this
    due date: a household is reviewed once per due date."""
    return ~sa.exists().where(
        Review.application_id == application_id,
        sa.or_(
            Review.status.in_(OPEN_STATUSES),
            sa.and_(
                Review.kind.in_((ReviewKind.ANNUAL, ReviewKind.RENEWAL)),
                Review.due_on == due,
                Review.status != ReviewStatus.CANCELLED,
            ),
        ),
    )


def due_leases(on: date, limit: int) -> list[int]:
    """Active leases whose annual review falls within the notice period and has no review
    yet; not those in an exit (the case decides their end)."""
    horizon = on + timedelta(days=int(tenancy_values(on)["review_notice_days"]))
    open_exit = sa.exists().where(
        ExitCase.lease_id == Lease.id, ExitCase.status.in_(OPEN_EXIT_STATUSES)
    )
    return list(
        db.session.scalars(
            sa.select(Lease.id)
            .where(
                Lease.status == LeaseStatus.ACTIVE,
                Lease.next_review_on.is_not(None),
                Lease.next_review_on <= horizon,
                ~open_exit,
                _no_review_for(Lease.next_review_on, Lease.application_id),
            )
            .order_by(Lease.next_review_on, Lease.id)
            .limit(limit)
        )
    )


def due_awards(on: date, limit: int) -> list[int]:
    """Subsidy households (basis SUBSIDY, paid, lapsed or awaiting details) whose award's
    validity ends within the notice period and has no review yet. Waiting households are
    renewed by the waiting list's yearly re-verification; tenants by their lease's review."""
    horizon = on + timedelta(days=int(tenancy_values(on)["review_notice_days"]))
    return list(
        db.session.scalars(
            sa.select(SubsidyAward.id)
            .where(
                SubsidyAward.basis == AwardBasis.SUBSIDY,
                SubsidyAward.status.in_(REVIEWED_AWARDS),
                SubsidyAward.valid_until <= horizon,
                _no_review_for(SubsidyAward.valid_until, SubsidyAward.application_id),
            )
            .order_by(SubsidyAward.valid_until, SubsidyAward.id)
            .limit(limit)
        )
    )


def schedule_unset(on: date, limit: int) -> int:
    """Active leases without a next review date get one: a year after they started."""
    every = int(tenancy_values(on)["review_every_months"])
    leases = db.session.scalars(
        sa.select(Lease)
        .where(Lease.status == LeaseStatus.ACTIVE, Lease.next_review_on.is_(None))
        .order_by(Lease.id)
        .limit(limit)
    ).all()
    for lease in leases:
        lease.next_review_on = add_months(lease.starts_on, every)
    db.session.flush()
    return len(leases)


def _tidy(on: date, limit: int) -> int:
    """Open reviews left with nothing to review (the lease ended, no subsidy is paid) are
    cancelled."""
    rows = db.session.scalars(
        sa.select(Review)
        .outerjoin(Lease, Lease.id == Review.lease_id)
        .outerjoin(SubsidyAward, SubsidyAward.id == Review.award_id)
        .where(
            Review.status.in_(OPEN_STATUSES),
            sa.or_(Review.lease_id.is_(None), Lease.status == LeaseStatus.ENDED),
            sa.or_(Review.award_id.is_(None), SubsidyAward.status == AwardStatus.ENDED),
        )
        .order_by(Review.id)
        .limit(limit)
    ).all()
    for review in rows:
        cancel(review, SYSTEM, "nothing left to review: the lease and subsidy have ended")
    return len(rows)


def open_due(on: date | None = None, limit: int = BATCH) -> dict[str, int]:
    """The daily job: open the annual reviews that are due (tenants ``review_notice_days``
    before ``Lease.next_review_on``, subsidy households before ``SubsidyAward.valid_until``),
    then ask again the departments of open reviews that have not all answered. Idempotent;
    at most ``limit`` reviews opened and ``limit`` checked again per run, the earliest due
    first; one household's failure does not stop the others."""
    on = on or today()
    counts = {
        "scheduled": 0,
        "opened": 0,
        "checked": 0,
        "unanswered": 0,
        "queued": 0,
        "cancelled": 0,
        "failed": 0,
    }
    counts["scheduled"] = schedule_unset(on, limit)
    counts["cancelled"] = _tidy(on, limit)
    opened: set[int] = set()
    for lease_id in due_leases(on, limit):
        lease = db.session.get(Lease, lease_id)
        review = _open_one(
            counts, lease.application, lease=lease, award=None, due_on=lease.next_review_on
        )
        if review is not None:
            opened.add(review.id)
    for award_id in due_awards(on, max(0, limit - len(opened))):
        award = db.session.get(SubsidyAward, award_id)
        review = _open_one(
            counts, award.application, lease=None, award=award, due_on=award.valid_until
        )
        if review is not None:
            opened.add(review.id)
    counts["opened"] = len(opened)
    for outcome in retry_checks(on, limit, skip=opened).items():
        counts[outcome[0]] += outcome[1]
    return counts


def _open_one(counts, app, *, lease, award, due_on) -> Review | None:
    try:
        with db.session.begin_nested():
            review = open_review(
                app, ReviewKind.ANNUAL, SYSTEM, lease=lease, award=award, due_on=due_on
            )
    except Exception:
        log.exception("opening the annual review of application %s failed", app.id)
        counts["failed"] += 1
        return None
    return review


def retry_checks(
    on: date | None = None, limit: int = BATCH, skip: set[int] | None = None
) -> dict[str, int]:
    """Open reviews whose departments have not all answered are asked again."""
    from portal import jobs

    ids = db.session.scalars(
        sa.select(Review.id)
        .where(Review.status == ReviewStatus.OPEN, Review.checked_at.is_(None))
        .order_by(Review.due_on, Review.id)
        .limit(limit + len(skip or ()))
    ).all()
    counts = {"checked": 0, "unanswered": 0, "queued": 0, "failed": 0}
    for review_id in [i for i in ids if i not in (skip or set())][:limit]:
        try:
            with db.session.begin_nested():
                outcome = jobs.enqueue("reviews.run_checks", review_id=review_id)
        except Exception:
            log.exception("department checks of review %s failed", review_id)
            counts["failed"] += 1
            continue
        if outcome is None:
            counts["queued"] += 1
        else:
            result = (outcome.result or {}).get("outcome")
            if result in ("checked", "unanswered"):
                counts[result] += 1
    return counts


# --- the officers' queue -------------------------------------------------------------------


@dataclass
class QueueFilter:
    kind: ReviewKind | None = None
    status: ReviewStatus | None = None  # None: open ones (told or awaiting the decision)
    overdue: bool = False


@dataclass(frozen=True)
class QueuePage:
    rows: list[Review]
    page: int
    pages: int
    total: int


def queue(user: User, wanted: QueueFilter, page: int = 1, on: date | None = None) -> QueuePage:
    """The reviews in the staff member's scope: those awaiting the decision first, then by
    due date (the earliest first), 50 a page."""
    on = on or today()
    where = [reader_scope(user)]
    if wanted.kind is not None:
        where.append(Review.kind == wanted.kind)
    if wanted.status is not None:
        where.append(Review.status == wanted.status)
    else:
        where.append(Review.status.in_(OPEN_STATUSES))
    if wanted.overdue:
        where.append(sa.and_(Review.status.in_(OPEN_STATUSES), Review.due_on < on))
    total = db.session.scalar(sa.select(sa.func.count()).select_from(Review).where(*where))
    pages = max(1, -(-total // PAGE))
    page = min(max(1, page), pages)
    decision_first = sa.case((Review.status == ReviewStatus.DECISION, 0), else_=1)
    rows = db.session.scalars(
        sa.select(Review)
        .where(*where)
        .order_by(decision_first, Review.due_on, Review.id)
        .offset((page - 1) * PAGE)
        .limit(PAGE)
    ).all()
    return QueuePage(list(rows), page, pages, total)


@dataclass(frozen=True)
class Workload:
    decision: int
    open: int
    overdue: int
    renewals: int


def workload(user: User, on: date | None = None) -> Workload:
    """Counts for the workbench."""
    on = on or today()
    rows = dict(
        db.session.execute(
            sa.select(Review.status, sa.func.count())
            .where(reader_scope(user), Review.status.in_(OPEN_STATUSES))
            .group_by(Review.status)
        ).all()
    )
    overdue = db.session.scalar(
        sa.select(sa.func.count())
        .select_from(Review)
        .where(reader_scope(user), Review.status.in_(OPEN_STATUSES), Review.due_on < on)
    )
    from portal.reviews.renewals import renewal_scope

    renewals = db.session.scalar(
        sa.select(sa.func.count())
        .select_from(LeaseRenewal)
        .where(
            renewal_scope(user),
            LeaseRenewal.status.in_((RenewalStatus.ASKED, RenewalStatus.REVIEWING)),
        )
    )
    return Workload(
        decision=rows.get(ReviewStatus.DECISION, 0),
        open=rows.get(ReviewStatus.OPEN, 0),
        overdue=overdue,
        renewals=renewals,
    )
