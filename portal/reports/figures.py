"""The figures behind the managers' dashboard, the monthly progress ledger and the annual
self-assessment (监测评价).

Every figure is a set-based query: GROUP BY, COUNT and SUM in SQL (window functions for the
medians), a handful of queries per section whatever the size of the tables, each returning
small rows. Filters: ``district_ids`` (None: the whole city) and a :class:`Period` of days.

Where a figure belongs when a district is chosen:

- applications, department checks, review times, the waiting list: the district of the
  application (the office handling it); subsidies: the award's district;
- homes, allocation rounds, leases, rent and the yearly targets' achievements: the district
  the home or project is in (the estate's, the round's, the project's);
- credit records: the district of the application or of the home they concern (records of
  neither, e.g. of organisations, count for the whole city only).

Targets (:func:`target_progress`): the city keeps a share of each task itself (市本级,
``district_id`` None). Projects, estates and awards all belong to a district, so nothing is
achieved under the city's own share: its rows show the target, and the whole city's total
compares everything achieved with every target.
"""

from __future__ import annotations

import calendar
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal

import sqlalchemy as sa
from sqlalchemy.exc import CompileError
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import aliased
from sqlalchemy.sql.functions import FunctionElement

from portal.accounts.models import District, DistrictKind
from portal.allocation.models import AllocationRound, EntrantStatus, RoundEntrant, RoundStatus
from portal.applications.models import Application, Programme, Status
from portal.core.clock import CITY_TZ, today
from portal.core.enums import TitledEnum
from portal.core.errors import ValidationFailed
from portal.core.i18n import lazy_gettext as _l
from portal.credit.models import CreditRecord, Grade, RecordStatus
from portal.extensions import db
from portal.housing.models import Estate, Unit, UnitStatus
from portal.housing.services import not_relet_condition
from portal.notices.models import Notice, NoticeEntry, Objection, ObjectionStatus
from portal.reports.models import (
    Project,
    ProjectKind,
    ProjectProgress,
    Target,
    TargetKind,
    TargetMilestone,
)
from portal.subsidy.models import LineKind, RunStatus, SubsidyAward, SubsidyPayment, SubsidyRun
from portal.tenancy import rent
from portal.tenancy.models import Lease, RentCharge
from portal.verification.departments import Department
from portal.verification.models import CheckOutcome, CheckStatus, DepartmentCheck
from portal.waitlist.models import EntryStatus, Group, QueueEntry
from portal.waitlist.services import add_months
from portal.waitlist.services import rule_values as waitlist_values

FIRST_YEAR = 2000
MAX_YEARS = 5  # the longest period the dashboard covers
ONE_PLACE = Decimal("0.1")
CENT = Decimal("0.01")
UNDECIDED = (Status.CHECKING, Status.SUPPLEMENT, Status.REVIEW, Status.SECOND_REVIEW)
SETTLED = (CheckOutcome.CONFIRMED, CheckOutcome.OVERRIDDEN)


# --- small helpers ---------------------------------------------------------------------------


def month_of(day: date) -> date:
    return day.replace(day=1)


def month_end(year: int, month: int) -> date:
    """The last day of ``month`` of ``year``."""
    return date(year, month, calendar.monthrange(year, month)[1])


def next_month(month: date) -> date:
    return (month.replace(day=28) + timedelta(days=4)).replace(day=1)


def percent(part: int | Decimal, whole: int | Decimal) -> Decimal | None:
    """``part`` as a percentage of ``whole`` to one place (None when ``whole`` is 0)."""
    if not whole:
        return None
    return (Decimal(part) * 100 / Decimal(whole)).quantize(ONE_PLACE, rounding=ROUND_HALF_UP)


def one_place(value) -> Decimal | None:
    return None if value is None else Decimal(str(value)).quantize(ONE_PLACE, ROUND_HALF_UP)


def _cents(expr) -> sa.ColumnElement:
    """SUM of a money column (stored as hundredths) as an integer, 0 if none."""
    return sa.func.coalesce(sa.func.sum(sa.type_coerce(expr, sa.BigInteger)), 0)


def _in(column, district_ids: Sequence[int] | None) -> sa.ColumnElement[bool]:
    return sa.true() if district_ids is None else column.in_(list(district_ids))


def _middle(rank, count) -> sa.ColumnElement[bool]:
    """The median's one or two rows of a partition of ``count`` rows ranked 1..count."""
    return sa.or_(rank == (count + 1) // 2, rank == (count + 2) // 2)


class DaysBetween(FunctionElement):
    """``later - earlier`` in days (a fraction), for two moments or days. The one piece of
    date arithmetic done in SQL (review times and re-letting need it row by row), written
    for each of the two databases the portal runs on."""

    type = sa.Float()
    name = "days_between"
    inherit_cache = True


@compiles(DaysBetween, "sqlite")
def _days_sqlite(element, compiler, **kw) -> str:
    later, earlier = (compiler.process(c, **kw) for c in element.clauses)
    return f"(julianday({later}) - julianday({earlier}))"


@compiles(DaysBetween, "postgresql")
def _days_postgresql(element, compiler, **kw) -> str:
    def epoch(clause) -> str:
        sql = compiler.process(clause, **kw)
        if isinstance(clause.type, sa.Date):  # a day: its midnight, read as UTC
            sql = f"CAST({sql} AS TIMESTAMP)"
        return f"EXTRACT(EPOCH FROM {sql})"

    later, earlier = element.clauses
    return f"(({epoch(later)} - {epoch(earlier)}) / 86400.0)"


@compiles(DaysBetween)
def _days_other(element, compiler, **kw) -> str:
    raise CompileError("DaysBetween is written for SQLite and PostgreSQL only")


# --- filters ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Period:
    """Days ``start`` to ``end``, both included, on the city's calendar."""

    start: date
    end: date

    @classmethod
    def of_year(cls, year: int, on: date | None = None) -> Period:
        """The year, up to ``on`` (today) if the year is under way."""
        on = on or today()
        last = date(year, 12, 31)
        return cls(date(year, 1, 1), min(last, on) if on >= date(year, 1, 1) else last)

    @property
    def moments(self) -> tuple[datetime, datetime]:
        """The period as UTC moments: from its first midnight up to (not including) the
        midnight after its last day."""
        first = datetime.combine(self.start, time.min, CITY_TZ).astimezone(UTC)
        after = datetime.combine(self.end + timedelta(days=1), time.min, CITY_TZ)
        return first, after.astimezone(UTC)

    def holds(self, column) -> sa.ColumnElement[bool]:
        """``column`` (a moment) falls in the period."""
        first, after = self.moments
        return sa.and_(column >= first, column < after)

    def holds_day(self, column) -> sa.ColumnElement[bool]:
        """``column`` (a day) falls in the period."""
        return column.between(self.start, self.end)

    @property
    def months(self) -> list[date]:
        """The months the period touches, by their first day."""
        out, month = [], month_of(self.start)
        while month <= self.end:
            out.append(month)
            month = next_month(month)
        return out


@dataclass(frozen=True)
class Filters:
    """What the dashboard shows: the targets of ``year``, the other figures over
    ``period``, of ``district`` (None: the whole city)."""

    year: int
    period: Period
    district: District | None = None

    @property
    def district_ids(self) -> list[int] | None:
        return None if self.district is None else [self.district.id]


def _day(value: date | str | None, field: str) -> date | None:
    if value is None or isinstance(value, date):
        return value
    text = value.strip()
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ValidationFailed(_l("Enter a date like 2026-03-31."), field=field) from None


def _year(value: int | str | None, last: int) -> int | None:
    if value is None or isinstance(value, int):
        found = value
    elif not value.strip():
        return None
    else:
        found = int(value) if value.strip().isdigit() else -1
    if found is not None and not FIRST_YEAR <= found <= last:
        raise ValidationFailed(
            _l("Choose a year from %(first)d to %(last)d.", first=FIRST_YEAR, last=last),
            field="year",
        )
    return found


def read_filters(
    *,
    district: str | None = None,
    year: int | str | None = None,
    start: date | str | None = None,
    end: date | str | None = None,
    on: date | None = None,
) -> Filters:
    """The dashboard's filters from what was asked (the page's form and the API's query,
    as typed): a district by its code (none: the whole city), a year for the targets (this
    year), a period (the year, up to today). The period ends on or after its start and
    covers at most :data:`MAX_YEARS` years."""
    on = on or today()
    chosen = None
    if district:
        chosen = db.session.scalars(sa.select(District).where(District.code == district)).first()
        if chosen is None:
            raise ValidationFailed(_l("Choose a district from the list."), field="district")
    year = _year(year, on.year + 1)
    start, end = _day(start, "start"), _day(end, "end")
    if year is None:
        year = (start or end or on).year
    if start is None and end is None:
        return Filters(year=year, period=Period.of_year(year, on), district=chosen)
    if start is None:
        start = date(end.year, 1, 1)
    if end is None:
        end = max(start, min(on, date(start.year, 12, 31)))
    if end < start:
        raise ValidationFailed(
            _l("The end of the period must not be before its start."), field="end"
        )
    if end >= add_months(start, 12 * MAX_YEARS):
        raise ValidationFailed(
            _l("The period may cover at most %(years)d years.", years=MAX_YEARS), field="end"
        )
    return Filters(year=year, period=Period(start, end), district=chosen)


def all_districts() -> list[District]:
    """Every district, in the city's order."""
    return list(db.session.scalars(sa.select(District).order_by(District.sort_order, District.id)))


Districts = Sequence[District] | None  # the city's districts in order, if already read


def _order(districts: Districts) -> dict[int | None, int]:
    """Each district's place in the city's order (rows of no district first)."""
    every = all_districts() if districts is None else districts
    return {d.id: i for i, d in enumerate(every)}


def _in_order(keys, districts: Districts) -> list:
    order = _order(districts)
    return sorted(keys, key=lambda k: order.get(k, -1))


# --- targets -------------------------------------------------------------------------------


class Measure(TitledEnum):
    """What is counted against the targets: each kind of task, except that renovation starts
    are counted once against the two starts targets together (earlier plans' and this
    year's national plan)."""

    RENOVATION_STARTS = (
        "renovation_starts",
        _l("Shanty-town renovation starts: both plans together"),
    )
    RENOVATION_COMPLETIONS = "renovation_completions", TargetKind.RENOVATION_COMPLETIONS.label
    SUBSIDY_HOUSEHOLDS = "subsidy_households", TargetKind.SUBSIDY_HOUSEHOLDS.label
    PUBLIC_RENTAL_STARTS = "public_rental_starts", TargetKind.PUBLIC_RENTAL_STARTS.label
    PUBLIC_RENTAL_COMPLETIONS = (
        "public_rental_completions",
        TargetKind.PUBLIC_RENTAL_COMPLETIONS.label,
    )
    NEW_ALLOCATIONS = "new_allocations", TargetKind.NEW_ALLOCATIONS.label
    AFFORDABLE_RENTAL_STARTS = (
        "affordable_rental_starts",
        TargetKind.AFFORDABLE_RENTAL_STARTS.label,
    )


MEASURE_KINDS: dict[Measure, tuple[TargetKind, ...]] = {
    Measure.RENOVATION_STARTS: (
        TargetKind.RENOVATION_STARTS_CARRIED,
        TargetKind.RENOVATION_STARTS_NEW,
    ),
    **{m: (TargetKind(m.value),) for m in Measure if m is not Measure.RENOVATION_STARTS},
}
# a project's kind → what its started and its completed units count towards
PROJECT_MEASURES: dict[ProjectKind, tuple[Measure, Measure | None]] = {
    ProjectKind.RENOVATION: (Measure.RENOVATION_STARTS, Measure.RENOVATION_COMPLETIONS),
    ProjectKind.PUBLIC_RENTAL: (Measure.PUBLIC_RENTAL_STARTS, Measure.PUBLIC_RENTAL_COMPLETIONS),
    ProjectKind.AFFORDABLE_RENTAL: (Measure.AFFORDABLE_RENTAL_STARTS, None),
}
# the kind whose milestones say when a kind of project is due to start
START_KIND: dict[ProjectKind, TargetKind] = {
    ProjectKind.RENOVATION: TargetKind.RENOVATION_STARTS_NEW,
    ProjectKind.PUBLIC_RENTAL: TargetKind.PUBLIC_RENTAL_STARTS,
    ProjectKind.AFFORDABLE_RENTAL: TargetKind.AFFORDABLE_RENTAL_STARTS,
}


@dataclass(frozen=True)
class Milestone:
    """By the end of ``month``, ``share`` percent of the year's task is due."""

    month: int
    share: int


def milestones(year: int) -> dict[TargetKind, list[Milestone]]:
    """The year's milestones per kind, by month."""
    out: dict[TargetKind, list[Milestone]] = defaultdict(list)
    for kind, month, share in db.session.execute(
        sa.select(TargetMilestone.kind, TargetMilestone.by_month, TargetMilestone.share_percent)
        .where(TargetMilestone.year == year)
        .order_by(TargetMilestone.kind, TargetMilestone.by_month)
    ):
        out[kind].append(Milestone(month, share))
    return out


def due_milestone(year: int, marks: Iterable[Milestone], as_of: date) -> Milestone | None:
    """The milestone due by ``as_of``: the largest share whose month has ended. Once the
    year has ended the whole task is due."""
    ended = [m for m in marks if month_end(year, m.month) <= as_of]
    if as_of >= date(year, 12, 31):
        ended.append(Milestone(12, 100))
    return max(ended, key=lambda m: (m.share, m.month), default=None)


def next_milestone(year: int, marks: Iterable[Milestone], as_of: date) -> Milestone | None:
    """The next milestone whose month has not ended yet."""
    coming = [m for m in marks if month_end(year, m.month) > as_of]
    return min(coming, key=lambda m: m.month, default=None)


def units_due(target: int, share: int) -> int:
    """The units ``share`` percent of ``target`` is, rounded up (70% of 15 is 11)."""
    return -(-target * share // 100)


@dataclass(frozen=True)
class TargetProgress:
    """One district's (None: the city's own share) task of one measure in a year: the
    target (``targets``: per kind of task, two for renovation starts), what is achieved by
    ``as_of`` (None for the city's own share: nothing is recorded under it), the units due
    by the last milestone passed and the next milestone."""

    district_id: int | None
    measure: Measure
    targets: Mapping[TargetKind, int]
    achieved: int | None
    due: int = 0
    due_share: int | None = None
    due_month: int | None = None
    next_share: int | None = None
    next_month: int | None = None

    @property
    def target(self) -> int:
        return sum(self.targets.values())

    @property
    def percent(self) -> Decimal | None:
        """Achieved as a percentage of the target, to one place."""
        return None if self.achieved is None else percent(self.achieved, self.target)

    @property
    def behind(self) -> bool:
        """Fewer achieved than the milestone passed asks for."""
        return self.achieved is not None and self.due_share is not None and self.achieved < self.due


@dataclass(frozen=True)
class _Targets:
    """What :func:`target_progress` and :func:`progress_lines` are built from."""

    year: int
    as_of: date
    targets: dict[tuple[int | None, TargetKind], int]
    achieved: dict[tuple[int | None, Measure], int]
    marks: dict[TargetKind, list[Milestone]]


def default_as_of(year: int, on: date | None = None) -> date:
    """Today, or the year's last day once it has ended."""
    return min(on or today(), date(year, 12, 31))


def _target_data(year: int, district_ids: Sequence[int] | None, as_of: date | None) -> _Targets:
    as_of = as_of or default_as_of(year)
    month = month_of(as_of)
    targets = {
        (d, kind): units
        for d, kind, units in db.session.execute(
            sa.select(Target.district_id, Target.kind, Target.units).where(
                Target.year == year,
                sa.true() if district_ids is None else Target.district_id.in_(district_ids),
            )
        )
    }
    achieved: dict[tuple[int | None, Measure], int] = defaultdict(int)
    # each project's latest monthly record at or before the month of as_of
    latest = (
        sa.select(ProjectProgress.project_id, sa.func.max(ProjectProgress.month).label("month"))
        .where(ProjectProgress.month <= month)
        .group_by(ProjectProgress.project_id)
        .subquery()
    )
    for district_id, kind, started, completed in db.session.execute(
        sa.select(
            Project.district_id,
            Project.kind,
            sa.func.coalesce(sa.func.sum(ProjectProgress.units_started), 0),
            sa.func.coalesce(sa.func.sum(ProjectProgress.units_completed), 0),
        )
        .select_from(Project)
        .join(latest, latest.c.project_id == Project.id)
        .join(
            ProjectProgress,
            sa.and_(
                ProjectProgress.project_id == Project.id, ProjectProgress.month == latest.c.month
            ),
        )
        .where(Project.year == year, _in(Project.district_id, district_ids))
        .group_by(Project.district_id, Project.kind)
    ):
        starts, completions = PROJECT_MEASURES[kind]
        achieved[(district_id, starts)] += int(started)
        if completions is not None:
            achieved[(district_id, completions)] += int(completed)
    # households paid a rental subsidy in the year's months up to as_of
    for district_id, households in db.session.execute(
        sa.select(SubsidyAward.district_id, sa.func.count(sa.distinct(SubsidyPayment.award_id)))
        .select_from(SubsidyPayment)
        .join(SubsidyAward, SubsidyAward.id == SubsidyPayment.award_id)
        .where(
            SubsidyPayment.kind == LineKind.PAYMENT,
            SubsidyPayment.amount > 0,
            SubsidyPayment.month.between(date(year, 1, 1), month),
            _in(SubsidyAward.district_id, district_ids),
        )
        .group_by(SubsidyAward.district_id)
    ):
        achieved[(district_id, Measure.SUBSIDY_HOUSEHOLDS)] += int(households)
    # leases of public rental homes begun in the year up to as_of
    for district_id, leases in db.session.execute(
        sa.select(Estate.district_id, sa.func.count(Lease.id))
        .select_from(Lease)
        .join(Unit, Unit.id == Lease.unit_id)
        .join(Estate, Estate.id == Unit.estate_id)
        .where(
            Estate.programme == Programme.PUBLIC_RENTAL,
            Lease.starts_on.between(date(year, 1, 1), as_of),
            _in(Estate.district_id, district_ids),
        )
        .group_by(Estate.district_id)
    ):
        achieved[(district_id, Measure.NEW_ALLOCATIONS)] += int(leases)
    return _Targets(year, as_of, targets, dict(achieved), milestones(year))


def _progress_of(
    data: _Targets,
    district_id: int | None,
    measure: Measure,
    targets: Mapping[TargetKind, int],
    achieved: int | None,
) -> TargetProgress:
    due, due_share, due_month, coming = 0, None, None, []
    for kind in MEASURE_KINDS[measure]:
        marks = data.marks.get(kind, [])
        passed = due_milestone(data.year, marks, data.as_of)
        if passed is not None:
            due += units_due(targets.get(kind, 0), passed.share)
            if due_share is None or passed.share > due_share:
                due_share, due_month = passed.share, passed.month
        upcoming = next_milestone(data.year, marks, data.as_of)
        if upcoming is not None:
            coming.append(upcoming)
    upcoming = min(coming, key=lambda m: m.month, default=None)
    return TargetProgress(
        district_id=district_id,
        measure=measure,
        targets=dict(targets),
        achieved=achieved,
        due=due,
        due_share=due_share,
        due_month=due_month,
        next_share=upcoming.share if upcoming else None,
        next_month=upcoming.month if upcoming else None,
    )


def target_progress(
    year: int, district_ids: Sequence[int] | None = None, *, as_of: date | None = None
) -> list[TargetProgress]:
    """Per district (for the whole city: the city's own share first, district None, then
    every district in the city's order) and measure: the targets of ``year``, what is
    achieved by ``as_of`` (today, or the year's end), and the milestone due.

    Achieved: started and completed units from each of the year's projects' latest monthly
    progress at or before ``as_of``'s month; households paid a rental subsidy in the year's
    months up to then (computed or closed runs); leases of public rental homes begun in the
    year up to ``as_of``."""
    data = _target_data(year, district_ids, as_of)
    return _rows(data, _district_ids(district_ids))


def _district_ids(
    district_ids: Sequence[int] | None, districts: Sequence[District] | None = None
) -> list[int | None]:
    """The lines' districts in the city's order: the city's own share and every district,
    or the chosen ones."""
    districts = all_districts() if districts is None else districts
    if district_ids is None:
        return [None, *(d.id for d in districts)]
    return [d.id for d in districts if d.id in set(district_ids)]


def _rows(data: _Targets, ids: Iterable[int | None]) -> list[TargetProgress]:
    out = []
    for district_id in ids:
        for measure in Measure:
            targets = {k: data.targets.get((district_id, k), 0) for k in MEASURE_KINDS[measure]}
            achieved = None if district_id is None else data.achieved.get((district_id, measure), 0)
            out.append(_progress_of(data, district_id, measure, targets, achieved))
    return out


@dataclass(frozen=True)
class ProgressLine:
    """A line of the task table: the whole city, a subtotal (the city's own share with the
    urban districts; the counties), the city's own share, or one district."""

    role: str  # total, subtotal, city or district
    label: str
    district: District | None
    cells: dict[Measure, TargetProgress] = field(default_factory=dict)

    @property
    def behind(self) -> list[Measure]:
        return [m for m, cell in self.cells.items() if cell.behind]


def _summed(
    data: _Targets, measure: Measure, cells: list[TargetProgress], achieved: int | None = None
) -> TargetProgress:
    targets = {k: sum(c.targets.get(k, 0) for c in cells) for k in MEASURE_KINDS[measure]}
    if achieved is None:
        achieved = sum(c.achieved or 0 for c in cells)
    summed = _progress_of(data, None, measure, targets, achieved)
    # the units due of a sum are the sum of each line's (each rounded up on its own)
    return replace(summed, due=sum(c.due for c in cells))


def progress_lines(
    year: int,
    district_ids: Sequence[int] | None = None,
    *,
    as_of: date | None = None,
    locale: str = "zh_Hans_CN",
    districts: Districts = None,
) -> list[ProgressLine]:
    """The task table's lines with their progress, like the city's task table: for the whole
    city its total, the subtotal of the city's own share with the urban districts and
    development zones, the city's own share, each of them, then the counties' subtotal and
    each county; for chosen districts, each of them."""
    data = _target_data(year, district_ids, as_of)
    every = all_districts() if districts is None else list(districts)
    ids = _district_ids(district_ids, every)
    by_district: dict[int | None, dict[Measure, TargetProgress]] = defaultdict(dict)
    for row in _rows(data, ids):
        by_district[row.district_id][row.measure] = row
    districts = {d.id: d for d in every}
    if district_ids is not None:
        return [
            ProgressLine("district", districts[i].name(locale), districts[i], by_district[i])
            for i in ids
        ]
    from flask_babel import force_locale, gettext

    with force_locale(locale):
        total_label = gettext("Whole city")
        urban_label = gettext("City's own share and urban districts")
        city_label = gettext("City's own share")
        counties_label = gettext("Counties")
    urban = [d for d in districts.values() if d.kind is not DistrictKind.COUNTY]
    counties = [d for d in districts.values() if d.kind is DistrictKind.COUNTY]

    def subtotal(members: list[int | None], achieved_all: bool = False) -> dict:
        cells = {}
        for measure in Measure:
            parts = [by_district[i][measure] for i in members]
            everything = None
            if achieved_all:  # the whole city: also what no district holds
                everything = sum(v for (_d, m), v in data.achieved.items() if m is measure)
            cells[measure] = _summed(data, measure, parts, everything)
        return cells

    lines = [ProgressLine("total", total_label, None, subtotal(ids, achieved_all=True))]
    urban_ids = [None, *(d.id for d in urban)]
    lines.append(ProgressLine("subtotal", urban_label, None, subtotal(urban_ids)))
    lines.append(ProgressLine("city", city_label, None, by_district[None]))
    lines += [ProgressLine("district", d.name(locale), d, by_district[d.id]) for d in urban]
    if counties:
        lines.append(
            ProgressLine("subtotal", counties_label, None, subtotal([d.id for d in counties]))
        )
        lines += [ProgressLine("district", d.name(locale), d, by_district[d.id]) for d in counties]
    return lines


# --- applications and department checks ------------------------------------------------------


@dataclass(frozen=True)
class ApplicationFigures:
    """Applications submitted in the period by programme and their status now, and the
    undecided ones past their deadline now (whenever submitted)."""

    counts: dict[tuple[Programme, Status], int]
    overdue: dict[Programme, int]

    @property
    def statuses(self) -> list[Status]:
        return [s for s in Status if s is not Status.DRAFT]

    def of(self, programme: Programme | None = None, status: Status | None = None) -> int:
        return sum(
            n for (p, s), n in self.counts.items() if programme in (None, p) and status in (None, s)
        )

    @property
    def total(self) -> int:
        return self.of()

    @property
    def overdue_total(self) -> int:
        return sum(self.overdue.values())


def applications(period: Period, district_ids: Sequence[int] | None = None) -> ApplicationFigures:
    counts = {
        (p, s): int(n)
        for p, s, n in db.session.execute(
            sa.select(Application.programme, Application.status, sa.func.count())
            .where(
                period.holds(Application.submitted_at),
                Application.status != Status.DRAFT,
                _in(Application.district_id, district_ids),
            )
            .group_by(Application.programme, Application.status)
        )
    }
    overdue = {
        p: int(n)
        for p, n in db.session.execute(
            sa.select(Application.programme, sa.func.count())
            .where(
                Application.status.in_(UNDECIDED),
                Application.decide_by < today(),
                _in(Application.district_id, district_ids),
            )
            .group_by(Application.programme)
        )
    }
    return ApplicationFigures(counts, overdue)


@dataclass(frozen=True)
class CheckRow:
    """One department: its checks of the applications submitted in the period by what the
    data said, how many of them a reviewer has settled, and the checks waiting for a
    reviewer now (of applications still being checked) and how many are past their
    deadline."""

    department: Department
    by_status: dict[CheckStatus, int]
    settled: int = 0
    waiting: int = 0
    overdue: int = 0

    @property
    def total(self) -> int:
        return sum(self.by_status.values())


def checks(period: Period, district_ids: Sequence[int] | None = None) -> list[CheckRow]:
    by_status: dict[Department, dict[CheckStatus, int]] = defaultdict(dict)
    settled: dict[Department, int] = defaultdict(int)
    for department, status, n, done in db.session.execute(
        sa.select(
            DepartmentCheck.department,
            DepartmentCheck.status,
            sa.func.count(),
            sa.func.count(sa.case((DepartmentCheck.outcome.in_(SETTLED), 1))),
        )
        .join(Application, Application.id == DepartmentCheck.application_id)
        .where(period.holds(Application.submitted_at), _in(Application.district_id, district_ids))
        .group_by(DepartmentCheck.department, DepartmentCheck.status)
    ):
        by_status[department][status] = int(n)
        settled[department] += int(done)
    waiting = {
        d: (int(n), int(late))
        for d, n, late in db.session.execute(
            sa.select(
                DepartmentCheck.department,
                sa.func.count(),
                sa.func.count(sa.case((DepartmentCheck.deadline < today(), 1))),
            )
            .join(Application, Application.id == DepartmentCheck.application_id)
            .where(
                DepartmentCheck.outcome.is_(None),
                Application.status == Status.CHECKING,
                _in(Application.district_id, district_ids),
            )
            .group_by(DepartmentCheck.department)
        )
    }
    return [
        CheckRow(
            department=d,
            by_status=by_status.get(d, {}),
            settled=settled.get(d, 0),
            waiting=waiting.get(d, (0, 0))[0],
            overdue=waiting.get(d, (0, 0))[1],
        )
        for d in Department
        if d in by_status or d in waiting
    ]


# --- review times ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReviewTimes:
    """Applications decided in the period (approved or rejected by an officer): days from
    submission to decision (median and mean, one place), how many were decided by their
    deadline (``decide_by``, on the city's calendar)."""

    district_id: int | None  # None: all those shown
    decided: int = 0
    on_time: int = 0
    median_days: Decimal | None = None
    mean_days: Decimal | None = None

    @property
    def on_time_percent(self) -> Decimal | None:
        return percent(self.on_time, self.decided)


@dataclass(frozen=True)
class ReviewFigures:
    total: ReviewTimes
    districts: list[ReviewTimes]
    open_overdue: int  # undecided now and past their deadline


def _on_time_threshold() -> float:
    """Days after a deadline's midnight (UTC) until the deadline's day ends in the city."""
    offset = datetime.now(CITY_TZ).utcoffset()
    return 1 - offset.total_seconds() / 86400


def review_times(
    period: Period, district_ids: Sequence[int] | None = None, *, districts: Districts = None
) -> ReviewFigures:
    days = DaysBetween(Application.decided_at, Application.submitted_at)
    late_by = DaysBetween(Application.decided_at, Application.decide_by)
    decided = sa.and_(
        period.holds(Application.decided_at),
        Application.submitted_at.is_not(None),
        _in(Application.district_id, district_ids),
    )
    sums = {
        d: (int(n), int(on_time), float(total or 0))
        for d, n, on_time, total in db.session.execute(
            sa.select(
                Application.district_id,
                sa.func.count(),
                sa.func.count(
                    sa.case(
                        (
                            sa.and_(
                                Application.decide_by.is_not(None),
                                late_by < _on_time_threshold(),
                            ),
                            1,
                        )
                    )
                ),
                sa.func.sum(days),
            )
            .where(decided)
            .group_by(Application.district_id)
        )
    }
    ranked = (
        sa.select(
            Application.district_id.label("district_id"),
            days.label("days"),
            sa.func.row_number()
            .over(partition_by=Application.district_id, order_by=days)
            .label("rd"),
            sa.func.count().over(partition_by=Application.district_id).label("nd"),
            sa.func.row_number().over(order_by=days).label("ra"),
            sa.func.count().over().label("na"),
        )
        .where(decided)
        .subquery()
    )
    middles: dict[int | None, list[float]] = defaultdict(list)
    overall: list[float] = []
    for district_id, value, rd, nd, ra, na in db.session.execute(
        sa.select(ranked).where(
            sa.or_(_middle(ranked.c.rd, ranked.c.nd), _middle(ranked.c.ra, ranked.c.na))
        )
    ):
        if rd in ((nd + 1) // 2, (nd + 2) // 2):
            middles[district_id].append(float(value))
        if ra in ((na + 1) // 2, (na + 2) // 2):
            overall.append(float(value))
    open_overdue = db.session.scalar(
        sa.select(sa.func.count())
        .select_from(Application)
        .where(
            Application.status.in_(UNDECIDED),
            Application.decide_by < today(),
            _in(Application.district_id, district_ids),
        )
    )

    def times(district_id, n, on_time, total, middle) -> ReviewTimes:
        return ReviewTimes(
            district_id,
            decided=n,
            on_time=on_time,
            median_days=one_place(sum(middle) / len(middle)) if middle else None,
            mean_days=one_place(total / n) if n else None,
        )

    rows = [times(d, n, ok, total, middles.get(d, [])) for d, (n, ok, total) in sums.items()]
    n = sum(r.decided for r in rows)
    total = times(
        None,
        n,
        sum(r.on_time for r in rows),
        sum(t for _n, _ok, t in sums.values()),
        overall,
    )
    order = _order(districts)
    rows.sort(key=lambda r: order.get(r.district_id, -1))
    return ReviewFigures(total, rows, int(open_overdue or 0))


# --- waiting list ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Waiting:
    """Households waiting (one programme and priority group, or one district, or all):
    how many, the median and the longest wait in days (to ``on``), how many have waited
    longer than the rules' ``long_wait_years``."""

    waiting: int = 0
    median_days: Decimal | None = None
    longest_days: int | None = None
    long_waiters: int = 0


@dataclass(frozen=True)
class QueueFigures:
    on: date
    long_wait_years: int
    total: Waiting
    groups: dict[tuple[Programme, Group], Waiting]
    districts: dict[int | None, Waiting]


def queue(
    district_ids: Sequence[int] | None = None,
    on: date | None = None,
    *,
    districts: Districts = None,
) -> QueueFigures:
    """The waiting list now: by programme and priority group, and by district."""
    on = on or today()
    years = int(waitlist_values()["long_wait_years"])
    since = add_months(on, -12 * years)
    scope = (
        QueueEntry.status == EntryStatus.WAITING,
        _in(Application.district_id, district_ids),
    )
    counts: dict[tuple, tuple[int, date, int]] = {}
    for district_id, programme, group, n, first, long in db.session.execute(
        sa.select(
            Application.district_id,
            QueueEntry.programme,
            QueueEntry.group,
            sa.func.count(),
            sa.func.min(QueueEntry.qualified_on),
            sa.func.count(sa.case((QueueEntry.qualified_on <= since, 1))),
        )
        .join(Application, Application.id == QueueEntry.application_id)
        .where(*scope)
        .group_by(Application.district_id, QueueEntry.programme, QueueEntry.group)
    ):
        counts[(district_id, programme, group)] = (int(n), first, int(long))
    by_group = (QueueEntry.programme, QueueEntry.group)
    ranked = (
        sa.select(
            Application.district_id.label("district_id"),
            QueueEntry.programme.label("programme"),
            QueueEntry.group.label("group"),
            QueueEntry.qualified_on.label("qualified_on"),
            sa.func.row_number()
            .over(partition_by=by_group, order_by=QueueEntry.qualified_on)
            .label("rg"),
            sa.func.count().over(partition_by=by_group).label("ng"),
            sa.func.row_number()
            .over(partition_by=Application.district_id, order_by=QueueEntry.qualified_on)
            .label("rd"),
            sa.func.count().over(partition_by=Application.district_id).label("nd"),
            sa.func.row_number().over(order_by=QueueEntry.qualified_on).label("ra"),
            sa.func.count().over().label("na"),
        )
        .join(Application, Application.id == QueueEntry.application_id)
        .where(*scope)
        .subquery()
    )
    mid_group: dict[tuple, list[int]] = defaultdict(list)
    mid_district: dict[int | None, list[int]] = defaultdict(list)
    mid_all: list[int] = []
    for row in db.session.execute(
        sa.select(ranked).where(
            sa.or_(
                _middle(ranked.c.rg, ranked.c.ng),
                _middle(ranked.c.rd, ranked.c.nd),
                _middle(ranked.c.ra, ranked.c.na),
            )
        )
    ):
        waited = (on - row.qualified_on).days
        if row.rg in ((row.ng + 1) // 2, (row.ng + 2) // 2):
            mid_group[(Programme(row.programme), Group(row.group))].append(waited)
        if row.rd in ((row.nd + 1) // 2, (row.nd + 2) // 2):
            mid_district[row.district_id].append(waited)
        if row.ra in ((row.na + 1) // 2, (row.na + 2) // 2):
            mid_all.append(waited)

    def median(values: list[int]) -> Decimal | None:
        return one_place(Decimal(sum(values)) / len(values)) if values else None

    def waiting(keys: list[tuple], middle: list[int]) -> Waiting:
        parts = [counts[k] for k in keys]
        if not parts:
            return Waiting()
        first = min(p[1] for p in parts)
        return Waiting(
            waiting=sum(p[0] for p in parts),
            median_days=median(middle),
            longest_days=(on - first).days,
            long_waiters=sum(p[2] for p in parts),
        )

    groups = {}
    for programme in Programme:
        for group in Group:
            keys = [k for k in counts if k[1:] == (programme, group)]
            if keys:
                groups[(programme, group)] = waiting(keys, mid_group[(programme, group)])
    by_district = {
        d: waiting([k for k in counts if k[0] == d], mid_district[d])
        for d in _in_order({k[0] for k in counts}, districts)
    }
    return QueueFigures(on, years, waiting(list(counts), mid_all), groups, by_district)


# --- allocations ----------------------------------------------------------------------------


@dataclass(frozen=True)
class AllocationRow:
    """One district's allocations in the period: rounds whose order was drawn, units chosen,
    refusals (with a good reason among them), households who did not come, leases begun."""

    district_id: int | None
    rounds: int = 0
    allocated: int = 0
    refused: int = 0
    refused_good_reason: int = 0
    no_show: int = 0
    leases: int = 0


ALLOCATION_FIELDS = ("rounds", "allocated", "refused", "refused_good_reason", "no_show", "leases")
HELD = (RoundStatus.ORDERED, RoundStatus.CHOOSING, RoundStatus.CLOSED)


def allocations(
    period: Period, district_ids: Sequence[int] | None = None, *, districts: Districts = None
) -> list[AllocationRow]:
    rows: dict[int | None, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for district_id, n in db.session.execute(
        sa.select(AllocationRound.district_id, sa.func.count())
        .where(
            period.holds(AllocationRound.ordered_at),
            AllocationRound.status.in_(HELD),
            _in(AllocationRound.district_id, district_ids),
        )
        .group_by(AllocationRound.district_id)
    ):
        rows[district_id]["rounds"] = int(n)
    for district_id, status, good, n in db.session.execute(
        sa.select(
            AllocationRound.district_id,
            RoundEntrant.status,
            RoundEntrant.good_reason,
            sa.func.count(),
        )
        .join(AllocationRound, AllocationRound.id == RoundEntrant.round_id)
        .where(
            period.holds(RoundEntrant.decided_at),
            RoundEntrant.status.in_(
                (EntrantStatus.CHOSEN, EntrantStatus.REFUSED, EntrantStatus.NO_SHOW)
            ),
            _in(AllocationRound.district_id, district_ids),
        )
        .group_by(
            AllocationRound.district_id,
            RoundEntrant.status,
            RoundEntrant.good_reason,
        )
    ):
        row = rows[district_id]
        if status is EntrantStatus.CHOSEN:
            row["allocated"] += int(n)
        elif status is EntrantStatus.REFUSED:
            row["refused"] += int(n)
            if good:
                row["refused_good_reason"] += int(n)
        else:
            row["no_show"] += int(n)
    for district_id, n in db.session.execute(
        sa.select(Estate.district_id, sa.func.count(Lease.id))
        .select_from(Lease)
        .join(Unit, Unit.id == Lease.unit_id)
        .join(Estate, Estate.id == Unit.estate_id)
        .where(period.holds_day(Lease.starts_on), _in(Estate.district_id, district_ids))
        .group_by(Estate.district_id)
    ):
        rows[district_id]["leases"] = int(n)
    return [AllocationRow(d, **rows[d]) for d in _in_order(rows, districts)]


def allocation_total(rows: Iterable[AllocationRow]) -> AllocationRow:
    rows = list(rows)
    return AllocationRow(
        None,
        **{name: sum(getattr(r, name) for r in rows) for name in ALLOCATION_FIELDS},
    )


# --- subsidies --------------------------------------------------------------------------------


@dataclass(frozen=True)
class SubsidyMonth:
    """One month's rental subsidy (its run computed, or closed: paid): households paid and
    the amount paid, recoveries deducted, and what went out."""

    month: date
    closed: bool
    households: int = 0
    paid: Decimal = Decimal("0.00")
    recovered: Decimal = Decimal("0.00")

    @property
    def net(self) -> Decimal:
        return self.paid - self.recovered


@dataclass(frozen=True)
class SubsidyFigures:
    months: list[SubsidyMonth]
    households: int  # distinct households paid in the period

    @property
    def paid(self) -> Decimal:
        return sum((m.paid for m in self.months), Decimal("0.00"))

    @property
    def recovered(self) -> Decimal:
        return sum((m.recovered for m in self.months), Decimal("0.00"))

    @property
    def net(self) -> Decimal:
        return self.paid - self.recovered


def subsidies(period: Period, district_ids: Sequence[int] | None = None) -> SubsidyFigures:
    months = period.months
    lines = (
        sa.select(SubsidyPayment.month)
        .join(SubsidyAward, SubsidyAward.id == SubsidyPayment.award_id)
        .where(
            SubsidyPayment.month.between(months[0], months[-1]),
            _in(SubsidyAward.district_id, district_ids),
        )
    )
    found: dict[date, dict] = defaultdict(dict)
    for month, status, kind, n, cents in db.session.execute(
        lines.with_only_columns(
            SubsidyPayment.month,
            SubsidyRun.status,
            SubsidyPayment.kind,
            sa.func.count(sa.case((SubsidyPayment.amount > 0, 1))),
            _cents(SubsidyPayment.amount),
        )
        .join(SubsidyRun, SubsidyRun.id == SubsidyPayment.run_id)
        .group_by(SubsidyPayment.month, SubsidyRun.status, SubsidyPayment.kind)
    ):
        row = found[month]
        row["closed"] = status is RunStatus.CLOSED
        if kind is LineKind.PAYMENT:
            row["households"] = int(n)
            row["paid"] = rent.from_cents(cents)
        else:
            row["recovered"] = -rent.from_cents(cents)
    households = db.session.scalar(
        lines.with_only_columns(sa.func.count(sa.distinct(SubsidyPayment.award_id))).where(
            SubsidyPayment.kind == LineKind.PAYMENT, SubsidyPayment.amount > 0
        )
    )
    return SubsidyFigures(
        [SubsidyMonth(m, **found[m]) for m in months if m in found], int(households or 0)
    )


# --- homes ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class HousingRow:
    """One district's homes now: by state, those vacated more than a year ago and not let
    since (the not-re-let report's rule), and the share let."""

    district_id: int | None
    by_status: dict[UnitStatus, int]
    not_relet: int = 0

    @property
    def total(self) -> int:
        return sum(self.by_status.values())

    def of(self, status: UnitStatus) -> int:
        return self.by_status.get(status, 0)

    @property
    def occupancy(self) -> Decimal | None:
        """Units let as a percentage of all units."""
        return percent(self.of(UnitStatus.OCCUPIED), self.total)


def housing(
    district_ids: Sequence[int] | None = None,
    on: date | None = None,
    *,
    districts: Districts = None,
) -> list[HousingRow]:
    on = on or today()
    by_status: dict[int, dict[UnitStatus, int]] = defaultdict(dict)
    stale: dict[int, int] = defaultdict(int)
    for district_id, status, n, not_relet in db.session.execute(
        sa.select(
            Estate.district_id,
            Unit.status,
            sa.func.count(),
            sa.func.count(sa.case((not_relet_condition(on), 1))),
        )
        .join(Estate, Estate.id == Unit.estate_id)
        .where(_in(Estate.district_id, district_ids))
        .group_by(Estate.district_id, Unit.status)
    ):
        by_status[district_id][status] = int(n)
        stale[district_id] += int(not_relet)
    return [HousingRow(d, by_status[d], stale[d]) for d in _in_order(by_status, districts)]


def housing_total(rows: Iterable[HousingRow]) -> HousingRow:
    rows = list(rows)
    return HousingRow(
        None,
        {s: sum(r.of(s) for r in rows) for s in UnitStatus},
        sum(r.not_relet for r in rows),
    )


# --- credit ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class CreditFigures:
    """Credit records now by grade and status, and those confirmed in the period by
    grade."""

    counts: dict[tuple[Grade, RecordStatus], int]
    confirmed: dict[Grade, int]

    def of(self, grade: Grade | None = None, status: RecordStatus | None = None) -> int:
        return sum(
            n for (g, s), n in self.counts.items() if grade in (None, g) and status in (None, s)
        )

    @property
    def confirmed_total(self) -> int:
        return sum(self.confirmed.values())


def _credit_scope(district_ids: Sequence[int] | None) -> sa.ColumnElement[bool]:
    if district_ids is None:
        return sa.true()
    ids = list(district_ids)
    return sa.or_(
        CreditRecord.application_id.in_(
            sa.select(Application.id).where(Application.district_id.in_(ids))
        ),
        CreditRecord.lease_id.in_(
            sa.select(Lease.id)
            .join(Unit, Unit.id == Lease.unit_id)
            .join(Estate, Estate.id == Unit.estate_id)
            .where(Estate.district_id.in_(ids))
        ),
    )


def credit(period: Period, district_ids: Sequence[int] | None = None) -> CreditFigures:
    counts: dict[tuple[Grade, RecordStatus], int] = {}
    confirmed: dict[Grade, int] = defaultdict(int)
    for grade, status, n, in_period in db.session.execute(
        sa.select(
            CreditRecord.grade,
            CreditRecord.status,
            sa.func.count(),
            sa.func.count(sa.case((period.holds(CreditRecord.confirmed_at), 1))),
        )
        .where(_credit_scope(district_ids))
        .group_by(CreditRecord.grade, CreditRecord.status)
    ):
        counts[(grade, status)] = int(n)
        confirmed[grade] += int(in_period)
    return CreditFigures(counts, {g: n for g, n in confirmed.items() if n})


# --- rent -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class RentMonth:
    month: date
    charged: Decimal
    collected: Decimal

    @property
    def rate(self) -> Decimal | None:
        return percent(self.collected, self.charged)


@dataclass(frozen=True)
class RentFigures:
    """Rent charged for the period's months and collected against it so far, and the
    households (leases) in arrears now with what they owe."""

    months: list[RentMonth]
    arrears_households: int
    arrears_amount: Decimal

    @property
    def charged(self) -> Decimal:
        return sum((m.charged for m in self.months), Decimal("0.00"))

    @property
    def collected(self) -> Decimal:
        return sum((m.collected for m in self.months), Decimal("0.00"))

    @property
    def rate(self) -> Decimal | None:
        return percent(self.collected, self.charged)


def _lease_homes(stmt: sa.Select, district_ids: Sequence[int] | None) -> sa.Select:
    if district_ids is None:
        return stmt
    return (
        stmt.join(Unit, Unit.id == Lease.unit_id)
        .join(Estate, Estate.id == Unit.estate_id)
        .where(Estate.district_id.in_(list(district_ids)))
    )


def rent_figures(period: Period, district_ids: Sequence[int] | None = None) -> RentFigures:
    months = period.months
    charged = db.session.execute(
        _lease_homes(
            sa.select(RentCharge.month, _cents(RentCharge.amount), _cents(RentCharge.paid))
            .join(Lease, Lease.id == RentCharge.lease_id)
            .where(RentCharge.month.between(months[0], months[-1])),
            district_ids,
        ).group_by(RentCharge.month)
    ).all()
    arrears = rent.arrears_subquery(today())
    households, owed = db.session.execute(
        _lease_homes(
            sa.select(sa.func.count(), sa.func.coalesce(sa.func.sum(arrears.c.amount), 0))
            .select_from(arrears)
            .join(Lease, Lease.id == arrears.c.lease_id),
            district_ids,
        )
    ).one()
    return RentFigures(
        sorted(
            (RentMonth(m, rent.from_cents(a), rent.from_cents(p)) for m, a, p in charged),
            key=lambda r: r.month,
        ),
        int(households or 0),
        rent.from_cents(owed),
    )


# --- objections to public notices -----------------------------------------------------------


def objections(
    period: Period, district_ids: Sequence[int] | None = None
) -> dict[ObjectionStatus, int]:
    """Objections to public notices received in the period, by their state now."""
    return {
        status: int(n)
        for status, n in db.session.execute(
            sa.select(Objection.status, sa.func.count())
            .join(NoticeEntry, NoticeEntry.id == Objection.entry_id)
            .join(Notice, Notice.id == NoticeEntry.notice_id)
            .where(period.holds(Objection.created_at), _in(Notice.district_id, district_ids))
            .group_by(Objection.status)
        )
    }


# --- re-letting -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Reletting:
    """Homes vacated in the ``year`` (a lease ended) and how many of them were let again
    within a year of the day they fell vacant."""

    year: int
    vacated: int
    relet: int

    @property
    def percent(self) -> Decimal | None:
        return percent(self.relet, self.vacated)


def reletting(year: int, district_ids: Sequence[int] | None = None) -> Reletting:
    ended = aliased(Lease)
    later = aliased(Lease)
    again = (
        sa.select(later.id)
        .where(
            later.unit_id == ended.unit_id,
            later.id != ended.id,
            later.starts_on >= ended.ended_on,
            DaysBetween(later.starts_on, ended.ended_on) <= 365,
        )
        .exists()
    )
    stmt = (
        sa.select(sa.func.count(), sa.func.count(sa.case((again, 1))))
        .select_from(ended)
        .where(ended.ended_on.between(date(year, 1, 1), date(year, 12, 31)))
    )
    if district_ids is not None:
        stmt = (
            stmt.join(Unit, Unit.id == ended.unit_id)
            .join(Estate, Estate.id == Unit.estate_id)
            .where(Estate.district_id.in_(list(district_ids)))
        )
    vacated, relet = db.session.execute(stmt).one()
    return Reletting(year, int(vacated), int(relet))


# --- the dashboard --------------------------------------------------------------------------


@dataclass(frozen=True)
class Dashboard:
    """Every figure of the dashboard for ``filters``."""

    filters: Filters
    districts: dict[int, District]
    progress: list[ProgressLine]
    as_of: date
    applications: ApplicationFigures
    checks: list[CheckRow]
    review: ReviewFigures
    queue: QueueFigures
    allocations: list[AllocationRow]
    subsidies: SubsidyFigures
    housing: list[HousingRow]
    credit: CreditFigures
    rent: RentFigures

    @property
    def allocation_total(self) -> AllocationRow:
        return allocation_total(self.allocations)

    @property
    def housing_total(self) -> HousingRow:
        return housing_total(self.housing)

    def name(self, district_id: int | None, locale: str) -> str:
        found = self.districts.get(district_id) if district_id is not None else None
        if found is not None:
            return found.name(locale)
        from flask_babel import force_locale, gettext

        with force_locale(locale):
            return gettext("No district")


def dashboard(filters: Filters, locale: str = "zh_Hans_CN") -> Dashboard:
    """All the dashboard's figures: a fixed number of queries, whatever the data."""
    ids = filters.district_ids
    period = filters.period
    as_of = default_as_of(filters.year)
    every = all_districts()
    return Dashboard(
        filters=filters,
        districts={d.id: d for d in every},
        progress=progress_lines(filters.year, ids, as_of=as_of, locale=locale, districts=every),
        as_of=as_of,
        applications=applications(period, ids),
        checks=checks(period, ids),
        review=review_times(period, ids, districts=every),
        queue=queue(ids, districts=every),
        allocations=allocations(period, ids, districts=every),
        subsidies=subsidies(period, ids),
        housing=housing(ids, districts=every),
        credit=credit(period, ids),
        rent=rent_figures(period, ids),
    )
