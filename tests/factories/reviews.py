"""Households for the review and renewal tests, with their department data in the embedded
registry (the source ``fresh_facts`` asks).

``tenant_household(district, officer)`` is a lease (``tests/factories/tenancy.make_lease``:
500.00 yuan, market rent 1,000.00) whose members are registered as a modest local
household; ``subsidy_household(district, officer)`` a qualified rental-subsidy application
with its award (basis SUBSIDY). ``set_facts`` changes what a department says about every
member (a new job, a flat bought), the way a department's data change between two checks.
"""

from __future__ import annotations

import json
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
import time_machine

from portal.applications.models import Application, Programme
from portal.core.clock import today
from portal.extensions import db
from portal.reviews.models import Review
from portal.subsidy.models import AwardBasis, SubsidyAward
from portal.tenancy.models import Lease
from portal.verification.departments import Department
from portal.verification.models import RegistryRecord
from portal.waitlist.services import fresh_facts
from tests.factories import DistrictFactory
from tests.factories.applications import qualified_application
from tests.factories.registry import local_household, put
from tests.factories.tenancy import MARKET_RATE, make_lease, noon


def register(app: Application, **facts: Any) -> None:
    """The household's members in the registry: local since 2010, ``wage`` (1,200) each."""
    local_household(*[(m.name, m.id_number) for m in app.members], **facts)


def set_facts(app: Application, department: Department, **facts: Any) -> None:
    """What ``department`` now says about every member (merged into its record, or a new
    record)."""
    for m in app.members:
        row = db.session.scalars(
            sa.select(RegistryRecord).where(
                RegistryRecord.department == department, RegistryRecord.id_index == m.id_index
            )
        ).first()
        if row is None:
            put(department, m.id_number, **facts)
        else:
            row.data_json = json.dumps({**json.loads(row.data_json), **facts})
    db.session.flush()


def tenant_household(
    district=None,
    officer=None,
    *,
    review_in_days: int | None = 20,
    starts_on: date | None = None,
    years: int = 3,
    market_rate: Decimal | None = MARKET_RATE,
    **facts: Any,
) -> Lease:
    """A lease of a registered household; its annual review falls due in
    ``review_in_days`` days (None: as the lease set it). ``market_rate`` None: the estate
    has no market rent."""
    district = district or DistrictFactory()
    lease = make_lease(district, officer, starts_on=starts_on, years=years, market_rate=market_rate)
    register(lease.application, **facts)
    if review_in_days is not None:
        lease.next_review_on = today() + timedelta(days=review_in_days)
    db.session.flush()
    return lease


RENEWAL_START = date(2026, 3, 15)  # a three-year lease from then ends on 15 March 2029


def lease_to_renew(district=None, officer=None) -> Lease:
    """A three-year lease from ``RENEWAL_START``, its annual review out of the way (2030):
    its renewal question falls due three months before it ends."""
    with time_machine.travel(noon(RENEWAL_START), tick=False):
        lease = tenant_household(district, officer, starts_on=RENEWAL_START, review_in_days=None)
    lease.next_review_on = date(2030, 1, 1)
    db.session.flush()
    return lease


def opened_review(lease: Lease) -> Review:
    """The review the day's opening (``services.open_due``) opens for ``lease``."""
    from portal.reviews import services

    services.open_due()
    return db.session.scalars(
        sa.select(Review).where(Review.application_id == lease.application_id)
    ).one()


def subsidy_household(
    district=None, officer=None, *, valid_in_days: int | None = 20, **facts: Any
) -> SubsidyAward:
    """A registered rental-subsidy household and its award (from the registry's facts);
    the award's validity ends in ``valid_in_days`` days (None: a year, as awarded)."""
    from portal.subsidy.services import start_award

    app = qualified_application(district, programme=Programme.RENTAL_SUBSIDY)
    register(app, **facts)
    award = start_award(app, AwardBasis.SUBSIDY, officer or "system", facts=fresh_facts(app))
    if valid_in_days is not None:
        award.valid_until = today() + timedelta(days=valid_in_days)
    db.session.flush()
    return award
