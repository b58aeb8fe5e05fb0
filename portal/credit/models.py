"""Bans on housing benefits: from the portal's own credit records or from partner agencies'
joint-punishment lists. Applications are screened against them."""

from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from portal.core.clock import utcnow
from portal.core.db import UTCDateTime
from portal.extensions import db


class CreditBan(db.Model):
    __tablename__ = "credit_bans"

    id: Mapped[int] = mapped_column(primary_key=True)
    id_index: Mapped[str] = mapped_column(sa.String(64), nullable=False, index=True)
    source: Mapped[str] = mapped_column(sa.String(120), nullable=False, comment="who listed it")
    reason: Mapped[str] = mapped_column(sa.String(500), nullable=False)
    starts_on: Mapped[date] = mapped_column(sa.Date, nullable=False)
    ends_on: Mapped[date | None] = mapped_column(sa.Date, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
