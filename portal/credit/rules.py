"""The credit rules (RULES.md, "Credit and joint punishment"): the violation catalogue's
defaults, the bounds a manager's new version must keep, the score and grade of a subject,
and the dates a confirmed record carries.

Pure: no database, no clock, no request. The services gather the facts and call these.

**Catalogue** (:data:`DEFAULTS`): each violation code with its grade (一般 general, 较重
major, 严重 serious), the points it deducts, how long it is published, how long it bans the
subject from housing benefits, from when credit repair may be asked, whether it suspends a
waiting household and whether it opens an exit case for a tenant, the measures in both
languages and the legal basis. Stored as version 1 of each code on first use; managers add
versions with an effective date, and every record keeps the version that graded it.

**Counted in months** (:data:`PER_MONTH`, :data:`SERIOUS_FROM_MONTHS`): rent arrears deduct
5 points per month and become serious at 12 months; a home left vacant is major from 6
months and serious from 12. A record escalated to serious takes the serious grade's
periods and measures (:data:`GRADE_DEFAULTS`).

**Score and grade**: 100 minus the points of the subject's records in force (ACTIVE or
OBJECTED, within their publication period), never below 0; A ≥ 95, B ≥ 85, C ≥ 70, D below.

**Dates** (:func:`record_dates`), from the day a manager confirms the record: published
until start + publication months; banned until start + ban months (none when 0); repair
may be asked from start + repair months. The subject may object within
:data:`OBJECTION_WORKING_DAYS` working days; a manager decides an objection or a request
for repair within :data:`DECISION_WORKING_DAYS` working days.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any

from portal.credit.models import Grade
from portal.waitlist.services import add_months

BASE_SCORE = 100
# RULES.md: A >= 95, B >= 85, C >= 70, D below
SCORE_GRADES: tuple[tuple[int, str], ...] = ((95, "A"), (85, "B"), (70, "C"))

OBJECTION_WORKING_DAYS = 15  # the subject objects within this time of being told
DECISION_WORKING_DAYS = 10  # a manager decides an objection or a repair within this time
REPEAT_WINDOW_MONTHS = 24  # two general violations within two years make a serious one
REPEAT_CODE = "V-REPEAT"
ARREARS_CODE = "V-ARREARS"
ARREARS_RECORD_MONTHS = 6  # the tenancy records arrears from this many months (RULES.md)
REFUSE_VACATE_CODE = "V-REFUSE-VACATE"
FALSE_PLEDGE_CODE = "V-FALSE-PLEDGE"

PER_MONTH = frozenset({ARREARS_CODE})  # points are per month
SERIOUS_FROM_MONTHS = {ARREARS_CODE: 12, "V-VACANT": 12}
MIN_MONTHS = {ARREARS_CODE: 1, "V-VACANT": 6}  # codes counted in months, and from when
MAX_MONTHS = 240
CODE_PATTERN = re.compile(r"V-[A-Z0-9]+(?:-[A-Z0-9]+)*")

# Bounds of a manager's version (RULES.md): publication by grade, repair not before the
# minimum publication period, bans only for serious violations.
PUBLISH_MONTHS = {Grade.GENERAL: (3, 12), Grade.MAJOR: (6, 24), Grade.SERIOUS: (12, 36)}
REPAIR_MIN_MONTHS = {Grade.GENERAL: 3, Grade.MAJOR: 6, Grade.SERIOUS: 12}
MAX_BAN_MONTHS = 60
MAX_POINTS = 100

FIELDS = (
    "name_zh",
    "name_en",
    "grade",
    "points",
    "publish_months",
    "ban_months",
    "repair_after_months",
    "suspends_queue",
    "opens_exit",
    "measures_zh",
    "measures_en",
    "legal_basis",
)

MEASURES = {
    Grade.GENERAL: (
        "提醒谈话，下达责令改正通知书；公示3至12个月。",
        "Reminder interview and a correction notice; published for 3 to 12 months.",
    ),
    Grade.MAJOR: (
        "警告，列入重点关注名单，暂停轮候资格；公示12个月。",
        "Warning, watch list, the household's place on the waiting list suspended; "
        "published for 12 months.",
    ),
    Grade.SERIOUS: (
        "解除租赁合同并收回住房，按市场租金补缴租金，处1000元以下罚款（有违法所得的，处违法所得"
        "3倍以下但不超过3万元罚款），五年内不得申请住房保障，纳入联合惩戒；公示1至3年。",
        "The lease is cancelled and the home taken back, rent is paid back at market rates, a "
        "fine of up to ¥1,000 (or up to three times the gains, at most ¥30,000), no housing "
        "benefits for five years, joint punishment; published for 1 to 3 years.",
    ),
}

GRADE_DEFAULTS: dict[Grade, dict[str, Any]] = {
    Grade.GENERAL: {
        "points": 5,
        "publish_months": 6,
        "ban_months": 0,
        "repair_after_months": 3,
        "suspends_queue": False,
        "opens_exit": False,
    },
    Grade.MAJOR: {
        "points": 15,
        "publish_months": 12,
        "ban_months": 0,
        "repair_after_months": 6,
        "suspends_queue": True,
        "opens_exit": False,
    },
    Grade.SERIOUS: {
        "points": 30,
        "publish_months": 36,
        "ban_months": 60,
        "repair_after_months": 12,
        "suspends_queue": True,
        "opens_exit": True,
    },
}

_LAW = "《公共租赁住房管理办法》（住房和城乡建设部令第11号）"
_LOCAL = "本市公共租赁住房租赁合同及诚信管理规定"


def _entry(name_zh: str, name_en: str, grade: Grade, legal_basis: str, **values) -> dict:
    measures_zh, measures_en = MEASURES[grade]
    return {
        "name_zh": name_zh,
        "name_en": name_en,
        "grade": grade,
        **GRADE_DEFAULTS[grade],
        "measures_zh": measures_zh,
        "measures_en": measures_en,
        "legal_basis": legal_basis,
        **values,
    }


DEFAULTS: dict[str, dict[str, Any]] = {
    "V-BREACH": _entry(
        "违反合同约定/拒不配合检查",
        "Breach of the lease or refused inspection",
        Grade.GENERAL,
        _LOCAL,
        points=5,
    ),
    ARREARS_CODE: _entry(
        "拖欠租金",
        "Rent arrears",
        Grade.GENERAL,
        f"{_LAW}第三十一条",
        points=5,  # per month of arrears
    ),
    "V-LATE-REPORT": _entry(
        "未按期申报变更（逾期30日以上）",
        "A change reported over 30 days late",
        Grade.GENERAL,
        _LOCAL,
        points=10,
    ),
    "V-NO-CHECKOUT": _entry(
        "未办理退房手续",
        "Left without check-out",
        Grade.GENERAL,
        _LOCAL,
        points=20,
    ),
    FALSE_PLEDGE_CODE: _entry(
        "虚假承诺/以欺骗等不正当手段申请或承租",
        "False pledge or fraud in applying or renting",
        Grade.SERIOUS,
        f"{_LAW}第三十五条",
    ),
    "V-SUBLET": _entry(
        "转借、转租或擅自调换住房",
        "Subletting, lending or swapping the home",
        Grade.SERIOUS,
        f"{_LAW}第三十条、第三十六条",
    ),
    "V-ILLEGAL-USE": _entry(
        "擅自改变用途或在住房内从事违法活动",
        "Change of use or illegal activity in the home",
        Grade.SERIOUS,
        f"{_LAW}第三十条、第三十六条",
    ),
    REFUSE_VACATE_CODE: _entry(
        "拒不腾退住房",
        "Refusing to vacate the home",
        Grade.SERIOUS,
        f"{_LAW}第三十条、第三十一条",
    ),
    "V-VACANT": _entry(
        "无正当理由连续闲置住房（6个月以上较重，12个月以上严重）",
        "Home left vacant without good reason (6 months major, 12 months serious)",
        Grade.MAJOR,
        f"{_LAW}第三十条、第三十六条",
    ),
    REPEAT_CODE: _entry(
        "两年内两次以上一般失信行为",
        "Two or more general violations within two years",
        Grade.SERIOUS,
        _LOCAL,
    ),
}


# --- the catalogue's bounds ------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    """What is wrong with a value of a version: the field and a message code with params
    (the services turn it into a translated sentence)."""

    field: str
    code: str
    params: dict[str, Any]


def check_version(values: dict[str, Any]) -> list[Problem]:
    """The problems of a catalogue version's values (empty: it may be stored)."""
    problems: list[Problem] = []
    grade: Grade = values["grade"]
    low, high = PUBLISH_MONTHS[grade]
    if not 0 <= values["points"] <= MAX_POINTS:
        problems.append(Problem("points", "points_range", {"max": MAX_POINTS}))
    if not low <= values["publish_months"] <= high:
        problems.append(Problem("publish_months", "publish_range", {"low": low, "high": high}))
    if grade is Grade.SERIOUS:
        if not 0 <= values["ban_months"] <= MAX_BAN_MONTHS:
            problems.append(Problem("ban_months", "ban_range", {"max": MAX_BAN_MONTHS}))
    elif values["ban_months"] != 0:
        problems.append(Problem("ban_months", "ban_serious_only", {}))
    repair_min = REPAIR_MIN_MONTHS[grade]
    if not repair_min <= values["repair_after_months"] <= values["publish_months"]:
        problems.append(
            Problem(
                "repair_after_months",
                "repair_range",
                {"low": repair_min, "high": values["publish_months"]},
            )
        )
    if values["opens_exit"] and grade is Grade.GENERAL:
        problems.append(Problem("opens_exit", "exit_not_general", {}))
    return problems


# --- grading a record ------------------------------------------------------------------------


@dataclass(frozen=True)
class Graded:
    grade: Grade
    points: int
    escalated: bool  # graded above its catalogue entry (months counted)


def graded(code: str, grade: Grade, points: int, months: int | None) -> Graded:
    """The grade and points of one record of ``code`` whose catalogue entry gives ``grade``
    and ``points``; ``months`` counts arrears or vacancy where the code needs it."""
    if months is None:
        return Graded(grade, points, False)
    total = points * months if code in PER_MONTH else points
    serious_from = SERIOUS_FROM_MONTHS.get(code)
    if serious_from is not None and months >= serious_from and grade is not Grade.SERIOUS:
        return Graded(Grade.SERIOUS, max(total, GRADE_DEFAULTS[Grade.SERIOUS]["points"]), True)
    return Graded(grade, total, False)


def periods(entry: dict[str, Any], grade: Grade) -> dict[str, Any]:
    """Publication, ban and repair months and effects of a record graded ``grade`` whose
    catalogue entry is ``entry``: the entry's own, or the grade's defaults if escalated."""
    keys = ("publish_months", "ban_months", "repair_after_months", "suspends_queue", "opens_exit")
    source = entry if entry["grade"] is grade else GRADE_DEFAULTS[grade]
    return {k: source[k] for k in keys}


# --- dates -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class RecordDates:
    publish_until: date
    ban_until: date | None
    repair_from: date


def record_dates(
    start: date, publish_months: int, ban_months: int, repair_after_months: int
) -> RecordDates:
    """The dates of a record confirmed on ``start``."""
    return RecordDates(
        publish_until=add_months(start, publish_months),
        ban_until=add_months(start, ban_months) if ban_months else None,
        repair_from=add_months(start, repair_after_months),
    )


def repeat_window_start(on: date) -> date:
    """General records confirmed on or after this day count towards :data:`REPEAT_CODE`."""
    return add_months(on, -REPEAT_WINDOW_MONTHS)


# --- score and grade -------------------------------------------------------------------------


def score_of(points: Iterable[int]) -> int:
    """100 minus the points of the records in force, never below 0."""
    return max(0, BASE_SCORE - sum(points))


def grade_of(score: int) -> str:
    """The credit grade (A-D) of a score."""
    for floor, letter in SCORE_GRADES:
        if score >= floor:
            return letter
    return "D"
