"""Department reviewers' pages (后台并联审核): the queue, one check, and its actions."""

from __future__ import annotations

import html
import itertools
import re
from datetime import date, timedelta

import pytest
import sqlalchemy as sa

from portal.accounts.roles import Role
from portal.applications import services
from portal.applications.models import Application, Relationship, Status
from portal.core.audit import AuditEvent
from portal.core.clock import today
from portal.core.identifiers import make_id_number
from portal.extensions import db as _db
from portal.notifications.models import Message
from portal.verification import services as verification
from portal.verification import views as review_views
from portal.verification.departments import Department
from portal.verification.models import CheckOutcome, CheckStatus, DepartmentCheck
from tests.factories import DistrictFactory, ResidentFactory
from tests.factories.applications import draft_for, submit
from tests.factories.registry import local_household

SPOUSE = make_id_number("450302", date(1987, 5, 5), 42)


# --- helpers (the service flow of tests/functional/test_application_services.py) ---------


@pytest.fixture
def district(db):
    return DistrictFactory(code="450302")


_spouses = itertools.count(100)


def submitted(district, *, unlisted_spouse: bool = False, **household) -> Application:
    """A submitted application of a new resident registered as a local household; with
    ``unlisted_spouse`` the marriage register knows a spouse the application leaves out."""
    resident = ResidentFactory()
    people = [(resident.real_name, resident.id_number)]
    if unlisted_spouse:
        people.append(("李梅", make_id_number("450302", date(1987, 5, 5), next(_spouses))))
    local_household(*people, married=unlisted_spouse, **household)
    return submit(draft_for(resident, district), resident)


def check_of(app: Application, department: Department) -> DepartmentCheck:
    return next(c for c in verification.checks_of(app) if c.department is department)


def reload(obj):
    _db.session.expire_all()
    return _db.session.get(type(obj), obj.id)


def reviewer(staff_client, department: Department):
    """A reviewer's browser, reading the pages in English."""
    return staff_client(Role.REVIEWER, department=department, locale="en")


def page(resp) -> str:
    return resp.get_data(as_text=True)


def skips_rows(statement: str, parameters) -> bool:
    """Whether a query skips rows with OFFSET (SQLite writes ``OFFSET ?`` with 0 after every
    LIMIT; PostgreSQL writes OFFSET only when one is asked for)."""
    if "OFFSET" not in statement.upper():
        return False
    return not (isinstance(parameters, tuple | list) and parameters[-1] == 0)


def check_links(body: str) -> list[int]:
    return [int(n) for n in re.findall(r'href="/review/checks/(\d+)"', body)]


# --- the queue ---------------------------------------------------------------------------


def test_a_reviewer_sees_only_their_departments_checks(staff_client, district):
    app = submitted(district)
    browser, _user = reviewer(staff_client, Department.CIVIL_AFFAIRS)

    resp = browser.get("/review/checks")

    assert resp.status_code == 200
    body = page(resp)
    assert app.reference in body
    assert check_links(body) == [check_of(app, Department.CIVIL_AFFAIRS).id]
    assert "Data found, consistent" in body
    assert district.name_en in body
    assert "1 person" in body


def test_a_check_of_another_department_answers_404_and_is_audited(staff_client, district, db):
    app = submitted(district)
    prop = check_of(app, Department.PROPERTY)
    browser, user = reviewer(staff_client, Department.CIVIL_AFFAIRS)

    assert browser.get(f"/review/checks/{prop.id}").status_code == 404
    resp = browser.post_form(f"/review/checks/{prop.id}/confirm", {"note": ""})
    assert resp.status_code == 404

    assert reload(prop).outcome is None
    denied = db.session.scalar(
        sa.select(sa.func.count())
        .select_from(AuditEvent)
        .where(
            AuditEvent.event == "access.out_of_scope",
            AuditEvent.actor_id == user.id,
            AuditEvent.object_type == "department_checks",
            AuditEvent.object_id == str(prop.id),
        )
    )
    assert denied == 2


def test_queue_filters_by_answer_and_by_deadline(staff_client, district, db):
    matching = submitted(district)
    unknown_resident = ResidentFactory()  # no register data: public security has no record
    unknown = submit(draft_for(unknown_resident, district), unknown_resident)
    late = check_of(matching, Department.PUBLIC_SECURITY)
    late.deadline = today() - timedelta(days=1)
    db.session.flush()
    browser, _user = reviewer(staff_client, Department.PUBLIC_SECURITY)

    everything = page(browser.get("/review/checks"))
    assert matching.reference in everything
    assert unknown.reference in everything
    assert everything.count(">Overdue<") == 1

    no_data = page(browser.get("/review/checks?status=no_data"))
    assert unknown.reference in no_data
    assert matching.reference not in no_data

    overdue = page(browser.get("/review/checks?overdue=y"))
    assert matching.reference in overdue
    assert unknown.reference not in overdue
    assert "Overdue" in overdue


def test_queue_pages_by_keyset_without_repeating_rows(staff_client, district, monkeypatch, db):
    monkeypatch.setattr(review_views, "PAGE", 2)
    apps = [submitted(district) for _ in range(5)]
    # deadlines out of id order, so the order is really by deadline
    for n, app in enumerate(apps):
        check_of(app, Department.HOUSING_FUND).deadline = today() + timedelta(days=10 - n)
    db.session.flush()
    browser, _user = reviewer(staff_client, Department.HOUSING_FUND)

    statements: list[tuple[str, object]] = []

    def remember(conn, cursor, statement, parameters, *args):
        statements.append((statement, parameters))

    engine = db.session.get_bind()
    sa.event.listen(engine, "before_cursor_execute", remember)
    try:
        seen, url, pages = [], "/review/checks", 0
        while url:
            body = page(browser.get(url))
            seen += re.findall(r">(GL\d+)</a>", body)
            found = re.search(r'href="([^"]+)">Next page', body)
            url = html.unescape(found.group(1)) if found else None
            pages += 1
    finally:
        sa.event.remove(engine, "before_cursor_execute", remember)

    assert pages == 3
    assert seen == [a.reference for a in reversed(apps)]
    assert not any(skips_rows(*s) for s in statements)


def test_confirm_all_consistent_answers(staff_client, district):
    first, second = submitted(district), submitted(district)
    odd = submitted(district, unlisted_spouse=True)  # a spouse the application does not list
    assert check_of(odd, Department.CIVIL_AFFAIRS).status is CheckStatus.MISMATCH
    browser, _user = reviewer(staff_client, Department.CIVIL_AFFAIRS)

    body = page(browser.get("/review/checks"))
    shown = re.findall(r'name="checks" value="(\d+)"', body)
    assert len(shown) == 2
    resp = browser.post_form("/review/checks/confirm-matching", {"checks": shown})

    assert resp.status_code == 302
    after = page(browser.get(resp.headers["Location"]))
    assert "2 consistent answers confirmed." in after
    assert reload(check_of(first, Department.CIVIL_AFFAIRS)).outcome is CheckOutcome.CONFIRMED
    assert reload(check_of(second, Department.CIVIL_AFFAIRS)).outcome is CheckOutcome.CONFIRMED
    assert reload(check_of(odd, Department.CIVIL_AFFAIRS)).outcome is None
    assert odd.reference in after
    assert first.reference not in after

    resp = browser.post_form("/review/checks/confirm-matching", {})
    assert "No consistent answer was waiting to be confirmed." in page(
        browser.get(resp.headers["Location"])
    )


def test_settling_all_eight_departments_hands_the_file_to_the_officer(staff_client, app, district):
    application = submitted(district)
    for department in Department:
        browser, _user = reviewer(staff_client, department)
        body = page(browser.get("/review/checks"))
        shown = re.findall(r'name="checks" value="(\d+)"', body)
        assert shown == [str(check_of(application, department).id)]
        assert browser.post_form("/review/checks/confirm-matching", {"checks": shown}).status_code
        if department is not list(Department)[-1]:
            assert reload(application).status is Status.CHECKING

    application = reload(application)
    assert application.status is Status.REVIEW
    officer_browser, _officer = staff_client(Role.OFFICER, districts=[district], locale="en")
    queue = page(officer_browser.get("/officer/applications"))
    assert application.reference in queue
    assert application.decide_by.isoformat() in queue


# --- one check ---------------------------------------------------------------------------


def test_the_check_page_shows_household_facts_and_provenance(staff_client, district):
    app = submitted(district, wage=1800)
    check = check_of(app, Department.SOCIAL_SECURITY)
    browser, _user = reviewer(staff_client, Department.SOCIAL_SECURITY)

    body = page(browser.get(f"/review/checks/{check.id}"))

    member = app.members[0]
    assert member.name in body
    assert member.masked_id_number in body
    assert member.id_number not in body
    assert "Monthly wage (yuan)" in body
    assert "1800" in body
    assert "embedded registry" in body
    assert check.payload_hash[:12] in body
    assert check.payload_hash in body  # the whole value, behind a details element


def test_confirming_a_mismatch_needs_a_note(staff_client, district):
    app = submitted(district, unlisted_spouse=True)
    check = check_of(app, Department.CIVIL_AFFAIRS)
    browser, _user = reviewer(staff_client, Department.CIVIL_AFFAIRS)

    resp = browser.post_form(f"/review/checks/{check.id}/confirm", {"note": " "})

    assert resp.status_code == 422
    body = page(resp)
    assert 'id="confirm-note-error"' in body
    assert "Say why you confirm data that differ from the application." in body
    assert "A spouse" in body  # the finding is shown again with the error
    assert reload(check).outcome is None

    resp = browser.post_form(
        f"/review/checks/{check.id}/confirm", {"note": "The couple divorced last month."}
    )
    assert resp.status_code == 302
    assert reload(check).outcome is CheckOutcome.CONFIRMED


def test_correcting_facts_with_a_reason(staff_client, district):
    app = submitted(district, unlisted_spouse=True)
    check = check_of(app, Department.CIVIL_AFFAIRS)
    browser, _user = reviewer(staff_client, Department.CIVIL_AFFAIRS)
    form = page(browser.get(f"/review/checks/{check.id}"))
    assert 'name="fact-0-marital_status"' in form
    assert re.search(r'<option selected value="married">Married</option>', form)

    facts = {"fact-0-marital_status": "divorced", "fact-0-assistance": "dibao"}
    resp = browser.post_form(f"/review/checks/{check.id}/correct", {**facts, "reason": ""})
    assert resp.status_code == 422
    assert 'id="override-reason-error"' in page(resp)
    assert reload(check).outcome is None

    resp = browser.post_form(
        f"/review/checks/{check.id}/correct",
        {**facts, "reason": "Divorce certificate seen at the counter"},
    )
    assert resp.status_code == 302
    check = reload(check)
    assert check.outcome is CheckOutcome.OVERRIDDEN
    shown = page(browser.get(f"/review/checks/{check.id}"))
    assert "Corrected by the reviewer" in shown
    assert "Divorced" in shown
    assert "Minimum living allowance (dibao)" in shown
    assert "Divorce certificate seen at the counter" in shown


def test_a_bad_value_is_shown_on_its_input(staff_client, district):
    app = submitted(district)
    check = check_of(app, Department.PROPERTY)
    browser, _user = reviewer(staff_client, Department.PROPERTY)

    resp = browser.post_form(
        f"/review/checks/{check.id}/correct",
        {"fact-0-owned_area": "forty", "fact-0-properties": "1", "reason": "Deed seen"},
    )

    assert resp.status_code == 422
    body = page(resp)
    assert 'id="fact-0-owned_area-error"' in body
    assert "“forty” is not a valid value for Housing owned (m²)." in body
    assert reload(check).outcome is None

    resp = browser.post_form(
        f"/review/checks/{check.id}/correct",
        {"fact-0-owned_area": "<i>9</i>", "fact-0-properties": "1", "reason": "Deed seen"},
    )
    assert resp.status_code == 422
    assert "<i>9</i>" not in page(resp)  # what was typed comes back escaped


def test_requesting_a_document_moves_the_application_to_supplement(staff_client, district, db):
    resident = ResidentFactory()  # nothing in the household register
    app = submit(draft_for(resident, district), resident)
    check = check_of(app, Department.PUBLIC_SECURITY)
    assert check.status is CheckStatus.NO_DATA
    browser, _user = reviewer(staff_client, Department.PUBLIC_SECURITY)

    resp = browser.post_form(
        f"/review/checks/{check.id}/document",
        {"document": "Household register booklet", "reason": "No hukou record was found"},
    )

    assert resp.status_code == 302
    assert resp.headers["Location"].endswith("/review/checks")
    assert reload(app).status is Status.SUPPLEMENT
    assert reload(check).outcome is CheckOutcome.DOCUMENT
    message = db.session.scalars(
        sa.select(Message).where(
            Message.user_id == resident.id, Message.kind == "supplement_requested"
        )
    ).one()
    assert "Household register booklet" in message.params_json
    assert check.id not in check_links(page(browser.get("/review/checks")))


def test_requesting_a_document_needs_its_name(staff_client, district):
    app = submitted(district)
    check = check_of(app, Department.VEHICLES)
    browser, _user = reviewer(staff_client, Department.VEHICLES)

    resp = browser.post_form(
        f"/review/checks/{check.id}/document", {"document": "", "reason": "Need it"}
    )

    assert resp.status_code == 422
    assert 'id="document-document-error"' in page(resp)
    assert reload(app).status is Status.CHECKING


def test_asking_the_department_again(staff_client, district, db):
    resident = ResidentFactory()
    app = submit(draft_for(resident, district), resident)
    check = check_of(app, Department.PUBLIC_SECURITY)
    assert check.status is CheckStatus.NO_DATA
    local_household((resident.real_name, resident.id_number))  # the record arrives late
    browser, _user = reviewer(staff_client, Department.PUBLIC_SECURITY)

    resp = browser.post_form(f"/review/checks/{check.id}/retry")

    assert resp.status_code == 302
    assert "Its answer: Data found, consistent" in page(browser.get(resp.headers["Location"]))
    assert reload(check).status is CheckStatus.MATCH


def test_a_settled_check_offers_no_action(staff_client, district):
    app = submitted(district)
    check = check_of(app, Department.DISABILITY)
    browser, user = reviewer(staff_client, Department.DISABILITY)
    verification.confirm(check, user)

    body = page(browser.get(f"/review/checks/{check.id}"))

    assert "Confirmed" in body
    assert f"/review/checks/{check.id}/confirm" not in body
    resp = browser.post_form(f"/review/checks/{check.id}/confirm", {"note": "again"})
    assert resp.status_code == 409


def test_the_workbench_counts_a_reviewers_checks(staff_client, district, db):
    submitted(district)
    late = submitted(district)
    check_of(late, Department.MARKET_REGULATION).deadline = today() - timedelta(days=2)
    db.session.flush()
    browser, _user = reviewer(staff_client, Department.MARKET_REGULATION)

    body = page(browser.get("/staff/"))

    assert re.search(r'<span class="count">2</span>\s*checks waiting for you', body)
    assert re.search(r'<span class="count">1</span>\s*of them overdue', body)


def test_a_resident_cannot_open_the_queue(resident_client):
    assert resident_client.get("/review/checks").status_code == 403


def test_an_officer_is_not_a_reviewer(staff_client, district):
    app = submitted(district)
    browser, _officer = staff_client(Role.OFFICER, districts=[district])
    check = check_of(app, Department.CIVIL_AFFAIRS)
    assert browser.get(f"/review/checks/{check.id}").status_code == 403


def test_relationship_names_are_shown(staff_client, district):
    resident = ResidentFactory()
    local_household((resident.real_name, resident.id_number), ("李梅", SPOUSE), married=True)
    app = draft_for(resident, district)
    services.add_member(
        app, resident, name="李梅", id_number=SPOUSE, relationship=Relationship.SPOUSE
    )
    app = submit(app, resident)
    check = check_of(app, Department.CIVIL_AFFAIRS)
    browser, _user = reviewer(staff_client, Department.CIVIL_AFFAIRS)

    body = page(browser.get(f"/review/checks/{check.id}"))

    assert "李梅" in body
    assert "Spouse" in body
    assert 'name="fact-1-marital_status"' in body
    assert "2 people" in page(browser.get("/review/checks"))


def test_an_unanswered_check_cannot_be_confirmed(staff_client, district, db):
    app = submitted(district)
    check = check_of(app, Department.HOUSING_FUND)
    check.status, check.error, check.facts_json = CheckStatus.UNAVAILABLE, "timeout", "{}"
    db.session.flush()
    browser, _user = reviewer(staff_client, Department.HOUSING_FUND)

    assert "The department has not answered." in page(browser.get(f"/review/checks/{check.id}"))
    resp = browser.post_form(f"/review/checks/{check.id}/confirm", {"note": "fine"})

    assert resp.status_code == 409
    assert "ask it again, or enter the facts yourself" in page(resp)
    assert reload(check).outcome is None
