"""Leases and what follows them month after month.

- ``Lease``: an accepted unit becomes a lease; one active lease per unit and per household,
  enforced by partial unique indexes (SECURITY.md F1).
- ``RentCharge``: the rent due for one month of a lease (租金台账), with what has been paid
  against it; ``RentPayment``: a payment at the counter, from the bank's collection file, or
  the household's subsidy offset against the rent (租金代缴), allocated to the oldest month
  first; ``RentImport``: one bank file, imported once.
- ``ExitCase``: an exit (退出) with its reason, moving period, check-out and deposit
  settlement.
"""

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


class RentBasis(TitledEnum):
    CONTRACT = "contract", _l("Contract rent")
    MARKET = "market", _l("Market rent (over the income line, no other home)")


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
    rent_basis: Mapped[RentBasis] = mapped_column(
        enum_type(RentBasis, "rent_basis"),
        default=RentBasis.CONTRACT,
        server_default=RentBasis.CONTRACT.value,
        nullable=False,
    )
    deposit: Mapped[Decimal] = mapped_column(
        Hundredths,
        default=Decimal(0),
        server_default="0",
        nullable=False,
        comment="yuan held until check-out",
    )
    next_review_on: Mapped[date | None] = mapped_column(
        sa.Date, nullable=True, index=True, comment="annual review (年度复核) due"
    )
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


class RentCharge(db.Model):
    __tablename__ = "rent_charges"

    id: Mapped[int] = mapped_column(primary_key=True)
    lease_id: Mapped[int] = mapped_column(sa.ForeignKey("leases.id"), nullable=False)
    month: Mapped[date] = mapped_column(sa.Date, nullable=False, comment="first day of the month")
    due_on: Mapped[date] = mapped_column(sa.Date, nullable=False)
    amount: Mapped[Decimal] = mapped_column(Hundredths, nullable=False, comment="yuan due")
    basis: Mapped[str] = mapped_column(
        sa.String(16), nullable=False, comment="contract, market, or exit_overdue"
    )
    multiplier: Mapped[Decimal] = mapped_column(
        Hundredths, default=Decimal(1), nullable=False, comment="1.0 / 1.2 / 1.5 of market"
    )
    paid: Mapped[Decimal] = mapped_column(Hundredths, default=Decimal(0), nullable=False)
    settled_on: Mapped[date | None] = mapped_column(sa.Date, nullable=True)
    reminded_on: Mapped[date | None] = mapped_column(sa.Date, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)

    lease: Mapped[Lease] = relationship()

    __table_args__ = (
        sa.UniqueConstraint("lease_id", "month"),
        sa.Index("ix_rent_charges_open", "settled_on", "due_on"),
    )

    @property
    def outstanding(self) -> Decimal:
        return self.amount - self.paid


class PaymentSource(TitledEnum):
    COUNTER = "counter", _l("Paid at the counter")
    BANK = "bank", _l("Bank collection file")
    SUBSIDY = "subsidy", _l("Rental subsidy offset")
    DEPOSIT = "deposit", _l("Deposit at check-out")


class RentImport(db.Model):
    __tablename__ = "rent_imports"

    id: Mapped[int] = mapped_column(primary_key=True)
    filename: Mapped[str] = mapped_column(sa.String(200), nullable=False)
    sha256: Mapped[str] = mapped_column(sa.String(64), unique=True, comment="a file is read once")
    rows: Mapped[int] = mapped_column(nullable=False)
    total: Mapped[Decimal] = mapped_column(Hundredths, nullable=False)
    imported_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"), nullable=True)
    imported_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)


class RentPayment(db.Model):
    __tablename__ = "rent_payments"

    id: Mapped[int] = mapped_column(primary_key=True)
    lease_id: Mapped[int] = mapped_column(sa.ForeignKey("leases.id"), index=True)
    amount: Mapped[Decimal] = mapped_column(Hundredths, nullable=False)
    paid_on: Mapped[date] = mapped_column(sa.Date, nullable=False)
    source: Mapped[PaymentSource] = mapped_column(enum_type(PaymentSource, "rent_payment_source"))
    bank_reference: Mapped[str | None] = mapped_column(
        sa.String(64), unique=True, nullable=True, comment="the bank's transaction id"
    )
    import_id: Mapped[int | None] = mapped_column(sa.ForeignKey("rent_imports.id"), nullable=True)
    subsidy_payment_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("subsidy_payments.id"), unique=True, nullable=True
    )
    note: Mapped[str] = mapped_column(sa.Text, default="", nullable=False)
    recorded_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"), nullable=True)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)

    lease: Mapped[Lease] = relationship()


class ExitReason(TitledEnum):
    """RULES.md exit triggers (公共租赁住房管理办法 Art 27/29/31) and the other ways out."""

    SUBLET = "sublet", _l("Sublet or lent the home")
    CHANGE_OF_USE = "change_of_use", _l("Changed the use of the home")
    DAMAGE = "damage", _l("Damaged the home or its fittings")
    ILLEGAL_USE = "illegal_use", _l("Used the home for illegal activities")
    VACANT = "vacant", _l("Left the home empty for 6 or more consecutive months")
    ARREARS = "arrears", _l("Rent unpaid for 6 or more months in total")
    REFUSED_RENEWAL = "refused_renewal", _l("Did not renew, or renewal refused")
    OTHER_HOUSING = "other_housing", _l("Obtained other housing")
    INELIGIBLE = "ineligible", _l("No longer eligible at the annual review")
    CREDIT = "credit", _l("Serious credit record")
    VOLUNTARY = "voluntary", _l("The household leaves of its own accord")


class ExitStatus(TitledEnum):
    MOVING = "moving", _l("Moving period")
    OVERDUE = "overdue", _l("Not vacated after the moving period")
    CHECKED_OUT = "checked_out", _l("Checked out: deposit to settle")
    CLOSED = "closed", _l("Settled and closed")
    CANCELLED = "cancelled", _l("Cancelled")


OPEN_EXIT = sa.text("status IN ('moving', 'overdue', 'checked_out')")


class ExitCase(db.Model):
    __tablename__ = "exit_cases"

    id: Mapped[int] = mapped_column(primary_key=True)
    reference: Mapped[str] = mapped_column(sa.String(24), unique=True, comment="e.g. X2026000001")
    lease_id: Mapped[int] = mapped_column(sa.ForeignKey("leases.id"), nullable=False)
    district_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("districts.id"), nullable=True, index=True
    )
    reason: Mapped[ExitReason] = mapped_column(enum_type(ExitReason, "exit_reason"))
    facts: Mapped[str] = mapped_column(sa.Text, default="", nullable=False)
    status: Mapped[ExitStatus] = mapped_column(enum_type(ExitStatus, "exit_status"))
    opened_on: Mapped[date] = mapped_column(sa.Date, nullable=False)
    move_out_by: Mapped[date] = mapped_column(sa.Date, nullable=False)
    opened_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"), nullable=True)
    review_id: Mapped[int | None] = mapped_column(sa.ForeignKey("reviews.id"), nullable=True)
    credit_record_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("credit_records.id"), nullable=True, comment="refusal to vacate"
    )
    checked_out_on: Mapped[date | None] = mapped_column(sa.Date, nullable=True)
    condition_note: Mapped[str] = mapped_column(sa.Text, default="", nullable=False)
    keys_returned: Mapped[bool] = mapped_column(default=False, nullable=False)
    damages: Mapped[Decimal] = mapped_column(Hundredths, default=Decimal(0), nullable=False)
    checked_out_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"), nullable=True)
    deposit: Mapped[Decimal] = mapped_column(Hundredths, default=Decimal(0), nullable=False)
    arrears: Mapped[Decimal] = mapped_column(
        Hundredths, default=Decimal(0), nullable=False, comment="unpaid rent at check-out"
    )
    settlement: Mapped[Decimal | None] = mapped_column(
        Hundredths, nullable=True, comment="positive: refunded; negative: still owed"
    )
    settled_on: Mapped[date | None] = mapped_column(sa.Date, nullable=True)
    settled_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"), nullable=True)
    cancelled_reason: Mapped[str | None] = mapped_column(sa.Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)

    lease: Mapped[Lease] = relationship()

    __table_args__ = (
        sa.Index(
            "uq_exit_cases_open_lease",
            "lease_id",
            unique=True,
            sqlite_where=OPEN_EXIT,
            postgresql_where=OPEN_EXIT,
        ),
    )
