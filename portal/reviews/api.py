"""JSON API of annual reviews, change reports and lease renewals (flask-smorest); the same
services as the pages.

Residents: ``GET /me/review`` (the household's review with each rule's sentence, the
decision once made, earlier reviews, the renewal question), ``POST /me/review/answer``,
``POST /me/review/change`` (a change of income or household: a review) and
``POST /me/review/renewal``. Staff: officers and managers list the reviews in their scope
and read one (facts, rules, proposal); officers of the household's district run the checks
again and decide. Documents are attached on the pages. Errors are RFC 9457 problem
documents.
"""

from __future__ import annotations

from flask import abort
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from portal.accounts.roles import Role
from portal.api.auth import api_user
from portal.api.fields import Int
from portal.core.access import api_access
from portal.core.scope import load_in_scope
from portal.extensions import db
from portal.reviews import explain, renewals, services
from portal.reviews.models import (
    LeaseRenewal,
    RenewalStatus,
    Review,
    ReviewKind,
    ReviewOutcome,
    ReviewStatus,
)
from portal.tenancy.models import Lease

resident_blp = Blueprint(
    "api_my_review",
    __name__,
    description=(
        "Residents: their household's annual review (年度复核), change reports and lease renewal"
    ),
)
staff_blp = Blueprint(
    "api_staff_annual_reviews",
    __name__,
    description=(
        "Officers and managers: annual reviews and renewals of their districts; officers decide"
    ),
)

blueprints = [resident_blp, staff_blp]

BEARER = [{"bearerAuth": []}]


class ReviewRuleSchema(Schema):
    title = fields.String(required=True)
    passed = fields.Boolean(allow_none=True, metadata={"description": "null: undecided"})
    text = fields.String(required=True, metadata={"description": "what the data showed"})


class AnnualReviewSchema(Schema):
    reference = fields.String(required=True, metadata={"example": "R2026000001"})
    kind = fields.String(required=True, validate=validate.OneOf([k.value for k in ReviewKind]))
    kind_title = fields.String(required=True)
    status = fields.String(required=True, validate=validate.OneOf([s.value for s in ReviewStatus]))
    status_title = fields.String(required=True)
    opened_on = fields.Date(required=True)
    answer_by = fields.Date(required=True, metadata={"description": "the household may answer"})
    due_on = fields.Date(required=True, metadata={"description": "to be decided by"})
    answer = fields.String(allow_none=True)
    answered_at = fields.DateTime(allow_none=True)
    can_answer = fields.Boolean(required=True)
    checked_at = fields.DateTime(allow_none=True, metadata={"description": "null: not yet"})
    rules = fields.List(fields.Nested(ReviewRuleSchema), required=True)
    outcome = fields.String(
        allow_none=True, validate=validate.OneOf([o.value for o in ReviewOutcome])
    )
    outcome_title = fields.String(allow_none=True)
    outcome_text = fields.String(allow_none=True)
    decision_reason = fields.String(allow_none=True)
    effect = fields.String(allow_none=True, metadata={"description": "what changes"})
    decided_at = fields.DateTime(allow_none=True)


class LeaseRenewalSchema(Schema):
    lease = fields.String(required=True)
    old_ends_on = fields.Date(required=True)
    new_ends_on = fields.Date(allow_none=True)
    status = fields.String(required=True, validate=validate.OneOf([s.value for s in RenewalStatus]))
    status_title = fields.String(required=True)
    asked_on = fields.Date(required=True)
    answer_by = fields.Date(required=True)
    answered_at = fields.DateTime(allow_none=True)
    can_answer = fields.Boolean(required=True)
    review = fields.String(allow_none=True, metadata={"description": "the renewal's review"})


class MyReviewSchema(Schema):
    review = fields.Nested(AnnualReviewSchema, allow_none=True, metadata={"description": "current"})
    earlier = fields.List(fields.Nested(AnnualReviewSchema), required=True)
    renewal = fields.Nested(LeaseRenewalSchema, allow_none=True)
    can_report_change = fields.Boolean(required=True)


class ReviewAnswerRequest(Schema):
    text = fields.String(
        required=True,
        validate=validate.Length(max=services.ANSWER_MAX),
        metadata={"description": f"at least {services.ANSWER_MIN} characters"},
    )


class ChangeReportRequest(ReviewAnswerRequest):
    kind = fields.String(
        required=True,
        validate=validate.OneOf(services.ChangeKind.ALL),
        metadata={"description": "income, household or other"},
    )


class RenewalAnswerRequest(Schema):
    renew = fields.Boolean(required=True)


class StaffAnnualReviewSchema(AnnualReviewSchema):
    id = Int(required=True)
    application = fields.String(required=True)
    applicant = fields.String(required=True, metadata={"description": "masked name and ID"})
    lease = fields.String(allow_none=True)
    award = fields.String(allow_none=True)
    overdue = fields.Boolean(required=True)
    proposed = fields.String(
        allow_none=True, validate=validate.OneOf([o.value for o in ReviewOutcome])
    )
    proposed_title = fields.String(allow_none=True)
    proposal_text = fields.String(allow_none=True)
    proposal = fields.Dict(
        required=True,
        metadata={"description": "failed rules, subsidy old/new, market rent, exit reason"},
    )
    facts = fields.Dict(
        allow_none=True,
        metadata={"description": "department → person (blind index) → facts, at the check"},
    )
    rule_version_id = Int(allow_none=True)
    may_decide = fields.Boolean(required=True)
    can_decide = fields.Boolean(required=True, metadata={"description": "you may decide it"})


class AnnualReviewPageSchema(Schema):
    reviews = fields.List(fields.Nested(StaffAnnualReviewSchema), required=True)
    page = Int(required=True)
    pages = Int(required=True)
    total = Int(required=True)


class AnnualReviewQuery(Schema):
    kind = fields.String(validate=validate.OneOf([k.value for k in ReviewKind]))
    status = fields.String(
        validate=validate.OneOf([s.value for s in ReviewStatus]),
        metadata={"description": "default: open ones (told or awaiting the decision)"},
    )
    overdue = fields.Boolean(load_default=False)
    page = Int(load_default=1, validate=validate.Range(min=1))


class ReviewDecisionRequest(Schema):
    outcome = fields.String(
        required=True, validate=validate.OneOf([o.value for o in ReviewOutcome])
    )
    reason = fields.String(
        required=True,
        validate=validate.Length(max=services.REASON_MAX),
        metadata={"description": "given to the household; required"},
    )


class ReviewChecksSchema(Schema):
    outcome = fields.String(
        required=True, metadata={"description": "checked, unanswered or skipped"}
    )
    review = fields.Nested(StaffAnnualReviewSchema, required=True)


class StaffLeaseRenewalSchema(LeaseRenewalSchema):
    id = Int(required=True)


class LeaseRenewalQuery(Schema):
    all = fields.Boolean(load_default=False, metadata={"description": "also settled ones"})


def _review(r: Review) -> dict:
    decided = r.status is ReviewStatus.DECIDED
    return {
        "reference": r.reference,
        "kind": r.kind.value,
        "kind_title": str(r.kind.label),
        "status": r.status.value,
        "status_title": str(r.status.label),
        "opened_on": r.opened_on,
        "answer_by": r.answer_by,
        "due_on": r.due_on,
        "answer": r.answer,
        "answered_at": r.answered_at,
        "can_answer": services.can_answer(r),
        "checked_at": r.checked_at,
        "rules": [
            {"title": x["title"], "passed": x["passed"], "text": x["text"]}
            for x in explain.rule_rows(r)
        ],
        "outcome": r.outcome.value if decided and r.outcome else None,
        "outcome_title": str(r.outcome.label) if decided and r.outcome else None,
        "outcome_text": explain.outcome_text(r, r.outcome) if decided else None,
        "decision_reason": r.decision_reason if decided else None,
        "effect": explain.effect_text(r) if decided else None,
        "decided_at": r.decided_at if decided else None,
    }


def _renewal(r: LeaseRenewal) -> dict:
    lease = db.session.get(Lease, r.lease_id)
    review = db.session.get(Review, r.review_id) if r.review_id else None
    return {
        "id": r.id,
        "lease": lease.reference,
        "old_ends_on": r.old_ends_on,
        "new_ends_on": r.new_ends_on,
        "status": r.status.value,
        "status_title": str(r.status.label),
        "asked_on": r.asked_on,
        "answer_by": r.answer_by,
        "answered_at": r.answered_at,
        "can_answer": renewals.can_answer(r),
        "review": review.reference if review else None,
    }


def _staff_review(r: Review) -> dict:
    from portal.subsidy.models import SubsidyAward

    user = api_user()
    lease = db.session.get(Lease, r.lease_id) if r.lease_id else None
    award = db.session.get(SubsidyAward, r.award_id) if r.award_id else None
    proposal = {k: v for k, v in r.proposal.items() if k != "documents"}
    return {
        **_review(r),
        "outcome": r.outcome.value if r.outcome else None,
        "outcome_title": str(r.outcome.label) if r.outcome else None,
        "decision_reason": r.decision_reason,
        "id": r.id,
        "application": r.application.reference,
        "applicant": explain.applicant_label(r),
        "lease": lease.reference if lease else None,
        "award": award.reference if award else None,
        "overdue": services.is_overdue(r),
        "proposed": r.proposed.value if r.proposed else None,
        "proposed_title": str(r.proposed.label) if r.proposed else None,
        "proposal_text": explain.proposal_text(r) if r.proposed else None,
        "proposal": proposal,
        "facts": r.facts,
        "rule_version_id": r.rule_version_id,
        "may_decide": services.may_decide_now(r),
        "can_decide": services.can_decide(user, r),
    }


# --- residents -------------------------------------------------------------------------------


@resident_blp.route("/me/review")
@resident_blp.response(200, MyReviewSchema)
@resident_blp.doc(security=BEARER)
@api_access(Role.RESIDENT)
def my_review():
    """Your household's review (the open one, else the latest), earlier reviews, and the
    renewal question when your lease nears its end."""
    user = api_user()
    current = services.current_review_of_resident(user)
    renewal = renewals.renewal_of_resident(user)
    return {
        "review": _review(current) if current else None,
        "earlier": [
            _review(r)
            for r in services.reviews_of_resident(user)
            if current is None or r.id != current.id
        ],
        "renewal": _renewal(renewal) if renewal else None,
        "can_report_change": services.household_of(user) is not None,
    }


@resident_blp.route("/me/review/answer", methods=["POST"])
@resident_blp.arguments(ReviewAnswerRequest)
@resident_blp.response(200, AnnualReviewSchema)
@resident_blp.alt_response(404, description="Your household has no open review")
@resident_blp.alt_response(409, description="The time to answer has passed")
@resident_blp.alt_response(422, description="Text too short or too long")
@resident_blp.doc(security=BEARER)
@api_access(Role.RESIDENT)
def answer(body: dict):
    """Answer your household's open review (until ``answer_by``)."""
    user = api_user()
    review = services.current_review_of_resident(user)
    if review is None or review.status not in services.OPEN_STATUSES:
        abort(404)
    return _review(services.answer(review, user, body["text"]))


@resident_blp.route("/me/review/change", methods=["POST"])
@resident_blp.arguments(ChangeReportRequest)
@resident_blp.response(201, AnnualReviewSchema)
@resident_blp.alt_response(409, description="No lease or subsidy whose data could change")
@resident_blp.alt_response(422, description="Text too short or too long")
@resident_blp.doc(security=BEARER)
@api_access(Role.RESIDENT)
def report_change(body: dict):
    """Report a change of income or household: your data are checked again (a review of the
    change, or the open review) and an officer decides."""
    return _review(services.report_change(api_user(), body["kind"], body["text"]))


@resident_blp.route("/me/review/renewal", methods=["POST"])
@resident_blp.arguments(RenewalAnswerRequest)
@resident_blp.response(200, LeaseRenewalSchema)
@resident_blp.alt_response(404, description="No renewal question for your lease")
@resident_blp.alt_response(409, description="Already answered, or the lease has ended")
@resident_blp.doc(security=BEARER)
@api_access(Role.RESIDENT)
def answer_renewal(body: dict):
    """Say whether you renew your lease: yes opens a review, no an exit case."""
    user = api_user()
    renewal = renewals.renewal_of_resident(user)
    if renewal is None:
        abort(404)
    return _renewal(renewals.answer(renewal, user, renew=body["renew"]))


# --- staff -----------------------------------------------------------------------------------


def _load(review_id: int) -> Review:
    user = api_user()
    return load_in_scope(Review, review_id, services.reader_scope(user), user)


def _load_to_act(review_id: int) -> Review:
    user = api_user()
    return load_in_scope(Review, review_id, services.officer_scope(user), user)


@staff_blp.route("/staff/annual-reviews")
@staff_blp.arguments(AnnualReviewQuery, location="query")
@staff_blp.response(200, AnnualReviewPageSchema)
@staff_blp.doc(security=BEARER)
@api_access(Role.OFFICER, Role.MANAGER)
def list_reviews(query: dict):
    """Reviews in your scope (officers: their districts; managers: all), those awaiting the
    decision first, then by due date; 50 a page."""
    wanted = services.QueueFilter(
        kind=ReviewKind(query["kind"]) if query.get("kind") else None,
        status=ReviewStatus(query["status"]) if query.get("status") else None,
        overdue=query["overdue"],
    )
    result = services.queue(api_user(), wanted, query["page"])
    return {
        "reviews": [_staff_review(r) for r in result.rows],
        "page": result.page,
        "pages": result.pages,
        "total": result.total,
    }


@staff_blp.route("/staff/annual-reviews/<int:review_id>")
@staff_blp.response(200, StaffAnnualReviewSchema)
@staff_blp.alt_response(404, description="No such review in your scope")
@staff_blp.doc(security=BEARER)
@api_access(Role.OFFICER, Role.MANAGER)
def get_review(review_id: int):
    """One review: facts, rules, proposal, answer and decision."""
    return _staff_review(_load(review_id))


@staff_blp.route("/staff/annual-reviews/<int:review_id>/decision", methods=["POST"])
@staff_blp.arguments(ReviewDecisionRequest)
@staff_blp.response(200, StaffAnnualReviewSchema)
@staff_blp.alt_response(404, description="No such review in your districts")
@staff_blp.alt_response(
    409, description="Not checked yet, the household may still answer, or already decided"
)
@staff_blp.alt_response(422, description="No reason, or an outcome that does not fit")
@staff_blp.doc(security=BEARER)
@api_access(Role.OFFICER)
def decide(body: dict, review_id: int):
    """Decide a checked review (the household told, the outcome applied)."""
    review = services.decide(
        _load_to_act(review_id),
        api_user(),
        outcome=ReviewOutcome(body["outcome"]),
        reason=body["reason"],
    )
    return _staff_review(review)


@staff_blp.route("/staff/annual-reviews/<int:review_id>/checks", methods=["POST"])
@staff_blp.response(200, ReviewChecksSchema)
@staff_blp.alt_response(404, description="No such review in your districts")
@staff_blp.alt_response(409, description="Already decided")
@staff_blp.doc(security=BEARER)
@api_access(Role.OFFICER)
def run_checks(review_id: int):
    """Ask the departments again now and evaluate the rules."""
    review = _load_to_act(review_id)
    outcome = services.run_checks_now(review, api_user())
    return {"outcome": outcome, "review": _staff_review(db.session.get(Review, review.id))}


@staff_blp.route("/staff/renewals")
@staff_blp.arguments(LeaseRenewalQuery, location="query")
@staff_blp.response(200, StaffLeaseRenewalSchema(many=True))
@staff_blp.doc(security=BEARER)
@api_access(Role.OFFICER, Role.MANAGER)
def list_renewals(query: dict):
    """Lease renewals in your scope: awaiting the answer or the review (``all``: every one)."""
    return [_renewal(r) for r in renewals.renewals(api_user(), waiting_only=not query["all"])]
