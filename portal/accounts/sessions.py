"""Server-side sessions (SECURITY.md A5): start, load with idle timeout, revoke."""

from __future__ import annotations

import secrets
from datetime import timedelta

import sqlalchemy as sa
from flask import current_app, g, request, session

from portal.accounts.models import User, UserSession
from portal.core import audit
from portal.core.clock import utcnow
from portal.core.crypto import token_digest
from portal.extensions import db

SESSION_KEY = "sid"
# last_seen is written at most this often, so reading pages does not write on every request
TOUCH_EVERY = timedelta(seconds=60)


def start_session(user: User) -> UserSession:
    """Sign ``user`` in: a fresh cookie (nothing of the old session survives) and a new row."""
    token = secrets.token_urlsafe(32)
    row = UserSession(
        token_hash=token_digest(token),
        user=user,
        ip=request.remote_addr,
        user_agent=(request.user_agent.string or "")[:200],
    )
    db.session.add(row)
    db.session.flush()
    locale = session.get("locale")
    session.clear()
    session[SESSION_KEY] = token
    if locale:
        session["locale"] = locale
    g.auth_session = row
    # The rest of this request sees the new user (Flask-Login keeps it per request).
    current_app.login_manager._update_request_context_with_user(user)
    return row


def idle_timeout(user: User) -> timedelta:
    cfg = current_app.config
    return cfg["IDLE_TIMEOUT_STAFF"] if user.is_staff else cfg["IDLE_TIMEOUT_RESIDENT"]


def load_session_user(_request) -> User | None:
    """Flask-Login request loader: the user of a live, unrevoked, recently used session."""
    token = session.get(SESSION_KEY)
    if not token:
        return None
    row = db.session.scalars(
        sa.select(UserSession).where(UserSession.token_hash == token_digest(token))
    ).one_or_none()
    if row is None or row.revoked_at is not None or not row.user.is_active:
        session.pop(SESSION_KEY, None)
        return None
    now = utcnow()
    if now - row.last_seen_at > idle_timeout(row.user):
        revoke(row, "idle")
        session.pop(SESSION_KEY, None)
        return None
    if now - row.last_seen_at > TOUCH_EVERY:
        row.last_seen_at = now
    g.auth_session = row
    return row.user


def current_auth_session() -> UserSession | None:
    return g.get("auth_session")


def revoke(row: UserSession, reason: str) -> None:
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        row.revoke_reason = reason
        db.session.flush()


def revoke_all(user: User, reason: str, *, except_id: int | None = None) -> int:
    """End every live session of ``user`` (password change, disabling, security officer)."""
    stmt = (
        sa.update(UserSession)
        .where(UserSession.user_id == user.id, UserSession.revoked_at.is_(None))
        .values(revoked_at=utcnow(), revoke_reason=reason)
    )
    if except_id is not None:
        stmt = stmt.where(UserSession.id != except_id)
    count = db.session.execute(stmt, execution_options={"synchronize_session": False}).rowcount
    db.session.expire_all()
    return count


def end_current_session(user: User) -> None:
    """Sign out: the row is revoked, so a copy of the cookie is refused from now on."""
    row = current_auth_session()
    if row is not None:
        revoke(row, "logout")
        audit.record("auth.logout", actor=user, obj=row)
    session.clear()
    g.pop("auth_session", None)
    current_app.login_manager._update_request_context_with_user()
