"""Bearer tokens for the API: users (residents, staff with their second factor) and partner
agencies' clients (client-credentials grant). Tokens are random; only their SHA-256 is
stored."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta

import sqlalchemy as sa
from flask import current_app, g, request
from flask_babel import gettext as _

from portal.accounts import hashing, services, throttle, totp
from portal.accounts.models import ApiClient, ApiToken, User
from portal.accounts.roles import Role
from portal.core import audit
from portal.core.access import Access
from portal.core.clock import utcnow
from portal.core.crypto import token_digest
from portal.core.errors import AuthenticationFailed, Forbidden, ValidationFailed
from portal.core.i18n import lazy_gettext as _l
from portal.core.identifiers import is_valid_credit_code, normalize_credit_code
from portal.extensions import db


@dataclass
class IssuedToken:
    token: str
    expires_in: int
    row: ApiToken


def _issue(*, user: User | None = None, client: ApiClient | None = None) -> IssuedToken:
    token = secrets.token_urlsafe(32)
    hours = current_app.config["API_TOKEN_HOURS"]
    row = ApiToken(
        token_hash=token_digest(token),
        user=user,
        client=client,
        expires_at=utcnow() + timedelta(hours=hours),
    )
    db.session.add(row)
    db.session.flush()
    return IssuedToken(token, hours * 3600, row)


def issue_user_token(identifier: str, password: str, code: str | None) -> IssuedToken:
    """Password sign-in for the API, with the same lockout as the pages; staff add a TOTP code."""
    user = services.authenticate(identifier, password)
    if user.is_staff:
        if user.totp_confirmed_at is None:
            raise Forbidden(_l("Set up your authenticator on the website first."))
        totp.check_code(user, code or "")
    if user.must_change_password:
        raise Forbidden(_l("Change your one-time password on the website first."))
    issued = _issue(user=user)
    audit.record("api.token_issued", actor=user, obj=issued.row)
    return issued


def issue_client_token(client_id: str, client_secret: str) -> IssuedToken:
    key = f"client:{client_id}"
    throttle.check_not_locked(key)
    client = db.session.scalars(
        sa.select(ApiClient).where(ApiClient.client_id == client_id)
    ).one_or_none()
    ok, _new = hashing.check_password(client.secret_hash if client else None, client_secret)
    if not ok or client is None or not client.is_active:
        throttle.record_failure(key)
        audit.record("api.client_auth", actor=f"client:{client_id[:60]}", result="failure")
        raise AuthenticationFailed(_l("Unknown client or wrong secret."))
    throttle.clear(key)
    issued = _issue(client=client)
    audit.record("api.token_issued", actor=client, obj=issued.row)
    return issued


def revoke_token(row: ApiToken) -> None:
    row.revoked_at = utcnow()
    audit.record("api.token_revoked", actor=principal(), obj=row)


@dataclass
class NewClient:
    client: ApiClient
    secret: str


def create_client(
    actor: User | None, *, name: str, credit_code: str, scopes: list[str]
) -> NewClient:
    """Register a partner agency's client (administrator or the CLI)."""
    if actor is not None and actor.role is not Role.ADMIN:
        raise Forbidden()
    code = normalize_credit_code(credit_code)
    if not is_valid_credit_code(code):
        raise ValidationFailed(
            _l("This unified social credit code is not valid: please check each character."),
            field="credit_code",
        )
    if not name.strip():
        raise ValidationFailed(_l("Enter the agency's name."), field="name")
    secret = secrets.token_urlsafe(32)
    client = ApiClient(
        client_id="pc_" + secrets.token_hex(8),
        secret_hash=hashing.hash_password(secret),
        name=name.strip(),
        credit_code=code,
        scopes=" ".join(sorted(set(scopes))),
        created_by_id=actor.id if actor else None,
    )
    db.session.add(client)
    db.session.flush()
    audit.record("api.client_created", actor=actor or "cli", obj=client, scopes=client.scopes)
    return NewClient(client, secret)


def _bearer() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _sep, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def _load_token(raw: str) -> ApiToken | None:
    row = db.session.scalars(
        sa.select(ApiToken).where(ApiToken.token_hash == token_digest(raw))
    ).one_or_none()
    if row is None or row.revoked_at is not None or row.expires_at <= utcnow():
        return None
    holder = row.user or row.client
    return row if holder is not None and holder.is_active else None


def principal() -> User | ApiClient | None:
    """Who holds the bearer token of this API request."""
    row = g.get("api_token")
    return None if row is None else (row.user or row.client)


def api_user() -> User | None:
    row = g.get("api_token")
    return None if row is None else row.user


def _unauthorized():
    from portal.core.web import problem

    resp = problem(401, _("Please sign in"), _("A valid bearer token is required."))
    resp.headers["WWW-Authenticate"] = 'Bearer realm="api"'
    return resp


def authenticate_request(access: Access):
    """``before_request`` part for API routes: find the token and check role or scope."""
    raw = _bearer()
    row = _load_token(raw) if raw else None
    g.api_token = row
    if access.public:
        return None
    if row is None:
        return _unauthorized()
    if row.user is not None:
        allowed = access.roles is None or row.user.role in access.roles
    else:
        allowed = access.scope == "*" or (
            access.scope is not None and access.scope in row.client.scope_set
        )
    if not allowed:
        from portal.core.web import problem

        audit.record("access.denied", actor=principal(), result="denied", path=request.path)
        return problem(403, _("Not allowed"), _("You do not have permission to do this."))
    return None


def set_client_active(actor: User, client: ApiClient, active: bool) -> None:
    """Disable a partner's client (its tokens stop working at once) or enable it again."""
    if actor.role is not Role.ADMIN:
        raise Forbidden()
    if client.is_active == active:
        return
    client.is_active = active
    if not active:
        db.session.execute(
            sa.update(ApiToken)
            .where(ApiToken.client_id == client.id, ApiToken.revoked_at.is_(None))
            .values(revoked_at=utcnow()),
            execution_options={"synchronize_session": False},
        )
    audit.record("api.client_enabled" if active else "api.client_disabled", actor=actor, obj=client)
