"""``GET /api/v1/staff/dashboard``: the dashboard's figures as JSON for the same filters and
by the same rules as the page; money as text with two decimals; managers only; bad filters
answer a problem document naming the parameter; the schema is in the OpenAPI document."""

from __future__ import annotations

import itertools

import pytest

from portal.accounts.roles import Role
from tests.factories import PASSWORD
from tests.factories.fixtures import make_staff, totp_now
from tests.functional.test_dashboard import TODAY, clock, world  # noqa: F401

PROBLEM = "application/problem+json"
URL = "/api/v1/staff/dashboard"
_addresses = itertools.count(1)


@pytest.fixture
def token_of(client):
    """``token_of(user)``: the headers of a fresh bearer token (each from its own address)."""

    def make(user) -> dict[str, str]:
        resp = client.post(
            "/api/v1/auth/token",
            json={"identifier": user.username, "password": PASSWORD, "code": totp_now(user)},
            environ_base={"REMOTE_ADDR": f"203.0.113.{next(_addresses) % 250 + 1}"},
        )
        assert resp.status_code == 201, resp.get_data(as_text=True)
        return {"Authorization": f"Bearer {resp.get_json()['access_token']}"}

    return make


@pytest.fixture
def manager(token_of):
    """A new manager's headers, answers in English."""
    return {**token_of(make_staff(Role.MANAGER)), "Accept-Language": "en"}


def cell(body, role: str, measure: str, district: str | None = None) -> dict:
    line = next(
        line
        for line in body["targets"]
        if line["role"] == role and (district is None or line["district"] == district)
    )
    return next(c for c in line["cells"] if c["measure"] == measure)


def test_the_whole_citys_figures(client, manager, world):  # noqa: F811
    resp = client.get(URL, headers=manager)
    assert resp.status_code == 200, resp.get_data(as_text=True)
    body = resp.get_json()
    a, b = world["a"].code, world["b"].code
    assert (body["district"], body["year"], body["from"], body["to"], body["as_of"]) == (
        None,
        2026,
        "2026-01-01",
        TODAY.isoformat(),
        TODAY.isoformat(),
    )
    assert [line["role"] for line in body["targets"]] == [
        "total",
        "subtotal",
        "city",
        "district",
        "subtotal",
        "district",
    ]
    starts = cell(body, "district", "renovation_starts", a)
    assert starts == {
        "measure": "renovation_starts",
        "title": "Shanty-town renovation starts: both plans together",
        "targets": {"renovation_starts_carried": 10, "renovation_starts_new": 10},
        "target": 20,
        "achieved": 12,
        "percent": "60.0",
        "due": 14,
        "due_share": 70,
        "due_month": 6,
        "next_share": None,
        "next_month": None,
        "behind": True,
    }
    assert cell(body, "city", "new_allocations")["achieved"] is None

    assert body["applications"]["total"] == 6
    assert {"programme": "public_rental", "status": "rejected", "count": 1} in body["applications"][
        "counts"
    ]
    review = body["review"]["total"]
    assert review == {
        "district": None,
        "decided": 2,
        "on_time": 1,
        "on_time_percent": "50.0",
        "median_days": "17.6",
        "mean_days": "17.6",
    }
    assert [d["district"] for d in body["review"]["districts"]] == [a, b]
    assert body["queue"]["total"] == {
        "waiting": 2,
        "median_days": "20.0",
        "longest_days": 30,
        "long_waiters": 0,
    }
    assert body["allocations"]["total"]["leases"] == 1
    subsidies = body["subsidies"]
    assert (subsidies["households"], subsidies["paid"], subsidies["net"]) == (2, "800.00", "800.00")
    assert subsidies["months"] == [
        {
            "month": "2026-01",
            "closed": True,
            "households": 2,
            "paid": "800.00",
            "recovered": "0.00",
            "net": "800.00",
        }
    ]
    homes = body["housing"]["total"]
    assert (homes["total"], homes["not_relet"], homes["occupancy"]) == (2, 1, "50.0")
    assert homes["by_status"] == {"vacant": 1, "in_round": 0, "occupied": 1, "maintenance": 0}
    assert body["credit"]["confirmed"] == {"serious": 1}
    rent = body["rent"]
    assert (rent["charged"], rent["collected"], rent["rate"]) == ("1500.00", "500.00", "33.3")
    assert (rent["arrears_households"], rent["arrears_amount"]) == (1, "1000.00")
    assert [m["month"] for m in rent["months"]] == ["2026-05", "2026-06", "2026-07"]


def test_a_district_and_a_period(client, manager, world):  # noqa: F811
    b = world["b"].code
    body = client.get(URL, headers=manager, query_string={"district": b}).get_json()
    assert body["district"] == b
    assert [line["district"] for line in body["targets"]] == [b]
    assert body["applications"]["total"] == 3
    assert body["queue"]["total"]["waiting"] == 1
    assert body["subsidies"]["paid"] == "300.00"
    assert body["rent"]["charged"] == "0.00"
    assert body["housing"]["districts"][0]["district"] == b

    body = client.get(
        URL, headers=manager, query_string={"from": "2026-03-01", "to": "2026-03-31"}
    ).get_json()
    assert (body["from"], body["to"]) == ("2026-03-01", "2026-03-31")
    assert body["applications"]["total"] == 1
    assert body["review"]["total"]["decided"] == 1
    assert body["subsidies"]["months"] == []


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"from": "2026-03-02", "to": "2026-03-01"}, "to"),
        ({"from": "2020-01-01", "to": "2025-01-01"}, "to"),
        ({"from": "03/01/2026"}, "from"),
        ({"year": "20x6"}, "year"),
        ({"district": "nowhere"}, "district"),
    ],
)
def test_bad_filters_are_problems(client, manager, query, field):
    resp = client.get(URL, headers=manager, query_string=query)
    assert resp.status_code == 422
    assert resp.mimetype == PROBLEM
    body = resp.get_json()
    assert list(body["errors"]) == [field]


def test_managers_only(client, token_of, world):  # noqa: F811
    for role in (Role.OFFICER, Role.REVIEWER, Role.AUDITOR):
        resp = client.get(URL, headers=token_of(make_staff(role)))
        assert resp.status_code == 403
        assert resp.mimetype == PROBLEM
    assert client.get(URL).status_code == 401


def test_the_openapi_document_describes_it(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    operation = spec["paths"][URL]["get"]
    names = {p["name"] for p in operation["parameters"]}
    assert {"district", "year", "from", "to"} <= names
    schema = operation["responses"]["200"]["content"]["application/json"]["schema"]
    assert schema["$ref"].endswith("/Dashboard")
    props = spec["components"]["schemas"]["Dashboard"]["properties"]
    assert {"targets", "applications", "review", "queue", "subsidies", "rent"} <= set(props)
