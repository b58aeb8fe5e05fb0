"""What a review's pages and messages say: each rule's sentence (the application's, from
``portal/applications/explain.py``), the proposal and the decision's effect in words, and
the department facts per household member. Sentences are made when shown, in the reader's
language."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from flask_babel import format_date
from flask_babel import gettext as _

from portal.applications.explain import explained
from portal.core.clock import CITY_TZ, today
from portal.notices.services import mask_name
from portal.reviews.models import Review, ReviewOutcome
from portal.verification.departments import Department
from portal.verification.fields import FACTS
from portal.verification.forms import format_fact


def applicant_label(review: Review) -> str:
    """The applicant's masked name and ID number (lists and API)."""
    from portal.core.identifiers import mask_id_number
    from portal.waitlist.services import applicant_of

    a = applicant_of(review.application)
    return f"{mask_name(a.name)} · {mask_id_number(a.id_number)}"


def rule_rows(review: Review) -> list[dict[str, Any]]:
    """The stored evaluation as rows: title, passed, sentence."""
    return explained(review.evaluation)


def _money(value: Any) -> str:
    return str(value) if value not in (None, "") else "—"


def _month(day: date) -> str:
    return format_date(day, "yyyy-MM")


def outcome_text(review: Review, outcome: ReviewOutcome | None) -> str:
    """One or two sentences: what ``outcome`` means for this household, with the figures
    the proposal holds."""
    p = review.proposal
    if outcome is ReviewOutcome.CONTINUE:
        return _("Every condition is still met: the household continues as before.")
    if outcome is ReviewOutcome.ADJUST_SUBSIDY:
        subsidy = p.get("subsidy") or {}
        if subsidy.get("old"):
            return _(
                "Every condition is still met, but the household's data have changed: the "
                "rental subsidy changes from %(old)s to %(new)s yuan a month, from next month.",
                old=subsidy["old"],
                new=_money(subsidy.get("new")),
            )
        return _(
            "Every condition is still met, but the household's data have changed: the rental "
            "subsidy becomes %(new)s yuan a month, from next month.",
            new=_money(subsidy.get("new")),
        )
    if outcome is ReviewOutcome.MARKET_RENT:
        if p.get("market_rent"):
            return _(
                "Income per person is above the line, but the household owns no other home: it "
                "may stay, paying the market rent of %(market)s yuan a month (instead of "
                "%(contract)s) from next month.",
                market=p["market_rent"],
                contract=_money(p.get("contract_rent")),
            )
        return _(
            "Income per person is above the line, but the household owns no other home: it may "
            "stay at market rent from next month. The estate has no market rent recorded yet: "
            "record it before deciding."
        )
    if outcome is ReviewOutcome.EXIT:
        if "housing" in p.get("failed", []):
            return _(
                "The household owns other housing: it leaves the public rental home after a "
                "moving period, or its rental subsidy ends."
            )
        return _(
            "The household no longer meets the conditions: it leaves the public rental home "
            "after a moving period, or its rental subsidy ends."
        )
    return ""


def proposal_text(review: Review) -> str:
    """The proposal in words (also the reason the decision form starts with for CONTINUE)."""
    return outcome_text(review, review.proposed)


def effect_text(review: Review) -> str:
    """What the decision changes, for the household's message and page."""
    import sqlalchemy as sa

    from portal.extensions import db
    from portal.reviews.models import LeaseRenewal, RenewalStatus
    from portal.reviews.services import first_of_next_month

    outcome = review.outcome
    decided = review.decided_at.astimezone(CITY_TZ).date() if review.decided_at else today()
    month = _month(first_of_next_month(decided))
    lease_end = db.session.scalar(
        sa.select(LeaseRenewal.new_ends_on).where(
            LeaseRenewal.review_id == review.id, LeaseRenewal.status == RenewalStatus.RENEWED
        )
    )
    if outcome is ReviewOutcome.CONTINUE:
        text = _("Nothing changes for your household.")
    elif outcome is ReviewOutcome.ADJUST_SUBSIDY:
        new = (review.proposal.get("subsidy") or {}).get("new")
        text = _(
            "Your rental subsidy is recalculated from %(month)s (%(amount)s yuan a month on "
            "today's data).",
            month=month,
            amount=_money(new),
        )
    elif outcome is ReviewOutcome.MARKET_RENT:
        text = _(
            "From %(month)s your rent is the market rent (%(amount)s yuan a month).",
            month=month,
            amount=_money(review.proposal.get("market_rent")),
        )
    elif outcome is ReviewOutcome.EXIT:
        if review.lease_id:
            text = _(
                "An exit case is opened: the housing office tells you the day by which to move "
                "out; until then you pay the contract rent."
            )
        else:
            text = _("Your rental subsidy ends from %(month)s.", month=month)
    else:
        text = ""
    if lease_end:
        text = " ".join(
            [
                text,
                _(
                    "Your lease is renewed until %(date)s.",
                    date=format_date(lease_end),
                ),
            ]
        )
    return text


def _shown(fact, facts: dict | None) -> str:
    value = (facts or {}).get(fact.name)
    if fact.name == "registered_name" and value:
        return mask_name(str(value))  # the officer's page shows names masked
    return format_fact(fact, value)


@dataclass(frozen=True)
class DepartmentFacts:
    department: Department
    members: list[tuple[str, bool, list[tuple[str, str]]]]  # masked name, found, rows


def facts_by_department(review: Review) -> list[DepartmentFacts]:
    """The facts of the check, per department and member (names masked, no ID numbers)."""
    facts = review.facts
    if not facts:
        return []
    members = review.application.members
    out = []
    for department in Department:
        given = facts.get(department.value, {})
        rows = []
        for m in members:
            mine = given.get(m.id_index)
            rows.append(
                (
                    f"{mask_name(m.name)} ({m.relation.label})",
                    mine is not None,
                    [(str(f.label), _shown(f, mine)) for f in FACTS[department]],
                )
            )
        out.append(DepartmentFacts(department, rows))
    return out
