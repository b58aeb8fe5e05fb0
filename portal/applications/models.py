"""Applications, household members, person claims, timeline, supplements and spot checks."""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.accounts.models import District, User
from portal.core.clock import utcnow
from portal.core.db import Encrypted, UTCDateTime
from portal.core.enums import TitledEnum, enum_type
from portal.core.i18n import lazy_gettext as _l
from portal.core.identifiers import mask_id_number
from portal.extensions import db


class Programme(TitledEnum):
    PUBLIC_RENTAL = "public_rental", _l("Public rental housing")
    RENTAL_SUBSIDY = "rental_subsidy", _l("Rental subsidy")
    AFFORDABLE_RENTAL = "affordable_rental", _l("Affordable rental housing")


class Status(TitledEnum):
    DRAFT = "draft", _l("Draft")
    CHECKING = "checking", _l("Departments checking")
    SUPPLEMENT = "supplement", _l("Document requested")
    REVIEW = "review", _l("Officer's decision")
    APPROVED = "approved", _l("Approved, awaiting public notice")
    NOTICE = "notice", _l("In public notice")
    QUALIFIED = "qualified", _l("Qualified")
    REJECTED = "rejected", _l("Rejected")
    SECOND_REVIEW = "second_review", _l("Second review")
    WITHDRAWN = "withdrawn", _l("Withdrawn")
    REVOKED = "revoked", _l("Qualification revoked")

    @property
    def is_active(self) -> bool:
        """Whether the household's members are held by this application."""
        return self not in (Status.DRAFT, Status.REJECTED, Status.WITHDRAWN, Status.REVOKED)


class Relationship(TitledEnum):
    APPLICANT = "applicant", _l("Applicant")
    SPOUSE = "spouse", _l("Spouse")
    CHILD = "child", _l("Child")
    PARENT = "parent", _l("Parent")
    OTHER = "other", _l("Other relative")


application_districts = sa.Table(
    "application_districts",
    db.metadata,
    sa.Column(
        "application_id", sa.ForeignKey("applications.id", ondelete="CASCADE"), primary_key=True
    ),
    sa.Column("district_id", sa.ForeignKey("districts.id"), primary_key=True),
)


class Application(db.Model):
    __tablename__ = "applications"

    id: Mapped[int] = mapped_column(primary_key=True)
    reference: Mapped[str | None] = mapped_column(
        sa.String(24), unique=True, nullable=True, comment="given at submission, e.g. GL2026000123"
    )
    applicant_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), index=True)
    programme: Mapped[Programme] = mapped_column(enum_type(Programme, "programme"))
    status: Mapped[Status] = mapped_column(enum_type(Status, "application_status"), index=True)
    district_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("districts.id"), nullable=True, index=True, comment="office handling it"
    )
    contact_phone: Mapped[str | None] = mapped_column(
        Encrypted("applications.contact_phone"), nullable=True
    )
    email: Mapped[str | None] = mapped_column(sa.String(254), nullable=True)
    current_address: Mapped[str | None] = mapped_column(
        Encrypted("applications.current_address"), nullable=True
    )
    declared_income: Mapped[int | None] = mapped_column(
        nullable=True, comment="household monthly income in yuan the applicant declares"
    )
    # 承诺制: what was signed, in which version, its hash, when and from where
    pledge_version: Mapped[str | None] = mapped_column(sa.String(32), nullable=True)
    authorization_version: Mapped[str | None] = mapped_column(sa.String(32), nullable=True)
    privacy_version: Mapped[str | None] = mapped_column(sa.String(32), nullable=True)
    signed_text_hash: Mapped[str | None] = mapped_column(
        sa.String(64), nullable=True, comment="SHA-256 of the texts shown when signing"
    )
    signed_locale: Mapped[str | None] = mapped_column(sa.String(16), nullable=True)
    signed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    signed_ip: Mapped[str | None] = mapped_column(sa.String(64), nullable=True)
    idempotency_key: Mapped[str | None] = mapped_column(sa.String(80), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime, default=utcnow, onupdate=utcnow, nullable=False
    )
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    accept_by: Mapped[date | None] = mapped_column(sa.Date, nullable=True, comment="5 working days")
    decide_by: Mapped[date | None] = mapped_column(
        sa.Date, nullable=True, comment="20 working days (限时办结)"
    )
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    decided_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"), nullable=True)
    rule_version_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("rule_versions.id"), nullable=True
    )
    evaluation_json: Mapped[str | None] = mapped_column(
        sa.Text, nullable=True, comment="per-rule outcome and reasons of the last evaluation"
    )
    decision_reason: Mapped[str | None] = mapped_column(sa.Text, nullable=True)
    qualified_at: Mapped[datetime | None] = mapped_column(
        UTCDateTime, nullable=True, comment="qualification date: the waiting list orders by it"
    )
    second_review_by: Mapped[date | None] = mapped_column(sa.Date, nullable=True)

    applicant: Mapped[User] = relationship(foreign_keys=[applicant_id])
    district: Mapped[District | None] = relationship(foreign_keys=[district_id])
    preferred_districts: Mapped[list[District]] = relationship(
        secondary=application_districts, order_by=District.sort_order
    )
    members: Mapped[list[HouseholdMember]] = relationship(
        back_populates="application",
        cascade="all, delete-orphan",
        order_by="HouseholdMember.position",
    )
    events: Mapped[list[ApplicationEvent]] = relationship(
        back_populates="application",
        cascade="all, delete-orphan",
        order_by="ApplicationEvent.id",
    )

    __table_args__ = (
        sa.UniqueConstraint("applicant_id", "idempotency_key"),
        sa.Index("ix_applications_district_status", "district_id", "status"),
    )

    @property
    def evaluation(self) -> dict[str, Any] | None:
        return json.loads(self.evaluation_json) if self.evaluation_json else None

    @property
    def household_size(self) -> int:
        return len(self.members)

    @property
    def audit_label(self) -> str:
        return self.reference or f"draft:{self.id}"


class HouseholdMember(db.Model):
    __tablename__ = "household_members"

    id: Mapped[int] = mapped_column(primary_key=True)
    application_id: Mapped[int] = mapped_column(
        sa.ForeignKey("applications.id", ondelete="CASCADE"), index=True
    )
    position: Mapped[int] = mapped_column(default=0, nullable=False)
    name: Mapped[str] = mapped_column(sa.String(64), nullable=False)
    id_number: Mapped[str] = mapped_column(Encrypted("household_members.id_number"))
    id_index: Mapped[str] = mapped_column(sa.String(64), nullable=False, index=True)
    relation: Mapped[Relationship] = mapped_column(enum_type(Relationship, "relation"))
    birth_date: Mapped[date] = mapped_column(sa.Date, nullable=False)

    application: Mapped[Application] = relationship(back_populates="members")

    __table_args__ = (sa.UniqueConstraint("application_id", "id_index"),)

    @property
    def masked_id_number(self) -> str:
        return mask_id_number(self.id_number)


class PersonClaim(db.Model):
    """A person held by an active application or tenancy. The primary key makes "at most one
    active case per person, as applicant or member" a database rule (RULES.md)."""

    __tablename__ = "person_claims"

    id_index: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    application_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("applications.id", ondelete="CASCADE"), nullable=True, index=True
    )
    kind: Mapped[str] = mapped_column(sa.String(16), default="application", nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)


class ApplicationEvent(db.Model):
    """One step of the timeline a resident and the officers see. ``kind`` selects a
    translated sentence; ``params`` fills it."""

    __tablename__ = "application_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    application_id: Mapped[int] = mapped_column(
        sa.ForeignKey("applications.id", ondelete="CASCADE"), index=True
    )
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    kind: Mapped[str] = mapped_column(sa.String(40), nullable=False)
    actor_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"), nullable=True)
    params_json: Mapped[str] = mapped_column(sa.Text, default="{}", nullable=False)
    public: Mapped[bool] = mapped_column(
        default=True, nullable=False, comment="shown to the resident"
    )

    application: Mapped[Application] = relationship(back_populates="events")

    @property
    def params(self) -> dict[str, Any]:
        return json.loads(self.params_json)


class Upload(db.Model):
    """A file a person uploaded (SECURITY.md C4): stored under a random name outside
    ``static/``; only its owner and the staff handling its case may fetch it."""

    __tablename__ = "uploads"

    id: Mapped[int] = mapped_column(primary_key=True)
    owner_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), index=True)
    storage_name: Mapped[str] = mapped_column(sa.String(64), unique=True, nullable=False)
    original_name: Mapped[str] = mapped_column(sa.String(200), nullable=False)
    content_type: Mapped[str] = mapped_column(sa.String(40), nullable=False)
    size: Mapped[int] = mapped_column(nullable=False)
    sha256: Mapped[str] = mapped_column(sa.String(64), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)


class SupplementStatus(TitledEnum):
    OPEN = "open", _l("Awaiting your document")
    ANSWERED = "answered", _l("Document received")
    ACCEPTED = "accepted", _l("Document accepted")
    EXPIRED = "expired", _l("Deadline passed")


class SupplementRequest(db.Model):
    """补正: one specific document asked of the resident, with a deadline."""

    __tablename__ = "supplement_requests"

    id: Mapped[int] = mapped_column(primary_key=True)
    application_id: Mapped[int] = mapped_column(
        sa.ForeignKey("applications.id", ondelete="CASCADE"), index=True
    )
    check_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("department_checks.id"), nullable=True
    )
    document: Mapped[str] = mapped_column(sa.String(200), nullable=False, comment="what is asked")
    reason: Mapped[str] = mapped_column(sa.Text, nullable=False)
    deadline: Mapped[date] = mapped_column(sa.Date, nullable=False)
    status: Mapped[SupplementStatus] = mapped_column(
        enum_type(SupplementStatus, "supplement_status"), nullable=False
    )
    requested_by_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    upload_id: Mapped[int | None] = mapped_column(sa.ForeignKey("uploads.id"), nullable=True)
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    note: Mapped[str | None] = mapped_column(sa.Text, nullable=True)

    application: Mapped[Application] = relationship()
    upload: Mapped[Upload | None] = relationship()


class SpotCheck(db.Model):
    """承诺制 after the fact: an approved application drawn for a later check."""

    __tablename__ = "spot_checks"

    id: Mapped[int] = mapped_column(primary_key=True)
    application_id: Mapped[int] = mapped_column(
        sa.ForeignKey("applications.id", ondelete="CASCADE"), unique=True
    )
    drawn_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    outcome: Mapped[str | None] = mapped_column(
        sa.String(16), nullable=True, comment="clean or false_pledge"
    )
    finding: Mapped[str | None] = mapped_column(sa.Text, nullable=True)
    checked_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"), nullable=True)
    checked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    application: Mapped[Application] = relationship()
