"""The rent demo: a history of payments, arrears and exit cases for the demo's leases."""

from __future__ import annotations

import sqlalchemy as sa

from portal.accounts.roles import Role
from portal.core.clock import today
from portal.extensions import db
from portal.tenancy import demo, exits, rent
from portal.tenancy.models import ExitReason, ExitStatus, RentImport
from tests.factories import DistrictFactory
from tests.factories.fixtures import make_staff
from tests.factories.tenancy import make_lease

AGES = (34, 33, 13, 12, 12, 11, 8, 5, 3, 1)


def test_the_demo_makes_a_history_once(app):
    district = DistrictFactory()
    officer = make_staff(Role.OFFICER, districts=[district])
    manager = make_staff(Role.MANAGER)
    assert demo.load(officer, manager)["leases"] == 0  # no lease: nothing to do
    leases = [
        make_lease(district, officer, starts_on=rent.add_months(rent.month_of(today()), -age))
        for age in AGES
    ]
    made = demo.load(officer, manager)
    assert made["leases"] == 10
    assert made["payments"] > 100
    assert rent.arrears_of(leases[0]).months == 0
    assert rent.balance_of(leases[2]).credit > 0
    assert rent.arrears_of(leases[3]).months == 2
    arrears_case = exits.open_case_of(leases[6])
    assert arrears_case.reason is ExitReason.ARREARS
    sublet = exits.open_case_of(leases[7])
    assert (sublet.reason, sublet.status) == (ExitReason.SUBLET, ExitStatus.OVERDUE)
    assert sublet.credit_record_id is not None
    assert rent.charge_of_month(leases[7], today()).basis == "exit_overdue"
    assert exits.open_case_of(leases[8]).reason is ExitReason.VOLUNTARY
    assert db.session.scalar(sa.select(sa.func.count()).select_from(RentImport)) == 1
    assert demo.load(officer, manager)["payments"] == 0
