"""Subsidy rules (RULES.md "Rental subsidy"): the versioned ``subsidy`` rule set and the pure
computation of one household's monthly amount, with the components a resident reads.

``subsidy = rate[tier] × max(0, area_standard(n) − own_area) × coefficient``, capped at the
actual rent; or, with ``mode_table`` set, a fixed amount by household size, capped likewise.

Every figure is an exact Decimal with two places (yuan and fen, square metres): the rule
values are taken to two places (half up) and the product is rounded half up to the fen.
The monthly run computes the same formula in SQL over every household at once
(``portal.subsidy.services.compute_month``), in integer hundredths; a property test proves
the two agree to the fen.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

DEFAULTS = {
    "mode_table": 0,  # 1: a fixed amount by household size (Beijing-style) instead of tiers
    "rate_assistance": 20,  # yuan per m² a month: 低保 / 特困 households
    "tier1_income": 1693,  # per-capita monthly income up to this …
    "rate_tier1": 18,  # … this rate
    "tier2_income": 2540,
    "rate_tier2": 16,
    "rate_above": 14,
    "area_one_person": 20,  # area standard, m²
    "area_per_person": 15,
    "area_cap": 60,
    "coefficient": 1.0,
    "coefficient_veteran": 1.5,  # 优抚对象
    "table_1": 300,  # fixed table: yuan a month for 1, 2, 3, 4, 5 or more persons
    "table_2": 450,
    "table_3": 600,
    "table_4": 700,
    "table_5": 800,
    "valid_months": 12,  # an award is valid a year, then reviewed
    "review_days_before": 30,
    "tenant_offset_assistance_only": 1,  # in a public rental unit only assistance households
}

CENT = Decimal("0.01")
ZERO = Decimal("0.00")
# Civil affairs statuses that take the assistance rate (低保, 特困). 低收入 households are
# priority households on the waiting list but are paid by their income tier.
ASSISTANCE = ("dibao", "tekun")
TIERS = ("assistance", "tier1", "tier2", "above", "table")
TABLE_SIZES = 5  # table_5 is for five persons or more


def money(value: Any) -> Decimal:
    """A value to two places, half up (rule values, incomes, areas, amounts)."""
    return Decimal(str(value)).quantize(CENT, rounding=ROUND_HALF_UP)


def value(values: Mapping[str, Any], key: str) -> Decimal:
    """A rule value as the computation uses it: Decimal, two places, half up."""
    return money(values.get(key, DEFAULTS[key]))


@dataclass(frozen=True)
class Inputs:
    """The facts one month's amount is computed from."""

    household_size: int
    assistance: bool
    veteran: bool
    per_capita_income: Decimal
    own_area: Decimal
    actual_rent: Decimal | None  # the cap; None: not known (the amount is then uncapped)


@dataclass(frozen=True)
class Part:
    """One step of the explanation: a code and its figures (``portal/subsidy/explain.py``
    turns it into a sentence in the reader's language)."""

    code: str
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Computation:
    """One household's amount for a month, and how it was reached."""

    amount: Decimal
    tier: str
    rate: Decimal | None
    area: Decimal | None  # m² paid for
    coefficient: Decimal | None
    uncapped: Decimal
    cap: Decimal | None
    inputs: Inputs
    standard: Decimal | None = None  # the household's area standard, m²
    table_size: int | None = None  # the row of the fixed table used
    thresholds: tuple[Decimal, Decimal] | None = None  # tier 1 and tier 2 income limits

    @property
    def capped(self) -> bool:
        return self.cap is not None and self.amount < self.uncapped

    def explain(self) -> list[Part]:
        """The steps a resident reads, in order."""
        i = self.inputs
        parts: list[Part] = []
        if self.tier == "table":
            parts.append(
                Part(
                    "table",
                    {
                        "size": i.household_size,
                        "row": self.table_size,
                        "amount": self.uncapped,
                        "five_or_more": self.table_size == TABLE_SIZES,
                    },
                )
            )
        else:
            tier1, tier2 = self.thresholds or (None, None)
            if self.tier == "assistance":
                parts.append(Part("tier_assistance", {"rate": self.rate}))
            elif self.tier == "tier1":
                parts.append(
                    Part(
                        "tier1",
                        {"income": i.per_capita_income, "limit": tier1, "rate": self.rate},
                    )
                )
            elif self.tier == "tier2":
                parts.append(
                    Part(
                        "tier2",
                        {
                            "income": i.per_capita_income,
                            "low": tier1,
                            "limit": tier2,
                            "rate": self.rate,
                        },
                    )
                )
            else:
                parts.append(
                    Part(
                        "tier_above",
                        {"income": i.per_capita_income, "limit": tier2, "rate": self.rate},
                    )
                )
            code = "standard_one" if i.household_size == 1 else "standard_many"
            parts.append(Part(code, {"size": i.household_size, "standard": self.standard}))
            if i.own_area > 0:
                parts.append(
                    Part(
                        "own_area",
                        {"own": i.own_area, "standard": self.standard, "area": self.area},
                    )
                )
            if i.veteran:
                parts.append(Part("coefficient_veteran", {"coefficient": self.coefficient}))
            elif self.coefficient != Decimal(1):
                parts.append(Part("coefficient", {"coefficient": self.coefficient}))
            parts.append(
                Part(
                    "product",
                    {
                        "rate": self.rate,
                        "area": self.area,
                        "coefficient": self.coefficient,
                        "amount": self.uncapped,
                    },
                )
            )
        if self.cap is None:
            parts.append(Part("no_cap", {}))
        elif self.capped:
            parts.append(Part("capped", {"cap": self.cap, "amount": self.amount}))
        else:
            parts.append(Part("under_cap", {"cap": self.cap}))
        parts.append(Part("total", {"amount": self.amount}))
        return parts


def tier_of(inputs: Inputs, values: Mapping[str, Any]) -> tuple[str, Decimal]:
    """The income tier and its rate (yuan per m² a month)."""
    if inputs.assistance:
        return "assistance", value(values, "rate_assistance")
    income = money(inputs.per_capita_income)
    if income <= value(values, "tier1_income"):
        return "tier1", value(values, "rate_tier1")
    if income <= value(values, "tier2_income"):
        return "tier2", value(values, "rate_tier2")
    return "above", value(values, "rate_above")


def area_standard(size: int, values: Mapping[str, Any]) -> Decimal:
    """The household's area standard: one person's, or per person, never above the cap."""
    cap = value(values, "area_cap")
    if size <= 1:
        return min(value(values, "area_one_person"), cap)
    return min(value(values, "area_per_person") * size, cap)


def compute(inputs: Inputs, values: Mapping[str, Any]) -> Computation:
    """One household's monthly amount under the rule values ``values`` (pure)."""
    cap = None if inputs.actual_rent is None else money(inputs.actual_rent)
    if int(values.get("mode_table", 0) or 0):
        row = max(1, min(int(inputs.household_size), TABLE_SIZES))
        uncapped = value(values, f"table_{row}")
        amount = uncapped if cap is None else min(uncapped, cap)
        return Computation(
            amount=amount,
            tier="table",
            rate=None,
            area=None,
            coefficient=None,
            uncapped=uncapped,
            cap=cap,
            inputs=inputs,
            table_size=row,
        )
    tier, rate = tier_of(inputs, values)
    standard = area_standard(int(inputs.household_size), values)
    area = max(ZERO, standard - money(inputs.own_area))
    coefficient = value(values, "coefficient_veteran" if inputs.veteran else "coefficient")
    uncapped = (rate * area * coefficient).quantize(CENT, rounding=ROUND_HALF_UP)
    amount = uncapped if cap is None else min(uncapped, cap)
    return Computation(
        amount=amount,
        tier=tier,
        rate=rate,
        area=area,
        coefficient=coefficient,
        uncapped=uncapped,
        cap=cap,
        inputs=inputs,
        standard=standard,
        thresholds=(value(values, "tier1_income"), value(values, "tier2_income")),
    )


# --- from department facts -------------------------------------------------------------------


def _people(app) -> list:
    from portal.applications import rules as eligibility

    return [eligibility.Person(m.id_index, m.relation.value, m.birth_date) for m in app.members]


def per_capita_income(app, facts: Mapping[str, Any]) -> Decimal:
    """Per-capita monthly income as the eligibility rule computes it
    (``portal.applications.rules.income``), also for assistance households."""
    from portal.applications import rules as eligibility

    people = _people(app)
    if not people:
        return ZERO
    # the eligibility rule stops at an assistance status; without civil affairs' answer it
    # always sums the wages and housing fund bases
    result = eligibility.income(
        "rental_subsidy", people, {**facts, "civil_affairs": {}}, {"income_line": 0}
    )
    return money(result.params.get("per_capita") or 0)


def is_assistance(app, facts: Mapping[str, Any]) -> bool:
    """Whether a member is a 低保 or 特困 person according to civil affairs."""
    civil = facts.get("civil_affairs", {}) or {}
    return any((civil.get(m.id_index) or {}).get("assistance") in ASSISTANCE for m in app.members)


def owned_area(app, facts: Mapping[str, Any]) -> Decimal:
    """The area the household's members own (property registry), m²."""
    prop = facts.get("property", {}) or {}
    return money(
        sum(
            (
                Decimal(str((prop.get(m.id_index) or {}).get("owned_area") or 0))
                for m in app.members
            ),
            Decimal(0),
        )
    )


def inputs_from_facts(
    app, facts: Mapping[str, Any] | None, *, veteran: bool = False, actual_rent=None
) -> Inputs:
    """The inputs of a household from department facts (as ``settled_facts(app)`` or
    ``fresh_facts(app)`` give them): household size from the application, per-capita income
    as the eligibility rule computes it, assistance from civil affairs, owned area from the
    property registry. ``actual_rent`` is the rent the household pays a month (the cap)."""
    facts = facts or {}
    return Inputs(
        household_size=max(1, len(app.members)),
        assistance=is_assistance(app, facts),
        veteran=bool(veteran),
        per_capita_income=per_capita_income(app, facts),
        own_area=owned_area(app, facts),
        actual_rent=None if actual_rent is None else money(actual_rent),
    )
