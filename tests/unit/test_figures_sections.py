"""The dashboard's sections on a small built world, with exact numbers: applications and
review times, department checks, the waiting list, allocations, subsidies, homes, credit
records and rent; each for the whole city, one district and a period."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
import time_machine

from portal.accounts.models import DistrictKind
from portal.accounts.roles import Role
from portal.allocation.models import EntrantStatus, RoundStatus
from portal.applications.models import Programme, Status
from portal.core.clock import CITY_TZ, utcnow
from portal.credit.models import Grade, RecordStatus, SubjectKind
from portal.extensions import db
from portal.housing.models import UnitStatus
from portal.reports import figures
from portal.reports.figures import Period
from portal.subsidy.models import RunStatus
from portal.tenancy import rent
from portal.verification.departments import Department
from portal.verification.models import CheckOutcome, CheckStatus, DepartmentCheck
from portal.waitlist.models import EntryStatus, Group
from tests.factories import DistrictFactory
from tests.factories.allocation import ordered_round
from tests.factories.applications import qualified_application
from tests.factories.credit import credit_record
from tests.factories.fixtures import make_staff
from tests.factories.housing import UnitFactory
from tests.factories.subsidy import award
from tests.factories.tenancy import make_lease, noon
from tests.factories.waitlist import waiting_entry
from tests.unit.test_figures import subsidy_month

TODAY = date(2026, 7, 15)
YEAR = Period(date(2026, 1, 1), TODAY)


@pytest.fixture(autouse=True)
def clock():
    with time_machine.travel(noon(TODAY), tick=False):
        yield


@pytest.fixture
def a(db):
    return DistrictFactory(kind=DistrictKind.DISTRICT)


@pytest.fixture
def b(db):
    return DistrictFactory(kind=DistrictKind.COUNTY)


def at(day: date, hour: int, minute: int = 0) -> datetime:
    """A moment on the city's clock, as stored (UTC)."""
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=CITY_TZ).astimezone(UTC)


def case(
    district,
    status: Status,
    submitted: datetime,
    decided: datetime | None = None,
    decide_by: date | None = None,
    programme: Programme = Programme.PUBLIC_RENTAL,
):
    app = qualified_application(district, programme=programme)
    app.status = status
    app.submitted_at = submitted
    app.decided_at = decided
    app.decide_by = decide_by
    db.session.flush()
    return app


# --- applications and review times -------------------------------------------------------------


@pytest.fixture
def decisions(a, b):
    """Four decisions this year (2, 4, 20.6 and 31.25 days), one last year, two open cases."""
    case(a, Status.QUALIFIED, at(date(2026, 3, 1), 9), at(date(2026, 3, 5), 9), date(2026, 3, 27))
    case(a, Status.REJECTED, at(date(2026, 4, 1), 9), at(date(2026, 5, 2), 15), date(2026, 4, 29))
    # decided late in the evening of its deadline's day: on time on the city's calendar
    case(
        a,
        Status.QUALIFIED,
        at(date(2026, 5, 1), 9),
        at(date(2026, 5, 21), 23, 30),
        date(2026, 5, 21),
    )
    case(
        b,
        Status.APPROVED,
        at(date(2026, 6, 1), 9),
        at(date(2026, 6, 3), 9),
        date(2026, 6, 29),
        programme=Programme.RENTAL_SUBSIDY,
    )
    case(
        a, Status.QUALIFIED, at(date(2025, 12, 1), 9), at(date(2025, 12, 30), 9), date(2025, 12, 29)
    )
    late = case(a, Status.REVIEW, at(date(2026, 6, 1), 9), decide_by=date(2026, 7, 1))
    checking = case(a, Status.CHECKING, at(date(2026, 7, 1), 9), decide_by=date(2026, 7, 28))
    return late, checking


def test_applications_by_programme_and_status(decisions, a, b):
    found = figures.applications(YEAR)
    assert found.counts == {
        (Programme.PUBLIC_RENTAL, Status.QUALIFIED): 2,
        (Programme.PUBLIC_RENTAL, Status.REJECTED): 1,
        (Programme.PUBLIC_RENTAL, Status.REVIEW): 1,
        (Programme.PUBLIC_RENTAL, Status.CHECKING): 1,
        (Programme.RENTAL_SUBSIDY, Status.APPROVED): 1,
    }
    assert found.total == 6
    assert found.of(Programme.PUBLIC_RENTAL) == 5
    assert found.overdue == {Programme.PUBLIC_RENTAL: 1}
    assert figures.applications(YEAR, [b.id]).counts == {
        (Programme.RENTAL_SUBSIDY, Status.APPROVED): 1
    }
    assert figures.applications(YEAR, [b.id]).overdue_total == 0
    march = figures.applications(Period(date(2026, 3, 1), date(2026, 3, 31)))
    assert march.counts == {(Programme.PUBLIC_RENTAL, Status.QUALIFIED): 1}


def test_review_times(decisions, a, b):
    found = figures.review_times(YEAR)
    total = found.total
    assert (total.decided, total.on_time, total.on_time_percent) == (4, 3, Decimal("75.0"))
    assert total.median_days == Decimal("12.3")  # (4 + 20.6) / 2
    assert total.mean_days == Decimal("14.5")  # (2 + 4 + 20.6 + 31.25) / 4
    district_a, district_b = found.districts
    assert district_a.district_id == a.id
    assert (district_a.decided, district_a.on_time) == (3, 2)
    assert (district_a.median_days, district_a.mean_days) == (Decimal("20.6"), Decimal("18.6"))
    assert district_a.on_time_percent == Decimal("66.7")
    assert (district_b.decided, district_b.median_days) == (1, Decimal("2.0"))
    assert found.open_overdue == 1

    only_b = figures.review_times(YEAR, [b.id])
    assert [r.district_id for r in only_b.districts] == [b.id]
    assert (only_b.total.decided, only_b.open_overdue) == (1, 0)
    last_year = figures.review_times(Period(date(2025, 1, 1), date(2025, 12, 31)))
    assert (last_year.total.decided, last_year.total.on_time) == (1, 0)
    assert last_year.total.median_days == Decimal("29.0")


def test_department_checks(decisions, a, b):
    late, checking = decisions
    old = case(a, Status.QUALIFIED, at(date(2025, 6, 1), 9))

    def check(app, department, status, outcome=None, deadline=date(2026, 7, 20)):
        db.session.add(
            DepartmentCheck(
                application_id=app.id,
                department=department,
                status=status,
                outcome=outcome,
                deadline=deadline,
            )
        )

    check(checking, Department.CIVIL_AFFAIRS, CheckStatus.MATCH, deadline=date(2026, 7, 10))
    check(checking, Department.PROPERTY, CheckStatus.MISMATCH, CheckOutcome.CONFIRMED)
    check(checking, Department.PUBLIC_SECURITY, CheckStatus.PENDING)
    check(late, Department.CIVIL_AFFAIRS, CheckStatus.NO_DATA, CheckOutcome.OVERRIDDEN)
    check(old, Department.CIVIL_AFFAIRS, CheckStatus.MATCH, deadline=date(2025, 6, 10))
    db.session.flush()

    rows = {r.department: r for r in figures.checks(YEAR)}
    assert list(rows) == [
        Department.PUBLIC_SECURITY,
        Department.CIVIL_AFFAIRS,
        Department.PROPERTY,
    ]
    civil = rows[Department.CIVIL_AFFAIRS]
    assert civil.by_status == {CheckStatus.MATCH: 1, CheckStatus.NO_DATA: 1}
    assert (civil.total, civil.settled, civil.waiting, civil.overdue) == (2, 1, 1, 1)
    assert (rows[Department.PROPERTY].settled, rows[Department.PROPERTY].waiting) == (1, 0)
    assert (rows[Department.PUBLIC_SECURITY].waiting, rows[Department.PUBLIC_SECURITY].overdue) == (
        1,
        0,
    )
    assert figures.checks(YEAR, [b.id]) == []


# --- waiting list ---------------------------------------------------------------------------


def test_the_waiting_list(a, b):
    waiting_entry(a, qualified_on=date(2026, 6, 15))  # 30 days
    waiting_entry(a, qualified_on=date(2026, 5, 16))  # 60 days
    waiting_entry(a, group=Group.P1, qualified_on=date(2021, 7, 15))  # 1826 days: over 4 years
    waiting_entry(b, qualified_on=date(2026, 7, 5))  # 10 days
    gone = waiting_entry(b, qualified_on=date(2020, 1, 1))
    gone.status = EntryStatus.SUSPENDED
    db.session.flush()

    found = figures.queue()
    assert found.long_wait_years == 4
    assert found.total == figures.Waiting(4, Decimal("45.0"), 1826, 1)
    general = found.groups[(Programme.PUBLIC_RENTAL, Group.G)]
    assert general == figures.Waiting(3, Decimal("30.0"), 60, 0)
    assert found.groups[(Programme.PUBLIC_RENTAL, Group.P1)] == figures.Waiting(
        1, Decimal("1826.0"), 1826, 1
    )
    assert found.districts[a.id] == figures.Waiting(3, Decimal("60.0"), 1826, 1)
    assert found.districts[b.id] == figures.Waiting(1, Decimal("10.0"), 10, 0)

    only_b = figures.queue([b.id])
    assert only_b.total == figures.Waiting(1, Decimal("10.0"), 10, 0)
    assert list(only_b.districts) == [b.id]
    assert list(only_b.groups) == [(Programme.PUBLIC_RENTAL, Group.G)]


# --- allocations ----------------------------------------------------------------------------


def test_allocations(a, b):
    entrants = [waiting_entry(a) for _ in range(4)]
    rnd = ordered_round(a, units=3, entrants=entrants)
    chosen, refused, excused, absent = rnd_entrants = sorted(
        _entrants(rnd), key=lambda e: e.position
    )
    now = utcnow()
    chosen.status, chosen.unit_id = EntrantStatus.CHOSEN, rnd.units[0].unit_id
    refused.status, refused.good_reason = EntrantStatus.REFUSED, False
    excused.status, excused.good_reason = EntrantStatus.REFUSED, True
    absent.status = EntrantStatus.NO_SHOW
    for e in rnd_entrants:
        e.decided_at = now
    ordered_round(b, units=1, status=RoundStatus.PROPOSED)  # not held
    officer = make_staff(Role.OFFICER, districts=[a])
    make_lease(a, officer, starts_on=date(2026, 5, 1))
    make_lease(b, starts_on=date(2026, 6, 1))
    make_lease(b, starts_on=date(2025, 6, 1))
    db.session.flush()

    rows = figures.allocations(YEAR)
    assert rows == [
        figures.AllocationRow(a.id, 1, 1, 2, 1, 1, 1),
        figures.AllocationRow(b.id, 0, 0, 0, 0, 0, 1),
    ]
    assert figures.allocation_total(rows) == figures.AllocationRow(None, 1, 1, 2, 1, 1, 2)
    assert figures.allocations(YEAR, [b.id]) == [figures.AllocationRow(b.id, leases=1)]
    last_year = figures.allocations(Period(date(2025, 1, 1), date(2025, 12, 31)))
    assert last_year == [figures.AllocationRow(b.id, leases=1)]


def _entrants(rnd):
    from portal.allocation.models import RoundEntrant

    return list(db.session.query(RoundEntrant).filter_by(round_id=rnd.id))


# --- subsidies ------------------------------------------------------------------------------


def test_subsidies_paid_per_month(a, b):
    first, second = award(a), award(b)
    subsidy_month(date(2026, 1, 1), [(first, "500.00"), (second, "300.00")])
    subsidy_month(
        date(2026, 2, 1),
        [(first, "500.00"), (second, "300.00"), (second, "-50.00")],
        status=RunStatus.COMPUTED,
    )
    subsidy_month(date(2025, 12, 1), [(first, "480.00")])

    found = figures.subsidies(YEAR)
    jan, feb = found.months
    assert (jan.month, jan.closed, jan.households, jan.paid, jan.recovered) == (
        date(2026, 1, 1),
        True,
        2,
        Decimal("800.00"),
        Decimal("0.00"),
    )
    assert (feb.closed, feb.households, feb.paid, feb.recovered, feb.net) == (
        False,
        2,
        Decimal("800.00"),
        Decimal("50.00"),
        Decimal("750.00"),
    )
    assert (found.households, found.paid, found.net) == (2, Decimal("1600.00"), Decimal("1550.00"))
    only_b = figures.subsidies(YEAR, [b.id])
    assert [(m.households, m.paid, m.recovered) for m in only_b.months] == [
        (1, Decimal("300.00"), Decimal("0.00")),
        (1, Decimal("300.00"), Decimal("50.00")),
    ]
    december = figures.subsidies(Period(date(2025, 12, 1), date(2026, 1, 31)))
    assert [m.paid for m in december.months] == [Decimal("480.00"), Decimal("800.00")]
    assert december.households == 2


# --- homes ----------------------------------------------------------------------------------


def test_homes_by_state(a, b):
    UnitFactory(district=a, vacated_on=date(2025, 1, 1))  # empty over a year
    UnitFactory(district=a, vacated_on=date(2026, 1, 1))
    UnitFactory(district=a, status=UnitStatus.OCCUPIED)
    UnitFactory(district=a, status=UnitStatus.OCCUPIED)
    UnitFactory(district=a, status=UnitStatus.MAINTENANCE, vacated_on=date(2024, 12, 1))
    UnitFactory(district=b, status=UnitStatus.IN_ROUND)

    rows = figures.housing()
    row_a, row_b = rows
    assert row_a.district_id == a.id
    assert row_a.by_status == {
        UnitStatus.VACANT: 2,
        UnitStatus.OCCUPIED: 2,
        UnitStatus.MAINTENANCE: 1,
    }
    assert (row_a.total, row_a.not_relet, row_a.occupancy) == (5, 2, Decimal("40.0"))
    assert (row_b.of(UnitStatus.IN_ROUND), row_b.occupancy) == (1, Decimal("0.0"))
    total = figures.housing_total(rows)
    assert (total.total, total.not_relet, total.occupancy) == (6, 2, Decimal("33.3"))
    assert [r.district_id for r in figures.housing([b.id])] == [b.id]


# --- credit ---------------------------------------------------------------------------------


def test_credit_records_by_grade_and_status(a, b):
    app_a = qualified_application(a)
    lease_b = make_lease(b, starts_on=date(2025, 6, 1))
    credit_record("V-SUBLET", application_id=app_a.id, confirmed_at=at(date(2026, 3, 1), 10))
    credit_record("V-ARREARS", application_id=app_a.id, status=RecordStatus.PENDING)
    credit_record("V-VACANT", lease_id=lease_b.id, confirmed_at=at(date(2025, 8, 1), 10))
    credit_record(
        "V-BREACH", subject_kind=SubjectKind.ORGANISATION, confirmed_at=at(date(2026, 2, 1), 10)
    )

    found = figures.credit(YEAR)
    assert found.counts == {
        (Grade.SERIOUS, RecordStatus.ACTIVE): 1,
        (Grade.GENERAL, RecordStatus.PENDING): 1,
        (Grade.MAJOR, RecordStatus.ACTIVE): 1,
        (Grade.GENERAL, RecordStatus.ACTIVE): 1,
    }
    assert found.confirmed == {Grade.SERIOUS: 1, Grade.GENERAL: 1}
    assert found.of(Grade.GENERAL) == 2
    assert found.of(status=RecordStatus.ACTIVE) == 3
    in_a = figures.credit(YEAR, [a.id])
    assert in_a.counts == {
        (Grade.SERIOUS, RecordStatus.ACTIVE): 1,
        (Grade.GENERAL, RecordStatus.PENDING): 1,
    }
    assert in_a.confirmed_total == 1
    in_b = figures.credit(Period(date(2025, 1, 1), date(2025, 12, 31)), [b.id])
    assert (in_b.counts, in_b.confirmed) == (
        {(Grade.MAJOR, RecordStatus.ACTIVE): 1},
        {Grade.MAJOR: 1},
    )


# --- rent -----------------------------------------------------------------------------------


def test_rent_charged_collected_and_arrears(a, b):
    mine = make_lease(a, starts_on=date(2026, 5, 1))  # 500.00 a month
    paid_up = make_lease(b, starts_on=date(2026, 6, 1))
    rent.charge_rent()
    for charge in db.session.query(rent.RentCharge).filter_by(lease_id=mine.id):
        charge.paid = {5: Decimal("500.00"), 6: Decimal("200.00")}.get(charge.month.month, 0)
    for charge in db.session.query(rent.RentCharge).filter_by(lease_id=paid_up.id):
        charge.paid = charge.amount
    db.session.flush()

    found = figures.rent_figures(YEAR)
    assert [(m.month.month, m.charged, m.collected) for m in found.months] == [
        (5, Decimal("500.00"), Decimal("500.00")),
        (6, Decimal("1000.00"), Decimal("700.00")),
        (7, Decimal("1000.00"), Decimal("500.00")),
    ]
    assert (found.charged, found.collected, found.rate) == (
        Decimal("2500.00"),
        Decimal("1700.00"),
        Decimal("68.0"),
    )
    # June's 300.00 and July's 500.00 are past their due day (the 10th)
    assert (found.arrears_households, found.arrears_amount) == (1, Decimal("800.00"))
    in_b = figures.rent_figures(YEAR, [b.id])
    assert (in_b.charged, in_b.rate, in_b.arrears_households) == (
        Decimal("1000.00"),
        Decimal("100.0"),
        0,
    )
    june = figures.rent_figures(Period(date(2026, 6, 1), date(2026, 6, 30)), [a.id])
    assert (june.charged, june.collected) == (Decimal("500.00"), Decimal("200.00"))
