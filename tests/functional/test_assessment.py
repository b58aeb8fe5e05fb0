"""The annual self-assessment (/manager/assessment, 监测评价): a printable report of the
year's figures, one sentence and a table per section; its file (``self_assessment``) and
the monthly progress ledger against the targets (``monthly_progress``), built by the
export job and read back; managers only."""

from __future__ import annotations

import csv
import io
import re
from datetime import date, timedelta

import openpyxl
import pytest

from portal.accounts.roles import Role
from portal.applications.models import Programme
from portal.core.errors import Forbidden
from portal.exports.services import request_export
from portal.notices.models import Notice, NoticeEntry, NoticeStatus, Objection, ObjectionStatus
from portal.reports import assessment
from portal.reports.models import ProjectKind
from tests.factories import ResidentFactory
from tests.factories.applications import qualified_application
from tests.factories.fixtures import make_staff, page_text, staff_browser
from tests.functional.test_dashboard import TODAY, build_world, clock  # noqa: F401
from tests.unit.test_figures import project

YEAR = TODAY.year


@pytest.fixture
def world(db):
    from portal.accounts.models import DistrictKind
    from tests.factories import DistrictFactory

    made = build_world(
        DistrictFactory(kind=DistrictKind.DISTRICT, name_en="Xiufeng", sort_order=1),
        DistrictFactory(kind=DistrictKind.COUNTY, name_en="Yangshuo", sort_order=2),
    )
    a = made["a"]
    # two more renovation projects: one started before its deadline and June's milestone,
    # one after both
    early = project(a, ProjectKind.RENOVATION, 30, {})
    early.started_on, early.start_by = date(2026, 5, 10), date(2026, 6, 30)
    late = project(a, ProjectKind.RENOVATION, 40, {})
    late.started_on, late.start_by = date(2026, 7, 5), date(2026, 6, 30)
    late.completed_on = None
    # two objections to a public notice, one upheld
    officer = make_staff(Role.OFFICER, districts=[a])
    notice = Notice(
        district_id=a.id,
        programme=Programme.PUBLIC_RENTAL,
        status=NoticeStatus.OPEN,
        starts_on=TODAY - timedelta(days=5),
        ends_on=TODAY + timedelta(days=2),
        published_by_id=officer.id,
    )
    db.session.add(notice)
    db.session.flush()
    for status in (ObjectionStatus.UPHELD, ObjectionStatus.OPEN):
        app = qualified_application(a)
        entry = NoticeEntry(
            notice_id=notice.id,
            application_id=app.id,
            masked_name="张*",
            masked_id="4503**********1234",
            household_size=2,
            reference=app.reference,
        )
        db.session.add(entry)
        db.session.flush()
        db.session.add(
            Objection(
                entry_id=entry.id,
                objector_id=ResidentFactory().id,
                reason="收入不实",
                status=status,
                respond_by=TODAY + timedelta(days=10),
            )
        )
    db.session.flush()
    return made


@pytest.fixture
def browser(app):
    return staff_browser(app, make_staff(Role.MANAGER))


def section_text(html: str, key: str) -> str:
    found = re.search(rf'<section id="{key}".*?</section>', html, re.S)
    assert found, key
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", found.group(0)))


def test_the_report_in_sections_with_a_sentence_each(browser, world):
    resp = browser.get("/manager/assessment", query_string={"year": YEAR})
    assert resp.status_code == 200
    html = page_text(resp)
    assert "<h1>Self-assessment of 2026</h1>" in html
    assert re.findall(r'<h2 id="[a-z]+-heading">\d+\. ([^<]+)</h2>', html) == [
        "Targets and completion",
        "Projects started and completed",
        "Allocation and occupancy",
        "Rental subsidies",
        "Review times",
        "Waiting list",
        "Rent collection",
        "Credit records and objections",
    ]
    projects = section_text(html, "projects")
    assert (
        "Shanty-town renovation: 1 of 3 projects started by the end of June 2026 (33.3%), "
        "target 70%." in projects
    )
    assert "Affordable rental housing: 0 of 1 projects started, 0 completed." in projects
    assert (
        "started by their own start deadline 1 2 50.0% of the projects with a deadline" in projects
    )
    targets = section_text(html, "targets")
    assert "0 of 3 tasks with a target reached them for the whole city; 1 task is behind" in targets
    assert (
        "Shanty-town renovation starts: both plans together: Whole city 12 20 60.0% done; "
        "14 due by the end of June 2026 — behind" in targets
    )
    allocation = section_text(html, "allocation")
    assert "1 household moved into a public rental home in 2026 (target 10)." in allocation
    assert "50.0% of the homes are let today; of 0 homes vacated in 2025" in allocation
    assert (
        "2 households received a rental subsidy in 2026 (target 0); 800.00 yuan was paid after "
        "recoveries." in section_text(html, "subsidy")
    )
    assert (
        "Applications were decided in 17.6 days on average (median 17.6); 1 of 2 were decided "
        "by their deadline (50.0%)." in section_text(html, "review")
    )
    assert "2 households are waiting today; 0 for more than 4 years." in section_text(html, "queue")
    assert (
        "500.00 of 1500.00 yuan of rent for 2026 was collected (33.3%). 1 household is in "
        "arrears today." in section_text(html, "rent")
    )
    credit = section_text(html, "credit")
    assert "1 credit record was confirmed in 2026, 1 of them serious." in credit
    assert "2 objections to public notices were received; 1 upheld." in credit
    # tables with captions and header cells; printable
    assert html.count("<caption>") == 8
    assert 'href="/static/css/dashboard.css"' in html
    assert "@media print" in browser.get("/static/css/dashboard.css").get_data(as_text=True)


def test_the_year_is_checked(browser):
    for year, status in (("1999", 422), ("2027", 422), ("twenty", 422), ("2025", 200)):
        resp = browser.get("/manager/assessment", query_string={"year": year})
        assert resp.status_code == status, year
        if status == 422:
            page = page_text(resp)
            assert "Choose a year from 2000 to 2026." in page
            assert f'value="{year}"' in page
    assert "Self-assessment of 2026" in page_text(browser.get("/manager/assessment"))


def built(browser, resp, fmt: str) -> list[list]:
    assert resp.status_code == 302, page_text(resp)[:3000]
    export_id = int(resp.headers["Location"].rstrip("/").split("/")[-1])
    data = browser.get(f"/exports/{export_id}/download").get_data()
    if fmt == "csv":
        return list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    sheet = openpyxl.load_workbook(io.BytesIO(data)).active
    return [list(r) for r in sheet.iter_rows(values_only=True)]


def download_form(html: str) -> dict[str, str]:
    form = re.search(r'<form method="post" action="/manager/ledgers".*?</form>', html, re.S)
    assert form, "no download form"
    fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', form.group(0)))
    assert re.search(r'name="self_assessment-format" value="xlsx"', form.group(0))
    return fields


@pytest.mark.parametrize("fmt", ["xlsx", "csv"])
def test_the_report_as_a_file(browser, world, fmt):
    fields = download_form(page_text(browser.get("/manager/assessment")))
    assert fields["ledger"] == fields["kind"] == "self_assessment"
    assert fields["self_assessment-year"] == fields["year"] == "2026"
    rows = built(
        browser,
        browser.post_form("/manager/ledgers", {**fields, "self_assessment-format": fmt}),
        fmt,
    )
    assert rows[0] == ["Section", "Indicator", "Value", "Target", "Note"]
    assert rows[1][:2] == ["Targets and completion", "Summary"]
    assert rows[1][2].startswith("0 of 3 tasks with a target reached them")
    by_name = {r[1]: r for r in rows[1:]}
    number = int if fmt == "xlsx" else str
    assert by_name["New tenants of public rental homes"][2:4] == [number(1), number(10)]
    assert by_name["Rent collected (yuan)"][4] == "33.3%"
    sections = list(dict.fromkeys(r[0] for r in rows[1:]))
    assert sections[-1] == "Credit records and objections"
    assert len(sections) == 8


def ask_progress(browser, month: str, fmt: str = "xlsx"):
    return browser.post_form(
        "/manager/ledgers",
        {
            "ledger": "monthly_progress",
            "monthly_progress-year": "2026",
            "monthly_progress-month": month,
            "monthly_progress-format": fmt,
        },
    )


def test_the_monthly_progress_ledger(browser, world):
    rows = built(browser, ask_progress(browser, "2026-06"), "xlsx")
    header = rows[0]
    assert header[:7] == [
        "District",
        "Shanty-town renovation starts: added from earlier plans · Target",
        "Shanty-town renovation starts: this year's national plan · Target",
        "Shanty-town renovation starts: both plans together · Target",
        "Shanty-town renovation starts: both plans together · Achieved",
        "Shanty-town renovation starts: both plans together · Share done (percent)",
        "Shanty-town renovation starts: both plans together · Milestone due (percent)",
    ]
    assert len(header) == 1 + 2 + 7 * 4
    lines = {r[0]: r for r in rows[1:]}
    assert [r[0] for r in rows[1:]] == [
        "Whole city",
        "City's own share and urban districts",
        "City's own share",
        "Xiufeng",
        "Counties",
        "Yangshuo",
    ]
    assert lines["Xiufeng"][1:7] == [10, 10, 20, 12, 60, 70]
    allocations = header.index("Public rental housing: newly allocated and moved in · Target")
    assert lines["City's own share"][allocations : allocations + 2] == [6, None]
    assert lines["Whole city"][allocations : allocations + 3] == [10, 1, 10]
    affordable = header.index("Affordable rental housing: units started · Achieved")
    assert lines["Yangshuo"][affordable] == 60
    assert lines["Counties"][affordable] == 60

    # the end of May: June's record and milestone are not there yet
    rows = built(browser, ask_progress(browser, "2026-05", "csv"), "csv")
    lines = {r[0]: r for r in rows[1:]}
    assert lines["Xiufeng"][1:7] == ["10", "10", "20", "12", "60.0", ""]
    assert lines["Yangshuo"][affordable] == "0"


def test_managers_only(app, staff_client, world):
    client, officer = staff_client(Role.OFFICER, districts=[world["a"]])
    assert client.get("/manager/assessment").status_code == 403
    for kind in assessment.EXPORT_KINDS:
        with pytest.raises(Forbidden):
            request_export(officer, kind, "xlsx", "en", params={"year": 2026, "month": "2026-06"})
