"""Password hashing with argon2id (SECURITY.md A2), rehashed at sign-in when costs rise."""

from __future__ import annotations

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError
from flask import Flask, current_app


def init_app(app: Flask) -> None:
    hasher = PasswordHasher(
        time_cost=app.config["ARGON2_TIME_COST"],
        memory_cost=app.config["ARGON2_MEMORY_COST"],
        parallelism=app.config["ARGON2_PARALLELISM"],
        type=Type.ID,
    )
    app.extensions["portal.hasher"] = hasher
    # Spent on unknown identifiers so that they cost as much time as a real check.
    app.extensions["portal.dummy_hash"] = hasher.hash("not-a-real-password-0")


def _hasher() -> PasswordHasher:
    return current_app.extensions["portal.hasher"]


def hash_password(password: str) -> str:
    return _hasher().hash(password)


def check_password(stored_hash: str | None, password: str) -> tuple[bool, str | None]:
    """Verify; returns ``(ok, new_hash)`` where ``new_hash`` is set when parameters rose."""
    hasher = _hasher()
    target = stored_hash or current_app.extensions["portal.dummy_hash"]
    try:
        hasher.verify(target, password)
    except (VerificationError, InvalidHashError):
        return False, None
    if stored_hash is None:
        return False, None
    return True, hasher.hash(password) if hasher.check_needs_rehash(stored_hash) else None
