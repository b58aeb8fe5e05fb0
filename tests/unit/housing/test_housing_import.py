"""Importing the stock from CSV or XLSX: all rows or none, each problem with its row and column."""

from __future__ import annotations

import io
from datetime import date, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa
from openpyxl import Workbook

from portal.accounts.roles import Role
from portal.applications.models import Programme
from portal.core.audit import AuditEvent
from portal.core.clock import today
from portal.core.errors import Forbidden, ValidationFailed
from portal.extensions import db
from portal.housing import imports
from portal.housing.imports import import_units
from portal.housing.models import Building, Estate, Unit, UnitStatus
from tests.factories import DistrictFactory
from tests.factories.fixtures import make_staff
from tests.factories.housing import BuildingFactory, EstateFactory, UnitFactory

HEADER = [
    "estate_code",
    "estate_name",
    "district_code",
    "address",
    "programme",
    "building",
    "unit_number",
    "floor",
    "area",
    "rooms",
    "accessible",
    "rent",
    "status",
    "vacated_on",
]
ZH_HEADER = [imports.COLUMNS[c] for c in HEADER]


@pytest.fixture
def district():
    return DistrictFactory(code="450302")


@pytest.fixture
def officer(district):
    return make_staff(Role.OFFICER, districts=[district])


def row(district_code="450302", **overrides):
    values = {
        "estate_code": "GL-XF-001",
        "estate_name": "丽泽苑",
        "district_code": district_code,
        "address": "桂林市秀峰区丽君路32号",
        "programme": "public_rental",
        "building": "1栋",
        "unit_number": "1-0101",
        "floor": "1",
        "area": "45.50",
        "rooms": "2",
        "accessible": "是",
        "rent": "455.00",
        "status": "",
        "vacated_on": "",
    }
    values.update(overrides)
    return [values[c] for c in HEADER]


def csv_bytes(rows, header=HEADER, bom=False) -> bytes:
    lines = [",".join(header), *(",".join(str(v) for v in r) for r in rows)]
    text = "\r\n".join(lines) + "\r\n"
    return (("\ufeff" if bom else "") + text).encode("utf-8")


def xlsx_bytes(rows, header=HEADER) -> bytes:
    book = Workbook()
    sheet = book.active
    sheet.append(header)
    for r in rows:
        sheet.append(r)
    buf = io.BytesIO()
    book.save(buf)
    return buf.getvalue()


def count(model) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(model))


def three_units():
    return [
        row(),
        row(unit_number="1-0102", area="38.20", rooms="1", rent="382", accessible="否"),
        row(building="2栋", unit_number="2-0301", floor="3", area="59.9", rooms="3", rent="599"),
    ]


# --- happy paths --------------------------------------------------------------------------


def test_csv_import_creates_estates_buildings_and_units(officer):
    result = import_units(csv_bytes(three_units()), "stock.csv", officer)
    assert result.ok, result.errors
    assert (result.rows, result.created, result.updated) == (3, 3, 0)
    assert (result.estates_created, result.buildings_created) == (1, 2)
    estate = db.session.scalar(sa.select(Estate))
    assert (estate.code, estate.name, estate.programme) == (
        "GL-XF-001",
        "丽泽苑",
        Programme.PUBLIC_RENTAL,
    )
    units = {u.number: u for u in db.session.scalars(sa.select(Unit))}
    assert units["1-0101"].area == Decimal("45.50")
    assert units["1-0101"].accessible is True
    assert units["1-0102"].accessible is False
    assert units["2-0301"].building.name == "2栋"
    assert units["2-0301"].status is UnitStatus.VACANT
    (event,) = db.session.scalars(sa.select(AuditEvent).where(AuditEvent.event == "housing.import"))
    assert event.result == "success"
    assert event.details_dict["created"] == 3


def test_xlsx_import_with_numbers_and_dates_as_cells(officer):
    vacated = today() - timedelta(days=30)
    rows = [
        row(floor=1, area=45.5, rooms=2, rent=455, vacated_on=vacated),
        row(unit_number="1-0102", floor=2.0, area=38.2, rooms=1, rent=382.25, accessible=True),
    ]
    result = import_units(xlsx_bytes(rows), "stock.xlsx", officer)
    assert result.ok, result.errors
    units = {u.number: u for u in db.session.scalars(sa.select(Unit))}
    assert units["1-0101"].area == Decimal("45.50")
    assert units["1-0101"].vacated_on == vacated
    assert units["1-0102"].rent == Decimal("382.25")
    assert units["1-0102"].floor == 2
    assert units["1-0102"].accessible is True


def test_chinese_headers_and_a_bom(officer):
    data = csv_bytes([row(status="维修中")], header=ZH_HEADER, bom=True)
    result = import_units(data, "房源.csv", officer)
    assert result.ok, result.errors
    assert db.session.scalar(sa.select(Unit.status)) is UnitStatus.MAINTENANCE


def test_english_headers_with_a_bom_and_in_any_case(officer):
    header = ["Estate Code", *HEADER[1:]]
    result = import_units(csv_bytes([row()], header=header, bom=True), "s.csv", officer)
    assert result.ok, result.errors


def test_a_second_import_updates_and_keeps_what_is_the_same(officer):
    import_units(csv_bytes(three_units()), "stock.csv", officer)
    changed = three_units()
    changed[0] = row(rent="470.00")
    result = import_units(csv_bytes(changed), "stock.csv", officer)
    assert result.ok, result.errors
    assert (result.created, result.updated, result.unchanged) == (0, 1, 2)
    assert count(Unit) == 3
    assert db.session.scalar(sa.select(Unit.rent).where(Unit.number == "1-0101")) == Decimal(
        "470.00"
    )


def test_optional_columns_may_be_left_out(officer):
    header = [c for c in HEADER if c not in ("programme", "accessible", "status", "vacated_on")]
    rows = [[v for c, v in zip(HEADER, row(), strict=True) if c in header]]
    result = import_units(csv_bytes(rows, header=header), "s.csv", officer)
    assert result.ok, result.errors
    unit = db.session.scalar(sa.select(Unit))
    assert (unit.status, unit.accessible) == (UnitStatus.VACANT, False)


def test_a_column_left_out_keeps_what_is_known(officer):
    import_units(csv_bytes([row(programme="affordable_rental", accessible="是")]), "s.csv", officer)
    header = [c for c in HEADER if c not in ("programme", "accessible")]
    rows = [[v for c, v in zip(HEADER, row(rent="470"), strict=True) if c in header]]
    result = import_units(csv_bytes(rows, header=header), "s.csv", officer)
    assert result.updated == 1
    unit = db.session.scalar(sa.select(Unit))
    assert unit.accessible is True
    assert unit.rent == Decimal("470.00")
    assert unit.estate.programme is Programme.AFFORDABLE_RENTAL


def test_blank_lines_are_skipped_but_counted_in_row_numbers(officer):
    data = csv_bytes([row(), ["" for _ in HEADER], row(unit_number="1-0102", rooms="0")])
    result = import_units(data, "s.csv", officer)
    assert [(e.row, e.column) for e in result.errors] == [(4, "rooms")]


# --- all or nothing -----------------------------------------------------------------------


def test_rows_with_mistakes_write_nothing_and_say_where(officer):
    rows = [
        row(),
        row(unit_number="1-0102", area="0"),
        row(unit_number="1-0103", rooms="8", rent="-5"),
        row(unit_number="1-0104", district_code="999999"),
        row(unit_number="1-0105", vacated_on="2024-13-01"),
    ]
    result = import_units(csv_bytes(rows), "stock.csv", officer)
    assert not result.ok
    assert [(e.row, e.column) for e in result.errors] == [
        (3, "area"),
        (4, "rooms"),
        (4, "rent"),
        (5, "district_code"),
        (6, "vacated_on"),
    ]
    assert all(str(e.message) for e in result.errors)
    assert (count(Estate), count(Building), count(Unit)) == (0, 0, 0)
    (event,) = db.session.scalars(sa.select(AuditEvent).where(AuditEvent.event == "housing.import"))
    assert event.result == "rejected"


def test_errors_name_the_column_as_the_file_does(officer):
    result = import_units(csv_bytes([row(area="大")], header=ZH_HEADER), "s.csv", officer)
    assert [(e.row, e.column) for e in result.errors] == [(2, "面积")]


def test_the_same_unit_twice_is_reported(officer):
    result = import_units(csv_bytes([row(), row(rent="400")]), "s.csv", officer)
    assert [(e.row, e.column) for e in result.errors] == [(3, "unit_number")]
    assert "2" in str(result.errors[0].message)
    assert count(Unit) == 0


def test_an_estate_must_read_the_same_on_every_row(officer):
    rows = [row(), row(unit_number="1-0102", estate_name="别的名字")]
    result = import_units(csv_bytes(rows), "s.csv", officer)
    assert [(e.row, e.column) for e in result.errors] == [(3, "estate_name")]


def test_a_unit_offered_in_a_round_keeps_area_and_rent(officer, district):
    estate = EstateFactory(
        code="GL-XF-001", district=district, name="丽泽苑", address="桂林市秀峰区丽君路32号"
    )
    building = BuildingFactory(estate=estate, name="1栋")
    UnitFactory(
        building=building,
        number="1-0101",
        status=UnitStatus.IN_ROUND,
        area=Decimal("45.50"),
        rent=Decimal("455.00"),
        rooms=2,
        floor=1,
    )
    result = import_units(csv_bytes([row(area="50")]), "s.csv", officer)
    assert [(e.row, e.column) for e in result.errors] == [(2, "area")]
    result = import_units(csv_bytes([row(status="vacant")]), "s.csv", officer)
    assert [(e.row, e.column) for e in result.errors] == [(2, "status")]
    result = import_units(csv_bytes([row(floor="2")]), "s.csv", officer)
    assert result.ok
    assert result.updated == 1


# --- scope and limits ---------------------------------------------------------------------


def test_officer_rows_of_another_district_are_refused(officer, district):
    DistrictFactory(code="450305")
    rows = [row(), row(district_code="450305", estate_code="GL-QX-001")]
    result = import_units(csv_bytes(rows), "s.csv", officer)
    assert [(e.row, e.column) for e in result.errors] == [(3, "district_code")]
    assert count(Unit) == 0


def test_officer_cannot_update_an_estate_of_another_district(officer):
    EstateFactory(code="GL-XF-001")  # in a district of its own
    result = import_units(csv_bytes([row()]), "s.csv", officer)
    assert [e.column for e in result.errors] == ["estate_code"]


def test_manager_imports_for_the_whole_city(district):
    DistrictFactory(code="450305")
    rows = [row(), row(district_code="450305", estate_code="GL-QX-001")]
    result = import_units(csv_bytes(rows), "s.csv", make_staff(Role.MANAGER))
    assert result.ok
    assert result.created == 2


def test_other_roles_cannot_import(district):
    with pytest.raises(Forbidden):
        import_units(csv_bytes([row()]), "s.csv", make_staff(Role.AUDITOR))


def test_too_large_a_file_is_refused(officer, monkeypatch):
    monkeypatch.setattr(imports, "MAX_BYTES", 1000)
    data = csv_bytes([row(unit_number=f"1-{n:04d}") for n in range(40)])
    with pytest.raises(ValidationFailed) as caught:
        import_units(data, "s.csv", officer)
    assert "MB" in str(caught.value)
    assert count(Unit) == 0


def test_too_many_rows_are_refused(officer, monkeypatch):
    monkeypatch.setattr(imports, "MAX_ROWS", 3)
    data = csv_bytes([row(unit_number=f"1-{n:04d}") for n in range(4)])
    with pytest.raises(ValidationFailed) as caught:
        import_units(data, "s.csv", officer)
    assert "3" in str(caught.value)
    assert count(Unit) == 0


def test_missing_columns_are_named(officer):
    header = [c for c in HEADER if c not in ("area", "rent")]
    rows = [[v for c, v in zip(HEADER, row(), strict=True) if c in header]]
    with pytest.raises(ValidationFailed) as caught:
        import_units(csv_bytes(rows, header=header), "s.csv", officer)
    assert "area" in str(caught.value)
    assert "rent" in str(caught.value)


@pytest.mark.parametrize(
    ("data", "name"),
    [(b"", "s.csv"), (b"\xd0\xcf\x11\xe0" + b"\0" * 100, "old.xls"), (b"PK\x03\x04junk", "x.xlsx")],
)
def test_unreadable_files_are_refused_with_a_reason(officer, data, name):
    with pytest.raises(ValidationFailed) as caught:
        import_units(data, name, officer)
    assert str(caught.value)


def test_excel_chinese_csv_in_gb18030_is_read(officer):
    text = "\r\n".join([",".join(ZH_HEADER), ",".join(row())]) + "\r\n"
    result = import_units(text.encode("gb18030"), "s.csv", officer)
    assert result.ok, result.errors
    assert db.session.scalar(sa.select(Estate.name)) == "丽泽苑"


def test_vacated_on_a_let_unit_is_refused(officer):
    result = import_units(
        csv_bytes([row(status="occupied", vacated_on="2024-01-01")]), "s.csv", officer
    )
    assert [e.column for e in result.errors] == ["vacated_on"]


def test_old_vacancies_load_as_not_relet(officer):
    long_ago = (today() - timedelta(days=400)).isoformat()
    import_units(csv_bytes([row(status="vacant", vacated_on=long_ago)]), "s.csv", officer)
    from portal.housing.services import not_relet

    (unit,) = db.session.scalars(not_relet())
    assert unit.vacated_on == date.fromisoformat(long_ago)


def test_the_template_imports_as_it_is(officer, district):
    for chinese in (True, False):
        text = imports.template_csv(chinese)
        assert text.startswith("\ufeff")
        result = import_units(text.encode("utf-8"), "template.csv", officer)
        assert result.ok, result.errors
    assert count(Unit) == 1
