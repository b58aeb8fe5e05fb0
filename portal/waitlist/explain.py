"""Sentences that explain a household's place on the waiting list, in the reader's language:
its points item by item, its group, its history and why it was suspended or removed."""

from __future__ import annotations

import json
from typing import Any

from flask_babel import format_date, ngettext
from flask_babel import gettext as _

from portal.applications.explain import ASSISTANCE_NAMES
from portal.applications.explain import explain as explain_rule
from portal.core.i18n import lazy_gettext as _l
from portal.waitlist.models import QueueEntry, QueueEvent, Sector

CATEGORY_TITLES = {
    "priority": _l("Priority"),
    "age": _l("Applicant's age"),
    "household": _l("Household size"),
    "minors": _l("Children under 18"),
    "waited": _l("Years on the list"),
    "cap": _l("Maximum"),
    "given": _l("Points"),
}

RECORDED_NAMES = {
    "serious_illness": _l("serious illness in the household (重大疾病)"),
    "veteran": _l("veteran or entitled family (优抚对象)"),
    "family_planning": _l("family-planning special-hardship family (计划生育特殊困难家庭)"),
    "good_samaritan": _l("recognised act of bravery (见义勇为)"),
}


def recorded_name(code: str) -> str:
    return str(RECORDED_NAMES.get(code, code))


def reason_text(code: str, params: dict[str, Any]) -> str:
    """Why the household has priority (one reason)."""
    p = params
    if code == "assistance":
        return _(
            "Your household receives %(kind)s.", kind=ASSISTANCE_NAMES.get(p["kind"], p["kind"])
        )
    if code == "disability":
        return _("A member holds a disability certificate of grade %(grade)s.", grade=p["grade"])
    if code == "elderly":
        return _(
            "The applicant is %(age)s years old (%(needed)s or older has priority).",
            age=p["age"],
            needed=p["needed"],
        )
    if code == "minors":
        return _(
            "%(count)s children under 18 live in the household (%(needed)s or more have priority).",
            count=p["count"],
            needed=p["needed"],
        )
    if code == "recorded":
        return _("The housing office has verified: %(reason)s.", reason=recorded_name(p["reason"]))
    return code


def point_sentence(item: dict[str, Any]) -> str:
    """One counted item as a sentence."""
    p, code = item["params"], item["code"]
    if item["category"] == "priority":
        text = reason_text(code, p)
        if not item.get("counted", True):
            return _("%(text)s Not counted: only the highest priority item counts.", text=text)
        return text
    if code in ("age_senior", "age_older"):
        return _("The applicant is %(age)s years old.", age=p["age"])
    if code in ("size_large", "size_medium"):
        return ngettext(
            "%(num)d person in the household.", "%(num)d people in the household.", p["size"]
        )
    if code.startswith("minors_"):
        return ngettext(
            "%(num)d child under 18 in the household.",
            "%(num)d children under 18 in the household.",
            p["count"],
        )
    if code == "waited":
        return ngettext(
            "%(num)d full year on the waiting list (%(per)s points a year).",
            "%(num)d full years on the waiting list (%(per)s points a year).",
            p["years"],
            per=p["per_year"],
        )
    if code == "cap":
        return _("Points are capped at %(max)s.", max=p["max"])
    return _("Points given.")


def explained_points(entry: QueueEntry) -> list[dict[str, Any]]:
    """The entry's items as rows for a page or the API: category, points, sentence."""
    return [
        {
            "category": i["category"],
            "title": str(CATEGORY_TITLES.get(i["category"], i["category"])),
            "code": i["code"],
            "points": i["points"],
            "counted": i.get("counted", True),
            "text": point_sentence(i),
        }
        for i in entry.point_items
    ]


def group_sentence(entry: QueueEntry) -> str:
    """Why the household is in its group."""
    reasons = [i for i in entry.point_items if i["category"] == "priority"]
    if entry.group.value in ("p1", "p2"):
        own = [i for i in reasons if i["params"].get("group") == entry.group.value]
        if own:
            return " ".join(reason_text(i["code"], i["params"]) for i in own)
    if entry.group.value == "s" and entry.sector is not None:
        return _(
            "The housing office placed your household in the sector quota: %(sector)s.",
            sector=entry.sector.label,
        )
    return _("No priority reason was found in the departments' data.")


def suspension_sentences(entry: QueueEntry) -> list[str]:
    """Why the household was suspended: the eligibility rules it no longer meets."""
    try:
        failed = json.loads(entry.status_reason or "[]")
    except ValueError:
        return [entry.status_reason or ""]
    if not isinstance(failed, list):
        return []
    from portal.credit.services import queue_suspension_sentence

    return [
        queue_suspension_sentence(f["params"])
        if f["code"] == "credit_record"
        else explain_rule(f["code"], False, f["params"])
        for f in failed
    ]


def removal_sentence(code: str, params: dict[str, Any]) -> str:
    if code == "refusals":
        return _(
            "The household refused %(count)s offered units without a good reason.",
            count=params["count"],
        )
    if code == "unanswered":
        return _("No objection to the suspension arrived by the deadline.")
    if code == "objection_rejected":
        return _("The objection was not accepted: %(reason)s", reason=params["reason"])
    return code


def removal_text(entry: QueueEntry) -> str:
    try:
        data = json.loads(entry.status_reason or "{}")
        return removal_sentence(data["code"], data["params"])
    except (ValueError, KeyError, TypeError):
        return entry.status_reason or ""


def _date(value: str) -> str:
    from datetime import date

    try:
        return format_date(date.fromisoformat(value))
    except ValueError:
        return value


def event_sentence(ev: QueueEvent, *, staff: bool = False) -> str:
    """One step of the entry's history. ``staff`` adds what only officers see (notes)."""
    p = ev.params
    kind = ev.kind
    if kind == "joined":
        return _("Joined the waiting list with %(points)s points.", points=p.get("points", "0"))
    if kind == "reverified":
        return _(
            "Checked again against the departments' data: %(points)s points.",
            points=p.get("points", ""),
        )
    if kind == "reverify_unanswered":
        return _("The yearly check could not be completed: a department did not answer.")
    if kind == "points_waited":
        return _("Points for the years on the list updated: %(points)s.", points=p["points"])
    if kind == "priority_recorded":
        text = _(
            "Priority reason verified by the housing office: %(reason)s.",
            reason=recorded_name(p.get("reason", "")),
        )
        return f"{text} ({p['note']})" if staff and p.get("note") else text
    if kind == "sector":
        if p.get("sector"):
            text = _("Placed in the sector quota: %(sector)s.", sector=Sector(p["sector"]).label)
        else:
            text = _("Taken out of the sector quota.")
        return f"{text} ({p['note']})" if staff and p.get("note") else text
    if kind == "suspended":
        return _(
            "Suspended after the yearly check; objections until %(date)s.",
            date=_date(p.get("object_by", "")),
        )
    if kind == "objected":
        return _("The household objected to the suspension.")
    if kind == "restored":
        return _("Back on the list after the objection: %(reason)s", reason=p.get("reason", ""))
    if kind == "removed":
        return _(
            "Removed from the list: %(reason)s",
            reason=removal_sentence(p.get("code", ""), p),
        )
    if kind == "invited":
        return _("Invited to choose a unit in round %(round)s.", round=p.get("round", ""))
    if kind == "refused":
        if p.get("good_reason") == "yes":
            return _("Refused an offered unit with a good reason (not counted).")
        return _(
            "Refused an offered unit without a good reason (%(count)s of %(limit)s).",
            count=p.get("count", ""),
            limit=p.get("limit", ""),
        )
    if kind == "credit_suspended":
        return _("Suspended because of credit record %(record)s.", record=p.get("reference", ""))
    if kind == "credit_restored":
        return _(
            "Back on the list: credit record %(record)s no longer suspends the household.",
            record=p.get("reference", ""),
        )
    if kind == "housed":
        return _("Housed: lease %(lease)s.", lease=p.get("lease", ""))
    return kind
