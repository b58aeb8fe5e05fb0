"""Importing the housing stock from a spreadsheet: CSV (UTF-8, with or without BOM) or XLSX.

One row is one unit; its estate and building are created on the way when they are new, and a
unit already known by (estate code, building, unit number) is updated. The import is all or
nothing: every row is checked first, with the same rules as the forms
(``portal.housing.services``), and if any row is wrong nothing is written and each problem is
reported with its row and column. The file format is described in docs/housing-import.md.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import IO, Any

import sqlalchemy as sa
from flask_babel import format_decimal
from werkzeug.datastructures import FileStorage

from portal.accounts.models import District, User
from portal.applications.models import Programme
from portal.core import audit
from portal.core.clock import today
from portal.core.errors import Forbidden, ValidationFailed
from portal.core.i18n import lazy_gettext as _l
from portal.core.spreadsheets import csv_template
from portal.extensions import db
from portal.housing import services
from portal.housing.models import Building, Estate, Unit, UnitStatus
from portal.tenancy.models import Lease, LeaseStatus

MAX_BYTES = 5 * 1024 * 1024
MAX_ROWS = 20_000
MAX_COLUMNS = 40  # columns read from a row; anything wider is not one of ours
SHOWN_ERRORS = 200  # a file with thousands of mistakes has one mistake made thousands of times

# Canonical column name → the Chinese header also accepted.
COLUMNS = {
    "estate_code": "小区编码",
    "estate_name": "小区名称",
    "district_code": "区县代码",
    "address": "地址",
    "programme": "保障类型",
    "building": "楼栋",
    "unit_number": "房号",
    "floor": "楼层",
    "area": "面积",
    "rooms": "户型室数",
    "accessible": "无障碍",
    "rent": "月租金",
    "status": "状态",
    "vacated_on": "腾退日期",
}
REQUIRED = (
    "estate_code",
    "estate_name",
    "district_code",
    "address",
    "building",
    "unit_number",
    "floor",
    "area",
    "rooms",
    "rent",
)
EXAMPLE = {
    "estate_code": "GL-XF-001",
    "estate_name": "秀峰安居小区",
    "district_code": "450302",
    "address": "桂林市秀峰区中山北路88号",
    "programme": "public_rental",
    "building": "1栋",
    "unit_number": "1-0101",
    "floor": "1",
    "area": "45.50",
    "rooms": "2",
    "accessible": "是",
    "rent": "455.00",
    "status": "vacant",
    "vacated_on": "",
}
STATUS_WORDS = {
    "vacant": UnitStatus.VACANT,
    "空置": UnitStatus.VACANT,
    "待租": UnitStatus.VACANT,
    "maintenance": UnitStatus.MAINTENANCE,
    "维修": UnitStatus.MAINTENANCE,
    "维修中": UnitStatus.MAINTENANCE,
    "under repair": UnitStatus.MAINTENANCE,
    "occupied": UnitStatus.OCCUPIED,
    "已出租": UnitStatus.OCCUPIED,
    "已租": UnitStatus.OCCUPIED,
    "let": UnitStatus.OCCUPIED,
}
XLSX_MAGIC = b"PK\x03\x04"


@dataclass(frozen=True)
class RowError:
    """One problem: the spreadsheet row (the header is row 1), the column as the file names
    it (None: the whole row or file) and a translated message."""

    row: int
    column: str | None
    message: Any


@dataclass
class ImportResult:
    rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    estates_created: int = 0
    buildings_created: int = 0
    errors: list[RowError] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def shown_errors(self) -> list[RowError]:
        return self.errors[:SHOWN_ERRORS]


# --- reading the file ---------------------------------------------------------------------


def _normalise(header: Any) -> str:
    text = str(header or "").replace("\ufeff", "").strip().rstrip("*").strip()
    text = re.sub(r"[(（][^)）]*[)）]$", "", text).strip()  # 面积(m²), rent (yuan)
    return re.sub(r"[\s-]+", "_", text.lower())


HEADER_NAMES = {
    **{name: name for name in COLUMNS},
    **{_normalise(zh): name for name, zh in COLUMNS.items()},
}


def _read_bytes(source: FileStorage | bytes | IO[bytes]) -> bytes:
    if isinstance(source, bytes | bytearray):
        data = bytes(source)
    else:
        stream = source.stream if isinstance(source, FileStorage) else source
        data = stream.read(MAX_BYTES + 1)
    if len(data) > MAX_BYTES:
        raise ValidationFailed(
            _l(
                "The file is larger than %(size)s MB. Split it into smaller files.",
                size=MAX_BYTES // (1024 * 1024),
            ),
            field="file",
        )
    if not data.strip():
        raise ValidationFailed(_l("The file is empty."), field="file")
    return data


def _csv_rows(data: bytes) -> Iterator[list[Any]]:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        # Excel in a Chinese locale saves "CSV" as GB18030; a header check follows anyway.
        try:
            text = data.decode("gb18030")
        except UnicodeDecodeError:
            raise ValidationFailed(
                _l("The file is not UTF-8 text. In Excel, save it as “CSV UTF-8”, or upload XLSX."),
                field="file",
            ) from None
    first = text.split("\n", 1)[0]
    delimiter = ","
    if "," not in first:
        delimiter = "\t" if "\t" in first else (";" if ";" in first else ",")
    try:
        yield from csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    except csv.Error:
        raise ValidationFailed(
            _l("The file could not be read as CSV. Save it again from the template."),
            field="file",
        ) from None


def _xlsx_rows(data: bytes) -> Iterator[list[Any]]:
    from openpyxl import load_workbook

    try:
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception:  # openpyxl raises many kinds for a damaged file
        raise ValidationFailed(
            _l("The file could not be read as an Excel workbook (XLSX)."), field="file"
        ) from None
    try:
        sheet = book.worksheets[0]
        for values in sheet.iter_rows(values_only=True, max_col=MAX_COLUMNS):
            yield list(values)
    finally:
        book.close()


def _rows_of(data: bytes, filename: str) -> Iterator[list[Any]]:
    name = (filename or "").lower()
    if data.startswith(XLSX_MAGIC):
        return _xlsx_rows(data)
    if name.endswith((".xlsx", ".xls", ".xlsm")) or data.startswith(b"\xd0\xcf\x11\xe0"):
        raise ValidationFailed(
            _l("Only CSV or XLSX files can be imported. Save older Excel files as XLSX."),
            field="file",
        )
    return _csv_rows(data)


def _blank(values: list[Any]) -> bool:
    return all(v is None or str(v).strip() == "" for v in values)


# --- checking -----------------------------------------------------------------------------


@dataclass
class _Row:
    number: int
    estate_code: str
    district: District
    estate_name: str
    address: str
    programme: Programme | None  # None: no such column, a known estate keeps its own
    building: str
    unit_number: str
    floor: int
    area: Any
    rooms: int
    accessible: bool | None  # None: no such column, a known unit keeps its own
    rent: Any
    status: UnitStatus | None
    vacated_on: date | None


def parse_status(value: Any) -> UnitStatus | None:
    word = str(value or "").strip().lower()
    if not word:
        return None
    found = STATUS_WORDS.get(word)
    if found is None:
        raise ValidationFailed(
            _l("The status is vacant (空置), maintenance (维修中) or occupied (已出租)."),
            field="status",
        )
    return found


class _Checker:
    """Checks rows one by one and keeps every problem with its row and column."""

    def __init__(self, actor: User | None, headers: dict[str, str]) -> None:
        self.actor = actor  # None: the command line, which works for the whole city
        self.headers = headers  # canonical → as written in the file
        self.errors: list[RowError] = []
        self.districts = {d.code: d for d in db.session.scalars(sa.select(District))}

    def covers(self, district_id: int) -> bool:
        return self.actor is None or services.covers_district(self.actor, district_id)

    def error(self, row: int, column: str | None, message) -> None:
        self.errors.append(RowError(row, self.headers.get(column, column), message))

    def _district(self, value: Any) -> District:
        code = str(int(value)) if isinstance(value, float) and value.is_integer() else value
        code = str(code or "").strip()
        found = self.districts.get(code)
        if found is None:
            raise ValidationFailed(
                _l("There is no district with the code “%(code)s”.", code=code[:20]),
                field="district",
            )
        return found

    def row(self, number: int, cells: dict[str, Any]) -> _Row | None:
        parsers = {
            "estate_code": services.parse_code,
            "district_code": self._district,
            "estate_name": services.parse_estate_name,
            "address": services.parse_address,
            "programme": services.parse_programme,
            "building": services.parse_building_name,
            "unit_number": services.parse_unit_number,
            "floor": services.parse_floor,
            "area": services.parse_area,
            "rooms": services.parse_rooms,
            "accessible": services.parse_flag,
            "rent": services.parse_rent,
            "status": parse_status,
            "vacated_on": services.parse_date,
        }
        values, ok = {}, True
        for column, parse in parsers.items():
            if column not in self.headers:
                values[column] = None  # an optional column the file does not have
                continue
            try:
                values[column] = parse(cells.get(column))
            except ValidationFailed as exc:
                self.error(number, column, exc.message)
                ok = False
        if not ok:
            return None
        district = values.pop("district_code")
        if not self.covers(district.id):
            self.error(
                number,
                "district_code",
                _l(
                    "You may import units of your own districts only, not of %(district)s.",
                    district=district.name_zh,
                ),
            )
            return None
        if values["programme"] not in (None, *services.HOUSING_PROGRAMMES):
            self.error(number, "programme", _l("A rental subsidy has no housing stock."))
            return None
        if values["status"] is UnitStatus.OCCUPIED and values["vacated_on"] is not None:
            self.error(number, "vacated_on", _l("A let unit has no vacated date: leave it blank."))
            return None
        return _Row(number=number, district=district, **values)


def read_header(
    rows: Iterator[list[Any]],
    names: Mapping[str, str],
    required: Iterable[str],
    columns: Mapping[str, str],
) -> tuple[dict[str, int], dict[str, str], int]:
    """Read a file's header: its first row that is not blank, whose cells ``names`` maps
    (normalised) to the canonical column names; other cells are ignored. Returns where each
    column is, each column's header as the file writes it, and the header's row number
    (``rows`` goes on after it). A column twice, or a ``required`` one missing (named with
    its Chinese header from ``columns``), is refused."""
    header_row = None
    number = 0
    for values in rows:
        number += 1
        if not _blank(values):
            header_row = values
            break
    if header_row is None:
        raise ValidationFailed(_l("The file has no header row."), field="file")
    positions: dict[str, int] = {}
    headers: dict[str, str] = {}
    for i, cell in enumerate(header_row):
        name = names.get(_normalise(cell))
        if name is None:
            continue
        if name in positions:
            raise ValidationFailed(
                _l("The column %(column)s appears twice.", column=str(cell).strip()), field="file"
            )
        positions[name] = i
        headers[name] = str(cell).replace("\ufeff", "").strip()
    missing = [n for n in required if n not in positions]
    if missing:
        raise ValidationFailed(
            _l(
                "The header row lacks these columns: %(columns)s. Start from the template.",
                columns=", ".join(f"{n} ({columns[n]})" for n in missing),
            ),
            field="file",
        )
    return positions, headers, number


def _check_file(rows: Iterator[list[Any]], checker_for) -> tuple[list[_Row], _Checker, int]:
    """Read the header, then check each row; blank rows are skipped (still counted, so the
    row numbers match what a spreadsheet shows)."""
    positions, headers, number = read_header(rows, HEADER_NAMES, REQUIRED, COLUMNS)
    checker = checker_for(headers)
    checked: list[_Row] = []
    count = 0
    for values in rows:
        number += 1
        if _blank(values):
            continue
        count += 1
        if count > MAX_ROWS:
            raise ValidationFailed(
                _l(
                    "The file has more than %(count)s units. Split it into smaller files.",
                    count=format_decimal(MAX_ROWS),
                ),
                field="file",
            )
        cells = {n: (values[i] if i < len(values) else None) for n, i in positions.items()}
        row = checker.row(number, cells)
        if row is not None:
            checked.append(row)
    if count == 0:
        raise ValidationFailed(_l("The file has a header but no units."), field="file")
    return checked, checker, count


@dataclass
class _Plan:
    """What the rows amount to, against what the database holds."""

    estates: dict[str, Estate]
    buildings: dict[tuple[str, str], Building]
    units: dict[tuple[str, str, str], Unit]
    leased: set[int]


def _load_existing(rows: list[_Row]) -> _Plan:
    codes = sorted({r.estate_code for r in rows})
    estates: dict[str, Estate] = {}
    for i in range(0, len(codes), 500):
        for e in db.session.scalars(sa.select(Estate).where(Estate.code.in_(codes[i : i + 500]))):
            estates[e.code] = e
    by_id = {e.id: e for e in estates.values()}
    buildings: dict[tuple[str, str], Building] = {}
    units: dict[tuple[str, str, str], Unit] = {}
    leased: set[int] = set()
    if by_id:
        for b in db.session.scalars(sa.select(Building).where(Building.estate_id.in_(by_id))):
            buildings[(by_id[b.estate_id].code, b.name)] = b
        names = {b.id: key for key, b in buildings.items()}
        for u in db.session.scalars(sa.select(Unit).where(Unit.estate_id.in_(by_id))):
            code, building = names[u.building_id]
            units[(code, building, u.number)] = u
        leased = set(
            db.session.scalars(
                sa.select(Lease.unit_id)
                .join(Unit, Unit.id == Lease.unit_id)
                .where(Unit.estate_id.in_(by_id), Lease.status == LeaseStatus.ACTIVE)
            )
        )
    return _Plan(estates, buildings, units, leased)


def _cross_check(rows: list[_Row], checker: _Checker, plan: _Plan) -> None:
    """Problems between rows, and between a row and what the database holds."""
    first_of_unit: dict[tuple[str, str, str], int] = {}
    first_of_estate: dict[str, _Row] = {}
    for r in rows:
        key = (r.estate_code, r.building, r.unit_number)
        if key in first_of_unit:
            checker.error(
                r.number,
                "unit_number",
                _l("The same unit is already in row %(row)d.", row=first_of_unit[key]),
            )
            continue
        first_of_unit[key] = r.number
        first = first_of_estate.setdefault(r.estate_code, r)
        if first is not r:
            for column, mine, theirs in (
                ("district_code", r.district.code, first.district.code),
                ("estate_name", r.estate_name, first.estate_name),
                ("address", r.address, first.address),
                ("programme", r.programme, first.programme),
            ):
                if mine != theirs:
                    checker.error(
                        r.number,
                        column,
                        _l(
                            "Estate %(code)s has a different value in row %(row)d.",
                            code=r.estate_code,
                            row=first.number,
                        ),
                    )
        estate = plan.estates.get(r.estate_code)
        if estate is not None:
            if not checker.covers(estate.district_id):
                checker.error(
                    r.number,
                    "estate_code",
                    _l("Estate %(code)s belongs to another district.", code=r.estate_code),
                )
                continue
            if estate.district_id != r.district.id:
                checker.error(
                    r.number,
                    "district_code",
                    _l(
                        "Estate %(code)s is in district %(district)s; change its district on "
                        "the estate's page.",
                        code=r.estate_code,
                        district=estate.district.code,
                    ),
                )
        unit = plan.units.get(key)
        if unit is not None:
            _check_existing_unit(r, unit, checker, plan)


def _check_existing_unit(r: _Row, unit: Unit, checker: _Checker, plan: _Plan) -> None:
    if unit.status is UnitStatus.IN_ROUND and r.status is not None:
        checker.error(
            r.number,
            "status",
            _l("This unit is offered in a round: leave its status blank until the round ends."),
        )
        return
    if (
        unit.status is UnitStatus.OCCUPIED
        and r.status not in (None, UnitStatus.OCCUPIED)
        and unit.id in plan.leased
    ):
        checker.error(
            r.number, "status", _l("This unit has a lease in force; end the lease first.")
        )
        return
    staying = r.status or unit.status
    locked = unit.status is UnitStatus.IN_ROUND or (
        unit.status is UnitStatus.OCCUPIED and staying is UnitStatus.OCCUPIED
    )
    if locked:
        for column, attr, new in (
            ("area", "area", r.area),
            ("rooms", "rooms", r.rooms),
            ("rent", "rent", r.rent),
        ):
            if getattr(unit, attr) != new:
                checker.error(
                    r.number,
                    column,
                    _l(
                        "The area, rooms and rent of a unit cannot change while it is offered "
                        "in a round or let (now: %(status)s).",
                        status=unit.status.label,
                    ),
                )
    if staying is UnitStatus.OCCUPIED and r.vacated_on is not None:
        checker.error(r.number, "vacated_on", _l("A let unit has no vacated date: leave it blank."))


# --- writing ------------------------------------------------------------------------------


def _write(rows: list[_Row], plan: _Plan, result: ImportResult) -> None:
    estates_changed: set[str] = set()
    for r in rows:
        estate = plan.estates.get(r.estate_code)
        if estate is None:
            estate = Estate(
                code=r.estate_code,
                name=r.estate_name,
                district_id=r.district.id,
                address=r.address,
                programme=r.programme or Programme.PUBLIC_RENTAL,
            )
            db.session.add(estate)
            plan.estates[r.estate_code] = estate
            result.estates_created += 1
        elif r.estate_code not in estates_changed:
            estates_changed.add(r.estate_code)
            estate.name, estate.address = r.estate_name, r.address
            if r.programme is not None:
                estate.programme = r.programme
        key = (r.estate_code, r.building)
        building = plan.buildings.get(key)
        if building is None:
            building = Building(estate=estate, name=r.building)
            db.session.add(building)
            plan.buildings[key] = building
            result.buildings_created += 1
        unit = plan.units.get((r.estate_code, r.building, r.unit_number))
        if unit is None:
            status = r.status or UnitStatus.VACANT
            db.session.add(
                Unit(
                    estate=estate,
                    building=building,
                    number=r.unit_number,
                    floor=r.floor,
                    area=r.area,
                    rooms=r.rooms,
                    accessible=bool(r.accessible),
                    rent=r.rent,
                    status=status,
                    vacated_on=None if status is UnitStatus.OCCUPIED else r.vacated_on,
                )
            )
            result.created += 1
        elif _update(unit, r):
            result.updated += 1
        else:
            result.unchanged += 1
    db.session.flush()


def _update(unit: Unit, r: _Row) -> bool:
    new = {"floor": r.floor, "area": r.area, "rooms": r.rooms, "rent": r.rent}
    if r.accessible is not None:
        new["accessible"] = r.accessible
    if r.status is not None and r.status is not unit.status:
        new["status"] = r.status
        if r.status is UnitStatus.OCCUPIED:
            new["vacated_on"] = None
        elif unit.status is UnitStatus.OCCUPIED:
            new["vacated_on"] = r.vacated_on or today()
    if r.vacated_on is not None and (r.status or unit.status) is not UnitStatus.OCCUPIED:
        new["vacated_on"] = r.vacated_on
    changed = False
    for attr, value in new.items():
        if getattr(unit, attr) != value:
            setattr(unit, attr, value)
            changed = True
    return changed


# --- the service --------------------------------------------------------------------------


def import_units(
    source: FileStorage | bytes | IO[bytes], filename: str, actor: User | str
) -> ImportResult:
    """Check every row of the file; if all are right, create or update the units (and their
    estates and buildings) and return the counts, else write nothing and return the errors.

    A file that cannot be read at all (too large, wrong type, missing columns, too many rows)
    raises ValidationFailed. ``actor`` is a staff member (an officer imports only rows of their
    districts) or, from the command line, a label such as ``"cli"`` (city-wide).
    """
    cli = isinstance(actor, str)
    if not cli and not services.may_work_on_stock(actor):
        raise Forbidden()
    data = _read_bytes(source)
    rows, checker, count = _check_file(
        _rows_of(data, filename), lambda headers: _Checker(None if cli else actor, headers)
    )
    plan = _load_existing(rows)
    _cross_check(rows, checker, plan)
    result = ImportResult(rows=count)
    name = _display_name(filename)
    if checker.errors:
        result.errors = sorted(checker.errors, key=lambda e: e.row)
        audit.record(
            "housing.import",
            actor=actor,
            result="rejected",
            file=name,
            rows=count,
            errors=len(result.errors),
        )
        return result
    _write(rows, plan, result)
    audit.record(
        "housing.import",
        actor=actor,
        file=name,
        rows=count,
        created=result.created,
        updated=result.updated,
        unchanged=result.unchanged,
        estates_created=result.estates_created,
        buildings_created=result.buildings_created,
    )
    return result


def _display_name(raw: str) -> str:
    base = (raw or "").replace("\\", "/").rsplit("/", 1)[-1]
    return "".join(c for c in base if c.isprintable())[:200]


# --- the template -------------------------------------------------------------------------


def template_csv(chinese: bool) -> str:
    """The import template: the header row (Chinese or English names) and one example row,
    UTF-8 with a BOM so that Excel opens it right."""
    return csv_template(COLUMNS, EXAMPLE, chinese)
