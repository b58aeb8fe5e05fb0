"""The facts each department reports, per person: what the registry import reads, what the
reviewer may correct, and how the pages label them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from portal.core.errors import ValidationFailed
from portal.core.i18n import lazy_gettext as _l
from portal.verification.departments import Department


@dataclass(frozen=True)
class Fact:
    name: str
    kind: str  # bool, int, decimal, date, choice, text
    label: Any
    choices: tuple[str, ...] = ()


MARITAL = ("single", "married", "divorced", "widowed")
ASSISTANCE = ("none", "dibao", "tekun", "low_income")

FACTS: dict[Department, tuple[Fact, ...]] = {
    Department.PUBLIC_SECURITY: (
        Fact("registered_name", "text", _l("Name in the household register")),
        Fact("hukou_local", "bool", _l("Local household registration")),
        Fact("hukou_district", "text", _l("Registered in district")),
        Fact("hukou_since", "date", _l("Registered since")),
        Fact("household_no", "text", _l("Household register number")),
    ),
    Department.CIVIL_AFFAIRS: (
        Fact("marital_status", "choice", _l("Marital status"), MARITAL),
        Fact("spouse_masked", "text", _l("Spouse (masked ID number)")),
        Fact("assistance", "choice", _l("Social assistance"), ASSISTANCE),
    ),
    Department.PROPERTY: (
        Fact("owned_area", "decimal", _l("Housing owned (m²)")),
        Fact("properties", "int", _l("Number of properties")),
    ),
    Department.SOCIAL_SECURITY: (
        Fact("local_months_continuous", "int", _l("Months of continuous local social insurance")),
        Fact("monthly_wage", "int", _l("Monthly wage (yuan)")),
        Fact("employer", "text", _l("Employer")),
    ),
    Department.HOUSING_FUND: (
        Fact("contributing", "bool", _l("Paying into the housing fund")),
        Fact("monthly_base", "int", _l("Contribution base (yuan a month)")),
    ),
    Department.MARKET_REGULATION: (
        Fact("businesses", "int", _l("Businesses owned")),
        Fact("registered_capital", "int", _l("Registered capital (yuan)")),
    ),
    Department.VEHICLES: (
        Fact("vehicles", "int", _l("Vehicles registered")),
        Fact("total_value", "int", _l("Value of vehicles (yuan)")),
    ),
    Department.DISABILITY: (Fact("grade", "int", _l("Disability grade (1 most severe)")),),
}

# Departments where a missing record is itself a question (everyone is in a household
# register and has a marital status); elsewhere no record means "none".
REQUIRED = frozenset({Department.PUBLIC_SECURITY, Department.CIVIL_AFFAIRS})


def parse_fact(fact: Fact, raw: str | None) -> Any:
    """A typed value from form or CSV text; ``ValidationFailed`` names the fact."""
    value = (raw or "").strip()
    if value == "":
        return None
    try:
        if fact.kind == "bool":
            if value.lower() in {"1", "true", "yes", "y", "是"}:
                return True
            if value.lower() in {"0", "false", "no", "n", "否"}:
                return False
            raise ValueError(value)
        if fact.kind == "int":
            return int(value)
        if fact.kind == "decimal":
            return float(value)
        if fact.kind == "date":
            return date.fromisoformat(value).isoformat()
        if fact.kind == "choice":
            if value not in fact.choices:
                raise ValueError(value)
            return value
        return value[:200]
    except ValueError as exc:
        raise ValidationFailed(
            _l("“%(value)s” is not a valid value for %(label)s.", value=value, label=fact.label),
            field=fact.name,
        ) from exc
