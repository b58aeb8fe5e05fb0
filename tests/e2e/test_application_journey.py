"""Issue "one-certificate applications", done when: a resident applies on a phone-sized page,
a reviewer of each department and an officer finish the review, the notice runs, an
objection is resolved and the household reaches the waiting list."""

import re
import sqlite3
from datetime import date, timedelta

from playwright.sync_api import expect

from portal.verification.demo_data import demo_families
from tests.e2e.helpers import sign_in

DEPARTMENT_REVIEWERS = [
    "demo.public-security",
    "demo.civil-affairs",
    "demo.property",
    "demo.social-security",
    "demo.housing-fund",
    "demo.market-regulation",
    "demo.vehicles",
    "demo.disability",
]


def staff(new_page, server, username):
    page = new_page(locale="en")
    sign_in(page, server, username, staff=True)
    return page


def test_household_applies_and_reaches_the_waiting_list(server, new_page):
    family = next(f for f in demo_families() if f.household.members[0].name == "张伟")
    applicant, *others = family.household.members

    # the resident, on a phone, in English
    resident = new_page(locale="en", phone=True)
    sign_in(resident, server, "13807730001")
    resident.goto(server["url"] + "/applications")
    resident.get_by_label(re.compile("^Public rental housing")).check()
    resident.get_by_role("button", name="Start").click()
    for person in others:
        resident.locator("#name").fill(person.name)
        resident.locator("#id_number").fill(person.id_number)
        resident.locator("#relationship").select_option(person.relationship.value)
        resident.get_by_role("button", name="Add to the household").click()
        expect(resident.locator("main")).to_contain_text(person.name)
    resident.get_by_role("link", name="Continue: details").click()
    resident.locator("#current_address").fill("桂林市秀峰区中山中路1号")
    resident.locator("#district").select_option("450302")
    resident.get_by_role("button", name="Save and continue").click()
    resident.locator("#accept_pledge").check()
    resident.locator("#accept_authorization").check()
    resident.locator("#accept_privacy").check()
    resident.get_by_role("button", name="Sign and submit the application").click()
    expect(resident.locator("main")).to_contain_text(re.compile(r"GL\d{10}"))
    reference = re.search(r"GL\d{10}", resident.locator("main").inner_text()).group(0)

    # one reviewer per department confirms the consistent answers
    for username in DEPARTMENT_REVIEWERS:
        page = staff(new_page, server, username)
        page.goto(server["url"] + "/review/checks")
        expect(page.locator("main")).to_contain_text(reference)
        page.get_by_role("button", name="Confirm all consistent answers").click()
        expect(page.locator(".flash-success")).to_be_visible()
        page.context.close()

    # the district's officer reads the whole file and approves
    officer = staff(new_page, server, "demo.officer")
    officer.goto(server["url"] + f"/officer/applications?q={reference}")
    officer.get_by_role("link", name=reference).click()
    expect(officer.locator("main")).to_contain_text("Income per person")
    officer.get_by_role("button", name="Approve for public notice").click()
    expect(officer.locator(".flash-success")).to_be_visible()
    officer.goto(server["url"] + "/officer/notices")
    officer.get_by_role("button", name=re.compile("^Publish notice")).first.click()
    expect(officer.locator(".flash-success")).to_be_visible()

    # another resident reads the public notice (masked) and objects
    neighbour = new_page(locale="en")
    sign_in(neighbour, server, "13807730002")
    neighbour.goto(server["url"] + "/notices")
    neighbour.locator("main table a").first.click()
    expect(neighbour.locator("main")).to_contain_text(reference)
    expect(neighbour.locator("main")).not_to_contain_text(applicant.id_number)
    expect(neighbour.locator("main")).to_contain_text("张*")
    neighbour.get_by_text(f"Object to {reference}").click()
    neighbour.locator("textarea[name=reason]").fill("他家在市区还有一套住房，请核实。")
    neighbour.get_by_role("button", name="Send the objection").click()
    expect(neighbour.locator(".flash-success")).to_be_visible()

    # the officer looks into it and dismisses it
    officer.goto(server["url"] + "/officer/objections")
    officer.locator("main table a").first.click()
    officer.get_by_label(re.compile("^Dismiss")).check()
    officer.locator("#resolution").fill("不动产登记查无该房产，异议不成立。")
    officer.get_by_role("button", name="Send the answer").click()
    expect(officer.locator(".flash-success")).to_be_visible()

    # ten days pass (the server runs on the real clock: move the notice into the past)
    db = sqlite3.connect(server["instance"] / "portal.db")
    past = date.today() - timedelta(days=11)  # noqa: DTZ011 - the server's local date
    with db:
        db.execute(
            "UPDATE notices SET starts_on = ?, ends_on = ?",
            (past.isoformat(), (past + timedelta(days=10)).isoformat()),
        )
    db.close()
    officer.goto(server["url"] + "/officer/notices")
    officer.get_by_role("button", name="Close notice").first.click()
    expect(officer.locator(".flash-success")).to_be_visible()

    # the resident sees the household qualified
    resident.goto(server["url"] + "/applications")
    resident.get_by_role("link", name=reference).first.click()
    expect(resident.locator("main")).to_contain_text("qualified")
