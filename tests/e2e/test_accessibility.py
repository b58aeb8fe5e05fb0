"""Accessibility: axe-core finds no serious or critical violation on the portal's pages, for
anonymous visitors, residents and every staff role, in Chinese and English, in the
large-text mode and on a phone."""

from pathlib import Path
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa

from tests.e2e.helpers import portal_app, sign_in

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
    "/credit",
    "/programmes",
    "/self-check",
    "/self-check?programme=public_rental&household_size=3&monthly_income=3000&assistance=none"
    "&owned_area=0&hukou=yes&hukou_years=6",
    "/self-check?programme=rental_subsidy&household_size=-1&monthly_income=abc",  # errors
    "/housing",
    "/contacts",
]
RESIDENT = [
    "/me",
    "/applications",
    "/messages",
    "/account",
    "/waitlist",
    "/my/rounds/",
    # a household without a home, a subsidy or a review
    "/my/home",
    "/my/subsidy",
    "/my/review",
]
# staff pages of rent and exit, rental subsidy and annual reviews (officers and managers)
HOUSEHOLDS = [
    "/staff/subsidy/",
    "/staff/subsidy/awards",
    "/staff/tenancy/",
    "/staff/tenancy/arrears",
    "/staff/tenancy/exits",
    "/staff/tenancy/import",
    "/staff/annual-reviews",
    "/staff/annual-reviews/renewals",
    "/staff/annual-reviews/renewals?all=1",
]
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
        "/manager/rules/subsidy",
        "/manager/rules/tenancy",
        *HOUSEHOLDS,
        "/manager/dashboard",
        "/manager/dashboard?district=450305",
        "/manager/assessment",
        "/manager/targets",
        "/manager/projects",
        "/manager/projects/new",
        "/manager/ledgers",
        "/manager/offices",
    ],
    "demo.officer": [
        "/staff/",  # the workbench
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
        *HOUSEHOLDS,
    ],
    "demo.civil-affairs": ["/review/checks"],
}


def demo_households(server) -> dict[str, list[str]]:
    """Demo residents whose own pages show a home, a subsidy or a review, and those pages:
    a tenant under review, a tenant with an exit case, a tenant asked to renew and a
    household paid a rental subsidy to its bank account."""
    from portal.accounts.models import User
    from portal.applications.models import Application
    from portal.extensions import db
    from portal.reviews.models import LeaseRenewal, Review
    from portal.subsidy.models import AwardBasis, AwardStatus, SubsidyAward
    from portal.tenancy.models import ExitCase, Lease

    def first_tenant(model):
        """The tenant of the first lease that has a ``model`` record."""
        return (
            sa.select(User.mobile)
            .join(Lease, Lease.tenant_id == User.id)
            .join(model, model.lease_id == Lease.id)
            .order_by(model.id)
        )

    paid = (
        sa.select(User.mobile)
        .join(Application, Application.applicant_id == User.id)
        .join(SubsidyAward, SubsidyAward.application_id == Application.id)
        .where(SubsidyAward.basis == AwardBasis.SUBSIDY, SubsidyAward.status == AwardStatus.ACTIVE)
        .order_by(SubsidyAward.id)
    )
    found = {
        ("/my/home", "/my/review", "/my/subsidy"): first_tenant(Review),
        ("/my/home", "/my/subsidy"): first_tenant(ExitCase),
        ("/my/review", "/my/home"): first_tenant(LeaseRenewal),
        ("/my/subsidy", "/my/review"): paid,
    }
    pages: dict[str, list[str]] = {}
    with portal_app(server).app_context():
        for paths, query in found.items():
            mobile = db.session.scalars(query.limit(1)).one()
            pages.setdefault(mobile, []).extend(paths)
    return pages


def demo_records(server) -> dict[str, list[str]]:
    """Pages of single demo records for each staff account: the subsidy months, an award
    of each basis and status, leases (in arrears, with an exit case, under review), the
    exit cases and a review; all in the demo officer's districts."""
    from portal.accounts.models import User
    from portal.core.clock import today
    from portal.extensions import db
    from portal.public.models import Office
    from portal.reports.models import Project
    from portal.reviews import services as reviews
    from portal.reviews.models import Review
    from portal.subsidy import services as subsidy
    from portal.subsidy.models import SubsidyAward, SubsidyRun
    from portal.tenancy import exits, rent
    from portal.tenancy.models import ExitCase, Lease

    with portal_app(server).app_context():
        # a project of each kind, and an office
        project_ids = sorted(
            db.session.scalars(sa.select(sa.func.min(Project.id)).group_by(Project.kind))
        )
        office_id = db.session.scalars(sa.select(Office.id).order_by(Office.id).limit(1)).one()
        officer = db.session.scalars(sa.select(User).where(User.username == "demo.officer")).one()
        paths = [
            f"/staff/subsidy/runs/{month:%Y-%m}"
            for month in db.session.scalars(sa.select(SubsidyRun.month).order_by(SubsidyRun.month))
        ]
        kinds = db.session.scalars(
            sa.select(sa.func.min(SubsidyAward.id))
            .where(subsidy.award_scope(officer))
            .group_by(SubsidyAward.basis, SubsidyAward.status)
        )
        paths += [f"/staff/subsidy/awards/{award_id}" for award_id in sorted(kinds)]
        leases = list(
            db.session.scalars(sa.select(Lease).where(rent.lease_scope(officer)).order_by(Lease.id))
        )
        with_case = set(db.session.scalars(sa.select(ExitCase.lease_id)))
        reviewed = set(db.session.scalars(sa.select(Review.lease_id)))
        lease_ids = {  # the first with an exit case, under review, in arrears
            next(lease.id for lease in leases if lease.id in with_case),
            next(lease.id for lease in leases if lease.id in reviewed),
            next(lease.id for lease in leases if rent.arrears_of(lease).months),
        }
        paths += [f"/staff/tenancy/leases/{lease_id}" for lease_id in sorted(lease_ids)]
        cases = db.session.scalars(
            sa.select(sa.func.min(ExitCase.id))
            .where(exits.case_scope(officer))
            .group_by(ExitCase.status)
        )
        paths += [f"/staff/tenancy/exits/{case_id}" for case_id in sorted(cases)]
        review = db.session.scalars(
            sa.select(Review.id).where(reviews.officer_scope(officer)).order_by(Review.id).limit(1)
        ).one()
        paths.append(f"/staff/annual-reviews/{review}")
        planning = [
            f"/manager/targets/{today().year}",
            *(f"/manager/projects/{pid}" for pid in project_ids),
            f"/manager/projects/{project_ids[0]}/edit",
            f"/manager/offices/{office_id}",
        ]
    return {"demo.officer": paths, "demo.manager": [*paths, *planning]}


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


def visit(page, server, path: str) -> list[str]:
    """Open a signed-in page: an answer other than the page itself is a finding too (an
    axe run on a refusal or a sign-in form would prove nothing), then its violations."""
    resp = page.goto(server["url"] + path)
    if resp is None or resp.status != 200 or urlsplit(page.url).path != urlsplit(path).path:
        return [f"{path}: answered {resp and resp.status} at {page.url}"]
    return violations(page)


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
    with portal_app(server).app_context():
        from portal.extensions import db
        from portal.housing.models import Estate

        estate = db.session.scalars(sa.select(Estate.code).order_by(Estate.id).limit(1)).one()
    for path in [*PUBLIC, f"/housing/{estate}"]:
        page.goto(server["url"] + path)
        found += violations(page)
    page.goto(server["url"] + "/")
    page.locator("form[action='/care-mode'] button").click()  # large-text mode
    found += violations(page)
    for path in ("/programmes", "/self-check", "/housing", "/contacts"):
        page.goto(server["url"] + path)
        found += violations(page)
    sign_in(page, server, "13807730005")
    for path in RESIDENT:
        found += visit(page, server, path)
    for mobile, paths in demo_households(server).items():
        page = axe_page(locale, phone)
        sign_in(page, server, mobile)
        for path in paths:
            found += visit(page, server, path)
        page.context.close()
    assert found == []


def test_staff_pages(server, axe_page):
    found = []
    records = demo_records(server)
    for username, paths in STAFF.items():
        paths = [*paths, *records.get(username, [])]
        page = axe_page("zh-CN")
        sign_in(page, server, username, staff=True)
        for path in paths:
            found += visit(page, server, path)
        page.context.close()
    assert found == []
