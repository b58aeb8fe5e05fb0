"""How the waiting list (轮候库) is ordered: groups, points, the order and unit sizes.

Everything a reader needs to know about the queue's order is in this module; it is pure
(no database, no clock, no request): the services gather the facts and call it.

**The order** (RULES.md), within each programme, is :data:`ORDER`:

1. the priority group: P1 before P2 before S (sector quota) before G (general);
2. the qualification date (the day the household's public notice closed), earlier first;
3. points, more first;
4. the applicant's birth date, older first;
5. a seeded draw: the keyed HMAC-SHA256 of the application reference under the portal's
   data key (``PORTAL_DATA_KEY``, through ``portal.core.crypto.DataProtector.blind_index``
   with the purpose :data:`TIEBREAK_PURPOSE`), compared as hexadecimal text. Nobody can
   choose or foresee it without the key, it never changes for a household, and an auditor
   holding the key can recompute it.

**Groups** (:func:`group_of`) follow from the department facts settled for the household:

- P1: a member receives 低保, 特困 or 低收入 assistance (civil affairs), or holds a
  disability certificate of grade 1 or 2 (disabled persons' federation); or an officer has
  recorded a verified serious illness;
- P2: the applicant is 60 or older, or the household has two or more minors (under 18); or
  an officer has recorded a verified reason no department reports here: 优抚对象 (veteran
  or martyr's family), 计划生育特殊困难家庭, 见义勇为;
- S: an officer assigned a sector (sanitation, transit, young doctor or teacher) after
  seeing the employer's letter;
- G: every other household.

**Points** (:func:`points_for`, Tianjin model, capped at ``points_max`` = 120). Each
category counts once, with its highest item only:

==============  =====================================================  ================
category        items                                                   default points
==============  =====================================================  ================
priority        a P1 reason / a P2 reason                               50 / 30
age             applicant 50 or older / 60 or older                     10 / 15
household       3 or 4 members / 5 or more                              10 / 15
minors          1 / 2 / 3 or more members under 18                      5 / 10 / 15
waited          each full year since qualification                      5, at most 15
==============  =====================================================  ================

Points only separate households of the same group that qualified on the same day. Every
counted item is kept with a reason code and its parameters, so the resident reads *why*
(``portal/waitlist/explain.py``). Every number is in :data:`DEFAULTS`, the ``waitlist``
rule set that managers edit as new versions.

**Unit sizes** (:func:`unit_fits`): one person up to 35 m², two up to 50 m², three or four
up to 60 m²; units above 60 m² (and "large" units above 70 m²) only for five or more.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

# The "waitlist" rule set: flat numbers only (the managers' rules page edits them).
DEFAULTS: dict[str, int] = {
    # groups
    "p1_disability_grade": 2,  # a disability of this grade or more severe (1) is P1
    "p2_age": 60,  # applicant at least this old is P2
    "p2_minors": 2,  # at least this many minors is P2
    "adult_age": 18,  # younger members are minors
    # points
    "points_max": 120,
    "priority_p1_points": 50,
    "priority_p2_points": 30,
    "age_older_years": 50,
    "age_older_points": 10,
    "age_senior_years": 60,
    "age_senior_points": 15,
    "size_medium": 3,
    "size_medium_points": 10,
    "size_large": 5,
    "size_large_points": 15,
    "minors_one_points": 5,
    "minors_two_points": 10,
    "minors_three_points": 15,
    "waited_points_per_year": 5,
    "waited_points_max": 15,
    # rotation (动态监管)
    "verify_every_months": 12,
    "objection_days": 15,
    "long_wait_years": 4,
    "max_refusals": 3,
    # allocation
    "lease_years": 3,
    "max_area_1": 35,
    "max_area_2": 50,
    "max_area_3": 60,
    "large_unit_area": 70,
    "large_unit_min_size": 5,
    "choose_days": 3,
    "results_notice_days": 15,
}

# The queue's sort keys, in order: (column of queue_entries, direction). The ranking
# statement is built from this tuple, and :func:`order_key` follows it in Python.
ORDER: tuple[tuple[str, str], ...] = (
    ("group_order", "asc"),
    ("qualified_on", "asc"),
    ("points", "desc"),
    ("birth_date", "asc"),
    ("tiebreak", "asc"),
)

# Purpose string of the keyed digest that is the last tie-break (see the module docstring).
TIEBREAK_PURPOSE = "waitlist/tiebreak/v1"

GROUP_ORDER = {"p1": 1, "p2": 2, "s": 3, "g": 4}

ASSISTANCE = ("dibao", "tekun", "low_income")  # 低保, 特困, 低收入

# Reasons an officer may record after seeing the proof (no department reports them here),
# and the group each one gives.
RECORDED_REASONS = {
    "serious_illness": "p1",  # 重大疾病
    "veteran": "p2",  # 优抚对象
    "family_planning": "p2",  # 计划生育特殊困难家庭
    "good_samaritan": "p2",  # 见义勇为
}

CATEGORIES = ("priority", "age", "household", "minors", "waited")


@dataclass(frozen=True)
class Member:
    """One household member as the rules see them."""

    index: str  # blind index of the ID number (the key of the department facts)
    relationship: str  # "applicant", "spouse", "child", ...
    birth_date: date


@dataclass(frozen=True)
class Reason:
    """Why a household is in a priority group: a code and its parameters."""

    group: str  # "p1" or "p2"
    code: str
    params: dict[str, Any] = field(default_factory=dict)


@dataclass
class Assessment:
    """A household's group, points and the items that make them up."""

    group: str
    points: int
    items: list[dict[str, Any]]
    reasons: list[Reason]


def age_on(birth: date, on: date) -> int:
    """Full years between ``birth`` and ``on``."""
    return on.year - birth.year - ((on.month, on.day) < (birth.month, birth.day))


def _applicant(members: list[Member]) -> Member:
    return next((m for m in members if m.relationship == "applicant"), members[0])


def minors(members: list[Member], on: date, values: dict) -> int:
    return sum(1 for m in members if age_on(m.birth_date, on) < int(values["adult_age"]))


def priority_reasons(
    members: list[Member],
    facts: dict[str, dict[str, dict[str, Any]]],
    recorded: list[str],
    on: date,
    values: dict,
) -> list[Reason]:
    """Every reason the household has for a priority group, P1 reasons first.

    ``facts`` is ``{department: {member index: {fact: value}}}`` (as settled for the
    application, or as fetched again at a re-verification); ``recorded`` the reasons an
    officer recorded (keys of :data:`RECORDED_REASONS`).
    """
    found: list[Reason] = []
    civil = facts.get("civil_affairs", {})
    disability = facts.get("disability", {})
    for m in members:
        status = (civil.get(m.index) or {}).get("assistance")
        if status in ASSISTANCE:
            found.append(Reason("p1", "assistance", {"kind": status}))
            break
    worst = None
    for m in members:
        grade = (disability.get(m.index) or {}).get("grade")
        if grade is not None and int(grade) <= int(values["p1_disability_grade"]):
            worst = int(grade) if worst is None else min(worst, int(grade))
    if worst is not None:
        found.append(Reason("p1", "disability", {"grade": worst}))
    age = age_on(_applicant(members).birth_date, on)
    if age >= int(values["p2_age"]):
        found.append(Reason("p2", "elderly", {"age": age, "needed": int(values["p2_age"])}))
    count = minors(members, on, values)
    if count >= int(values["p2_minors"]):
        found.append(Reason("p2", "minors", {"count": count, "needed": int(values["p2_minors"])}))
    for code in recorded:
        if code in RECORDED_REASONS:
            found.append(Reason(RECORDED_REASONS[code], "recorded", {"reason": code}))
    found.sort(key=lambda r: GROUP_ORDER[r.group])
    return found


def group_of(reasons: list[Reason], sector: str | None) -> str:
    """P1 or P2 when a reason says so, else S with a sector, else G."""
    if any(r.group == "p1" for r in reasons):
        return "p1"
    if any(r.group == "p2" for r in reasons):
        return "p2"
    return "s" if sector else "g"


def waited_years(qualified_on: date, on: date) -> int:
    return max(0, age_on(qualified_on, on))


def waited_item(qualified_on: date, on: date, values: dict) -> dict[str, Any] | None:
    """The years-waited item (None before the first full year)."""
    years = waited_years(qualified_on, on)
    pts = min(years * int(values["waited_points_per_year"]), int(values["waited_points_max"]))
    if pts <= 0:
        return None
    return _item(
        "waited", "waited", pts, years=years, per_year=int(values["waited_points_per_year"])
    )


def _item(category: str, code: str, points: int, **params: Any) -> dict[str, Any]:
    return {
        "category": category,
        "code": code,
        "points": int(points),
        "params": params,
        "counted": True,
    }


def _best(candidates: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Within a category only the highest item counts."""
    candidates = [c for c in candidates if c["points"] > 0]
    return max(candidates, key=lambda c: c["points"]) if candidates else None


def _tiers(category: str, measure: int, tiers: list[tuple[str, int, int]], **params: Any):
    """The items of a category whose threshold ``measure`` reaches: (code, at least, points)."""
    return [_item(category, code, pts, **params) for code, least, pts in tiers if measure >= least]


def points_for(
    members: list[Member],
    reasons: list[Reason],
    qualified_on: date,
    on: date,
    values: dict,
) -> tuple[int, list[dict[str, Any]]]:
    """Total points and the counted items, one per category at most, then the cap."""
    v = {k: int(x) for k, x in values.items() if isinstance(x, int | float)}
    age = age_on(_applicant(members).birth_date, on)
    size = len(members)
    kids = minors(members, on, values)
    priority = _priority_items(reasons, values)
    age_items = _tiers(
        "age",
        age,
        [
            ("age_senior", v["age_senior_years"], v["age_senior_points"]),
            ("age_older", v["age_older_years"], v["age_older_points"]),
        ],
        age=age,
    )
    size_items = _tiers(
        "household",
        size,
        [
            ("size_large", v["size_large"], v["size_large_points"]),
            ("size_medium", v["size_medium"], v["size_medium_points"]),
        ],
        size=size,
    )
    minor_items = _tiers(
        "minors",
        kids,
        [
            ("minors_three", 3, v["minors_three_points"]),
            ("minors_two", 2, v["minors_two_points"]),
            ("minors_one", 1, v["minors_one_points"]),
        ],
        count=kids,
    )
    waited = waited_item(qualified_on, on, values)
    counted = [_best(age_items), _best(size_items), _best(minor_items), waited]
    return cap([*_ranked(priority), *[i for i in counted if i is not None]], values)


def _priority_items(reasons: list[Reason], values: dict) -> list[dict[str, Any]]:
    points = {"p1": int(values["priority_p1_points"]), "p2": int(values["priority_p2_points"])}
    return [_item("priority", r.code, points[r.group], group=r.group, **r.params) for r in reasons]


def _ranked(priority: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every priority reason is kept (the group follows from all of them, and the household
    sees each), but only the highest counts."""
    best = _best(priority)
    return [{**i, "counted": i is best} for i in priority]


def cap(items: list[dict[str, Any]], values: dict) -> tuple[int, list[dict[str, Any]]]:
    """The sum of the items, at most ``points_max``; a cut shows as its own item."""
    items = [i for i in items if i["category"] != "cap"]
    total = sum(i["points"] for i in items if i.get("counted", True))
    limit = int(values["points_max"])
    if total > limit:
        items = [*items, _item("cap", "cap", limit - total, max=limit)]
        total = limit
    return total, items


def assess(
    members: list[Member],
    facts: dict[str, dict[str, dict[str, Any]]],
    *,
    recorded: list[str],
    sector: str | None,
    qualified_on: date,
    on: date,
    values: dict,
) -> Assessment:
    """Group and points of a household on ``on``."""
    reasons = priority_reasons(members, facts, recorded, on, values)
    total, items = points_for(members, reasons, qualified_on, on, values)
    return Assessment(group_of(reasons, sector), total, items, reasons)


def reassess(
    items: list[dict[str, Any]], *, recorded: list[str], sector: str | None, values: dict
) -> Assessment:
    """Group and points again after an officer's change (a recorded reason, a sector),
    without asking the departments: the reasons found in their data at the last
    assessment are kept from ``items``; the other categories stay as they were."""
    found = [
        Reason(
            i["params"]["group"], i["code"], {k: v for k, v in i["params"].items() if k != "group"}
        )
        for i in items
        if i["category"] == "priority" and i["code"] != "recorded"
    ]
    for code in recorded:
        if code in RECORDED_REASONS:
            found.append(Reason(RECORDED_REASONS[code], "recorded", {"reason": code}))
    found.sort(key=lambda r: GROUP_ORDER[r.group])
    priority = _priority_items(found, values)
    others = [i for i in items if i["category"] not in ("priority", "cap")]
    total, new_items = cap([*_ranked(priority), *others], values)
    return Assessment(group_of(found, sector), total, new_items, found)


def refresh_waited(
    items: list[dict[str, Any]], qualified_on: date, on: date, values: dict
) -> tuple[int, list[dict[str, Any]]]:
    """The same items with the years-waited item brought up to ``on`` (the daily refresh:
    nothing else about a household changes with time alone between re-verifications)."""
    kept = [i for i in items if i["category"] not in ("waited", "cap")]
    waited = waited_item(qualified_on, on, values)
    if waited is not None:
        kept.append(waited)
    kept.sort(key=lambda i: CATEGORIES.index(i["category"]) if i["category"] in CATEGORIES else 99)
    return cap(kept, values)


def order_key(
    group: str, qualified_on: date, points: int, birth_date: date, tiebreak: str
) -> tuple:
    """The sort key of :data:`ORDER` in Python: smaller comes first."""
    return (GROUP_ORDER[group], qualified_on, -points, birth_date, tiebreak)


# --- unit sizes ----------------------------------------------------------------------------


def max_area(household_size: int, values: dict) -> Decimal | None:
    """The largest unit a household of this size may take; None: no limit (5 or more)."""
    if household_size >= int(values["large_unit_min_size"]):
        return None
    if household_size <= 1:
        limit = Decimal(str(values["max_area_1"]))
    elif household_size == 2:
        limit = Decimal(str(values["max_area_2"]))
    else:
        limit = Decimal(str(values["max_area_3"]))
    return min(limit, Decimal(str(values["large_unit_area"])))


def unit_fits(area: Decimal, household_size: int, values: dict) -> bool:
    """Whether a unit of ``area`` m² suits the household (RULES.md: 1 person ≤ 35 m²,
    2 ≤ 50, 3–4 ≤ 60; above 60, and above 70, only for 5 or more)."""
    limit = max_area(household_size, values)
    return limit is None or Decimal(area) <= limit
