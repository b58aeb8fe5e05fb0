"""The eligibility self-check (资格自测): what a household's own answers say about the rules,
before it applies. Nothing is stored and nothing of the answers is logged.

There is one implementation of each rule: the answers are turned into the department facts
the application's rules read (``portal.applications.rules``: a household of that size, the
applicant's registration and insurance, the household's income and owned housing), and
:func:`portal.applications.rules.evaluate` decides, under the ``eligibility`` rule version in
force. A question left unanswered is tried both ways: the rules run once with the most
favourable value and once with the least favourable one; a rule that comes out the same
both times is decided by the answers given, otherwise the page says it cannot tell. The
household rule (an undeclared spouse) and the credit rule need the registers: the
self-check never decides them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from flask_babel import gettext as _

from portal.applications import explain
from portal.applications import rules as eligibility
from portal.applications.models import Programme
from portal.core.clock import today
from portal.core.errors import ValidationFailed
from portal.core.i18n import lazy_gettext as _l
from portal.core.settings import RuleVersion, current_version

# The answers' limits, shared by the page's form and the API's schema. Anything beyond them
# is a typing mistake, not a household.
MAX_HOUSEHOLD = 20
MAX_INCOME = 9_999_999  # yuan a month, the whole household
MAX_AREA = 9_999  # m² owned, the whole household
MAX_YEARS = 100
MAX_MONTHS = 1200

NO_ASSISTANCE = "none"
ASSISTANCE_CHOICES = (NO_ASSISTANCE, *eligibility.ASSISTANCE)  # plus None: not sure

QUESTIONS = {
    "programme": _l("Which help do you want to check?"),
    "household_size": _l("How many people are in your household, you included?"),
    "monthly_income": _l("Monthly income of the whole household (yuan, before tax)"),
    "assistance": _l("Does a member receive social assistance?"),
    "owned_area": _l("Housing the household owns in the city (m², all members together)"),
    "hukou": _l("Do you (the applicant) have a local household registration (户籍)?"),
    "hukou_years": _l("For how many full years?"),
    "social_insurance_months": _l("Months of continuous local social insurance"),
}

# The answers each self-checked rule reads, by programme where it differs.
_RULE_QUESTIONS = {
    "residency": ("hukou", "hukou_years", "social_insurance_months"),
    "income": ("assistance", "monthly_income"),
    "housing": ("owned_area",),
}
_AFFORDABLE_RULE_QUESTIONS = {**_RULE_QUESTIONS, "residency": ("hukou", "social_insurance_months")}

# Rules that only the registers can decide: the self-check says so instead.
REGISTER_ONLY = {
    "household": _l(
        "Checked against the marriage and household registers when you apply: every spouse "
        "and member must be in the application."
    ),
    "credit": _l(
        "Checked against the credit lists when you apply: no member may be barred from "
        "housing benefits."
    ),
}

ESTIMATE_NOTE = _l(
    "This is an estimate from your own answers, not a decision. When you apply, the rules are "
    "checked against the departments' records (public security, civil affairs, property, "
    "social insurance, housing fund), which decide."
)

APPLICANT = "applicant"
_BIRTH = date(1980, 1, 1)  # the rules read no age; any date will do


@dataclass(frozen=True)
class Answers:
    """What a household says about itself; None: not answered (not sure)."""

    programme: Programme
    household_size: int
    monthly_income: Decimal | None = None
    owned_area: Decimal | None = None
    hukou: bool | None = None
    hukou_years: int | None = None
    social_insurance_months: int | None = None
    assistance: str | None = NO_ASSISTANCE


@dataclass(frozen=True)
class Outcome:
    """One rule: met (True), not met (False) or cannot tell (None), and why."""

    rule: str  # residency, income, housing, household, credit
    code: str  # the rule's result code (``portal.applications.explain``); "register" or
    # "unanswered" when the self-check cannot tell
    title: str
    passed: bool | None
    text: str


@dataclass(frozen=True)
class SelfCheck:
    answers: Answers
    outcomes: list[Outcome]
    version: RuleVersion
    max_area: Decimal | None = None  # public rental: the largest unit for the household
    no_area_limit: bool = False  # public rental: a household large enough for any unit
    subsidy: Any = None  # rental subsidy: ``portal.subsidy.rules.Computation``
    subsidy_steps: list[str] = field(default_factory=list)

    @property
    def verdict(self) -> str:
        """``not_met`` when a rule is not met; ``met`` when every rule the answers can
        decide is met; else ``unknown``."""
        if any(o.passed is False for o in self.outcomes):
            return "not_met"
        if all(o.passed for o in self.outcomes if o.rule not in REGISTER_ONLY):
            return "met"
        return "unknown"


def _check(answers: Answers) -> None:
    """The limits and the one rule between answers (the form and the API check the limits
    first, with a message per field; this is the backstop for every caller)."""
    limits: list[tuple[str, Any, Any, Any]] = [
        ("household_size", answers.household_size, 1, MAX_HOUSEHOLD),
        ("monthly_income", answers.monthly_income, 0, MAX_INCOME),
        ("owned_area", answers.owned_area, 0, MAX_AREA),
        ("hukou_years", answers.hukou_years, 0, MAX_YEARS),
        ("social_insurance_months", answers.social_insurance_months, 0, MAX_MONTHS),
    ]
    for name, value, low, high in limits:
        if value is not None and not (low <= value <= high):
            raise ValidationFailed(
                _l("Enter a number from %(low)s to %(high)s.", low=low, high=high), field=name
            )
    for name in ("monthly_income", "owned_area"):
        value = getattr(answers, name)
        if value is not None and Decimal(value).as_tuple().exponent < -2:
            raise ValidationFailed(_l("Use at most two decimal places."), field=name)
    if answers.assistance is not None and answers.assistance not in ASSISTANCE_CHOICES:
        raise ValidationFailed(field="assistance")
    if answers.hukou is False and answers.hukou_years:
        raise ValidationFailed(
            _l("Leave the years empty when your household registration is not local."),
            field="hukou_years",
        )


def _years_ago(on: date, years: int) -> date:
    try:
        return on.replace(year=on.year - years)
    except ValueError:  # 29 February
        return on.replace(year=on.year - years, day=28)


def _household(answers: Answers, on: date, best: bool) -> tuple[list, dict]:
    """The household and its department facts as the rules read them, with every question
    left open filled with its most (``best``) or least favourable value."""
    a = answers
    people = [eligibility.Person(APPLICANT, "applicant", _BIRTH)] + [
        eligibility.Person(f"member-{i}", "member", _BIRTH) for i in range(1, a.household_size)
    ]
    hukou = a.hukou if a.hukou is not None else (best or bool(a.hukou_years))
    years = a.hukou_years if a.hukou_years is not None else (MAX_YEARS if best else 0)
    months = a.social_insurance_months
    if months is None:
        months = MAX_MONTHS if best else 0
    income = a.monthly_income if a.monthly_income is not None else (0 if best else MAX_INCOME)
    area = a.owned_area if a.owned_area is not None else (0 if best else MAX_AREA)
    assistance = (
        a.assistance
        if a.assistance is not None
        else (eligibility.ASSISTANCE[0] if best else NO_ASSISTANCE)
    )
    facts: dict[str, dict[str, dict[str, Any]]] = {
        "public_security": {
            APPLICANT: {
                "hukou_local": bool(hukou),
                "hukou_since": _years_ago(on, years if hukou else 0).isoformat(),
            }
        },
        "social_security": {
            APPLICANT: {"local_months_continuous": months, "monthly_wage": str(income)}
        },
        "property": {APPLICANT: {"owned_area": str(area)}},
        "civil_affairs": {
            APPLICANT: {"assistance": assistance if assistance != NO_ASSISTANCE else None}
        },
    }
    return people, facts


def _unanswered(answers: Answers, rule: str) -> list[str]:
    table = (
        _AFFORDABLE_RULE_QUESTIONS
        if answers.programme is Programme.AFFORDABLE_RENTAL
        else _RULE_QUESTIONS
    )
    names = table.get(rule, ())
    if answers.hukou is False:
        names = tuple(n for n in names if n != "hukou_years")
    return [str(QUESTIONS[n]) for n in names if getattr(answers, n) is None]


def _outcome(answers: Answers, best, worst) -> Outcome:
    rule = best.code.split("_")[0]
    title = explain.rule_title(best.code)
    if rule in REGISTER_ONLY:
        return Outcome(rule, "register", title, None, str(REGISTER_ONLY[rule]))
    if best.passed and worst.passed:
        # met even at the least favourable values: the sentence names only what was given
        return Outcome(
            rule, worst.code, title, True, explain.explain(worst.code, True, worst.params)
        )
    if best.passed is False and worst.passed is False:
        return Outcome(
            rule, best.code, title, False, explain.explain(best.code, False, best.params)
        )
    missing = _unanswered(answers, rule)
    text = (
        _(
            "Your answers do not settle this. Answer: %(questions)s",
            questions=" · ".join(missing),
        )
        if missing
        else _("Your answers do not settle this.")
    )
    return Outcome(rule, "unanswered", title, None, text)


def self_check(answers: Answers, on: date | None = None) -> SelfCheck:
    """Each rule for the answers, under the eligibility rules in force on ``on`` (today).
    Pure apart from reading the rule versions: nothing is stored, nothing audited."""
    _check(answers)
    on = on or today()
    version = current_version("eligibility", on)
    values = version.values
    runs = []
    for best in (True, False):
        people, facts = _household(answers, on, best)
        runs.append(
            eligibility.evaluate(answers.programme.value, people, facts, values, on, []).results
        )
    outcomes = [_outcome(answers, b, w) for b, w in zip(*runs, strict=True)]
    result = SelfCheck(answers, outcomes, version)
    if answers.programme is Programme.PUBLIC_RENTAL:
        result = _with_unit_size(result, on)
    elif answers.programme is Programme.RENTAL_SUBSIDY and result.verdict != "not_met":
        result = _with_subsidy(result, on)
    return result


def _with_unit_size(result: SelfCheck, on: date) -> SelfCheck:
    from portal.waitlist import rules as waitlist

    limit = waitlist.max_area(result.answers.household_size, current_version("waitlist", on).values)
    return SelfCheck(
        result.answers,
        result.outcomes,
        result.version,
        max_area=limit,
        no_area_limit=limit is None,
    )


def _with_subsidy(result: SelfCheck, on: date) -> SelfCheck:
    """The monthly amount the subsidy formula gives for the answers (no rent cap: the rent
    is not asked), when the answers hold what it needs."""
    from portal.subsidy import explain as subsidy_explain
    from portal.subsidy import rules as subsidy

    a = result.answers
    assistance = a.assistance in subsidy.ASSISTANCE
    if a.owned_area is None or a.assistance is None:
        return result
    if a.monthly_income is None and not assistance:
        return result
    people, facts = _household(a, on, best=True)
    # per-capita income as the eligibility rule computes it (as the subsidy run does)
    per_capita = eligibility.income(
        Programme.RENTAL_SUBSIDY.value, people, {**facts, "civil_affairs": {}}, {"income_line": 0}
    ).params["per_capita"]
    computation = subsidy.compute(
        subsidy.Inputs(
            household_size=a.household_size,
            assistance=assistance,
            veteran=False,
            per_capita_income=Decimal(per_capita),
            own_area=subsidy.money(a.owned_area),
            actual_rent=None,
        ),
        current_version("subsidy", on).values,
    )
    steps = subsidy_explain.sentences(computation)
    return SelfCheck(
        result.answers,
        result.outcomes,
        result.version,
        subsidy=computation,
        subsidy_steps=steps,
    )
