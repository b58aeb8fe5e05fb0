"""Administration pages. Each action names the one role that may take it."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from portal.accounts import services
from portal.accounts.models import ApiClient, District, LoginThrottle, User, UserSession
from portal.accounts.roles import Role
from portal.accounts.throttle import throttle_key
from portal.admin.forms import ActionForm, AuditFilterForm, ClientForm, ReasonForm, StaffForm
from portal.api import auth as api_auth
from portal.core import audit
from portal.core.access import allow
from portal.core.audit import AuditEvent
from portal.core.clock import utcnow
from portal.core.errors import PortalError
from portal.core.forms import choices, show_error
from portal.core.i18n import current_locale
from portal.core.scope import load_in_scope
from portal.core.web import discard_failed_work
from portal.extensions import db
from portal.verification.departments import Department

bp = Blueprint("admin", __name__)

PAGE = 50


def _actor() -> User:
    return current_user._get_current_object()


@bp.get("/admin/accounts")
@allow(Role.ADMIN, Role.SECURITY)
def accounts():
    """Accounts, newest first, keyset-paginated (``before`` an id), searchable."""
    q = (request.args.get("q") or "").strip()
    role = request.args.get("role") or ""
    before = request.args.get("before", type=int)
    stmt = sa.select(User).order_by(User.id.desc()).limit(PAGE + 1)
    if role in {r.value for r in Role}:
        stmt = stmt.where(User.role == Role(role))
    if q:
        found = services.find_by_identifier(q)
        name_match = User.real_name.contains(q, autoescape=True)
        stmt = stmt.where(sa.or_(name_match, User.id == (found.id if found else -1)))
    if before:
        stmt = stmt.where(User.id < before)
    rows = db.session.scalars(stmt).all()
    more = len(rows) > PAGE
    rows = rows[:PAGE]
    return render_template(
        "admin/accounts.html",
        users=rows,
        q=q,
        role=role,
        roles=list(Role),
        next_before=rows[-1].id if more else None,
    )


def _staff_form() -> StaffForm:
    form = StaffForm()
    loc = current_locale()
    form.districts.choices = choices(
        (d.code, d.name(loc))
        for d in db.session.scalars(sa.select(District).order_by(District.sort_order))
    )
    return form


@bp.route("/admin/accounts/new", methods=["GET", "POST"])
@allow(Role.ADMIN)
def create_staff():
    form = _staff_form()
    status = 200
    if form.validate_on_submit():
        try:
            new = services.create_staff(
                _actor(),
                role=Role(form.role.data),
                username=form.username.data,
                real_name=form.real_name.data,
                district_codes=form.districts.data,
                department=Department(form.department.data) if form.department.data else None,
                mobile=form.mobile.data,
                email=form.email.data,
            )
        except PortalError as exc:
            show_error(form, exc)
            status = exc.status
        else:
            # Shown once, on the response to the POST; never stored in clear.
            return render_template("admin/staff_created.html", new=new)
    elif form.is_submitted():
        status = 422
    return render_template("admin/staff_form.html", form=form), status


def _load_account(user_id: int) -> User:
    return load_in_scope(User, user_id, sa.true(), _actor())


@bp.get("/admin/accounts/<int:user_id>")
@allow(Role.ADMIN, Role.SECURITY)
def account(user_id: int):
    user = _load_account(user_id)
    locked = db.session.scalar(
        sa.select(sa.func.count())
        .select_from(LoginThrottle)
        .where(
            LoginThrottle.key.in_([throttle_key(i) for i in services.identifiers_of(user)]),
            LoginThrottle.locked_until > utcnow(),
        )
    )
    live_sessions = db.session.scalar(
        sa.select(sa.func.count())
        .select_from(UserSession)
        .where(UserSession.user_id == user.id, UserSession.revoked_at.is_(None))
    )
    return render_template(
        "admin/account.html",
        user=user,
        locked=bool(locked),
        live_sessions=live_sessions,
        action_form=ActionForm(),
        reason_form=ReasonForm(),
        reset_form=ReasonForm(prefix="reset"),
        revealed=None,
    )


def _act(user_id: int, action, done_message: str):
    user = _load_account(user_id)
    form = ActionForm()
    if form.validate_on_submit():
        try:
            action(_actor(), user)
        except PortalError as exc:
            discard_failed_work(exc)
            flash(str(exc), "error")
        else:
            flash(done_message, "success")
    return redirect(url_for("admin.account", user_id=user.id))


@bp.post("/admin/accounts/<int:user_id>/disable")
@allow(Role.ADMIN)
def disable(user_id: int):
    return _act(
        user_id, lambda a, u: services.set_active(a, u, False), _("The account is disabled.")
    )


@bp.post("/admin/accounts/<int:user_id>/enable")
@allow(Role.ADMIN)
def enable(user_id: int):
    return _act(user_id, lambda a, u: services.set_active(a, u, True), _("The account is enabled."))


@bp.post("/admin/accounts/<int:user_id>/unlock")
@allow(Role.SECURITY)
def unlock(user_id: int):
    return _act(user_id, services.unlock, _("Sign-in locks are lifted."))


@bp.post("/admin/accounts/<int:user_id>/reset-totp")
@allow(Role.SECURITY)
def reset_totp(user_id: int):
    return _act(
        user_id,
        services.reset_second_factor,
        _("The authenticator is reset; a new one is set up at next sign-in."),
    )


@bp.post("/admin/accounts/<int:user_id>/end-sessions")
@allow(Role.SECURITY)
def end_sessions(user_id: int):
    return _act(user_id, services.end_sessions, _("Every sign-in of this account is ended."))


@bp.post("/admin/accounts/<int:user_id>/reveal")
@allow(Role.SECURITY)
def reveal(user_id: int):
    user = _load_account(user_id)
    form = ReasonForm()
    revealed = None
    if form.validate_on_submit():
        try:
            revealed = services.reveal_id_number(_actor(), user, form.reason.data)
        except PortalError as exc:
            show_error(form, exc)
    return render_template(
        "admin/account.html",
        user=user,
        locked=False,
        live_sessions=None,
        action_form=ActionForm(),
        reason_form=form,
        reset_form=ReasonForm(prefix="reset"),
        revealed=revealed,
    ), (200 if revealed else 422)


@bp.post("/admin/accounts/<int:user_id>/reset-password")
@allow(Role.SECURITY)
def reset_password(user_id: int):
    """A one-time password for a person at the counter, shown once."""
    user = _load_account(user_id)
    form = ReasonForm(prefix="reset")
    if form.validate_on_submit():
        try:
            password = services.reset_password_at_counter(_actor(), user, form.reason.data)
        except PortalError as exc:
            show_error(form, exc)
        else:
            return render_template("admin/password_reset.html", user=user, password=password)
    return render_template(
        "admin/account.html",
        user=user,
        locked=False,
        live_sessions=None,
        action_form=ActionForm(),
        reason_form=ReasonForm(),
        reset_form=form,
        revealed=None,
    ), 422


@bp.route("/admin/clients", methods=["GET", "POST"])
@allow(Role.ADMIN)
def clients():
    """Partner agencies' API clients: list, register (the secret is shown once), disable."""
    form = ClientForm()
    status = 200
    if form.validate_on_submit():
        try:
            new = api_auth.create_client(
                _actor(),
                name=form.name.data,
                credit_code=form.credit_code.data,
                scopes=(form.scopes.data or "").split(),
            )
        except PortalError as exc:
            show_error(form, exc)
            status = exc.status
        else:
            return render_template("admin/client_created.html", new=new)
    elif form.is_submitted():
        status = 422
    rows = db.session.scalars(sa.select(ApiClient).order_by(ApiClient.id.desc())).all()
    return render_template(
        "admin/clients.html", form=form, clients=rows, action_form=ActionForm()
    ), status


def _client_state(client_id: int, active: bool):
    client = load_in_scope(ApiClient, client_id, sa.true(), _actor())
    if ActionForm().validate_on_submit():
        api_auth.set_client_active(_actor(), client, active)
        flash(_("The client is enabled.") if active else _("The client is disabled."), "success")
    return redirect(url_for("admin.clients"))


@bp.post("/admin/clients/<int:client_id>/disable")
@allow(Role.ADMIN)
def disable_client(client_id: int):
    return _client_state(client_id, False)


@bp.post("/admin/clients/<int:client_id>/enable")
@allow(Role.ADMIN)
def enable_client(client_id: int):
    return _client_state(client_id, True)


@bp.get("/audit")
@allow(Role.AUDITOR)
def audit_log():
    """The audit log, newest first, keyset-paginated, with filters."""
    form = AuditFilterForm(request.args)
    before = request.args.get("before", type=int)
    stmt = sa.select(AuditEvent).order_by(AuditEvent.id.desc()).limit(PAGE + 1)
    if form.event.data:
        stmt = stmt.where(AuditEvent.event.startswith(form.event.data.strip(), autoescape=True))
    if form.actor.data:
        stmt = stmt.where(AuditEvent.actor_label.contains(form.actor.data.strip(), autoescape=True))
    if form.object_type.data:
        stmt = stmt.where(AuditEvent.object_type == form.object_type.data.strip())
    if form.object_id.data:
        stmt = stmt.where(AuditEvent.object_id == form.object_id.data.strip())
    if before:
        stmt = stmt.where(AuditEvent.id < before)
    rows = db.session.scalars(stmt).all()
    more = len(rows) > PAGE
    rows = rows[:PAGE]
    args = {k: v for k, v in request.args.items() if k != "before" and v}
    return render_template(
        "admin/audit.html",
        form=form,
        events=rows,
        next_url=url_for("admin.audit_log", before=rows[-1].id, **args) if more else None,
    )


@bp.get("/audit/verify")
@allow(Role.AUDITOR)
def audit_verify():
    """Check the whole hash chain (reads only)."""
    result = audit.verify()
    return render_template("admin/audit_verify.html", result=result)
