"""Public pages and the health check."""

from __future__ import annotations

from urllib.parse import urlsplit

import sqlalchemy as sa
from flask import Blueprint, current_app, jsonify, redirect, render_template, request, url_for
from flask_login import current_user

from portal.core.access import public
from portal.core.i18n import CARE_COOKIE, LOCALE_COOKIE
from portal.extensions import db

bp = Blueprint("public", __name__)

ONE_YEAR = 365 * 24 * 3600


@bp.get("/")
@public
def index():
    return render_template("public/index.html")


@bp.get("/privacy")
@public
def privacy():
    return render_template("public/privacy.html")


def _back() -> str:
    """Where the preference forms return: the page they were sent from, on this site only."""
    target = request.form.get("next") or ""
    parts = urlsplit(target)
    if target.startswith("/") and not target.startswith("//") and not parts.netloc:
        return target
    return url_for("public.index")


def _cookie_response(name: str, value: str):
    resp = redirect(_back())
    resp.set_cookie(
        name,
        value,
        max_age=ONE_YEAR,
        secure=current_app.config["SESSION_COOKIE_SECURE"],
        httponly=True,
        samesite="Lax",
    )
    return resp


@bp.post("/locale")
@public
def set_locale():
    """The language switch on every page (a POST: GET never changes state)."""
    locale = request.form.get("locale", "")
    if locale not in current_app.config["LANGUAGES"]:
        locale = current_app.config["BABEL_DEFAULT_LOCALE"]
    if current_user.is_authenticated:
        current_user.locale = locale
    return _cookie_response(LOCALE_COOKIE, locale)


@bp.post("/care-mode")
@public
def set_care_mode():
    """Large text and high contrast (关怀模式), remembered for the person or the browser."""
    on = request.form.get("care_mode") == "1"
    if current_user.is_authenticated:
        current_user.care_mode = on
    return _cookie_response(CARE_COOKIE, "1" if on else "0")


@bp.get("/healthz")
@public
def healthz():
    """Liveness and the database's state, for load balancers and monitoring."""
    try:
        db.session.execute(sa.text("SELECT 1"))
        database = "ok"
    except Exception:  # any failure means "not ready"; the details go to the log
        current_app.logger.exception("health check: database unavailable")
        db.session.rollback()
        database = "unavailable"
    ok = database == "ok"
    return jsonify(status="ok" if ok else "degraded", database=database), 200 if ok else 503
