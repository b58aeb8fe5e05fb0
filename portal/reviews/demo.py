"""Demo data: annual reviews and lease renewals for the demo's tenants and subsidy households.

``load(officer)`` runs what the daily jobs would run today (``reviews.open_due``: reviews of
the leases whose annual review falls within the notice period, checked against the demo
registry; ``renewals.ask_due``: tenants whose lease ends within three months are asked),
and, when no subsidy household is due yet, opens one subsidy household's annual review in
the officer's districts so that both kinds of household appear in the queue. Call it after
the demo's leases and subsidy awards exist (``portal.demo.load_demo_tenancies`` and
``load_demo_subsidy_households``). Does nothing once a review exists.
"""

from __future__ import annotations

import sqlalchemy as sa

from portal.accounts.models import User
from portal.core.scope import officer_district_ids
from portal.extensions import db
from portal.reviews import renewals, services
from portal.reviews.models import Review, ReviewKind
from portal.subsidy.models import AwardBasis, SubsidyAward


def load(officer: User) -> dict[str, int]:
    """Open the demo's reviews and renewal questions; returns what was made."""
    if db.session.scalar(sa.select(sa.func.count()).select_from(Review)):
        return {"reviews": 0, "renewals": 0}
    opened = services.open_due()["opened"]
    asked = renewals.ask_due()["asked"]
    subsidy_review = db.session.scalar(
        sa.select(Review.id).where(Review.lease_id.is_(None), Review.award_id.is_not(None))
    )
    if subsidy_review is None:
        award = db.session.scalars(
            sa.select(SubsidyAward)
            .where(
                SubsidyAward.basis == AwardBasis.SUBSIDY,
                SubsidyAward.status.in_(services.REVIEWED_AWARDS),
                SubsidyAward.district_id.in_(officer_district_ids(officer)),
            )
            .order_by(SubsidyAward.id)
            .limit(1)
        ).first()
        if award is not None:
            services.open_review(
                award.application,
                ReviewKind.ANNUAL,
                officer,
                award=award,
                due_on=award.valid_until,
            )
            opened += 1
    return {"reviews": opened, "renewals": asked}
