"""Construction projects (项目清单, 责任清单) and their monthly progress (项目建设进度台账).

A project belongs to a plan year and a district; it has a start deadline (开工期限) and
whoever answers for it (责任单位, 责任人, 实施单位). Each month its progress is recorded once
(recording a month again corrects it): the stage (形象进度), the units started and basically
completed so far, the investment of the month (万元). Cumulative figures never go down from
one month to the next and never exceed the project's units; the project's start and
completion dates follow from the records.

The pages and the API call the same functions; values may come as text (forms) or typed
(the API), and are judged here.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

import sqlalchemy as sa

from portal.accounts.models import District, User
from portal.core import audit
from portal.core.clock import today
from portal.core.errors import ValidationFailed
from portal.core.i18n import lazy_gettext as _l
from portal.core.scope import lock_row
from portal.extensions import db
from portal.reports.models import Project, ProjectKind, ProjectProgress, ProjectStage
from portal.reports.targets import check_year

NAME_MAX, ADDRESS_MAX, UNIT_MAX, PERSON_MAX, CERTIFICATE_MAX = 160, 200, 120, 64, 64
TEXT_MAX = 2000
UNITS_MAX = 100_000
AMOUNT_MAX = Decimal("10000000")  # 万元 or m²: far above any real project
CENT = Decimal("0.01")
DONE_STAGES = (ProjectStage.COMPLETED, ProjectStage.DELIVERED)

PROJECT_FIELDS = (
    "year",
    "name",
    "address",
    "district_id",
    "kind",
    "units",
    "floor_area",
    "investment",
    "start_by",
    "complete_by",
    "responsible_unit",
    "responsible_person",
    "implementer",
    "certificate",
    "remarks",
)


# --- reading values ------------------------------------------------------------------------


def _text(value: Any, field: str, limit: int, *, required: bool = True) -> str | None:
    text = (value or "").strip() if isinstance(value, str | None) else str(value).strip()
    if not text:
        if required:
            raise ValidationFailed(_l("This field is required."), field=field)
        return None
    if len(text) > limit:
        raise ValidationFailed(_l("At most %(max)d characters, please.", max=limit), field=field)
    return text


def _int(value: Any, field: str, low: int, high: int, message) -> int:
    if isinstance(value, bool):
        raise ValidationFailed(message, field=field)
    if isinstance(value, int):
        number = value
    else:
        text = str(value if value is not None else "").strip().replace(",", "")
        try:
            number = int(text)
        except ValueError as exc:
            raise ValidationFailed(message, field=field) from exc
    if not low <= number <= high:
        raise ValidationFailed(message, field=field)
    return number


def _amount(value: Any, field: str, message, *, required: bool = False) -> Decimal | None:
    """A non-negative Decimal with at most two places (万元, m²); never a float."""
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise ValidationFailed(message, field=field)
        return None
    if isinstance(value, float):
        raise ValidationFailed(message, field=field)
    try:
        number = Decimal(str(value).strip().replace(",", ""))
    except (InvalidOperation, ValueError) as exc:
        raise ValidationFailed(message, field=field) from exc
    if (
        not number.is_finite()
        or number < 0
        or number > AMOUNT_MAX
        or number != number.quantize(CENT)
    ):
        raise ValidationFailed(message, field=field)
    return number.quantize(CENT)


def _date(value: Any, field: str) -> date | None:
    if value is None or value == "":
        return None
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value).strip())
    except ValueError as exc:
        raise ValidationFailed(_l("Give a date like 2026-06-30."), field=field) from exc


def parse_month(value: Any, field: str = "month") -> date:
    """``2026-04`` (or a date) → 1 April 2026; ValidationFailed otherwise."""
    if isinstance(value, date):
        return value.replace(day=1)
    try:
        year, month = (int(p) for p in str(value or "").strip().split("-"))
        return date(year, month, 1)
    except (TypeError, ValueError) as exc:
        raise ValidationFailed(_l("Give a month like 2026-04."), field=field) from exc


def month_key(month: date) -> str:
    return month.strftime("%Y-%m")


def month_end(month: date) -> date:
    return month.replace(day=calendar.monthrange(month.year, month.month)[1])


def _clean(values: dict[str, Any]) -> dict[str, Any]:
    """The project's fields judged: the first bad one raises, naming its field."""
    out: dict[str, Any] = {"year": check_year(values.get("year"))}
    out["name"] = _text(values.get("name"), "name", NAME_MAX)
    out["address"] = _text(values.get("address"), "address", ADDRESS_MAX)
    district_id = values.get("district_id")
    try:
        district_id = int(district_id)
    except (TypeError, ValueError):
        district_id = None
    if district_id is None or db.session.get(District, district_id) is None:
        raise ValidationFailed(_l("Choose the district or county."), field="district_id")
    out["district_id"] = district_id
    try:
        kind = values.get("kind")
        out["kind"] = kind if isinstance(kind, ProjectKind) else ProjectKind(kind)
    except ValueError as exc:
        raise ValidationFailed(_l("Choose the type of project."), field="kind") from exc
    out["units"] = _int(
        values.get("units"),
        "units",
        1,
        UNITS_MAX,
        _l(
            "Give the number of units (套 or 间): a whole number from 1 to %(max)s.",
            max=f"{UNITS_MAX:,}",
        ),
    )
    out["floor_area"] = _amount(
        values.get("floor_area"),
        "floor_area",
        _l("Give the floor area in m², like 52300.50, or leave it blank."),
    )
    out["investment"] = _amount(
        values.get("investment"),
        "investment",
        _l("Give the planned investment in 10,000 yuan, like 25800.00, or leave it blank."),
    )
    out["start_by"] = _date(values.get("start_by"), "start_by")
    out["complete_by"] = _date(values.get("complete_by"), "complete_by")
    if out["start_by"] and out["complete_by"] and out["complete_by"] < out["start_by"]:
        raise ValidationFailed(
            _l("The planned completion cannot come before the start deadline."),
            field="complete_by",
        )
    out["responsible_unit"] = _text(values.get("responsible_unit"), "responsible_unit", UNIT_MAX)
    out["responsible_person"] = _text(
        values.get("responsible_person"), "responsible_person", PERSON_MAX
    )
    out["implementer"] = _text(values.get("implementer"), "implementer", UNIT_MAX)
    out["certificate"] = _text(
        values.get("certificate"), "certificate", CERTIFICATE_MAX, required=False
    )
    out["remarks"] = _text(values.get("remarks"), "remarks", TEXT_MAX, required=False)
    return out


# --- projects ------------------------------------------------------------------------------


def create_project(user: User, **values: Any) -> Project:
    """A new project of a year's plan (audited)."""
    clean = _clean(values)
    project = Project(**clean, created_by_id=user.id)
    db.session.add(project)
    db.session.flush()
    audit.record(
        "project.created",
        actor=user,
        obj=project,
        year=project.year,
        name=project.name,
        units=project.units,
    )
    return project


def update_project(project: Project, user: User, **values: Any) -> Project:
    """Change a project's facts (audited with what changed). Its units cannot fall below
    the units already recorded as started."""
    merged = {f: getattr(project, f) for f in PROJECT_FIELDS}
    merged.update({k: v for k, v in values.items() if k in PROJECT_FIELDS})
    clean = _clean(merged)
    started = db.session.scalar(
        sa.select(sa.func.max(ProjectProgress.units_started)).where(
            ProjectProgress.project_id == project.id
        )
    )
    if started and clean["units"] < started:
        raise ValidationFailed(
            _l(
                "%(num)d units are already recorded as started: the project cannot have fewer.",
                num=started,
            ),
            field="units",
        )
    changed = {}
    for name, value in clean.items():
        old = getattr(project, name)
        if old != value:
            changed[name] = [
                str(old) if old is not None else None,
                str(value) if value is not None else None,
            ]
            setattr(project, name, value)
    db.session.flush()
    if changed:
        audit.record("project.updated", actor=user, obj=project, changed=changed)
    return project


def is_late_to_start(project: Project, on: date | None = None) -> bool:
    """Past its start deadline (开工期限) and not started."""
    on = on or today()
    return project.start_by is not None and project.started_on is None and on > project.start_by


def latest_progress(project: Project, month: date | None = None) -> ProjectProgress | None:
    """The last record of ``project`` at or before ``month`` (None: the last of all)."""
    stmt = sa.select(ProjectProgress).where(ProjectProgress.project_id == project.id)
    if month is not None:
        stmt = stmt.where(ProjectProgress.month <= month)
    return db.session.scalars(stmt.order_by(ProjectProgress.month.desc()).limit(1)).first()


@dataclass(frozen=True)
class ProjectFilter:
    year: int
    district_id: int | None = None
    kind: ProjectKind | None = None
    late_only: bool = False


def find_projects(wanted: ProjectFilter) -> list[Project]:
    """The year's projects in the table's order (district, then as entered)."""
    stmt = (
        sa.select(Project)
        .join(District, District.id == Project.district_id)
        .where(Project.year == wanted.year)
    )
    if wanted.district_id is not None:
        stmt = stmt.where(Project.district_id == wanted.district_id)
    if wanted.kind is not None:
        stmt = stmt.where(Project.kind == wanted.kind)
    if wanted.late_only:
        stmt = stmt.where(
            Project.started_on.is_(None),
            Project.start_by.is_not(None),
            Project.start_by < today(),
        )
    return list(db.session.scalars(stmt.order_by(District.sort_order, Project.id)))


def latest_of(project_ids: list[int], month: date | None = None) -> dict[int, ProjectProgress]:
    """Each project's last record at or before ``month`` (None: the last of all), in one
    query."""
    if not project_ids:
        return {}
    stmt = sa.select(
        ProjectProgress.project_id, sa.func.max(ProjectProgress.month).label("month")
    ).where(ProjectProgress.project_id.in_(project_ids))
    if month is not None:
        stmt = stmt.where(ProjectProgress.month <= month)
    last = stmt.group_by(ProjectProgress.project_id).subquery()
    rows = db.session.scalars(
        sa.select(ProjectProgress).join(
            last,
            sa.and_(
                last.c.project_id == ProjectProgress.project_id,
                last.c.month == ProjectProgress.month,
            ),
        )
    )
    return {p.project_id: p for p in rows}


# --- progress ------------------------------------------------------------------------------


def record_progress(
    project: Project,
    user: User,
    *,
    month: Any,
    stage: Any,
    units_started: Any,
    units_completed: Any,
    investment_month: Any,
    problems: str | None = None,
    started_on: Any = None,
    completed_on: Any = None,
) -> ProjectProgress:
    """Record (or correct) the project's state at the end of ``month``. Cumulative units
    never exceed the project's units, completed never exceed started, and neither goes down
    from the month before nor above the month after. The project's start date is set when
    units are first started (the first day of that month, or ``started_on``), its completion
    date when it is first recorded basically completed (or ``completed_on``). Audited."""
    project = lock_row(Project, project.id)  # two people recording at once take turns
    month = parse_month(month)
    this_month = today().replace(day=1)
    if month > this_month:
        raise ValidationFailed(_l("You cannot record a month that has not begun."), field="month")
    if month.year < 2000:
        raise ValidationFailed(_l("Give a month like 2026-04."), field="month")
    try:
        stage = stage if isinstance(stage, ProjectStage) else ProjectStage(stage)
    except ValueError as exc:
        raise ValidationFailed(_l("Choose the stage."), field="stage") from exc
    too_many = _l("At most the project's %(num)d units.", num=project.units)
    started = _int(units_started, "units_started", 0, project.units, too_many)
    completed = _int(units_completed, "units_completed", 0, project.units, too_many)
    if completed > started:
        raise ValidationFailed(
            _l(
                "Units completed (%(completed)d) cannot be more than units started (%(started)d).",
                completed=completed,
                started=started,
            ),
            field="units_completed",
        )
    if stage in DONE_STAGES and completed < project.units:
        raise ValidationFailed(
            _l(
                "A project basically completed has all its %(num)d units completed.",
                num=project.units,
            ),
            field="units_completed",
        )
    if stage is not ProjectStage.PREPARING and started == 0:
        raise ValidationFailed(
            _l("Work has started: give the number of units started."), field="units_started"
        )
    investment = _amount(
        investment_month,
        "investment_month",
        _l("Give the investment of the month in 10,000 yuan, like 350.00 (0 if none)."),
        required=True,
    )
    problems = _text(problems, "problems", TEXT_MAX, required=False)
    started_on = _date(started_on, "started_on")
    completed_on = _date(completed_on, "completed_on")
    for name, day in (("started_on", started_on), ("completed_on", completed_on)):
        if day is not None and (day > today() or day > month_end(month)):
            raise ValidationFailed(
                _l("The date cannot be after the month recorded, nor after today."), field=name
            )
    records = list(
        db.session.scalars(
            sa.select(ProjectProgress)
            .where(ProjectProgress.project_id == project.id)
            .order_by(ProjectProgress.month)
        )
    )
    before = [r for r in records if r.month < month]
    after = [r for r in records if r.month > month]
    if before:
        prev = before[-1]
        for name, value, earlier, label in (
            ("units_started", started, prev.units_started, _l("Units started")),
            ("units_completed", completed, prev.units_completed, _l("Units completed")),
        ):
            if value < earlier:
                raise ValidationFailed(
                    _l(
                        "%(what)s cannot go down: %(month)s already recorded %(num)d.",
                        what=label,
                        month=month_key(prev.month),
                        num=earlier,
                    ),
                    field=name,
                )
    if after:
        nxt = after[0]
        for name, value, later, label in (
            ("units_started", started, nxt.units_started, _l("Units started")),
            ("units_completed", completed, nxt.units_completed, _l("Units completed")),
        ):
            if value > later:
                raise ValidationFailed(
                    _l(
                        "%(what)s cannot be more than the later month %(month)s recorded "
                        "(%(num)d): correct that month first.",
                        what=label,
                        month=month_key(nxt.month),
                        num=later,
                    ),
                    field=name,
                )
    states = {r.month: (r.units_started, r.stage) for r in records}
    states[month] = (started, stage)
    first_started = next((m for m in sorted(states) if states[m][0] > 0), None)
    first_done = next((m for m in sorted(states) if states[m][1] in DONE_STAGES), None)
    for name, day, first in (
        ("started_on", started_on, first_started),
        ("completed_on", completed_on, first_done),
    ):
        if day is not None and (first is None or day.replace(day=1) != first):
            raise ValidationFailed(
                _l(
                    "This date falls in the first month recorded as started (or as basically "
                    "completed); leave it blank until then."
                ),
                field=name,
            )
    record = next((r for r in records if r.month == month), None)
    corrected = record is not None
    if record is None:
        record = ProjectProgress(project_id=project.id, month=month)
        db.session.add(record)
        records.append(record)
        records.sort(key=lambda r: r.month)
    record.stage = stage
    record.units_started = started
    record.units_completed = completed
    record.investment_month = investment
    record.problems = problems
    record.recorded_by_id = user.id
    total = Decimal("0.00")
    for r in records:  # the cumulative investment of every month from here on
        total += r.investment_month or Decimal(0)
        r.investment_total = total
    project.started_on = _follow(project.started_on, first_started, started_on)
    project.completed_on = _follow(project.completed_on, first_done, completed_on)
    db.session.flush()
    audit.record(
        "project.progress_recorded",
        actor=user,
        obj=project,
        month=month_key(month),
        stage=stage.value,
        units_started=started,
        units_completed=completed,
        investment_month=str(investment),
        corrected=corrected,
    )
    return record


def _follow(current: date | None, first: date | None, given: date | None) -> date | None:
    """A project's start (or completion) date after a record: none before the first month
    that shows it, the date given, or the first day of that month unless the date kept
    already falls in it."""
    if first is None:
        return None
    if given is not None:
        return given
    if current is None or current.replace(day=1) != first:
        return first
    return current
