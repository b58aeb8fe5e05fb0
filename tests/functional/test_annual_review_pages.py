"""The review pages: the resident sees the review, each rule's sentence and the decision,
answers, reports a change with a document and answers the renewal question; officers work
the queue (awaiting the decision first, overdue flagged), read a review (facts, rules,
proposal) and decide; scope (B1) and errors that keep what was typed."""

from __future__ import annotations

import io
import re
from datetime import date, timedelta

import sqlalchemy as sa
import time_machine

from portal.accounts.roles import Role
from portal.core.audit import AuditEvent
from portal.extensions import db
from portal.reviews import renewals, services
from portal.reviews.models import RenewalStatus, Review, ReviewOutcome, ReviewStatus
from portal.tenancy import exits
from tests.factories import DistrictFactory, ResidentFactory
from tests.factories.fixtures import make_staff, page_text, resident_browser, staff_browser
from tests.factories.reviews import lease_to_renew, opened_review, tenant_household
from tests.factories.tenancy import noon

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
ANSWER = "我们家今年收入没有变化，孩子还在上学。"


def browser(app, user):
    """A browser in English, signed in as ``user`` (a resident or staff)."""
    if user.role is Role.RESIDENT:
        return resident_browser(app, user)
    return staff_browser(app, user)


# --- residents -----------------------------------------------------------------------------


def test_a_resident_without_a_lease_or_subsidy_has_no_review(app):
    page = browser(app, ResidentFactory()).get("/my/review")
    assert page.status_code == 200
    assert "Your household has no review at the moment." in page_text(page)
    assert "Report a change" not in page_text(page)


def test_the_resident_reads_the_rules_and_answers(app, district, officer):
    lease = tenant_household(district, officer)
    review = opened_review(lease)
    c = browser(app, lease.tenant)
    page = page_text(c.get("/my/review"))
    assert review.reference in page
    assert "Income per person is ¥1200.00 a month, below the line of ¥1549." in page
    assert "Stay at market rent" not in page  # the proposal is not shown before the decision
    assert 'name="answer"' in page

    short = c.post_form("/my/review/answer", {"answer": "太短"})
    assert short.status_code == 422
    assert "Write at least 10 characters." in page_text(short)
    assert "太短" in page_text(short)  # what was typed is kept

    done = c.post_form(
        "/my/review/answer",
        {"answer": ANSWER, "document": (io.BytesIO(PNG), "school.png")},
        content_type="multipart/form-data",
    )
    assert done.status_code == 302
    db.session.expire_all()
    assert review.answer == ANSWER
    [upload_id] = services.documents_of(review)
    page = page_text(c.get("/my/review"))
    assert ANSWER in page
    assert "school.png" in page
    download = c.get(f"/my/review/files/{upload_id}")
    assert download.status_code == 200
    assert download.headers["Content-Disposition"].startswith("attachment")
    stranger = browser(app, ResidentFactory())
    assert stranger.get(f"/my/review/files/{upload_id}").status_code == 404

    staff = browser(app, officer)
    assert staff.get(f"/staff/annual-reviews/{review.id}/files/{upload_id}").status_code == 200


def test_the_resident_reads_the_decision(app, district, officer):
    lease = tenant_household(district, officer, wage=3000)
    review = opened_review(lease)
    services.answer(review, lease.tenant, ANSWER)
    services.decide(review, officer, outcome=ReviewOutcome.MARKET_RENT, reason="收入超过标准")
    page = page_text(browser(app, lease.tenant).get("/my/review"))
    assert "Stay at market rent" in page
    assert "收入超过标准" in page
    assert "1000.00 yuan" in page
    inbox = page_text(browser(app, lease.tenant).get("/messages"))
    assert review.reference in inbox


def test_a_change_is_reported_with_a_document(app, district, officer):
    lease = tenant_household(district, officer, review_in_days=200)
    c = browser(app, lease.tenant)
    bad = c.post_form(
        "/my/review/change",
        {"kind": "income", "text": "我换了新工作", "document": (io.BytesIO(PNG), "pay.pdf")},
        content_type="multipart/form-data",
    )
    assert bad.status_code == 422
    assert "Write at least 10 characters." in page_text(bad)
    assert "choose it again" in page_text(bad)
    wrong_type = c.post_form(
        "/my/review/change",
        {
            "kind": "income",
            "text": "我换了新工作，月工资三千元。",
            "document": (io.BytesIO(PNG), "pay.pdf"),
        },
        content_type="multipart/form-data",
    )
    assert wrong_type.status_code == 422
    assert "Only PDF, JPG or PNG files are accepted" in page_text(wrong_type)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Review)) == 0

    done = c.post_form(
        "/my/review/change",
        {
            "kind": "income",
            "text": "我换了新工作，月工资三千元。",
            "document": (io.BytesIO(PNG), "pay.png"),
        },
        content_type="multipart/form-data",
    )
    assert done.status_code == 302
    review = opened_review(lease)
    assert review.kind.value == "change"
    assert review.answer.endswith(": 我换了新工作，月工资三千元。")
    assert len(services.documents_of(review)) == 1
    assert "Review of a reported change" in page_text(c.get("/my/review"))


def test_the_renewal_question_on_the_resident_page(app, district, officer):
    lease = lease_to_renew(district, officer)
    with time_machine.travel(noon(date(2028, 12, 20)), tick=False):
        renewals.ask_due()
        c = browser(app, lease.tenant)
        page = page_text(c.get("/my/review"))
        assert "Do you want to renew your lease?" in page
        dashboard = page_text(c.get("/me"))
        assert "whether you renew it" in dashboard
        missing = c.post_form("/my/review/renewal", {})
        assert missing.status_code == 422
        done = c.post_form("/my/review/renewal", {"renew": "no"})
        assert done.status_code == 302
        assert "The lease is not renewed." in page_text(c.get("/my/review"))
    db.session.expire_all()
    renewal = renewals.renewal_of_resident(lease.tenant)
    assert renewal.status is RenewalStatus.DECLINED
    assert exits.open_case_of(lease) is not None


def test_the_dashboard_links_to_the_review(app, district, officer):
    lease = tenant_household(district, officer)
    review = opened_review(lease)
    page = page_text(browser(app, lease.tenant).get("/me"))
    assert review.reference in page
    assert "/my/review" in page


# --- officers ------------------------------------------------------------------------------


def test_the_queue_lists_decisions_first_and_flags_overdue(app, district, officer):
    checked = opened_review(tenant_household(district, officer))
    elsewhere = opened_review(tenant_household(DistrictFactory(), None))
    late = tenant_household(district, officer, review_in_days=-3)
    from flask import current_app

    from tests.functional.test_annual_review_services import DepartmentDown

    current_app.extensions["portal.department_source"] = DepartmentDown()
    try:
        services.open_due()
    finally:
        del current_app.extensions["portal.department_source"]
    waiting = db.session.scalars(
        sa.select(Review).where(Review.application_id == late.application_id)
    ).one()

    c = browser(app, officer)
    page = page_text(c.get("/staff/annual-reviews"))
    assert page.index(checked.reference) < page.index(waiting.reference)
    assert elsewhere.reference not in page
    assert page.count("Overdue") >= 1
    overdue_only = page_text(c.get("/staff/annual-reviews?overdue=y"))
    assert waiting.reference in overdue_only
    assert checked.reference not in overdue_only
    decision_only = page_text(c.get("/staff/annual-reviews?status=decision"))
    assert checked.reference in decision_only
    assert waiting.reference not in decision_only
    changes = page_text(c.get("/staff/annual-reviews?kind=change"))
    assert "No review matches." in changes
    manager = page_text(browser(app, make_staff(Role.MANAGER)).get("/staff/annual-reviews"))
    assert elsewhere.reference in manager
    home = page_text(c.get("/staff/"))
    assert "/staff/annual-reviews" in home


def test_the_officer_reads_and_decides_a_review(app, district, officer):
    lease = tenant_household(district, officer, wage=3000)
    review = opened_review(lease)
    c = browser(app, officer)
    page = page_text(c.get(f"/staff/annual-reviews/{review.id}"))
    assert "Stay at market rent" in page
    assert "1000.00 yuan" in page
    assert "Human resources and social security" in page  # facts per department
    assert "3000" in page
    assert "The household may answer until" in page

    early = c.post_form(
        f"/staff/annual-reviews/{review.id}/decision",
        {"outcome": "market_rent", "reason": "收入超过标准"},
    )
    assert early.status_code == 409
    assert "decide after that day" in page_text(early)

    with time_machine.travel(noon(review.answer_by + timedelta(days=1)), tick=False):
        c = browser(app, officer)
        differs = c.post_form(
            f"/staff/annual-reviews/{review.id}/decision", {"outcome": "continue", "reason": ""}
        )
        assert differs.status_code == 422
        assert "differs from the proposal" in page_text(differs)
        done = c.post_form(
            f"/staff/annual-reviews/{review.id}/decision",
            {"outcome": "market_rent", "reason": "收入超过标准，无其他住房"},
        )
        assert done.status_code == 302
        page = page_text(c.get(f"/staff/annual-reviews/{review.id}"))
    db.session.expire_all()
    assert review.status is ReviewStatus.DECIDED
    assert "收入超过标准，无其他住房" in page
    assert lease.rent_basis.value == "market"


def test_continue_is_prefilled_with_the_proposal(app, district, officer):
    review = opened_review(tenant_household(district, officer))
    page = page_text(browser(app, officer).get(f"/staff/annual-reviews/{review.id}"))
    assert re.search(r'<textarea[^>]*name="reason"[^>]*>\s*Every condition is still met', page), (
        page
    )


def test_the_officer_asks_the_departments_again(app, district, officer):
    review = opened_review(tenant_household(district, officer))
    resp = browser(app, officer).post_form(f"/staff/annual-reviews/{review.id}/checks")
    assert resp.status_code == 302
    db.session.expire_all()
    assert review.status is ReviewStatus.DECISION


def test_out_of_scope_reviews_answer_404_and_are_audited(app, district, officer):
    review = opened_review(tenant_household(district, officer))
    other = browser(app, make_staff(Role.OFFICER, districts=[DistrictFactory()]))
    assert other.get(f"/staff/annual-reviews/{review.id}").status_code == 404
    assert (
        other.post_form(
            f"/staff/annual-reviews/{review.id}/decision", {"outcome": "continue", "reason": "好的"}
        ).status_code
        == 404
    )
    events = db.session.scalars(
        sa.select(AuditEvent).where(AuditEvent.event == "access.out_of_scope")
    ).all()
    assert len(events) == 2
    manager = browser(app, make_staff(Role.MANAGER))
    assert manager.get(f"/staff/annual-reviews/{review.id}").status_code == 200
    assert (
        manager.post_form(
            f"/staff/annual-reviews/{review.id}/decision", {"outcome": "continue", "reason": "好的"}
        ).status_code
        == 403
    )
    resident = browser(app, ResidentFactory())
    assert resident.get(f"/staff/annual-reviews/{review.id}").status_code == 403


def test_the_renewals_list(app, district, officer):
    lease = lease_to_renew(district, officer)
    with time_machine.travel(noon(date(2028, 12, 20)), tick=False):
        renewals.ask_due()
        page = page_text(browser(app, officer).get("/staff/annual-reviews/renewals"))
        assert lease.reference in page
        assert "Asked: awaiting the tenant's answer" in page
        other = page_text(
            browser(app, make_staff(Role.OFFICER, districts=[DistrictFactory()])).get(
                "/staff/annual-reviews/renewals"
            )
        )
        assert lease.reference not in other
