"""A manager steers the programme, as a new user would: from the workbench to this year's
targets (one cell changed and saved), the dashboard (charts drawn from its tables, then one
district), the self-assessment report, and each ledger downloaded and opened as a
spreadsheet with the columns the seeds' tables have."""

from __future__ import annotations

import io
import re

from openpyxl import load_workbook
from playwright.sync_api import expect

from tests.e2e.helpers import sign_in

# the first columns of each ledger's header row, in English
LEDGER_HEADERS = {
    "project_list": ["No.", "Project name", "Project address"],
    "target_list": ["Implementing unit"],
    "responsibility_list": [
        "No.",
        "Project name",
        "Project address",
        "Responsible unit",
        "Responsible person",
        "Implementing unit",
        "Remarks",
    ],
    "progress_ledger": ["No.", "Project name"],
    "monthly_progress": None,  # checked to have a header and rows
    "self_assessment": None,
}


def header_of(data: bytes) -> tuple[list, int]:
    """The first non-empty row of the workbook's first sheet, and the number of rows."""
    sheet = load_workbook(io.BytesIO(data), read_only=True).worksheets[0]
    rows = [[c for c in row if c not in (None, "")] for row in sheet.iter_rows(values_only=True)]
    rows = [r for r in rows if r]
    return [str(c) for c in rows[0]], len(rows)


def test_a_manager_sets_targets_reads_the_dashboard_and_downloads_the_ledgers(browser, server):
    ctx = browser.new_context(locale="en")
    page = ctx.new_page()
    sign_in(page, server, "demo.manager", staff=True)
    page.goto(server["url"] + "/staff/")
    page.get_by_role("link", name="Yearly targets and their deadlines").click()
    expect(page.locator("h1")).to_contain_text("Targets")

    # this year's task table, as loaded from the seed: one cell changed and saved
    page.locator("main a[href*='/manager/targets/']").first.click()
    expect(page.locator("h1")).to_contain_text("Edit")
    cell = page.locator("input[name^='cell-'][name$='-new_allocations']").first
    cell.fill("")
    cell.fill("123")
    page.locator("main form button[type=submit]").last.click()
    expect(page.locator("h1")).not_to_contain_text("Edit")
    expect(page.locator("main table").first).to_contain_text("123")
    # a mistake is explained and what was typed stays
    page.locator("main a[href*='/manager/targets/']").first.click()
    cell = page.locator("input[name^='cell-'][name$='-new_allocations']").first
    cell.fill("-5")
    page.locator("main form button[type=submit]").last.click()
    expect(page.locator("main [role=alert], main .errors").first).to_be_visible()
    expect(page.locator("input[name^='cell-'][name$='-new_allocations']").first).to_have_value("-5")

    # the dashboard: every chart is drawn from its table, then one district alone
    page.goto(server["url"] + "/manager/dashboard")
    expect(page.locator("main table").first).to_be_visible()
    page.wait_for_function("() => window.Chart && Object.keys(Chart.instances).length > 0")
    charts = page.evaluate("() => Object.keys(Chart.instances).length")
    tables = page.locator("main table[data-chart]").count()
    canvases = page.locator("main canvas[role=img][aria-label]")
    assert tables >= charts == canvases.count() >= 10  # a table with nothing to draw has none
    page.locator("select[name=district]").select_option(label="Qixing District")
    page.locator("main form button[type=submit]").first.click()
    expect(page.locator("main")).to_contain_text("Qixing District")

    # the self-assessment report of the year
    page.goto(server["url"] + "/manager/assessment")
    expect(page.locator("main h2").first).to_be_visible()

    # each ledger, prepared, downloaded and opened as a spreadsheet
    for kind, expected in LEDGER_HEADERS.items():
        page.goto(server["url"] + "/manager/ledgers")
        form = page.locator(f"form:has(input[name=ledger][value={kind}])")
        form.locator("input[name$=format][value=xlsx]").check()
        form.locator("button[type=submit]").click()
        link = page.get_by_role("link", name="Download")
        expect(link).to_be_visible()
        resp = page.request.get(server["url"] + link.get_attribute("href"))
        assert resp.ok, kind
        assert re.search(r"\.xlsx", resp.headers.get("content-disposition", "")), kind
        header, rows = header_of(resp.body())
        if expected:
            assert header[: len(expected)] == expected, (kind, header)
        assert rows > 1, kind
    ctx.close()
