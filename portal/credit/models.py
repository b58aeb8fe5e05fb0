"""Credit records (诚信体系) and joint-punishment lists (联合惩戒).

- ``ViolationType``: the catalogue (RULES.md), versioned: a manager's change adds a version;
  a record keeps the version that graded it.
- ``CreditRecord``: a violation of a person (ID number) or an organisation (unified social
  credit code), flagged by one member of staff (or by the portal itself) and confirmed by a
  different manager (SECURITY.md B4). Its dates say how long it is published, how long it
  bans, and from when its subject may ask for credit repair.
- ``CreditAppeal``: the subject's objection (异议) or request for credit repair (信用修复),
  decided by a manager with a reason.
- ``CreditChange``: the feed partner agencies pull, one row per listing, change or removal;
  its id is the cursor.
- ``ExternalListing``: an entry of a list a partner agency pushed in (e.g. a court's list of
  dishonest judgment debtors).
- ``CreditBan``: what screens applications: one row per active ban, from a record or a
  partner's listing.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.accounts.models import ApiClient, User
from portal.applications.models import Upload
from portal.core.clock import utcnow
from portal.core.db import Encrypted, UTCDateTime
from portal.core.enums import TitledEnum, enum_type
from portal.core.i18n import lazy_gettext as _l
from portal.extensions import db


class Grade(TitledEnum):
    GENERAL = "general", _l("General (一般)")
    MAJOR = "major", _l("Major (较重)")
    SERIOUS = "serious", _l("Serious (严重)")


class SubjectKind(TitledEnum):
    PERSON = "person", _l("Person")
    ORGANISATION = "organisation", _l("Organisation")


class ViolationType(db.Model):
    __tablename__ = "violation_types"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(sa.String(32), nullable=False, comment="e.g. V-SUBLET")
    version: Mapped[int] = mapped_column(nullable=False)
    effective_from: Mapped[date] = mapped_column(sa.Date, nullable=False)
    name_zh: Mapped[str] = mapped_column(sa.String(120), nullable=False)
    name_en: Mapped[str] = mapped_column(sa.String(200), nullable=False)
    grade: Mapped[Grade] = mapped_column(enum_type(Grade, "credit_grade"))
    points: Mapped[int] = mapped_column(nullable=False, comment="deducted from 100")
    publish_months: Mapped[int] = mapped_column(nullable=False, comment="publication period")
    ban_months: Mapped[int] = mapped_column(
        default=0, nullable=False, comment="ban on housing benefits; 0 none"
    )
    repair_after_months: Mapped[int] = mapped_column(
        nullable=False, comment="credit repair may be asked after this"
    )
    suspends_queue: Mapped[bool] = mapped_column(default=False, nullable=False)
    opens_exit: Mapped[bool] = mapped_column(
        default=False, nullable=False, comment="a tenant's lease goes to an exit case"
    )
    measures_zh: Mapped[str] = mapped_column(sa.Text, default="", nullable=False)
    measures_en: Mapped[str] = mapped_column(sa.Text, default="", nullable=False)
    legal_basis: Mapped[str] = mapped_column(sa.String(300), default="", nullable=False)
    retired: Mapped[bool] = mapped_column(default=False, nullable=False)
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)

    __table_args__ = (sa.UniqueConstraint("code", "version"),)

    def name(self, locale: str) -> str:
        return self.name_zh if locale.startswith("zh") else self.name_en

    def measures(self, locale: str) -> str:
        return self.measures_zh if locale.startswith("zh") else self.measures_en


class RecordStatus(TitledEnum):
    PENDING = "pending", _l("Flagged, awaiting confirmation")
    REJECTED = "rejected", _l("Not confirmed")
    ACTIVE = "active", _l("In force")
    OBJECTED = "objected", _l("Objection being decided")
    ANNULLED = "annulled", _l("Annulled after objection")
    REPAIRED = "repaired", _l("Credit repaired")
    EXPIRED = "expired", _l("Expired")


class CreditRecord(db.Model):
    __tablename__ = "credit_records"

    id: Mapped[int] = mapped_column(primary_key=True)
    reference: Mapped[str] = mapped_column(sa.String(24), unique=True, comment="e.g. CR2026000001")
    subject_kind: Mapped[SubjectKind] = mapped_column(enum_type(SubjectKind, "subject_kind"))
    subject_index: Mapped[str] = mapped_column(
        sa.String(64), nullable=False, index=True, comment="blind index of the ID number or code"
    )
    subject_id_number: Mapped[str | None] = mapped_column(
        Encrypted("credit_records.subject_id_number"), nullable=True
    )
    subject_code: Mapped[str | None] = mapped_column(
        sa.String(18), nullable=True, comment="unified social credit code (organisations)"
    )
    subject_name: Mapped[str] = mapped_column(sa.String(120), nullable=False)
    violation_type_id: Mapped[int] = mapped_column(sa.ForeignKey("violation_types.id"))
    grade: Mapped[Grade] = mapped_column(enum_type(Grade, "credit_grade"))
    points: Mapped[int] = mapped_column(nullable=False)
    facts: Mapped[str] = mapped_column(sa.Text, nullable=False)
    occurred_on: Mapped[date] = mapped_column(sa.Date, nullable=False)
    source: Mapped[str] = mapped_column(
        sa.String(32), nullable=False, comment="manual, spot_check, arrears, refuse_vacate…"
    )
    application_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("applications.id"), nullable=True
    )
    lease_id: Mapped[int | None] = mapped_column(sa.ForeignKey("leases.id"), nullable=True)
    status: Mapped[RecordStatus] = mapped_column(enum_type(RecordStatus, "credit_record_status"))
    flagged_by_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("users.id"), nullable=True, comment="None: flagged by the portal itself"
    )
    flagged_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    confirmed_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"), nullable=True)
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    decision_note: Mapped[str | None] = mapped_column(sa.Text, nullable=True)
    starts_on: Mapped[date | None] = mapped_column(sa.Date, nullable=True, comment="confirmed on")
    publish_until: Mapped[date | None] = mapped_column(sa.Date, nullable=True)
    ban_until: Mapped[date | None] = mapped_column(sa.Date, nullable=True)
    repair_from: Mapped[date | None] = mapped_column(sa.Date, nullable=True)
    object_by: Mapped[date | None] = mapped_column(
        sa.Date, nullable=True, comment="the subject may object until this day"
    )
    ended_on: Mapped[date | None] = mapped_column(sa.Date, nullable=True)
    ended_reason: Mapped[str | None] = mapped_column(sa.Text, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime, default=utcnow, onupdate=utcnow, nullable=False
    )

    violation_type: Mapped[ViolationType] = relationship()
    flagged_by: Mapped[User | None] = relationship(foreign_keys=[flagged_by_id])
    confirmed_by: Mapped[User | None] = relationship(foreign_keys=[confirmed_by_id])
    evidence: Mapped[list[Upload]] = relationship(secondary="credit_evidence")

    __table_args__ = (
        sa.Index("ix_credit_records_status_publish", "status", "publish_until"),
        sa.CheckConstraint(
            "(subject_kind = 'person' AND subject_id_number IS NOT NULL) OR "
            "(subject_kind = 'organisation' AND subject_code IS NOT NULL)",
            name="subject_identified",
        ),
    )

    @property
    def audit_label(self) -> str:
        return self.reference


credit_evidence = sa.Table(
    "credit_evidence",
    db.metadata,
    sa.Column(
        "record_id", sa.ForeignKey("credit_records.id", ondelete="CASCADE"), primary_key=True
    ),
    sa.Column("upload_id", sa.ForeignKey("uploads.id"), primary_key=True),
)


class AppealKind(TitledEnum):
    OBJECTION = "objection", _l("Objection")
    REPAIR = "repair", _l("Credit repair")


class AppealStatus(TitledEnum):
    OPEN = "open", _l("Being decided")
    GRANTED = "granted", _l("Granted")
    REFUSED = "refused", _l("Refused")


class CreditAppeal(db.Model):
    __tablename__ = "credit_appeals"

    id: Mapped[int] = mapped_column(primary_key=True)
    record_id: Mapped[int] = mapped_column(sa.ForeignKey("credit_records.id"), index=True)
    kind: Mapped[AppealKind] = mapped_column(enum_type(AppealKind, "appeal_kind"))
    status: Mapped[AppealStatus] = mapped_column(enum_type(AppealStatus, "appeal_status"))
    reason: Mapped[str] = mapped_column(sa.Text, nullable=False)
    filed_by_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    filed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    respond_by: Mapped[date] = mapped_column(sa.Date, nullable=False)
    decided_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"), nullable=True)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    decision_reason: Mapped[str | None] = mapped_column(sa.Text, nullable=True)

    record: Mapped[CreditRecord] = relationship()
    files: Mapped[list[Upload]] = relationship(secondary="credit_appeal_files")


credit_appeal_files = sa.Table(
    "credit_appeal_files",
    db.metadata,
    sa.Column(
        "appeal_id", sa.ForeignKey("credit_appeals.id", ondelete="CASCADE"), primary_key=True
    ),
    sa.Column("upload_id", sa.ForeignKey("uploads.id"), primary_key=True),
)


class ChangeAction(TitledEnum):
    LISTED = "listed", _l("Listed")
    UPDATED = "updated", _l("Updated")
    REMOVED = "removed", _l("Removed")


class CreditChange(db.Model):
    """One change of the joint-punishment list; partners pull ``id > cursor``."""

    __tablename__ = "credit_changes"

    id: Mapped[int] = mapped_column(
        sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True
    )
    record_id: Mapped[int] = mapped_column(sa.ForeignKey("credit_records.id"), index=True)
    action: Mapped[ChangeAction] = mapped_column(enum_type(ChangeAction, "change_action"))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    payload_json: Mapped[str] = mapped_column(
        sa.Text, nullable=False, comment="the allow-listed fields, as partners receive them"
    )

    @property
    def payload(self) -> dict[str, Any]:
        return json.loads(self.payload_json)


class ExternalListing(db.Model):
    """An entry of a list a partner agency pushed in."""

    __tablename__ = "external_listings"

    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[int] = mapped_column(sa.ForeignKey("api_clients.id"), index=True)
    external_id: Mapped[str] = mapped_column(sa.String(64), nullable=False)
    list_name: Mapped[str] = mapped_column(sa.String(120), nullable=False)
    subject_kind: Mapped[SubjectKind] = mapped_column(enum_type(SubjectKind, "subject_kind"))
    subject_index: Mapped[str] = mapped_column(sa.String(64), nullable=False, index=True)
    subject_name: Mapped[str] = mapped_column(sa.String(120), nullable=False)
    reason: Mapped[str] = mapped_column(sa.String(500), nullable=False)
    starts_on: Mapped[date] = mapped_column(sa.Date, nullable=False)
    ends_on: Mapped[date | None] = mapped_column(sa.Date, nullable=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    removed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    client: Mapped[ApiClient] = relationship()

    __table_args__ = (sa.UniqueConstraint("client_id", "external_id"),)


class CreditBan(db.Model):
    """A ban on housing benefits that screens applications: from a confirmed record or a
    partner's listing (one of the two), or entered before either existed."""

    __tablename__ = "credit_bans"

    id: Mapped[int] = mapped_column(primary_key=True)
    id_index: Mapped[str] = mapped_column(sa.String(64), nullable=False, index=True)
    source: Mapped[str] = mapped_column(sa.String(120), nullable=False, comment="who listed it")
    reason: Mapped[str] = mapped_column(sa.String(500), nullable=False)
    starts_on: Mapped[date] = mapped_column(sa.Date, nullable=False)
    ends_on: Mapped[date | None] = mapped_column(sa.Date, nullable=True)
    record_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("credit_records.id"), nullable=True, unique=True
    )
    listing_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("external_listings.id"), nullable=True, unique=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
