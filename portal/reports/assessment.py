"""The annual self-assessment (年度监测评价) and the monthly progress ledger against the
targets.

- :func:`self_assessment` gathers a year's figures: the targets and what is achieved per
  task and district, the year's projects started by each milestone and by their own
  deadline and completed, allocations, new tenants and the share of homes let, homes
  vacated the year before and let again within a year, subsidies, review times and the
  share decided by the deadline, the waiting list and its long waiters, rent collected,
  credit records confirmed and objections to public notices.
- :func:`report` turns them into sections, each with a sentence and a table of indicators
  (indicator, value, target, note), in the reader's language: the page and the file.
- ``EXPORT_KINDS``: ``self_assessment`` (params ``year``) and ``monthly_progress`` (params
  ``year`` and ``month`` ``YYYY-MM``: one line per district like the task table, each task's
  target, achieved to the end of that month, share done and milestone due). Managers only;
  the whole city.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from flask_babel import gettext as _
from flask_babel import ngettext

from portal.accounts.roles import Role
from portal.core.clock import today
from portal.core.i18n import current_locale
from portal.core.i18n import lazy_gettext as _l
from portal.credit.models import Grade
from portal.exports.models import Export
from portal.exports.services import ExportKind
from portal.extensions import db
from portal.housing.models import UnitStatus
from portal.notices.models import ObjectionStatus
from portal.reports import figures
from portal.reports.figures import Measure, Period
from portal.reports.models import Project, ProjectKind, TargetKind

# --- the figures ---------------------------------------------------------------------------


@dataclass(frozen=True)
class MilestoneCount:
    """Projects of a kind started by the end of a milestone's month, against its share."""

    month: int
    share: int
    started: int
    total: int

    @property
    def percent(self) -> Decimal | None:
        return figures.percent(self.started, self.total)

    @property
    def met(self) -> bool:
        return self.total > 0 and self.started * 100 >= self.share * self.total


@dataclass(frozen=True)
class ProjectFigures:
    """The year's projects of one kind: how many, started (by ``as_of``), started by their
    own start deadline (of those with one), completed, and started by each milestone whose
    month has ended."""

    kind: ProjectKind
    total: int
    started: int
    on_time: int
    with_deadline: int
    completed: int
    milestones: list[MilestoneCount] = field(default_factory=list)


def project_figures(year: int, as_of: date) -> list[ProjectFigures]:
    """One query: the year's projects by kind, with a count per milestone month."""
    marks = figures.milestones(year)
    passed = {
        kind: [m for m in marks.get(start_kind, []) if figures.month_end(year, m.month) <= as_of]
        for kind, start_kind in figures.START_KIND.items()
    }
    months = sorted({m.month for ms in passed.values() for m in ms})
    started = Project.started_on.is_not(None)
    by_month = [
        sa.func.count(
            sa.case((sa.and_(started, Project.started_on <= figures.month_end(year, m)), 1))
        )
        for m in months
    ]
    rows = db.session.execute(
        sa.select(
            Project.kind,
            sa.func.count(),
            sa.func.count(sa.case((sa.and_(started, Project.started_on <= as_of), 1))),
            sa.func.count(sa.case((sa.and_(started, Project.started_on <= Project.start_by), 1))),
            sa.func.count(Project.start_by),
            sa.func.count(
                sa.case(
                    (sa.and_(Project.completed_on.is_not(None), Project.completed_on <= as_of), 1)
                )
            ),
            *by_month,
        )
        .where(Project.year == year)
        .group_by(Project.kind)
    ).all()
    found = {row[0]: row for row in rows}
    out = []
    for kind in ProjectKind:
        row = found.get(kind)
        if row is None:
            continue
        counts = dict(zip(months, row[6:], strict=True))
        out.append(
            ProjectFigures(
                kind=kind,
                total=int(row[1]),
                started=int(row[2]),
                on_time=int(row[3]),
                with_deadline=int(row[4]),
                completed=int(row[5]),
                milestones=[
                    MilestoneCount(m.month, m.share, int(counts[m.month]), int(row[1]))
                    for m in passed[kind]
                ],
            )
        )
    return out


@dataclass(frozen=True)
class SelfAssessment:
    """A year's figures for the self-assessment (as of the year's end, or today)."""

    year: int
    as_of: date
    progress: list[figures.ProgressLine]
    projects: list[ProjectFigures]
    allocations: figures.AllocationRow
    housing: figures.HousingRow
    reletting: figures.Reletting
    subsidies: figures.SubsidyFigures
    review: figures.ReviewFigures
    queue: figures.QueueFigures
    rent: figures.RentFigures
    credit: figures.CreditFigures
    objections: dict[ObjectionStatus, int]

    @property
    def total(self) -> figures.ProgressLine:
        return self.progress[0]


def check_year(value: Any, on: date | None = None) -> int:
    """The year to assess: this year when none; from the first year to this one."""
    on = on or today()
    found = figures._year(value, on.year)
    return on.year if found is None else found


def self_assessment(year: int, *, on: date | None = None) -> SelfAssessment:
    """The figures of ``year``'s self-assessment, for the whole city. The waiting list, the
    homes and the arrears are as they stand today."""
    as_of = figures.default_as_of(year, on)
    period = Period(date(year, 1, 1), as_of)
    return SelfAssessment(
        year=year,
        as_of=as_of,
        progress=figures.progress_lines(year, as_of=as_of, locale=current_locale()),
        projects=project_figures(year, as_of),
        allocations=figures.allocation_total(figures.allocations(period)),
        housing=figures.housing_total(figures.housing()),
        reletting=figures.reletting(year - 1),
        subsidies=figures.subsidies(period),
        review=figures.review_times(period),
        queue=figures.queue(),
        rent=figures.rent_figures(period),
        credit=figures.credit(period),
        objections=figures.objections(period),
    )


# --- the report ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Indicator:
    name: str
    value: Any
    target: Any = ""
    note: str = ""


@dataclass(frozen=True)
class Section:
    key: str
    title: str
    sentences: list[str]
    indicators: list[Indicator]

    @property
    def summary(self) -> str:
        return " ".join(self.sentences)


def _pct(value: Decimal | None) -> str:
    return "—" if value is None else f"{value}%"


def _month(year: int, month: int) -> str:
    from portal.subsidy.services import month_text

    return month_text(date(year, month, 1), current_locale())


def _target_note(cell: figures.TargetProgress, year: int) -> str:
    if cell.achieved is None:
        return _("Not recorded separately: every project and home belongs to a district.")
    parts = [_("%(share)s done", share=_pct(cell.percent))] if cell.target else []
    if cell.due_share is not None:
        due = _(
            "%(units)s due by the end of %(month)s",
            units=cell.due,
            month=_month(year, cell.due_month),
        )
        parts.append(due + (" — " + _("behind") if cell.behind else ""))
    return "; ".join(parts)


def _targets(sa_: SelfAssessment) -> Section:
    total = sa_.total
    indicators, tasks, reached, behind = [], 0, 0, 0
    for m in Measure:
        cell = total.cells[m]
        if cell.target:
            tasks += 1
            reached += (cell.achieved or 0) >= cell.target
        behind += cell.behind
        indicators.append(
            Indicator(
                _("%(task)s: %(area)s", task=m.label, area=total.label),
                cell.achieved if cell.achieved is not None else "",
                cell.target,
                _target_note(cell, sa_.year),
            )
        )
    for line in sa_.progress[1:]:
        for m in Measure:
            cell = line.cells[m]
            if not cell.target and not cell.achieved:
                continue
            indicators.append(
                Indicator(
                    _("%(task)s: %(area)s", task=m.label, area=line.label),
                    cell.achieved if cell.achieved is not None else "",
                    cell.target,
                    _target_note(cell, sa_.year),
                )
            )
    sentence = ngettext(
        "%(reached)d of %(num)d task with a target reached it for the whole city",
        "%(reached)d of %(num)d tasks with a target reached them for the whole city",
        tasks,
        reached=reached,
    )
    sentence += "; " + ngettext(
        "%(num)d task is behind the milestone due.",
        "%(num)d tasks are behind the milestone due.",
        behind,
    )
    return Section("targets", _("Targets and completion"), [sentence], indicators)


def _projects(sa_: SelfAssessment) -> Section:
    sentences, indicators = [], []
    for p in sa_.projects:
        kind = p.kind.label
        indicators += [
            Indicator(_("%(kind)s: projects of the year", kind=kind), p.total),
            Indicator(_("%(kind)s: projects started", kind=kind), p.started),
            Indicator(
                _("%(kind)s: started by their own start deadline", kind=kind),
                p.on_time,
                p.with_deadline,
                _(
                    "%(share)s of the projects with a deadline",
                    share=_pct(figures.percent(p.on_time, p.with_deadline)),
                ),
            ),
            Indicator(_("%(kind)s: projects completed", kind=kind), p.completed, p.total),
        ]
        for m in p.milestones:
            month = _month(sa_.year, m.month)
            indicators.append(
                Indicator(
                    _("%(kind)s: started by the end of %(month)s", kind=kind, month=month),
                    m.started,
                    f"{m.share}%",
                    _("%(share)s of %(total)s projects", share=_pct(m.percent), total=m.total)
                    + ("" if m.met else " — " + _("behind")),
                )
            )
            sentences.append(
                _(
                    "%(kind)s: %(started)s of %(total)s projects started by the end of "
                    "%(month)s (%(share)s), target %(target)s.",
                    kind=kind,
                    started=m.started,
                    total=m.total,
                    month=month,
                    share=_pct(m.percent),
                    target=f"{m.share}%",
                )
            )
        if not p.milestones:
            sentences.append(
                _(
                    "%(kind)s: %(started)s of %(total)s projects started, %(completed)s completed.",
                    kind=kind,
                    started=p.started,
                    total=p.total,
                    completed=p.completed,
                )
            )
    if not sa_.projects:
        sentences.append(_("No project is recorded for %(year)s.", year=sa_.year))
    return Section("projects", _("Projects started and completed"), sentences, indicators)


def _allocation(sa_: SelfAssessment) -> Section:
    new = sa_.total.cells[Measure.NEW_ALLOCATIONS]
    a, h, r = sa_.allocations, sa_.housing, sa_.reletting
    sentences = [
        ngettext(
            "%(num)d household moved into a public rental home in %(year)s (target %(target)s).",
            "%(num)d households moved into public rental homes in %(year)s (target %(target)s).",
            new.achieved or 0,
            year=sa_.year,
            target=new.target,
        ),
        _(
            "%(share)s of the homes are let today; of %(vacated)s homes vacated in %(last)s, "
            "%(relet)s were let again within a year (%(relet_share)s).",
            share=_pct(h.occupancy),
            vacated=r.vacated,
            last=r.year,
            relet=r.relet,
            relet_share=_pct(r.percent),
        ),
    ]
    indicators = [
        Indicator(_("New tenants of public rental homes"), new.achieved or 0, new.target),
        Indicator(_("Allocation rounds drawn"), a.rounds),
        Indicator(_("Units chosen in rounds"), a.allocated),
        Indicator(
            _("Refusals"),
            a.refused,
            note=_("%(num)s with a good reason", num=a.refused_good_reason),
        ),
        Indicator(_("Leases begun"), a.leases),
        Indicator(_("Homes let today"), h.of(UnitStatus.OCCUPIED), h.total, _pct(h.occupancy)),
        Indicator(
            _("Homes vacated in %(year)s and let again within a year", year=r.year),
            r.relet,
            r.vacated,
            _pct(r.percent),
        ),
        Indicator(_("Homes empty for more than a year today"), h.not_relet),
    ]
    return Section("allocation", _("Allocation and occupancy"), sentences, indicators)


def _subsidy(sa_: SelfAssessment) -> Section:
    s = sa_.subsidies
    target = sa_.total.cells[Measure.SUBSIDY_HOUSEHOLDS].target
    closed = sum(1 for m in s.months if m.closed)
    sentence = ngettext(
        "%(num)d household received a rental subsidy in %(year)s (target %(target)s); "
        "%(amount)s yuan was paid after recoveries.",
        "%(num)d households received a rental subsidy in %(year)s (target %(target)s); "
        "%(amount)s yuan was paid after recoveries.",
        s.households,
        year=sa_.year,
        target=target,
        amount=s.net,
    )
    indicators = [
        Indicator(_("Households paid a rental subsidy"), s.households, target),
        Indicator(_("Subsidy paid (yuan)"), s.paid),
        Indicator(_("Overpayments recovered (yuan)"), s.recovered),
        Indicator(_("Subsidy paid after recoveries (yuan)"), s.net),
        Indicator(
            _("Months computed"),
            len(s.months),
            note=_("%(num)s of them closed", num=closed),
        ),
    ]
    return Section("subsidy", _("Rental subsidies"), [sentence], indicators)


def _review(sa_: SelfAssessment) -> Section:
    t = sa_.review.total
    if t.decided:
        sentence = _(
            "Applications were decided in %(mean)s days on average (median %(median)s); "
            "%(on_time)s of %(decided)s were decided by their deadline (%(share)s).",
            mean=t.mean_days,
            median=t.median_days,
            on_time=t.on_time,
            decided=t.decided,
            share=_pct(t.on_time_percent),
        )
    else:
        sentence = _("No application was decided in %(year)s.", year=sa_.year)
    indicators = [
        Indicator(_("Applications decided"), t.decided),
        Indicator(_("Mean days from submission to decision"), t.mean_days or ""),
        Indicator(_("Median days from submission to decision"), t.median_days or ""),
        Indicator(_("Decided by their deadline"), t.on_time, t.decided, _pct(t.on_time_percent)),
        Indicator(_("Open applications past their deadline today"), sa_.review.open_overdue),
    ]
    return Section("review", _("Review times"), [sentence], indicators)


def _queue(sa_: SelfAssessment) -> Section:
    q = sa_.queue
    sentence = ngettext(
        "%(num)d household is waiting today; %(long)s for more than %(years)s years.",
        "%(num)d households are waiting today; %(long)s for more than %(years)s years.",
        q.total.waiting,
        long=q.total.long_waiters,
        years=q.long_wait_years,
    )
    indicators = [
        Indicator(_("Households waiting today"), q.total.waiting),
        Indicator(
            _("Waiting more than %(years)s years", years=q.long_wait_years), q.total.long_waiters
        ),
        Indicator(_("Median wait (days)"), q.total.median_days or ""),
        Indicator(_("Longest wait (days)"), q.total.longest_days or ""),
    ]
    for (programme, group), w in q.groups.items():
        indicators.append(
            Indicator(
                _(
                    "Waiting: %(programme)s, %(group)s",
                    programme=programme.label,
                    group=group.label,
                ),
                w.waiting,
            )
        )
    return Section("queue", _("Waiting list"), [sentence], indicators)


def _rent(sa_: SelfAssessment) -> Section:
    r = sa_.rent
    sentences = [
        _(
            "%(collected)s of %(charged)s yuan of rent for %(year)s was collected (%(share)s).",
            collected=r.collected,
            charged=r.charged,
            year=sa_.year,
            share=_pct(r.rate),
        ),
        ngettext(
            "%(num)d household is in arrears today.",
            "%(num)d households are in arrears today.",
            r.arrears_households,
        ),
    ]
    indicators = [
        Indicator(_("Rent charged (yuan)"), r.charged),
        Indicator(_("Rent collected (yuan)"), r.collected, r.charged, _pct(r.rate)),
        Indicator(_("Households in arrears today"), r.arrears_households),
        Indicator(_("Arrears today (yuan)"), r.arrears_amount),
    ]
    return Section("rent", _("Rent collection"), sentences, indicators)


def _credit(sa_: SelfAssessment) -> Section:
    c, o = sa_.credit, sa_.objections
    received = sum(o.values())
    upheld = o.get(ObjectionStatus.UPHELD, 0)
    sentences = [
        ngettext(
            "%(num)d credit record was confirmed in %(year)s, %(serious)s of them serious.",
            "%(num)d credit records were confirmed in %(year)s, %(serious)s of them serious.",
            c.confirmed_total,
            year=sa_.year,
            serious=c.confirmed.get(Grade.SERIOUS, 0),
        ),
        ngettext(
            "%(num)d objection to a public notice was received; %(upheld)s upheld.",
            "%(num)d objections to public notices were received; %(upheld)s upheld.",
            received,
            upheld=upheld,
        ),
    ]
    indicators = [
        Indicator(_("Credit records confirmed: %(grade)s", grade=g.label), c.confirmed.get(g, 0))
        for g in Grade
    ]
    indicators += [
        Indicator(_("Objections to public notices received"), received),
        Indicator(_("Objections upheld"), upheld),
        Indicator(_("Objections still being looked into"), o.get(ObjectionStatus.OPEN, 0)),
    ]
    return Section("credit", _("Credit records and objections"), sentences, indicators)


def report(sa_: SelfAssessment) -> list[Section]:
    """The self-assessment's sections in the reader's language."""
    return [
        _targets(sa_),
        _projects(sa_),
        _allocation(sa_),
        _subsidy(sa_),
        _review(sa_),
        _queue(sa_),
        _rent(sa_),
        _credit(sa_),
    ]


# --- the files -----------------------------------------------------------------------------


def _year_of(params: dict[str, Any]) -> int:
    return int(params.get("year") or today().year)


ASSESSMENT_HEADER = (_l("Section"), _l("Indicator"), _l("Value"), _l("Target"), _l("Note"))


def _assessment_rows(params: dict[str, Any]) -> list[list[Any]]:
    rows = []
    for section in report(self_assessment(_year_of(params))):
        rows.append([section.title, _("Summary"), section.summary, "", ""])
        rows += [[section.title, i.name, i.value, i.target, i.note] for i in section.indicators]
    return rows


def _done(export: Export, rows: list) -> Iterator[list[Any]]:
    yield from rows
    export.done_rows += len(rows)


def _month_of(params: dict[str, Any]) -> date:
    text = str(params.get("month") or "")
    try:
        year, month = (int(p) for p in text.split("-"))
        return date(year, month, 1)
    except ValueError:
        return today().replace(day=1)


def _as_of(params: dict[str, Any]) -> date:
    month = _month_of(params)
    return figures.month_end(month.year, month.month)


def progress_header() -> list[str]:
    """The monthly progress ledger's columns: the line, then per task its target (the two
    starts plans of renovation each, then their sum), achieved, share done and the
    milestone share due (percent)."""
    header = [_("District")]
    for m in Measure:
        label = str(m.label)
        if m is Measure.RENOVATION_STARTS:
            header += [
                f"{TargetKind.RENOVATION_STARTS_CARRIED.label} · {_('Target')}",
                f"{TargetKind.RENOVATION_STARTS_NEW.label} · {_('Target')}",
            ]
        header += [
            f"{label} · {_('Target')}",
            f"{label} · {_('Achieved')}",
            f"{label} · {_('Share done (percent)')}",
            f"{label} · {_('Milestone due (percent)')}",
        ]
    return header


def _progress_rows(params: dict[str, Any]) -> list[list[Any]]:
    lines = figures.progress_lines(
        _year_of(params), as_of=_as_of(params), locale=params.get("locale") or "zh_Hans_CN"
    )
    rows = []
    for line in lines:
        row: list[Any] = [line.label]
        for m in Measure:
            cell = line.cells[m]
            if m is Measure.RENOVATION_STARTS:
                row += [cell.targets.get(k, 0) for k in figures.MEASURE_KINDS[m]]
            row += [
                cell.target,
                "" if cell.achieved is None else cell.achieved,
                "" if cell.percent is None else cell.percent,
                "" if cell.due_share is None else cell.due_share,
            ]
        rows.append(row)
    return rows


def _city(user) -> dict[str, Any]:
    return {"districts": None}


EXPORT_KINDS: dict[str, ExportKind] = {
    "self_assessment": ExportKind(
        title=_l("Annual self-assessment"),
        roles=(Role.MANAGER,),
        header=lambda: ASSESSMENT_HEADER,
        count=lambda params: len(_assessment_rows(params)),
        rows=lambda params, export: _done(export, _assessment_rows(params)),
        scope=_city,
    ),
    "monthly_progress": ExportKind(
        title=_l("Monthly progress against the targets"),
        roles=(Role.MANAGER,),
        header=progress_header,
        count=lambda params: len(_progress_rows(params)),
        rows=lambda params, export: _done(export, _progress_rows(params)),
        scope=_city,
    ),
}
