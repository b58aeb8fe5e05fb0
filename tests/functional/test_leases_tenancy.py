"""Leases: made when a household takes a unit, ended when it leaves; the household sees its
lease in the portal (tenant and members alike)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa
import time_machine

from portal.applications.models import PersonClaim
from portal.core.audit import AuditEvent
from portal.core.clock import CITY_TZ, today
from portal.core.errors import InvalidTransition, ValidationFailed
from portal.extensions import db
from portal.housing.models import UnitStatus
from portal.tenancy.models import LeaseStatus
from portal.tenancy.services import add_years, create_lease, end_lease, lease_for
from tests.factories import ResidentFactory
from tests.factories.fixtures import sign_in
from tests.factories.housing import UnitFactory
from tests.factories.waitlist import waiting_entry


def lease_of(entry, unit, officer, **kw):
    app = entry.application
    kw.setdefault("starts_on", today())
    kw.setdefault("years", 3)
    return create_lease(unit=unit, application=app, tenant=app.applicant, actor=officer, **kw)


def _noon(day):
    return datetime(day.year, day.month, day.day, 12, tzinfo=CITY_TZ)


def claims_of(entry) -> list[PersonClaim]:
    return db.session.scalars(
        sa.select(PersonClaim).where(PersonClaim.application_id == entry.application_id)
    ).all()


def test_a_lease_has_a_reference_a_term_and_the_units_rent(district, officer):
    first, second = (waiting_entry(district, household_size=2) for _ in range(2))
    unit = UnitFactory(district=district, rent=Decimal("655.30"))
    lease = lease_of(first, unit, officer, starts_on=date(2028, 2, 29), years=5)
    following = lease_of(second, UnitFactory(district=district), officer)

    assert lease.reference == f"L{today().year}{lease.id:06d}"
    assert int(following.reference[5:]) == int(lease.reference[5:]) + 1
    assert lease.ends_on == date(2033, 2, 28)
    assert lease.monthly_rent == Decimal("655.30")
    assert lease.status is LeaseStatus.ACTIVE
    assert unit.status is UnitStatus.OCCUPIED
    assert {c.kind for c in claims_of(first)} == {"tenancy"}


@pytest.mark.parametrize("years", [0, 6])
def test_a_lease_runs_one_to_five_years(district, officer, years):
    unit = UnitFactory(district=district)
    with pytest.raises(ValidationFailed):
        lease_of(waiting_entry(district), unit, officer, years=years)
    assert unit.status is UnitStatus.VACANT


def test_add_years_keeps_the_day():
    assert add_years(date(2026, 3, 31), 3) == date(2029, 3, 31)
    assert add_years(date(2024, 2, 29), 1) == date(2025, 2, 28)


def test_ending_a_lease_frees_the_unit_and_the_household(district, officer):
    entry = waiting_entry(district, household_size=3)
    unit = UnitFactory(district=district)
    lease = lease_of(entry, unit, officer)
    tenant = entry.application.applicant
    assert lease_for(tenant).id == lease.id

    later = today() + timedelta(days=400)
    with time_machine.travel(_noon(later), tick=False):
        end_lease(lease, officer, later)

    assert lease.status is LeaseStatus.ENDED
    assert lease.ended_on == later
    assert unit.status is UnitStatus.VACANT
    assert unit.vacated_on == later
    assert claims_of(entry) == []
    assert lease_for(tenant) is None
    assert (
        db.session.scalar(sa.select(AuditEvent.id).where(AuditEvent.event == "lease.end"))
        is not None
    )
    with pytest.raises(InvalidTransition):
        end_lease(lease, officer, later)


def test_a_lease_cannot_end_before_it_starts(district, officer):
    lease = lease_of(
        waiting_entry(district), UnitFactory(district=district), officer, starts_on=today()
    )
    with pytest.raises(ValidationFailed):
        end_lease(lease, officer, today() - timedelta(days=1))
    assert lease.status is LeaseStatus.ACTIVE


def test_household_members_see_the_lease_too(district, officer):
    entry = waiting_entry(district, household_size=2)
    lease = lease_of(entry, UnitFactory(district=district), officer)
    spouse = entry.application.members[1]
    member = ResidentFactory(id_number=spouse.id_number, id_number_index=spouse.id_index)

    assert lease_for(member).id == lease.id
    assert lease_for(ResidentFactory()) is None
    assert lease_for(officer) is None


def test_the_lease_page(app, district, officer):
    entry = waiting_entry(district, household_size=2)
    unit = UnitFactory(district=district, rent=Decimal("512.00"), number="C-808")
    lease = lease_of(entry, unit, officer)

    browser = app.test_client()
    browser.set_cookie("locale", "en", domain="portal.test")
    assert sign_in(browser, entry.application.applicant.mobile).status_code == 302
    page = browser.get("/my/rounds/lease").get_data(as_text=True)
    assert lease.reference in page
    assert "C-808" in page
    assert "512.00 yuan" in page
    assert unit.estate.address in page

    other = app.test_client()
    other.set_cookie("locale", "en", domain="portal.test")
    assert sign_in(other, ResidentFactory().mobile).status_code == 302
    page = other.get("/my/rounds/lease").get_data(as_text=True)
    assert "no lease in force" in page
    assert lease.reference not in page
