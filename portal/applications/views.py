"""Resident pages: apply, household, sign, status, documents, second review.

Every page loads the application with the resident's scope in the query
(``load_in_scope``): another person's application answers 404, like a missing one, and
the attempt is audited. The services decide; the views show what they decided.
"""

from __future__ import annotations

import secrets

import sqlalchemy as sa
from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from portal.accounts.models import District
from portal.accounts.roles import Role
from portal.applications import services
from portal.applications.explain import explained
from portal.applications.forms import (
    PROGRAMME_HINTS,
    ActionForm,
    DetailsForm,
    MemberForm,
    SecondReviewForm,
    SignForm,
    StartForm,
    UploadForm,
    WithdrawForm,
)
from portal.applications.models import (
    Application,
    ApplicationEvent,
    Programme,
    Relationship,
    Status,
    SupplementRequest,
    SupplementStatus,
    Upload,
)
from portal.applications.texts import (
    AUTHORIZATION,
    AUTHORIZATION_VERSION,
    PLEDGE,
    PLEDGE_VERSION,
    PRIVACY_VERSION,
    texts_hash,
)
from portal.applications.timeline import awaited, event_sentence, next_step
from portal.core import audit
from portal.core.access import allow, signed_in
from portal.core.clock import today
from portal.core.errors import PortalError
from portal.core.forms import choices, show_error
from portal.core.i18n import current_locale
from portal.core.scope import load_in_scope
from portal.core.uploads import send_upload
from portal.core.web import discard_failed_work
from portal.extensions import db

bp = Blueprint("applications", __name__)

STEPS = ("household", "details", "sign")


def _user():
    return current_user._get_current_object()


def _load(app_id: int) -> Application:
    """The resident's own application, or 404 (and an audit event) for anyone else's."""
    user = _user()
    return load_in_scope(Application, app_id, services.resident_scope(user), user)


def applications_of(user) -> list[Application]:
    """The resident's applications, newest first."""
    return list(
        db.session.scalars(
            sa.select(Application)
            .where(services.resident_scope(user))
            .order_by(Application.id.desc())
            .limit(50)
        )
    )


@bp.app_context_processor
def _resident_context() -> dict:
    """``resident_applications()`` for the resident's start page; runs only when called."""

    def resident_applications() -> list[Application]:
        user = _user()
        if not user.is_authenticated or user.role is not Role.RESIDENT:
            return []
        return applications_of(user)

    return {"resident_applications": resident_applications, "application_next_step": next_step}


def _not_draft(app: Application):
    """A submitted application is no longer edited: its status page instead."""
    flash(_("This application is submitted and can no longer be changed."), "error")
    return redirect(url_for(".status", app_id=app.id))


# --- start -------------------------------------------------------------------------------


def _index_page(form: StartForm, status: int = 200):
    if not form.token.data:
        form.token.data = secrets.token_urlsafe(24)
    applications = applications_of(_user())
    return (
        render_template(
            "applications/index.html",
            form=form,
            applications=applications,
            active=next((a for a in applications if a.status.is_active), None),
            hints={p.value: hint for p, hint in PROGRAMME_HINTS.items()},
        ),
        status,
    )


@bp.get("/applications")
@allow(Role.RESIDENT)
def index():
    return _index_page(StartForm())


@bp.post("/applications")
@allow(Role.RESIDENT)
def start():
    form = StartForm()
    if not form.validate_on_submit():
        return _index_page(form, 422)
    try:
        app = services.start_application(
            _user(), Programme(form.programme.data), idempotency_key=form.token.data[:80] or None
        )
    except PortalError as exc:
        show_error(form, exc)
        form.token.data = None  # a new attempt gets a new token
        return _index_page(form, exc.status)
    if app.status is not Status.DRAFT:
        return redirect(url_for(".status", app_id=app.id))
    flash(_("Your application is started. What you enter is saved step by step."), "success")
    return redirect(url_for(".edit", app_id=app.id))


# --- step 1: household; step 2: details --------------------------------------------------


def _district_choices():
    locale = current_locale()
    rows = db.session.scalars(sa.select(District).order_by(District.sort_order, District.code))
    return [(d.code, d.name(locale)) for d in rows]


def _details_form(app: Application, *, bound: bool) -> DetailsForm:
    if bound:
        form = DetailsForm()
    else:
        form = DetailsForm(
            formdata=None,
            contact_phone=app.contact_phone,
            email=app.email,
            current_address=app.current_address,
            district=app.district.code if app.district else "",
            preferred=[d.code for d in app.preferred_districts],
            declared_income=app.declared_income,
        )
    districts = _district_choices()
    form.district.choices = choices([("", _("Choose a district")), *districts])
    form.preferred.choices = choices(districts)
    return form


def _edit_page(
    app: Application,
    step: str,
    *,
    member_form: MemberForm | None = None,
    details_form: DetailsForm | None = None,
    status: int = 200,
):
    return (
        render_template(
            "applications/edit.html",
            app=app,
            step=step,
            steps=STEPS,
            member_form=member_form or MemberForm(formdata=None),
            details_form=details_form or _details_form(app, bound=False),
            action_form=ActionForm(formdata=None),
        ),
        status,
    )


@bp.route("/applications/<int:app_id>/edit", methods=["GET", "POST"])
@allow(Role.RESIDENT)
def edit(app_id: int):
    """Step 1 (household, ``?step=household``, the default) and step 2 (details); a POST
    saves the details."""
    app = _load(app_id)
    if app.status is not Status.DRAFT:
        return redirect(url_for(".status", app_id=app.id))
    if request.method == "GET":
        step = request.args.get("step", "household")
        return _edit_page(app, step if step in STEPS[:2] else "household")
    form = _details_form(app, bound=True)
    if not form.validate_on_submit():
        return _edit_page(app, "details", details_form=form, status=422)
    try:
        services.update_details(
            app,
            _user(),
            contact_phone=form.contact_phone.data,
            email=form.email.data,
            current_address=form.current_address.data,
            district_code=form.district.data,
            preferred_codes=form.preferred.data or [],
            declared_income=form.declared_income.data,
        )
    except PortalError as exc:
        show_error(form, exc)
        return _edit_page(app, "details", details_form=form, status=exc.status)
    flash(_("Your details are saved."), "success")
    return redirect(url_for(".sign", app_id=app.id))


@bp.post("/applications/<int:app_id>/members")
@allow(Role.RESIDENT)
def add_member(app_id: int):
    app = _load(app_id)
    if app.status is not Status.DRAFT:
        return _not_draft(app)
    form = MemberForm()
    if not form.validate_on_submit():
        return _edit_page(app, "household", member_form=form, status=422)
    try:
        member = services.add_member(
            app,
            _user(),
            name=form.name.data,
            id_number=form.id_number.data,
            relationship=Relationship(form.relationship.data),
        )
    except PortalError as exc:
        show_error(form, exc)
        return _edit_page(app, "household", member_form=form, status=exc.status)
    flash(_("%(name)s is added to your household.", name=member.name), "success")
    return redirect(url_for(".edit", app_id=app.id))


@bp.post("/applications/<int:app_id>/members/<int:member_id>/remove")
@allow(Role.RESIDENT)
def remove_member(app_id: int, member_id: int):
    app = _load(app_id)
    if app.status is not Status.DRAFT:
        return _not_draft(app)
    form = ActionForm()
    if not form.validate_on_submit():
        return _edit_page(app, "household", status=422)
    try:
        services.remove_member(app, _user(), member_id)
    except PortalError as exc:
        show_error(form, exc)
        return _edit_page(app, "household", status=exc.status)
    flash(_("The person is removed from your household."), "success")
    return redirect(url_for(".edit", app_id=app.id))


# --- step 3: sign and submit -------------------------------------------------------------


def _details_missing(app: Application) -> bool:
    return app.district_id is None or not app.current_address or not app.contact_phone


@bp.route("/applications/<int:app_id>/sign", methods=["GET", "POST"])
@allow(Role.RESIDENT)
def sign(app_id: int):
    """承诺制: sign the pledge and the authorization, accept the privacy notice, submit.

    Submitting is idempotent: a second POST (double click, resent form) finds the
    application submitted and shows its status page.
    """
    app = _load(app_id)
    if app.status is not Status.DRAFT:
        return redirect(url_for(".status", app_id=app.id))
    locale = current_locale()
    form = SignForm()
    status = 200
    if form.validate_on_submit():
        try:
            app = services.submit(
                app,
                _user(),
                accept_pledge=form.accept_pledge.data,
                accept_authorization=form.accept_authorization.data,
                accept_privacy=form.accept_privacy.data,
                locale=locale,
                shown_hash=form.shown_hash.data or "",
            )
        except PortalError as exc:
            show_error(form, exc)
            status = exc.status
        else:
            flash(
                _("Your application %(reference)s is submitted.", reference=app.reference),
                "success",
            )
            return redirect(url_for(".status", app_id=app.id))
    elif form.is_submitted():
        status = 422
    form.shown_hash.data = texts_hash(locale)
    return (
        render_template(
            "applications/sign.html",
            app=app,
            form=form,
            steps=STEPS,
            step="sign",
            pledge=PLEDGE,
            authorization=AUTHORIZATION,
            versions=(PLEDGE_VERSION, AUTHORIZATION_VERSION, PRIVACY_VERSION),
            details_missing=_details_missing(app),
            locale=locale,
        ),
        status,
    )


# --- status ------------------------------------------------------------------------------


def _notice_ends_on(app: Application):
    from portal.notices.models import Notice, NoticeEntry

    return db.session.scalar(
        sa.select(Notice.ends_on)
        .join(NoticeEntry, NoticeEntry.notice_id == Notice.id)
        .where(NoticeEntry.application_id == app.id)
        .order_by(Notice.id.desc())
        .limit(1)
    )


def _second_review_open(app: Application) -> bool:
    return (
        app.status is Status.REJECTED
        and app.second_review_by is not None
        and today() <= app.second_review_by
    )


def _status_page(
    app: Application,
    *,
    upload_errors: dict[int, str] | None = None,
    withdraw_form: WithdrawForm | None = None,
    review_form: SecondReviewForm | None = None,
    status: int = 200,
):
    from portal.verification.services import checks_of, finding_text

    events = db.session.scalars(
        sa.select(ApplicationEvent)
        .where(ApplicationEvent.application_id == app.id, ApplicationEvent.public.is_(True))
        .order_by(ApplicationEvent.id)
    ).all()
    requests = db.session.scalars(
        sa.select(SupplementRequest)
        .where(SupplementRequest.application_id == app.id)
        .order_by(SupplementRequest.id)
    ).all()
    open_requests = [r for r in requests if r.status is SupplementStatus.OPEN]
    checks = [
        {
            "department": c.department.label,
            "status": c.status.label,
            "outcome": c.outcome.label if c.outcome else None,
            "findings": [finding_text(f) for f in c.findings],
        }
        for c in checks_of(app)
    ]
    awaited_text = awaited(
        app,
        supplement_deadline=min((r.deadline for r in open_requests), default=None),
        notice_ends_on=_notice_ends_on(app) if app.status is Status.NOTICE else None,
    )
    return (
        render_template(
            "applications/status.html",
            app=app,
            timeline=[(ev.at, event_sentence(ev)) for ev in events],
            awaited=awaited_text,
            checks=checks,
            evaluation=explained(app.evaluation),
            requests=requests,
            open_requests=open_requests,
            upload_errors=upload_errors or {},
            upload_form=UploadForm(formdata=None),
            can_withdraw=app.status in services.WITHDRAWABLE,
            withdraw_form=withdraw_form or WithdrawForm(formdata=None),
            second_review_open=_second_review_open(app),
            review_form=review_form or SecondReviewForm(formdata=None),
        ),
        status,
    )


@bp.get("/applications/<int:app_id>")
@allow(Role.RESIDENT)
def status(app_id: int):
    return _status_page(_load(app_id))


@bp.post("/applications/<int:app_id>/supplements/<int:req_id>")
@allow(Role.RESIDENT)
def answer_supplement(app_id: int, req_id: int):
    """补正: the resident uploads the one document asked for."""
    app = _load(app_id)
    user = _user()
    req = load_in_scope(SupplementRequest, req_id, SupplementRequest.application_id == app.id, user)
    form = UploadForm()
    if not form.validate_on_submit():
        return _status_page(app, status=422)
    try:
        services.answer_supplement(req, user, request.files.get("file"))
    except PortalError as exc:
        discard_failed_work(exc)
        return _status_page(app, upload_errors={req_id: str(exc)}, status=exc.status)
    flash(_("Thank you: %(document)s is sent.", document=req.document), "success")
    return redirect(url_for(".status", app_id=app.id))


@bp.post("/applications/<int:app_id>/withdraw")
@allow(Role.RESIDENT)
def withdraw(app_id: int):
    app = _load(app_id)
    form = WithdrawForm()
    if not form.validate_on_submit():
        return _status_page(app, withdraw_form=form, status=422)
    try:
        services.withdraw(app, _user())
    except PortalError as exc:
        show_error(form, exc)
        return _status_page(app, withdraw_form=form, status=exc.status)
    flash(_("Your application is withdrawn. Your household may apply again."), "success")
    return redirect(url_for(".status", app_id=app.id))


@bp.post("/applications/<int:app_id>/second-review")
@allow(Role.RESIDENT)
def second_review(app_id: int):
    app = _load(app_id)
    form = SecondReviewForm()
    if not form.validate_on_submit():
        return _status_page(app, review_form=form, status=422)
    try:
        services.request_second_review(app, _user(), form.reason.data)
    except PortalError as exc:
        show_error(form, exc)
        return _status_page(app, review_form=form, status=exc.status)
    flash(_("Your request for a second review is received."), "success")
    return redirect(url_for(".status", app_id=app.id))


# --- documents ---------------------------------------------------------------------------


def upload_scope(user) -> sa.ColumnElement[bool]:
    """Uploads a user may fetch: the applicant's own, those of applications in an officer's
    districts, and those a reviewer's department asked for."""
    from portal.verification.models import DepartmentCheck
    from portal.verification.services import reviewer_scope

    cases = sa.select(SupplementRequest.upload_id).join(
        Application, Application.id == SupplementRequest.application_id
    )
    if user.role is Role.RESIDENT:
        cases = cases.where(services.resident_scope(user))
    elif user.role is Role.OFFICER:
        cases = cases.where(services.officer_scope(user))
    elif user.role is Role.REVIEWER:
        cases = cases.join(DepartmentCheck, DepartmentCheck.id == SupplementRequest.check_id).where(
            reviewer_scope(user)
        )
    else:
        return sa.false()
    return Upload.id.in_(cases.where(SupplementRequest.upload_id.is_not(None)))


@bp.get("/uploads/<int:upload_id>")
@signed_in
def download(upload_id: int):
    """A document, as an attachment, for its owner and the staff handling the case."""
    user = _user()
    upload = load_in_scope(Upload, upload_id, upload_scope(user), user)
    audit.record("upload.download", actor=user, obj=upload)
    return send_upload(upload)
