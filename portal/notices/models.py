"""Public notices of approved applications, their entries and objections."""

from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.accounts.models import District, User
from portal.applications.models import Application, Programme
from portal.core.clock import utcnow
from portal.core.db import UTCDateTime
from portal.core.enums import TitledEnum, enum_type
from portal.core.i18n import lazy_gettext as _l
from portal.extensions import db


class NoticeStatus(TitledEnum):
    OPEN = "open", _l("Open for objections")
    CLOSED = "closed", _l("Closed")


class Notice(db.Model):
    __tablename__ = "notices"

    id: Mapped[int] = mapped_column(primary_key=True)
    district_id: Mapped[int] = mapped_column(sa.ForeignKey("districts.id"), index=True)
    programme: Mapped[Programme] = mapped_column(enum_type(Programme, "programme"))
    status: Mapped[NoticeStatus] = mapped_column(enum_type(NoticeStatus, "notice_status"))
    starts_on: Mapped[date] = mapped_column(sa.Date, nullable=False)
    ends_on: Mapped[date] = mapped_column(sa.Date, nullable=False)
    published_by_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    published_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    district: Mapped[District] = relationship()
    entries: Mapped[list[NoticeEntry]] = relationship(
        back_populates="notice", order_by="NoticeEntry.id"
    )


class NoticeEntry(db.Model):
    """One household on a notice, with what the public may see (masked)."""

    __tablename__ = "notice_entries"

    id: Mapped[int] = mapped_column(primary_key=True)
    notice_id: Mapped[int] = mapped_column(sa.ForeignKey("notices.id"), index=True)
    application_id: Mapped[int] = mapped_column(sa.ForeignKey("applications.id"), unique=True)
    masked_name: Mapped[str] = mapped_column(sa.String(64), nullable=False)
    masked_id: Mapped[str] = mapped_column(sa.String(24), nullable=False)
    household_size: Mapped[int] = mapped_column(nullable=False)
    reference: Mapped[str] = mapped_column(sa.String(24), nullable=False)

    notice: Mapped[Notice] = relationship(back_populates="entries")
    application: Mapped[Application] = relationship()


class ObjectionStatus(TitledEnum):
    OPEN = "open", _l("Being looked into")
    UPHELD = "upheld", _l("Upheld")
    DISMISSED = "dismissed", _l("Dismissed")


class Objection(db.Model):
    __tablename__ = "objections"

    id: Mapped[int] = mapped_column(primary_key=True)
    entry_id: Mapped[int] = mapped_column(sa.ForeignKey("notice_entries.id"), index=True)
    objector_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), index=True)
    reason: Mapped[str] = mapped_column(sa.Text, nullable=False)
    status: Mapped[ObjectionStatus] = mapped_column(enum_type(ObjectionStatus, "objection_status"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    respond_by: Mapped[date] = mapped_column(sa.Date, nullable=False, comment="10 working days")
    resolution: Mapped[str | None] = mapped_column(sa.Text, nullable=True)
    resolved_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"), nullable=True)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    entry: Mapped[NoticeEntry] = relationship()
    objector: Mapped[User] = relationship(foreign_keys=[objector_id])
