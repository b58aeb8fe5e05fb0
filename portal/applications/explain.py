"""Sentences that explain each rule's outcome to the resident, in their language."""

from __future__ import annotations

from typing import Any

from flask_babel import gettext as _

from portal.core.i18n import lazy_gettext as _l

RULE_TITLES = {
    "residency": _l("Living and working in the city"),
    "income": _l("Household income"),
    "housing": _l("Housing already owned"),
    "household": _l("Household members"),
    "credit": _l("Credit record"),
}

ASSISTANCE_NAMES = {
    "dibao": _l("minimum living allowance (低保)"),
    "tekun": _l("extreme poverty support (特困)"),
    "low_income": _l("low-income household (低收入)"),
}


def rule_title(code: str) -> str:
    return str(RULE_TITLES[code.split("_")[0]])


def explain(code: str, passed: bool | None, params: dict[str, Any]) -> str:
    """One sentence saying what the data showed and what the rule asks."""
    p = params
    if code == "residency_hukou":
        return _(
            "Local household registration for %(years)d years (at least %(needed)d needed).",
            years=p["years"],
            needed=p["needed"],
        )
    if code == "residency_social":
        return _(
            "%(months)d months of continuous local social insurance (at least %(needed)d needed).",
            months=p["months"],
            needed=p["needed"],
        )
    if code == "residency_none":
        return _(
            "Local household registration for %(years)d years and %(months)d months of local "
            "social insurance: %(needed_years)d years of registration or %(needed_months)d "
            "months of insurance are needed.",
            years=p["years"],
            months=p["months"],
            needed_years=p["needed_years"],
            needed_months=p["needed_months"],
        )
    if code == "residency_affordable":
        if passed:
            return _("You live or work in the city.")
        return _("Neither a local household registration nor local social insurance was found.")
    if code == "income_not_required":
        return _("This programme has no income limit.")
    if code == "income_assistance":
        return _(
            "Your household receives %(kind)s, so the income limit is met.",
            kind=ASSISTANCE_NAMES[p["assistance"]],
        )
    if code == "income":
        if passed:
            return _(
                "Income per person is ¥%(per_capita)s a month, below the line of ¥%(line)s.",
                per_capita=p["per_capita"],
                line=p["line"],
            )
        return _(
            "Income per person is ¥%(per_capita)s a month, not below the line of ¥%(line)s.",
            per_capita=p["per_capita"],
            line=p["line"],
        )
    if code == "housing":
        if passed:
            return _(
                "You own %(per_person)s m² per person, less than %(limit)s m².",
                per_person=p["per_person"],
                limit=p["limit"],
            )
        return _(
            "You own %(per_person)s m² per person; the limit is less than %(limit)s m².",
            per_person=p["per_person"],
            limit=p["limit"],
        )
    if code == "housing_none_owned":
        if passed:
            return _("No home is registered to your household in the city.")
        return _("Your household owns %(owned)s m² of housing in the city.", owned=p["owned"])
    if code == "household":
        return _("The %(size)d members you gave match the registers.", size=p["size"])
    if code == "household_spouse_missing":
        return _(
            "The marriage register shows a spouse (%(spouse)s) who is not in the application.",
            spouse=p["spouse"],
        )
    if code == "credit":
        return _("No member is barred from housing benefits.")
    if code == "credit_ban":
        return _(
            "A member is barred from housing benefits (listed by %(source)s).", source=p["source"]
        )
    return code


def explained(evaluation: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The stored evaluation as rows ready for a page: title, outcome, sentence."""
    if not evaluation:
        return []
    return [
        {
            "title": rule_title(r["code"]),
            "passed": r["passed"],
            "text": explain(r["code"], r["passed"], r["params"]),
        }
        for r in evaluation["results"]
    ]
