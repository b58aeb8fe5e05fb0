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
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from portal.accounts.services import id_index
from portal.applications.models import (
    Application,
    HouseholdMember,
    PersonClaim,
    Programme,
    Relationship,
    Status,
)
from portal.core.clock import today
from portal.extensions import db
from portal.subsidy.models import AwardBasis, SubsidyAward
from portal.tenancy.models import Lease
from portal.verification.departments import Department
from portal.verification.models import RegistryRecord
from portal.waitlist.services import fresh_facts
from tests.factories import DistrictFactory, ResidentFactory
from tests.factories.registry import local_household, put
from tests.factories.tenancy import MARKET_RATE, make_lease
from tests.factories.waitlist import _member_number


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


def qualified_application(
    district=None, *, programme: Programme = Programme.RENTAL_SUBSIDY, household_size: int = 2
) -> Application:
    """A qualified application (applicant, spouse, children) holding its members."""
    district = district or DistrictFactory()
    resident = ResidentFactory()
    on = today() - timedelta(days=60)
    app = Application(
        applicant=resident,
        programme=programme,
        status=Status.QUALIFIED,
        district=district,
        contact_phone=resident.mobile,
        current_address="桂林市七星区漓江路2号",
        submitted_at=datetime.combine(on - timedelta(days=40), datetime.min.time(), UTC),
        qualified_at=datetime.combine(on, datetime.min.time(), UTC),
    )
    app.members.append(
        HouseholdMember(
            position=0,
            name=resident.real_name,
            id_number=resident.id_number,
            id_index=resident.id_number_index,
            relation=Relationship.APPLICANT,
            birth_date=resident.birth_date or date(1980, 1, 1),
        )
    )
    for pos in range(1, household_size):
        number, birth = _member_number(adult=pos == 1)
        app.members.append(
            HouseholdMember(
                position=pos,
                name=f"成员{pos}",
                id_number=number,
                id_index=id_index(number),
                relation=Relationship.SPOUSE if pos == 1 else Relationship.CHILD,
                birth_date=birth,
            )
        )
    db.session.add(app)
    db.session.flush()
    app.reference = f"GL{on.year}{app.id:06d}"
    for m in app.members:
        db.session.add(PersonClaim(id_index=m.id_index, application_id=app.id))
    db.session.flush()
    return app


def subsidy_household(
    district=None, officer=None, *, valid_in_days: int | None = 20, **facts: Any
) -> SubsidyAward:
    """A registered rental-subsidy household and its award (from the registry's facts);
    the award's validity ends in ``valid_in_days`` days (None: a year, as awarded)."""
    from portal.subsidy.services import start_award

    app = qualified_application(district)
    register(app, **facts)
    award = start_award(app, AwardBasis.SUBSIDY, officer or "system", facts=fresh_facts(app))
    if valid_in_days is not None:
        award.valid_until = today() + timedelta(days=valid_in_days)
    db.session.flush()
    return award
