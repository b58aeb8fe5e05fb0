"""The credit rules (RULES.md): the catalogue's defaults and bounds, grading by months, the
dates of a confirmed record, the score and its grade."""

from __future__ import annotations

from datetime import date

import pytest

from portal.credit import rules
from portal.credit.models import Grade


def test_the_catalogue_holds_every_code_of_the_rules_with_its_grade():
    grades = {code: entry["grade"] for code, entry in rules.DEFAULTS.items()}
    assert grades == {
        "V-BREACH": Grade.GENERAL,
        "V-ARREARS": Grade.GENERAL,
        "V-LATE-REPORT": Grade.GENERAL,
        "V-NO-CHECKOUT": Grade.GENERAL,
        "V-FALSE-PLEDGE": Grade.SERIOUS,
        "V-SUBLET": Grade.SERIOUS,
        "V-ILLEGAL-USE": Grade.SERIOUS,
        "V-REFUSE-VACATE": Grade.SERIOUS,
        "V-VACANT": Grade.MAJOR,
        "V-REPEAT": Grade.SERIOUS,
    }
    points = {code: entry["points"] for code, entry in rules.DEFAULTS.items()}
    assert points["V-BREACH"] == 5
    assert points["V-LATE-REPORT"] == 10
    assert points["V-NO-CHECKOUT"] == 20
    assert points["V-VACANT"] == 15
    assert points["V-SUBLET"] == 30


@pytest.mark.parametrize("code", list(rules.DEFAULTS))
def test_each_default_keeps_the_bounds_and_names_its_measures_and_law(code):
    entry = rules.DEFAULTS[code]
    assert rules.check_version(entry) == []
    assert entry["name_zh"]
    assert entry["name_en"]
    assert entry["measures_zh"]
    assert entry["measures_en"]
    assert "《" in entry["legal_basis"] or "本市" in entry["legal_basis"]
    grade = entry["grade"]
    assert entry["suspends_queue"] is (grade is not Grade.GENERAL)
    assert entry["opens_exit"] is (grade is Grade.SERIOUS)
    assert (entry["ban_months"] == 60) is (grade is Grade.SERIOUS)


def test_serious_defaults_publish_three_years_ban_five_and_allow_repair_after_one():
    sublet = rules.DEFAULTS["V-SUBLET"]
    assert (sublet["publish_months"], sublet["ban_months"], sublet["repair_after_months"]) == (
        36,
        60,
        12,
    )
    general = rules.DEFAULTS["V-BREACH"]
    assert (general["publish_months"], general["ban_months"], general["repair_after_months"]) == (
        6,
        0,
        3,
    )


def _version(**changes):
    return {**rules.DEFAULTS["V-BREACH"], **changes}


@pytest.mark.parametrize(
    ("changes", "field", "code"),
    [
        ({"publish_months": 2}, "publish_months", "publish_range"),
        ({"publish_months": 13}, "publish_months", "publish_range"),
        ({"ban_months": 12}, "ban_months", "ban_serious_only"),
        ({"repair_after_months": 2}, "repair_after_months", "repair_range"),
        ({"repair_after_months": 7}, "repair_after_months", "repair_range"),
        ({"points": 101}, "points", "points_range"),
        ({"points": -1}, "points", "points_range"),
        ({"opens_exit": True}, "opens_exit", "exit_not_general"),
        (
            {
                "grade": Grade.SERIOUS,
                "publish_months": 36,
                "ban_months": 61,
                "repair_after_months": 12,
            },
            "ban_months",
            "ban_range",
        ),
    ],
)
def test_a_version_outside_the_bounds_is_refused_naming_the_field(changes, field, code):
    problems = rules.check_version(_version(**changes))
    assert (problems[0].field, problems[0].code) == (field, code)


def test_arrears_count_five_points_a_month_and_become_serious_at_twelve():
    assert rules.graded("V-ARREARS", Grade.GENERAL, 5, 6) == rules.Graded(Grade.GENERAL, 30, False)
    assert rules.graded("V-ARREARS", Grade.GENERAL, 5, 11) == rules.Graded(Grade.GENERAL, 55, False)
    assert rules.graded("V-ARREARS", Grade.GENERAL, 5, 12) == rules.Graded(Grade.SERIOUS, 60, True)


def test_a_vacant_home_is_major_then_serious_from_twelve_months():
    assert rules.graded("V-VACANT", Grade.MAJOR, 15, 6) == rules.Graded(Grade.MAJOR, 15, False)
    assert rules.graded("V-VACANT", Grade.MAJOR, 15, 12) == rules.Graded(Grade.SERIOUS, 30, True)
    assert rules.graded("V-SUBLET", Grade.SERIOUS, 30, None) == rules.Graded(
        Grade.SERIOUS, 30, False
    )


def test_an_escalated_record_takes_the_serious_periods():
    arrears = rules.DEFAULTS["V-ARREARS"]
    assert rules.periods(arrears, Grade.GENERAL)["ban_months"] == 0
    serious = rules.periods(arrears, Grade.SERIOUS)
    assert serious == {
        "publish_months": 36,
        "ban_months": 60,
        "repair_after_months": 12,
        "suspends_queue": True,
        "opens_exit": True,
    }


def test_dates_count_calendar_months_and_keep_the_month_end():
    dates = rules.record_dates(date(2027, 8, 31), 6, 60, 3)
    assert dates.publish_until == date(2028, 2, 29)
    assert dates.ban_until == date(2032, 8, 31)
    assert dates.repair_from == date(2027, 11, 30)
    assert rules.record_dates(date(2027, 1, 10), 6, 0, 3).ban_until is None
    assert rules.repeat_window_start(date(2028, 2, 29)) == date(2026, 2, 28)


@pytest.mark.parametrize(
    ("points", "score", "grade"),
    [
        ([], 100, "A"),
        ([5], 95, "A"),
        ([5, 1], 94, "B"),
        ([15], 85, "B"),
        ([16], 84, "C"),
        ([30], 70, "C"),
        ([30, 1], 69, "D"),
        ([60, 60], 0, "D"),
    ],
)
def test_score_is_100_minus_points_in_force_and_graded_a_to_d(points, score, grade):
    assert rules.score_of(points) == score
    assert rules.grade_of(score) == grade


@pytest.mark.parametrize("code", ["V-NOISE", "V-2", "V-A-B"])
def test_new_codes_follow_the_pattern(code):
    assert rules.CODE_PATTERN.fullmatch(code)


@pytest.mark.parametrize("code", ["NOISE", "V-", "v-noise", "V--X", "V-NOISE-"])
def test_malformed_codes_are_refused(code):
    assert not rules.CODE_PATTERN.fullmatch(code)
