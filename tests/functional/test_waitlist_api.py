"""The waiting list over the JSON API: a resident's own place with reasons in their language,
and the staff listing a page at a time."""

from __future__ import annotations

import re
from datetime import date, timedelta

from portal.accounts.roles import Role
from portal.waitlist import services
from portal.waitlist.models import Group
from tests.factories import PASSWORD, ResidentFactory
from tests.factories.fixtures import make_staff, totp_now
from tests.factories.waitlist import waiting_entry

PROBLEM = "application/problem+json"
MASKED_ID = re.compile(r"^\d{4}\*{10}[\dX]{4}$")


def token(client, user) -> str:
    body = {"identifier": user.mobile or user.username, "password": PASSWORD}
    if user.role is not Role.RESIDENT:
        body["code"] = totp_now(user)
    resp = client.post("/api/v1/auth/token", json=body)
    assert resp.status_code == 201, resp.get_data(as_text=True)
    return resp.get_json()["access_token"]


def headers(tok: str, lang: str = "en") -> dict:
    return {"Authorization": f"Bearer {tok}", "Accept-Language": lang}


def test_resident_reads_their_place_and_points_with_reasons(client, district):
    resident = ResidentFactory(birth_date=date(1961, 3, 3))
    waiting_entry(district, group=Group.P2, qualified_on=date(2020, 1, 1))
    entry = waiting_entry(district, resident=resident, group=Group.P2, household_size=3)
    entry.points_json = (
        '[{"category": "priority", "code": "elderly", "points": 30, "counted": true, '
        '"params": {"group": "p2", "age": 65, "needed": 60}}]'
    )
    entry.points = 30
    services.rerank()
    resp = client.get("/api/v1/waitlist/me", headers=headers(token(client, resident)))
    assert resp.status_code == 200, resp.get_data(as_text=True)
    body = resp.get_json()
    assert body["reference"] == entry.application.reference
    assert (body["status"], body["group"], body["points"]) == ("waiting", "p2", 30)
    assert body["position"]["rank"] == 2
    assert body["position"]["ahead_in_group"] == 1
    assert body["position"]["estimated_months"] is None
    assert body["calculating"] is False
    [item] = body["point_items"]
    assert item["text"] == "The applicant is 65 years old (60 or older has priority)."
    assert body["group_reason"] == item["text"]


def test_resident_without_an_entry_gets_a_problem_404(client):
    resp = client.get("/api/v1/waitlist/me", headers=headers(token(client, ResidentFactory())))
    assert resp.status_code == 404
    assert resp.mimetype == PROBLEM


def test_the_api_needs_a_token(client):
    assert client.get("/api/v1/waitlist/me").status_code == 401
    assert client.get("/api/v1/waitlist/public_rental").status_code == 401


def test_staff_read_one_page_of_the_list_masked(client, district):
    day = date(2023, 1, 1)
    entries = [waiting_entry(district, qualified_on=day + timedelta(days=i)) for i in range(60)]
    services.rerank()
    officer = make_staff(Role.OFFICER)
    resp = client.get(
        "/api/v1/waitlist/public_rental?page=2", headers=headers(token(client, officer))
    )
    assert resp.status_code == 200, resp.get_data(as_text=True)
    body = resp.get_json()
    assert (body["page"], body["pages"], body["total"]) == (2, 2, 60)
    assert [r["rank"] for r in body["rows"]] == list(range(51, 61))
    assert body["rows"][0]["entry_id"] == entries[50].id
    assert all(MASKED_ID.match(r["masked_id"]) for r in body["rows"])
    assert all(r["masked_name"].endswith("*") for r in body["rows"])


def test_staff_listing_of_one_group_and_unknown_programmes(client, district):
    waiting_entry(district, group=Group.P1)
    waiting_entry(district, group=Group.G)
    services.rerank()
    tok = token(client, make_staff(Role.MANAGER))
    body = client.get("/api/v1/waitlist/public_rental?group=g", headers=headers(tok)).get_json()
    assert [(r["rank"], r["group_rank"], r["group"]) for r in body["rows"]] == [(2, 1, "g")]
    assert client.get("/api/v1/waitlist/rental_subsidy", headers=headers(tok)).status_code == 404
    bad = client.get("/api/v1/waitlist/public_rental?page=0", headers=headers(tok))
    assert bad.status_code == 422


def test_residents_cannot_read_the_listing(client, district):
    waiting_entry(district)
    resp = client.get(
        "/api/v1/waitlist/public_rental", headers=headers(token(client, ResidentFactory()))
    )
    assert resp.status_code == 403


def test_the_openapi_document_describes_the_waiting_list(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    assert "/api/v1/waitlist/me" in spec["paths"]
    assert "/api/v1/waitlist/{programme}" in spec["paths"]
