"""The queue's order, groups, points and unit sizes (portal/waitlist/rules.py): pure
functions, no database."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from portal.waitlist import rules

ON = date(2026, 6, 1)
V = rules.DEFAULTS


def born(years: int, *, days_before: int = 0) -> date:
    """A birth date ``years`` years before ON (``days_before`` earlier still)."""
    from datetime import timedelta

    return date(ON.year - years, ON.month, ON.day) - timedelta(days=days_before)


def household(applicant_age: int = 40, *others: int) -> list[rules.Member]:
    members = [rules.Member("a", "applicant", born(applicant_age))]
    for i, age in enumerate(others):
        members.append(rules.Member(f"m{i}", "child" if age < 18 else "spouse", born(age)))
    return members


def assess(members, facts=None, *, recorded=(), sector=None, qualified_on=ON, values=V):
    return rules.assess(
        members,
        facts or {},
        recorded=list(recorded),
        sector=sector,
        qualified_on=qualified_on,
        on=ON,
        values=values,
    )


def items_of(result, category):
    return [i for i in result.items if i["category"] == category]


# --- groups ------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["dibao", "tekun", "low_income"])
def test_a_member_on_social_assistance_puts_the_household_in_p1(kind):
    members = household(40, 38)
    facts = {"civil_affairs": {"m0": {"assistance": kind}}}
    assert assess(members, facts).group == "p1"


def test_no_assistance_is_general():
    facts = {"civil_affairs": {"a": {"assistance": "none"}}}
    assert assess(household(40), facts).group == "g"


@pytest.mark.parametrize(("grade", "group"), [(1, "p1"), (2, "p1"), (3, "g"), (4, "g")])
def test_only_a_severe_disability_grade_gives_p1(grade, group):
    facts = {"disability": {"a": {"grade": grade}}}
    assert assess(household(40), facts).group == group


def test_applicant_of_sixty_is_p2_and_the_day_before_is_not():
    assert assess(household(60)).group == "p2"
    just_under = [rules.Member("a", "applicant", date(1966, 6, 2))]  # 60 tomorrow
    assert assess(just_under).group == "g"


def test_a_member_of_sixty_who_is_not_the_applicant_does_not_count():
    assert assess(household(40, 70)).group == "g"


def test_two_minors_give_p2_one_does_not():
    assert assess(household(35, 8, 10)).group == "p2"
    assert assess(household(35, 8)).group == "g"


def test_a_member_turning_eighteen_today_is_no_longer_a_minor():
    assert assess(household(35, 18, 10)).group == "g"


@pytest.mark.parametrize(
    ("reason", "group"),
    [
        ("serious_illness", "p1"),
        ("veteran", "p2"),
        ("family_planning", "p2"),
        ("good_samaritan", "p2"),
    ],
)
def test_a_reason_recorded_by_an_officer_counts(reason, group):
    result = assess(household(40), recorded=[reason])
    assert result.group == group
    assert items_of(result, "priority")[0]["params"] == {"group": group, "reason": reason}


def test_an_unknown_recorded_reason_is_ignored():
    assert assess(household(40), recorded=["friend_of_the_mayor"]).group == "g"


def test_sector_gives_s_unless_a_priority_group_applies():
    assert assess(household(40), sector="sanitation").group == "s"
    assert assess(household(62), sector="sanitation").group == "p2"


# --- points ------------------------------------------------------------------------------


def test_a_plain_household_has_no_points():
    result = assess(household(30))
    assert (result.points, result.items) == (0, [])


def test_priority_points_p1_50_and_p2_30():
    p1 = assess(household(30), {"civil_affairs": {"a": {"assistance": "dibao"}}})
    assert items_of(p1, "priority")[0]["points"] == 50
    assert p1.points == 50
    p2 = assess(household(35, 5, 7))
    assert items_of(p2, "priority")[0]["points"] == 30


def test_within_priority_only_the_highest_reason_counts_but_all_are_kept():
    facts = {"civil_affairs": {"a": {"assistance": "dibao"}}}
    result = assess(household(35, 5, 7), facts)
    priority = items_of(result, "priority")
    assert [(i["code"], i["counted"]) for i in priority] == [
        ("assistance", True),
        ("minors", False),
    ]
    # 50 (assistance) + 10 (two minors) + 10 (three people); the P2 reason adds nothing
    assert result.points == 70


@pytest.mark.parametrize(("age", "points"), [(49, 0), (50, 10), (59, 10), (60, 15), (80, 15)])
def test_applicants_age_counts_its_highest_step(age, points):
    result = assess([rules.Member("a", "applicant", born(age))])
    assert sum(i["points"] for i in items_of(result, "age")) == points
    assert len(items_of(result, "age")) <= 1


@pytest.mark.parametrize(("size", "points"), [(1, 0), (2, 0), (3, 10), (4, 10), (5, 15), (7, 15)])
def test_household_size_counts_its_highest_step(size, points):
    result = assess(household(30, *[30] * (size - 1)))
    assert sum(i["points"] for i in items_of(result, "household")) == points


@pytest.mark.parametrize(("kids", "points"), [(0, 0), (1, 5), (2, 10), (3, 15), (4, 15)])
def test_minors_count_their_highest_step(kids, points):
    result = assess(household(30, *[10] * kids))
    assert [i["points"] for i in items_of(result, "minors")] == ([points] if points else [])


@pytest.mark.parametrize(
    ("qualified_on", "years", "points"),
    [
        (date(2026, 1, 1), 0, 0),
        (date(2025, 6, 2), 0, 0),
        (date(2025, 6, 1), 1, 5),
        (date(2024, 6, 1), 2, 10),
        (date(2023, 6, 1), 3, 15),
        (date(2019, 1, 1), 7, 15),
    ],
)
def test_years_waited_five_points_a_full_year_at_most_fifteen(qualified_on, years, points):
    result = assess(household(30), qualified_on=qualified_on)
    waited = items_of(result, "waited")
    assert [i["points"] for i in waited] == ([points] if points else [])
    if waited:
        assert waited[0]["params"]["years"] == years


def test_points_are_capped_and_the_cut_is_shown():
    facts = {"civil_affairs": {"a": {"assistance": "dibao"}}}
    members = household(65, 30, 30, 10, 12, 14)  # 50 + 15 + 15 + 15, and 15 for years
    result = assess(members, facts, qualified_on=date(2020, 1, 1))
    assert result.points == 110  # below the default maximum of 120
    low = {**V, "points_max": 60}
    capped = assess(members, facts, qualified_on=date(2020, 1, 1), values=low)
    assert capped.points == 60
    assert items_of(capped, "cap") == [
        {"category": "cap", "code": "cap", "points": -50, "params": {"max": 60}, "counted": True}
    ]


def test_every_number_comes_from_the_values():
    values = {**V, "priority_p2_points": 35, "minors_two_points": 12}
    result = assess(household(35, 5, 7), values=values)
    assert result.points == 35 + 12 + 10


def test_refresh_waited_adds_a_year_and_keeps_the_rest():
    first = assess(household(60), qualified_on=date(2025, 6, 2))
    assert first.points == 30 + 15
    total, items = rules.refresh_waited(first.items, date(2025, 6, 2), date(2026, 6, 2), V)
    assert total == 50
    assert [i["category"] for i in items] == ["priority", "age", "waited"]


def test_reassess_keeps_department_reasons_and_adds_recorded_ones():
    facts = {"disability": {"a": {"grade": 1}}}
    first = assess(household(40), facts)
    assert first.group == "p1"
    again = rules.reassess(first.items, recorded=["veteran"], sector=None, values=V)
    assert again.group == "p1"
    assert [(i["code"], i["counted"]) for i in items_of(again, "priority")] == [
        ("disability", True),
        ("recorded", False),
    ]
    assert again.points == first.points


def test_reassess_with_a_sector():
    first = assess(household(40))
    assert rules.reassess(first.items, recorded=[], sector="transit", values=V).group == "s"


# --- the order ---------------------------------------------------------------------------


def key(group="g", qualified_on=date(2024, 1, 1), points=0, birth=date(1980, 1, 1), tb="5"):
    return rules.order_key(group, qualified_on, points, birth, tb)


def test_group_comes_before_everything():
    assert key("p1", qualified_on=date(2025, 1, 1)) < key("p2", qualified_on=date(2020, 1, 1))
    assert key("p2") < key("s") < key("g")


def test_then_the_earlier_qualification_date():
    assert key(qualified_on=date(2023, 1, 1), points=0) < key(
        qualified_on=date(2023, 1, 2), points=99
    )


def test_then_more_points():
    assert key(points=20, birth=date(1990, 1, 1)) < key(points=10, birth=date(1950, 1, 1))


def test_then_the_older_applicant():
    assert key(birth=date(1950, 1, 1), tb="f") < key(birth=date(1960, 1, 1), tb="0")


def test_then_the_draw():
    assert key(tb="0a") < key(tb="0b")


def test_order_columns_match_the_key():
    assert [c for c, _ in rules.ORDER] == [
        "group_order",
        "qualified_on",
        "points",
        "birth_date",
        "tiebreak",
    ]
    assert dict(rules.ORDER)["points"] == "desc"


# --- unit sizes --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("area", "size", "fits"),
    [
        ("35.00", 1, True),
        ("35.01", 1, False),
        ("50.00", 2, True),
        ("50.01", 2, False),
        ("35.01", 2, True),
        ("60.00", 3, True),
        ("60.01", 3, False),
        ("60.00", 4, True),
        ("60.01", 4, False),
        ("65.00", 5, True),
        ("70.00", 5, True),
        ("70.01", 5, True),
        ("90.00", 6, True),
        ("70.01", 4, False),
        ("20.00", 5, True),
    ],
)
def test_unit_fits_boundaries(area, size, fits):
    assert rules.unit_fits(Decimal(area), size, V) is fits


def test_max_area():
    assert rules.max_area(1, V) == Decimal(35)
    assert rules.max_area(2, V) == Decimal(50)
    assert rules.max_area(4, V) == Decimal(60)
    assert rules.max_area(5, V) is None


def test_large_units_follow_the_values():
    values = {**V, "large_unit_min_size": 6}
    assert rules.unit_fits(Decimal("65"), 5, values) is False
    assert rules.unit_fits(Decimal("65"), 6, values) is True
