"""The subsidy formula (portal/subsidy/rules.py): pure functions, no database. Every tier
boundary, the area standard and its cap, owned area, the rent cap, the veteran coefficient,
the fixed table, and rounding half up to the fen."""

from __future__ import annotations

from decimal import Decimal

import pytest

from portal.subsidy import rules

V = rules.DEFAULTS
D = Decimal


def inputs(
    size: int = 2,
    income: str = "1000",
    *,
    assistance: bool = False,
    veteran: bool = False,
    own: str = "0",
    rent: str | None = "5000",
) -> rules.Inputs:
    return rules.Inputs(
        household_size=size,
        assistance=assistance,
        veteran=veteran,
        per_capita_income=D(income),
        own_area=D(own),
        actual_rent=None if rent is None else D(rent),
    )


@pytest.mark.parametrize(
    ("income", "tier", "rate"),
    [
        ("0", "tier1", "18.00"),
        ("1693.00", "tier1", "18.00"),
        ("1693.01", "tier2", "16.00"),
        ("2540.00", "tier2", "16.00"),
        ("2540.01", "above", "14.00"),
        ("99999", "above", "14.00"),
    ],
)
def test_income_tiers_at_their_boundaries(income, tier, rate):
    c = rules.compute(inputs(2, income), V)
    assert (c.tier, c.rate) == (tier, D(rate))
    # two persons: 30 m² × rate × 1.0
    assert c.amount == D(rate) * 30
    assert c.amount == c.amount.quantize(D("0.01"))


def test_assistance_takes_its_rate_whatever_the_income():
    c = rules.compute(inputs(2, "3000", assistance=True), V)
    assert (c.tier, c.rate, c.amount) == ("assistance", D("20.00"), D("600.00"))


def test_one_person_has_the_one_person_standard():
    c = rules.compute(inputs(1), V)
    assert (c.standard, c.area, c.amount) == (D("20.00"), D("20.00"), D("360.00"))


@pytest.mark.parametrize(("size", "area"), [(2, "30"), (3, "45"), (4, "60"), (5, "60"), (9, "60")])
def test_the_area_standard_is_per_person_up_to_its_cap(size, area):
    c = rules.compute(inputs(size), V)
    assert c.standard == D(area)
    assert c.amount == D(area) * 18


def test_owned_area_is_taken_off_the_standard():
    c = rules.compute(inputs(3, own="12.5"), V)
    assert c.area == D("32.50")
    assert c.amount == D("585.00")


@pytest.mark.parametrize("own", ["45", "45.01", "80"])
def test_owning_the_standard_or_more_pays_nothing(own):
    c = rules.compute(inputs(3, own=own), V)
    assert c.area == D("0.00")
    assert c.amount == D("0.00")


def test_the_amount_is_capped_at_the_rent_paid():
    c = rules.compute(inputs(2, rent="499.99"), V)
    assert c.uncapped == D("540.00")
    assert c.amount == D("499.99")
    assert c.capped
    assert [p.code for p in c.explain()][-2:] == ["capped", "total"]
    under = rules.compute(inputs(2, rent="540.00"), V)
    assert under.amount == D("540.00")
    assert not under.capped


def test_without_a_known_rent_the_amount_is_not_capped():
    c = rules.compute(inputs(2, rent=None), V)
    assert c.cap is None
    assert c.amount == D("540.00")
    assert "no_cap" in [p.code for p in c.explain()]


def test_a_veteran_household_has_its_coefficient():
    c = rules.compute(inputs(2, veteran=True), V)
    assert c.coefficient == D("1.50")
    assert c.amount == D("810.00")
    assert "coefficient_veteran" in [p.code for p in c.explain()]


@pytest.mark.parametrize(
    ("size", "row", "amount"),
    [(1, 1, "300"), (2, 2, "450"), (4, 4, "700"), (5, 5, "800"), (7, 5, "800")],
)
def test_the_fixed_table_pays_by_household_size(size, row, amount):
    values = {**V, "mode_table": 1}
    c = rules.compute(inputs(size, "3000", own="100"), values)
    assert (c.tier, c.table_size, c.amount) == ("table", row, D(amount))
    assert c.rate is None
    assert c.area is None


def test_the_fixed_table_is_capped_at_the_rent_too():
    c = rules.compute(inputs(3, rent="420.10"), {**V, "mode_table": 1})
    assert c.amount == D("420.10")


def test_rounding_is_half_up_to_the_fen():
    # 16 × 2.03 × 1.25 = 40.6 exactly; 18 × 2.05 × 1.15 = 42.435 → 42.44 (half up, not even)
    values = {**V, "coefficient": 1.15}
    c = rules.compute(inputs(2, "1000", own="27.95"), values)
    assert c.area == D("2.05")
    assert c.uncapped == D("42.44")
    values = {**V, "coefficient": 1.05}
    # 18 × 0.25 × 1.05 = 4.725 → 4.73
    c = rules.compute(inputs(2, "1000", own="29.75"), values)
    assert c.uncapped == D("4.73")


def test_rule_values_are_taken_to_two_places():
    values = {**V, "rate_tier1": 18.005}  # half up: 18.01
    assert rules.compute(inputs(1), values).rate == D("18.01")


def test_the_explanation_follows_the_computation():
    c = rules.compute(inputs(3, "2000", own="5"), V)
    codes = [p.code for p in c.explain()]
    assert codes == ["tier2", "standard_many", "own_area", "product", "under_cap", "total"]
    total = c.explain()[-1]
    assert total.params["amount"] == c.amount
