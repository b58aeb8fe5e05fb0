"""Annual reviews (年度复核), reviews of a reported change, and lease renewals.

- ``Review``: one household checked again against department data (the same checks as an
  application): told ahead, may answer, proposed outcome from the rules, decided by an
  officer with a reason: continue, adjust the subsidy, market rent, or exit.
- ``LeaseRenewal``: asked three months before a lease ends; the tenant answers; a renewal
  is decided with a review.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.accounts.models import User
from portal.applications.models import Application
from portal.core.clock import utcnow
from portal.core.db import UTCDateTime
from portal.core.enums import TitledEnum, enum_type
from portal.core.i18n import lazy_gettext as _l
from portal.extensions import db


class ReviewKind(TitledEnum):
    ANNUAL = "annual", _l("Annual review")
    RENEWAL = "renewal", _l("Review for a lease renewal")
    CHANGE = "change", _l("Review of a reported change")


class ReviewStatus(TitledEnum):
    OPEN = "open", _l("Told: departments checking, the household may answer")
    DECISION = "decision", _l("Checked: awaiting the officer's decision")
    DECIDED = "decided", _l("Decided")
    CANCELLED = "cancelled", _l("Cancelled")


class ReviewOutcome(TitledEnum):
    CONTINUE = "continue", _l("Continue as before")
    ADJUST_SUBSIDY = "adjust_subsidy", _l("Continue with an adjusted subsidy")
    MARKET_RENT = "market_rent", _l("Stay at market rent")
    EXIT = "exit", _l("Exit")


OPEN_REVIEW = sa.text("status IN ('open', 'decision')")


class Review(db.Model):
    __tablename__ = "reviews"

    id: Mapped[int] = mapped_column(primary_key=True)
    reference: Mapped[str] = mapped_column(sa.String(24), unique=True, comment="e.g. R2026000001")
    kind: Mapped[ReviewKind] = mapped_column(enum_type(ReviewKind, "review_kind"))
    application_id: Mapped[int] = mapped_column(sa.ForeignKey("applications.id"), nullable=False)
    lease_id: Mapped[int | None] = mapped_column(sa.ForeignKey("leases.id"), nullable=True)
    award_id: Mapped[int | None] = mapped_column(sa.ForeignKey("subsidy_awards.id"), nullable=True)
    district_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("districts.id"), nullable=True, index=True
    )
    status: Mapped[ReviewStatus] = mapped_column(enum_type(ReviewStatus, "review_status"))
    due_on: Mapped[date] = mapped_column(sa.Date, nullable=False, comment="to be decided by")
    opened_on: Mapped[date] = mapped_column(sa.Date, nullable=False)
    answer_by: Mapped[date] = mapped_column(sa.Date, nullable=False)
    answer: Mapped[str | None] = mapped_column(sa.Text, nullable=True)
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    checked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    facts_json: Mapped[str | None] = mapped_column(
        sa.Text, nullable=True, comment="department facts at the check"
    )
    evaluation_json: Mapped[str | None] = mapped_column(
        sa.Text, nullable=True, comment="eligibility per rule, with reasons"
    )
    proposed: Mapped[ReviewOutcome | None] = mapped_column(
        enum_type(ReviewOutcome, "review_proposed"), nullable=True
    )
    proposal_json: Mapped[str | None] = mapped_column(
        sa.Text, nullable=True, comment="e.g. the new subsidy or the market rent"
    )
    rule_version_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("rule_versions.id"), nullable=True
    )
    outcome: Mapped[ReviewOutcome | None] = mapped_column(
        enum_type(ReviewOutcome, "review_outcome"), nullable=True
    )
    decision_reason: Mapped[str | None] = mapped_column(sa.Text, nullable=True)
    decided_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"), nullable=True)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    opened_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)

    application: Mapped[Application] = relationship()
    decided_by: Mapped[User | None] = relationship(foreign_keys=[decided_by_id])

    __table_args__ = (
        sa.Index(
            "uq_reviews_open_application",
            "application_id",
            unique=True,
            sqlite_where=OPEN_REVIEW,
            postgresql_where=OPEN_REVIEW,
        ),
        sa.Index("ix_reviews_status_due", "status", "due_on"),
    )

    @property
    def facts(self) -> dict[str, Any] | None:
        return json.loads(self.facts_json) if self.facts_json else None

    @property
    def evaluation(self) -> dict[str, Any] | None:
        return json.loads(self.evaluation_json) if self.evaluation_json else None

    @property
    def proposal(self) -> dict[str, Any]:
        return json.loads(self.proposal_json) if self.proposal_json else {}


class RenewalStatus(TitledEnum):
    ASKED = "asked", _l("Asked: awaiting the tenant's answer")
    REVIEWING = "reviewing", _l("The tenant wants to renew: under review")
    RENEWED = "renewed", _l("Renewed")
    DECLINED = "declined", _l("The tenant does not renew")
    REFUSED = "refused", _l("Renewal refused after review")
    LAPSED = "lapsed", _l("No answer before the lease ended")


class LeaseRenewal(db.Model):
    __tablename__ = "lease_renewals"

    id: Mapped[int] = mapped_column(primary_key=True)
    lease_id: Mapped[int] = mapped_column(sa.ForeignKey("leases.id"), nullable=False)
    old_ends_on: Mapped[date] = mapped_column(sa.Date, nullable=False)
    new_ends_on: Mapped[date | None] = mapped_column(sa.Date, nullable=True)
    status: Mapped[RenewalStatus] = mapped_column(enum_type(RenewalStatus, "renewal_status"))
    asked_on: Mapped[date] = mapped_column(sa.Date, nullable=False)
    answer_by: Mapped[date] = mapped_column(sa.Date, nullable=False)
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    review_id: Mapped[int | None] = mapped_column(sa.ForeignKey("reviews.id"), nullable=True)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)

    __table_args__ = (sa.UniqueConstraint("lease_id", "old_ends_on"),)
