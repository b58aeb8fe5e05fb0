"""Housing officers' pages: the work queue (限时办结), the whole file, decisions, spot checks."""

from __future__ import annotations

import html
import re
from datetime import timedelta

import pytest
import sqlalchemy as sa
from flask_babel import force_locale
from markupsafe import escape

from portal.accounts.roles import Role
from portal.applications import services
from portal.applications import staff_views as officer_views
from portal.applications.explain import explained
from portal.applications.models import (
    Application,
    Programme,
    SpotCheck,
    Status,
    SupplementRequest,
    SupplementStatus,
    Upload,
)
from portal.core.audit import AuditEvent
from portal.core.clock import today, utcnow
from portal.extensions import db as _db
from portal.notifications.models import Message
from portal.verification import services as verification
from tests.factories import DistrictFactory, ResidentFactory
from tests.factories.applications import draft_for, settle_all, submit
from tests.factories.fixtures import make_staff
from tests.factories.registry import local_household

# --- helpers (the service flow of tests/functional/test_application_services.py) ---------


@pytest.fixture
def district(db):
    return DistrictFactory(code="450302")


def submitted(district, programme=Programme.PUBLIC_RENTAL, **household) -> Application:
    resident = ResidentFactory()
    local_household((resident.real_name, resident.id_number), **household)
    return submit(draft_for(resident, district, programme), resident)


def in_review(district, **household) -> Application:
    """An application whose department checks are all settled: the officer decides."""
    app = submitted(district, **household)
    settle_all(app)
    assert app.status is Status.REVIEW
    return app


def reload(obj):
    _db.session.expire_all()
    return _db.session.get(type(obj), obj.id)


def page(resp) -> str:
    return resp.get_data(as_text=True)


def references(body: str) -> list[str]:
    return re.findall(r'href="/officer/applications/\d+">(GL\d+)</a>', body)


@pytest.fixture
def officer(staff_client, district):
    """An officer of ``district`` reading the pages in English: (browser, user)."""
    return staff_client(Role.OFFICER, districts=[district], locale="en")


# --- the work queue ----------------------------------------------------------------------


def test_the_queue_lists_the_districts_applications_with_deadlines(officer, district):
    browser, _user = officer
    waiting = in_review(district)
    checking = submitted(district, programme=Programme.RENTAL_SUBSIDY)
    elsewhere = submitted(DistrictFactory())
    resident = ResidentFactory()
    draft = draft_for(resident, district)

    body = page(browser.get("/officer/applications"))

    assert references(body) == sorted([waiting.reference, checking.reference])
    assert elsewhere.reference not in body
    assert f"/officer/applications/{draft.id}" not in body
    assert waiting.applicant.real_name in body
    assert waiting.applicant.masked_id_number in body
    assert waiting.applicant.id_number not in body
    assert "Officer's decision" in html.unescape(body)
    assert "Rental subsidy" in body
    assert waiting.decide_by.isoformat() in body


def test_queue_filters_by_status_overdue_and_reference(officer, district, db):
    browser, _user = officer
    waiting = in_review(district)
    checking = submitted(district)
    late = submitted(district)
    late.decide_by = today() - timedelta(days=1)
    decided_late = in_review(district)
    services.reject(decided_late, _user, "收入超过标准")
    decided_late.decide_by = today() - timedelta(days=5)  # decided: no longer overdue
    db.session.flush()

    review = references(page(browser.get("/officer/applications?status=review")))
    assert review == [waiting.reference]

    overdue = page(browser.get("/officer/applications?overdue=y"))
    assert references(overdue) == [late.reference]
    assert ">Overdue<" in overdue

    found = references(page(browser.get(f"/officer/applications?q={checking.reference[-4:]}")))
    assert found == [checking.reference]

    district_filter = page(browser.get(f"/officer/applications?district={district.code}"))
    assert len(references(district_filter)) == 4


def test_undecided_applications_come_first_by_deadline(officer, district, db):
    browser, user = officer
    decided = in_review(district)
    services.reject(decided, user, "收入超过标准")
    soon, later = submitted(district), submitted(district)
    later.decide_by = soon.decide_by + timedelta(days=3)
    decided.decide_by = soon.decide_by - timedelta(days=30)
    db.session.flush()

    body = page(browser.get("/officer/applications"))

    assert references(body) == [soon.reference, later.reference, decided.reference]


def test_queue_pages_by_keyset_without_repeating_rows(officer, district, monkeypatch, db):
    browser, _user = officer
    monkeypatch.setattr(officer_views, "PAGE", 2)
    apps = [submitted(district) for _ in range(5)]
    for n, app in enumerate(apps):
        app.decide_by = today() + timedelta(days=20 - n)
    db.session.flush()

    statements: list[tuple[str, object]] = []

    def remember(conn, cursor, statement, parameters, *args):
        statements.append((statement, parameters))

    engine = db.session.get_bind()
    sa.event.listen(engine, "before_cursor_execute", remember)
    try:
        seen, url, pages = [], "/officer/applications", 0
        while url:
            body = page(browser.get(url))
            seen += references(body)
            found = re.search(r'href="([^"]+)">Next page', body)
            url = html.unescape(found.group(1)) if found else None
            pages += 1
    finally:
        sa.event.remove(engine, "before_cursor_execute", remember)

    assert pages == 3
    assert seen == [a.reference for a in reversed(apps)]
    for statement, parameters in statements:
        if "OFFSET" in statement.upper():  # SQLite writes OFFSET 0 after every LIMIT
            assert isinstance(parameters, tuple | list)
            assert parameters[-1] == 0


def test_an_officer_of_another_district_gets_404_and_is_audited(staff_client, district, db):
    app = in_review(district)
    browser, stranger = staff_client(Role.OFFICER, districts=[DistrictFactory()], locale="en")

    assert app.reference not in page(browser.get("/officer/applications"))
    assert browser.get(f"/officer/applications/{app.id}").status_code == 404
    resp = browser.post_form(f"/officer/applications/{app.id}/approve", {"note": "ok"})
    assert resp.status_code == 404

    assert reload(app).status is Status.REVIEW
    denied = db.session.scalar(
        sa.select(sa.func.count())
        .select_from(AuditEvent)
        .where(
            AuditEvent.event == "access.out_of_scope",
            AuditEvent.actor_id == stranger.id,
            AuditEvent.object_type == "applications",
            AuditEvent.object_id == str(app.id),
        )
    )
    assert denied == 2


def test_a_reviewer_cannot_open_the_officers_pages(staff_client, district):
    app = in_review(district)
    browser, _reviewer = staff_client(Role.REVIEWER)
    assert browser.get("/officer/applications").status_code == 403
    assert browser.get(f"/officer/applications/{app.id}").status_code == 403


# --- the whole file ----------------------------------------------------------------------


def test_the_file_shows_the_evaluation_and_the_check_data(officer, district):
    browser, _user = officer
    app = in_review(district, wage=1200)

    body = page(browser.get(f"/officer/applications/{app.id}"))

    with force_locale("en"):  # the officer reads the file in English
        rows = explained(app.evaluation)
    assert rows
    for row in rows:
        assert str(escape(row["text"])) in body
    assert "The rules find the household eligible." in body
    assert "eligibility v1" in body  # the rule version that decided
    assert "Monthly wage (yuan): 1200" in body
    assert "Local household registration: Yes" in body
    for check in verification.checks_of(app):
        assert check.payload_hash[:12] in body
    assert app.members[0].masked_id_number in body
    assert app.members[0].id_number not in body
    assert "*******" + app.contact_phone[-4:] in body
    assert app.contact_phone not in body
    assert "桂林市秀峰区中山中路1号" in body
    assert app.pledge_version in body
    assert app.signed_text_hash[:12] in body
    assert "Every department check settled" in body  # the timeline


def test_approving(officer, district, db):
    browser, _user = officer
    app = in_review(district)

    resp = browser.post_form(f"/officer/applications/{app.id}/approve", {"note": ""})

    assert resp.status_code == 302
    assert resp.headers["Location"].endswith(f"/officer/applications/{app.id}")
    assert reload(app).status is Status.APPROVED
    body = page(browser.get(resp.headers["Location"]))
    assert f"{app.reference} is approved for public notice." in body
    assert f'action="/officer/applications/{app.id}/approve"' not in body
    assert db.session.scalar(
        sa.select(Message.id).where(Message.user_id == app.applicant_id, Message.kind == "approved")
    )


def test_approving_an_ineligible_household_needs_a_note(officer, district):
    browser, _user = officer
    app = in_review(district, wage=5000)
    assert app.evaluation["eligible"] is False

    resp = browser.post_form(f"/officer/applications/{app.id}/approve", {"note": ""})

    assert resp.status_code == 422
    body = page(resp)
    assert 'id="approve-note-error"' in body
    assert "The rules do not find the household eligible: give the reason for approving." in body
    assert reload(app).status is Status.REVIEW

    resp = browser.post_form(
        f"/officer/applications/{app.id}/approve",
        {"note": "The wage recorded is last year's; the payslips show less."},
    )
    assert resp.status_code == 302
    assert reload(app).status is Status.APPROVED


def test_rejecting(officer, district):
    browser, _user = officer
    app = in_review(district, wage=5000)

    resp = browser.post_form(f"/officer/applications/{app.id}/reject", {"reason": ""})
    assert resp.status_code == 422
    assert 'id="reject-reason-error"' in page(resp)
    assert reload(app).status is Status.REVIEW

    resp = browser.post_form(
        f"/officer/applications/{app.id}/reject", {"reason": "Income above the line"}
    )
    assert resp.status_code == 302
    app = reload(app)
    assert app.status is Status.REJECTED
    body = page(browser.get(f"/officer/applications/{app.id}"))
    assert "Rejected: Income above the line" in body


def test_asking_for_a_document(officer, district, db):
    browser, _user = officer
    app = in_review(district)

    resp = browser.post_form(
        f"/officer/applications/{app.id}/supplement",
        {"document": "Payslips of the last 6 months", "reason": "To confirm the income"},
    )

    assert resp.status_code == 302
    assert reload(app).status is Status.SUPPLEMENT
    assert db.session.scalar(
        sa.select(Message.id).where(
            Message.user_id == app.applicant_id, Message.kind == "supplement_requested"
        )
    )
    body = page(browser.get(f"/officer/applications/{app.id}"))
    assert "Payslips of the last 6 months" in body
    assert "Awaiting your document" in body


def test_the_file_links_the_uploaded_document(officer, district, db):
    browser, user = officer
    application = in_review(district)
    upload = Upload(
        owner_id=application.applicant_id,
        storage_name="a" * 32,
        original_name="payslips.pdf",
        content_type="application/pdf",
        size=10,
        sha256="0" * 64,
    )
    db.session.add(upload)
    db.session.flush()
    db.session.add(
        SupplementRequest(
            application_id=application.id,
            document="Payslips",
            reason="Income",
            deadline=today(),
            status=SupplementStatus.ANSWERED,
            requested_by_id=user.id,
            upload_id=upload.id,
            answered_at=utcnow(),
        )
    )
    db.session.flush()

    body = page(browser.get(f"/officer/applications/{application.id}"))

    assert f'<a href="/uploads/{upload.id}">payslips.pdf</a>' in body


# --- spot checks and the workbench -------------------------------------------------------


def test_recording_a_spot_check(officer, district, db):
    browser, user = officer
    app = in_review(district)
    services.approve(app, user)
    if db.session.scalar(sa.select(SpotCheck).where(SpotCheck.application_id == app.id)) is None:
        db.session.add(SpotCheck(application_id=app.id))
    db.session.flush()
    spot = db.session.scalars(sa.select(SpotCheck).where(SpotCheck.application_id == app.id)).one()

    listing = page(browser.get("/officer/spot-checks"))
    assert app.reference in listing
    assert f'action="/officer/spot-checks/{spot.id}"' in listing

    resp = browser.post_form(f"/officer/spot-checks/{spot.id}", {"outcome": "false_pledge"})
    assert resp.status_code == 422
    assert "This field is required." in page(resp)
    assert reload(spot).outcome is None

    resp = browser.post_form(
        f"/officer/spot-checks/{spot.id}",
        {"outcome": "false_pledge", "finding": "A flat registered in the spouse's name"},
    )
    assert resp.status_code == 302
    assert reload(spot).outcome == "false_pledge"
    assert reload(app).status is Status.REVOKED
    listing = page(browser.get("/officer/spot-checks"))
    assert "A flat registered in the spouse&#39;s name" in listing
    assert f'action="/officer/spot-checks/{spot.id}"' not in listing


def test_a_spot_check_of_another_district_is_404(staff_client, district, db):
    app = in_review(district)
    services.approve(app, make_staff(Role.OFFICER, districts=[district]))
    spot = db.session.scalars(
        sa.select(SpotCheck).where(SpotCheck.application_id == app.id)
    ).one_or_none() or SpotCheck(application_id=app.id)
    db.session.add(spot)
    db.session.flush()
    browser, _stranger = staff_client(Role.OFFICER, districts=[DistrictFactory()])

    assert app.reference not in page(browser.get("/officer/spot-checks"))
    resp = browser.post_form(
        f"/officer/spot-checks/{spot.id}", {"outcome": "clean", "finding": "All fine"}
    )
    assert resp.status_code == 404
    assert reload(spot).outcome is None


def test_the_workbench_counts_an_officers_work(officer, district, db):
    browser, user = officer
    in_review(district)
    late = in_review(district)
    late.decide_by = today() - timedelta(days=1)
    asked = in_review(district)
    services.request_supplement(asked, user, document="Payslips", reason="Income check")
    approved = in_review(district)
    services.approve(approved, user)
    if not db.session.scalar(
        sa.select(SpotCheck.id).where(SpotCheck.application_id == approved.id)
    ):
        db.session.add(SpotCheck(application_id=approved.id))  # approval draws 1 in 10
    in_review(DistrictFactory())  # another district's work is not counted
    db.session.flush()

    body = page(browser.get("/staff/"))

    def count(queue: str) -> tuple[int, int]:
        """The queue's row of the workbench's summary: how many wait, how many overdue."""
        found = re.search(
            rf'href="#queue-{queue}">[^<]+</a></th>\s*'
            r'<td class="num">(\d+)</td>\s*<td class="num">(\d+)</td>',
            body,
        )
        assert found, queue
        return int(found.group(1)), int(found.group(2))

    assert count("applications") == (2, 1)  # awaiting the decision, one past its deadline
    assert count("supplements") == (1, 0)
    assert count("spot_checks") == (1, 0)
