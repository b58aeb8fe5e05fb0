"""Residents (/my/review): their household's review (state, what was checked and each
rule's sentence, the decision and its reason), their answer, a change to report (income or
household, with an optional document), and the renewal question when the lease nears its
end."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import format_date
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
from portal.core.uploads import send_upload
from portal.extensions import db
from portal.reviews import explain, renewals, services
from portal.reviews.forms import DOCUMENT_HINT, AnswerForm, ChangeForm, RenewalForm
from portal.reviews.models import RenewalStatus, ReviewStatus

bp = Blueprint("my_review", __name__, url_prefix="/my/review")


def _actor() -> User:
    return current_user._get_current_object()


def _dropped() -> bool:
    return any(f.filename for f in request.files.getlist("document"))


def _page(status: int = 200, files_dropped: bool = False, **forms):
    user = _actor()
    review = services.current_review_of_resident(user)
    renewal = renewals.renewal_of_resident(user)
    decided = review is not None and review.status is ReviewStatus.DECIDED
    return render_template(
        "reviews/mine.html",
        household=services.household_of(user),
        review=review,
        rules=explain.rule_rows(review) if review is not None else [],
        decided=decided,
        outcome_text=explain.outcome_text(review, review.outcome) if decided else "",
        effect_text=explain.effect_text(review) if decided else "",
        documents=_documents(review),
        can_answer=review is not None and services.can_answer(review),
        renewal=renewal,
        can_renew=renewal is not None and renewals.can_answer(renewal),
        past=[r for r in services.reviews_of_resident(user) if review is None or r.id != review.id],
        answer_form=forms.get("answer_form") or AnswerForm(formdata=None),
        change_form=forms.get("change_form") or ChangeForm(formdata=None),
        renewal_form=forms.get("renewal_form") or RenewalForm(formdata=None),
        document_hint=DOCUMENT_HINT,
        files_dropped=files_dropped,
        today=today(),
    ), status


def _documents(review) -> list[Upload]:
    if review is None:
        return []
    uploads = (db.session.get(Upload, i) for i in services.documents_of(review))
    return [u for u in uploads if u is not None]


@bp.get("")
@allow(Role.RESIDENT)
def index():
    """The household's review, its renewal question, and what it may do."""
    return _page()


@bp.post("/answer")
@allow(Role.RESIDENT)
def answer():
    review = services.current_review_of_resident(_actor())
    if review is None or review.status not in services.OPEN_STATUSES:
        abort(404)
    form = AnswerForm()
    if not form.validate_on_submit():
        return _page(422, _dropped(), answer_form=form)
    try:
        services.answer(review, _actor(), form.answer.data, request.files.get("document"))
    except PortalError as exc:
        show_error(form, exc)
        return _page(exc.status, _dropped(), answer_form=form)
    flash(_("Your answer is recorded. The housing officer reads it before deciding."), "success")
    return redirect(url_for("my_review.index"))


@bp.post("/change")
@allow(Role.RESIDENT)
def report_change():
    form = ChangeForm()
    if not form.validate_on_submit():
        return _page(422, _dropped(), change_form=form)
    try:
        review = services.report_change(
            _actor(), form.kind.data, form.text.data, request.files.get("document")
        )
    except PortalError as exc:
        show_error(form, exc)
        return _page(exc.status, _dropped(), change_form=form)
    flash(
        _(
            "The change is recorded in review %(reference)s: your household's data are checked "
            "again, and a housing officer decides by %(date)s and tells you.",
            reference=review.reference,
            date=format_date(review.due_on),
        ),
        "success",
    )
    return redirect(url_for("my_review.index"))


@bp.post("/renewal")
@allow(Role.RESIDENT)
def renewal():
    item = renewals.renewal_of_resident(_actor())
    if item is None or item.status is not RenewalStatus.ASKED:
        abort(404)
    form = RenewalForm()
    if not form.validate_on_submit():
        return _page(422, renewal_form=form)
    try:
        item = renewals.answer(item, _actor(), renew=form.renew.data == "yes")
    except PortalError as exc:
        show_error(form, exc)
        return _page(exc.status, renewal_form=form)
    if item.status is RenewalStatus.REVIEWING:
        flash(
            _(
                "You want to renew: your household's data are checked again, and the housing "
                "office decides before the lease ends."
            ),
            "success",
        )
    else:
        flash(
            _(
                "Your answer is recorded: the lease is not renewed. The housing office tells you "
                "how to hand back the home."
            ),
            "success",
        )
    return redirect(url_for("my_review.index"))


@bp.get("/files/<int:upload_id>")
@allow(Role.RESIDENT)
def file(upload_id: int):
    """A document the household sent with its review, as an attachment."""
    user = _actor()
    review = next(
        (r for r in services.reviews_of_resident(user) if upload_id in services.documents_of(r)),
        None,
    )
    upload = db.session.get(Upload, upload_id) if review is not None else None
    if upload is None:
        abort(404)
    audit.record("review.file_download", actor=user, obj=upload, review=review.reference)
    return send_upload(upload)


@bp.app_context_processor
def _resident_review() -> dict:
    """``resident_review()`` for the resident's start page; runs only when called."""

    def resident_review() -> dict:
        user = _actor()
        if not user.is_authenticated or user.role is not Role.RESIDENT:
            return {"review": None, "renewal": None}
        review = services.current_review_of_resident(user)
        renewal = renewals.renewal_of_resident(user)
        return {
            "review": review
            if review is not None and review.status in services.OPEN_STATUSES
            else None,
            "renewal": renewal
            if renewal is not None and renewal.status is RenewalStatus.ASKED
            else None,
            "household": services.household_of(user),
        }

    return {"resident_review": resident_review}
