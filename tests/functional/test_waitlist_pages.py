"""The waiting-list pages: a resident's own place, the staff listing at any depth, an entry's
page and its actions, long waiters and objections to suspensions (SECURITY.md B1)."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

import time_machine

from portal.accounts.roles import Role
from portal.core.audit import AuditEvent
from portal.core.clock import today
from portal.waitlist import services
from portal.waitlist.models import EntryStatus, Group
from tests.factories import DistrictFactory, ResidentFactory
from tests.factories.fixtures import english, make_staff, resident_browser, sign_in_staff
from tests.factories.registry import local_household
from tests.factories.waitlist import waiting_entry


def staff_browser(app, role, **kw):
    user = make_staff(role, **kw)
    c = english(app.test_client())
    sign_in_staff(c, user)
    return c, user


def text(resp) -> str:
    return re.sub(r"\s+", " ", resp.get_data(as_text=True))


# --- residents ---------------------------------------------------------------------------


def test_resident_sees_their_place_points_and_history(app, district):
    resident = ResidentFactory(birth_date=date(1960, 1, 1))
    waiting_entry(district, qualified_on=date(2020, 1, 1), group=Group.P1)
    entry = waiting_entry(
        district, resident=resident, qualified_on=date(2024, 1, 1), group=Group.P2
    )
    services.entry_event(entry, "joined", points=0)
    services.rerank()
    page = resident_browser(app, resident).get("/waitlist")
    assert page.status_code == 200
    assert page.headers["Cache-Control"] == "no-store"
    body = text(page)
    assert "No. 2 of 2" in body
    assert "It cannot be estimated yet" in body
    assert entry.application.reference in body
    assert "Joined the waiting list" in body


def test_resident_sees_only_their_own_household(app, district):
    waiting_entry(district)
    services.rerank()
    stranger = ResidentFactory()
    body = text(resident_browser(app, stranger).get("/waitlist"))
    assert "Your household is not on the waiting list" in body


def test_a_household_that_joined_after_the_ranking_is_being_calculated(app, district):
    services.rerank()
    resident = ResidentFactory()
    waiting_entry(district, resident=resident)
    assert "Your place is being calculated" in text(
        resident_browser(app, resident).get("/waitlist")
    )


def test_residents_cannot_open_staff_pages(app, district):
    entry = waiting_entry(district)
    browser = resident_browser(app, entry.application.applicant)
    assert browser.get("/staff/waitlist").status_code == 403
    assert browser.get(f"/staff/waitlist/entries/{entry.id}").status_code == 403


def suspend(entry):
    local_household(*[(m.name, m.id_number) for m in entry.application.members], owned_area=150)
    assert services.reverify(entry, today()) == "suspended"


def test_suspended_resident_objects_and_the_officer_restores(app, db, district):
    entry = waiting_entry(district, household_size=1)
    suspend(entry)
    resident = entry.application.applicant
    browser = resident_browser(app, resident)
    body = text(browser.get("/waitlist"))
    assert "Your household is suspended" in body
    assert "150.00" in body  # the reason, as a sentence
    short = browser.post_form("/waitlist/objection", {"objection": "wrong"})
    assert short.status_code == 422
    resp = browser.post_form(
        "/waitlist/objection", {"objection": "The flat was sold last year; I have the contract."}
    )
    assert resp.status_code == 302
    db.session.refresh(entry)
    assert entry.objection.startswith("The flat was sold")
    assert "Your objection was received" in text(browser.get("/waitlist"))

    officer_client, officer = staff_browser(app, Role.OFFICER, districts=[district])
    listed = text(officer_client.get("/staff/waitlist/objections"))
    assert entry.application.reference in listed
    resp = officer_client.post_form(
        f"/staff/waitlist/entries/{entry.id}/decision",
        {"outcome": "restore", "reason": "Sale confirmed at the registry."},
    )
    assert resp.status_code == 302
    db.session.refresh(entry)
    assert entry.status is EntryStatus.WAITING
    assert AuditEvent.query.filter_by(event="waitlist.restore", actor_id=officer.id).count() == 1


# --- staff: the listing ------------------------------------------------------------------


def entry_links(body: str) -> list[int]:
    return [int(n) for n in re.findall(r'href="/staff/waitlist/entries/(\d+)"', body)]


def test_listing_jumps_to_a_deep_page_with_masked_people(app, district):
    day = date(2023, 1, 1)
    entries = [waiting_entry(district, qualified_on=day + timedelta(days=i)) for i in range(120)]
    services.rerank()
    browser, _ = staff_browser(app, Role.MANAGER)
    page = browser.get("/staff/waitlist?programme=public_rental&page=3")
    assert page.status_code == 200
    body = text(page)
    assert "page 3 of 3" in body
    assert entry_links(body) == [e.id for e in entries[100:]]
    applicant = entries[110].application.applicant
    assert applicant.real_name not in body
    assert applicant.real_name[0] + "*" in body
    assert applicant.id_number not in body
    assert applicant.id_number[:4] + "**********" + applicant.id_number[-4:] in body
    last = text(browser.get("/staff/waitlist?page=999"))
    assert "page 3 of 3" in last
    assert entry_links(last) == [e.id for e in entries[100:]]


def test_listing_of_one_group_is_its_range_of_ranks(app, district):
    p1 = [waiting_entry(district, group=Group.P1) for _ in range(3)]
    g = [waiting_entry(district, group=Group.G) for _ in range(2)]
    services.rerank()
    browser, _ = staff_browser(app, Role.OFFICER, districts=[district])
    body = text(browser.get("/staff/waitlist?group=g"))
    assert entry_links(body) == [e.id for e in g]
    assert "2 households" in body
    assert entry_links(text(browser.get("/staff/waitlist?group=p1"))) == [e.id for e in p1]


def test_an_officer_reads_the_city_wide_list_but_acts_only_in_their_districts(app, district):
    elsewhere = waiting_entry(DistrictFactory())
    services.rerank()
    browser, _ = staff_browser(app, Role.OFFICER, districts=[district])
    listing = text(browser.get("/staff/waitlist"))
    assert "1 household" in listing
    assert elsewhere.application.applicant.real_name[0] + "*" in listing
    assert entry_links(listing) == []  # not theirs to open
    assert browser.get(f"/staff/waitlist/entries/{elsewhere.id}").status_code == 404
    resp = browser.post_form(
        f"/staff/waitlist/entries/{elsewhere.id}/priority",
        {"reason": "veteran", "note": "优抚证 No. 1"},
    )
    assert resp.status_code == 404
    assert services.recorded_reasons(elsewhere) == []
    assert AuditEvent.query.filter_by(event="access.out_of_scope").count() == 2


def test_a_manager_reads_an_entry_but_cannot_act(app, district):
    entry = waiting_entry(district)
    browser, _ = staff_browser(app, Role.MANAGER)
    page = browser.get(f"/staff/waitlist/entries/{entry.id}")
    assert page.status_code == 200
    assert "Record the reason" not in text(page)
    resp = browser.post_form(
        f"/staff/waitlist/entries/{entry.id}/sector", {"sector": "transit", "note": "letter 1"}
    )
    assert resp.status_code == 403


def test_officer_records_a_reason_and_a_sector_on_the_entry_page(app, db, district):
    entry = waiting_entry(district)
    services.rerank()
    browser, _ = staff_browser(app, Role.OFFICER, districts=[district])
    page = browser.get(f"/staff/waitlist/entries/{entry.id}")
    assert "Record the reason" in text(page)
    missing = browser.post_form(
        f"/staff/waitlist/entries/{entry.id}/priority", {"reason": "veteran", "note": ""}
    )
    assert missing.status_code == 422
    resp = browser.post_form(
        f"/staff/waitlist/entries/{entry.id}/priority",
        {"reason": "good_samaritan", "note": "见义勇为证书 2026-3"},
    )
    assert resp.status_code == 302
    db.session.refresh(entry)
    assert entry.group is Group.P2
    body = text(browser.get(f"/staff/waitlist/entries/{entry.id}"))
    assert "见义勇为证书 2026-3" in body  # the officer's note, for staff only
    resp = browser.post_form(
        f"/staff/waitlist/entries/{entry.id}/sector",
        {"sector": "doctor", "note": "人民医院来函"},
    )
    assert resp.status_code == 302
    db.session.refresh(entry)
    assert entry.sector.value == "doctor"
    assert entry.group is Group.P2  # a priority group stays before the sector quota


def test_officer_reverifies_now(app, db, district):
    entry = waiting_entry(district, household_size=1)
    local_household((entry.application.applicant.real_name, entry.application.applicant.id_number))
    browser, _ = staff_browser(app, Role.OFFICER, districts=[district])
    resp = browser.post_form(f"/staff/waitlist/entries/{entry.id}/reverify")
    assert resp.status_code == 302
    db.session.refresh(entry)
    assert entry.verified_on == today()
    assert services.position(entry) is not None


def test_long_waiters_page(app, district):
    old = waiting_entry(district, qualified_on=today() - timedelta(days=5 * 366))
    recent = waiting_entry(district)
    browser, _ = staff_browser(app, Role.OFFICER, districts=[district])
    body = text(browser.get("/staff/waitlist/long-waiters"))
    assert old.application.reference in body
    assert recent.application.reference not in body


def test_the_pages_work_at_a_frozen_time(app, district):
    with time_machine.travel(datetime(2027, 1, 5, 4, tzinfo=UTC), tick=False):
        entry = waiting_entry(district)
        services.rerank()
        browser = resident_browser(app, entry.application.applicant)
        assert browser.get("/waitlist").status_code == 200


# --- the managers' rules page ------------------------------------------------------------


def test_managers_change_the_waitlist_rules_and_the_points_follow(app, district):
    from portal.core.settings import current_version
    from portal.waitlist.rules import DEFAULTS

    browser, _ = staff_browser(app, Role.MANAGER)
    page = text(browser.get("/manager/rules/waitlist"))
    assert "Points per full year on the list" in page
    data = {k: str(v) for k, v in DEFAULTS.items()}
    data.update(
        waited_points_per_year="4",
        effective_from=today().isoformat(),
        note="桂住建〔2027〕2号",
    )
    assert browser.post_form("/manager/rules/waitlist", data).status_code == 302
    version = current_version("waitlist")
    assert (version.version, version.values["waited_points_per_year"]) == (2, 4)
    entry = waiting_entry(district, household_size=1)
    entry.qualified_on = today() - timedelta(days=800)  # two full years
    local_household((entry.application.applicant.real_name, entry.application.applicant.id_number))
    services.reverify(entry, today())
    assert [i["points"] for i in entry.point_items if i["category"] == "waited"] == [8]
    assert entry.rule_version_id == version.id
