"""Every item and event of a household's history reads as a sentence, never as a code."""

from __future__ import annotations

import json
from datetime import date

import pytest
from flask_babel import force_locale

from portal.waitlist import explain, rules
from portal.waitlist.models import QueueEvent

ON = date(2026, 6, 1)


def household_items():
    members = [
        rules.Member("a", "applicant", date(1950, 1, 1)),
        rules.Member("b", "spouse", date(1952, 1, 1)),
        *[rules.Member(f"c{i}", "child", date(2015, 1, 1)) for i in range(3)],
    ]
    facts = {
        "civil_affairs": {"a": {"assistance": "low_income"}},
        "disability": {"b": {"grade": 1}},
    }
    result = rules.assess(
        members,
        facts,
        recorded=["good_samaritan"],
        sector=None,
        qualified_on=date(2020, 1, 1),
        on=ON,
        values={**rules.DEFAULTS, "points_max": 100},
    )
    return result.items


@pytest.mark.parametrize("locale", ["en", "zh_Hans_CN"])
def test_every_point_item_is_a_sentence(locale):
    items = household_items()
    assert {i["category"] for i in items} == {
        "priority",
        "age",
        "household",
        "minors",
        "waited",
        "cap",
    }
    with force_locale(locale):
        for item in items:
            sentence = explain.point_sentence(item)
            assert sentence
            assert sentence != item["code"]
    not_counted = [i for i in items if not i["counted"]]
    with force_locale("en"):
        assert all("Not counted" in explain.point_sentence(i) for i in not_counted)


EVENTS = {
    "joined": {"points": "10"},
    "reverified": {"points": "15", "group": "g"},
    "reverify_unanswered": {},
    "points_waited": {"points": "20"},
    "priority_recorded": {"reason": "veteran", "note": "证 1"},
    "sector": {"sector": "teacher", "note": "函"},
    "suspended": {"object_by": "2027-03-16"},
    "objected": {},
    "restored": {"reason": "核实"},
    "removed": {"code": "refusals", "count": "3"},
    "invited": {"round": "R2026-0001"},
    "refused": {"good_reason": "no", "count": "1", "limit": "3"},
    "housed": {"lease": "L2026000001"},
}


@pytest.mark.parametrize(("kind", "params"), EVENTS.items())
def test_every_event_is_a_sentence(kind, params):
    ev = QueueEvent(kind=kind, params_json=json.dumps(params))
    with force_locale("en"):
        assert explain.event_sentence(ev) != kind


def test_officers_notes_are_for_staff_only():
    ev = QueueEvent(kind="priority_recorded", params_json=json.dumps(EVENTS["priority_recorded"]))
    assert "证 1" not in explain.event_sentence(ev)
    assert "证 1" in explain.event_sentence(ev, staff=True)
