"""Forgotten passwords (找回密码): a resident resets the password with a code sent by SMS.

* Asking for a code answers alike whether or not the ID number and mobile number belong to
  an account, and both paths run the same queries (no account enumeration, SECURITY.md A3).
* Only residents get codes; staff ask the security officer.
* A code is 6 random digits, stored only as a keyed hash bound to the account, valid for
  10 minutes, used at most once; a newer code supersedes older ones. At most 3 codes per
  account per hour.
* Five wrong codes lock the account's reset for 15 minutes (``portal.accounts.throttle``);
  an unknown ID number is throttled by what was typed, so the answers stay alike.
* A right code sets a new password under the A1 policy and ends every session and API token
  of the account (A5); sign-in locks of the account are lifted. Audited (E1).

The SMS goes into the outbox directly, not through ``notify()``: an in-app message with the
code would be useless (the person cannot sign in) and would keep the code readable.
"""

from __future__ import annotations

import hmac
import secrets
import unicodedata
from datetime import timedelta

import sqlalchemy as sa
from flask import has_request_context, request

from portal.accounts import hashing, services, throttle
from portal.accounts.models import PasswordResetCode, User
from portal.accounts.roles import Role
from portal.accounts.sessions import revoke_all
from portal.core import audit
from portal.core.clock import utcnow
from portal.core.crypto import protector
from portal.core.errors import PortalError
from portal.core.i18n import lazy_gettext as _l
from portal.core.i18n import locale_of
from portal.extensions import db
from portal.notifications.models import OutboxItem
from portal.notifications.services import _render

CODE_DIGITS = 6
CODE_LIFETIME = timedelta(minutes=10)
CODES_PER_WINDOW = 3
CODE_WINDOW = timedelta(hours=1)
SMS_KIND = "password_reset_code"
NO_USER_ID = 0  # stands in for an account in the queries of the no-match path


class InvalidResetCode(PortalError):
    """A wrong, expired, used or superseded code, or an ID number without an account: one
    answer for all of them. The failure count and audit event are kept (``persist``)."""

    status = 422
    code = "invalid_reset_code"
    persist = True
    default_message = _l(
        "The code is not correct or has expired. Check the ID number and the code, or ask "
        "for a new code."
    )


def new_code() -> str:
    return f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"


def code_hash(code: str, user_id: int) -> str:
    """Keyed hash of a code, bound to its account (the code itself is never stored)."""
    return protector().blind_index(f"{code}:{user_id}", "reset-code")


def _normalized_code(raw: str) -> str:
    """Full-width digits and spaces or dashes typed by the person are forgiven."""
    value = unicodedata.normalize("NFKC", raw or "")
    return "".join(c for c in value if c not in " -\t")


def _resident_by_id_number(id_number: str, *, lock: bool = False) -> User | None:
    stmt = sa.select(User).where(User.id_number_index == services.id_index(id_number))
    if lock:
        stmt = stmt.with_for_update()  # serialises concurrent requests for one account
    user = db.session.scalars(stmt).one_or_none()
    if user is None or user.role is not Role.RESIDENT or not user.is_active:
        return None
    return user


def _client_ip() -> str | None:
    return request.remote_addr if has_request_context() else None


def request_code(id_number: str, mobile: str) -> None:
    """Send a reset code when ``id_number`` and ``mobile`` name one active resident account.

    Returns nothing, and does the same work either way, so that the caller cannot answer
    differently. Format errors of the two numbers are raised (they tell nothing about
    accounts)."""
    id_number = services.validated_id_number(id_number)
    mobile = services.validated_mobile(mobile)
    now = utcnow()
    found = _resident_by_id_number(id_number, lock=True)
    wanted_mobile = services.mobile_index(mobile)
    matched = (
        found is not None
        and found.mobile_index is not None
        and hmac.compare_digest(found.mobile_index, wanted_mobile)
    )
    user_id = found.id if matched else NO_USER_ID
    recent = db.session.scalar(
        sa.select(sa.func.count())
        .select_from(PasswordResetCode)
        .where(
            PasswordResetCode.user_id == user_id,
            PasswordResetCode.created_at > now - CODE_WINDOW,
        )
    )
    sending = matched and recent < CODES_PER_WINDOW
    # The same statements run whether or not a code is sent; only the two inserts differ.
    db.session.execute(
        sa.update(PasswordResetCode)
        .where(
            PasswordResetCode.user_id == (user_id if sending else NO_USER_ID),
            PasswordResetCode.used_at.is_(None),
            PasswordResetCode.superseded_at.is_(None),
        )
        .values(superseded_at=now),
        execution_options={"synchronize_session": False},
    )
    code = new_code()
    digest = code_hash(code, user_id)
    subject, body = _render(SMS_KIND, {"code": code}, locale_of(found if matched else None))
    if not sending:
        protector().encrypt(mobile, "outbox.recipient")  # as costly as the outbox row
        if matched:
            audit.record(
                "account.password_reset_code", obj=found, result="refused", reason="too_many"
            )
        else:
            audit.record("account.password_reset_code", result="failure", reason="no_match")
        return
    db.session.add(
        PasswordResetCode(
            user_id=user_id,
            code_hash=digest,
            created_at=now,
            expires_at=now + CODE_LIFETIME,
            ip=_client_ip(),
        )
    )
    db.session.add(OutboxItem(channel="sms", recipient=found.mobile, subject=subject, body=body))
    db.session.flush()
    audit.record("account.password_reset_code", obj=found)


def _live_code(user_id: int, code: str) -> PasswordResetCode | None:
    """The account's current code if ``code`` is it (constant-time comparison)."""
    row = db.session.scalars(
        sa.select(PasswordResetCode)
        .where(
            PasswordResetCode.user_id == user_id,
            PasswordResetCode.used_at.is_(None),
            PasswordResetCode.superseded_at.is_(None),
            PasswordResetCode.expires_at > utcnow(),
        )
        .order_by(PasswordResetCode.id.desc())
        .limit(1)
    ).first()
    typed = _normalized_code(code)
    digest = code_hash(typed, user_id)
    well_formed = len(typed) == CODE_DIGITS and typed.isascii() and typed.isdigit()
    if row is None or not hmac.compare_digest(row.code_hash, digest) or not well_formed:
        return None
    return row


def throttle_identifier(user: User | None, id_number: str) -> str:
    """What the reset lock is kept under: the account, or the typed number if none."""
    return f"reset:{user.id}" if user is not None else f"reset:id:{id_number}"


def _refuse(user: User | None, key: str, reason: str) -> InvalidResetCode:
    throttle.record_failure(key)
    audit.record("account.password_reset_failed", obj=user, result="failure", reason=reason)
    return InvalidResetCode(field="code")


def reset_password(id_number: str, code: str, new_password: str) -> User:
    """Set a new password with a code from :func:`request_code`; ends every session and API
    token of the account and lifts its sign-in locks."""
    id_number = services.validated_id_number(id_number)
    user = _resident_by_id_number(id_number, lock=True)
    key = throttle_identifier(user, id_number)
    try:
        throttle.check_not_locked(key)  # before anything else is checked
    except PortalError:
        audit.record("account.password_reset_failed", obj=user, result="failure", reason="locked")
        raise
    row = _live_code(user.id if user else NO_USER_ID, code)
    if user is None or row is None:
        raise _refuse(user, key, "wrong_code")
    services.check_password_policy(
        new_password,
        {"id_number": user.id_number, "mobile": user.mobile, "birth_date": user.birth_date},
        staff=False,
    )
    now = utcnow()
    consumed = db.session.execute(
        sa.update(PasswordResetCode)
        .where(
            PasswordResetCode.id == row.id,
            PasswordResetCode.used_at.is_(None),
            PasswordResetCode.superseded_at.is_(None),
        )
        .values(used_at=now),
        execution_options={"synchronize_session": False},
    ).rowcount
    if consumed != 1:  # used a moment ago by a concurrent request
        raise _refuse(user, key, "code_already_used")
    user.password_hash = hashing.hash_password(new_password)
    user.password_changed_at = now
    user.must_change_password = False
    db.session.flush()
    ended = revoke_all(user, "password_reset")
    services._revoke_tokens(user)
    locks = throttle.unlock_all_for([*services.identifiers_of(user), key])
    audit.record("account.password_reset", actor=user, obj=user, sessions=ended, locks=locks)
    return user
