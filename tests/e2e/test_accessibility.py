"""Accessibility: axe-core finds no serious or critical violation on the portal's pages, for
anonymous visitors, residents and every staff role, in Chinese and English, in the
large-text mode and on a phone."""

from pathlib import Path

import pytest

from tests.e2e.helpers import sign_in

AXE = Path(__file__).parent / "vendor" / "axe-core" / "axe.min.js"
SEVERE = ("serious", "critical")

PUBLIC = [
    "/",
    "/login",
    "/register",
    "/privacy",
    "/notices",
    "/rounds/",
    "/password-reset",
    "/no-such-page",
]
RESIDENT = ["/me", "/applications", "/messages", "/account", "/waitlist", "/my/rounds/"]
STAFF = {
    "demo.admin": ["/staff/", "/admin/accounts", "/admin/accounts/new", "/admin/clients"],
    "demo.security": ["/admin/accounts"],
    "demo.auditor": ["/audit", "/audit/verify"],
    "demo.manager": [
        "/manager/rules/eligibility",
        "/manager/rules/waitlist",
        "/exports/",
        "/staff/rounds/approvals",
        "/staff/waitlist",
    ],
    "demo.officer": [
        "/officer/applications",
        "/officer/notices",
        "/officer/objections",
        "/officer/spot-checks",
        "/staff/waitlist",
        "/staff/waitlist/long-waiters",
        "/staff/waitlist/objections",
        "/staff/housing/",
        "/staff/housing/import",
        "/staff/housing/not-relet",
        "/staff/rounds/",
        "/staff/rounds/new",
    ],
    "demo.civil-affairs": ["/review/checks"],
}


@pytest.fixture
def axe_page(browser):
    """A browser page that may inject axe: the portal's CSP rightly refuses inline script."""
    contexts = []

    def make(locale: str, phone: bool = False):
        size = {"width": 390, "height": 844} if phone else {"width": 1280, "height": 900}
        ctx = browser.new_context(locale=locale, viewport=size, bypass_csp=True)
        contexts.append(ctx)
        return ctx.new_page()

    yield make
    for ctx in contexts:
        ctx.close()


def violations(page) -> list[str]:
    page.add_script_tag(path=str(AXE))
    result = page.evaluate(
        "async () => await axe.run(document, {runOnly: ['wcag2a', 'wcag2aa', 'best-practice']})"
    )
    return [
        f"{page.url} {v['id']} ({v['impact']}): {v['help']} — {v['nodes'][0]['target']}"
        for v in result["violations"]
        if v["impact"] in SEVERE
    ]


@pytest.mark.parametrize(("locale", "phone"), [("zh-CN", True), ("en", False)])
def test_public_and_resident_pages(server, axe_page, locale, phone):
    page = axe_page(locale, phone)
    found = []
    for path in PUBLIC:
        page.goto(server["url"] + path)
        found += violations(page)
    page.goto(server["url"] + "/")
    page.locator("form[action='/care-mode'] button").click()  # large-text mode
    found += violations(page)
    sign_in(page, server, "13807730005")
    for path in RESIDENT:
        page.goto(server["url"] + path)
        found += violations(page)
    assert found == []


def test_staff_pages(server, axe_page):
    found = []
    for username, paths in STAFF.items():
        page = axe_page("zh-CN")
        sign_in(page, server, username, staff=True)
        for path in paths:
            page.goto(server["url"] + path)
            found += violations(page)
        page.context.close()
    assert found == []
