"""Queue entries (轮候), the stored rankings and the published queue figures.

The order itself is defined in ``portal/waitlist/rules.py``. Ranking writes a new
*generation* of ``queue_ranks`` in one INSERT … SELECT with a window function and then makes
it current, so a household's position is two primary-key look-ups, a listing page at any
depth is an index range, and readers never see a half-written ranking.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.applications.models import Application, Programme
from portal.core.clock import utcnow
from portal.core.db import UTCDateTime
from portal.core.enums import TitledEnum, enum_type
from portal.core.i18n import lazy_gettext as _l
from portal.extensions import db


class Group(TitledEnum):
    """Priority groups (RULES.md), in queue order (``ORDER``)."""

    P1 = "p1", _l("Priority 1: assistance, severe disability or serious illness")
    P2 = "p2", _l("Priority 2: elderly, veterans, special families, two or more minors")
    S = "s", _l("Sector quota: sanitation, transit, young doctors and teachers")
    G = "g", _l("General")


GROUP_ORDER = {Group.P1: 1, Group.P2: 2, Group.S: 3, Group.G: 4}


class Sector(TitledEnum):
    SANITATION = "sanitation", _l("Sanitation worker")
    TRANSIT = "transit", _l("Public transport worker")
    DOCTOR = "doctor", _l("Young doctor")
    TEACHER = "teacher", _l("Young teacher")


class EntryStatus(TitledEnum):
    WAITING = "waiting", _l("Waiting")
    SUSPENDED = "suspended", _l("Suspended")
    HOUSED = "housed", _l("Housed")
    REMOVED = "removed", _l("Removed from the list")


WAITING = sa.text("status = 'waiting'")


class QueueEntry(db.Model):
    __tablename__ = "queue_entries"

    id: Mapped[int] = mapped_column(primary_key=True)
    application_id: Mapped[int] = mapped_column(sa.ForeignKey("applications.id"), unique=True)
    programme: Mapped[Programme] = mapped_column(enum_type(Programme, "programme"))
    group: Mapped[Group] = mapped_column(enum_type(Group, "queue_group"))
    group_order: Mapped[int] = mapped_column(nullable=False, comment="1 P1 … 4 G: sort key")
    sector: Mapped[Sector | None] = mapped_column(enum_type(Sector, "sector"), nullable=True)
    qualified_on: Mapped[date] = mapped_column(sa.Date, nullable=False)
    points: Mapped[int] = mapped_column(nullable=False, default=0)
    points_json: Mapped[str] = mapped_column(
        sa.Text, default="[]", nullable=False, comment="each counted item and its reason"
    )
    birth_date: Mapped[date] = mapped_column(sa.Date, nullable=False, comment="applicant's")
    tiebreak: Mapped[str] = mapped_column(
        sa.String(64), nullable=False, comment="seeded draw: HMAC-SHA256(seed, reference)"
    )
    household_size: Mapped[int] = mapped_column(nullable=False)
    status: Mapped[EntryStatus] = mapped_column(enum_type(EntryStatus, "queue_entry_status"))
    refusals: Mapped[int] = mapped_column(
        default=0, nullable=False, comment="refusals without good reason"
    )
    joined_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    verified_on: Mapped[date] = mapped_column(sa.Date, nullable=False, comment="last checked")
    next_verification_on: Mapped[date] = mapped_column(sa.Date, nullable=False, index=True)
    status_reason: Mapped[str | None] = mapped_column(sa.Text, nullable=True)
    status_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    object_by: Mapped[date | None] = mapped_column(
        sa.Date, nullable=True, comment="a suspended household may object until this day"
    )
    objection: Mapped[str | None] = mapped_column(
        sa.Text, nullable=True, comment="the household's answer to a suspension"
    )
    objected_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    rule_version_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("rule_versions.id"), nullable=True
    )

    application: Mapped[Application] = relationship()

    __table_args__ = (
        sa.Index(
            "ix_queue_entries_order",
            "programme",
            "group_order",
            "qualified_on",
            sa.text("points DESC"),
            "birth_date",
            "tiebreak",
            sqlite_where=WAITING,
            postgresql_where=WAITING,
            postgresql_include=["id"],  # the ranking then reads the index alone
        ),
    )

    @property
    def point_items(self) -> list[dict[str, Any]]:
        return json.loads(self.points_json)


class QueueRanking(db.Model):
    """One ranking run. The newest row is the current ranking; its figures (waiting counts
    per programme and group, recent allocation rate) are what the position page needs."""

    __tablename__ = "queue_rankings"

    id: Mapped[int] = mapped_column(primary_key=True, comment="the generation")
    ranked_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    stats_json: Mapped[str] = mapped_column(sa.Text, default="{}", nullable=False)
    duration_ms: Mapped[int] = mapped_column(default=0, nullable=False)

    @property
    def stats(self) -> dict[str, Any]:
        return json.loads(self.stats_json)


class QueueRank(db.Model):
    """A waiting household's place in one ranking generation."""

    __tablename__ = "queue_ranks"

    generation: Mapped[int] = mapped_column(primary_key=True)
    entry_id: Mapped[int] = mapped_column(primary_key=True)
    programme: Mapped[str] = mapped_column(sa.String(32), nullable=False)
    rank: Mapped[int] = mapped_column(nullable=False)
    group_rank: Mapped[int] = mapped_column(nullable=False)

    __table_args__ = (sa.Index("ix_queue_ranks_listing", "generation", "programme", "rank"),)


class QueueEvent(db.Model):
    """What happened to a queue entry (joined, re-verified, points changed, suspended,
    objected, removed, invited, refused, housed): its history for the household and staff."""

    __tablename__ = "queue_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    entry_id: Mapped[int] = mapped_column(sa.ForeignKey("queue_entries.id"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    kind: Mapped[str] = mapped_column(sa.String(40), nullable=False)
    actor_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"), nullable=True)
    params_json: Mapped[str] = mapped_column(sa.Text, default="{}", nullable=False)

    @property
    def params(self) -> dict[str, Any]:
        return json.loads(self.params_json)
