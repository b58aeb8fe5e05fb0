"""Forgotten password pages (找回密码): ask for a code by SMS, then set a new password.

The rules (no account enumeration, limits, single-use codes) live in ``portal.accounts.reset``.
"""

from __future__ import annotations

from flask import Blueprint, current_app, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_wtf import FlaskForm
from wtforms import PasswordField, StringField
from wtforms.validators import EqualTo, InputRequired, Length

from portal.accounts import reset
from portal.accounts.forms import REQUIRED, RegisterForm
from portal.core.access import public
from portal.core.errors import PortalError, TooManyAttempts
from portal.core.forms import show_error
from portal.core.i18n import lazy_gettext as _l
from portal.extensions import limiter

bp = Blueprint("reset", __name__, url_prefix="/password-reset")


def _login_limit() -> str:
    return current_app.config["LOGIN_RATE_LIMIT"]


class ResetRequestForm(FlaskForm):
    id_number = StringField(
        _l("ID number"),
        [InputRequired(REQUIRED), Length(max=40)],
        description=RegisterForm.id_number.kwargs["description"],
    )
    mobile = StringField(
        _l("Mobile number"),
        [InputRequired(REQUIRED), Length(max=20)],
        description=_l("The mobile number of your account."),
    )


class ResetConfirmForm(FlaskForm):
    id_number = StringField(
        _l("ID number"),
        [InputRequired(REQUIRED), Length(max=40)],
        description=RegisterForm.id_number.kwargs["description"],
    )
    code = StringField(
        _l("6-digit code from the text message"), [InputRequired(REQUIRED), Length(max=20)]
    )
    password = PasswordField(
        _l("New password"),
        [InputRequired(REQUIRED), Length(max=256)],
        description=RegisterForm.password.kwargs["description"],
    )
    confirm = PasswordField(
        _l("New password again"),
        [InputRequired(REQUIRED), EqualTo("password", _l("The two passwords differ."))],
    )


@bp.route("", methods=["GET", "POST"])
@limiter.limit(_login_limit, methods=["POST"])
@public
def request_code():
    """Ask for a code. Every well-formed request gets the same answer, sent or not."""
    form = ResetRequestForm()
    status = 200
    if form.validate_on_submit():
        try:
            reset.request_code(form.id_number.data, form.mobile.data)
        except PortalError as exc:  # only the numbers' format: nothing about accounts
            show_error(form, exc)
            status = exc.status
        else:
            flash(
                _(
                    "If the details match an account, a code has been sent to that mobile "
                    "number. It is valid for 10 minutes."
                ),
                "info",
            )
            return redirect(url_for("reset.confirm"))
    elif form.is_submitted():
        status = 422
    return render_template("accounts/reset_request.html", form=form), status


@bp.route("/confirm", methods=["GET", "POST"])
@limiter.limit(_login_limit, methods=["POST"])
@public
def confirm():
    """Set a new password with the code."""
    form = ResetConfirmForm()
    status, headers = 200, {}
    if form.validate_on_submit():
        try:
            reset.reset_password(form.id_number.data, form.code.data, form.password.data)
        except TooManyAttempts as exc:
            minutes = max(1, (exc.retry_after + 59) // 60)
            form.code.errors = [
                _("Too many wrong codes. Try again in %(minutes)d minutes.", minutes=minutes)
            ]
            status, headers = 429, {"Retry-After": str(exc.retry_after)}
        except PortalError as exc:
            show_error(form, exc)
            status = exc.status
        else:
            flash(
                _(
                    "Your password has been reset and every sign-in of your account has been "
                    "ended. Sign in with your new password."
                ),
                "success",
            )
            return redirect(url_for("accounts.login"))
    elif form.is_submitted():
        status = 422
    return render_template("accounts/reset_confirm.html", form=form), status, headers
