"""Office contacts the public reads (办事窗口): where to go, whom to call, when."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.accounts.models import District
from portal.core.clock import utcnow
from portal.core.db import UTCDateTime
from portal.extensions import db


class Office(db.Model):
    """A service window of the housing authority: the city's centre (no district) or a
    district's office."""

    __tablename__ = "offices"

    id: Mapped[int] = mapped_column(primary_key=True)
    district_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("districts.id"), nullable=True, comment="none: the city's own centre"
    )
    name_zh: Mapped[str] = mapped_column(sa.String(120), nullable=False)
    name_en: Mapped[str] = mapped_column(sa.String(160), nullable=False)
    address: Mapped[str] = mapped_column(sa.String(200), nullable=False)
    phone: Mapped[str] = mapped_column(sa.String(40), nullable=False)
    hours_zh: Mapped[str] = mapped_column(sa.String(120), nullable=False)
    hours_en: Mapped[str] = mapped_column(sa.String(160), nullable=False)
    sort_order: Mapped[int] = mapped_column(default=0, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime, default=utcnow, onupdate=utcnow, nullable=False
    )

    district: Mapped[District | None] = relationship()

    def name(self, locale: str) -> str:
        return self.name_zh if locale.startswith("zh") else self.name_en

    def hours(self, locale: str) -> str:
        return self.hours_zh if locale.startswith("zh") else self.hours_en
