"""The ledgers (台账) in the shapes the plans ask for, built by the exports job:

- ``project_list`` (项目清单): the year's projects with scale, area, investment and dates;
- ``target_list`` (目标清单): the year's task table like the targets page, with its
  subtotal and total lines;
- ``responsibility_list`` (责任清单): seed 000's columns exactly: 序号, 项目名称, 项目地址,
  责任单位, 责任人, 实施单位, 备注;
- ``progress_ledger`` (项目建设进度台账): for a month, each of the year's projects with its
  latest record at or before that month ("not reported" when it has none).

Parameters: ``{"year": int}``, plus ``{"month": "YYYY-MM"}`` for the progress ledger (the
exports page, which asks without them, gets this year and this month). Numbers are written
as numbers (ints, Decimal) so that a spreadsheet adds them up; sequence numbers start at 1
in each file. ``request_ledger`` checks a ledger's parameters for the page and the API,
for these kinds and the monitoring report's (``portal.reports.assessment``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from datetime import date
from typing import Any

import sqlalchemy as sa

from portal.accounts.models import District, User
from portal.accounts.roles import Role
from portal.core.clock import today
from portal.core.errors import ValidationFailed
from portal.core.i18n import lazy_gettext as _l
from portal.exports.models import Export
from portal.exports.services import ExportKind, day_cell, districts_scope
from portal.extensions import db
from portal.reports.models import Project, ProjectStage
from portal.reports.projects import latest_of, month_end, month_key, parse_month
from portal.reports.targets import COLUMNS, check_year, targets_table

BATCH = 500

# Every ledger the ledgers page offers, in its order (the last two: portal.reports.assessment)
LEDGER_NAMES = (
    "project_list",
    "target_list",
    "responsibility_list",
    "progress_ledger",
    "monthly_progress",
    "self_assessment",
)
MONTHLY = frozenset({"progress_ledger", "monthly_progress"})


def year_of(params: dict[str, Any]) -> int:
    """The ledger's year (this year when not asked)."""
    return int(params.get("year") or today().year)


def month_of(params: dict[str, Any]) -> date:
    """The ledger's month (this month when not asked)."""
    return parse_month(params["month"]) if params.get("month") else today().replace(day=1)


def _locale(params: dict[str, Any]) -> str:
    return params.get("locale") or "zh_Hans_CN"


def _query(params: dict[str, Any]) -> sa.Select:
    stmt = (
        sa.select(Project, District)
        .join(District, District.id == Project.district_id)
        .where(Project.year == year_of(params))
    )
    if params.get("districts") is not None:
        stmt = stmt.where(Project.district_id.in_(params["districts"]))
    return stmt


def _count(params: dict[str, Any]) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(_query(params).subquery()))


def _batches(params: dict[str, Any], export: Export) -> Iterator[list[tuple[Project, str]]]:
    """The year's projects by district then as entered, a keyset batch at a time, each with
    its district's name; the export's progress is committed after each batch."""
    locale = _locale(params)
    last: tuple[int, int] | None = None
    while True:
        stmt = _query(params)
        if last is not None:
            stmt = stmt.where(
                sa.or_(
                    District.sort_order > last[0],
                    sa.and_(District.sort_order == last[0], Project.id > last[1]),
                )
            )
        rows = db.session.execute(stmt.order_by(District.sort_order, Project.id).limit(BATCH)).all()
        if not rows:
            return
        yield [(p, d.name(locale)) for p, d in rows]
        last = (rows[-1][1].sort_order, rows[-1][0].id)
        export.done_rows += len(rows)
        db.session.commit()  # progress the owner's page can see


def _numbered(
    params: dict[str, Any], export: Export, cells: Callable[[Project, str], list[Any]]
) -> Iterator[list[Any]]:
    """A line per project of the year: its sequence number, then ``cells(project,
    district name)``."""
    n = 0
    for batch in _batches(params, export):
        for p, district in batch:
            n += 1
            yield [n, *cells(p, district)]


# --- 项目清单 --------------------------------------------------------------------------------

PROJECT_LIST_HEADER = (
    _l("No."),
    _l("Project name"),
    _l("Project address"),
    _l("District or county"),
    _l("Type of project"),
    _l("Scale (units)"),
    _l("Floor area (m²)"),
    _l("Planned investment (10,000 yuan)"),
    _l("Start deadline"),
    _l("Actual start date"),
    _l("Planned completion"),
    _l("Project certificate number"),
    _l("Remarks"),
)


def _project_list_cells(p: Project, district: str) -> list[Any]:
    return [
        p.name,
        p.address,
        district,
        str(p.kind.label),
        p.units,
        p.floor_area,
        p.investment,
        day_cell(p.start_by),
        day_cell(p.started_on),
        day_cell(p.complete_by),
        p.certificate or "",
        p.remarks or "",
    ]


def _project_list_rows(params: dict[str, Any], export: Export) -> Iterator[list[Any]]:
    return _numbered(params, export, _project_list_cells)


# --- 目标清单 --------------------------------------------------------------------------------


def _target_list_header() -> Sequence[Any]:
    return (_l("Implementing unit"), *(c.full_title for c in COLUMNS))


def _target_list_count(params: dict[str, Any]) -> int:
    return len(targets_table(year_of(params), _locale(params)).rows)


def _target_list_rows(params: dict[str, Any], export: Export) -> Iterator[list[Any]]:
    table = targets_table(year_of(params), _locale(params))
    for row in table.rows:
        yield [row.label, *(row.values[c.key] for c in COLUMNS)]
    export.done_rows += len(table.rows)
    db.session.commit()


# --- 责任清单 --------------------------------------------------------------------------------

RESPONSIBILITY_HEADER = (
    _l("No."),
    _l("Project name"),
    _l("Project address"),
    _l("Responsible unit"),
    _l("Responsible person"),
    _l("Implementing unit"),
    _l("Remarks"),
)


def _responsibility_cells(p: Project, _district: str) -> list[Any]:
    return [
        p.name,
        p.address,
        p.responsible_unit,
        p.responsible_person,
        p.implementer,
        p.remarks or "",
    ]


def _responsibility_rows(params: dict[str, Any], export: Export) -> Iterator[list[Any]]:
    return _numbered(params, export, _responsibility_cells)


# --- 项目建设进度台账 -------------------------------------------------------------------------

PROGRESS_HEADER = (
    _l("No."),
    _l("Project name"),
    _l("District or county"),
    _l("Type of project"),
    _l("Scale (units)"),
    _l("Start deadline"),
    _l("Actual start date"),
    _l("Visible progress"),
    _l("Units started so far"),
    _l("Units basically completed so far"),
    _l("Investment this month (10,000 yuan)"),
    _l("Investment so far (10,000 yuan)"),
    _l("Problems"),
    _l("Remarks"),
)


def stage_cell(stage: ProjectStage | None, reported: date | None, month: date) -> str:
    """The stage of a ledger's line: "not reported", or the stage, with the month it was
    reported when that is before the ledger's month."""
    if stage is None:
        return str(_l("Not reported"))
    if reported is not None and reported < month:
        return str(
            _l("%(stage)s (last reported %(month)s)", stage=stage.label, month=month_key(reported))
        )
    return str(stage.label)


def _progress_rows(params: dict[str, Any], export: Export) -> Iterator[list[Any]]:
    month = month_of(params)
    end = month_end(month)
    n = 0
    for batch in _batches(params, export):
        latest = latest_of([p.id for p, _ in batch], month)
        for p, district in batch:
            n += 1
            r = latest.get(p.id)
            started_on = p.started_on if p.started_on and p.started_on <= end else None
            yield [
                n,
                p.name,
                district,
                str(p.kind.label),
                p.units,
                day_cell(p.start_by),
                day_cell(started_on),
                stage_cell(r.stage if r else None, r.month if r else None, month),
                r.units_started if r else None,
                r.units_completed if r else None,
                r.investment_month if r is not None and r.month == month else None,
                r.investment_total if r else None,
                (r.problems or "") if r else "",
                p.remarks or "",
            ]


EXPORT_KINDS: dict[str, ExportKind] = {
    "project_list": ExportKind(
        title=_l("Project list"),
        roles=(Role.MANAGER,),
        header=lambda: PROJECT_LIST_HEADER,
        count=_count,
        rows=_project_list_rows,
        scope=districts_scope,
    ),
    "target_list": ExportKind(
        title=_l("Target list"),
        roles=(Role.MANAGER,),
        header=_target_list_header,
        count=_target_list_count,
        rows=_target_list_rows,
        scope=districts_scope,
    ),
    "responsibility_list": ExportKind(
        title=_l("Responsibility list"),
        roles=(Role.MANAGER,),
        header=lambda: RESPONSIBILITY_HEADER,
        count=_count,
        rows=_responsibility_rows,
        scope=districts_scope,
    ),
    "progress_ledger": ExportKind(
        title=_l("Project progress ledger"),
        roles=(Role.MANAGER,),
        header=lambda: PROGRESS_HEADER,
        count=_count,
        rows=_progress_rows,
        scope=districts_scope,
    ),
}


# --- asking for one ------------------------------------------------------------------------


def offered() -> dict[str, ExportKind]:
    """The ledgers the page offers that are registered, in the page's order."""
    from portal.exports.services import export_kinds

    every = export_kinds()
    return {name: every[name] for name in LEDGER_NAMES if name in every}


def ledger_params(kind: str, year: Any, month: Any = None) -> dict[str, Any]:
    """A ledger's parameters, checked: the year, and for a progress ledger a month of that
    year that has begun."""
    if kind not in offered():
        raise ValidationFailed(_l("Unknown export."), field="kind")
    params: dict[str, Any] = {"year": check_year(year)}
    if kind in MONTHLY:
        if month is None or not str(month).strip():
            raise ValidationFailed(_l("Give the month, like 2026-04."), field="month")
        found = parse_month(month)
        if found.year != params["year"]:
            raise ValidationFailed(_l("The month must be in the year chosen."), field="month")
        if found > today().replace(day=1):
            raise ValidationFailed(_l("This month has not begun."), field="month")
        params["month"] = month_key(found)
    return params


def request_ledger(
    user: User, kind: str, fmt: str, locale: str, *, year: Any, month: Any = None
) -> Export:
    """Check a ledger's parameters and queue it (``portal.exports``): its page shows the
    progress, then the file."""
    from portal.exports.services import request_export

    params = ledger_params(kind, year, month)
    return request_export(user, kind, fmt, locale, params=params)
