"""The embedded registry: ``flask portal registry import / import-dir / stats`` and the demo
households, checked through the real application services."""

from __future__ import annotations

import json
import re
from datetime import date
from pathlib import Path

import pytest
import sqlalchemy as sa

from portal.accounts.models import User
from portal.accounts.services import id_index
from portal.applications import services
from portal.applications.models import Programme
from portal.core.audit import AuditEvent
from portal.core.identifiers import make_id_number, mask_id_number
from portal.demo import load_demo
from portal.extensions import db as portal_db
from portal.verification import registry
from portal.verification import services as verification
from portal.verification.demo_data import (
    demo_families,
    describe_demo_families,
    load_demo_registry,
    synthetic_households,
)
from portal.verification.departments import Department
from portal.verification.fields import FACTS, parse_fact
from portal.verification.models import CheckStatus, RegistryRecord
from portal.verification.registry import csv_columns
from tests.factories.applications import draft_for, settle_all, submit
from tests.factories.registry import put

ZHANG = make_id_number("450302", date(1980, 4, 5), 17)
LIN = make_id_number("450302", date(1982, 6, 7), 28)
WU = make_id_number("450305", date(1990, 8, 9), 35)
# an ID number standing alone, not a run of digits inside a hexadecimal blind index
ID_NUMBER_RE = re.compile(r"(?<![0-9a-f])\d{17}[\dX](?![0-9a-f])")

PS_HEADER = "id_number,registered_name,hukou_local,hukou_district,hukou_since,household_no"
CA_HEADER = "id_number,marital_status,spouse_id_number,assistance"


@pytest.fixture
def run(app):
    """``run("import", ...)``: a ``flask portal registry`` command in the test's transaction."""
    runner = app.test_cli_runner()

    def invoke(*args: str):
        return runner.invoke(args=["portal", "registry", *map(str, args)])

    return invoke


def write(path: Path, *lines: str, bom: bool = False) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8-sig" if bom else "utf-8")
    return path


def records(department: Department) -> dict[str, dict]:
    rows = RegistryRecord.__table__
    return {
        index: json.loads(data)
        for index, data in portal_db.session.execute(
            sa.select(rows.c.id_index, rows.c.data_json).where(rows.c.department == department)
        )
    }


def raw_data(db) -> str:
    return " ".join(db.session.scalars(sa.select(RegistryRecord.data_json)))


# --- import ------------------------------------------------------------------------------


def test_import_stores_typed_facts_by_blind_index(db, run, tmp_path):
    ps = write(
        tmp_path / "ps.csv",
        PS_HEADER,
        f"{ZHANG},张强,是,450302,2004-03-01,450302000123",
        f"{LIN},林芳,false,450302,2009-10-01,450302000123",
        "",
        f"{WU},吴敏,0,430104,,",
    )
    result = run("import", "public_security", ps)
    assert result.exit_code == 0, result.output
    assert "public_security: 3 rows from ps.csv (3 added, 0 updated)" in result.output
    facts = records(Department.PUBLIC_SECURITY)
    assert facts[id_index(ZHANG)] == {
        "registered_name": "张强",
        "hukou_local": True,
        "hukou_district": "450302",
        "hukou_since": "2004-03-01",
        "household_no": "450302000123",
    }
    assert facts[id_index(LIN)]["hukou_local"] is False
    assert facts[id_index(WU)] == {
        "registered_name": "吴敏",
        "hukou_local": False,
        "hukou_district": "430104",
    }
    assert not ID_NUMBER_RE.search(raw_data(db))
    event = db.session.scalars(
        sa.select(AuditEvent).where(AuditEvent.event == "registry.import")
    ).one()
    assert json.loads(event.details)["rows"] == 3


def test_civil_affairs_links_the_spouse_without_their_id_number(db, run, tmp_path):
    ca = write(
        tmp_path / "civil.csv",
        CA_HEADER,
        f"{ZHANG},married,{LIN},none",
        f"{LIN},married,{ZHANG.lower()},dibao",
        f"{WU},single,,low_income",
    )
    result = run("import", "civil_affairs", ca)
    assert result.exit_code == 0, result.output
    facts = records(Department.CIVIL_AFFAIRS)
    assert facts[id_index(ZHANG)] == {
        "marital_status": "married",
        "assistance": "none",
        "spouse_index": id_index(LIN),
        "spouse_masked": mask_id_number(LIN),
    }
    assert facts[id_index(LIN)]["spouse_index"] == id_index(ZHANG)
    assert "spouse_index" not in facts[id_index(WU)]
    assert not ID_NUMBER_RE.search(raw_data(db))


def test_one_bad_row_imports_nothing_and_names_every_bad_line(db, run, tmp_path):
    put(Department.PUBLIC_SECURITY, WU, registered_name="吴敏", hukou_local=False)
    db.session.commit()  # there before the command (which rolls back what it did)
    bad_check = ZHANG[:-1] + ("0" if ZHANG[-1] != "0" else "1")
    ps = write(
        tmp_path / "ps.csv",
        PS_HEADER,
        f"{LIN},林芳,是,450302,2009-10-01,450302000123",
        f"{bad_check},张强,是,450302,2004-03-01,450302000123",
        f"{WU},吴敏,maybe,450305,2001-01-01,450305000001",
        f"{ZHANG},张强,是,450302,2004-13-01,450302000123",
        f"{LIN},林芳,是,450302,2009-10-01,450302000123",
        f"{ZHANG},张强,是",
    )
    result = run("import", "public_security", ps)
    assert result.exit_code == 1
    for line, field in [(3, "id_number"), (4, "hukou_local"), (5, "hukou_since")]:
        assert f"ps.csv:{line}: {field}:" in result.output
    assert "ps.csv:6: " in result.output  # listed twice (line 2 first)
    assert "ps.csv:7: " in result.output  # too few fields
    assert "5 problem(s) found; nothing was imported." in result.output
    facts = records(Department.PUBLIC_SECURITY)
    assert list(facts) == [id_index(WU)]  # the good rows were not kept either
    assert facts[id_index(WU)] == {"registered_name": "吴敏", "hukou_local": False}


def test_batches_written_before_a_bad_row_are_taken_back(db, run, tmp_path, monkeypatch):
    monkeypatch.setattr(registry, "BATCH_ROWS", 2)  # the good rows reach the database first
    header = "id_number,vehicles,total_value"
    path = write(tmp_path / "v.csv", header, f"{ZHANG},1,1", f"{LIN},1,2", f"{WU},1,3", "x,1,4")
    result = run("import", "vehicles", path)
    assert result.exit_code == 1
    assert "v.csv:5: id_number:" in result.output
    assert records(Department.VEHICLES) == {}


def test_a_spouse_needs_a_marriage_and_another_person(db, run, tmp_path):
    ca = write(
        tmp_path / "civil.csv",
        CA_HEADER,
        f"{ZHANG},single,{LIN},none",
        f"{LIN},married,{LIN},none",
        f"{WU},married,,none",
    )
    result = run("import", "civil_affairs", ca)
    assert result.exit_code == 1
    assert "civil.csv:2: spouse_id_number:" in result.output
    assert "civil.csv:3: spouse_id_number:" in result.output
    assert "civil.csv:4" not in result.output  # married, spouse unknown: allowed
    assert records(Department.CIVIL_AFFAIRS) == {}


def test_a_wrong_header_is_refused_before_any_row(db, run, tmp_path):
    ps = write(
        tmp_path / "ps.csv",
        "id_number,registered_nam,hukou_local,hukou_district,hukou_since,household_no",
        f"{ZHANG},张强,是,450302,2004-03-01,450302000123",
    )
    result = run("import", "public_security", ps)
    assert result.exit_code == 1
    assert "ps.csv:1: " in result.output
    assert "registered_nam" in result.output
    assert PS_HEADER in result.output  # the expected header is shown
    assert records(Department.PUBLIC_SECURITY) == {}


def test_a_byte_order_mark_and_column_order_do_not_matter(db, run, tmp_path):
    ca = write(
        tmp_path / "civil.csv",
        "Assistance, ID_Number ,marital_status,spouse_id_number",
        f"dibao,{WU},widowed,",
        bom=True,
    )
    result = run("import", "civil_affairs", ca)
    assert result.exit_code == 0, result.output
    assert records(Department.CIVIL_AFFAIRS) == {
        id_index(WU): {"marital_status": "widowed", "assistance": "dibao"}
    }


def test_import_updates_people_and_replace_removes_the_others(db, run, tmp_path):
    put(Department.PROPERTY, WU, owned_area=80.0, properties=1)
    put(Department.VEHICLES, WU, vehicles=2)
    header = "id_number,owned_area,properties"
    first = write(tmp_path / "p1.csv", header, f"{ZHANG},45.5,1", f"{WU},60,1")
    result = run("import", "property", first)
    assert "(1 added, 1 updated)" in result.output, result.output
    assert records(Department.PROPERTY)[id_index(WU)] == {"owned_area": 60.0, "properties": 1}

    second = write(tmp_path / "p2.csv", header, f"{LIN},30,1")
    assert run("import", "property", second).exit_code == 0
    assert set(records(Department.PROPERTY)) == {id_index(ZHANG), id_index(WU), id_index(LIN)}

    result = run("import", "property", second, "--replace")
    assert result.exit_code == 0, result.output
    assert "(0 added, 1 updated, 2 removed)" in result.output
    assert set(records(Department.PROPERTY)) == {id_index(LIN)}
    assert set(records(Department.VEHICLES)) == {id_index(WU)}  # other departments untouched


def test_a_failed_replace_keeps_the_registry(db, run, tmp_path):
    put(Department.PROPERTY, WU, owned_area=80.0, properties=1)
    db.session.commit()  # there before the command (which rolls back what it did)
    bad = write(tmp_path / "p.csv", "id_number,owned_area,properties", f"{ZHANG},big,1")
    assert run("import", "property", bad, "--replace").exit_code == 1
    assert records(Department.PROPERTY) == {id_index(WU): {"owned_area": 80.0, "properties": 1}}


def test_import_dir_takes_every_department_file_or_none(db, run, tmp_path):
    folder = tmp_path / "export"
    folder.mkdir()
    write(folder / "public_security.csv", PS_HEADER, f"{ZHANG},张强,1,450302,2004-03-01,H1")
    write(folder / "civil_affairs.csv", CA_HEADER, f"{ZHANG},single,,none")
    (folder / "README.txt").write_text("exported 2026-11-01")
    result = run("import-dir", folder)
    assert result.exit_code == 0, result.output
    assert "public_security: 1 rows" in result.output
    assert "civil_affairs: 1 rows" in result.output
    assert id_index(ZHANG) in records(Department.CIVIL_AFFAIRS)

    write(folder / "vehicles.csv", "id_number,vehicles,total_value", f"{LIN},1,50000")
    write(folder / "disability.csv", "id_number,grade", f"{LIN},9x")
    result = run("import-dir", folder)
    assert result.exit_code == 1
    assert "disability.csv:2: grade:" in result.output
    assert records(Department.VEHICLES) == {}  # the good file of the folder was not kept

    (folder / "disability.csv").unlink()
    write(folder / "vehicle.csv", "id_number,vehicles,total_value", f"{LIN},1,50000")
    result = run("import-dir", folder)
    assert result.exit_code == 1
    assert "vehicle.csv: not named after a department" in result.output
    assert records(Department.VEHICLES) == {}


def test_stats_counts_each_department(db, run, tmp_path):
    put(Department.VEHICLES, WU, vehicles=1)
    write(tmp_path / "vehicles.csv", "id_number,vehicles,total_value", f"{LIN},1,", f"{ZHANG},,")
    assert run("import", "vehicles", tmp_path / "vehicles.csv").exit_code == 0
    out = run("stats").output
    assert re.search(r"vehicles\s+3\s+\d{4}-\d\d-\d\d \d\d:\d\d UTC\s+\(vehicles.csv\)", out), out
    assert re.search(r"disability\s+0\s+never", out), out
    assert re.search(r"total\s+3", out), out


def test_a_large_import_is_written_in_batches(db, run, tmp_path):
    """Thousands of rows in a handful of statements, not a query per row."""
    header = "id_number,businesses,registered_capital"
    lines = [
        f"{make_id_number('450303', date(1970 + i % 40, 1 + i % 12, 1 + i % 28), i % 1000)},1,"
        f"{10_000 + i}"
        for i in range(2500)
    ]
    assert len(set(lines)) == 2500
    path = write(tmp_path / "market.csv", header, *lines)
    statements = []

    def count(conn, cursor, statement, *args):
        statements.append(statement)

    sa.event.listen(db.engine, "before_cursor_execute", count)
    try:
        result = run("import", "market_regulation", path)
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", count)
    assert result.exit_code == 0, result.output
    assert "2500 rows" in result.output
    assert len(records(Department.MARKET_REGULATION)) == 2500
    assert len(statements) < 20, statements


def test_the_documented_headers_are_the_ones_the_import_reads():
    doc = (Path(__file__).parents[2] / "docs" / "department-data.md").read_text()
    for dept in Department:
        assert f"`{dept.value}.csv`" in doc
        assert ",".join(csv_columns(dept)) in doc, dept


# --- demo households -----------------------------------------------------------------------


def test_demo_registry_is_coherent_and_loads_once(db):
    assert load_demo_registry() > 1000
    total = db.session.scalar(sa.select(sa.func.count()).select_from(RegistryRecord))
    assert load_demo_registry() == 0
    assert db.session.scalar(sa.select(sa.func.count()).select_from(RegistryRecord)) == total
    assert not ID_NUMBER_RE.search(raw_data(db))

    households = synthetic_households()
    assert len(households) == 200
    assert [p.id_number for h in households for p in h.members] == [
        p.id_number for h in synthetic_households() for p in h.members
    ]  # the same households every time
    people = [p for h in households for p in h.members]
    numbers = [p.id_number for p in people]
    family_numbers = {p.id_number for f in demo_families() for p in f.household.members}
    assert len(set(numbers)) == len(numbers)
    assert not family_numbers & set(numbers)
    stored = {d: records(d) for d in Department}
    for p in people:
        facts = stored[Department.PUBLIC_SECURITY][id_index(p.id_number)]
        assert facts["registered_name"] == p.name
        assert id_index(p.id_number) in stored[Department.CIVIL_AFFAIRS]
        for dept, values in stored.items():
            for name, value in values.get(id_index(p.id_number), {}).items():
                if name in ("spouse_index", "spouse_masked"):
                    continue
                fact = next(f for f in FACTS[dept] if f.name == name)
                assert parse_fact(fact, str(value)) == value, (dept, name, value)
    spouses = {
        id_index(p.id_number): stored[Department.CIVIL_AFFAIRS][id_index(p.id_number)]
        for p in people
        if p.relationship.value == "spouse"
    }
    assert spouses
    for index, civil in spouses.items():  # marriages are recorded on both sides
        assert stored[Department.CIVIL_AFFAIRS][civil["spouse_index"]]["spouse_index"] == index
    assert {d for d in Department if stored[d]} == set(Department)  # every department used


CASES = [
    (family.household.applicant.name, expectation)
    for family in demo_families()
    for expectation in family.expectations
]


@pytest.mark.parametrize(
    ("name", "expected"), CASES, ids=[f"{n}-{e.programme.value}" for n, e in CASES]
)
def test_demo_residents_with_the_printed_family_get_the_expected_decision(db, app, name, expected):
    lines = load_demo(app.instance_path)
    family = next(f for f in demo_families() if f.household.applicant.name == name)
    applicant, *others = family.household.members
    described = describe_demo_families()
    assert lines[-len(described) :] == described
    printed = "\n".join(described)
    for p in others:
        assert f"{p.name} (ID {p.id_number})" in printed

    resident = db.session.scalars(
        sa.select(User).where(User.id_number_index == id_index(applicant.id_number))
    ).one()
    assert resident.real_name == name
    app_ = draft_for(resident, applicant.id_number[:6], expected.programme)
    for p in others:
        services.add_member(
            app_, resident, name=p.name, id_number=p.id_number, relationship=p.relationship
        )
    app_ = submit(app_, resident)
    checks = verification.checks_of(app_)
    assert all(c.status is CheckStatus.MATCH for c in checks), [
        (c.department, c.status, c.findings) for c in checks
    ]
    settle_all(app_)
    evaluation = app_.evaluation
    assert evaluation["eligible"] is expected.eligible, evaluation
    failed = [r["code"] for r in evaluation["results"] if r["passed"] is False]
    assert failed == ([expected.failing_rule] if expected.failing_rule else [])


def test_demo_residents_expectations_cover_every_outcome():
    expectations = [e for f in demo_families() for e in f.expectations]
    assert {e.failing_rule for e in expectations} == {None, "income", "housing"}
    assert {e.programme for e in expectations} == {
        Programme.PUBLIC_RENTAL,
        Programme.AFFORDABLE_RENTAL,
    }
