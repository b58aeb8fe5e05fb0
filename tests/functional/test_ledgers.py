"""The ledgers (台账): the page offers every ledger with its year (and month), checks them,
and hands the export's page; the four kinds of the plans' shapes are built by the exports
job with their columns, numbers as numbers in XLSX."""

from __future__ import annotations

import csv
import io
from datetime import date, timedelta
from decimal import Decimal

import openpyxl
import pytest
import sqlalchemy as sa

from portal.accounts.models import DistrictKind
from portal.accounts.roles import Role
from portal.core.clock import today
from portal.exports.models import Export, ExportStatus
from portal.reports import ledgers, targets
from portal.reports import projects as svc
from portal.reports.models import ProjectStage, TargetKind
from tests.factories import DistrictFactory
from tests.factories.fixtures import make_staff, page_text, staff_browser

YEAR = today().year
THIS_MONTH = today().replace(day=1)
LAST_MONTH = (THIS_MONTH - timedelta(days=1)).replace(day=1)


@pytest.fixture
def manager(db):
    return make_staff(Role.MANAGER)


@pytest.fixture
def browser(app, manager):
    return staff_browser(app, manager)


@pytest.fixture
def plan(db, manager):
    """Two districts and a county, targets, and three projects (one with progress)."""
    a = DistrictFactory(name_en="Alpha District", sort_order=1)
    b = DistrictFactory(name_en="Beta District", sort_order=2)
    c = DistrictFactory(name_en="Gamma County", kind=DistrictKind.COUNTY, sort_order=3)
    targets.set_targets(
        YEAR,
        [
            (None, TargetKind.NEW_ALLOCATIONS, 801),
            (a.id, TargetKind.RENOVATION_STARTS_CARRIED, 390),
            (a.id, TargetKind.RENOVATION_STARTS_NEW, 1488),
            (c.id, TargetKind.SUBSIDY_HOUSEHOLDS, 150),
        ],
        manager,
    )
    common = {
        "year": YEAR,
        "kind": "renovation",
        "responsible_unit": "叠彩区人民政府",
        "implementer": "桂林市城市建设投资集团有限公司",
    }
    second = svc.create_project(
        manager,
        name="乙项目",
        address="乙路",
        district_id=b.id,
        units=50,
        responsible_person="李国强",
        **common,
    )
    first = svc.create_project(
        manager,
        name="甲项目",
        address="甲路1号",
        district_id=a.id,
        units=1000,
        floor_area="80000.50",
        investment="28000.00",
        start_by=date(YEAR, 6, 30),
        responsible_person="张伟",
        remarks="货币化安置",
        **common,
    )
    svc.create_project(
        manager,
        name="丙项目",
        address="丙路",
        district_id=c.id,
        units=20,
        responsible_person="黄海",
        **{**common, "kind": "affordable_rental", "certificate": "桂保租认〔2026〕3号"},
    )
    for month, started, money in ((LAST_MONTH, 600, "120.50"), (THIS_MONTH, 1000, "300.25")):
        svc.record_progress(
            first,
            manager,
            month=month,
            stage=ProjectStage.MAIN_STRUCTURE,
            units_started=started,
            units_completed=0,
            investment_month=money,
            problems="雨季影响工期" if month == THIS_MONTH else None,
        )
    return {"a": a, "b": b, "c": c, "first": first, "second": second}


def ask(browser, kind, fmt="xlsx", **fields):
    data = {"ledger": kind, f"{kind}-format": fmt, f"{kind}-year": str(YEAR)}
    data.update({f"{kind}-{k}": v for k, v in fields.items()})
    return browser.post_form("/manager/ledgers", data)


def built(browser, kind, fmt="xlsx", **fields) -> list[list]:
    resp = ask(browser, kind, fmt, **fields)
    assert resp.status_code == 302, page_text(resp)[:3000]
    export_id = int(resp.headers["Location"].rstrip("/").split("/")[-1])
    assert resp.headers["Location"].endswith(f"/exports/{export_id}")
    data = browser.get(f"/exports/{export_id}/download").get_data()
    if fmt == "csv":
        return list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    sheet = openpyxl.load_workbook(io.BytesIO(data)).active
    return [list(r) for r in sheet.iter_rows(values_only=True)]


def test_the_page_offers_the_ledgers_with_their_parameters(browser):
    html = page_text(browser.get("/manager/ledgers"))
    for title in ("Project list", "Target list", "Responsibility list", "Project progress ledger"):
        assert title in html
    for name in ledgers.offered():
        assert f'name="{name}-year"' in html
    assert 'name="progress_ledger-month"' in html
    assert 'name="project_list-month"' not in html


def test_bad_parameters_are_refused_with_a_message(browser, db):
    resp = ask(browser, "project_list", year="20x6")
    assert resp.status_code == 422
    assert "Give a year between 2000 and 2100." in page_text(resp)
    assert 'value="20x6"' in page_text(resp)
    resp = ask(browser, "progress_ledger", month="")
    assert resp.status_code == 422
    assert "Give the month, like 2026-04." in page_text(resp)
    resp = ask(browser, "progress_ledger", month=f"{YEAR - 1}-05")
    assert resp.status_code == 422
    assert "The month must be in the year chosen." in page_text(resp)
    resp = ask(browser, "progress_ledger", month="April")
    assert resp.status_code == 422
    assert "Give a month like 2026-04." in page_text(resp)
    resp = ask(browser, "project_list", fmt="pdf")
    assert resp.status_code == 422
    assert "Choose CSV or Excel." in page_text(resp)
    resp = ask(browser, "no_such_ledger")
    assert resp.status_code == 422
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Export)) == 0


def test_the_project_list(browser, plan):
    rows = built(browser, "project_list")
    assert rows[0] == [
        "No.",
        "Project name",
        "Project address",
        "District or county",
        "Type of project",
        "Scale (units)",
        "Floor area (m²)",
        "Planned investment (10,000 yuan)",
        "Start deadline",
        "Actual start date",
        "Planned completion",
        "Project certificate number",
        "Remarks",
    ]
    # by district: Alpha's project first although it was added second
    assert [r[1] for r in rows[1:]] == ["甲项目", "乙项目", "丙项目"]
    first = rows[1]
    assert first[0] == 1
    assert first[3] == "Alpha District"
    assert first[4] == "Shanty-town renovation"
    assert first[5] == 1000
    assert first[6] == pytest.approx(80000.5)
    assert first[7] == 28000
    assert first[8] == f"{YEAR}-06-30"
    assert first[9] == LAST_MONTH.isoformat()
    assert first[12] == "货币化安置"
    assert rows[3][11] == "桂保租认〔2026〕3号"


def test_the_responsibility_list_has_seed_000s_columns(browser, plan):
    rows = built(browser, "responsibility_list", "csv")
    assert rows[0] == [
        "No.",
        "Project name",
        "Project address",
        "Responsible unit",
        "Responsible person",
        "Implementing unit",
        "Remarks",
    ]
    assert rows[1] == [
        "1",
        "甲项目",
        "甲路1号",
        "叠彩区人民政府",
        "张伟",
        "桂林市城市建设投资集团有限公司",
        "货币化安置",
    ]
    assert [r[0] for r in rows[1:]] == ["1", "2", "3"]


def test_the_target_list_is_the_task_table(browser, plan):
    rows = built(browser, "target_list")
    assert rows[0][:4] == [
        "Implementing unit",
        "Shanty-town renovation starts: subtotal",
        "Shanty-town renovation starts: added from earlier plans",
        "Shanty-town renovation starts: this year's national plan",
    ]
    assert len(rows[0]) == 10
    lines = {r[0]: r[1:] for r in rows[1:]}
    assert lines["Whole city: total"][:3] == [1878, 390, 1488]
    assert lines["Whole city: total"][4] == 150
    assert lines["Whole city: total"][7] == 801
    assert lines["Urban districts: subtotal"][0] == 1878
    assert lines["Counties: subtotal"][4] == 150
    assert lines["Alpha District"][:3] == [1878, 390, 1488]
    assert lines["Beta District"] == [None] * 9
    assert [r[0] for r in rows[1:4]] == [
        "Whole city: total",
        "Urban districts: subtotal",
        "City level (the city's own share)",
    ]


def test_the_progress_ledger_of_a_month(browser, plan):
    rows = built(browser, "progress_ledger", month=THIS_MONTH.strftime("%Y-%m"))
    assert rows[0] == [
        "No.",
        "Project name",
        "District or county",
        "Type of project",
        "Scale (units)",
        "Start deadline",
        "Actual start date",
        "Visible progress",
        "Units started so far",
        "Units basically completed so far",
        "Investment this month (10,000 yuan)",
        "Investment so far (10,000 yuan)",
        "Problems",
        "Remarks",
    ]
    first = rows[1]
    assert first[1] == "甲项目"
    assert first[7] == "Main structure under way"
    assert (first[8], first[9]) == (1000, 0)
    assert Decimal(str(first[10])) == Decimal("300.25")
    assert Decimal(str(first[11])) == Decimal("420.75")
    assert first[12] == "雨季影响工期"
    assert rows[2][7] == "Not reported"
    assert rows[2][8] is None

    if LAST_MONTH.year == YEAR:  # the month before: its own figures
        rows = built(browser, "progress_ledger", month=LAST_MONTH.strftime("%Y-%m"))
        assert (rows[1][8], Decimal(str(rows[1][11]))) == (600, Decimal("120.50"))


def test_recent_ledgers_are_listed_and_the_export_page_follows(browser, plan, db):
    built(browser, "project_list", "csv")
    html = page_text(browser.get("/manager/ledgers"))
    export = db.session.scalars(sa.select(Export)).one()
    assert export.status is ExportStatus.DONE
    assert export.params["year"] == YEAR
    assert f'href="/exports/{export.id}"' in html
    assert "Project list (CSV)" in html


def test_officers_cannot_ask_for_ledgers(app, staff_client, plan, db):
    officer, _ = staff_client(Role.OFFICER, districts=[plan["a"]])
    assert officer.get("/manager/ledgers").status_code == 403
    assert ask(officer, "project_list").status_code == 403
    resp = officer.post_form("/exports/", {"kind": "project_list", "format": "csv"})
    assert resp.status_code == 302
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Export)) == 0


def test_the_exports_page_may_ask_without_parameters(browser, plan):
    resp = browser.post_form("/exports/", {"kind": "progress_ledger", "format": "csv"})
    assert resp.status_code == 302
    export_id = resp.headers["Location"].rstrip("/").split("/")[-1]
    data = browser.get(f"/exports/{export_id}/download").get_data().decode("utf-8-sig")
    assert "甲项目" in data  # this year, this month
