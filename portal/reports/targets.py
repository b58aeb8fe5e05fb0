"""A year's task table (年度工作任务目标分解表) and its deadlines by month.

The table has the shape of the city's plan (seed 001): one row for the units the city keeps
itself (市本级, ``Target.district_id`` NULL), one per district in ``sort_order``, a subtotal
of the urban districts and the development zone with the city's own share (市区合计), a
subtotal of the counties (各县合计) and the city's total; one column per ``TargetKind`` in
the plan's order, with the renovation starts' subtotal (开工任务小计 = carried + new) before
its two parts. Subtotals and totals are computed, never stored. A blank cell is no target;
a stored 0 is a target of none.

``set_targets`` and ``set_milestones`` replace a year's cells and deadlines in one go and
write one audit event each, saying what changed. The pages and the API call them.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from portal.accounts.models import District, DistrictKind, User
from portal.core import audit
from portal.core.errors import ValidationFailed
from portal.core.i18n import lazy_gettext as _l
from portal.extensions import db
from portal.reports.models import Target, TargetKind, TargetMilestone

YEAR_MIN, YEAR_MAX = 2000, 2100
UNITS_MAX = 1_000_000
CITY = "city"  # the row key of the city's own share

RENOVATION = _l("Shanty-town renovation")
SUBSIDY = _l("Rental subsidy")
PUBLIC_RENTAL = _l("Public rental housing")
AFFORDABLE_RENTAL = _l("Affordable rental housing")


@dataclass(frozen=True)
class Column:
    """A column of the task table: its key, its header under its group, its whole title (a
    flat header: spreadsheets), and the kinds it adds up (two for the starts' subtotal)."""

    key: str
    group: Any
    title: Any
    full_title: Any
    kinds: tuple[TargetKind, ...]

    @property
    def stored(self) -> bool:
        """A column of its own kind (editable), not a subtotal of others."""
        return len(self.kinds) == 1


K = TargetKind
COLUMNS: tuple[Column, ...] = (
    Column(
        "renovation_starts",
        RENOVATION,
        _l("Starts: subtotal"),
        _l("Shanty-town renovation starts: subtotal"),
        (K.RENOVATION_STARTS_CARRIED, K.RENOVATION_STARTS_NEW),
    ),
    Column(
        K.RENOVATION_STARTS_CARRIED.value,
        RENOVATION,
        _l("Starts added from earlier plans"),
        K.RENOVATION_STARTS_CARRIED.label,
        (K.RENOVATION_STARTS_CARRIED,),
    ),
    Column(
        K.RENOVATION_STARTS_NEW.value,
        RENOVATION,
        _l("Starts in this year's national plan"),
        K.RENOVATION_STARTS_NEW.label,
        (K.RENOVATION_STARTS_NEW,),
    ),
    Column(
        K.RENOVATION_COMPLETIONS.value,
        RENOVATION,
        _l("Completed"),
        K.RENOVATION_COMPLETIONS.label,
        (K.RENOVATION_COMPLETIONS,),
    ),
    Column(
        K.SUBSIDY_HOUSEHOLDS.value,
        SUBSIDY,
        _l("Households"),
        K.SUBSIDY_HOUSEHOLDS.label,
        (K.SUBSIDY_HOUSEHOLDS,),
    ),
    Column(
        K.PUBLIC_RENTAL_STARTS.value,
        PUBLIC_RENTAL,
        _l("New starts"),
        K.PUBLIC_RENTAL_STARTS.label,
        (K.PUBLIC_RENTAL_STARTS,),
    ),
    Column(
        K.PUBLIC_RENTAL_COMPLETIONS.value,
        PUBLIC_RENTAL,
        _l("Completed"),
        K.PUBLIC_RENTAL_COMPLETIONS.label,
        (K.PUBLIC_RENTAL_COMPLETIONS,),
    ),
    Column(
        K.NEW_ALLOCATIONS.value,
        PUBLIC_RENTAL,
        _l("Newly allocated and moved in"),
        K.NEW_ALLOCATIONS.label,
        (K.NEW_ALLOCATIONS,),
    ),
    Column(
        K.AFFORDABLE_RENTAL_STARTS.value,
        AFFORDABLE_RENTAL,
        _l("Units started"),
        K.AFFORDABLE_RENTAL_STARTS.label,
        (K.AFFORDABLE_RENTAL_STARTS,),
    ),
)
STORED_COLUMNS = tuple(c for c in COLUMNS if c.stored)
KIND_ORDER = {c.kinds[0]: i for i, c in enumerate(STORED_COLUMNS)}


def column_groups(columns: Iterable[Column] = COLUMNS) -> list[tuple[Any, int]]:
    """The header's first line: each group with the number of columns under it."""
    groups: list[tuple[Any, int]] = []
    for c in columns:
        if groups and str(groups[-1][0]) == str(c.group):
            groups[-1] = (groups[-1][0], groups[-1][1] + 1)
        else:
            groups.append((c.group, 1))
    return groups


# --- the table -----------------------------------------------------------------------------


@dataclass
class TableRow:
    """One line of the table. ``kind``: ``city``, ``district``, ``subtotal`` or ``total``;
    ``key``: the row's key in the edit grid (``city`` or a district's id), None for the
    computed lines. ``values``: column key → units (None: blank)."""

    label: str
    kind: str
    key: str | None = None
    district: District | None = None
    values: dict[str, int | None] = field(default_factory=dict)

    @property
    def computed(self) -> bool:
        return self.kind in ("subtotal", "total")


@dataclass(frozen=True)
class Milestone:
    kind: TargetKind
    by_month: int
    share_percent: int


@dataclass
class TargetTable:
    year: int
    rows: list[TableRow]
    milestones: list[Milestone]
    columns: tuple[Column, ...] = COLUMNS

    @property
    def empty(self) -> bool:
        return not any(
            v is not None for r in self.rows if not r.computed for v in r.values.values()
        )


def _row_values(cells: Mapping[TargetKind, int]) -> dict[str, int | None]:
    values: dict[str, int | None] = {}
    for c in COLUMNS:
        found = [cells[k] for k in c.kinds if k in cells]
        values[c.key] = sum(found) if found else None
    return values


def _sum_rows(rows: Iterable[TableRow]) -> dict[str, int | None]:
    rows = list(rows)
    out: dict[str, int | None] = {}
    for c in COLUMNS:
        found = [r.values[c.key] for r in rows if r.values.get(c.key) is not None]
        out[c.key] = sum(found) if found else None
    return out


def districts() -> list[District]:
    """Every district in the table's order."""
    return list(db.session.scalars(sa.select(District).order_by(District.sort_order, District.id)))


def cells_of(year: int) -> dict[int | None, dict[TargetKind, int]]:
    """The year's stored cells: district id (None: the city's own share) → kind → units."""
    out: dict[int | None, dict[TargetKind, int]] = {}
    for t in db.session.scalars(sa.select(Target).where(Target.year == year)):
        out.setdefault(t.district_id, {})[t.kind] = t.units
    return out


def milestones_of(year: int) -> list[Milestone]:
    """The year's deadlines, in the table's column order, then by month."""
    rows = db.session.scalars(sa.select(TargetMilestone).where(TargetMilestone.year == year))
    found = [Milestone(m.kind, m.by_month, m.share_percent) for m in rows]
    return sorted(found, key=lambda m: (KIND_ORDER[m.kind], m.by_month))


def targets_table(year: int, locale: str = "zh_Hans_CN") -> TargetTable:
    """The year's task table in the plan's shape: the city's total, the urban subtotal, the
    city's own share and the districts and zone, the counties' subtotal and the counties."""
    cells = cells_of(year)
    city = TableRow(
        str(_l("City level (the city's own share)")),
        "city",
        key=CITY,
        values=_row_values(cells.get(None, {})),
    )
    urban, counties = [city], []
    for d in districts():
        row = TableRow(
            d.name(locale),
            "district",
            key=str(d.id),
            district=d,
            values=_row_values(cells.get(d.id, {})),
        )
        (counties if d.kind is DistrictKind.COUNTY else urban).append(row)
    urban_total = TableRow(
        str(_l("Urban districts: subtotal")), "subtotal", values=_sum_rows(urban)
    )
    county_total = TableRow(str(_l("Counties: subtotal")), "subtotal", values=_sum_rows(counties))
    total = TableRow(str(_l("Whole city: total")), "total", values=_sum_rows([*urban, *counties]))
    rows = [total, urban_total, *urban]
    if counties:
        rows += [county_total, *counties]
    return TargetTable(year, rows, milestones_of(year))


# --- checking what was typed ---------------------------------------------------------------


def check_year(year: Any) -> int:
    """A plan year as an int, or ValidationFailed."""
    try:
        value = int(str(year).strip())
    except (TypeError, ValueError):
        value = None
    if value is None or not YEAR_MIN <= value <= YEAR_MAX:
        raise ValidationFailed(
            _l("Give a year between %(low)d and %(high)d.", low=YEAR_MIN, high=YEAR_MAX),
            field="year",
        )
    return value


def parse_units(raw: Any, *, field: str = "units") -> int | None:
    """What was typed in a cell: None when blank, else a whole number from 0 to 1,000,000."""
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None
    if isinstance(raw, bool):
        raise ValidationFailed(_l("Give a whole number of units, like 120."), field=field)
    if isinstance(raw, int):
        value = raw
    else:
        text = str(raw).strip().replace(",", "").replace("，", "")
        if not text.isdigit():
            if text.startswith("-") and text[1:].isdigit():
                raise ValidationFailed(_l("A target cannot be negative."), field=field)
            raise ValidationFailed(_l("Give a whole number of units, like 120."), field=field)
        value = int(text)
    if value < 0:
        raise ValidationFailed(_l("A target cannot be negative."), field=field)
    if value > UNITS_MAX:
        raise ValidationFailed(
            _l("A target is at most %(max)s units.", max=f"{UNITS_MAX:,}"), field=field
        )
    return value


def cell_name(row_key: str, kind: TargetKind) -> str:
    """The name of a grid input: ``cell-<row>-<kind>``."""
    return f"cell-{row_key}-{kind.value}"


@dataclass
class Grid:
    """The edit grid as typed: input name → text, and input name → error."""

    raw: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    cells: list[tuple[int | None, TargetKind, int]] = field(default_factory=list)


def read_grid(form: Mapping[str, str], rows: Iterable[TableRow]) -> Grid:
    """Every cell of the edit grid from the posted ``form``: the cells to keep, or an error
    per bad cell (all of them at once)."""
    grid = Grid()
    for row in rows:
        if row.computed:
            continue
        district_id = None if row.key == CITY else int(row.key)
        for c in STORED_COLUMNS:
            name = cell_name(row.key, c.kinds[0])
            text = (form.get(name) or "").strip()
            grid.raw[name] = text
            try:
                value = parse_units(text, field=name)
            except ValidationFailed as exc:
                grid.errors[name] = str(exc)
                continue
            if value is not None:
                grid.cells.append((district_id, c.kinds[0], value))
    return grid


def grid_of(table: TargetTable) -> Grid:
    """The edit grid filled with the year's stored cells."""
    grid = Grid()
    for row in table.rows:
        if row.computed:
            continue
        for c in STORED_COLUMNS:
            value = row.values.get(c.key)
            grid.raw[cell_name(row.key, c.kinds[0])] = "" if value is None else str(value)
    return grid


# --- changing a year -----------------------------------------------------------------------


def _kind(value: Any, field: str) -> TargetKind:
    try:
        return value if isinstance(value, TargetKind) else TargetKind(value)
    except ValueError as exc:
        raise ValidationFailed(_l("Choose a kind of task."), field=field) from exc


def set_targets(
    year: int, cells: Iterable[tuple[int | None, Any, Any]], user: User
) -> dict[str, int]:
    """Replace the year's task table with ``cells`` (district id or None, kind, units);
    a cell not given has no target afterwards. One audit event lists the changes. Returns
    the numbers of cells added, changed and removed."""
    year = check_year(year)
    known = set(db.session.scalars(sa.select(District.id)))
    wanted: dict[tuple[int | None, TargetKind], int] = {}
    problems = []
    for i, (district_id, kind, units) in enumerate(cells):
        try:
            if district_id is not None and district_id not in known:
                raise ValidationFailed(_l("No such district."), field="district")
            key = (district_id, _kind(kind, "kind"))
            if key in wanted:
                raise ValidationFailed(_l("A cell is given twice."), field="cells")
            value = parse_units(units)
            if value is None:
                continue
            wanted[key] = value
        except ValidationFailed as exc:
            problems.append(_l("Cell %(num)d: %(problem)s", num=i + 1, problem=exc.message))
    if problems:
        raise ValidationFailed(problems[0], field="cells", problems=problems)
    existing = {
        (t.district_id, t.kind): t
        for t in db.session.scalars(sa.select(Target).where(Target.year == year))
    }
    codes = {d.id: d.code for d in districts()}
    changes = []
    added = changed = removed = 0
    for key, target in existing.items():
        if key not in wanted:
            db.session.delete(target)
            removed += 1
            changes.append(f"{codes.get(key[0], 'city')}/{key[1].value}: {target.units}→")
        elif wanted[key] != target.units:
            changes.append(
                f"{codes.get(key[0], 'city')}/{key[1].value}: {target.units}→{wanted[key]}"
            )
            target.units = wanted[key]
            target.updated_by_id = user.id
            changed += 1
    db.session.flush()
    for key, units in wanted.items():
        if key not in existing:
            db.session.add(
                Target(
                    year=year, district_id=key[0], kind=key[1], units=units, updated_by_id=user.id
                )
            )
            added += 1
            changes.append(f"{codes.get(key[0], 'city')}/{key[1].value}: →{units}")
    db.session.flush()
    summary = {"added": added, "changed": changed, "removed": removed}
    if any(summary.values()):
        audit.record(
            "targets.set",
            actor=user,
            object_type="targets",
            object_id=year,
            year=year,
            **summary,
            changes=changes[:200],
        )
    return summary


def parse_milestone_row(kind: Any, month: Any, share: Any, *, prefix: str = "") -> Milestone | None:
    """One deadline as typed: None when the whole row is blank, else ValidationFailed naming
    the bad part (``prefix`` + ``kind``/``month``/``share``)."""
    blank = [v is None or not str(v).strip() for v in (kind, month, share)]
    if all(blank):
        return None
    if blank[0]:
        raise ValidationFailed(_l("Choose the kind of task."), field=prefix + "kind")
    kind = _kind(kind, prefix + "kind")
    try:
        by_month = int(str(month).strip())
    except (TypeError, ValueError):
        by_month = 0
    if not 1 <= by_month <= 12:
        raise ValidationFailed(_l("Choose a month from 1 to 12."), field=prefix + "month")
    try:
        share_percent = int(str(share).strip().rstrip("%"))
    except (TypeError, ValueError):
        share_percent = 0
    if not 1 <= share_percent <= 100:
        raise ValidationFailed(_l("Give a share from 1 to 100 (per cent)."), field=prefix + "share")
    return Milestone(kind, by_month, share_percent)


def check_milestones(rows: Iterable[Milestone]) -> list[Milestone]:
    """The year's deadlines, each kind and month once, a later month never asking for a
    smaller share; ValidationFailed otherwise."""
    rows = sorted(rows, key=lambda m: (KIND_ORDER[m.kind], m.by_month))
    for before, after in itertools.pairwise(rows):
        if before.kind is not after.kind:
            continue
        if before.by_month == after.by_month:
            raise ValidationFailed(
                _l(
                    "%(kind)s has two deadlines at the end of the same month.",
                    kind=after.kind.label,
                ),
                field="milestones",
            )
        if after.share_percent < before.share_percent:
            raise ValidationFailed(
                _l(
                    "%(kind)s: a later deadline cannot ask for a smaller share than an "
                    "earlier one.",
                    kind=after.kind.label,
                ),
                field="milestones",
            )
    return rows


def set_milestones(year: int, rows: Iterable[Milestone | tuple], user: User) -> dict[str, int]:
    """Replace the year's deadlines with ``rows`` (kind, month 1-12, share 1-100 per cent),
    audited when they change."""
    year = check_year(year)
    parsed = [r if isinstance(r, Milestone) else parse_milestone_row(*r) for r in rows]
    wanted = check_milestones(m for m in parsed if m is not None)
    before = milestones_of(year)
    if before == wanted:
        return {"milestones": len(wanted)}
    db.session.execute(sa.delete(TargetMilestone).where(TargetMilestone.year == year))
    db.session.flush()
    for m in wanted:
        db.session.add(
            TargetMilestone(
                year=year, kind=m.kind, by_month=m.by_month, share_percent=m.share_percent
            )
        )
    db.session.flush()
    audit.record(
        "targets.milestones_set",
        actor=user,
        object_type="target_milestones",
        object_id=year,
        year=year,
        before=[f"{m.kind.value}:{m.by_month}:{m.share_percent}" for m in before],
        after=[f"{m.kind.value}:{m.by_month}:{m.share_percent}" for m in wanted],
    )
    return {"milestones": len(wanted)}
