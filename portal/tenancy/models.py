"""Leases: an accepted unit becomes a lease; one active lease per unit and per household,
enforced by partial unique indexes (SECURITY.md F1)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.accounts.models import User
from portal.applications.models import Application
from portal.core.clock import utcnow
from portal.core.db import Hundredths, UTCDateTime
from portal.core.enums import TitledEnum, enum_type
from portal.core.i18n import lazy_gettext as _l
from portal.extensions import db
from portal.housing.models import Unit


class LeaseStatus(TitledEnum):
    ACTIVE = "active", _l("In force")
    ENDED = "ended", _l("Ended")


ACTIVE = sa.text("status = 'active'")


class Lease(db.Model):
    __tablename__ = "leases"

    id: Mapped[int] = mapped_column(primary_key=True)
    reference: Mapped[str] = mapped_column(sa.String(24), unique=True, comment="e.g. L2026000001")
    unit_id: Mapped[int] = mapped_column(sa.ForeignKey("units.id"), index=True)
    application_id: Mapped[int] = mapped_column(sa.ForeignKey("applications.id"), index=True)
    tenant_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), index=True)
    round_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("allocation_rounds.id"), nullable=True
    )
    starts_on: Mapped[date] = mapped_column(sa.Date, nullable=False)
    ends_on: Mapped[date] = mapped_column(sa.Date, nullable=False)
    monthly_rent: Mapped[Decimal] = mapped_column(Hundredths, nullable=False)
    status: Mapped[LeaseStatus] = mapped_column(enum_type(LeaseStatus, "lease_status"))
    ended_on: Mapped[date | None] = mapped_column(sa.Date, nullable=True)
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)

    unit: Mapped[Unit] = relationship()
    application: Mapped[Application] = relationship()
    tenant: Mapped[User] = relationship(foreign_keys=[tenant_id])

    __table_args__ = (
        sa.Index(
            "uq_leases_active_unit",
            "unit_id",
            unique=True,
            sqlite_where=ACTIVE,
            postgresql_where=ACTIVE,
        ),
        sa.Index(
            "uq_leases_active_application",
            "application_id",
            unique=True,
            sqlite_where=ACTIVE,
            postgresql_where=ACTIVE,
        ),
        sa.CheckConstraint("ends_on > starts_on", name="term_positive"),
    )
