"""Sign-in lockout: 5 consecutive failures lock an identifier for 15 minutes (SECURITY.md A3).

Checked before any password hashing, so a locked identifier costs the server nothing.
"""

from __future__ import annotations

import math
from datetime import timedelta

from flask import current_app

from portal.accounts.models import LoginThrottle
from portal.core.clock import utcnow
from portal.core.crypto import protector
from portal.core.errors import TooManyAttempts
from portal.extensions import db


def throttle_key(identifier: str) -> str:
    return protector().blind_index(identifier.strip().lower(), "login-throttle")


def check_not_locked(identifier: str) -> None:
    """Raise :class:`TooManyAttempts` while the identifier is locked."""
    row = db.session.get(LoginThrottle, throttle_key(identifier))
    now = utcnow()
    if row is not None and row.locked_until is not None and row.locked_until > now:
        raise TooManyAttempts(math.ceil((row.locked_until - now).total_seconds()))


def record_failure(identifier: str) -> None:
    key = throttle_key(identifier)
    row = db.session.get(LoginThrottle, key) or LoginThrottle(key=key, failures=0)
    now = utcnow()
    if row.locked_until is not None and row.locked_until <= now:
        row.failures = 0  # a lock that ran out starts a fresh count
        row.locked_until = None
    row.failures += 1
    row.last_failure_at = now
    if row.failures >= current_app.config["LOGIN_MAX_FAILURES"]:
        row.locked_until = now + timedelta(minutes=current_app.config["LOGIN_LOCK_MINUTES"])
    db.session.add(row)
    db.session.flush()


def clear(identifier: str) -> None:
    row = db.session.get(LoginThrottle, throttle_key(identifier))
    if row is not None:
        db.session.delete(row)
        db.session.flush()


def unlock_all_for(identifiers: list[str]) -> int:
    """Lift the locks of every identifier of one account (security officer's action)."""
    count = 0
    for ident in identifiers:
        row = db.session.get(LoginThrottle, throttle_key(ident))
        if row is not None:
            db.session.delete(row)
            count += 1
    db.session.flush()
    return count
