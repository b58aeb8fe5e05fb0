"""Eligibility (RULES.md): pure functions over the settled department facts.

Every rule returns a :class:`RuleResult` with a code and parameters; the pages turn them into
sentences in the reader's language (``portal/applications/explain.py``). The values come from
the versioned ``eligibility`` rule set, whose version the decision records.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

DEFAULTS = {
    "income_line": 1549,  # yuan per person per month
    "area_per_person": 15,  # m² owned per person, strictly below
    "hukou_years": 5,
    "social_insurance_months": 12,
    "affordable_social_insurance_months": 1,
    "notice_days": 10,
    "supplement_working_days": 10,
    "check_working_days": 5,
    "accept_working_days": 5,
    "decide_working_days": 20,
    "second_review_working_days": 15,
    "objection_working_days": 10,
    "spot_check_share": 0.1,
}

ASSISTANCE = ("dibao", "tekun", "low_income")  # 低保, 特困, 低收入


@dataclass(frozen=True)
class Person:
    index: str  # blind index of the ID number
    relationship: str
    birth_date: date


@dataclass
class RuleResult:
    code: str
    passed: bool | None  # None: cannot be decided from the data
    params: dict[str, Any] = field(default_factory=dict)


@dataclass
class Evaluation:
    eligible: bool | None
    results: list[RuleResult]

    def as_dict(self) -> dict[str, Any]:
        return {"eligible": self.eligible, "results": [asdict(r) for r in self.results]}


def _years_between(start: date, end: date) -> int:
    return end.year - start.year - ((end.month, end.day) < (start.month, start.day))


def _money(value: Decimal) -> str:
    return str(value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


def residency(programme: str, applicant: Person, facts: dict, values: dict, on: date) -> RuleResult:
    hukou = facts.get("public_security", {}).get(applicant.index) or {}
    social = facts.get("social_security", {}).get(applicant.index) or {}
    months = int(social.get("local_months_continuous") or 0)
    if programme == "affordable_rental":
        needed = values["affordable_social_insurance_months"]
        ok = bool(hukou.get("hukou_local")) or months >= needed
        return RuleResult("residency_affordable", ok, {"months": months, "needed": needed})
    years = 0
    if hukou.get("hukou_local") and hukou.get("hukou_since"):
        years = _years_between(date.fromisoformat(hukou["hukou_since"]), on)
    if years >= values["hukou_years"]:
        return RuleResult(
            "residency_hukou", True, {"years": years, "needed": values["hukou_years"]}
        )
    if months >= values["social_insurance_months"]:
        return RuleResult(
            "residency_social",
            True,
            {"months": months, "needed": values["social_insurance_months"]},
        )
    return RuleResult(
        "residency_none",
        False,
        {
            "years": years,
            "needed_years": values["hukou_years"],
            "months": months,
            "needed_months": values["social_insurance_months"],
        },
    )


def income(programme: str, people: list[Person], facts: dict, values: dict) -> RuleResult:
    if programme == "affordable_rental":
        return RuleResult("income_not_required", True)
    civil = facts.get("civil_affairs", {})
    for p in people:
        status = (civil.get(p.index) or {}).get("assistance")
        if status in ASSISTANCE:
            return RuleResult("income_assistance", True, {"assistance": status})
    total = Decimal(0)
    for p in people:
        wage = Decimal(
            str((facts.get("social_security", {}).get(p.index) or {}).get("monthly_wage") or 0)
        )
        fund = Decimal(
            str((facts.get("housing_fund", {}).get(p.index) or {}).get("monthly_base") or 0)
        )
        total += max(wage, fund)
    per_capita = total / len(people)
    line = Decimal(values["income_line"])
    params = {"per_capita": _money(per_capita), "line": str(line), "size": len(people)}
    return RuleResult("income", per_capita < line, params)


def housing(programme: str, people: list[Person], facts: dict, values: dict) -> RuleResult:
    owned = sum(
        Decimal(str((facts.get("property", {}).get(p.index) or {}).get("owned_area") or 0))
        for p in people
    )
    if programme == "affordable_rental":
        return RuleResult("housing_none_owned", owned == 0, {"owned": _money(owned)})
    per_person = owned / len(people)
    limit = Decimal(values["area_per_person"])
    return RuleResult(
        "housing",
        per_person < limit,
        {"per_person": _money(per_person), "limit": str(limit), "owned": _money(owned)},
    )


def household(people: list[Person], facts: dict) -> RuleResult:
    """The declared household matches the registers: no undeclared spouse."""
    declared = {p.index for p in people}
    civil = facts.get("civil_affairs", {})
    for p in people:
        spouse = (civil.get(p.index) or {}).get("spouse_index")
        if spouse and spouse not in declared:
            masked = (civil.get(p.index) or {}).get("spouse_masked", "")
            return RuleResult("household_spouse_missing", False, {"spouse": masked})
    return RuleResult("household", True, {"size": len(people)})


def credit(banned: list[dict[str, Any]]) -> RuleResult:
    if banned:
        first = banned[0]
        return RuleResult(
            "credit_ban", False, {"source": first["source"], "until": first.get("until") or ""}
        )
    return RuleResult("credit", True)


def evaluate(
    programme: str,
    people: list[Person],
    facts: dict[str, dict[str, dict[str, Any]]],
    values: dict[str, Any],
    on: date,
    banned: list[dict[str, Any]] | None = None,
) -> Evaluation:
    """All rules for a household; eligible only when every rule passed.

    ``facts`` is ``{department: {person index: {fact: value}}}`` from the settled checks.
    """
    applicant = next(p for p in people if p.relationship == "applicant")
    results = [
        residency(programme, applicant, facts, values, on),
        income(programme, people, facts, values),
        housing(programme, people, facts, values),
        household(people, facts),
        credit(banned or []),
    ]
    if any(r.passed is False for r in results):
        eligible: bool | None = False
    elif any(r.passed is None for r in results):
        eligible = None
    else:
        eligible = True
    return Evaluation(eligible, results)
