"""Rental subsidies (租赁补贴).

- ``SubsidyAward``: a household's entitlement: why it is paid (a subsidy household, a
  household waiting for a unit, an assistance household in a public rental unit whose
  subsidy offsets its rent), from which month, until when it is valid, and where it is paid.
- ``SubsidyBasis``: the facts the amount is computed from (household size, per-capita
  income, assistance, owned area, actual rent), each set in force from a month: a change
  takes effect from the next month and the months before keep theirs.
- ``SubsidyRun``: one month's run. It is computed (and may be corrected and computed again
  any number of times, with the same result for the same facts), then closed by a manager;
  a closed month never changes. Its totals reconcile to the fen with its lines.
- ``SubsidyPayment``: one line of the ledger: a month's payment with the components it was
  computed from (tier, rate, area, coefficient, cap), or a deduction that recovers an
  overpayment.
- ``SubsidyRecovery``: an overpayment found after its month was closed, recovered from later
  payments (or repaid by the household).
"""

from __future__ import annotations

import json
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.accounts.models import District, User
from portal.applications.models import Application
from portal.core.clock import utcnow
from portal.core.db import Encrypted, Hundredths, UTCDateTime
from portal.core.enums import TitledEnum, enum_type
from portal.core.i18n import lazy_gettext as _l
from portal.extensions import db


class AwardBasis(TitledEnum):
    SUBSIDY = "subsidy", _l("Rental subsidy household")
    WAITING = "waiting", _l("Waiting for a public rental unit")
    TENANT = "tenant", _l("Public rental tenant: the subsidy pays part of the rent")


class AwardStatus(TitledEnum):
    DETAILS = "details", _l("Awaiting the rent and bank account")
    ACTIVE = "active", _l("Paid monthly")
    SUSPENDED = "suspended", _l("Suspended")
    LAPSED = "lapsed", _l("Lapsed: the annual review is overdue")
    ENDED = "ended", _l("Ended")


class SubsidyAward(db.Model):
    __tablename__ = "subsidy_awards"

    id: Mapped[int] = mapped_column(primary_key=True)
    reference: Mapped[str] = mapped_column(sa.String(24), unique=True, comment="e.g. S2026000001")
    application_id: Mapped[int] = mapped_column(sa.ForeignKey("applications.id"), unique=True)
    district_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("districts.id"), nullable=True, index=True
    )
    basis: Mapped[AwardBasis] = mapped_column(enum_type(AwardBasis, "award_basis"))
    status: Mapped[AwardStatus] = mapped_column(enum_type(AwardStatus, "award_status"))
    starts_month: Mapped[date] = mapped_column(
        sa.Date, nullable=False, comment="first month payable (first day of the month)"
    )
    ends_month: Mapped[date | None] = mapped_column(
        sa.Date, nullable=True, comment="first month no longer payable"
    )
    valid_until: Mapped[date] = mapped_column(
        sa.Date, nullable=False, comment="one year; renewed by the annual review"
    )
    lease_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("leases.id"), nullable=True, comment="tenant basis: the rent it offsets"
    )
    payee_name: Mapped[str | None] = mapped_column(sa.String(64), nullable=True)
    bank_name: Mapped[str | None] = mapped_column(sa.String(80), nullable=True)
    bank_account: Mapped[str | None] = mapped_column(
        Encrypted("subsidy_awards.bank_account"), nullable=True
    )
    veteran: Mapped[bool] = mapped_column(
        default=False, nullable=False, comment="优抚对象 verified by an officer: coefficient"
    )
    ended_reason: Mapped[str | None] = mapped_column(sa.String(40), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime, default=utcnow, onupdate=utcnow, nullable=False
    )

    application: Mapped[Application] = relationship()
    district: Mapped[District | None] = relationship()
    bases: Mapped[list[SubsidyBasis]] = relationship(
        back_populates="award", order_by="SubsidyBasis.effective_month"
    )

    __table_args__ = (sa.Index("ix_subsidy_awards_status_starts", "status", "starts_month"),)


class SubsidyBasis(db.Model):
    __tablename__ = "subsidy_bases"

    id: Mapped[int] = mapped_column(primary_key=True)
    award_id: Mapped[int] = mapped_column(sa.ForeignKey("subsidy_awards.id"), nullable=False)
    effective_month: Mapped[date] = mapped_column(sa.Date, nullable=False)
    household_size: Mapped[int] = mapped_column(nullable=False)
    assistance: Mapped[bool] = mapped_column(nullable=False, comment="低保 or 特困")
    per_capita_income: Mapped[Decimal] = mapped_column(Hundredths, nullable=False)
    own_area: Mapped[Decimal] = mapped_column(Hundredths, nullable=False, comment="m² owned")
    actual_rent: Mapped[Decimal | None] = mapped_column(
        Hundredths, nullable=True, comment="rent paid a month: the cap (None: not yet known)"
    )
    source: Mapped[str] = mapped_column(
        sa.String(20), nullable=False, comment="application, details, change, review, correction"
    )
    occurred_on: Mapped[date | None] = mapped_column(
        sa.Date, nullable=True, comment="when the change happened (a late report: recovery)"
    )
    note: Mapped[str] = mapped_column(sa.Text, default="", nullable=False)
    recorded_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"), nullable=True)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)

    award: Mapped[SubsidyAward] = relationship(back_populates="bases")

    __table_args__ = (sa.UniqueConstraint("award_id", "effective_month"),)


class RunStatus(TitledEnum):
    COMPUTED = "computed", _l("Computed: may be corrected and computed again")
    CLOSED = "closed", _l("Closed: paid")


class SubsidyRun(db.Model):
    __tablename__ = "subsidy_runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    month: Mapped[date] = mapped_column(sa.Date, unique=True, comment="first day of the month")
    status: Mapped[RunStatus] = mapped_column(enum_type(RunStatus, "subsidy_run_status"))
    rule_version_id: Mapped[int] = mapped_column(sa.ForeignKey("rule_versions.id"))
    households: Mapped[int] = mapped_column(default=0, nullable=False)
    total: Mapped[Decimal] = mapped_column(
        Hundredths, default=Decimal(0), nullable=False, comment="payments, before recoveries"
    )
    recovered: Mapped[Decimal] = mapped_column(
        Hundredths, default=Decimal(0), nullable=False, comment="deductions (a positive sum)"
    )
    to_bank: Mapped[Decimal] = mapped_column(Hundredths, default=Decimal(0), nullable=False)
    to_rent: Mapped[Decimal] = mapped_column(Hundredths, default=Decimal(0), nullable=False)
    checksum: Mapped[str] = mapped_column(
        sa.String(64),
        default="",
        nullable=False,
        comment="SHA-256 of a fingerprint of every field of every line",
    )
    computations: Mapped[int] = mapped_column(default=0, nullable=False)
    history_json: Mapped[str] = mapped_column(
        sa.Text, default="[]", nullable=False, comment="each computation: when, who, totals"
    )
    computed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    computed_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"), nullable=True)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    closed_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"), nullable=True)

    computed_by: Mapped[User | None] = relationship(foreign_keys=[computed_by_id])
    closed_by: Mapped[User | None] = relationship(foreign_keys=[closed_by_id])

    @property
    def history(self) -> list[dict[str, Any]]:
        return json.loads(self.history_json)


class LineKind(TitledEnum):
    PAYMENT = "payment", _l("Monthly subsidy")
    RECOVERY = "recovery", _l("Recovery of an overpayment")


class Channel(TitledEnum):
    BANK = "bank", _l("Paid to the bank account")
    RENT = "rent", _l("Offset against the rent")


class SubsidyPayment(db.Model):
    __tablename__ = "subsidy_payments"

    id: Mapped[int] = mapped_column(primary_key=True)
    # No foreign keys on run_id, award_id and basis_id (indexes only, as queue_ranks): the
    # lines are written only by the monthly run, in bulk, from the awards and bases it has
    # just read; on PostgreSQL the per-row key checks cost more than half the run's time.
    run_id: Mapped[int] = mapped_column(nullable=False)
    month: Mapped[date] = mapped_column(sa.Date, nullable=False)
    award_id: Mapped[int] = mapped_column(nullable=False)
    basis_id: Mapped[int | None] = mapped_column(nullable=True)
    kind: Mapped[LineKind] = mapped_column(enum_type(LineKind, "subsidy_line_kind"))
    channel: Mapped[Channel] = mapped_column(enum_type(Channel, "subsidy_channel"))
    amount: Mapped[Decimal] = mapped_column(
        Hundredths, nullable=False, comment="yuan; a recovery is negative"
    )
    tier: Mapped[str] = mapped_column(
        sa.String(12), default="", nullable=False, comment="assistance, tier1, tier2, above, table"
    )
    rate: Mapped[Decimal | None] = mapped_column(Hundredths, nullable=True, comment="yuan/m²")
    area: Mapped[Decimal | None] = mapped_column(Hundredths, nullable=True, comment="m² paid for")
    coefficient: Mapped[Decimal | None] = mapped_column(Hundredths, nullable=True)
    uncapped: Mapped[Decimal | None] = mapped_column(Hundredths, nullable=True)
    cap: Mapped[Decimal | None] = mapped_column(Hundredths, nullable=True, comment="actual rent")
    recovery_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("subsidy_recoveries.id"), nullable=True
    )

    __table_args__ = (
        sa.UniqueConstraint("month", "award_id", "kind"),
        sa.Index("ix_subsidy_payments_run_award", "run_id", "award_id"),
        sa.Index("ix_subsidy_payments_award_month", "award_id", "month"),
    )


class RecoveryStatus(TitledEnum):
    OPEN = "open", _l("Being recovered")
    SETTLED = "settled", _l("Recovered")
    WAIVED = "waived", _l("Waived")


class SubsidyRecovery(db.Model):
    __tablename__ = "subsidy_recoveries"

    id: Mapped[int] = mapped_column(primary_key=True)
    award_id: Mapped[int] = mapped_column(sa.ForeignKey("subsidy_awards.id"), index=True)
    basis_id: Mapped[int | None] = mapped_column(sa.ForeignKey("subsidy_bases.id"), nullable=True)
    status: Mapped[RecoveryStatus] = mapped_column(
        enum_type(RecoveryStatus, "subsidy_recovery_status")
    )
    amount: Mapped[Decimal] = mapped_column(Hundredths, nullable=False, comment="overpaid")
    recovered: Mapped[Decimal] = mapped_column(Hundredths, default=Decimal(0), nullable=False)
    from_month: Mapped[date] = mapped_column(sa.Date, nullable=False)
    to_month: Mapped[date] = mapped_column(sa.Date, nullable=False)
    detail_json: Mapped[str] = mapped_column(
        sa.Text, default="[]", nullable=False, comment="per month: paid, due, overpaid"
    )
    reason: Mapped[str] = mapped_column(sa.Text, default="", nullable=False)
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    settled_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    award: Mapped[SubsidyAward] = relationship()

    @property
    def outstanding(self) -> Decimal:
        return self.amount - self.recovered

    @property
    def detail(self) -> list[dict[str, Any]]:
        return json.loads(self.detail_json)
