"""The eligibility self-check (portal/public/selfcheck.py) decides each rule with the
application's own rules (portal/applications/rules.py) on the facts the answers give, under
the rule version in force; a question left open makes a rule undecided only when it matters."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from flask_babel import force_locale

from portal.accounts.roles import Role
from portal.applications import explain, rules
from portal.applications.models import Programme
from portal.core.clock import today
from portal.core.errors import ValidationFailed
from portal.core.settings import add_version, current_version
from portal.public.selfcheck import Answers, self_check
from portal.subsidy import rules as subsidy
from portal.waitlist import rules as waitlist
from tests.factories.fixtures import make_staff

D = Decimal


def answers(**kw) -> Answers:
    base = {
        "programme": Programme.PUBLIC_RENTAL,
        "household_size": 3,
        "monthly_income": D("3000"),
        "owned_area": D("0"),
        "hukou": True,
        "hukou_years": 6,
        "social_insurance_months": 0,
        "assistance": "none",
    }
    return Answers(**{**base, **kw})


def application_rules(programme: str, facts: dict, size: int) -> dict[str, rules.RuleResult]:
    """The application's evaluation of a household of ``size`` whose facts are all the
    applicant's, written out here as the departments would report them."""
    people = [rules.Person("A", "applicant", date(1985, 5, 1))] + [
        rules.Person(f"M{i}", "child", date(2015, 1, 1)) for i in range(1, size)
    ]
    values = current_version("eligibility").values
    result = rules.evaluate(
        programme, people, {k: {"A": v} for k, v in facts.items()}, values, today()
    )
    return {r.code.split("_")[0]: r for r in result.results}


def outcomes(check) -> dict:
    return {o.rule: o for o in check.outcomes}


def years_ago(n: int) -> str:
    on = today()
    try:
        return on.replace(year=on.year - n).isoformat()
    except ValueError:
        return on.replace(year=on.year - n, day=28).isoformat()


def test_a_qualifying_household_gets_the_applications_sentences(app):
    with force_locale("en"):
        check = self_check(answers())
    expected = application_rules(
        "public_rental",
        {
            "public_security": {"hukou_local": True, "hukou_since": years_ago(6)},
            "social_security": {"local_months_continuous": 0, "monthly_wage": "3000"},
            "property": {"owned_area": "0"},
        },
        size=3,
    )
    got = outcomes(check)
    for rule in ("residency", "income", "housing"):
        assert got[rule].passed is True
        assert got[rule].code == expected[rule].code
        with force_locale("en"):
            sentence = explain.explain(expected[rule].code, True, expected[rule].params)
        assert got[rule].text == sentence
    assert expected["income"].params["per_capita"] == "1000.00"
    assert check.verdict == "met"
    # the registers decide these two: the self-check never says "met" for them
    assert got["household"].passed is None
    assert got["credit"].passed is None
    assert check.max_area == waitlist.max_area(3, current_version("waitlist").values)


def test_a_failing_household_fails_where_the_application_would(app):
    facts = {
        "public_security": {"hukou_local": False, "hukou_since": None},
        "social_security": {"local_months_continuous": 6, "monthly_wage": "6000"},
        "property": {"owned_area": "60"},
    }
    expected = application_rules("public_rental", facts, size=2)
    check = self_check(
        answers(
            household_size=2,
            monthly_income=D("6000"),
            owned_area=D("60"),
            hukou=False,
            hukou_years=None,
            social_insurance_months=6,
        )
    )
    got = outcomes(check)
    for rule in ("residency", "income", "housing"):
        assert expected[rule].passed is False
        assert got[rule].passed is False
        assert got[rule].code == expected[rule].code
        assert got[rule].text == explain.explain(expected[rule].code, False, expected[rule].params)
    assert expected["income"].params["per_capita"] == "3000.00"
    assert expected["housing"].params["per_person"] == "30.00"
    assert check.verdict == "not_met"


def test_the_rule_numbers_are_those_in_force(app):
    # 1800 a person: above the default line of 1549
    household = answers(monthly_income=D("5400"))
    assert outcomes(self_check(household))["income"].passed is False
    add_version(make_staff(Role.MANAGER), "eligibility", {"income_line": 2000}, today(), "新标准")
    with force_locale("en"):
        check = self_check(household)
    assert outcomes(check)["income"].passed is True
    assert check.version.values["income_line"] == 2000
    assert "line of ¥2000" in outcomes(check)["income"].text


def test_assistance_meets_the_income_rule(app):
    got = outcomes(self_check(answers(monthly_income=D("90000"), assistance="dibao")))
    assert got["income"].passed is True
    assert got["income"].code == "income_assistance"


def test_an_open_question_that_matters_is_named(app):
    with force_locale("en"):
        check = self_check(answers(hukou=None, hukou_years=None, social_insurance_months=None))
    got = outcomes(check)
    assert got["residency"].passed is None
    assert got["residency"].code == "unanswered"
    assert "Months of continuous local social insurance" in got["residency"].text
    assert "For how many full years?" in got["residency"].text
    assert check.verdict == "unknown"


def test_an_open_question_that_does_not_matter_leaves_the_rule_decided(app):
    # six years of registration are enough: the months of insurance are not needed
    got = outcomes(self_check(answers(social_insurance_months=None)))
    assert got["residency"].passed is True
    assert got["residency"].code == "residency_hukou"
    # 24 months of insurance are enough without an answer on the registration
    got = outcomes(self_check(answers(hukou=None, hukou_years=None, social_insurance_months=24)))
    assert got["residency"].passed is True
    assert got["residency"].code == "residency_social"
    # an open income decides nothing
    assert outcomes(self_check(answers(monthly_income=None)))["income"].passed is None
    # owning 100 m² for 2 persons fails whatever else is open
    got = outcomes(self_check(answers(household_size=2, owned_area=D("100"), monthly_income=None)))
    assert got["housing"].passed is False


def test_affordable_rental_asks_for_no_home_and_no_income_line(app):
    got = outcomes(
        self_check(
            answers(
                programme=Programme.AFFORDABLE_RENTAL,
                monthly_income=D("50000"),
                owned_area=D("10"),
                hukou=False,
                hukou_years=None,
                social_insurance_months=1,
            )
        )
    )
    assert got["income"].passed is True
    assert got["income"].code == "income_not_required"
    assert got["residency"].passed is True
    assert got["housing"].passed is False
    assert got["housing"].code == "housing_none_owned"


def test_the_subsidy_estimate_is_the_subsidy_formula(app):
    check = self_check(
        answers(programme=Programme.RENTAL_SUBSIDY, monthly_income=D("3000"), owned_area=D("10"))
    )
    expected = subsidy.compute(
        subsidy.Inputs(3, False, False, D("1000.00"), D("10.00"), None),
        current_version("subsidy").values,
    )
    assert check.subsidy.amount == expected.amount == D("630.00")
    assert check.subsidy_steps
    # no estimate once a rule is not met
    failed = self_check(
        answers(programme=Programme.RENTAL_SUBSIDY, monthly_income=D("30000"), owned_area=D("0"))
    )
    assert failed.verdict == "not_met"
    assert failed.subsidy is None


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"household_size": 0}, "household_size"),
        ({"household_size": 21}, "household_size"),
        ({"monthly_income": D("-1")}, "monthly_income"),
        ({"monthly_income": D("1.005")}, "monthly_income"),
        ({"owned_area": D("10000")}, "owned_area"),
        ({"hukou_years": 101}, "hukou_years"),
        ({"social_insurance_months": -1}, "social_insurance_months"),
        ({"hukou": False, "hukou_years": 3}, "hukou_years"),
        ({"assistance": "rich"}, "assistance"),
    ],
)
def test_answers_out_of_bounds_are_refused(app, change, field):
    with pytest.raises(ValidationFailed) as caught:
        self_check(answers(**change))
    assert caught.value.field == field
