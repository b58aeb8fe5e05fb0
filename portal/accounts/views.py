"""Register, sign in (with the staff second factor), sign out, password and preferences."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from portal.accounts import services, totp
from portal.accounts.forms import (
    ChangePasswordForm,
    CodeForm,
    LoginForm,
    PreferencesForm,
    RegisterForm,
)
from portal.accounts.models import UserSession
from portal.accounts.sessions import (
    current_auth_session,
    end_current_session,
    revoke,
    start_session,
)
from portal.core import audit
from portal.core.access import public, signed_in
from portal.core.clock import utcnow
from portal.core.errors import AuthenticationFailed, PortalError, TooManyAttempts
from portal.core.forms import show_error
from portal.core.scope import load_in_scope
from portal.core.web import local_url
from portal.extensions import db, limiter

bp = Blueprint("accounts", __name__)


def _login_limit() -> str:
    return current_app.config["LOGIN_RATE_LIMIT"]


def home_endpoint(user) -> str:
    return "staff.home" if user.is_staff else "accounts.dashboard"


def _safe_next(default: str) -> str:
    return local_url(request.args.get("next"), default)


def _after_sign_in_step():
    auth = current_auth_session()
    if auth is not None and auth.pending_step():
        return redirect(url_for(auth.pending_endpoint(), next=request.args.get("next")))
    return redirect(_safe_next(url_for(home_endpoint(current_user))))


@bp.route("/register", methods=["GET", "POST"])
@limiter.limit(_login_limit, methods=["POST"])
@public
def register():
    if current_user.is_authenticated:
        return redirect(url_for(home_endpoint(current_user)))
    form = RegisterForm()
    status = 200
    if form.validate_on_submit():
        try:
            user = services.register_resident(
                real_name=form.real_name.data,
                id_number=form.id_number.data,
                mobile=form.mobile.data,
                password=form.password.data,
                locale=request.cookies.get("locale"),
            )
        except PortalError as exc:
            show_error(form, exc)
            status = exc.status
        else:
            start_session(user)
            flash(_("Welcome! Your account is ready."), "success")
            return redirect(url_for("accounts.dashboard"))
    elif form.is_submitted():
        status = 422
    return render_template("accounts/register.html", form=form), status


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(_login_limit, methods=["POST"])
@public
def login():
    if current_user.is_authenticated:
        return _after_sign_in_step()
    form = LoginForm()
    status, headers = 200, {}
    if form.validate_on_submit():
        try:
            user = services.authenticate(form.identifier.data, form.password.data)
        except TooManyAttempts as exc:
            minutes = max(1, (exc.retry_after + 59) // 60)
            form.password.errors = [
                _("Too many failed attempts. Try again in %(minutes)d minutes.", minutes=minutes)
            ]
            status, headers = 429, {"Retry-After": str(exc.retry_after)}
        except AuthenticationFailed as exc:
            form.password.errors = [str(exc)]
            status = 401
        else:
            start_session(user)
            return _after_sign_in_step()
    elif form.is_submitted():
        status = 422
    return render_template("accounts/login.html", form=form), status, headers


@bp.post("/logout")
@signed_in(before_second_factor=True)
def logout():
    end_current_session(current_user._get_current_object())
    flash(_("You have signed out."), "success")
    return redirect(url_for("public.index"))


@bp.route("/login/totp/setup", methods=["GET", "POST"])
@limiter.limit(_login_limit, methods=["POST"])
@signed_in(before_second_factor=True)
def totp_setup():
    user = current_user._get_current_object()
    auth = current_auth_session()
    if not user.is_staff or user.totp_confirmed_at is not None:
        return _after_sign_in_step()
    secret = totp.begin_enrollment(user)
    form = CodeForm()
    status = 200
    if form.validate_on_submit():
        try:
            totp.confirm_enrollment(user, form.code.data)
        except PortalError as exc:
            show_error(form, exc)
            status = 422
        else:
            auth.second_factor_at = utcnow()
            flash(_("Your authenticator is set up."), "success")
            return _after_sign_in_step()
    uri = totp.provisioning_uri(user, secret)
    return (
        render_template(
            "accounts/totp_setup.html", form=form, qr_svg=totp.qr_svg(uri), secret=secret
        ),
        status,
    )


@bp.route("/login/totp", methods=["GET", "POST"])
@limiter.limit(_login_limit, methods=["POST"])
@signed_in(before_second_factor=True)
def totp_verify():
    user = current_user._get_current_object()
    auth = current_auth_session()
    if not user.is_staff or auth.second_factor_at is not None:
        return _after_sign_in_step()
    if user.totp_confirmed_at is None:
        return redirect(url_for("accounts.totp_setup"))
    form = CodeForm()
    status, headers = 200, {}
    if form.validate_on_submit():
        try:
            totp.check_code(user, form.code.data)
        except TooManyAttempts as exc:
            form.code.errors = [str(exc)]
            status, headers = 429, {"Retry-After": str(exc.retry_after)}
        except PortalError as exc:
            show_error(form, exc)
            status = 422
        else:
            auth.second_factor_at = utcnow()
            return _after_sign_in_step()
    return render_template("accounts/totp_verify.html", form=form), status, headers


@bp.route("/account/password", methods=["GET", "POST"])
@signed_in(before_second_factor=True)
def change_password():
    user = current_user._get_current_object()
    auth = current_auth_session()
    if auth.pending_endpoint() not in (None, "accounts.change_password"):
        return redirect(url_for(auth.pending_endpoint()))
    form = ChangePasswordForm()
    status = 200
    if form.validate_on_submit():
        try:
            services.change_password(
                user, form.current.data, form.password.data, current_session_id=auth.id
            )
        except PortalError as exc:
            show_error(form, exc)
            status = exc.status
        else:
            flash(_("Your password is changed. Other sign-ins have been ended."), "success")
            return redirect(url_for(home_endpoint(user)))
    elif form.is_submitted():
        status = 422
    return render_template("accounts/change_password.html", form=form), status


@bp.get("/me")
@signed_in
def dashboard():
    """A resident's start page (applications, queue and tenancy join here as they land)."""
    if current_user.is_staff:
        return redirect(url_for("staff.home"))
    return render_template("accounts/dashboard.html")


@bp.route("/account", methods=["GET", "POST"])
@signed_in
def account():
    user = current_user._get_current_object()
    form = PreferencesForm(
        locale=user.locale or request.cookies.get("locale") or "zh_Hans_CN",
        care_mode=user.care_mode,
    )
    if form.validate_on_submit():
        services.set_preferences(user, locale=form.locale.data, care_mode=form.care_mode.data)
        flash(_("Your settings are saved."), "success")
        return redirect(url_for("accounts.account"))
    sessions = db.session.scalars(
        sa.select(UserSession)
        .where(UserSession.user_id == user.id, UserSession.revoked_at.is_(None))
        .order_by(UserSession.last_seen_at.desc())
    ).all()
    return render_template(
        "accounts/account.html", form=form, sessions=sessions, current=current_auth_session()
    )


@bp.post("/account/sessions/<int:session_id>/end")
@signed_in
def end_session(session_id: int):
    """End one of one's own sign-ins; another person's session answers 404 (B1)."""
    user = current_user._get_current_object()
    row = load_in_scope(UserSession, session_id, UserSession.user_id == user.id, user)
    revoke(row, "ended_by_user")
    audit.record("auth.session_ended", actor=user, obj=row)
    flash(_("That sign-in has been ended."), "success")
    if row.id == current_auth_session().id:
        return redirect(url_for("public.index"))
    return redirect(url_for("accounts.account"))
