"""Officers (/staff/annual-reviews): the review queue (awaiting the decision first, then by
due date, overdue flagged), one review (facts per department, rules with reasons, proposal,
the household's answer, the decision), and the lease renewals. Managers read; the officers
of the household's district decide."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from portal.accounts.models import User
from portal.accounts.roles import Role
from portal.applications.models import Upload
from portal.core import audit
from portal.core.access import allow
from portal.core.clock import today
from portal.core.errors import PortalError
from portal.core.forms import show_error
from portal.core.scope import load_in_scope
from portal.core.uploads import send_upload
from portal.extensions import db
from portal.reviews import explain, renewals, services
from portal.reviews.forms import ActionForm, DecideForm, QueueFilterForm
from portal.reviews.models import LeaseRenewal, Review, ReviewKind, ReviewOutcome, ReviewStatus
from portal.subsidy.models import SubsidyAward
from portal.tenancy.models import Lease

bp = Blueprint("annual_reviews", __name__, url_prefix="/staff/annual-reviews")

STAFF = (Role.OFFICER, Role.MANAGER)


def _actor() -> User:
    return current_user._get_current_object()


@bp.get("")
@allow(*STAFF)
def index():
    """The reviews in the staff member's scope, with filters."""
    form = QueueFilterForm(request.args)
    form.validate()
    wanted = services.QueueFilter(
        kind=ReviewKind(form.kind.data)
        if form.kind.data in {k.value for k in ReviewKind}
        else None,
        status=ReviewStatus(form.status.data)
        if form.status.data in {s.value for s in ReviewStatus}
        else None,
        overdue=bool(form.overdue.data),
    )
    page = form.page.data if isinstance(form.page.data, int) and form.page.data > 0 else 1
    result = services.queue(_actor(), wanted, page)
    args = {k: v for k, v in request.args.items() if k != "page" and v}
    return render_template(
        "reviews/index.html",
        form=form,
        result=result,
        args=args,
        applicant=explain.applicant_label,
        overdue=services.is_overdue,
        work=services.workload(_actor()),
        today=today(),
    )


def _load(review_id: int) -> Review:
    user = _actor()
    return load_in_scope(Review, review_id, services.reader_scope(user), user)


def _load_to_act(review_id: int) -> Review:
    user = _actor()
    return load_in_scope(Review, review_id, services.officer_scope(user), user)


def _page(review: Review, status: int = 200, decide_form: DecideForm | None = None):
    user = _actor()
    if decide_form is None:
        decide_form = DecideForm(formdata=None)
        if review.proposed is not None:
            decide_form.outcome.data = review.proposed.value
            if review.proposed is ReviewOutcome.CONTINUE:
                decide_form.reason.data = explain.proposal_text(review)
    renewal = db.session.query(LeaseRenewal).filter_by(review_id=review.id).first()
    return render_template(
        "reviews/review.html",
        review=review,
        app=review.application,
        applicant=explain.applicant_label(review),
        lease=db.session.get(Lease, review.lease_id) if review.lease_id else None,
        award=db.session.get(SubsidyAward, review.award_id) if review.award_id else None,
        renewal=renewal,
        rules=explain.rule_rows(review),
        departments=explain.facts_by_department(review),
        proposal_text=explain.proposal_text(review),
        outcome_text=explain.outcome_text(review, review.outcome) if review.outcome else "",
        effect_text=explain.effect_text(review) if review.outcome else "",
        exit_reason=services.exit_reason_of(review),
        documents=[
            u for u in (db.session.get(Upload, i) for i in services.documents_of(review)) if u
        ],
        can_act=services.can_decide(user, review),
        may_decide=services.may_decide_now(review),
        overdue=services.is_overdue(review),
        decide_form=decide_form,
        action_form=ActionForm(formdata=None),
        today=today(),
    ), status


@bp.get("/<int:review_id>")
@allow(*STAFF)
def review(review_id: int):
    """One review: facts, rules, proposal, the household's answer and the decision."""
    return _page(_load(review_id))


@bp.post("/<int:review_id>/decision")
@allow(Role.OFFICER)
def decide(review_id: int):
    item = _load_to_act(review_id)
    form = DecideForm()
    if not form.validate_on_submit():
        return _page(item, 422, form)
    try:
        services.decide(
            item, _actor(), outcome=ReviewOutcome(form.outcome.data), reason=form.reason.data
        )
    except PortalError as exc:
        show_error(form, exc)
        return _page(db.session.get(Review, review_id), exc.status, form)
    flash(
        _(
            "Decided: %(outcome)s. The decision is applied and the household is told.",
            outcome=item.outcome.label,
        ),
        "success",
    )
    return redirect(url_for("annual_reviews.review", review_id=item.id))


@bp.post("/<int:review_id>/checks")
@allow(Role.OFFICER)
def run_checks(review_id: int):
    item = _load_to_act(review_id)
    form = ActionForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        outcome = services.run_checks_now(item, _actor())
    except PortalError as exc:
        show_error(form, exc)
        return _page(db.session.get(Review, review_id), exc.status)
    flash(
        {
            "checked": _("The departments answered: the rules are evaluated again."),
            "unanswered": _("A department did not answer; it is asked again every day."),
            "skipped": _("This review is already decided."),
        }[outcome],
        "error" if outcome == "unanswered" else "success",
    )
    return redirect(url_for("annual_reviews.review", review_id=item.id))


@bp.get("/<int:review_id>/files/<int:upload_id>")
@allow(*STAFF)
def file(review_id: int, upload_id: int):
    """A document the household sent with the review, as an attachment."""
    item = _load(review_id)
    if upload_id not in services.documents_of(item):
        abort(404)
    upload = db.get_or_404(Upload, upload_id)
    audit.record("review.file_download", actor=_actor(), obj=upload, review=item.reference)
    return send_upload(upload)


@bp.get("/renewals")
@allow(*STAFF)
def renewal_list():
    """Lease renewals: those awaiting the tenant's answer or the review, the earliest lease
    end first (``?all=1``: every renewal, the newest first)."""
    show_all = request.args.get("all") == "1"
    return render_template(
        "reviews/renewals.html",
        rows=renewals.renewals(_actor(), waiting_only=not show_all),
        show_all=show_all,
        lease_of=lambda r: db.session.get(Lease, r.lease_id),
        review_of=lambda r: db.session.get(Review, r.review_id) if r.review_id else None,
        today=today(),
    )
