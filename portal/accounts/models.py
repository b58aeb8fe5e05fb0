"""Accounts, districts, sessions, sign-in throttles and API credentials."""

from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.accounts.roles import Role
from portal.core.clock import utcnow
from portal.core.db import Encrypted, UTCDateTime
from portal.core.enums import TitledEnum, enum_type
from portal.core.i18n import lazy_gettext as _l
from portal.core.identifiers import mask_id_number
from portal.extensions import db
from portal.verification.departments import Department


class DistrictKind(TitledEnum):
    DISTRICT = "district", _l("District")
    COUNTY = "county", _l("County")
    ZONE = "zone", _l("Development zone")


class District(db.Model):
    """A district or county of the city (区县): the unit of officers' scope."""

    __tablename__ = "districts"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(sa.String(12), unique=True, comment="division code")
    name_zh: Mapped[str] = mapped_column(sa.String(64), nullable=False)
    name_en: Mapped[str] = mapped_column(sa.String(120), nullable=False)
    kind: Mapped[DistrictKind] = mapped_column(enum_type(DistrictKind, "district_kind"))
    sort_order: Mapped[int] = mapped_column(default=0, nullable=False)

    def name(self, locale: str) -> str:
        return self.name_zh if locale.startswith("zh") else self.name_en


officer_districts = sa.Table(
    "officer_districts",
    db.metadata,
    sa.Column("user_id", sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("district_id", sa.ForeignKey("districts.id", ondelete="CASCADE"), primary_key=True),
)


class User(db.Model):
    """A resident or staff account. ID and mobile numbers are encrypted; look-ups use the
    blind indexes."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    role: Mapped[Role] = mapped_column(enum_type(Role, "role"), nullable=False)
    real_name: Mapped[str] = mapped_column(sa.String(64), nullable=False)
    username: Mapped[str | None] = mapped_column(
        sa.String(64), unique=True, nullable=True, comment="staff sign-in name, lower case"
    )
    id_number: Mapped[str | None] = mapped_column(Encrypted("users.id_number"), nullable=True)
    id_number_index: Mapped[str | None] = mapped_column(
        sa.String(64), unique=True, nullable=True, comment="HMAC blind index of id_number"
    )
    birth_date: Mapped[date | None] = mapped_column(sa.Date, nullable=True)
    mobile: Mapped[str | None] = mapped_column(Encrypted("users.mobile"), nullable=True)
    mobile_index: Mapped[str | None] = mapped_column(sa.String(64), unique=True, nullable=True)
    email: Mapped[str | None] = mapped_column(sa.String(254), nullable=True)
    password_hash: Mapped[str] = mapped_column(sa.String(255), nullable=False)
    password_changed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    must_change_password: Mapped[bool] = mapped_column(default=False, nullable=False)
    totp_secret: Mapped[str | None] = mapped_column(Encrypted("users.totp_secret"), nullable=True)
    totp_confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    totp_last_step: Mapped[int | None] = mapped_column(
        sa.BigInteger, nullable=True, comment="last accepted TOTP time step; codes are single-use"
    )
    department: Mapped[Department | None] = mapped_column(
        enum_type(Department, "department"), nullable=True
    )
    locale: Mapped[str | None] = mapped_column(sa.String(16), nullable=True)
    care_mode: Mapped[bool] = mapped_column(default=False, nullable=False, comment="关怀模式")
    is_active: Mapped[bool] = mapped_column(default=True, nullable=False)
    is_demo: Mapped[bool] = mapped_column(
        default=False, nullable=False, comment="made by `flask portal demo`; remove before go-live"
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"), nullable=True)
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    districts: Mapped[list[District]] = relationship(
        secondary=officer_districts, order_by=District.sort_order
    )

    __table_args__ = (
        # Residents are known by their ID number; staff by a sign-in name.
        sa.CheckConstraint(
            "(role = 'resident' AND id_number_index IS NOT NULL AND username IS NULL)"
            " OR (role <> 'resident' AND username IS NOT NULL)",
            name="identity",
        ),
        # A department reviewer belongs to exactly one department; nobody else has one.
        sa.CheckConstraint(
            "(role = 'reviewer') = (department IS NOT NULL)", name="reviewer_department"
        ),
    )

    # Flask-Login protocol
    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def is_anonymous(self) -> bool:
        return False

    def get_id(self) -> str:
        return str(self.id)

    @property
    def is_staff(self) -> bool:
        return self.role.is_staff

    @property
    def masked_id_number(self) -> str:
        return mask_id_number(self.id_number)

    @property
    def masked_mobile(self) -> str:
        m = self.mobile or ""
        return f"{m[:3]}****{m[-4:]}" if len(m) == 11 else ""

    @property
    def audit_label(self) -> str:
        return f"{self.role.value}:{self.username or self.id}"

    def __repr__(self) -> str:
        return f"<User {self.id} {self.role.value}>"


class UserSession(db.Model):
    """A server-side sign-in session (SECURITY.md A5). The cookie holds only a random token
    whose SHA-256 is stored here, so a session can be revoked and a copied cookie is dead
    once it is."""

    __tablename__ = "user_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True, nullable=False)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    ip: Mapped[str | None] = mapped_column(sa.String(64), nullable=True)
    user_agent: Mapped[str | None] = mapped_column(sa.String(200), nullable=True)
    second_factor_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    revoke_reason: Mapped[str | None] = mapped_column(sa.String(32), nullable=True)

    user: Mapped[User] = relationship()

    def pending_step(self) -> bool:
        """Whether a step remains before the account may use its pages."""
        return self.pending_endpoint() is not None

    def pending_endpoint(self) -> str | None:
        user = self.user
        if user.is_staff and self.second_factor_at is None:
            if user.totp_confirmed_at is None:
                return "accounts.totp_setup"
            return "accounts.totp_verify"
        if user.must_change_password:
            return "accounts.change_password"
        return None


class LoginThrottle(db.Model):
    """Consecutive sign-in failures per identifier (SECURITY.md A3).

    Keyed by a blind index of what was typed, not by account, so an unknown identifier is
    throttled exactly like a real one and the answers cannot tell them apart.
    """

    __tablename__ = "login_throttles"

    key: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    failures: Mapped[int] = mapped_column(default=0, nullable=False)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_failure_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class ApiClient(db.Model):
    """A partner agency's machine client (client-credentials grant)."""

    __tablename__ = "api_clients"

    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[str] = mapped_column(sa.String(64), unique=True, nullable=False)
    secret_hash: Mapped[str] = mapped_column(sa.String(255), nullable=False)
    name: Mapped[str] = mapped_column(sa.String(200), nullable=False)
    credit_code: Mapped[str] = mapped_column(
        sa.String(18), nullable=False, comment="unified social credit code (GB 32100)"
    )
    scopes: Mapped[str] = mapped_column(sa.String(500), default="", nullable=False)
    is_active: Mapped[bool] = mapped_column(default=True, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"), nullable=True)

    @property
    def audit_label(self) -> str:
        return f"client:{self.client_id}"

    @property
    def scope_set(self) -> frozenset[str]:
        return frozenset(self.scopes.split())


class ApiToken(db.Model):
    """A bearer token for the JSON API, held by a user or by a partner client."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True, nullable=False)
    user_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=True, index=True
    )
    client_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("api_clients.id", ondelete="CASCADE"), nullable=True, index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    user: Mapped[User | None] = relationship()
    client: Mapped[ApiClient | None] = relationship()

    __table_args__ = (
        sa.CheckConstraint("(user_id IS NULL) <> (client_id IS NULL)", name="one_holder"),
    )


class PasswordResetCode(db.Model):
    """A one-time code sent by SMS to reset a forgotten password (找回密码).

    Only a keyed hash of the code is stored (bound to the account). A code lives 10 minutes,
    is used at most once, and a newer request supersedes it.
    """

    __tablename__ = "password_reset_codes"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(
        sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False
    )
    code_hash: Mapped[str] = mapped_column(
        sa.String(64), nullable=False, comment="HMAC of code:user_id; never the code itself"
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    superseded_at: Mapped[datetime | None] = mapped_column(
        UTCDateTime, nullable=True, comment="a newer code was requested"
    )
    ip: Mapped[str | None] = mapped_column(sa.String(64), nullable=True)

    __table_args__ = (sa.Index("ix_password_reset_codes_user_created", "user_id", "created_at"),)
