"""Leases with a rent ledger, for the rent and exit tests.

``make_lease(district, officer)`` is a lease of a new unit (45.50 m² … here 50.00 m² at
500.00 yuan, in an estate whose market rent is 20.00 yuan/m², so 1,000.00 yuan a month)
to a new waiting household, starting on ``starts_on`` (today). ``noon(day)`` is a moment
to travel to with ``time_machine``.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from portal.accounts.roles import Role
from portal.core.clock import CITY_TZ, today
from portal.tenancy.models import Lease
from portal.tenancy.services import create_lease
from tests.factories import DistrictFactory
from tests.factories.fixtures import make_staff
from tests.factories.housing import EstateFactory, UnitFactory
from tests.factories.waitlist import waiting_entry

RENT = Decimal("500.00")
AREA = Decimal("50.00")
MARKET_RATE = Decimal("20.00")  # yuan per m² a month: 1,000.00 yuan for the unit


def noon(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, 12, tzinfo=CITY_TZ)


def make_lease(
    district=None,
    officer=None,
    *,
    starts_on: date | None = None,
    rent: Decimal = RENT,
    area: Decimal = AREA,
    market_rate: Decimal | None = MARKET_RATE,
    household_size: int = 2,
    years: int = 3,
) -> Lease:
    district = district or DistrictFactory()
    officer = officer or make_staff(Role.OFFICER, districts=[district])
    entry = waiting_entry(district, household_size=household_size)
    estate = EstateFactory(district=district, market_rent=market_rate)
    unit = UnitFactory(estate=estate, rent=rent, area=area)
    app = entry.application
    return create_lease(
        unit=unit,
        application=app,
        tenant=app.applicant,
        actor=officer,
        starts_on=starts_on or today(),
        years=years,
    )
