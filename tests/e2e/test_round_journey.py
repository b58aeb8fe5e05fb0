"""An allocation round end to end in the browser: an officer drafts and proposes it, a
manager approves it, the officer draws the lottery and opens the choosing, the first
household drawn sees its place on the waiting list, chooses a unit and reads its lease, and
the public page re-verifies the draw from the published inputs."""

from __future__ import annotations

import re
from decimal import Decimal

import sqlalchemy as sa
from playwright.sync_api import expect

from tests.e2e.helpers import sign_in

XIUFENG = "450302"


def _first_household(server, reference: str) -> tuple[str, str]:
    """The mobile number and name of the household drawn first in round ``reference``:
    read from the portal's own database, as the e2e test process may."""
    from portal import create_app
    from portal.accounts.models import User
    from portal.allocation.models import AllocationRound, RoundEntrant
    from portal.applications.models import Application
    from portal.extensions import db
    from portal.waitlist.models import QueueEntry

    inst = server["instance"]
    app = create_app(
        "development",
        instance_path=str(inst),
        SQLALCHEMY_DATABASE_URI=f"sqlite:///{inst / 'portal.db'}",
    )
    with app.app_context():
        user = db.session.execute(
            sa.select(User)
            .join(Application, Application.applicant_id == User.id)
            .join(QueueEntry, QueueEntry.application_id == Application.id)
            .join(RoundEntrant, RoundEntrant.entry_id == QueueEntry.id)
            .join(AllocationRound, AllocationRound.id == RoundEntrant.round_id)
            .where(AllocationRound.reference == reference, RoundEntrant.position == 1)
        ).scalar_one()
        out = user.mobile, user.real_name
        db.engine.dispose()
    return out


def _pick_units(page) -> int:
    """Tick one unit of each size band (≤ 35, ≤ 50, ≤ 60 m²) so every household fits one."""
    bands = [Decimal(35), Decimal(50), Decimal(60)]
    picked = 0
    for row in page.locator("table tbody tr").all():
        area_cell = row.locator("td[data-label='Area (m²)']")
        if not area_cell.count():
            continue
        area = Decimal(area_cell.inner_text().strip())
        band = next((b for b in bands if area <= b), None)
        if band is None:
            continue
        bands.remove(band)
        row.locator("input[type=checkbox]").check()
        picked += 1
        if not bands:
            break
    return picked


def test_a_round_from_proposal_to_lease(server, new_page):
    officer = new_page(locale="en")
    sign_in(officer, server, "demo.officer", staff=True)
    officer.goto(server["url"] + "/staff/rounds/new")
    officer.get_by_label("District").select_option(label="Xiufeng District")
    officer.get_by_role("button", name="Continue").click()
    officer.get_by_label("Title").fill("2026 winter round, Xiufeng")
    officer.get_by_label("By lottery").check()
    for group in officer.locator("input[name=groups]").all():
        group.check()
    assert _pick_units(officer) == 3
    officer.get_by_role("button", name="Save as draft").click()
    expect(officer.get_by_role("heading", level=1)).to_contain_text("2026 winter round")
    officer.get_by_role("button", name="Propose for approval").click()
    expect(officer.locator("h1 .badge")).to_have_text("Awaiting a manager's approval")
    round_url = officer.url
    reference = re.search(r"R\d{4}-\d{4}", officer.locator("main").inner_text()).group(0)

    # the proposer cannot approve their own round; a manager does
    manager = new_page(locale="en")
    sign_in(manager, server, "demo.manager", staff=True)
    manager.goto(server["url"] + "/staff/rounds/approvals")
    manager.get_by_role("row", name=re.compile(reference)).get_by_role(
        "link", name="Decide"
    ).click()
    manager.get_by_label(re.compile("^Approve")).check()
    manager.get_by_role("button", name="Record the decision").click()
    expect(manager.locator("h1 .badge")).to_have_text("Approved: entrants published")

    officer.goto(round_url)
    officer.get_by_role("button", name="Draw the lottery").click()
    expect(officer.locator("h1 .badge")).to_have_text("Order drawn")
    officer.get_by_role("link", name=re.compile("counter", re.I)).first.click()
    officer.get_by_role("button", name="Start choosing").click()
    expect(officer.locator("h1 .badge")).to_have_text("Choosing units")

    # the household drawn first: its place on the waiting list, then its invitation
    mobile, name = _first_household(server, reference)
    resident = new_page(locale="en", phone=True)
    sign_in(resident, server, mobile)
    resident.goto(server["url"] + "/waitlist")
    expect(resident.get_by_role("heading", name="Your place")).to_be_visible()
    expect(resident.get_by_role("heading", name="Your points")).to_be_visible()
    resident.goto(server["url"] + "/my/rounds/")
    resident.get_by_role("button", name=re.compile("^Choose unit")).first.click()
    expect(resident.get_by_role("heading", level=1)).to_have_text("Confirm your choice")
    resident.get_by_role("button", name="Yes, take this unit").click()
    resident.goto(server["url"] + "/my/rounds/lease")
    expect(resident.get_by_role("heading", level=1)).to_have_text("My lease")
    expect(resident.locator("main")).to_contain_text(re.compile(r"L\d{10}"))

    # anyone re-runs the draw from the published seed and entrant list
    public = new_page(locale="en")
    public.goto(server["url"] + f"/rounds/{reference}")
    verification = public.locator("section[aria-labelledby=verify-heading]")
    expect(verification).to_contain_text("Every check passed")
    expect(verification.locator(".badge-fail")).to_have_count(0)
    assert name[0] in public.locator("main").inner_text()  # masked names keep the surname
