"""Choosing units (选房): invitations, turns, choices, refusals, no-shows, closing a round.

When the order is drawn an officer opens the choosing (``open_choosing``): as many
households are invited as the round has units, in the drawn order. They choose in that
order: the household whose turn it is (``current_turn``, the invited household with the
lowest position) picks one of the units left that suit its size (``fitting_units``), in the
portal or at the office's counter (``choose_unit``), and a lease is made at once. A
household may refuse (``refuse``; three refusals without good reason take it off the
waiting list), and one that does not come by its deadline passes its turn (``no_show``,
or the daily ``expire_turns``). Each time a household leaves the line the next one is
invited (递补). A household's deadline is never shorter than the round's choosing days
counted from the day its turn came. A household that no unit left fits is passed over and
keeps its place in the queue. When no unit or no household is left, the round closes by
itself (``close_round`` closes it earlier): units nobody took are vacant again, households
not reached go back to the queue in their place, and the results are published.

When the officer assigned the units in order instead (``services.allocate_in_order``), each
invited household holds an offered unit (``offered_unit``): it takes that one or refuses
it, without waiting for a turn; a refused or lapsed offer frees the unit for the next
household in line.

Locks (SECURITY.md F1): choosing locks the unit's row first, then the entrant's, then the
round's; refusals and no-shows lock the entrant, then the round; closing locks the round's
units, then the round, then its households. A unit is let once because its row lock makes
two choices of it take turns, and the database's unique index on active leases catches
whatever got past the locks.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass
from datetime import date, timedelta

import sqlalchemy as sa
from flask_babel import lazy_ngettext
from sqlalchemy.orm import selectinload

from portal.accounts.models import User
from portal.accounts.roles import Role
from portal.applications.models import Application
from portal.applications.services import tell_applicant
from portal.core import audit
from portal.core.clock import today, utcnow
from portal.core.errors import (
    Conflict,
    Forbidden,
    InvalidTransition,
    PortalError,
    UnitTaken,
    ValidationFailed,
)
from portal.core.i18n import lazy_gettext as _l
from portal.core.scope import lock_row, officer_district_ids
from portal.core.settings import current_version
from portal.extensions import db
from portal.housing import services as housing
from portal.housing.models import Building, Estate, Unit, UnitStatus
from portal.tenancy.models import Lease
from portal.tenancy.services import create_lease
from portal.waitlist import rules
from portal.waitlist import services as waitlist
from portal.waitlist.models import EntryStatus, QueueEntry, QueueEvent

from .models import AllocationRound, EntrantStatus, RoundEntrant, RoundStatus, RoundUnit

log = logging.getLogger(__name__)

SYSTEM = "system:allocation"  # the actor of steps the portal takes by itself
LINK = "/my/rounds"
REASON_MIN = 2
REASON_MAX = 1000
START_WITHIN_DAYS = 180  # a lease may start at most this long after the choice
LIVE = (EntrantStatus.WAITING, EntrantStatus.INVITED)  # still in the line


def rule_values() -> dict:
    """The ``waitlist`` rule values in force (read only: pages may call it)."""
    return waitlist.rule_values()


# --- who may act -------------------------------------------------------------------------


_district_ids = officer_district_ids


def round_scope(user: User) -> sa.ColumnElement[bool]:
    """The rounds an officer works at the counter: those of their districts (SECURITY.md B1)."""
    if user.role is not Role.OFFICER:
        return sa.false()
    return AllocationRound.district_id.in_(_district_ids(user))


def household_scope(user: User) -> sa.ColumnElement[bool]:
    """A resident's own entrants: those of the applications they made."""
    if user.role is not Role.RESIDENT:
        return sa.false()
    return RoundEntrant.entry_id.in_(
        sa.select(QueueEntry.id)
        .join(Application, Application.id == QueueEntry.application_id)
        .where(Application.applicant_id == user.id)
    )


def is_household(entrant: RoundEntrant, user) -> bool:
    return (
        getattr(user, "role", None) is Role.RESIDENT
        and entrant.entry.application.applicant_id == user.id
    )


def is_officer_of(rnd: AllocationRound, user) -> bool:
    return getattr(user, "role", None) is Role.OFFICER and rnd.district_id in _district_ids(user)


def _require_household_or_officer(entrant: RoundEntrant, actor) -> None:
    if not (is_household(entrant, actor) or is_officer_of(entrant.round, actor)):
        raise Forbidden()


def _require_officer(rnd: AllocationRound, actor) -> None:
    if not is_officer_of(rnd, actor):
        raise Forbidden(_l("Only a housing officer of the round's district may do this."))


# --- locks -------------------------------------------------------------------------------


_lock = lock_row


# --- reading -----------------------------------------------------------------------------


def entrants_of(rnd: AllocationRound, *statuses: EntrantStatus) -> list[RoundEntrant]:
    """The round's entrants in the drawn order (only ``statuses`` if given)."""
    stmt = sa.select(RoundEntrant).where(RoundEntrant.round_id == rnd.id)
    if statuses:
        stmt = stmt.where(RoundEntrant.status.in_(statuses))
    return list(
        db.session.scalars(
            stmt.order_by(RoundEntrant.position.is_(None), RoundEntrant.position, RoundEntrant.id)
        )
    )


def _unit_order():
    return (Estate.name, Building.name, Unit.number, Unit.id)


def _round_units(rnd: AllocationRound, *, free_only: bool) -> list[Unit]:
    stmt = (
        sa.select(Unit)
        .join(RoundUnit, RoundUnit.unit_id == Unit.id)
        .join(Estate, Estate.id == Unit.estate_id)
        .join(Building, Building.id == Unit.building_id)
        .where(RoundUnit.round_id == rnd.id, Unit.status == UnitStatus.IN_ROUND)
    )
    if free_only:
        held = sa.select(RoundEntrant.unit_id).where(
            RoundEntrant.round_id == rnd.id, RoundEntrant.unit_id.is_not(None)
        )
        stmt = stmt.where(Unit.id.not_in(held))
    return list(
        db.session.scalars(
            stmt.options(selectinload(Unit.estate), selectinload(Unit.building)).order_by(
                *_unit_order()
            )
        )
    )


def open_units(rnd: AllocationRound) -> list[Unit]:
    """The round's units not let yet (offered to a household or free)."""
    return _round_units(rnd, free_only=False)


def remaining_units(rnd: AllocationRound) -> list[Unit]:
    """The round's units free to choose: not let, not offered to an invited household."""
    return _round_units(rnd, free_only=True)


def offered_unit(entrant: RoundEntrant) -> Unit | None:
    """The unit offered to an invited household when the officer assigned the units in
    order (``services.allocate_in_order``): it accepts or refuses that unit, in no turn."""
    return entrant.unit if entrant.status is EntrantStatus.INVITED else None


def current_turn(rnd: AllocationRound) -> RoundEntrant | None:
    """The household that may choose now: the invited one (without a unit offered to it)
    with the lowest position."""
    return db.session.scalars(
        sa.select(RoundEntrant)
        .where(
            RoundEntrant.round_id == rnd.id,
            RoundEntrant.status == EntrantStatus.INVITED,
            RoundEntrant.unit_id.is_(None),
        )
        .order_by(RoundEntrant.position, RoundEntrant.id)
        .limit(1)
    ).first()


def fits(unit: Unit, entrant: RoundEntrant, values: dict | None = None) -> bool:
    return rules.unit_fits(unit.area, entrant.household_size, values or rule_values())


def fitting_units(rnd: AllocationRound, entrant: RoundEntrant) -> list[Unit]:
    """The units left that suit the household's size (RULES.md)."""
    values = rule_values()
    return [u for u in remaining_units(rnd) if fits(u, entrant, values)]


def size_rule(household_size: int, values: dict | None = None):
    """The size rule for this household, as a sentence it can read."""
    limit = rules.max_area(household_size, values or rule_values())
    if limit is None:
        return lazy_ngettext(
            "A household of %(num)d person may take a unit of any size.",
            "A household of %(num)d persons may take a unit of any size.",
            household_size,
        )
    return lazy_ngettext(
        "A household of %(num)d person may take a unit of at most %(area)s m².",
        "A household of %(num)d persons may take a unit of at most %(area)s m².",
        household_size,
        area=limit,
    )


@dataclass(frozen=True)
class Progress:
    """How far a round's choosing has come: units let and left, households by state."""

    units: int
    let: int
    left: int
    by_status: dict[EntrantStatus, int]
    turn: RoundEntrant | None

    @property
    def households_left(self) -> int:
        return sum(self.by_status.get(s, 0) for s in LIVE)


def progress(rnd: AllocationRound) -> Progress:
    total = db.session.scalar(
        sa.select(sa.func.count()).select_from(RoundUnit).where(RoundUnit.round_id == rnd.id)
    )
    let = db.session.scalar(
        sa.select(sa.func.count())
        .select_from(RoundEntrant)
        .where(RoundEntrant.round_id == rnd.id, RoundEntrant.status == EntrantStatus.CHOSEN)
    )
    left = len(open_units(rnd)) if rnd.status is RoundStatus.CHOOSING else 0
    counts = Counter(
        dict(
            db.session.execute(
                sa.select(RoundEntrant.status, sa.func.count())
                .where(RoundEntrant.round_id == rnd.id)
                .group_by(RoundEntrant.status)
            ).all()
        )
    )
    by_status = {s: counts.get(s, 0) for s in EntrantStatus}
    turn = current_turn(rnd) if rnd.status is RoundStatus.CHOOSING else None
    return Progress(total, let, left, by_status, turn)


def invitations_for(user: User) -> list[RoundEntrant]:
    """The resident's places in rounds whose order is drawn, the newest round first."""
    return list(
        db.session.scalars(
            sa.select(RoundEntrant)
            .join(AllocationRound, AllocationRound.id == RoundEntrant.round_id)
            .where(
                household_scope(user),
                RoundEntrant.position.is_not(None),
                AllocationRound.status.in_(
                    (RoundStatus.ORDERED, RoundStatus.CHOOSING, RoundStatus.CLOSED)
                ),
            )
            .options(selectinload(RoundEntrant.round), selectinload(RoundEntrant.unit))
            .order_by(AllocationRound.id.desc())
            .limit(20)
        )
    )


def lease_of(entrant: RoundEntrant) -> Lease | None:
    """The lease made when this household chose its unit in this round."""
    if entrant.unit_id is None:
        return None
    return db.session.scalars(
        sa.select(Lease).where(
            Lease.round_id == entrant.round_id,
            Lease.unit_id == entrant.unit_id,
            Lease.application_id == entrant.entry.application_id,
        )
    ).first()


def may_choose(entrant: RoundEntrant) -> bool:
    """Whether the household may take a unit now: a unit is offered to it, or it is its
    turn."""
    if entrant.status is not EntrantStatus.INVITED:
        return False
    if entrant.round.status is not RoundStatus.CHOOSING:
        return False
    if entrant.unit_id is not None:
        return True
    turn = current_turn(entrant.round)
    return turn is not None and turn.id == entrant.id


def choices_for(entrant: RoundEntrant) -> list[Unit]:
    """The units the household may take now: the one offered to it, or on its turn every
    unit left that suits its size."""
    if not may_choose(entrant):
        return []
    if entrant.unit_id is not None:
        return [entrant.unit]
    return fitting_units(entrant.round, entrant)


# --- telling the household ---------------------------------------------------------------


def _tell(entrant: RoundEntrant, kind: str, **params) -> None:
    params = {"round": entrant.round.title, "position": entrant.position, **params}
    tell_applicant(entrant.entry.application, kind, params, link=LINK)


# --- opening -----------------------------------------------------------------------------


def _invite(entrant: RoundEntrant, rnd: AllocationRound) -> None:
    entrant.status = EntrantStatus.INVITED
    entrant.invited_at = utcnow()
    entrant.respond_by = today() + timedelta(days=rnd.choose_days)
    db.session.flush()
    waitlist.mark_invited(entrant.entry, rnd)
    audit.record(
        "round.invite",
        actor=SYSTEM,
        obj=entrant,
        round=rnd.id,
        code=entrant.code,
        position=entrant.position,
        respond_by=entrant.respond_by,
    )
    _tell(entrant, "choose_invited", respond_by=entrant.respond_by)


def tell_offers(round_id: int) -> int:
    """Tell every household that "assign the units in order" offered a unit, and note the
    invitation in its history: the background half of that bulk step. Households already
    told (their history has this round's invitation) are skipped, so a second run sends
    nothing twice. Returns how many were told."""
    rnd = db.session.get(AllocationRound, round_id)
    told = set(
        db.session.scalars(
            sa.select(QueueEvent.entry_id).where(
                QueueEvent.kind == "invited",
                QueueEvent.params_json.contains(f'"{rnd.reference}"'),
            )
        )
    )
    offered = db.session.scalars(
        sa.select(RoundEntrant)
        .where(
            RoundEntrant.round_id == rnd.id,
            RoundEntrant.status == EntrantStatus.INVITED,
            RoundEntrant.unit_id.is_not(None),
        )
        .order_by(RoundEntrant.position)
    ).all()
    count = 0
    for entrant in offered:
        if entrant.entry_id in told:
            continue
        waitlist.mark_invited(entrant.entry, rnd)
        _tell(entrant, "choose_invited", respond_by=entrant.respond_by)
        count += 1
    db.session.flush()
    return count


def open_choosing(rnd: AllocationRound, actor: User) -> AllocationRound:
    """Start choosing in a round whose order is drawn: invite the first households."""
    _require_officer(rnd, actor)
    rnd = _lock(AllocationRound, rnd.id)
    if rnd.status is not RoundStatus.ORDERED:
        raise InvalidTransition(_l("Choosing can start only when the order has been drawn."))
    if not entrants_of(rnd, EntrantStatus.WAITING):
        raise InvalidTransition(_l("This round has no households to invite."))
    rnd.status = RoundStatus.CHOOSING
    db.session.flush()
    audit.record("round.open_choosing", actor=actor, obj=rnd, reference=rnd.reference)
    _advance(rnd, before=None)
    return rnd


# --- the line moves on (递补) --------------------------------------------------------------


def _pass_over(entrant: RoundEntrant, rnd: AllocationRound, *, tell: bool = True) -> None:
    """The household is not reached: no unit left suits it (``tell``: it is told), or it is
    no longer waiting in the queue. It keeps whatever place it has there."""
    entrant.status = EntrantStatus.NOT_REACHED
    entrant.unit_id = None
    entrant.decided_at = utcnow()
    db.session.flush()
    waitlist.entry_event(entrant.entry, "not_reached", None, round=rnd.reference)
    audit.record(
        "round.pass_over",
        actor=SYSTEM,
        obj=entrant,
        round=rnd.id,
        code=entrant.code,
        queue_status=entrant.entry.status.value,
    )
    if tell:
        _tell(entrant, "choose_no_fitting_unit")


def _still_queued(entrant: RoundEntrant) -> bool:
    return entrant.entry.status is EntryStatus.WAITING


def _advance(rnd: AllocationRound, *, before: int | None) -> None:
    """After any step: invite households up to the free units (递补), pass over a household
    no free unit fits (or that left the queue meanwhile), give the household whose turn has
    come its full time, and close the round when no unit or no household is left."""
    values = rule_values()
    invited_now: set[int] = set()
    while True:
        invited = entrants_of(rnd, EntrantStatus.INVITED)
        waiting = entrants_of(rnd, EntrantStatus.WAITING)
        if not open_units(rnd) or not (invited or waiting):
            _close(rnd, SYSTEM, automatic=True)
            return
        free = remaining_units(rnd)
        places = len(free) - sum(1 for e in invited if e.unit_id is None)
        for entrant in waiting:
            if places <= 0:
                break
            if not _still_queued(entrant):
                _pass_over(entrant, rnd, tell=False)
                continue
            _invite(entrant, rnd)
            invited_now.add(entrant.id)
            places -= 1
        turn = current_turn(rnd)
        if turn is None:
            if entrants_of(rnd, *LIVE):
                return  # the households left hold offered units, or wait for a free one
            continue  # everyone left the line: close
        if not _still_queued(turn):
            _pass_over(turn, rnd, tell=False)
            continue
        if not any(rules.unit_fits(u.area, turn.household_size, values) for u in free):
            _pass_over(turn, rnd)
            continue
        if turn.id != before:
            _turn_comes(turn, rnd, told=turn.id in invited_now)
        return


def _turn_comes(entrant: RoundEntrant, rnd: AllocationRound, *, told: bool) -> None:
    """The household's turn has come: it has the round's choosing days from today."""
    least = today() + timedelta(days=rnd.choose_days)
    if entrant.respond_by is None or entrant.respond_by < least:
        entrant.respond_by = least
    db.session.flush()
    if not told:
        _tell(entrant, "choose_turn", respond_by=entrant.respond_by)


# --- choosing ----------------------------------------------------------------------------


def _check_start(starts_on: date | None) -> date:
    start = starts_on or today()
    if start < today():
        raise ValidationFailed(_l("The lease cannot start in the past."), field="starts_on")
    if start > today() + timedelta(days=START_WITHIN_DAYS):
        raise ValidationFailed(
            _l("The lease must start within %(days)d days.", days=START_WITHIN_DAYS),
            field="starts_on",
        )
    return start


def _fresh_round(round_id: int) -> AllocationRound:
    return db.session.scalars(
        sa.select(AllocationRound)
        .where(AllocationRound.id == round_id)
        .execution_options(populate_existing=True)
    ).one()


def _require_turn(entrant: RoundEntrant, rnd: AllocationRound, unit: Unit) -> None:
    if rnd.status is not RoundStatus.CHOOSING:
        raise InvalidTransition(_l("This round is not open for choosing."))
    if entrant.status is not EntrantStatus.INVITED:
        raise InvalidTransition(
            _l("This household's turn is over: %(status)s.", status=entrant.status.label)
        )
    if entrant.unit_id is not None:
        if entrant.unit_id != unit.id:
            raise ValidationFailed(
                _l(
                    "Unit %(unit)s is offered to this household; it may take that one or "
                    "refuse it.",
                    unit=entrant.unit.label,
                ),
                field="unit",
            )
        return
    turn = current_turn(rnd)
    if turn is None or turn.id != entrant.id:
        error = Conflict(
            _l(
                "It is not this household's turn yet: number %(position)s chooses first.",
                position=turn.position if turn else "—",
            )
        )
        error.code = "not_your_turn"
        raise error


def choose_unit(
    entrant: RoundEntrant, unit: Unit, actor: User, *, starts_on: date | None = None
) -> Lease:
    """The household whose turn it is takes ``unit``: by itself in the portal, or an officer
    of the round's district records it at the counter. Makes the lease at once."""
    _require_household_or_officer(entrant, actor)
    start = _check_start(starts_on)
    unit = housing.lock_unit(unit.id)  # first: two choices of one unit take turns here
    entrant = _lock(RoundEntrant, entrant.id)
    rnd = _lock(AllocationRound, entrant.round_id)
    _require_turn(entrant, rnd, unit)
    turn = current_turn(rnd)
    before = turn.id if turn else None
    if not _still_queued(entrant):
        raise InvalidTransition(
            _l(
                "This household is no longer waiting in the queue (%(status)s).",
                status=entrant.entry.status.label,
            )
        )
    in_round = db.session.scalar(
        sa.select(RoundUnit.id).where(RoundUnit.round_id == rnd.id, RoundUnit.unit_id == unit.id)
    )
    if in_round is None:
        raise ValidationFailed(_l("This unit is not offered in this round."), field="unit")
    held_by_other = db.session.scalar(
        sa.select(RoundEntrant.id).where(
            RoundEntrant.round_id == rnd.id,
            RoundEntrant.unit_id == unit.id,
            RoundEntrant.id != entrant.id,
        )
    )
    if unit.status is not UnitStatus.IN_ROUND or held_by_other is not None:
        raise UnitTaken()
    version = current_version("waitlist")
    values = version.values
    if not rules.unit_fits(unit.area, entrant.household_size, values):
        raise ValidationFailed(
            _l(
                "Unit %(unit)s (%(area)s m²) is too large for this household. %(rule)s",
                unit=unit.number,
                area=unit.area,
                rule=size_rule(entrant.household_size, values),
            ),
            field="unit",
        )
    entry = entrant.entry
    app = entry.application
    entrant.status = EntrantStatus.CHOSEN
    entrant.unit_id = unit.id
    entrant.decided_at = utcnow()
    entrant.decided_by_id = actor.id
    db.session.flush()
    lease = create_lease(
        unit=unit,
        application=app,
        tenant=app.applicant,
        actor=actor,
        starts_on=start,
        years=int(values["lease_years"]),
        round=rnd,
    )
    waitlist.mark_housed(entry, actor, lease)
    audit.record(
        "round.choose",
        actor=actor,
        obj=entrant,
        round=rnd.id,
        code=entrant.code,
        unit=unit.id,
        lease=lease.reference,
        at_counter=actor.role is Role.OFFICER,
        rule_version=version.id,
    )
    _tell(
        entrant,
        "unit_chosen",
        unit=unit.label,
        address=unit.estate.address,
        lease=lease.reference,
        starts_on=lease.starts_on,
        ends_on=lease.ends_on,
        rent=lease.monthly_rent,
    )
    _advance(rnd, before=before)
    return lease


# --- refusing, not coming ----------------------------------------------------------------


def _clean_reason(reason: str | None) -> str:
    reason = " ".join((reason or "").split())
    if len(reason) < REASON_MIN:
        raise ValidationFailed(_l("Give the reason for refusing."), field="reason")
    if len(reason) > REASON_MAX:
        raise ValidationFailed(
            _l("Keep the reason under %(count)d characters.", count=REASON_MAX), field="reason"
        )
    return reason


def _open_entrant(entrant: RoundEntrant) -> tuple[RoundEntrant, AllocationRound, int | None]:
    entrant = _lock(RoundEntrant, entrant.id)
    rnd = _lock(AllocationRound, entrant.round_id)
    if rnd.status is not RoundStatus.CHOOSING:
        raise InvalidTransition(_l("This round is not open for choosing."))
    if entrant.status is not EntrantStatus.INVITED:
        raise InvalidTransition(
            _l("This household's turn is over: %(status)s.", status=entrant.status.label)
        )
    turn = current_turn(rnd)
    return entrant, rnd, turn.id if turn else None


def refuse(
    entrant: RoundEntrant, actor: User, *, good_reason: bool = False, reason: str
) -> RoundEntrant:
    """The invited household declines the round's units (any time before it has chosen).

    A household's own refusal counts as one without good reason; an officer recording a
    refusal at the counter decides whether the reason is good. Refusals without good
    reason are counted on the queue entry; at the limit the household leaves the list."""
    _require_household_or_officer(entrant, actor)
    reason = _clean_reason(reason)
    good = bool(good_reason) and is_officer_of(entrant.round, actor)
    entrant, rnd, before = _open_entrant(entrant)
    offered = entrant.unit_id
    entrant.status = EntrantStatus.REFUSED
    entrant.unit_id = None  # an offered unit is free for the next household
    entrant.good_reason = good
    entrant.reason = reason
    entrant.decided_at = utcnow()
    entrant.decided_by_id = actor.id
    db.session.flush()
    entry = entrant.entry
    removed = waitlist.record_refusal(entry, actor, good_reason=good, reason=reason)
    audit.record(
        "round.refuse",
        actor=actor,
        obj=entrant,
        round=rnd.id,
        code=entrant.code,
        good_reason=good,
        removed=removed,
        offered_unit=offered,
    )
    if not removed:
        _tell(
            entrant,
            "choose_refused_excused" if good else "choose_refused",
            refusals=entry.refusals,
            max=int(rule_values()["max_refusals"]),
        )
    _advance(rnd, before=before)
    return entrant


def _no_show(entrant: RoundEntrant, rnd: AllocationRound, actor, before: int | None) -> None:
    offered = entrant.unit_id
    entrant.status = EntrantStatus.NO_SHOW
    entrant.unit_id = None
    entrant.decided_at = utcnow()
    entrant.decided_by_id = getattr(actor, "id", None)
    db.session.flush()
    waitlist.entry_event(
        entrant.entry,
        "no_show",
        actor if isinstance(actor, User) else None,
        round=rnd.reference,
    )
    audit.record(
        "round.no_show",
        actor=actor,
        obj=entrant,
        round=rnd.id,
        code=entrant.code,
        offered_unit=offered,
    )
    _tell(entrant, "choose_no_show")
    _advance(rnd, before=before)


def no_show(entrant: RoundEntrant, officer: User) -> RoundEntrant:
    """The household did not come: its turn passes to the next (递补). Not a refusal: it
    keeps its place in the queue."""
    _require_officer(entrant.round, officer)
    entrant, rnd, before = _open_entrant(entrant)
    _no_show(entrant, rnd, officer, before)
    return entrant


def _overdue(rnd: AllocationRound, on: date) -> RoundEntrant | None:
    """An invited household whose time ran out: one holding an offered unit, or the one
    whose turn it is. The others' time starts only when their turn comes."""
    late = db.session.scalars(
        sa.select(RoundEntrant)
        .where(
            RoundEntrant.round_id == rnd.id,
            RoundEntrant.status == EntrantStatus.INVITED,
            RoundEntrant.unit_id.is_not(None),
            RoundEntrant.respond_by < on,
        )
        .order_by(RoundEntrant.position)
        .limit(1)
    ).first()
    if late is not None:
        return late
    turn = current_turn(rnd)
    if turn is not None and turn.respond_by is not None and turn.respond_by < on:
        return turn
    return None


def expire_turns(on: date | None = None) -> int:
    """The daily job: an invited household whose deadline has passed did not come; the next
    is invited (递补). Returns how many turns passed."""
    on = on or today()
    passed = 0
    round_ids = db.session.scalars(
        sa.select(AllocationRound.id)
        .where(AllocationRound.status == RoundStatus.CHOOSING)
        .order_by(AllocationRound.id)
    ).all()
    for round_id in round_ids:
        while True:
            rnd = _fresh_round(round_id)
            if rnd.status is not RoundStatus.CHOOSING:
                break
            late = _overdue(rnd, on)
            if late is None:
                break
            try:
                with db.session.begin_nested():
                    entrant, rnd, before = _open_entrant(late)
                    _no_show(entrant, rnd, SYSTEM, before)
            except PortalError as exc:  # an officer acted meanwhile: the next run sees it
                log.warning("round %s: turn of entrant %s not passed: %s", round_id, late.id, exc)
                break
            passed += 1
    return passed


# --- closing -----------------------------------------------------------------------------


def _close(rnd: AllocationRound, actor, *, automatic: bool) -> None:
    not_reached = 0
    for entrant in entrants_of(rnd, *LIVE):
        entrant = _lock(RoundEntrant, entrant.id)
        if entrant.status not in LIVE:
            continue
        entrant.status = EntrantStatus.NOT_REACHED
        entrant.unit_id = None  # an offer not taken up lapses
        entrant.decided_at = utcnow()
        db.session.flush()
        waitlist.entry_event(entrant.entry, "not_reached", None, round=rnd.reference)
        _tell(entrant, "choose_not_reached")
        not_reached += 1
    left = open_units(rnd)
    for unit in left:
        housing.withdraw_from_round(unit, actor)
    now = utcnow()
    rnd.status = RoundStatus.CLOSED
    rnd.closed_at = now
    rnd.notice_until = today() + timedelta(days=int(rule_values()["results_notice_days"]))
    db.session.flush()
    audit.record(
        "round.close",
        actor=actor,
        obj=rnd,
        reference=rnd.reference,
        automatic=automatic,
        units_returned=len(left),
        not_reached=not_reached,
        notice_until=rnd.notice_until,
    )


def close_round(rnd: AllocationRound, actor: User) -> AllocationRound:
    """Close the choosing now (an officer of the district): units nobody took are vacant
    again, households not reached keep their place in the queue, results are published."""
    _require_officer(rnd, actor)
    # the units first, as choosing does, so a choice at this moment finishes or fails whole
    for unit_id in sorted(u.id for u in open_units(rnd)):
        housing.lock_unit(unit_id)
    rnd = _lock(AllocationRound, rnd.id)
    if rnd.status not in (RoundStatus.ORDERED, RoundStatus.CHOOSING):
        raise InvalidTransition(_l("Only a round whose order is drawn can be closed."))
    _close(rnd, actor, automatic=False)
    return rnd
