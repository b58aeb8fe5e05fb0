"""Department checks (后台并联审核) and the embedded registry of department data."""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.applications.models import Application
from portal.core.clock import utcnow
from portal.core.db import UTCDateTime
from portal.core.enums import TitledEnum, enum_type
from portal.core.i18n import lazy_gettext as _l
from portal.extensions import db
from portal.verification.departments import Department


class CheckStatus(TitledEnum):
    """What the department's data said (automatic part of a check)."""

    PENDING = "pending", _l("Waiting for the department")
    MATCH = "match", _l("Data found, consistent")
    MISMATCH = "mismatch", _l("Data differ from the application")
    NO_DATA = "no_data", _l("No record at the department")
    UNAVAILABLE = "unavailable", _l("Department did not answer")


class CheckOutcome(TitledEnum):
    """The reviewer's settlement of a check."""

    CONFIRMED = "confirmed", _l("Confirmed")
    OVERRIDDEN = "overridden", _l("Corrected by the reviewer")
    DOCUMENT = "document", _l("Document requested")


class DepartmentCheck(db.Model):
    __tablename__ = "department_checks"

    id: Mapped[int] = mapped_column(primary_key=True)
    application_id: Mapped[int] = mapped_column(
        sa.ForeignKey("applications.id", ondelete="CASCADE"), index=True
    )
    department: Mapped[Department] = mapped_column(enum_type(Department, "department"))
    status: Mapped[CheckStatus] = mapped_column(enum_type(CheckStatus, "check_status"))
    facts_json: Mapped[str] = mapped_column(
        sa.Text, default="{}", nullable=False, comment="facts per member index, no ID numbers"
    )
    findings_json: Mapped[str] = mapped_column(
        sa.Text, default="[]", nullable=False, comment="mismatches found, as message codes"
    )
    source: Mapped[str | None] = mapped_column(sa.String(120), nullable=True)
    fetched_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    payload_hash: Mapped[str | None] = mapped_column(
        sa.String(64), nullable=True, comment="SHA-256 of the department's raw answer"
    )
    error: Mapped[str | None] = mapped_column(sa.String(200), nullable=True)
    deadline: Mapped[date] = mapped_column(sa.Date, nullable=False)
    outcome: Mapped[CheckOutcome | None] = mapped_column(
        enum_type(CheckOutcome, "check_outcome"), nullable=True
    )
    reviewer_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"), nullable=True)
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    review_note: Mapped[str | None] = mapped_column(sa.Text, nullable=True)

    application: Mapped[Application] = relationship()

    __table_args__ = (
        sa.UniqueConstraint("application_id", "department"),
        sa.Index("ix_department_checks_queue", "department", "outcome", "deadline"),
    )

    @property
    def facts(self) -> dict[str, Any]:
        return json.loads(self.facts_json)

    @property
    def findings(self) -> list[dict[str, Any]]:
        return json.loads(self.findings_json)

    @property
    def settled(self) -> bool:
        return self.outcome in (CheckOutcome.CONFIRMED, CheckOutcome.OVERRIDDEN)


class RegistryRecord(db.Model):
    """Embedded registry backend: one department's facts about one person, imported from CSV
    (``flask portal registry import``). Keyed by the ID number's blind index; the facts hold
    no ID numbers."""

    __tablename__ = "registry_records"

    id: Mapped[int] = mapped_column(primary_key=True)
    department: Mapped[Department] = mapped_column(enum_type(Department, "department"))
    id_index: Mapped[str] = mapped_column(sa.String(64), nullable=False)
    data_json: Mapped[str] = mapped_column(sa.Text, nullable=False)
    imported_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    source_file: Mapped[str | None] = mapped_column(sa.String(200), nullable=True)

    __table_args__ = (sa.UniqueConstraint("department", "id_index"),)

    @property
    def data(self) -> dict[str, Any]:
        return json.loads(self.data_json)
