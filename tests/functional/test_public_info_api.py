"""The public information API (no token): the self-check, the housing listings and the
office contacts, with the same services and texts as the pages."""

from __future__ import annotations

from decimal import Decimal

import pytest
from flask_babel import force_locale

from portal.applications import explain
from portal.applications.models import Programme
from portal.housing.models import UnitStatus
from portal.public.demo import load_demo_offices
from tests.factories import DistrictFactory
from tests.factories.housing import EstateFactory, UnitFactory
from tests.functional.test_api import assert_problem

EN = {"Accept-Language": "en"}

QUALIFYING = {
    "programme": "public_rental",
    "household_size": 3,
    "monthly_income": 3000,
    "owned_area": "0",
    "hukou": True,
    "hukou_years": 6,
    "social_insurance_months": None,
}


def by_rule(body: dict) -> dict:
    return {r["rule"]: r for r in body["results"]}


def test_the_openapi_document_lists_the_public_routes_and_is_valid(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    for path in (
        "/api/v1/public/self-check",
        "/api/v1/public/housing",
        "/api/v1/public/housing/{code}",
        "/api/v1/public/offices",
    ):
        assert path in spec["paths"], path
    assert "security" not in spec["paths"]["/api/v1/public/self-check"]["post"]
    validator = pytest.importorskip("openapi_spec_validator")
    validator.validate(spec)


def test_self_check_of_a_qualifying_household(client):
    resp = client.post("/api/v1/public/self-check", json=QUALIFYING, headers=EN)
    assert resp.status_code == 200, resp.get_data(as_text=True)
    body = resp.get_json()
    assert body["verdict"] == "met"
    rules = by_rule(body)
    assert [r["rule"] for r in body["results"]] == [
        "residency",
        "income",
        "housing",
        "household",
        "credit",
    ]
    assert rules["residency"]["passed"] is True
    assert rules["income"]["code"] == "income"
    with force_locale("en"):
        expected = explain.explain(
            "income", True, {"per_capita": "1000.00", "line": "1549", "size": 3}
        )
    assert rules["income"]["text"] == expected
    assert rules["household"]["passed"] is None
    assert rules["credit"]["passed"] is None
    assert body["max_unit_area"] == "60"
    assert body["subsidy"] is None
    assert body["rules"]["version"] >= 1
    assert "not a decision" in body["note"]


def test_self_check_agrees_with_the_page(client):
    api = client.post(
        "/api/v1/public/self-check",
        json={**QUALIFYING, "monthly_income": "9000.50", "owned_area": 60},
        headers=EN,
    ).get_json()
    assert api["verdict"] == "not_met"
    rules = by_rule(api)
    assert rules["income"]["passed"] is False
    assert rules["housing"]["passed"] is False
    page = client.get(
        "/self-check",
        query_string={
            "programme": "public_rental",
            "household_size": "3",
            "monthly_income": "9000.50",
            "owned_area": "60",
            "hukou": "yes",
            "hukou_years": "6",
        },
        headers=EN,
    ).get_data(as_text=True)
    for rule in ("income", "housing", "residency"):
        assert rules[rule]["text"] in page


def test_self_check_of_a_subsidy_household_estimates_the_amount(client):
    body = client.post(
        "/api/v1/public/self-check",
        json={**QUALIFYING, "programme": "rental_subsidy", "owned_area": 10},
    ).get_json()
    assert body["subsidy"]["amount"] == "630.00"
    assert body["subsidy"]["steps"]
    assert body["max_unit_area"] is None


def test_open_questions_give_undecided_rules(client):
    body = client.post(
        "/api/v1/public/self-check",
        json={"programme": "public_rental", "household_size": 2},
    ).get_json()
    assert body["verdict"] == "unknown"
    rules = by_rule(body)
    assert rules["residency"]["passed"] is None
    assert rules["income"]["passed"] is None
    assert rules["housing"]["passed"] is None


@pytest.mark.parametrize(
    "change",
    [
        {"household_size": 0},
        {"household_size": "3"},
        {"household_size": 500},
        {"monthly_income": -1},
        {"monthly_income": "abc"},
        {"monthly_income": "12.345"},
        {"owned_area": 1e9},
        {"hukou_years": 101},
        {"social_insurance_months": 2.5},
        {"hukou": False, "hukou_years": 3},
        {"programme": "villa"},
        {"assistance": "rich"},
    ],
)
def test_self_check_refuses_bad_answers(client, change):
    body = assert_problem(
        client.post("/api/v1/public/self-check", json={**QUALIFYING, **change}), 422
    )
    assert set(body["errors"]) & set(change)


@pytest.fixture
def stock(db):
    west, east = DistrictFactory(), DistrictFactory()
    a = EstateFactory(district=west, market_rent=Decimal("20.50"))
    b = EstateFactory(district=east, programme=Programme.AFFORDABLE_RENTAL)
    UnitFactory(estate=a, rooms=1, area=Decimal("30.00"), rent=Decimal("300.00"))
    UnitFactory(estate=a, rooms=1, area=Decimal("33.00"), rent=Decimal("330.00"))
    UnitFactory(estate=a, rooms=2, area=Decimal("48.00"), status=UnitStatus.OCCUPIED)
    UnitFactory(estate=b, rooms=1, area=Decimal("25.00"), status=UnitStatus.IN_ROUND)
    return {"west": west, "east": east, "a": a, "b": b}


def test_housing_listing_and_filters(client, stock):
    body = client.get("/api/v1/public/housing").get_json()
    assert (body["total"], body["page"], body["pages"]) == (2, 1, 1)
    estates = {e["code"]: e for e in body["estates"]}
    a = estates[stock["a"].code]
    assert (a["units"], a["vacant"], a["market_rent"]) == (3, 2, "20.50")
    assert a["district"] == stock["west"].code
    one, two = a["unit_types"]
    assert one == {
        "rooms": 1,
        "units": 2,
        "vacant": 2,
        "accessible": 0,
        "area_min": "30.00",
        "area_max": "33.00",
        "rent_min": "300.00",
        "rent_max": "330.00",
    }
    assert (two["rooms"], two["units"], two["vacant"]) == (2, 1, 0)
    b = estates[stock["b"].code]
    assert (b["vacant"], b["market_rent"], b["programme"]) == (0, None, "affordable_rental")

    only = client.get(f"/api/v1/public/housing?district={stock['east'].code}").get_json()
    assert [e["code"] for e in only["estates"]] == [stock["b"].code]
    only = client.get("/api/v1/public/housing?programme=public_rental").get_json()
    assert [e["code"] for e in only["estates"]] == [stock["a"].code]


def test_housing_filters_are_checked(client, stock):
    assert_problem(client.get("/api/v1/public/housing?district=nowhere"), 422)
    assert_problem(client.get("/api/v1/public/housing?programme=rental_subsidy"), 422)
    assert_problem(client.get("/api/v1/public/housing?page=0"), 422)


def test_one_estate(client, stock):
    body = client.get(f"/api/v1/public/housing/{stock['a'].code}").get_json()
    assert body["code"] == stock["a"].code
    assert [t["rooms"] for t in body["unit_types"]] == [1, 2]
    assert "number" not in str(body)
    assert_problem(client.get("/api/v1/public/housing/NO-SUCH"), 404)


def test_offices_follow_the_language(client):
    DistrictFactory(name_zh="演示区", name_en="Demo District")
    load_demo_offices()
    zh = client.get("/api/v1/public/offices").get_json()
    en = client.get("/api/v1/public/offices", headers=EN).get_json()
    assert zh[0]["district"] is None  # the city's centre first
    assert zh[0]["name"] == zh[0]["name_zh"]
    assert en[0]["name"] == en[0]["name_en"]
    assert en[0]["hours"].startswith("Monday to Friday")
    demo = next(o for o in en if o["district_name"] == "Demo District")
    assert demo["name"] == "Demo District housing office"
    assert demo["phone"].startswith("0773-28")
