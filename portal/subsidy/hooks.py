"""What other modules' events mean for subsidies: one call from each of them.

- a ``rental_subsidy`` household qualifies when its notice closes: a SUBSIDY award
  (``portal.notices.services.close_notice``);
- a ``public_rental`` household joins the waiting list: a WAITING award
  (``portal.waitlist.services.join_queue``); housed (``mark_housed``): an assistance
  household keeps it as a TENANT award offset against the rent (rule
  ``tenant_offset_assistance_only``), the others' ends from the month after the lease
  starts; removed from the list: it ends; suspended: suspended; back on the list: paid again
  from the next month, without back-pay; re-verified and kept: valid a further year, and a
  change of facts counts from the next month.
"""

from __future__ import annotations

from datetime import date

from portal.applications.models import Application, Programme
from portal.core.clock import today
from portal.subsidy import rules, services
from portal.subsidy.models import AwardBasis, AwardStatus


def _award(app: Application):
    award = services.award_of(app)
    if award is None or award.status is AwardStatus.ENDED:
        return None
    return award


def _first_open_month(month: date) -> date:
    """``month``, or the first month not yet closed if that is later."""
    last = services.last_closed_month()
    if last is not None and month <= last:
        return services.add_months(last, 1)
    return month


def notice_closed(apps: list[Application], actor) -> None:
    """Qualified ``rental_subsidy`` households are awarded the subsidy."""
    for app in apps:
        if app.programme is Programme.RENTAL_SUBSIDY:
            services.start_award(app, AwardBasis.SUBSIDY, actor)


def joined_queue(app: Application, actor) -> None:
    """A ``public_rental`` household is paid while it waits (在实物配租轮候期内)."""
    if app.programme is Programme.PUBLIC_RENTAL:
        services.start_award(app, AwardBasis.WAITING, actor)


def housed(app: Application, lease, actor) -> None:
    """The household took a unit: an assistance household's subsidy pays part of its rent
    (or every household's, when the rule says so); the others' ends from the month after
    the lease starts."""
    award = _award(app)
    if award is None:
        return
    values = services.rule_version(today()).values
    basis = services.basis_for(award, services.next_month()) or services.latest_basis(award)
    keeps = not int(values.get("tenant_offset_assistance_only", 1)) or (
        basis is not None and basis.assistance
    )
    if keeps:
        services.become_tenant(award, lease, actor)
        return
    services.end_award(
        award,
        actor,
        from_month=_first_open_month(services.next_month(lease.starts_on)),
        reason="housed",
    )


def left_queue(app: Application, actor) -> None:
    """Removed from the waiting list: no payment from the next month."""
    award = _award(app)
    if award is not None and award.basis is AwardBasis.WAITING:
        services.end_award(
            award, actor, from_month=_first_open_month(services.next_month()), reason="removed"
        )


def suspended(app: Application, actor, reason: str) -> None:
    award = _award(app)
    if award is not None and award.basis is AwardBasis.WAITING:
        services.suspend_award(award, actor, reason)


def restored(app: Application, actor) -> None:
    award = _award(app)
    if award is not None:
        services.resume_award(award, actor)


def reverified(app: Application, facts: dict, actor, on: date) -> None:
    """Kept after the yearly re-verification: valid a further year; new facts count from
    the next month."""
    award = _award(app)
    if award is None or award.basis is not AwardBasis.WAITING:
        return
    services.renew_validity(award, actor, on)
    fresh = rules.inputs_from_facts(app, facts, veteran=award.veteran)
    current = services.basis_for(award, services.next_month(on)) or services.latest_basis(award)
    known = None
    if current is not None:
        known = (
            current.household_size,
            current.assistance,
            current.per_capita_income,
            current.own_area,
        )
    if known != (fresh.household_size, fresh.assistance, fresh.per_capita_income, fresh.own_area):
        services.record_change(award, fresh, actor, occurred_on=on, source="review")
