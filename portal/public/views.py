"""Public pages and the health check."""

from __future__ import annotations

import secrets
from functools import lru_cache

import sqlalchemy as sa
from flask import Blueprint, current_app, jsonify, redirect, render_template, request, url_for
from flask_login import current_user

from portal.core.access import public
from portal.core.i18n import CARE_COOKIE, LOCALE_COOKIE
from portal.core.web import local_url
from portal.extensions import db

bp = Blueprint("public", __name__)

ONE_YEAR = 365 * 24 * 3600


@bp.get("/")
@public
def index():
    from portal.public.services import programme_guide

    return render_template("public/index.html", guide=programme_guide())


@bp.get("/privacy")
@public
def privacy():
    return render_template("public/privacy.html")


def _back() -> str:
    """Where the preference forms return: the page they were sent from, on this site only."""
    return local_url(request.form.get("next"), url_for("public.index"))


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


@lru_cache(maxsize=4)
def _migrations(directory: str):
    """The migrations shipped with this code, read once."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory(directory)


def _ready_database() -> tuple[str, str]:
    """(database, schema): whether the database answers, and whether its schema is at the
    migrations' head ("behind": run ``flask db upgrade``; "ahead": the database was
    upgraded by newer code than this instance runs)."""
    from alembic.migration import MigrationContext
    from alembic.util import CommandError

    try:
        connection = db.session.connection()
        connection.execute(sa.text("SELECT 1"))
        current = set(MigrationContext.configure(connection).get_current_heads())
    except Exception:  # any failure means "not ready"; the details go to the log
        current_app.logger.exception("readiness: database unavailable")
        db.session.rollback()
        return "unavailable", "unknown"
    scripts = _migrations(current_app.extensions["migrate"].directory)
    if current == set(scripts.get_heads()):
        return "ok", "ok"
    try:
        for revision in current:
            scripts.get_revision(revision)
    except CommandError:  # a revision this code does not know
        return "ok", "ahead"
    return "ok", "behind"


def _ready_redis() -> str:
    url = current_app.config.get("REDIS_URL")
    if not url:
        return "not configured"
    import redis

    client = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1)
    try:
        client.ping()
    except Exception:
        current_app.logger.warning("readiness: redis unavailable", exc_info=True)
        return "unavailable"
    finally:
        client.close()
    return "ok"


def _ready_storage() -> str:
    from portal.core.storage import get_storage

    probe = f"readyz-{secrets.token_hex(8)}.probe"
    try:
        storage = get_storage()
        storage.save(probe, b"ok")
        storage.delete(probe)
    except Exception:
        current_app.logger.exception("readiness: upload storage not writable")
        return "unavailable"
    return "ok"


@bp.get("/readyz")
@public
def readyz():
    """Readiness, for the load balancer: 200 only when this instance can serve requests
    (the database answers with the schema at the migrations' head, Redis answers when it
    is configured, the upload storage takes a file); else 503 naming the part that failed."""
    database, schema = _ready_database()
    checks = {
        "database": database,
        "schema": schema,
        "redis": _ready_redis(),
        "storage": _ready_storage(),
    }
    ok = all(v in {"ok", "not configured"} for v in checks.values())
    return jsonify(status="ok" if ok else "unavailable", checks=checks), 200 if ok else 503
