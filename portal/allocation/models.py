"""Allocation rounds (配租批次), their units and entrants.

A round is proposed by an officer and approved by a manager (never the same person,
SECURITY.md B4). On approval the entrants are frozen and, for a lottery, the SHA-256 of the
secret seed and of the entrant list are published; the draw reveals the seed, and each
entrant's place follows from HMAC-SHA256(seed, entrant code), so anyone can re-run it
(``portal/allocation/lottery.py``).
"""

from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.accounts.models import District, User
from portal.applications.models import Programme
from portal.core.clock import utcnow
from portal.core.db import Encrypted, UTCDateTime
from portal.core.enums import TitledEnum, enum_type
from portal.core.i18n import lazy_gettext as _l
from portal.extensions import db
from portal.housing.models import Unit
from portal.waitlist.models import Group, QueueEntry


class Method(TitledEnum):
    RANK = "rank", _l("By queue rank")
    LOTTERY = "lottery", _l("By lottery")


class RoundStatus(TitledEnum):
    DRAFT = "draft", _l("Draft")
    PROPOSED = "proposed", _l("Awaiting a manager's approval")
    APPROVED = "approved", _l("Approved: entrants published")
    ORDERED = "ordered", _l("Order drawn")
    CHOOSING = "choosing", _l("Choosing units")
    CLOSED = "closed", _l("Closed: results published")
    REJECTED = "rejected", _l("Rejected")
    CANCELLED = "cancelled", _l("Cancelled")


class AllocationRound(db.Model):
    __tablename__ = "allocation_rounds"

    id: Mapped[int] = mapped_column(primary_key=True)
    reference: Mapped[str] = mapped_column(sa.String(24), unique=True, comment="e.g. R2026-0001")
    title: Mapped[str] = mapped_column(sa.String(120), nullable=False)
    programme: Mapped[Programme] = mapped_column(enum_type(Programme, "programme"))
    district_id: Mapped[int] = mapped_column(sa.ForeignKey("districts.id"), index=True)
    method: Mapped[Method] = mapped_column(enum_type(Method, "round_method"))
    groups: Mapped[str] = mapped_column(
        sa.String(40), nullable=False, comment="eligible groups, comma separated: p1,p2"
    )
    sector_share: Mapped[int] = mapped_column(
        default=0, nullable=False, comment="percent of the units for the sector quota"
    )
    choose_days: Mapped[int] = mapped_column(
        default=3, nullable=False, comment="days an invited household has to choose"
    )
    status: Mapped[RoundStatus] = mapped_column(enum_type(RoundStatus, "round_status"))
    created_by_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    proposed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    approved_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"), nullable=True)
    approved_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    decision_note: Mapped[str | None] = mapped_column(sa.Text, nullable=True)
    seed: Mapped[str | None] = mapped_column(
        Encrypted("allocation_rounds.seed"), nullable=True, comment="secret until the draw"
    )
    seed_hash: Mapped[str | None] = mapped_column(sa.String(64), nullable=True)
    entrants_hash: Mapped[str | None] = mapped_column(sa.String(64), nullable=True)
    entrant_count: Mapped[int] = mapped_column(default=0, nullable=False)
    quota_count: Mapped[int | None] = mapped_column(
        nullable=True, comment="front places for the sector quota, fixed at approval"
    )
    published_seed: Mapped[str | None] = mapped_column(
        sa.String(64), nullable=True, comment="revealed at the draw"
    )
    ordered_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    notice_until: Mapped[date | None] = mapped_column(
        sa.Date, nullable=True, comment="results in public notice until (15 days)"
    )

    district: Mapped[District] = relationship()
    created_by: Mapped[User] = relationship(foreign_keys=[created_by_id])
    approved_by: Mapped[User | None] = relationship(foreign_keys=[approved_by_id])
    units: Mapped[list[RoundUnit]] = relationship(
        back_populates="round", order_by="RoundUnit.id", cascade="all, delete-orphan"
    )

    @property
    def group_list(self) -> list[Group]:
        return [Group(g) for g in self.groups.split(",") if g]


class RoundUnit(db.Model):
    __tablename__ = "round_units"

    id: Mapped[int] = mapped_column(primary_key=True)
    round_id: Mapped[int] = mapped_column(sa.ForeignKey("allocation_rounds.id"), index=True)
    unit_id: Mapped[int] = mapped_column(sa.ForeignKey("units.id"), index=True)

    round: Mapped[AllocationRound] = relationship(back_populates="units")
    unit: Mapped[Unit] = relationship()

    __table_args__ = (sa.UniqueConstraint("round_id", "unit_id"),)


class EntrantStatus(TitledEnum):
    WAITING = "waiting", _l("Waiting for their turn")
    INVITED = "invited", _l("Invited to choose")
    CHOSEN = "chosen", _l("Chose a unit")
    REFUSED = "refused", _l("Refused")
    NO_SHOW = "no_show", _l("Did not come: turn passed on")
    NOT_REACHED = "not_reached", _l("Not reached: units ran out")


class RoundEntrant(db.Model):
    __tablename__ = "round_entrants"

    id: Mapped[int] = mapped_column(primary_key=True)
    round_id: Mapped[int] = mapped_column(sa.ForeignKey("allocation_rounds.id"))
    entry_id: Mapped[int] = mapped_column(sa.ForeignKey("queue_entries.id"), index=True)
    code: Mapped[str] = mapped_column(
        sa.String(24), nullable=False, comment="public entrant code: the application reference"
    )
    group: Mapped[Group] = mapped_column(enum_type(Group, "queue_group"))
    sector: Mapped[bool] = mapped_column(default=False, nullable=False)
    household_size: Mapped[int] = mapped_column(nullable=False)
    masked_name: Mapped[str] = mapped_column(sa.String(64), nullable=False)
    queue_rank: Mapped[int | None] = mapped_column(nullable=True, comment="at approval")
    draw: Mapped[str | None] = mapped_column(
        sa.String(64), nullable=True, comment="HMAC-SHA256(seed, code), hex"
    )
    position: Mapped[int | None] = mapped_column(nullable=True, comment="1 chooses first")
    status: Mapped[EntrantStatus] = mapped_column(enum_type(EntrantStatus, "entrant_status"))
    invited_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    respond_by: Mapped[date | None] = mapped_column(sa.Date, nullable=True)
    unit_id: Mapped[int | None] = mapped_column(sa.ForeignKey("units.id"), nullable=True)
    good_reason: Mapped[bool | None] = mapped_column(nullable=True)
    reason: Mapped[str | None] = mapped_column(sa.Text, nullable=True)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    decided_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"), nullable=True)

    round: Mapped[AllocationRound] = relationship()
    entry: Mapped[QueueEntry] = relationship()
    unit: Mapped[Unit | None] = relationship()

    __table_args__ = (
        sa.UniqueConstraint("round_id", "entry_id"),
        sa.UniqueConstraint("round_id", "position"),
        sa.UniqueConstraint("round_id", "unit_id"),
        sa.UniqueConstraint("round_id", "code"),
    )
