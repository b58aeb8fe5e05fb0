"""The managers' dashboard (/manager/dashboard): every section as an accessible table with
the same numbers the charts are drawn from, targets first with the tasks behind marked in
words; the district and period filters restrict every section; bad filters are explained
and kept; managers only; the chart script is served by the portal; a fixed number of
queries however much data there is."""

from __future__ import annotations

import re
from contextlib import contextmanager
from datetime import date
from decimal import Decimal
from html.parser import HTMLParser

import pytest
import sqlalchemy as sa
import time_machine

from portal.accounts.models import DistrictKind
from portal.accounts.roles import Role
from portal.applications.models import Status
from portal.extensions import db
from portal.reports import figures
from portal.reports.models import ProjectKind, TargetKind
from portal.tenancy import rent
from tests.factories import DistrictFactory
from tests.factories.credit import credit_record
from tests.factories.fixtures import make_staff, page_text, staff_browser
from tests.factories.housing import UnitFactory
from tests.factories.subsidy import award
from tests.factories.tenancy import make_lease, noon
from tests.factories.waitlist import waiting_entry
from tests.unit.test_figures import milestone, project, subsidy_month, target
from tests.unit.test_figures_sections import at, case

TODAY = date(2026, 7, 15)


@pytest.fixture(autouse=True)
def clock():
    with time_machine.travel(noon(TODAY), tick=False):
        yield


def build_world(a, b, *, city: bool = True, paid_in: int = 1) -> dict:
    """Targets and projects, applications with two decisions, the waiting list, a lease with
    its rent, a subsidy month, homes and a credit record, in district ``a`` (urban) and
    ``b`` (a county); with ``city``, the city's own share and the June milestones; the
    subsidy is paid in month ``paid_in``. See the tests for the numbers it makes."""
    target(a, TargetKind.RENOVATION_STARTS_CARRIED, 10)
    target(a, TargetKind.RENOVATION_STARTS_NEW, 10)
    target(a, TargetKind.NEW_ALLOCATIONS, 4)
    target(b, TargetKind.AFFORDABLE_RENTAL_STARTS, 100)
    if city:
        target(None, TargetKind.NEW_ALLOCATIONS, 6)
        milestone(TargetKind.RENOVATION_STARTS_CARRIED, 6, 70)
        milestone(TargetKind.RENOVATION_STARTS_NEW, 6, 70)
    project(a, ProjectKind.RENOVATION, 12, {5: (12, 2)})
    project(b, ProjectKind.AFFORDABLE_RENTAL, 100, {6: (60, 0)})
    decided_a = case(
        a, Status.QUALIFIED, at(date(2026, 3, 1), 9), at(date(2026, 3, 5), 9), date(2026, 3, 27)
    )  # 4 days, on time
    case(
        b, Status.REJECTED, at(date(2026, 4, 1), 9), at(date(2026, 5, 2), 15), date(2026, 4, 29)
    )  # 31.25 days, late
    lease = make_lease(a, starts_on=date(2026, 5, 1))  # its household qualified on 15 June
    waiting_entry(b, qualified_on=date(2026, 7, 5))
    UnitFactory(district=b, vacated_on=date(2025, 1, 1))
    subsidy_month(date(2026, paid_in, 1), [(award(a), "500.00"), (award(b), "300.00")])
    credit_record("V-SUBLET", application_id=decided_a.id, confirmed_at=at(date(2026, 3, 10), 10))
    rent.charge_rent()
    may = db.session.query(rent.RentCharge).filter_by(lease_id=lease.id, month=date(2026, 5, 1))
    may.one().paid = Decimal("500.00")
    db.session.flush()
    return {"a": a, "b": b, "lease": lease}


@pytest.fixture
def world(db):
    return build_world(
        DistrictFactory(kind=DistrictKind.DISTRICT, name_en="Xiufeng", sort_order=1),
        DistrictFactory(kind=DistrictKind.COUNTY, name_en="Yangshuo", sort_order=2),
    )


@pytest.fixture
def browser(app):
    return staff_browser(app, make_staff(Role.MANAGER))


class Tables(HTMLParser):
    """The page's tables: caption, attributes, and the text of each row's cells by part
    (thead, tbody, tfoot), plus each header cell's attributes."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.tables: list[dict] = []
        self._cell: list[str] | None = None
        self._part = "tbody"
        self._caption = False
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "table":
            self.tables.append(
                {"attrs": attrs, "caption": "", "thead": [], "tbody": [], "tfoot": [], "th": []}
            )
        elif not self.tables:
            return
        elif tag == "caption":
            self._caption = True
        elif tag in ("thead", "tbody", "tfoot"):
            self._part = tag
        elif tag == "tr":
            self.tables[-1][self._part].append([])
        elif tag in ("th", "td"):
            self._cell = []
            if tag == "th":
                self.tables[-1]["th"].append(attrs)

    def handle_endtag(self, tag):
        if tag == "caption":
            self._caption = False
        elif tag in ("th", "td") and self._cell is not None and self.tables:
            text = re.sub(r"\s+", " ", "".join(self._cell)).strip()
            self.tables[-1][self._part][-1].append(text)
            self._cell = None
        elif tag in ("thead", "tfoot"):
            self._part = "tbody"

    def handle_data(self, data):
        if self._caption and self.tables:
            self.tables[-1]["caption"] += data
        if self._cell is not None:
            self._cell.append(data)

    def named(self, caption_start: str) -> dict:
        found = [t for t in self.tables if t["caption"].strip().startswith(caption_start)]
        assert found, f"no table “{caption_start}…” in {[t['caption'] for t in self.tables]}"
        return found[0]

    def rows(self, caption_start: str, part: str = "tbody") -> dict[str, list[str]]:
        """The rows of a table, by their first cell."""
        return {row[0]: row[1:] for row in self.named(caption_start)[part] if row}


def dashboard(browser, **query) -> Tables:
    resp = browser.get("/manager/dashboard", query_string=query)
    assert resp.status_code == 200, page_text(resp)[:2000]
    return Tables(page_text(resp))


# --- the page -------------------------------------------------------------------------------


def test_every_section_is_a_table_the_targets_first(browser, world):
    resp = browser.get("/manager/dashboard")
    html = page_text(resp)
    headings = re.findall(r"<h2 id=\"[a-z-]+\">([^<]+)</h2>", html)
    assert headings == [
        "Targets for 2026",
        "Applications and department checks",
        "Review times",
        "Waiting list",
        "Allocations",
        "Rental subsidies",
        "Homes",
        "Credit records",
        "Rent",
    ]
    tables = Tables(html)
    for table in tables.tables:
        assert table["caption"].strip(), table
        assert all(th.get("scope") in ("col", "row") for th in table["th"]), table["caption"]
    charted = [t for t in tables.tables if "data-chart" in t["attrs"]]
    assert len(charted) >= 12
    for table in charted:
        assert table["attrs"]["data-chart"] in ("bar", "stacked", "hbar", "line")
        label = table["attrs"]["data-chart-label"]
        assert table["caption"].strip() in label
        assert "the numbers are in the table" in label
        assert any("data-series" in th for th in table["th"]), table["caption"]
    # charts are progressive: the scripts are files (deferred), never inline; no canvas yet
    assert '<script src="/static/vendor/chart.js/chart.umd.min.js" defer></script>' in html
    assert '<script src="/static/js/charts.js" defer></script>' in html
    assert not re.search(r"<script(?![^>]*\bsrc=)", html)
    assert "<canvas" not in html
    assert 'href="/static/css/dashboard.css"' in html


def test_the_targets_with_the_milestone_due_and_the_tasks_behind(browser, world):
    tables = dashboard(browser)
    summary = tables.rows("Progress against the targets of 2026: Whole city")
    starts = summary["Shanty-town renovation starts: both plans together"]
    assert starts == ["20", "12", "60.0%", "14 (70% by the end of June 2026)", "—", "Behind"]
    affordable = summary["Affordable rental housing: units started"]
    assert affordable[:3] == ["100", "60", "60.0%"]
    assert affordable[-1] == "No milestone due yet"
    allocations = summary["Public rental housing: newly allocated and moved in"]
    assert allocations[:3] == ["10", "1", "10.0%"]
    assert summary["Households receiving a rental subsidy"][:2] == ["0", "2"]
    # the share done is what the chart draws
    share = tables.named("Progress against the targets of 2026")
    assert share["attrs"]["data-chart"] == "hbar"

    by_district = tables.rows(
        "Shanty-town renovation starts: both plans together, 2026: by district"
    )
    assert list(by_district) == [
        "Whole city",
        "City's own share and urban districts",
        "City's own share",
        "Xiufeng",
        "Counties",
        "Yangshuo",
    ]
    assert by_district["Xiufeng"] == [
        "10",
        "10",
        "20",
        "12",
        "60.0%",
        "14 (70% by the end of June 2026)",
        "Behind",
    ]
    assert by_district["City's own share"][-1] == "Not recorded separately"
    assert tables.rows("Public rental housing: newly allocated and moved in, 2026: by district")[
        "City's own share"
    ][:2] == ["6", "—"]


def test_the_other_sections_numbers(browser, world):
    tables = dashboard(browser)
    apps = tables.rows("Applications submitted in the period")
    # the two decided cases, the households made for the lease, the queue and the subsidies
    assert apps["Qualified"] == ["3", "2", "0", "5"]
    assert apps["Rejected"] == ["1", "0", "0", "1"]
    assert tables.rows("Applications submitted in the period", "tfoot")["Total"] == [
        "4",
        "2",
        "0",
        "6",
    ]

    reviews = tables.rows("Applications decided in the period")
    assert reviews["Xiufeng"] == ["1", "1", "100.0%", "4.0", "4.0"]
    assert reviews["Yangshuo"] == ["1", "0", "0.0%", "31.3", "31.3"]
    assert tables.rows("Applications decided in the period", "tfoot")["Total"] == [
        "2",
        "1",
        "50.0%",
        "17.6",
        "17.6",
    ]

    waiting = tables.rows("Households waiting today by district")
    assert waiting["Xiufeng"] == ["1", "30.0", "30", "0"]
    assert waiting["Yangshuo"] == ["1", "10.0", "10", "0"]

    allocations = tables.rows("Allocations in the period by district")
    assert allocations == {"Xiufeng": ["0", "0", "0", "0", "0", "1"]}

    subsidies = tables.rows("Rental subsidy paid per month")
    assert subsidies["January 2026"] == ["Closed: paid", "2", "800.00", "0.00", "800.00"]

    homes = tables.rows("Homes today by district and state")
    assert homes["Xiufeng"] == ["0", "0", "1", "0", "1", "100.0%", "0"]
    assert homes["Yangshuo"] == ["1", "0", "0", "0", "1", "0.0%", "1 Not re-let"]

    credit = tables.rows("Credit records today by grade and status")
    assert credit["Serious (严重)"][2] == "1"  # in force
    assert credit["Serious (严重)"][-1] == "1"  # confirmed in the period

    rent_rows = tables.rows("Rent charged and collected per month")
    assert rent_rows == {
        "May 2026": ["500.00", "500.00", "100.0%"],
        "June 2026": ["500.00", "0.00", "0.0%"],
        "July 2026": ["500.00", "0.00", "0.0%"],
    }


def test_a_district_restricts_every_section(browser, world):
    tables = dashboard(browser, district=world["b"].code)
    summary = tables.rows("Progress against the targets of 2026: Yangshuo")
    assert summary["Affordable rental housing: units started"][:3] == ["100", "60", "60.0%"]
    assert summary["Shanty-town renovation starts: both plans together"][:2] == ["0", "0"]
    assert not any(t["caption"].startswith("Shanty-town") for t in tables.tables)  # no lines
    assert tables.rows("Applications submitted in the period", "tfoot")["Total"] == [
        "2",
        "1",
        "0",
        "3",
    ]
    assert list(tables.rows("Applications decided in the period")) == ["Yangshuo"]
    assert list(tables.rows("Households waiting today by district")) == ["Yangshuo"]
    assert tables.rows("Allocations in the period by district") == {
        "No allocation in the period.": []
    }
    assert tables.rows("Rental subsidy paid per month")["January 2026"][1:3] == ["1", "300.00"]
    assert list(tables.rows("Homes today by district and state")) == ["Yangshuo"]
    credit = tables.rows("Credit records today by grade and status", "tfoot")["Total"]
    assert credit[-2:] == ["0", "0"]
    assert tables.rows("Rent charged and collected per month") == {
        "No rent was charged for the period.": []
    }


def test_the_period_restricts_the_period_figures(browser, world):
    tables = dashboard(browser, **{"from": "2026-03-01", "to": "2026-03-31"})
    assert tables.rows("Applications submitted in the period", "tfoot")["Total"] == [
        "1",
        "0",
        "0",
        "1",
    ]
    assert list(tables.rows("Applications decided in the period")) == ["Xiufeng"]
    assert tables.rows("Rent charged and collected per month") == {
        "No rent was charged for the period.": []
    }
    page = page_text(
        browser.get("/manager/dashboard", query_string={"from": "2026-03-01", "to": "2026-03-31"})
    )
    assert "the other figures for March 1, 2026 to March 31, 2026" in page
    # the targets keep their year
    assert "Targets for 2026" in page


@pytest.mark.parametrize(
    ("query", "message"),
    [
        (
            {"from": "2026-03-02", "to": "2026-03-01"},
            "The end of the period must not be before its start.",
        ),
        ({"from": "2020-01-01", "to": "2025-01-01"}, "The period may cover at most 5 years."),
        ({"from": "2026-13-01"}, "Enter a date like 2026-03-31."),
        ({"year": "1999"}, "Choose a year from 2000 to 2027."),
        ({"district": "000000"}, "Choose a district from the list."),
    ],
)
def test_bad_filters_are_explained_and_kept(browser, query, message):
    resp = browser.get("/manager/dashboard", query_string=query)
    assert resp.status_code == 422
    page = page_text(resp)
    assert message in page
    assert 'class="error-summary"' in page
    for value in query.values():
        if value != "000000":
            assert f'value="{value}"' in page
    assert "Targets for" not in page


def test_the_page_in_chinese(app, world):
    client = app.test_client()
    from tests.factories.fixtures import sign_in_staff

    sign_in_staff(client, make_staff(Role.MANAGER))
    resp = client.get("/manager/dashboard")
    assert resp.status_code == 200
    assert 'lang="zh-Hans"' in resp.get_data(as_text=True)


def test_only_managers_see_the_dashboard(app, staff_client, resident_client, world):
    for role in (Role.OFFICER, Role.REVIEWER, Role.ADMIN, Role.AUDITOR):
        client, _ = staff_client(role)
        assert client.get("/manager/dashboard").status_code == 403
    assert resident_client.get("/manager/dashboard").status_code == 403
    assert app.test_client().get("/manager/dashboard").status_code == 302


def test_the_chart_script_and_chart_js_are_served_by_the_portal(client):
    script = client.get("/static/js/charts.js")
    assert script.status_code == 200
    assert "javascript" in script.mimetype
    code = script.get_data(as_text=True)
    for needle in ("data-chart", "data-series", "data-value", 'setAttribute("role", "img")'):
        assert needle in code
    vendor = client.get("/static/vendor/chart.js/chart.umd.min.js")
    assert vendor.status_code == 200
    assert len(vendor.get_data()) > 100_000


# --- a fixed number of queries ----------------------------------------------------------------


@contextmanager
def counted():
    """The SQL statements run on the test's connection meanwhile."""
    conn = db.session.connection()
    seen: list[str] = []

    def hook(_conn, _cursor, statement, *_args):
        seen.append(statement)

    sa.event.listen(conn, "before_cursor_execute", hook)
    try:
        yield seen
    finally:
        sa.event.remove(conn, "before_cursor_execute", hook)


def selects(statements: list[str]) -> list[str]:
    return [s for s in statements if s.lstrip().upper().startswith(("SELECT", "WITH"))]


QUERIES = 25  # the dashboard's queries, whatever the data: see figures.dashboard


def test_the_dashboard_takes_a_fixed_number_of_queries(browser, world):
    filters = figures.read_filters()
    by_district = {"district": world["a"].code}

    def count() -> tuple[int, int, int]:
        with counted() as direct:
            figures.dashboard(filters)
        with counted() as city:
            assert browser.get("/manager/dashboard").status_code == 200
        with counted() as district:
            assert browser.get("/manager/dashboard", query_string=by_district).status_code == 200
        return len(selects(direct)), len(selects(city)), len(selects(district))

    before = count()
    assert before[0] == QUERIES, before
    # more of everything, in more districts: not one query more
    for month in (2, 3):
        more = build_world(
            DistrictFactory(kind=DistrictKind.DISTRICT),
            DistrictFactory(kind=DistrictKind.COUNTY),
            city=False,
            paid_in=month,
        )
        waiting_entry(more["a"], qualified_on=date(2020, 1, 1))
    assert count() == before
