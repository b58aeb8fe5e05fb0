"""The officer's workbench over the JSON API (GET /api/v1/staff/workbench): the page's queues,
titles in the language asked for, another district's work never in it; officers only."""

from __future__ import annotations

import pytest
from flask_babel import force_locale

from portal.accounts.roles import Role
from portal.applications.models import Status
from portal.core.clock import today
from tests.factories import DistrictFactory, ResidentFactory
from tests.factories.fixtures import make_staff
from tests.functional.test_notices_api import resident_token, staff_token
from tests.functional.test_workbench import KEYS, build_world, shows

URL = "/api/v1/staff/workbench"


def call(client, token: str, language: str = "en"):
    return client.get(
        URL, headers={"Authorization": f"Bearer {token}", "Accept-Language": language}
    )


@pytest.fixture
def world(db):
    return build_world()


def test_the_api_gives_the_queues_of_the_officers_districts(client, world):
    resp = call(client, staff_token(client, world.officer))
    assert resp.status_code == 200, resp.get_data(as_text=True)
    body = resp.get_json()

    assert body["today"] == today().isoformat()
    queues = {q["key"]: q for q in body["queues"]}
    assert list(queues) == KEYS
    for key, want in world.expected.items():
        q = queues[key]
        assert q["count"] == want.count, key
        assert q["overdue"] == want.overdue, key
        assert q["next_deadline"] == (want.next_deadline and want.next_deadline.isoformat()), key
        assert [i["reference"] for i in q["items"]] == want.order, key
        for item in q["items"]:
            assert item["url"].startswith("/"), item
            late = item["deadline"] is not None and item["deadline"] < today().isoformat()
            assert item["overdue"] is late, item
    assert queues["applications"]["title"] == "Applications awaiting your decision"
    assert queues["applications"]["url"] == "/officer/applications"
    assert queues["supplements"]["url"] == "/officer/applications?status=supplement"
    assert queues["spot_checks"]["items"][0]["deadline"] is None
    assert [ref for ref in world.foreign if shows(resp.get_data(as_text=True), ref)] == []


def test_the_titles_follow_the_language_asked_for(client, world):
    token = staff_token(client, world.officer)
    english = {q["key"]: q for q in call(client, token, "en").get_json()["queues"]}
    chinese = {q["key"]: q for q in call(client, token, "zh-CN").get_json()["queues"]}

    for lang, queues in (("en", english), ("zh_Hans_CN", chinese)):
        with force_locale(lang):
            label = str(Status.SECOND_REVIEW.label)
            district = world.home.name(lang)
        items = queues["applications"]["items"]
        assert label in [i["label"] for i in items]
        assert district in [i["district"] for i in items]
    assert (
        english["applications"]["items"][-1]["label"]
        != chinese["applications"]["items"][-1]["label"]
    )


def test_an_officer_without_work_gets_empty_queues(client, db):
    officer = make_staff(Role.OFFICER, districts=[DistrictFactory()])
    body = call(client, staff_token(client, officer)).get_json()
    assert [(q["key"], q["count"], q["overdue"], q["items"]) for q in body["queues"]] == [
        (k, 0, 0, []) for k in KEYS
    ]
    assert all(q["next_deadline"] is None for q in body["queues"])


@pytest.mark.parametrize("role", [Role.MANAGER, Role.REVIEWER])
def test_only_officers_may_read_it(client, db, role):
    resp = call(client, staff_token(client, make_staff(role)))
    assert resp.status_code == 403
    assert call(client, resident_token(client, ResidentFactory())).status_code == 403
    assert client.get(URL).status_code == 401
