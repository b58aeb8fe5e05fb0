"""Estates, buildings and units. A unit's ``status`` says whether it can be offered; a vacated
unit (腾退) keeps the date it fell vacant until it is let again, so the portal can flag units
not re-let within a year (seed 004)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.accounts.models import District
from portal.applications.models import Programme
from portal.core.clock import utcnow
from portal.core.db import Hundredths, UTCDateTime
from portal.core.enums import TitledEnum, enum_type
from portal.core.i18n import lazy_gettext as _l
from portal.extensions import db


class UnitStatus(TitledEnum):
    VACANT = "vacant", _l("Vacant")
    IN_ROUND = "in_round", _l("Offered in a round")
    OCCUPIED = "occupied", _l("Let")
    MAINTENANCE = "maintenance", _l("Under repair")


class Estate(db.Model):
    __tablename__ = "estates"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(sa.String(32), unique=True, comment="e.g. GL-XF-001")
    name: Mapped[str] = mapped_column(sa.String(120), nullable=False)
    district_id: Mapped[int] = mapped_column(sa.ForeignKey("districts.id"), index=True)
    address: Mapped[str] = mapped_column(sa.String(200), nullable=False)
    programme: Mapped[Programme] = mapped_column(enum_type(Programme, "programme"))
    market_rent: Mapped[Decimal | None] = mapped_column(
        Hundredths, nullable=True, comment="market rent in yuan per m² a month"
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)

    district: Mapped[District] = relationship()
    buildings: Mapped[list[Building]] = relationship(
        back_populates="estate", order_by="Building.name"
    )


class Building(db.Model):
    __tablename__ = "buildings"

    id: Mapped[int] = mapped_column(primary_key=True)
    estate_id: Mapped[int] = mapped_column(sa.ForeignKey("estates.id"), index=True)
    name: Mapped[str] = mapped_column(sa.String(40), nullable=False, comment="e.g. 3栋")

    estate: Mapped[Estate] = relationship(back_populates="buildings")

    __table_args__ = (sa.UniqueConstraint("estate_id", "name"),)


class Unit(db.Model):
    __tablename__ = "units"

    id: Mapped[int] = mapped_column(primary_key=True)
    estate_id: Mapped[int] = mapped_column(sa.ForeignKey("estates.id"), nullable=False)
    building_id: Mapped[int] = mapped_column(sa.ForeignKey("buildings.id"), index=True)
    number: Mapped[str] = mapped_column(sa.String(20), nullable=False, comment="e.g. 2-0304")
    floor: Mapped[int] = mapped_column(nullable=False)
    area: Mapped[Decimal] = mapped_column(Hundredths, nullable=False, comment="m², 2 places")
    rooms: Mapped[int] = mapped_column(nullable=False)
    accessible: Mapped[bool] = mapped_column(default=False, nullable=False)
    rent: Mapped[Decimal] = mapped_column(Hundredths, nullable=False, comment="yuan a month")
    status: Mapped[UnitStatus] = mapped_column(enum_type(UnitStatus, "unit_status"))
    vacated_on: Mapped[date | None] = mapped_column(
        sa.Date, nullable=True, comment="腾退: when it fell vacant; cleared when let again"
    )
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime, default=utcnow, onupdate=utcnow, nullable=False
    )

    estate: Mapped[Estate] = relationship()
    building: Mapped[Building] = relationship()

    __table_args__ = (
        sa.UniqueConstraint("building_id", "number"),
        sa.Index("ix_units_estate_status", "estate_id", "status"),
        sa.CheckConstraint("area > 0", name="area_positive"),
        sa.CheckConstraint("rent >= 0", name="rent_not_negative"),
        sa.CheckConstraint("rooms > 0", name="rooms_positive"),
    )

    @property
    def label(self) -> str:
        return f"{self.estate.name} {self.building.name} {self.number}"
