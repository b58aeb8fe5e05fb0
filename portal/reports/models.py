"""Yearly targets per district, their deadlines by month, and the construction projects
with their monthly progress (the seeds' project list, responsibility list and progress
ledger).

- ``Target``: one cell of the task table (年度工作任务目标分解表): a year, a district (or
  none: the units the city keeps itself, 市本级), a kind of task, a number of units or
  households.
- ``TargetMilestone``: a deadline by month for a share of a year's task (e.g. 70% of the
  projects started by the end of June).
- ``Project``: one construction or acquisition project (项目清单, 责任清单).
- ``ProjectProgress``: the project's state at the end of a month (项目建设进度台账).
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.accounts.models import District, User
from portal.core.clock import utcnow
from portal.core.db import Hundredths, UTCDateTime
from portal.core.enums import TitledEnum, enum_type
from portal.core.i18n import lazy_gettext as _l
from portal.extensions import db


class TargetKind(TitledEnum):
    """The columns of the task table: seed 001's, plus seed 000's affordable rental plan."""

    RENOVATION_STARTS_CARRIED = (
        "renovation_starts_carried",
        _l("Shanty-town renovation starts: added from earlier plans"),
    )
    RENOVATION_STARTS_NEW = (
        "renovation_starts_new",
        _l("Shanty-town renovation starts: this year's national plan"),
    )
    RENOVATION_COMPLETIONS = "renovation_completions", _l("Shanty-town renovation: completed")
    SUBSIDY_HOUSEHOLDS = "subsidy_households", _l("Households receiving a rental subsidy")
    PUBLIC_RENTAL_STARTS = "public_rental_starts", _l("Public rental housing: new starts")
    PUBLIC_RENTAL_COMPLETIONS = (
        "public_rental_completions",
        _l("Public rental housing: completed"),
    )
    NEW_ALLOCATIONS = "new_allocations", _l("Public rental housing: newly allocated and moved in")
    AFFORDABLE_RENTAL_STARTS = (
        "affordable_rental_starts",
        _l("Affordable rental housing: units started"),
    )


class ProjectKind(TitledEnum):
    RENOVATION = "renovation", _l("Shanty-town renovation")
    PUBLIC_RENTAL = "public_rental", _l("Public rental housing")
    AFFORDABLE_RENTAL = "affordable_rental", _l("Affordable rental housing")


class ProjectStage(TitledEnum):
    """The project's visible progress (形象进度) at the end of a month."""

    PREPARING = "preparing", _l("Preparing: approvals and land")
    STARTED = "started", _l("Started")
    MAIN_STRUCTURE = "main_structure", _l("Main structure under way")
    TOPPED_OUT = "topped_out", _l("Main structure finished")
    COMPLETED = "completed", _l("Basically completed")
    DELIVERED = "delivered", _l("Delivered and let")


CITY_SHARE = sa.text("district_id IS NULL")


class Target(db.Model):
    """One cell of a year's task table."""

    __tablename__ = "targets"

    id: Mapped[int] = mapped_column(primary_key=True)
    year: Mapped[int] = mapped_column(nullable=False)
    district_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("districts.id"),
        nullable=True,
        comment="none: the city's own share (市本级)",
    )
    kind: Mapped[TargetKind] = mapped_column(enum_type(TargetKind, "target_kind"))
    units: Mapped[int] = mapped_column(nullable=False, comment="套, 间 or 户")
    updated_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"), nullable=True)
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime, default=utcnow, onupdate=utcnow, nullable=False
    )

    district: Mapped[District | None] = relationship()

    __table_args__ = (
        sa.UniqueConstraint("year", "district_id", "kind", name="uq_targets_cell"),
        sa.Index(
            "uq_targets_city_cell",  # NULLs are distinct in the constraint above
            "year",
            "kind",
            unique=True,
            sqlite_where=CITY_SHARE,
            postgresql_where=CITY_SHARE,
        ),
        sa.CheckConstraint("units >= 0", name="units_not_negative"),
        sa.Index("ix_targets_year", "year"),
    )


class TargetMilestone(db.Model):
    """By the end of ``by_month``, ``share_percent`` of the year's task of ``kind`` is due
    (seed 000: 70% of projects started by June, 90% by September, all by October)."""

    __tablename__ = "target_milestones"

    id: Mapped[int] = mapped_column(primary_key=True)
    year: Mapped[int] = mapped_column(nullable=False)
    kind: Mapped[TargetKind] = mapped_column(enum_type(TargetKind, "milestone_kind"))
    by_month: Mapped[int] = mapped_column(nullable=False, comment="1-12: the end of that month")
    share_percent: Mapped[int] = mapped_column(nullable=False)

    __table_args__ = (
        sa.UniqueConstraint("year", "kind", "by_month", name="uq_target_milestones"),
        sa.CheckConstraint("by_month BETWEEN 1 AND 12", name="month"),
        sa.CheckConstraint("share_percent BETWEEN 1 AND 100", name="share"),
    )


class Project(db.Model):
    """A construction or acquisition project in a year's plan (项目清单 and 责任清单)."""

    __tablename__ = "projects"

    id: Mapped[int] = mapped_column(primary_key=True)
    year: Mapped[int] = mapped_column(nullable=False, comment="the plan year")
    name: Mapped[str] = mapped_column(sa.String(160), nullable=False)
    address: Mapped[str] = mapped_column(sa.String(200), nullable=False)
    district_id: Mapped[int] = mapped_column(sa.ForeignKey("districts.id"), index=True)
    kind: Mapped[ProjectKind] = mapped_column(enum_type(ProjectKind, "project_kind"))
    units: Mapped[int] = mapped_column(nullable=False, comment="planned 套 or 间")
    floor_area: Mapped[Decimal | None] = mapped_column(
        Hundredths, nullable=True, comment="m² of building"
    )
    investment: Mapped[Decimal | None] = mapped_column(
        Hundredths, nullable=True, comment="planned investment, 万元"
    )
    start_by: Mapped[date | None] = mapped_column(
        sa.Date, nullable=True, comment="the start deadline (开工期限)"
    )
    complete_by: Mapped[date | None] = mapped_column(sa.Date, nullable=True)
    started_on: Mapped[date | None] = mapped_column(sa.Date, nullable=True)
    completed_on: Mapped[date | None] = mapped_column(sa.Date, nullable=True)
    responsible_unit: Mapped[str] = mapped_column(
        sa.String(120), nullable=False, comment="责任单位"
    )
    responsible_person: Mapped[str] = mapped_column(sa.String(64), nullable=False, comment="责任人")
    implementer: Mapped[str] = mapped_column(sa.String(120), nullable=False, comment="实施单位")
    certificate: Mapped[str | None] = mapped_column(
        sa.String(64), nullable=True, comment="项目认定书 number (affordable rental)"
    )
    estate_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("estates.id"), nullable=True, comment="the estate it became"
    )
    remarks: Mapped[str | None] = mapped_column(sa.Text, nullable=True)
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)

    district: Mapped[District] = relationship()
    progress: Mapped[list[ProjectProgress]] = relationship(
        back_populates="project", order_by="ProjectProgress.month"
    )

    __table_args__ = (
        sa.CheckConstraint("units > 0", name="units_positive"),
        sa.Index("ix_projects_year_district", "year", "district_id"),
    )


class ProjectProgress(db.Model):
    """The project at the end of a month: one row per project and month, corrected by
    recording the month again."""

    __tablename__ = "project_progress"

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(sa.ForeignKey("projects.id"), nullable=False)
    month: Mapped[date] = mapped_column(sa.Date, nullable=False, comment="first day of the month")
    stage: Mapped[ProjectStage] = mapped_column(enum_type(ProjectStage, "project_stage"))
    units_started: Mapped[int] = mapped_column(
        nullable=False, default=0, comment="cumulative, 已开工套数"
    )
    units_completed: Mapped[int] = mapped_column(
        nullable=False, default=0, comment="cumulative, 基本建成套数"
    )
    investment_month: Mapped[Decimal] = mapped_column(
        Hundredths, nullable=False, default=Decimal(0), comment="this month, 万元"
    )
    investment_total: Mapped[Decimal] = mapped_column(
        Hundredths, nullable=False, default=Decimal(0), comment="cumulative, 万元"
    )
    problems: Mapped[str | None] = mapped_column(sa.Text, nullable=True, comment="存在问题")
    recorded_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"), nullable=True)
    recorded_at: Mapped[datetime] = mapped_column(
        UTCDateTime, default=utcnow, onupdate=utcnow, nullable=False
    )

    project: Mapped[Project] = relationship(back_populates="progress")
    recorded_by: Mapped[User | None] = relationship()

    __table_args__ = (
        sa.UniqueConstraint("project_id", "month", name="uq_project_progress_month"),
        sa.CheckConstraint("units_completed <= units_started", name="completed_le_started"),
    )
