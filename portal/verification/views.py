"""Department reviewers' pages: their department's checks, confirm, correct, ask."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user
from sqlalchemy.orm import contains_eager, joinedload

from portal.accounts.models import User
from portal.accounts.roles import Role
from portal.applications.models import (
    Application,
    HouseholdMember,
    Status,
    SupplementRequest,
)
from portal.core.access import allow
from portal.core.clock import today
from portal.core.errors import PortalError
from portal.core.forms import show_error
from portal.core.scope import load_in_scope
from portal.core.web import discard_failed_work
from portal.extensions import db
from portal.verification import services as verification
from portal.verification.forms import (
    ActionForm,
    CheckFilterForm,
    ConfirmForm,
    ConfirmMatchingForm,
    DocumentForm,
    OverrideForm,
    facts_by_member,
    override_form,
)
from portal.verification.models import CheckStatus, DepartmentCheck

bp = Blueprint("review", __name__, url_prefix="/review")

PAGE = 25


def _actor() -> User:
    return current_user._get_current_object()


def _waiting(user: User) -> tuple[sa.ColumnElement[bool], ...]:
    """Checks of the reviewer's department that wait for them (join ``Application``)."""
    return (
        verification.reviewer_scope(user),
        DepartmentCheck.outcome.is_(None),
        Application.status == Status.CHECKING,
    )


@dataclass(frozen=True)
class ReviewerWorkload:
    pending: int
    overdue: int


@bp.app_template_global()
def reviewer_workload(user: User) -> ReviewerWorkload:
    """How many checks wait for ``user``, and how many of them are past their deadline."""
    pending, overdue = db.session.execute(
        sa.select(
            sa.func.count(),
            sa.func.count(sa.case((DepartmentCheck.deadline < today(), 1))),
        )
        .select_from(DepartmentCheck)
        .join(Application, Application.id == DepartmentCheck.application_id)
        .where(*_waiting(user))
    ).one()
    return ReviewerWorkload(pending, overdue)


# --- the queue ---------------------------------------------------------------------------


@bp.get("/checks")
@allow(Role.REVIEWER)
def queue():
    """Checks waiting for the reviewer, earliest deadline first, keyset-paginated
    (``after`` the id of the last row shown)."""
    user = _actor()
    filters = CheckFilterForm(formdata=request.args)
    size = (
        sa.select(sa.func.count())
        .where(HouseholdMember.application_id == DepartmentCheck.application_id)
        .correlate(DepartmentCheck)
        .scalar_subquery()
    )
    stmt = (
        sa.select(DepartmentCheck, size)
        .join(DepartmentCheck.application)
        .options(contains_eager(DepartmentCheck.application).joinedload(Application.district))
        .where(*_waiting(user))
    )
    if filters.validate():
        if filters.status.data:
            stmt = stmt.where(DepartmentCheck.status == CheckStatus(filters.status.data))
        if filters.overdue.data:
            stmt = stmt.where(DepartmentCheck.deadline < today())
    after = request.args.get("after", type=int)
    if after:
        cursor = db.session.scalar(
            sa.select(DepartmentCheck.deadline).where(
                DepartmentCheck.id == after, verification.reviewer_scope(user)
            )
        )
        if cursor is not None:
            stmt = stmt.where(
                sa.or_(
                    DepartmentCheck.deadline > cursor,
                    sa.and_(DepartmentCheck.deadline == cursor, DepartmentCheck.id > after),
                )
            )
    rows = db.session.execute(
        stmt.order_by(DepartmentCheck.deadline, DepartmentCheck.id).limit(PAGE + 1)
    ).all()
    more = len(rows) > PAGE
    rows = rows[:PAGE]
    args = {k: v for k, v in request.args.items() if k != "after" and v}
    return render_template(
        "review/queue.html",
        rows=rows,
        filters=filters,
        today=today(),
        workload=reviewer_workload(user),
        matching=[c.id for c, _size in rows if c.status is CheckStatus.MATCH],
        bulk_form=ConfirmMatchingForm(formdata=None),
        next_url=url_for("review.queue", after=rows[-1][0].id, **args) if more else None,
        first_url=url_for("review.queue", **args) if after else None,
    )


@bp.post("/checks/confirm-matching")
@allow(Role.REVIEWER)
def confirm_matching():
    """Confirm the consistent answers the reviewer was shown, one by one."""
    user = _actor()
    form = ConfirmMatchingForm()
    if not form.validate_on_submit():
        flash(_("Nothing was confirmed: reload the page and try again."), "error")
        return redirect(url_for("review.queue"))
    checks = db.session.scalars(
        sa.select(DepartmentCheck)
        .join(DepartmentCheck.application)
        .where(
            DepartmentCheck.id.in_((form.checks.data or [])[:PAGE]),
            DepartmentCheck.status == CheckStatus.MATCH,
            *_waiting(user),
        )
        .order_by(DepartmentCheck.id)
    ).all()
    done = 0
    for check in checks:
        try:
            # each confirmation stands alone: one that fails does not undo the others
            with db.session.begin_nested():
                verification.confirm(check, user)
        except PortalError:
            continue
        done += 1
    if done:
        flash(
            ngettext(
                "%(num)d consistent answer confirmed.",
                "%(num)d consistent answers confirmed.",
                done,
            ),
            "success",
        )
    else:
        flash(_("No consistent answer was waiting to be confirmed."), "error")
    return redirect(url_for("review.queue"))


# --- one check ---------------------------------------------------------------------------


def _load(check_id: int) -> DepartmentCheck:
    user = _actor()
    return load_in_scope(DepartmentCheck, check_id, verification.reviewer_scope(user), user)


def _page(
    check: DepartmentCheck,
    *,
    confirm_form: ConfirmForm | None = None,
    correct_form: OverrideForm | None = None,
    document_form: DocumentForm | None = None,
    status: int = 200,
):
    """The check page; a form that failed is passed in to show its errors."""
    app = check.application
    supplements = db.session.scalars(
        sa.select(SupplementRequest)
        .where(SupplementRequest.check_id == check.id)
        .options(joinedload(SupplementRequest.upload))
        .order_by(SupplementRequest.id)
    ).all()
    return render_template(
        "review/check.html",
        check=check,
        app=app,
        facts=facts_by_member(check),
        findings=[verification.finding_text(f) for f in check.findings],
        supplements=supplements,
        waiting=check.outcome is None and app.status in verification.OPEN_STATUSES,
        today=today(),
        confirm_form=confirm_form or ConfirmForm(formdata=None),
        correct_form=correct_form or override_form(check, formdata=None),
        document_form=document_form or DocumentForm(formdata=None),
        action_form=ActionForm(formdata=None),
    ), status


@bp.get("/checks/<int:check_id>")
@allow(Role.REVIEWER)
def check(check_id: int):
    return _page(_load(check_id))


def _done(message: str):
    flash(message, "success")
    return redirect(url_for("review.queue"))


@bp.post("/checks/<int:check_id>/confirm")
@allow(Role.REVIEWER)
def confirm(check_id: int):
    check = _load(check_id)
    form = ConfirmForm()
    if not form.validate_on_submit():
        return _page(check, confirm_form=form, status=422)
    try:
        verification.confirm(check, _actor(), form.note.data)
    except PortalError as exc:
        show_error(form, exc)
        return _page(check, confirm_form=form, status=exc.status)
    return _done(
        _("The check of %(reference)s is confirmed.", reference=check.application.reference)
    )


@bp.post("/checks/<int:check_id>/correct")
@allow(Role.REVIEWER)
def override(check_id: int):
    check = _load(check_id)
    form = override_form(check)
    if not form.validate_on_submit():
        return _page(check, correct_form=form, status=422)
    try:
        verification.override(check, _actor(), form.raw_facts(), form.reason.data)
    except PortalError as exc:
        if form.put_fact_error(exc):
            discard_failed_work(exc)
        else:
            show_error(form, exc)
        return _page(check, correct_form=form, status=exc.status)
    return _done(
        _("The facts of %(reference)s are corrected.", reference=check.application.reference),
    )


@bp.post("/checks/<int:check_id>/retry")
@allow(Role.REVIEWER)
def retry(check_id: int):
    check = _load(check_id)
    if ActionForm().validate_on_submit():
        try:
            verification.ask_again(check, _actor())
        except PortalError as exc:
            discard_failed_work(exc)
            flash(str(exc), "error")
            return redirect(url_for("review.check", check_id=check_id))
        return _done(
            _(
                "The department was asked again about %(reference)s. Its answer: %(status)s",
                reference=check.application.reference,
                status=check.status.label,
            ),
        )
    return redirect(url_for("review.check", check_id=check_id))


@bp.post("/checks/<int:check_id>/document")
@allow(Role.REVIEWER)
def request_document(check_id: int):
    check = _load(check_id)
    form = DocumentForm()
    if not form.validate_on_submit():
        return _page(check, document_form=form, status=422)
    try:
        verification.request_document(
            check, _actor(), document=form.document.data, reason=form.reason.data
        )
    except PortalError as exc:
        show_error(form, exc)
        return _page(check, document_form=form, status=exc.status)
    return _done(
        _(
            "The resident of %(reference)s is asked for: %(document)s",
            reference=check.application.reference,
            document=form.document.data.strip(),
        ),
    )
