"""Second factor for staff (SECURITY.md A4): TOTP (RFC 6238), each code accepted once."""

from __future__ import annotations

import hmac
from io import BytesIO

import pyotp
import segno
from flask import current_app

from portal.accounts import throttle
from portal.accounts.models import User
from portal.core import audit
from portal.core.clock import utcnow
from portal.core.errors import Conflict, ValidationFailed
from portal.core.i18n import lazy_gettext as _l

STEP_SECONDS = 30
BAD_CODE = _l("The code is not correct or was already used. Wait for the next code.")


def begin_enrollment(user: User) -> str:
    """The secret to show as a QR code; the same one until it is confirmed."""
    if user.totp_confirmed_at is not None:
        raise Conflict(_l("An authenticator is already set up for this account."))
    if not user.totp_secret:
        user.totp_secret = pyotp.random_base32()
    return user.totp_secret


def provisioning_uri(user: User, secret: str) -> str:
    issuer = current_app.config.get("TOTP_ISSUER") or "Housing portal"
    return pyotp.TOTP(secret).provisioning_uri(
        name=user.username or str(user.id), issuer_name=issuer
    )


def qr_svg(uri: str) -> str:
    """An inline-able SVG QR code (no external service sees the secret)."""
    out = BytesIO()
    segno.make(uri, error="m").save(out, kind="svg", scale=5, xmldecl=False, svgns=True)
    return out.getvalue().decode()


def _matching_step(secret: str, code: str) -> int | None:
    code = "".join(code.split())
    if not (code.isdigit() and len(code) == 6):
        return None
    totp = pyotp.TOTP(secret)
    now_step = int(utcnow().timestamp()) // STEP_SECONDS
    for step in (now_step - 1, now_step, now_step + 1):  # allow one step of clock drift
        if hmac.compare_digest(totp.generate_otp(step), code):
            return step
    return None


def check_code(user: User, code: str) -> None:
    """Accept a code once; raise :class:`ValidationFailed` for a wrong or replayed one."""
    key = f"totp:{user.id}"
    throttle.check_not_locked(key)
    step = _matching_step(user.totp_secret or "", code)
    if step is None or (user.totp_last_step is not None and step <= user.totp_last_step):
        throttle.record_failure(key)
        audit.record("auth.second_factor", actor=user, obj=user, result="failure")
        raise ValidationFailed(BAD_CODE, field="code", persist=True)
    throttle.clear(key)
    user.totp_last_step = step
    audit.record("auth.second_factor", actor=user, obj=user)


def confirm_enrollment(user: User, code: str) -> None:
    if user.totp_confirmed_at is not None or not user.totp_secret:
        raise Conflict(_l("Start the set-up again."))
    check_code(user, code)
    user.totp_confirmed_at = utcnow()
    audit.record("account.totp_enrolled", actor=user, obj=user)
