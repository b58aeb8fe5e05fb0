"""The embedded registry of department data (DESIGN.md convention 6): CSV import, bulk
writes and statistics behind ``flask portal registry``.

A department's CSV file has a header ``id_number,<the department's fact names>`` (see
``docs/department-data.md``); civil affairs gives ``spouse_id_number`` instead of the
spouse's mask. Every row is checked before anything is kept: one bad row and the whole
import (all files of it) leaves the registry as it was. The rows are stored keyed by the
blind index of the ID number; ``data_json`` never holds an ID number (a spouse becomes
``spouse_index`` + ``spouse_masked``).

The import streams the file and writes it in batches with a database upsert (PostgreSQL and
SQLite both have ``INSERT ... ON CONFLICT``), so 100,000 rows take a few hundred statements
and memory holds one batch plus the ID numbers seen so far (to catch duplicates).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from portal.accounts.services import id_index, validated_id_number
from portal.core import audit
from portal.core.clock import utcnow
from portal.core.errors import ValidationFailed
from portal.core.i18n import lazy_gettext as _l
from portal.core.identifiers import mask_id_number
from portal.extensions import db
from portal.verification.departments import Department
from portal.verification.fields import FACTS, MARITAL, Fact, parse_fact
from portal.verification.models import RegistryRecord

BATCH_ROWS = 1000
MAX_PROBLEMS_KEPT = 1000  # the count goes on; the list stops growing
SPOUSE_COLUMN = "spouse_id_number"
# facts the portal derives itself and that therefore never come from a file or a platform
DERIVED = frozenset({"spouse_index", "spouse_masked"})


def csv_columns(department: Department) -> tuple[str, ...]:
    """The header of ``<department>.csv``: the ID number, then the department's facts."""
    names = [f.name for f in FACTS[department] if f.name not in DERIVED]
    if department is Department.CIVIL_AFFAIRS:
        names.insert(1, SPOUSE_COLUMN)
    return ("id_number", *names)


def importable_facts(department: Department) -> tuple[Fact, ...]:
    """The facts a file or a platform gives for ``department`` (without derived ones)."""
    return tuple(f for f in FACTS[department] if f.name not in DERIVED)


def link_spouse(
    facts: dict[str, Any], spouse_number: str | None, index: Callable[[str], str] = id_index
) -> dict[str, Any]:
    """``facts`` with the spouse as blind index and mask, never as an ID number."""
    out = {k: v for k, v in facts.items() if k not in DERIVED and k != SPOUSE_COLUMN}
    if spouse_number:
        out["spouse_index"] = index(spouse_number)
        out["spouse_masked"] = mask_id_number(spouse_number)
    return out


def encode(facts: dict[str, Any]) -> str:
    """The stored form of one person's facts (empty values left out)."""
    return json.dumps(
        {k: v for k, v in facts.items() if v is not None}, sort_keys=True, ensure_ascii=False
    )


# --- problems ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    file: str
    line: int  # 0 when it concerns the file as a whole
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.message}"


@dataclass
class Problems:
    kept: list[Problem] = field(default_factory=list)
    total: int = 0

    def add(self, file: str, line: int, message: Any) -> None:
        self.total += 1
        if len(self.kept) < MAX_PROBLEMS_KEPT:
            self.kept.append(Problem(file, line, str(message)))

    def __bool__(self) -> bool:
        return self.total > 0


class RegistryImportError(Exception):
    """The files had problems; nothing was imported."""

    def __init__(self, problems: Problems) -> None:
        super().__init__(f"{problems.total} problem(s); nothing imported")
        self.problems = problems.kept
        self.total = problems.total


@dataclass(frozen=True)
class ImportResult:
    department: Department
    file: str
    rows: int
    added: int
    updated: int
    removed: int


# --- reading -------------------------------------------------------------------------------


def _header(department: Department, row: list[str], name: str, problems: Problems):
    columns = [c.strip().lower() for c in row]
    expected = csv_columns(department)
    unknown = [c for c in columns if c not in expected]
    missing = [c for c in expected if c not in columns]
    twice = sorted({c for c in columns if columns.count(c) > 1})
    if unknown or missing or twice:
        parts = []
        if unknown:
            parts.append(_l("unknown columns %(cols)s", cols=", ".join(unknown)))
        if missing:
            parts.append(_l("missing columns %(cols)s", cols=", ".join(missing)))
        if twice:
            parts.append(_l("repeated columns %(cols)s", cols=", ".join(twice)))
        problems.add(
            name,
            1,
            _l(
                "%(problems)s (expected: %(expected)s)",
                problems="; ".join(str(p) for p in parts),
                expected=",".join(expected),
            ),
        )
        return None
    return columns


def _parse_row(
    department: Department, columns: list[str], row: list[str]
) -> tuple[str, dict[str, Any]]:
    """The ID number and the stored facts of one row; ``ValidationFailed`` names the field."""
    values = dict(zip(columns, row, strict=True))
    number = validated_id_number(values["id_number"])
    facts = {f.name: parse_fact(f, values[f.name]) for f in importable_facts(department)}
    spouse = None
    if department is Department.CIVIL_AFFAIRS and values[SPOUSE_COLUMN].strip():
        spouse = validated_id_number(values[SPOUSE_COLUMN], field=SPOUSE_COLUMN)
        if spouse == number:
            raise ValidationFailed(_l("A person cannot be their own spouse."), field=SPOUSE_COLUMN)
        if facts.get("marital_status") != MARITAL[1]:
            raise ValidationFailed(
                _l("A spouse is given but the marital status is not “married”."),
                field=SPOUSE_COLUMN,
            )
    return number, link_spouse(facts, spouse)


def read_csv(department: Department, path: Path, problems: Problems) -> Iterator[tuple[str, str]]:
    """``(id_index, data_json)`` for each good row of ``path``; bad rows go to ``problems``.

    UTF-8 with or without a byte-order mark; blank lines are skipped.
    """
    name = path.name
    seen: dict[str, int] = {}  # ID number -> line, to refuse a person listed twice
    with path.open(encoding="utf-8-sig", newline="") as fh:
        reader = csv.reader(fh)
        try:
            first = next(reader, None)
            if first is None:
                problems.add(name, 1, _l("The file is empty; it needs a header line."))
                return
            columns = _header(department, first, name, problems)
            if columns is None:
                return
            for row in reader:
                if not any(cell.strip() for cell in row):
                    continue
                line = reader.line_num
                if len(row) != len(columns):
                    problems.add(
                        name,
                        line,
                        _l(
                            "%(found)d fields where the header has %(expected)d.",
                            found=len(row),
                            expected=len(columns),
                        ),
                    )
                    continue
                try:
                    number, facts = _parse_row(department, columns, row)
                except ValidationFailed as exc:
                    problems.add(name, line, f"{exc.field}: {exc.message}")
                    continue
                if number in seen:
                    problems.add(
                        name,
                        line,
                        _l("This person is already on line %(line)d.", line=seen[number]),
                    )
                    continue
                seen[number] = line
                yield id_index(number), encode(facts)
        except UnicodeDecodeError:
            problems.add(name, reader.line_num + 1, _l("The file is not UTF-8 text."))
        except csv.Error as exc:
            problems.add(name, reader.line_num, _l("Not a valid CSV line: %(error)s", error=exc))


# --- writing -------------------------------------------------------------------------------


def _insert(dialect: str):
    inserts = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}
    if dialect not in inserts:
        raise RuntimeError(f"the registry import supports PostgreSQL and SQLite, not {dialect}")
    return inserts[dialect](RegistryRecord.__table__)


def write_records(
    department: Department,
    rows: Iterable[tuple[str, str]],
    *,
    source_file: str | None,
    overwrite: bool = True,
    stop: Callable[[], bool] = lambda: False,
    imported_at: datetime | None = None,
) -> int:
    """Store ``(id_index, data_json)`` rows in batches; returns how many rows were read.

    ``overwrite`` replaces the facts of a person already in the registry; without it such a
    person is left as they are. Once ``stop()`` is true nothing more is written, but the rows
    are still read (so every problem of a bad file is found).
    """
    stmt = _insert(db.session.get_bind().dialect.name)
    key = ["department", "id_index"]
    if overwrite:
        ex = stmt.excluded
        stmt = stmt.on_conflict_do_update(
            index_elements=key,
            set_={
                "data_json": ex.data_json,
                "imported_at": ex.imported_at,
                "source_file": ex.source_file,
            },
        )
    else:
        stmt = stmt.on_conflict_do_nothing(index_elements=key)
    now = imported_at or utcnow()
    source = (source_file or "")[:200] or None
    batch: list[dict[str, Any]] = []
    count = 0

    def flush() -> None:
        if batch and not stop():
            db.session.execute(stmt, batch)
        batch.clear()

    for index, data_json in rows:
        count += 1
        batch.append(
            {
                "department": department,
                "id_index": index,
                "data_json": data_json,
                "imported_at": now,
                "source_file": source,
            }
        )
        if len(batch) >= BATCH_ROWS:
            flush()
    flush()
    return count


def count_records(department: Department) -> int:
    return db.session.scalar(
        sa.select(sa.func.count())
        .select_from(RegistryRecord)
        .where(RegistryRecord.department == department)
    )


def import_files(
    files: list[tuple[Department, Path]], *, replace: bool = False, actor: Any = None
) -> list[ImportResult]:
    """Import department CSV files, all or nothing.

    Without ``replace`` a file adds new people and replaces the facts of people already in
    the registry; with it, the file becomes the department's whole registry (people not in
    it are removed). Raises :class:`RegistryImportError` with every problem (line numbers
    included) and leaves the registry untouched when any row of any file is bad.
    """
    db.session.flush()
    problems = Problems()
    results: list[ImportResult] = []
    now = utcnow()  # also marks this import's rows, so --replace can remove the others
    try:
        with db.session.begin_nested():
            for department, path in files:
                before = count_records(department)
                rows = write_records(
                    department,
                    read_csv(department, path, problems),
                    source_file=path.name,
                    stop=lambda: bool(problems),
                    imported_at=now,
                )
                if problems:
                    continue
                added = count_records(department) - before
                removed = 0
                if replace:
                    removed = db.session.execute(
                        sa.delete(RegistryRecord).where(
                            RegistryRecord.department == department,
                            RegistryRecord.imported_at != now,
                        ),
                        execution_options={"synchronize_session": False},
                    ).rowcount
                results.append(
                    ImportResult(department, path.name, rows, added, rows - added, removed)
                )
            if problems:
                raise RegistryImportError(problems)
    finally:
        # the upserts went around the ORM: objects already loaded must not show stale facts
        for obj in [o for o in db.session.identity_map.values() if isinstance(o, RegistryRecord)]:
            db.session.expire(obj)
    for r in results:
        audit.record(
            "registry.import",
            actor=actor,
            department=r.department.value,
            file=r.file,
            rows=r.rows,
            added=r.added,
            updated=r.updated,
            removed=r.removed,
            replace=replace,
        )
    return results


def department_file(path: Path) -> Department | None:
    """The department a file ``<department>.csv`` is for, or ``None``."""
    if path.suffix.lower() != ".csv":
        return None
    try:
        return Department(path.stem.lower())
    except ValueError:
        return None


def folder_files(folder: Path) -> tuple[list[tuple[Department, Path]], list[str]]:
    """The department files of ``folder`` in department order, and the names of ``.csv``
    files that are not named after a department (a typo must not be skipped silently)."""
    found: dict[Department, Path] = {}
    strays: list[str] = []
    for path in sorted(folder.iterdir()):
        if not path.is_file() or path.suffix.lower() != ".csv":
            continue
        dept = department_file(path)
        if dept is None:
            strays.append(path.name)
        else:
            found[dept] = path
    return [(d, found[d]) for d in Department if d in found], strays


@dataclass(frozen=True)
class DepartmentStats:
    department: Department
    records: int
    last_import: datetime | None
    last_file: str | None


def stats() -> list[DepartmentStats]:
    """Per department: how many people the registry knows and when it was last imported."""
    counts = {
        dept: (n, last)
        for dept, n, last in db.session.execute(
            sa.select(
                RegistryRecord.department,
                sa.func.count(),
                sa.func.max(RegistryRecord.imported_at),
            ).group_by(RegistryRecord.department)
        )
    }
    out = []
    for dept in Department:
        n, last = counts.get(dept, (0, None))
        last_file = None
        if n:
            last_file = db.session.scalar(
                sa.select(RegistryRecord.source_file)
                .where(RegistryRecord.department == dept)
                .order_by(RegistryRecord.imported_at.desc(), RegistryRecord.id.desc())
                .limit(1)
            )
        out.append(DepartmentStats(dept, n, last, last_file))
    return out
