"""One row per run of a periodic job: the claim that makes it run once per period."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from portal.core.db import UTCDateTime
from portal.core.enums import TitledEnum, enum_type
from portal.extensions import db


class RunStatus(TitledEnum):
    """Operators' words, shown by ``flask portal jobs list`` (not translated)."""

    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class JobRun(db.Model):
    """A periodic job's run for one period (``2026-11`` for a monthly job). The unique key
    is the claim: a second runner for the same period cannot insert its row and skips."""

    __tablename__ = "job_runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(80), nullable=False)
    period_key: Mapped[str] = mapped_column(
        sa.String(20), nullable=False, comment="the period in city time, e.g. 2026-11-21"
    )
    status: Mapped[RunStatus] = mapped_column(enum_type(RunStatus, "job_run_status"))
    attempts: Mapped[int] = mapped_column(default=1, nullable=False)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    summary: Mapped[str | None] = mapped_column(
        sa.String(200), nullable=True, comment='what the run did, e.g. {"sent": 3}'
    )
    error: Mapped[str | None] = mapped_column(sa.String(300), nullable=True)

    __table_args__ = (
        sa.UniqueConstraint("name", "period_key"),
        sa.Index("ix_job_runs_name_started", "name", "started_at"),
    )
