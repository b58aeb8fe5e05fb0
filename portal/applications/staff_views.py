"""Housing officers' pages: work queue, the whole file, decisions, spot checks."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

import sqlalchemy as sa
from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy.orm import joinedload

from portal.accounts.models import User
from portal.accounts.roles import Role
from portal.applications import services
from portal.applications.explain import explained
from portal.applications.models import (
    Application,
    Programme,
    SpotCheck,
    Status,
    SupplementRequest,
    SupplementStatus,
)
from portal.applications.staff_forms import (
    ALL,
    ApproveForm,
    QueueFilterForm,
    RejectForm,
    SpotCheckForm,
    SupplementForm,
)
from portal.applications.timeline import event_sentence
from portal.core.access import allow
from portal.core.clock import today
from portal.core.errors import PortalError
from portal.core.forms import choices, show_error
from portal.core.i18n import current_locale
from portal.core.scope import load_in_scope
from portal.core.settings import RuleVersion
from portal.extensions import db
from portal.verification import services as verification
from portal.verification.forms import MemberFacts, facts_by_member
from portal.verification.models import DepartmentCheck

bp = Blueprint("officer", __name__, url_prefix="/officer")

PAGE = 25
# Submitted and not yet decided: the 20 working days (限时办结) run for these.
UNDECIDED = (Status.CHECKING, Status.SUPPLEMENT, Status.REVIEW, Status.SECOND_REVIEW)
FAR_FUTURE = date(9999, 12, 31)


def _actor() -> User:
    return current_user._get_current_object()


def _file_scope(user: User) -> sa.ColumnElement[bool]:
    """Submitted applications of the officer's districts (drafts are the resident's own)."""
    return sa.and_(services.officer_scope(user), Application.status != Status.DRAFT)


def _overdue() -> sa.ColumnElement[bool]:
    return sa.and_(Application.status.in_(UNDECIDED), Application.decide_by < today())


def masked_phone(phone: str | None) -> str:
    """A phone number with all but its last four digits hidden."""
    if not phone:
        return "—"
    return "*" * max(0, len(phone) - 4) + phone[-4:]


# --- the work queue ----------------------------------------------------------------------


@bp.get("/applications")
@allow(Role.OFFICER)
def queue():
    """Applications of the officer's districts: undecided ones first, earliest deadline
    first; keyset-paginated (``after`` the id of the last row shown)."""
    user = _actor()
    mine = {d.code: d for d in user.districts}
    filters = QueueFilterForm(formdata=request.args)
    filters.district.choices = [
        *ALL,
        *choices((d.code, d.name(current_locale())) for d in user.districts),
    ]
    scope = _file_scope(user)
    bucket = sa.case((Application.status.in_(UNDECIDED), 0), else_=1)
    due = sa.func.coalesce(Application.decide_by, FAR_FUTURE)
    open_documents = (
        sa.select(sa.func.count())
        .where(
            SupplementRequest.application_id == Application.id,
            SupplementRequest.status == SupplementStatus.OPEN,
        )
        .correlate(Application)
        .scalar_subquery()
    )
    stmt = (
        sa.select(Application, open_documents)
        .options(joinedload(Application.applicant), joinedload(Application.district))
        .where(scope)
    )
    if filters.validate():
        if filters.status.data:
            stmt = stmt.where(Application.status == Status(filters.status.data))
        if filters.programme.data:
            stmt = stmt.where(Application.programme == Programme(filters.programme.data))
        if filters.district.data in mine:
            stmt = stmt.where(Application.district_id == mine[filters.district.data].id)
        if filters.overdue.data:
            stmt = stmt.where(_overdue())
        if filters.q.data and filters.q.data.strip():
            stmt = stmt.where(
                Application.reference.contains(filters.q.data.strip().upper(), autoescape=True)
            )
    after = request.args.get("after", type=int)
    if after:
        cursor = db.session.execute(
            sa.select(bucket, due).where(Application.id == after, scope)
        ).one_or_none()
        if cursor is not None:
            b, d = cursor
            stmt = stmt.where(
                sa.or_(
                    bucket > b,
                    sa.and_(bucket == b, due > d),
                    sa.and_(bucket == b, due == d, Application.id > after),
                )
            )
    rows = db.session.execute(stmt.order_by(bucket, due, Application.id).limit(PAGE + 1)).all()
    more = len(rows) > PAGE
    rows = rows[:PAGE]
    args = {k: v for k, v in request.args.items() if k != "after" and v}
    return render_template(
        "officer/queue.html",
        rows=rows,
        filters=filters,
        today=today(),
        undecided=UNDECIDED,
        next_url=url_for("officer.queue", after=rows[-1][0].id, **args) if more else None,
        first_url=url_for("officer.queue", **args) if after else None,
    )


# --- the whole file ----------------------------------------------------------------------


@dataclass(frozen=True)
class CheckView:
    check: DepartmentCheck
    facts: list[MemberFacts]
    findings: list[str]


def _load_file(app_id: int) -> Application:
    user = _actor()
    return load_in_scope(Application, app_id, _file_scope(user), user)


def _file_page(
    app: Application,
    *,
    approve_form: ApproveForm | None = None,
    reject_form: RejectForm | None = None,
    supplement_form: SupplementForm | None = None,
    status: int = 200,
):
    """The whole file on one page; a form that failed is passed in to show its errors."""
    checks = verification.checks_of(app)
    supplements = db.session.scalars(
        sa.select(SupplementRequest)
        .where(SupplementRequest.application_id == app.id)
        .options(joinedload(SupplementRequest.upload))
        .order_by(SupplementRequest.id)
    ).all()
    spot = db.session.scalars(
        sa.select(SpotCheck).where(SpotCheck.application_id == app.id)
    ).one_or_none()
    staff_ids = {
        app.decided_by_id,
        *(e.actor_id for e in app.events),
        *(c.reviewer_id for c in checks),
        *(s.requested_by_id for s in supplements),
        spot.checked_by_id if spot else None,
    } - {None}
    people = {u.id: u for u in db.session.scalars(sa.select(User).where(User.id.in_(staff_ids)))}
    evaluation: dict[str, Any] = app.evaluation or {}
    return render_template(
        "officer/file.html",
        app=app,
        phone=masked_phone(app.contact_phone),
        checks=[
            CheckView(c, facts_by_member(c), [verification.finding_text(f) for f in c.findings])
            for c in checks
        ],
        evaluated=bool(evaluation),
        eligible=evaluation.get("eligible"),
        rules=explained(evaluation),
        rule_version=db.session.get(RuleVersion, app.rule_version_id)
        if app.rule_version_id
        else None,
        supplements=supplements,
        spot=spot,
        timeline=[(e, event_sentence(e, staff=True)) for e in app.events],
        people=people,
        today=today(),
        overdue=app.status in UNDECIDED and app.decide_by is not None and app.decide_by < today(),
        can_decide=app.status in services.DECIDABLE,
        can_request=app.status in UNDECIDED,
        approve_form=approve_form or ApproveForm(formdata=None),
        reject_form=reject_form or RejectForm(formdata=None),
        supplement_form=supplement_form or SupplementForm(formdata=None),
    ), status


@bp.get("/applications/<int:app_id>")
@allow(Role.OFFICER)
def file(app_id: int):
    return _file_page(_load_file(app_id))


def _back_to_file(app: Application, message: str):
    flash(message, "success")
    return redirect(url_for("officer.file", app_id=app.id))


@bp.post("/applications/<int:app_id>/approve")
@allow(Role.OFFICER)
def approve(app_id: int):
    app = _load_file(app_id)
    form = ApproveForm()
    if not form.validate_on_submit():
        return _file_page(app, approve_form=form, status=422)
    try:
        services.approve(app, _actor(), form.note.data)
    except PortalError as exc:
        show_error(form, exc)
        return _file_page(app, approve_form=form, status=exc.status)
    return _back_to_file(
        app, _("%(reference)s is approved for public notice.", reference=app.reference)
    )


@bp.post("/applications/<int:app_id>/reject")
@allow(Role.OFFICER)
def reject(app_id: int):
    app = _load_file(app_id)
    form = RejectForm()
    if not form.validate_on_submit():
        return _file_page(app, reject_form=form, status=422)
    try:
        services.reject(app, _actor(), form.reason.data)
    except PortalError as exc:
        show_error(form, exc)
        return _file_page(app, reject_form=form, status=exc.status)
    return _back_to_file(app, _("%(reference)s is rejected.", reference=app.reference))


@bp.post("/applications/<int:app_id>/supplement")
@allow(Role.OFFICER)
def supplement(app_id: int):
    app = _load_file(app_id)
    form = SupplementForm()
    if not form.validate_on_submit():
        return _file_page(app, supplement_form=form, status=422)
    try:
        services.request_supplement(
            app, _actor(), document=form.document.data, reason=form.reason.data
        )
    except PortalError as exc:
        show_error(form, exc)
        return _file_page(app, supplement_form=form, status=exc.status)
    return _back_to_file(
        app,
        _(
            "The applicant of %(reference)s is asked for: %(document)s",
            reference=app.reference,
            document=form.document.data.strip(),
        ),
    )


# --- spot checks -------------------------------------------------------------------------


def _spot_scope(user: User) -> sa.ColumnElement[bool]:
    return SpotCheck.application.has(services.officer_scope(user))


def _spot_page(failed: tuple[int, SpotCheckForm] | None = None, status: int = 200):
    """Spot checks of the officer's districts: open ones first, newest first; keyset-paginated
    (``after`` the id of the last row shown)."""
    user = _actor()
    scope = _spot_scope(user)
    bucket = sa.case((SpotCheck.outcome.is_(None), 0), else_=1)
    stmt = (
        sa.select(SpotCheck)
        .where(scope)
        .options(joinedload(SpotCheck.application).joinedload(Application.district))
    )
    after = request.args.get("after", type=int)
    if after:
        b = db.session.scalar(sa.select(bucket).where(SpotCheck.id == after, scope))
        if b is not None:
            stmt = stmt.where(sa.or_(bucket > b, sa.and_(bucket == b, SpotCheck.id < after)))
    rows = db.session.scalars(stmt.order_by(bucket, SpotCheck.id.desc()).limit(PAGE + 1)).all()
    more = len(rows) > PAGE
    rows = rows[:PAGE]
    forms = dict([failed]) if failed else {}
    return render_template(
        "officer/spot_checks.html",
        spots=rows,
        forms=forms,
        blank=SpotCheckForm(formdata=None),
        next_url=url_for("officer.spot_checks", after=rows[-1].id) if more else None,
        first_url=url_for("officer.spot_checks") if after else None,
    ), status


@bp.get("/spot-checks")
@allow(Role.OFFICER)
def spot_checks():
    return _spot_page()


@bp.post("/spot-checks/<int:spot_id>")
@allow(Role.OFFICER)
def record_spot_check(spot_id: int):
    user = _actor()
    spot = load_in_scope(SpotCheck, spot_id, _spot_scope(user), user)
    form = SpotCheckForm()
    if not form.validate_on_submit():
        return _spot_page((spot.id, form), 422)
    try:
        services.record_spot_check(
            spot, user, false_pledge=form.outcome.data == "false_pledge", finding=form.finding.data
        )
    except PortalError as exc:
        show_error(form, exc)
        return _spot_page((spot.id, form), exc.status)
    flash(
        _("The spot check of %(reference)s is recorded.", reference=spot.application.reference),
        "success",
    )
    return redirect(url_for("officer.spot_checks"))
