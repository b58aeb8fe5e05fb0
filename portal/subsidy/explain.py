"""Sentences a resident reads about their subsidy: each step of a computation
(``portal.subsidy.rules.Computation.explain``) in the reader's language."""

from __future__ import annotations

from flask_babel import gettext as _

from portal.subsidy.rules import Computation, Part


def _sentence(part: Part) -> str:
    p = {k: (str(v) if v is not None else "") for k, v in part.params.items()}
    code = part.code
    if code == "tier_assistance":
        return _(
            "Your household receives minimum living or extreme poverty assistance (低保 or "
            "特困): the rate is %(rate)s yuan per m² a month.",
            **p,
        )
    if code == "tier1":
        return _(
            "Income per person is %(income)s yuan a month, not above %(limit)s yuan: the rate "
            "is %(rate)s yuan per m² a month.",
            **p,
        )
    if code == "tier2":
        return _(
            "Income per person is %(income)s yuan a month, above %(low)s and not above "
            "%(limit)s yuan: the rate is %(rate)s yuan per m² a month.",
            **p,
        )
    if code == "tier_above":
        return _(
            "Income per person is %(income)s yuan a month, above %(limit)s yuan: the rate is "
            "%(rate)s yuan per m² a month.",
            **p,
        )
    if code == "standard_one":
        return _("The area standard for one person is %(standard)s m².", **p)
    if code == "standard_many":
        return _("The area standard for a household of %(size)s persons is %(standard)s m².", **p)
    if code == "own_area":
        return _(
            "The household owns %(own)s m², which is taken off the standard of %(standard)s "
            "m²: %(area)s m² are paid for.",
            **p,
        )
    if code == "coefficient_veteran":
        return _(
            "As an entitled household (优抚对象), the amount is multiplied by %(coefficient)s.",
            **p,
        )
    if code == "coefficient":
        return _("The amount is multiplied by the coefficient %(coefficient)s.", **p)
    if code == "product":
        return _(
            "%(rate)s yuan × %(area)s m² × %(coefficient)s = %(amount)s yuan.",
            **p,
        )
    if code == "table":
        if part.params.get("five_or_more") and part.params.get("size", 0) >= 5:
            return _(
                "The fixed amount for a household of five or more persons is %(amount)s yuan a "
                "month.",
                **p,
            )
        return _(
            "The fixed amount for a household of %(size)s persons is %(amount)s yuan a month.",
            **p,
        )
    if code == "no_cap":
        return _(
            "The rent the household pays is not known yet: once it is, the subsidy is never "
            "more than that rent."
        )
    if code == "capped":
        return _(
            "The subsidy is never more than the rent paid, %(cap)s yuan: it is %(amount)s yuan.",
            **p,
        )
    if code == "under_cap":
        return _("This is within the rent paid, %(cap)s yuan a month.", **p)
    if code == "total":
        return _("Monthly subsidy: %(amount)s yuan.", **p)
    return code


def sentences(computation: Computation | None) -> list[str]:
    """The explanation of an amount, step by step (empty without a computation)."""
    if computation is None:
        return []
    return [_sentence(part) for part in computation.explain()]
