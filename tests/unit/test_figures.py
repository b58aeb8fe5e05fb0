"""The yearly targets against what is achieved (``figures.target_progress`` and the task
table's lines): projects' latest monthly progress, subsidy households, new allocations, the
milestones due, and the filters' rules."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
import time_machine

from portal.accounts.models import DistrictKind
from portal.accounts.roles import Role
from portal.applications.models import Programme
from portal.core.errors import ValidationFailed
from portal.core.settings import current_version
from portal.extensions import db
from portal.housing.models import UnitStatus
from portal.reports import figures
from portal.reports.figures import Measure, Period
from portal.reports.models import (
    Project,
    ProjectKind,
    ProjectProgress,
    ProjectStage,
    Target,
    TargetKind,
    TargetMilestone,
)
from portal.subsidy.models import Channel, LineKind, RunStatus, SubsidyPayment, SubsidyRun
from portal.tenancy.services import create_lease, end_lease
from tests.factories import DistrictFactory
from tests.factories.fixtures import make_staff
from tests.factories.housing import EstateFactory, UnitFactory
from tests.factories.subsidy import award
from tests.factories.tenancy import make_lease, noon
from tests.factories.waitlist import waiting_entry

TODAY = date(2026, 7, 15)
YEAR = 2026


@pytest.fixture(autouse=True)
def clock():
    with time_machine.travel(noon(TODAY), tick=False):
        yield


@pytest.fixture
def urban(db):
    return DistrictFactory(kind=DistrictKind.DISTRICT, name_en="Xiufeng")


@pytest.fixture
def county(db):
    return DistrictFactory(kind=DistrictKind.COUNTY, name_en="Yangshuo")


def target(district, kind: TargetKind, units: int, year: int = YEAR) -> Target:
    row = Target(year=year, district_id=getattr(district, "id", None), kind=kind, units=units)
    db.session.add(row)
    db.session.flush()
    return row


def milestone(kind: TargetKind, month: int, share: int, year: int = YEAR) -> None:
    db.session.add(TargetMilestone(year=year, kind=kind, by_month=month, share_percent=share))
    db.session.flush()


def project(district, kind: ProjectKind, units: int, progress: dict, year: int = YEAR):
    """A project of ``year``'s plan; ``progress``: month number → (started, completed)."""
    row = Project(
        year=year,
        name=f"项目{units}",
        address="桂林市测试路1号",
        district_id=district.id,
        kind=kind,
        units=units,
        responsible_unit="住建局",
        responsible_person="张三",
        implementer="城投公司",
    )
    db.session.add(row)
    db.session.flush()
    for month, (started, completed) in progress.items():
        db.session.add(
            ProjectProgress(
                project_id=row.id,
                month=date(year, month, 1),
                stage=ProjectStage.STARTED,
                units_started=started,
                units_completed=completed,
            )
        )
    db.session.flush()
    return row


def subsidy_month(month: date, lines: list[tuple], status=RunStatus.CLOSED) -> SubsidyRun:
    """A run of ``month`` with payment lines ``(award, amount)`` (a negative amount: a
    recovery)."""
    run = SubsidyRun(
        month=month, status=status, rule_version_id=current_version("subsidy", month).id
    )
    db.session.add(run)
    db.session.flush()
    for a, amount in lines:
        db.session.add(
            SubsidyPayment(
                run_id=run.id,
                month=month,
                award_id=a.id,
                kind=LineKind.PAYMENT if Decimal(amount) > 0 else LineKind.RECOVERY,
                channel=Channel.BANK,
                amount=Decimal(amount),
            )
        )
    db.session.flush()
    return run


def cell(rows, district, measure: Measure):
    district_id = getattr(district, "id", None)
    return next(r for r in rows if r.district_id == district_id and r.measure is measure)


@pytest.fixture
def plan(urban, county):
    """The year's task table with June and September milestones and four projects."""
    target(urban, TargetKind.RENOVATION_STARTS_CARRIED, 10)
    target(urban, TargetKind.RENOVATION_STARTS_NEW, 10)
    target(urban, TargetKind.RENOVATION_COMPLETIONS, 5)
    target(urban, TargetKind.PUBLIC_RENTAL_STARTS, 8)
    target(urban, TargetKind.NEW_ALLOCATIONS, 4)
    target(urban, TargetKind.SUBSIDY_HOUSEHOLDS, 3)
    target(county, TargetKind.AFFORDABLE_RENTAL_STARTS, 100)
    target(county, TargetKind.SUBSIDY_HOUSEHOLDS, 2)
    target(None, TargetKind.NEW_ALLOCATIONS, 6)  # the city's own share
    target(urban, TargetKind.NEW_ALLOCATIONS, 99, year=YEAR - 1)  # another year
    for kind in (TargetKind.RENOVATION_STARTS_CARRIED, TargetKind.RENOVATION_STARTS_NEW):
        milestone(kind, 6, 70)
        milestone(kind, 9, 90)
    milestone(TargetKind.AFFORDABLE_RENTAL_STARTS, 6, 70)
    milestone(TargetKind.AFFORDABLE_RENTAL_STARTS, 10, 100)
    project(urban, ProjectKind.RENOVATION, 12, {3: (5, 0), 5: (12, 2), 8: (12, 6)})
    project(urban, ProjectKind.PUBLIC_RENTAL, 8, {6: (3, 0)})
    project(county, ProjectKind.AFFORDABLE_RENTAL, 100, {4: (40, 0), 6: (60, 0)})
    project(urban, ProjectKind.RENOVATION, 99, {5: (99, 99)}, year=YEAR - 1)  # last year's plan


def test_starts_and_completions_from_each_projects_latest_month(plan, urban, county):
    rows = figures.target_progress(YEAR, as_of=date(2026, 6, 30))

    starts = cell(rows, urban, Measure.RENOVATION_STARTS)
    assert starts.targets == {
        TargetKind.RENOVATION_STARTS_CARRIED: 10,
        TargetKind.RENOVATION_STARTS_NEW: 10,
    }
    assert (starts.target, starts.achieved) == (20, 12)  # May's record; August's is later
    assert starts.percent == Decimal("60.0")
    # June's milestone has passed: 70% of each plan, 7 + 7
    assert (starts.due, starts.due_share, starts.due_month) == (14, 70, 6)
    assert starts.behind
    assert (starts.next_share, starts.next_month) == (90, 9)

    completions = cell(rows, urban, Measure.RENOVATION_COMPLETIONS)
    assert (completions.target, completions.achieved, completions.percent) == (
        5,
        2,
        Decimal("40.0"),
    )
    assert completions.due_share is None
    assert not completions.behind

    public = cell(rows, urban, Measure.PUBLIC_RENTAL_STARTS)
    assert (public.target, public.achieved, public.percent) == (8, 3, Decimal("37.5"))

    affordable = cell(rows, county, Measure.AFFORDABLE_RENTAL_STARTS)
    assert (affordable.target, affordable.achieved, affordable.due) == (100, 60, 70)
    assert affordable.behind

    city = cell(rows, None, Measure.NEW_ALLOCATIONS)
    assert (city.target, city.achieved, city.percent, city.behind) == (6, None, None, False)
    assert [r.district_id for r in rows[: len(Measure)]] == [None] * len(Measure)


def test_before_the_milestone_month_ends_nothing_is_due_yet(plan, urban, county):
    rows = figures.target_progress(YEAR, as_of=date(2026, 6, 29))
    starts = cell(rows, urban, Measure.RENOVATION_STARTS)
    assert (starts.achieved, starts.due, starts.due_share, starts.behind) == (12, 0, None, False)
    assert (starts.next_share, starts.next_month) == (70, 6)
    affordable = cell(rows, county, Measure.AFFORDABLE_RENTAL_STARTS)
    assert affordable.achieved == 60  # June's record counts from June's month on

    rows = figures.target_progress(YEAR, as_of=date(2026, 5, 31))
    assert cell(rows, county, Measure.AFFORDABLE_RENTAL_STARTS).achieved == 40


def test_the_whole_task_is_due_once_the_year_has_ended(plan, urban):
    rows = figures.target_progress(YEAR, as_of=date(2026, 12, 31))
    completions = cell(rows, urban, Measure.RENOVATION_COMPLETIONS)
    assert (completions.achieved, completions.due, completions.due_share) == (6, 5, 100)
    assert not completions.behind
    public = cell(rows, urban, Measure.PUBLIC_RENTAL_STARTS)
    assert (public.due, public.behind) == (8, True)


def test_subsidy_households_and_new_allocations(plan, urban, county):
    paid_twice, paid_once, other = award(urban), award(urban), award(county)
    subsidy_month(date(2026, 1, 1), [(paid_twice, "500.00"), (other, "300.00")])
    subsidy_month(date(2026, 2, 1), [(paid_twice, "500.00"), (paid_once, "450.50")])
    subsidy_month(date(2025, 12, 1), [(award(urban), "500.00")])  # last year
    # this year's leases of public rental homes; last year's and an affordable one don't count
    make_lease(urban, starts_on=date(2026, 3, 1))
    make_lease(urban, starts_on=date(2026, 7, 1))
    make_lease(urban, starts_on=date(2025, 11, 1))
    officer = make_staff(Role.OFFICER, districts=[urban])
    affordable = EstateFactory(district=urban, programme=Programme.AFFORDABLE_RENTAL)
    entry = waiting_entry(urban)
    create_lease(
        unit=UnitFactory(estate=affordable),
        application=entry.application,
        tenant=entry.application.applicant,
        actor=officer,
        starts_on=date(2026, 4, 1),
        years=3,
    )

    rows = figures.target_progress(YEAR)  # as of today, 15 July
    households = cell(rows, urban, Measure.SUBSIDY_HOUSEHOLDS)
    assert (households.target, households.achieved) == (3, 2)
    assert cell(rows, county, Measure.SUBSIDY_HOUSEHOLDS).achieved == 1
    allocations = cell(rows, urban, Measure.NEW_ALLOCATIONS)
    assert (allocations.target, allocations.achieved, allocations.percent) == (
        4,
        2,
        Decimal("50.0"),
    )
    rows = figures.target_progress(YEAR, as_of=date(2026, 6, 30))
    assert cell(rows, urban, Measure.NEW_ALLOCATIONS).achieved == 1
    rows = figures.target_progress(YEAR, as_of=date(2026, 1, 31))
    assert cell(rows, urban, Measure.SUBSIDY_HOUSEHOLDS).achieved == 1


def test_chosen_districts_only(plan, urban, county):
    rows = figures.target_progress(YEAR, [county.id], as_of=date(2026, 6, 30))
    assert {r.district_id for r in rows} == {county.id}
    assert len(rows) == len(Measure)
    assert cell(rows, county, Measure.AFFORDABLE_RENTAL_STARTS).achieved == 60


def test_the_task_table_lines_with_subtotals(plan, urban, county):
    zone = DistrictFactory(kind=DistrictKind.ZONE, name_en="Zone")
    target(zone, TargetKind.NEW_ALLOCATIONS, 10)
    make_lease(zone, starts_on=date(2026, 2, 1))
    lines = figures.progress_lines(YEAR, as_of=date(2026, 6, 30), locale="en")
    labels = [(line.role, line.label) for line in lines]
    assert labels == [
        ("total", "Whole city"),
        ("subtotal", "City's own share and urban districts"),
        ("city", "City's own share"),
        ("district", "Xiufeng"),
        ("district", "Zone"),
        ("subtotal", "Counties"),
        ("district", "Yangshuo"),
    ]
    total, urban_subtotal, _city, xiufeng, _zone, counties, _yangshuo = lines
    allocations = total.cells[Measure.NEW_ALLOCATIONS]
    assert (allocations.target, allocations.achieved) == (6 + 4 + 10, 1)
    assert urban_subtotal.cells[Measure.NEW_ALLOCATIONS].target == 20
    assert counties.cells[Measure.NEW_ALLOCATIONS].target == 0
    assert counties.cells[Measure.AFFORDABLE_RENTAL_STARTS].achieved == 60
    starts = total.cells[Measure.RENOVATION_STARTS]
    assert (starts.target, starts.achieved, starts.due, starts.behind) == (20, 12, 14, True)
    assert xiufeng.behind == [Measure.RENOVATION_STARTS]
    assert total.cells[Measure.AFFORDABLE_RENTAL_STARTS].due == 70


def test_units_due_are_rounded_up():
    assert figures.units_due(15, 70) == 11
    assert figures.units_due(10, 70) == 7
    assert figures.units_due(0, 70) == 0


# --- filters --------------------------------------------------------------------------------


def test_the_default_period_is_the_year_up_to_today():
    f = figures.read_filters()
    assert (f.year, f.period, f.district) == (YEAR, Period(date(2026, 1, 1), TODAY), None)
    f = figures.read_filters(year=2024)
    assert f.period == Period(date(2024, 1, 1), date(2024, 12, 31))
    f = figures.read_filters(start=date(2025, 3, 1))
    assert (f.year, f.period) == (2025, Period(date(2025, 3, 1), date(2025, 12, 31)))
    f = figures.read_filters(end=date(2026, 2, 10))
    assert f.period == Period(date(2026, 1, 1), date(2026, 2, 10))


def test_a_district_by_its_code(urban):
    assert figures.read_filters(district=urban.code).district_ids == [urban.id]
    with pytest.raises(ValidationFailed) as err:
        figures.read_filters(district="nowhere")
    assert err.value.field == "district"


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"start": date(2026, 3, 2), "end": date(2026, 3, 1)}, "end"),
        ({"start": date(2020, 1, 1), "end": date(2025, 1, 1)}, "end"),
        ({"year": 1999}, "year"),
        ({"year": 2028}, "year"),
    ],
)
def test_bad_filters_are_refused(kwargs, field):
    with pytest.raises(ValidationFailed) as err:
        figures.read_filters(**kwargs)
    assert err.value.field == field


def test_five_years_at_most():
    f = figures.read_filters(start=date(2020, 1, 1), end=date(2024, 12, 31))
    assert len(f.period.months) == 60


def test_a_vacated_home_let_again_within_a_year(urban):
    officer = make_staff(Role.OFFICER, districts=[urban])
    first = make_lease(urban, officer, starts_on=date(2024, 1, 1))
    second = make_lease(urban, officer, starts_on=date(2024, 1, 1))
    end_lease(first, officer, date(2025, 3, 1))
    end_lease(second, officer, date(2025, 6, 1))
    # the first home is let again ten months later; the second is still empty
    entry = waiting_entry(urban)
    create_lease(
        unit=first.unit,
        application=entry.application,
        tenant=entry.application.applicant,
        actor=officer,
        starts_on=date(2026, 1, 1),
        years=3,
    )
    assert first.unit.status is UnitStatus.OCCUPIED
    found = figures.reletting(2025)
    assert (found.vacated, found.relet, found.percent) == (2, 1, Decimal("50.0"))
    assert figures.reletting(2025, [DistrictFactory().id]).vacated == 0
