"""The review API: the resident reads the review and answers, reports a change and answers
the renewal question; officers list, read, check again and decide (managers read; another
district's officer gets 404); errors are problem documents."""

from __future__ import annotations

from datetime import date, timedelta

import time_machine

from portal.accounts.roles import Role
from portal.reviews import renewals
from portal.tenancy import exits
from tests.factories import DistrictFactory, ResidentFactory
from tests.factories.fixtures import make_staff
from tests.factories.reviews import lease_to_renew, opened_review, tenant_household
from tests.factories.tenancy import noon
from tests.functional.test_notices_api import bearer, problem, resident_token, staff_token

ANSWER = "我们家今年收入没有变化，孩子还在上学。"


def test_the_resident_reads_and_answers_the_review(client, district, officer):
    lease = tenant_household(district, officer)
    review = opened_review(lease)
    auth = bearer(resident_token(client, lease.tenant))
    body = client.get("/api/v1/me/review", headers=auth).get_json()
    mine = body["review"]
    assert mine["reference"] == review.reference
    assert mine["status"] == "decision"
    assert mine["can_answer"] is True
    assert mine["outcome"] is None  # the proposal is the officer's until decided
    assert "proposed" not in mine
    income = next(r for r in mine["rules"] if r["title"] == "Household income")
    assert income["passed"] is True
    assert "1200.00" in income["text"]
    assert body["can_report_change"] is True
    assert body["renewal"] is None

    short = client.post("/api/v1/me/review/answer", json={"text": "太短"}, headers=auth)
    assert problem(short, 422)["detail"] == "Write at least 10 characters."
    done = client.post("/api/v1/me/review/answer", json={"text": ANSWER}, headers=auth)
    assert done.status_code == 200, done.get_data(as_text=True)
    assert done.get_json()["answer"] == ANSWER

    stranger = bearer(resident_token(client, ResidentFactory()))
    assert client.get("/api/v1/me/review", headers=stranger).get_json()["review"] is None
    problem(client.post("/api/v1/me/review/answer", json={"text": ANSWER}, headers=stranger), 404)
    problem(
        client.post(
            "/api/v1/me/review/change", json={"kind": "income", "text": ANSWER}, headers=stranger
        ),
        409,
    )


def test_the_resident_reports_a_change(client, district, officer):
    lease = tenant_household(district, officer, review_in_days=200)
    auth = bearer(resident_token(client, lease.tenant))
    bad = client.post(
        "/api/v1/me/review/change", json={"kind": "job", "text": ANSWER}, headers=auth
    )
    assert bad.status_code == 422
    resp = client.post(
        "/api/v1/me/review/change",
        json={"kind": "household", "text": "我们家添了一个孩子，今年三月出生。"},
        headers=auth,
    )
    assert resp.status_code == 201, resp.get_data(as_text=True)
    review = resp.get_json()
    assert review["kind"] == "change"
    # the kind of change heads the answer, in the household's language
    assert review["answer"].endswith(": 我们家添了一个孩子，今年三月出生。")


def test_the_resident_answers_the_renewal(client, district, officer):
    lease = lease_to_renew(district, officer)
    with time_machine.travel(noon(date(2028, 12, 20)), tick=False):
        renewals.ask_due()
        auth = bearer(resident_token(client, lease.tenant))
        renewal = client.get("/api/v1/me/review", headers=auth).get_json()["renewal"]
        assert renewal["status"] == "asked"
        assert renewal["old_ends_on"] == "2029-03-15"
        assert renewal["can_answer"] is True
        resp = client.post("/api/v1/me/review/renewal", json={"renew": True}, headers=auth)
        assert resp.status_code == 200, resp.get_data(as_text=True)
        answered = resp.get_json()
        assert answered["status"] == "reviewing"
        assert answered["review"].startswith("R")
        again = client.post("/api/v1/me/review/renewal", json={"renew": False}, headers=auth)
        assert problem(again, 409)["code"] == "invalid_transition"
    assert exits.open_case_of(lease) is None


def test_officers_list_read_check_and_decide(client, district, officer):
    lease = tenant_household(district, officer, wage=3000)
    review = opened_review(lease)
    elsewhere = opened_review(tenant_household(DistrictFactory(), None))
    auth = bearer(staff_token(client, officer))

    listed = client.get("/api/v1/staff/annual-reviews", headers=auth).get_json()
    assert [r["reference"] for r in listed["reviews"]] == [review.reference]
    row = listed["reviews"][0]
    assert row["proposed"] == "market_rent"
    assert row["proposal"]["market_rent"] == "1000.00"
    assert row["applicant"].count("*") >= 10  # masked
    assert row["can_decide"] is True
    assert row["may_decide"] is False
    assert "social_security" in row["facts"]

    assert (
        client.get("/api/v1/staff/annual-reviews?status=open", headers=auth).get_json()["total"]
        == 0
    )
    problem(client.get(f"/api/v1/staff/annual-reviews/{elsewhere.id}", headers=auth), 404)

    checks = client.post(f"/api/v1/staff/annual-reviews/{review.id}/checks", headers=auth)
    assert checks.status_code == 200, checks.get_data(as_text=True)
    assert checks.get_json()["outcome"] == "checked"

    early = client.post(
        f"/api/v1/staff/annual-reviews/{review.id}/decision",
        json={"outcome": "market_rent", "reason": "收入超过标准"},
        headers=auth,
    )
    assert "decide after that day" in problem(early, 409)["detail"]

    with time_machine.travel(noon(review.answer_by + timedelta(days=1)), tick=False):
        auth = bearer(staff_token(client, officer))  # a token lasts hours, not weeks
        no_reason = client.post(
            f"/api/v1/staff/annual-reviews/{review.id}/decision",
            json={"outcome": "continue", "reason": " "},
            headers=auth,
        )
        assert "differs from the proposal" in problem(no_reason, 422)["detail"]
        done = client.post(
            f"/api/v1/staff/annual-reviews/{review.id}/decision",
            json={"outcome": "market_rent", "reason": "收入超过标准，无其他住房"},
            headers=auth,
        )
        assert done.status_code == 200, done.get_data(as_text=True)
        decided = done.get_json()
        assert decided["status"] == "decided"
        assert decided["outcome"] == "market_rent"
        assert "1000.00" in decided["effect"]
        again = client.post(
            f"/api/v1/staff/annual-reviews/{review.id}/decision",
            json={"outcome": "continue", "reason": "条件均符合"},
            headers=auth,
        )
        problem(again, 409)


def test_managers_read_but_do_not_decide(client, district, officer):
    review = opened_review(tenant_household(district, officer))
    auth = bearer(staff_token(client, make_staff(Role.MANAGER)))
    got = client.get(f"/api/v1/staff/annual-reviews/{review.id}", headers=auth)
    assert got.status_code == 200
    assert got.get_json()["can_decide"] is False
    refused = client.post(
        f"/api/v1/staff/annual-reviews/{review.id}/decision",
        json={"outcome": "continue", "reason": "条件均符合"},
        headers=auth,
    )
    problem(refused, 403)


def test_the_renewals_list(client, district, officer):
    lease = lease_to_renew(district, officer)
    with time_machine.travel(noon(date(2028, 12, 20)), tick=False):
        renewals.ask_due()
        auth = bearer(staff_token(client, officer))
        rows = client.get("/api/v1/staff/renewals", headers=auth).get_json()
        assert [r["lease"] for r in rows] == [lease.reference]
        assert rows[0]["status"] == "asked"
