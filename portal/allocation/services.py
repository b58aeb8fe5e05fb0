"""Allocation rounds (配租批次) up to the draw, and the published data of the lottery.

The way through:

1. An officer of the district (or a manager) drafts a round: its programme, method (queue
   rank or lottery), eligible groups, the share of units for the sector quota, the days an
   invited household has to choose, and a set of vacant units of the district's estates
   (``create_round``, ``update_round``, ``set_units``).
2. Proposing it offers the units in the round (``propose``): they are no longer vacant.
3. A manager other than the person who drafted or proposed it approves it (``approve``,
   SECURITY.md B4) or rejects it (``reject``, units vacant again). Approval freezes the
   entrants: every waiting household of the programme and groups that wants the district
   (or named none), fits at least one of the units and is in no other live round. For a
   lottery, the seed is drawn and kept secret; the hashes of the seed and of the entrant
   list are published at once.
4. The draw (``draw``) gives every entrant a position: by the lottery (the seed is
   revealed) or by queue rank. Either way the sector quota's households come first, up to
   the quota (``quota_count``).
5. Then households choose in order (the counter, ``portal/allocation/counter_views.py``),
   or an officer assigns the units in order at once (``allocate_in_order``).

A round can be cancelled before anyone is invited (``cancel``); its units become vacant.
Every step is audited; the history on the round page is read from the audit log.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from portal.accounts.models import District, User
from portal.accounts.roles import Role
from portal.allocation import lottery
from portal.allocation.models import (
    AllocationRound,
    EntrantStatus,
    Method,
    RoundEntrant,
    RoundStatus,
    RoundUnit,
)
from portal.applications.models import (
    Application,
    HouseholdMember,
    Programme,
    Relationship,
    application_districts,
)
from portal.core import audit
from portal.core.audit import AuditEvent
from portal.core.clock import today, utcnow
from portal.core.errors import Conflict, Forbidden, InvalidTransition, SameActor, ValidationFailed
from portal.core.i18n import lazy_gettext as _l
from portal.core.scope import lock_row, officer_district_ids
from portal.core.settings import current_version
from portal.extensions import db
from portal.housing import services as housing
from portal.housing.models import Building, Estate, Unit, UnitStatus
from portal.notices.services import mask_name
from portal.notifications.services import notify
from portal.waitlist import rules as queue_rules
from portal.waitlist import services as waitlist
from portal.waitlist.models import GROUP_ORDER, EntryStatus, Group, QueueEntry, QueueRank

TITLE_MAX = 120
NOTE_MAX = 2000
REASON_MIN = 4
CHOOSE_DAYS_MAX = 30
WALK_BATCH = 5000  # entrants read at a time when assigning units in order

# Rounds whose data the public sees: from approval on (a cancelled one too, if it had been
# approved: its hashes were published).
PUBLIC_STATUSES = (
    RoundStatus.APPROVED,
    RoundStatus.ORDERED,
    RoundStatus.CHOOSING,
    RoundStatus.CLOSED,
)
# Rounds in which an entrant still holds a place: a household takes part in one at a time.
LIVE = (RoundStatus.APPROVED, RoundStatus.ORDERED, RoundStatus.CHOOSING)
HOLDING = (EntrantStatus.WAITING, EntrantStatus.INVITED, EntrantStatus.CHOSEN)
# Before anyone is invited, a round can be called off.
CANCELLABLE = (RoundStatus.DRAFT, RoundStatus.PROPOSED, RoundStatus.APPROVED, RoundStatus.ORDERED)
OFFERED = (RoundStatus.PROPOSED, RoundStatus.APPROVED, RoundStatus.ORDERED)

CHECK_TITLES = {
    "seed_hash": _l("The revealed seed matches the seed hash published before the draw"),
    "entrants_hash": _l("The entrant list matches the hash published before the draw"),
    "entrants": _l("Every entrant has exactly one place in the order, and nobody else"),
    "draws": _l("Every draw value is HMAC-SHA256 of the seed and the entrant's code"),
    "order": _l("The positions follow from the draw values and the sector quota"),
    "units": _l("No unit was given to two households"),
}

EVENT_TITLES = {
    "round.create": _l("Drafted"),
    "round.update": _l("Settings changed"),
    "round.units": _l("Units changed"),
    "round.propose": _l("Proposed for approval"),
    "round.approve": _l("Approved: entrants frozen and published"),
    "round.reject": _l("Rejected"),
    "round.draw": _l("Order drawn"),
    "round.allocate_in_order": _l("Units assigned in order"),
    "round.open_choosing": _l("Choosing opened"),
    "round.close": _l("Closed: results published"),
    "round.cancel": _l("Cancelled"),
}


# --- scope and permissions -----------------------------------------------------------------


_district_ids = officer_district_ids


def round_scope(user: User) -> sa.ColumnElement[bool]:
    """The rounds a staff member works on: an officer's districts; every round for a manager
    (SECURITY.md B1)."""
    if user.role is Role.MANAGER:
        return sa.true()
    if user.role is Role.OFFICER:
        return AllocationRound.district_id.in_(_district_ids(user))
    return sa.false()


def can_run(user: User, district_id: int) -> bool:
    """Whether ``user`` may draft, propose, draw or cancel rounds of the district."""
    return user.role is Role.MANAGER or (
        user.role is Role.OFFICER and district_id in _district_ids(user)
    )


def _require_runner(user: User, district_id: int) -> None:
    if not can_run(user, district_id):
        raise Forbidden()


def _require_manager(user: User) -> None:
    if user.role is not Role.MANAGER:
        raise Forbidden(_l("Only a manager may approve or reject an allocation round."))


def _lock(rnd: AllocationRound) -> AllocationRound:
    """Re-read the round under a row lock: two clicks at once take turns."""
    return lock_row(AllocationRound, rnd.id)


def _require_status(rnd: AllocationRound, *allowed: RoundStatus, message=None) -> None:
    if rnd.status not in allowed:
        raise InvalidTransition(
            message
            or _l("This is not possible while the round is “%(status)s”.", status=rnd.status.label)
        )


# --- drafting --------------------------------------------------------------------------------


def _next_reference() -> str:
    prefix = f"R{today().year}-"
    taken = db.session.scalars(
        sa.select(AllocationRound.reference).where(AllocationRound.reference.like(f"{prefix}%"))
    )
    numbers = [int(r[len(prefix) :]) for r in taken if r[len(prefix) :].isdigit()]
    return f"{prefix}{max(numbers, default=0) + 1:04d}"


def _groups(groups: Iterable[Group | str]) -> str:
    try:
        chosen = {Group(g) for g in groups}
    except ValueError:
        chosen = set()
    if not chosen:
        raise ValidationFailed(_l("Choose at least one group of households."), field="groups")
    return ",".join(g.value for g in sorted(chosen, key=GROUP_ORDER.__getitem__))


def _clean(
    *,
    title: str,
    programme: Programme | str,
    method: Method | str,
    groups: Iterable[Group | str],
    sector_share: int,
    choose_days: int,
) -> dict[str, Any]:
    """The checked fields of a round (the same rules for the pages and the API)."""
    title = (title or "").strip()
    if not title:
        raise ValidationFailed(_l("Give the round a title."), field="title")
    if len(title) > TITLE_MAX:
        raise ValidationFailed(
            _l("Keep the title under %(count)d characters.", count=TITLE_MAX), field="title"
        )
    try:
        programme = Programme(programme)
    except ValueError:
        raise ValidationFailed(_l("Choose a programme."), field="programme") from None
    if programme is Programme.RENTAL_SUBSIDY:
        raise ValidationFailed(
            _l("The rental subsidy is paid in money: there are no units to allocate."),
            field="programme",
        )
    try:
        method = Method(method)
    except ValueError:
        raise ValidationFailed(_l("Choose how the order is decided."), field="method") from None
    group_text = _groups(groups)
    if not isinstance(sector_share, int) or not 0 <= sector_share <= 100:
        raise ValidationFailed(
            _l("The sector quota is a share of the units from 0 to 100 percent."),
            field="sector_share",
        )
    if sector_share and Group.S.value not in group_text.split(","):
        raise ValidationFailed(
            _l("A sector quota needs the sector group among the round's groups."),
            field="sector_share",
        )
    if not isinstance(choose_days, int) or not 1 <= choose_days <= CHOOSE_DAYS_MAX:
        raise ValidationFailed(
            _l(
                "An invited household has from 1 to %(count)d days to choose.",
                count=CHOOSE_DAYS_MAX,
            ),
            field="choose_days",
        )
    return {
        "title": title,
        "programme": programme,
        "method": method,
        "groups": group_text,
        "sector_share": sector_share,
        "choose_days": choose_days,
    }


def offerable_units(district_id: int, programme: Programme | None = None) -> sa.Select:
    """Vacant units of the district's estates (of ``programme`` if given), by estate,
    building and number: what a round may offer."""
    stmt = (
        sa.select(Unit)
        .join(Estate, Estate.id == Unit.estate_id)
        .join(Building, Building.id == Unit.building_id)
        .where(Estate.district_id == district_id, Unit.status == UnitStatus.VACANT)
        .options(sa.orm.contains_eager(Unit.estate), sa.orm.contains_eager(Unit.building))
        .order_by(Estate.name, Estate.id, Building.name, Unit.number)
    )
    if programme is not None:
        stmt = stmt.where(Estate.programme == programme)
    return stmt


def _units(district_id: int, programme: Programme, unit_ids: Iterable[int]) -> list[Unit]:
    ids = sorted({int(i) for i in unit_ids})
    if not ids:
        raise ValidationFailed(_l("Choose at least one unit for the round."), field="units")
    units = db.session.scalars(
        sa.select(Unit).join(Estate, Estate.id == Unit.estate_id).where(Unit.id.in_(ids))
    ).all()
    found = {u.id: u for u in units}
    for unit_id in ids:
        unit = found.get(unit_id)
        if unit is None or unit.estate.district_id != district_id:
            raise ValidationFailed(
                _l("A chosen unit is not in this district's estates."), field="units"
            )
        if unit.estate.programme is not programme:
            raise ValidationFailed(
                _l("Unit %(unit)s belongs to another programme.", unit=unit.label), field="units"
            )
        if unit.status is not UnitStatus.VACANT:
            raise Conflict(
                _l(
                    "Unit %(unit)s is no longer vacant (%(status)s).",
                    unit=unit.label,
                    status=unit.status.label,
                ),
                field="units",
            )
    return [found[i] for i in ids]


def create_round(
    actor: User,
    *,
    district: District,
    programme: Programme | str,
    title: str,
    method: Method | str,
    groups: Iterable[Group | str],
    sector_share: int = 0,
    choose_days: int = 3,
    unit_ids: Iterable[int],
) -> AllocationRound:
    """Draft a round of vacant units of ``district`` (its officer, or a manager)."""
    _require_runner(actor, district.id)
    fields = _clean(
        title=title,
        programme=programme,
        method=method,
        groups=groups,
        sector_share=sector_share,
        choose_days=choose_days,
    )
    units = _units(district.id, fields["programme"], unit_ids)
    rnd = AllocationRound(
        reference=_next_reference(),
        district_id=district.id,
        status=RoundStatus.DRAFT,
        created_by_id=actor.id,
        **fields,
    )
    rnd.units = [RoundUnit(unit_id=u.id) for u in units]
    db.session.add(rnd)
    db.session.flush()
    audit.record(
        "round.create",
        actor=actor,
        obj=rnd,
        reference=rnd.reference,
        district=district.code,
        programme=rnd.programme.value,
        method=rnd.method.value,
        units=len(units),
    )
    return rnd


def update_round(
    rnd: AllocationRound,
    actor: User,
    *,
    title: str,
    programme: Programme | str,
    method: Method | str,
    groups: Iterable[Group | str],
    sector_share: int,
    choose_days: int,
) -> AllocationRound:
    """Change a draft's settings."""
    _require_runner(actor, rnd.district_id)
    rnd = _lock(rnd)
    _require_status(rnd, RoundStatus.DRAFT)
    fields = _clean(
        title=title,
        programme=programme,
        method=method,
        groups=groups,
        sector_share=sector_share,
        choose_days=choose_days,
    )
    if fields["programme"] is not rnd.programme:
        # the units must be of the programme: check them again
        _units(rnd.district_id, fields["programme"], [ru.unit_id for ru in rnd.units])
    for name, value in fields.items():
        setattr(rnd, name, value)
    db.session.flush()
    audit.record("round.update", actor=actor, obj=rnd, **{k: str(v) for k, v in fields.items()})
    return rnd


def set_units(rnd: AllocationRound, actor: User, unit_ids: Iterable[int]) -> AllocationRound:
    """Replace a draft's units."""
    _require_runner(actor, rnd.district_id)
    rnd = _lock(rnd)
    _require_status(rnd, RoundStatus.DRAFT)
    units = _units(rnd.district_id, rnd.programme, unit_ids)
    wanted = {u.id for u in units}
    rnd.units = [ru for ru in rnd.units if ru.unit_id in wanted]
    have = {ru.unit_id for ru in rnd.units}
    rnd.units.extend(RoundUnit(unit_id=u.id) for u in units if u.id not in have)
    db.session.flush()
    audit.record("round.units", actor=actor, obj=rnd, units=len(units))
    return rnd


# --- proposal and the manager's decision -----------------------------------------------------


def _managers() -> list[User]:
    return list(
        db.session.scalars(
            sa.select(User).where(User.role == Role.MANAGER, User.is_active.is_(True))
        )
    )


def _link(rnd: AllocationRound) -> str:
    return f"/staff/rounds/{rnd.id}"


def propose(rnd: AllocationRound, actor: User) -> AllocationRound:
    """Ask a manager to approve the draft; its units are offered in the round from now."""
    _require_runner(actor, rnd.district_id)
    rnd = _lock(rnd)
    _require_status(rnd, RoundStatus.DRAFT)
    if not rnd.units:
        raise ValidationFailed(_l("Choose at least one unit for the round."), field="units")
    # a Conflict, and nothing offered, if a unit is no longer vacant
    housing.offer_units_in_round([ru.unit_id for ru in rnd.units], actor, rnd.reference)
    rnd.status = RoundStatus.PROPOSED
    rnd.proposed_at = utcnow()
    db.session.flush()
    audit.record("round.propose", actor=actor, obj=rnd, units=len(rnd.units))
    for manager in _managers():
        if manager.id != actor.id:
            notify(manager, "round_proposed", {"reference": rnd.reference}, link=_link(rnd))
    return rnd


def proposer_id(rnd: AllocationRound) -> int | None:
    """Who proposed the round (the last proposal, from the audit log)."""
    return db.session.scalar(
        sa.select(AuditEvent.actor_id)
        .where(
            AuditEvent.event == "round.propose",
            AuditEvent.object_type == AllocationRound.__tablename__,
            AuditEvent.object_id == str(rnd.id),
        )
        .order_by(AuditEvent.id.desc())
        .limit(1)
    )


def _second_pair_of_eyes(rnd: AllocationRound, manager: User) -> None:
    if manager.id in (rnd.created_by_id, proposer_id(rnd)):
        raise SameActor(
            _l(
                "You drafted or proposed round %(reference)s, so another manager must decide "
                "on it (four-eyes rule).",
                reference=rnd.reference,
            )
        )


def _note(text: str | None, *, required: bool) -> str | None:
    text = (text or "").strip()
    if required and len(text) < REASON_MIN:
        raise ValidationFailed(
            _l("Give the reason, in words the officer understands."), field="reason"
        )
    if len(text) > NOTE_MAX:
        raise ValidationFailed(
            _l("Keep the text under %(count)d characters.", count=NOTE_MAX), field="reason"
        )
    return text or None


def approve(rnd: AllocationRound, manager: User, note: str | None = None) -> AllocationRound:
    """Approve a proposed round (a manager who neither drafted nor proposed it): the entrants
    are frozen and, for a lottery, the hashes of the secret seed and of the entrant list are
    published."""
    _require_manager(manager)
    rnd = _lock(rnd)
    _require_status(rnd, RoundStatus.PROPOSED)
    _second_pair_of_eyes(rnd, manager)
    note = _note(note, required=False)
    waitlist.rerank()  # the queue ranks the entrants keep are those of this moment
    count, pairs = _freeze_entrants(rnd)
    if not count:
        raise Conflict(
            _l(
                "No waiting household of these groups fits the round's units: change the "
                "round or reject it."
            )
        )
    rnd.entrant_count = count
    # published with the hashes, before the draw: the quota cannot move afterwards
    rnd.quota_count = quota_count(rnd, sum(1 for _code, sector in pairs if sector))
    if rnd.method is Method.LOTTERY:
        seed = lottery.new_seed()
        rnd.seed = seed
        rnd.seed_hash = lottery.seed_hash(seed)
        rnd.entrants_hash = lottery.entrants_hash(pairs)
    rnd.status = RoundStatus.APPROVED
    rnd.approved_by_id = manager.id
    rnd.approved_at = utcnow()
    rnd.decision_note = note
    db.session.flush()
    audit.record(
        "round.approve",
        actor=manager,
        obj=rnd,
        entrants=count,
        seed_hash=rnd.seed_hash,
        entrants_hash=rnd.entrants_hash,
        note=note,
    )
    notify(
        rnd.created_by,
        "round_approved",
        {"reference": rnd.reference, "entrants": count},
        link=_link(rnd),
    )
    return rnd


def reject(rnd: AllocationRound, manager: User, reason: str) -> AllocationRound:
    """Send a proposed round back (a manager other than its author): its units are vacant
    again."""
    _require_manager(manager)
    rnd = _lock(rnd)
    _require_status(rnd, RoundStatus.PROPOSED)
    _second_pair_of_eyes(rnd, manager)
    reason = _note(reason, required=True)
    _release_units(rnd, manager)
    rnd.status = RoundStatus.REJECTED
    rnd.decision_note = reason
    db.session.flush()
    audit.record("round.reject", actor=manager, obj=rnd, reason=reason)
    notify(
        rnd.created_by,
        "round_rejected",
        {"reference": rnd.reference, "reason": reason},
        link=_link(rnd),
    )
    return rnd


def _release_units(rnd: AllocationRound, actor: User) -> None:
    """The round's units still offered in it are vacant again."""
    units = db.session.scalars(
        sa.select(Unit)
        .where(Unit.id.in_([ru.unit_id for ru in rnd.units]))
        .order_by(Unit.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    for unit in units:
        if unit.status is UnitStatus.IN_ROUND:
            housing.withdraw_from_round(unit, actor)


def cancel(rnd: AllocationRound, actor: User, reason: str) -> AllocationRound:
    """Call a round off before anyone is invited; offered units become vacant again."""
    _require_runner(actor, rnd.district_id)
    rnd = _lock(rnd)
    _require_status(
        rnd,
        *CANCELLABLE,
        message=_l(
            "Households are already choosing in this round: it can no longer be called off."
        ),
    )
    reason = _note(reason, required=True)
    if rnd.status in OFFERED:
        _release_units(rnd, actor)
    rnd.status = RoundStatus.CANCELLED
    db.session.flush()
    audit.record("round.cancel", actor=actor, obj=rnd, reason=reason)
    if rnd.created_by_id != actor.id:
        notify(
            rnd.created_by,
            "round_cancelled",
            {"reference": rnd.reference, "reason": reason},
            link=_link(rnd),
        )
    return rnd


# --- entrants ----------------------------------------------------------------------------------


def _waitlist_values() -> dict[str, Any]:
    return current_version("waitlist").values


def _unit_areas(rnd: AllocationRound) -> list:
    return list(
        db.session.scalars(
            sa.select(Unit.area)
            .join(RoundUnit, RoundUnit.unit_id == Unit.id)
            .where(RoundUnit.round_id == rnd.id)
        )
    )


def candidates(rnd: AllocationRound) -> sa.Select:
    """Waiting households who may enter the round, before the fit to its units: of the
    programme and groups, wanting the round's district (or no district in particular), in
    no other live round. Columns: entry id, code, group, sector, size, applicant's name,
    queue rank."""
    groups = [g.value for g in rnd.group_list]
    prefs = application_districts
    named_none = ~sa.exists().where(prefs.c.application_id == QueueEntry.application_id)
    wants_it = sa.exists().where(
        prefs.c.application_id == QueueEntry.application_id,
        prefs.c.district_id == rnd.district_id,
    )
    other = sa.orm.aliased(AllocationRound)
    elsewhere = sa.exists().where(
        RoundEntrant.entry_id == QueueEntry.id,
        RoundEntrant.status.in_(HOLDING),
        other.id == RoundEntrant.round_id,
        other.status.in_(LIVE),
        other.id != rnd.id,
    )
    applicant = (
        sa.select(HouseholdMember.name)
        .where(
            HouseholdMember.application_id == QueueEntry.application_id,
            HouseholdMember.relation == Relationship.APPLICANT,
        )
        .order_by(HouseholdMember.position)
        .limit(1)
        .scalar_subquery()
    )
    generation = waitlist.current_generation()
    rank = (
        sa.select(QueueRank.rank)
        .where(QueueRank.generation == generation, QueueRank.entry_id == QueueEntry.id)
        .scalar_subquery()
        if generation is not None
        else sa.null()
    )
    return (
        sa.select(
            QueueEntry.id,
            Application.reference,
            QueueEntry.group,
            QueueEntry.sector,
            QueueEntry.household_size,
            applicant,
            rank,
        )
        .join(Application, Application.id == QueueEntry.application_id)
        .where(
            QueueEntry.status == EntryStatus.WAITING,
            QueueEntry.programme == rnd.programme,
            QueueEntry.group.in_(groups),
            sa.or_(named_none, wants_it),
            ~elsewhere,
        )
        .order_by(Application.reference)
    )


def _freeze_entrants(rnd: AllocationRound) -> tuple[int, list[tuple[str, bool]]]:
    """Write the round's entrants in bulk; returns their number and ``(code, sector)``."""
    values = _waitlist_values()
    areas = _unit_areas(rnd)
    fits: dict[int, bool] = {}
    rows = []
    pairs = []
    for entry_id, code, group, sector, size, name, rank in db.session.execute(candidates(rnd)):
        if size not in fits:
            fits[size] = any(queue_rules.unit_fits(a, size, values) for a in areas)
        if not fits[size]:
            continue
        in_quota = sector is not None and group is Group.S
        rows.append(
            {
                "round_id": rnd.id,
                "entry_id": entry_id,
                "code": code,
                "group": group,
                "sector": in_quota,
                "household_size": size,
                "masked_name": mask_name(name),
                "queue_rank": rank,
                "status": EntrantStatus.WAITING,
            }
        )
        pairs.append((code, in_quota))
    _insert_entrants(rows)
    return len(rows), pairs


def quota_count(rnd: AllocationRound, sector_entrants: int | None = None) -> int:
    """Places at the front for sector-quota households: the round's share of its units,
    rounded half up, and no more than there are such households. Fixed at approval."""
    if rnd.quota_count is not None:
        return rnd.quota_count
    if not rnd.sector_share:
        return 0
    units = db.session.scalar(
        sa.select(sa.func.count()).select_from(RoundUnit).where(RoundUnit.round_id == rnd.id)
    )
    if sector_entrants is None:
        sector_entrants = db.session.scalar(
            sa.select(sa.func.count())
            .select_from(RoundEntrant)
            .where(RoundEntrant.round_id == rnd.id, RoundEntrant.sector.is_(True))
        )
    return min(sector_entrants, (units * rnd.sector_share + 50) // 100)


# --- bulk writes of entrants ---------------------------------------------------------------------
# A round has up to 100,000 entrants. On PostgreSQL each write is one statement over
# ``unnest`` of one array per column; numbers, flags, dates and codes of our own making travel
# as one comma-separated text per column, what people wrote (names) as driver-escaped
# arrays. Elsewhere (SQLite) an executemany of one prepared statement is just as quick.

_PG_TYPES = {
    "id": "int",
    "round_id": "int",
    "entry_id": "int",
    "code": "text",
    "group": "text",
    "sector": "bool",
    "household_size": "int",
    "masked_name": "text",
    "queue_rank": "int",
    "status": "text",
    "draw": "text",
    "position": "int",
    "unit_id": "int",
    "invited_at": "timestamptz",
    "respond_by": "date",
}
_FREE_TEXT = {"code", "masked_name"}


def _postgres() -> bool:
    return db.session.get_bind().dialect.name == "postgresql"


def _joined(values: list) -> str:
    """Values of one column as one comma-separated text (None as an empty item), as
    PostgreSQL reads them back: none of them holds a comma; enums give their value."""
    sample = next((v for v in values if v is not None), None)
    if isinstance(sample, date | datetime):
        values = [None if v is None else v.isoformat() for v in values]
    if None in values:
        return ",".join("" if v is None else str(v) for v in values)
    return ",".join(map(str, values))


def _unnest(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> tuple[str, dict]:
    parts, params = [], {}
    for c in columns:
        if c not in _PG_TYPES:
            raise ValueError(f"not an entrant column: {c}")
        if c in _FREE_TEXT:
            parts.append(f"CAST(:{c} AS text[])")
            params[c] = [str(r[c]) for r in rows]
        else:
            parts.append(f"CAST(string_to_array(:{c}, ',', '') AS {_PG_TYPES[c]}[])")
            params[c] = _joined([r[c] for r in rows])
    names = ", ".join(f'"{c}"' for c in columns)
    return f"unnest({', '.join(parts)}) AS d({names})", params


def _insert_entrants(rows: Sequence[dict[str, Any]]) -> None:
    if not rows:
        return
    if _postgres():
        columns = list(rows[0])
        source, params = _unnest(rows, columns)
        names = ", ".join(f'"{c}"' for c in columns)
        # names only from _PG_TYPES (checked in _unnest); every value is bound
        sql = f"INSERT INTO round_entrants ({names}) SELECT {names} FROM {source}"  # noqa: S608
        db.session.execute(sa.text(sql), params)
    else:
        db.session.connection().execute(sa.insert(RoundEntrant.__table__), list(rows))


def _update_entrants(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> None:
    """Set ``columns`` of many entrants, each row naming its entrant by ``id``."""
    if not rows:
        return
    if _postgres():
        # in the order of the rows' ids: most of the table's indexes then change in order
        rows = sorted(rows, key=lambda r: r["id"])
        source, params = _unnest(rows, ["id", *columns])
        sets = ", ".join(f'"{c}" = d."{c}"' for c in columns)
        sql = f"UPDATE round_entrants AS e SET {sets} FROM {source} WHERE e.id = d.id"  # noqa: S608
        db.session.execute(sa.text(sql), params)
    else:
        table = RoundEntrant.__table__
        stmt = (
            sa.update(table)
            .where(table.c.id == sa.bindparam("_id"))
            .values({c: sa.bindparam(f"_{c}") for c in columns})
        )
        db.session.connection().execute(
            stmt, [{"_id": r["id"], **{f"_{c}": r[c] for c in columns}} for r in rows]
        )
    db.session.expire_all()


def _ordered_by_rank(
    entrants: Sequence[tuple[int, str, bool, int | None]], quota: int
) -> list[tuple[str, int]]:
    ranked = sorted(entrants, key=lambda e: (e[3] is None, e[3] or 0, e[1]))
    first = [e for e in ranked if e[2]][:quota]
    chosen = {e[0] for e in first}
    rest = [e for e in ranked if e[0] not in chosen]
    return [(e[1], i) for i, e in enumerate(first + rest, start=1)]


def draw(rnd: AllocationRound, actor: User) -> AllocationRound:
    """Put the entrants in order: by the lottery (revealing the seed) or by queue rank; the
    sector quota's households first, up to the quota."""
    _require_runner(actor, rnd.district_id)
    rnd = _lock(rnd)
    _require_status(rnd, RoundStatus.APPROVED)
    entrants = db.session.execute(
        sa.select(
            RoundEntrant.id, RoundEntrant.code, RoundEntrant.sector, RoundEntrant.queue_rank
        ).where(RoundEntrant.round_id == rnd.id)
    ).all()
    ids = {code: entrant_id for entrant_id, code, _, _ in entrants}
    quota = quota_count(rnd, sum(1 for e in entrants if e[2]))
    if rnd.method is Method.LOTTERY:
        placed = lottery.order(rnd.seed, [(e[1], e[2]) for e in entrants], quota)
        rows = [{"id": ids[code], "draw": d, "position": p} for code, p, d in placed]
        _update_entrants(rows, ("draw", "position"))
        rnd.published_seed = rnd.seed
    else:
        placed_rank = _ordered_by_rank(entrants, quota)
        _update_entrants([{"id": ids[c], "position": p} for c, p in placed_rank], ("position",))
    rnd = _lock(rnd)
    rnd.status = RoundStatus.ORDERED
    rnd.ordered_at = utcnow()
    db.session.flush()
    audit.record(
        "round.draw",
        actor=actor,
        obj=rnd,
        method=rnd.method.value,
        entrants=len(entrants),
        quota=quota,
        seed=rnd.published_seed,
    )
    if rnd.created_by_id != actor.id:
        notify(rnd.created_by, "round_drawn", {"reference": rnd.reference}, link=_link(rnd))
    return rnd


# --- assigning units in order --------------------------------------------------------------------


def allocate_in_order(rnd: AllocationRound, actor: User, *, tell: bool = True) -> int:
    """Offer the units at once, walking the entrants by position: each household gets the
    largest free unit its size allows (RULES.md: the size limits keep the large units for
    large households). Entrants offered a unit are INVITED with it (``unit_id``) and confirm
    it at the counter or in the portal; those who find no unit that fits stay WAITING for a
    turn passed on. Returns the number of households invited.

    This is the bulk path (10,000 units in one step): it writes the offers and one audit
    event; the households are told by the job ``rounds.tell_offers`` (``tell=False`` leaves
    that to the caller, as the benchmark does to time the allocation alone)."""
    _require_runner(actor, rnd.district_id)
    rnd = _lock(rnd)
    _require_status(rnd, RoundStatus.ORDERED)
    values = _waitlist_values()
    units = db.session.execute(
        sa.select(Unit.id, Unit.area)
        .join(RoundUnit, RoundUnit.unit_id == Unit.id)
        .where(RoundUnit.round_id == rnd.id, Unit.status == UnitStatus.IN_ROUND)
        .order_by(Unit.area.desc(), Unit.id)
    ).all()
    taken = [False] * len(units)
    # for each household size: the units it may have, largest first, and a cursor into them
    fitting: dict[int, list[int]] = {}
    cursor: dict[int, int] = {}
    now, respond_by = utcnow(), today() + timedelta(days=rnd.choose_days)
    rows = []
    left, last = len(units), 0
    while left:
        # by position, a batch at a time: the walk usually ends long before the last entrant
        batch = db.session.execute(
            sa.select(RoundEntrant.id, RoundEntrant.household_size, RoundEntrant.position)
            .where(
                RoundEntrant.round_id == rnd.id,
                RoundEntrant.position > last,
                RoundEntrant.status == EntrantStatus.WAITING,
            )
            .order_by(RoundEntrant.position)
            .limit(WALK_BATCH)
        ).all()
        if not batch:
            break
        last = batch[-1].position
        for entrant_id, size, _ in batch:
            if size not in fitting:
                fitting[size] = [
                    i for i, u in enumerate(units) if queue_rules.unit_fits(u.area, size, values)
                ]
                cursor[size] = 0
            options, i = fitting[size], cursor[size]
            while i < len(options) and taken[options[i]]:
                i += 1
            cursor[size] = i
            if i == len(options):
                continue
            taken[options[i]] = True
            rows.append(
                {
                    "id": entrant_id,
                    "unit_id": units[options[i]].id,
                    "status": EntrantStatus.INVITED,
                    "invited_at": now,
                    "respond_by": respond_by,
                }
            )
            left -= 1
            if not left:
                break
    if not rows:
        raise Conflict(_l("No waiting household of this round fits the units left."))
    _update_entrants(rows, ("unit_id", "status", "invited_at", "respond_by"))
    rnd = _lock(rnd)
    rnd.status = RoundStatus.CHOOSING
    db.session.flush()
    audit.record(
        "round.allocate_in_order",
        actor=actor,
        obj=rnd,
        invited=len(rows),
        units=len(units),
        respond_by=respond_by,
    )
    if tell:  # the messages go out in the background (in-process without Celery)
        from portal.jobs.core import enqueue

        enqueue("rounds.tell_offers", round_id=rnd.id)
    return len(rows)


# --- reading: staff pages ------------------------------------------------------------------------


def rounds_for(user: User, status: RoundStatus | None = None) -> sa.Select:
    """The rounds ``user`` works on, newest first."""
    stmt = sa.select(AllocationRound).where(round_scope(user))
    if status is not None:
        stmt = stmt.where(AllocationRound.status == status)
    return stmt.order_by(AllocationRound.created_at.desc(), AllocationRound.id.desc())


def awaiting_approval() -> list[AllocationRound]:
    """Proposed rounds, the oldest proposal first."""
    return list(
        db.session.scalars(
            sa.select(AllocationRound)
            .where(AllocationRound.status == RoundStatus.PROPOSED)
            .order_by(AllocationRound.proposed_at, AllocationRound.id)
        )
    )


def may_decide(rnd: AllocationRound, user: User) -> bool:
    """Whether ``user`` is a manager who may approve or reject ``rnd`` (four eyes)."""
    return (
        user.role is Role.MANAGER
        and rnd.status is RoundStatus.PROPOSED
        and user.id not in (rnd.created_by_id, proposer_id(rnd))
    )


@dataclass(frozen=True)
class HistoryItem:
    at: Any
    event: str
    actor: str
    details: dict[str, Any]


def history(rnd: AllocationRound) -> list[HistoryItem]:
    """What happened to the round, from the audit log, oldest first."""
    events = db.session.execute(
        sa.select(AuditEvent.at, AuditEvent.event, AuditEvent.actor_label, AuditEvent.details)
        .where(
            AuditEvent.object_type == AllocationRound.__tablename__,
            AuditEvent.object_id == str(rnd.id),
            AuditEvent.event.like("round.%"),
        )
        .order_by(AuditEvent.id)
    ).all()
    return [HistoryItem(at, ev, actor, json.loads(details)) for at, ev, actor, details in events]


def round_units(rnd: AllocationRound) -> list[Unit]:
    """The round's units by estate, building and number."""
    return list(
        db.session.scalars(
            sa.select(Unit)
            .join(RoundUnit, RoundUnit.unit_id == Unit.id)
            .join(Estate, Estate.id == Unit.estate_id)
            .join(Building, Building.id == Unit.building_id)
            .where(RoundUnit.round_id == rnd.id)
            .options(sa.orm.contains_eager(Unit.estate), sa.orm.contains_eager(Unit.building))
            .order_by(Estate.name, Building.name, Unit.number)
        )
    )


def entrants_by_position(
    rnd: AllocationRound, start: int = 1, size: int = 100
) -> tuple[list[RoundEntrant], int | None]:
    """Drawn entrants from position ``start`` on (an index range, never an OFFSET), and the
    position the next page starts at (None at the end)."""
    rows = list(
        db.session.scalars(
            sa.select(RoundEntrant)
            .where(RoundEntrant.round_id == rnd.id, RoundEntrant.position >= start)
            .order_by(RoundEntrant.position)
            .options(
                sa.orm.selectinload(RoundEntrant.unit).selectinload(Unit.estate),
                sa.orm.selectinload(RoundEntrant.unit).selectinload(Unit.building),
            )
            .limit(size + 1)
        )
    )
    return rows[:size], rows[size].position if len(rows) > size else None


def entrants_by_code(
    rnd: AllocationRound, after: str = "", size: int = 100
) -> tuple[list[RoundEntrant], str | None]:
    """Entrants before the draw, by code after ``after``, and the code the next page
    follows (None at the end)."""
    rows = list(
        db.session.scalars(
            sa.select(RoundEntrant)
            .where(RoundEntrant.round_id == rnd.id, RoundEntrant.code > after)
            .order_by(RoundEntrant.code)
            .limit(size + 1)
        )
    )
    return rows[:size], rows[size - 1].code if len(rows) > size else None


# --- reading: the published data -------------------------------------------------------------


def published() -> sa.ColumnElement[bool]:
    """Rounds the public sees: approved on, or cancelled after approval."""
    return sa.or_(
        AllocationRound.status.in_(PUBLIC_STATUSES),
        sa.and_(
            AllocationRound.status == RoundStatus.CANCELLED,
            AllocationRound.approved_at.is_not(None),
        ),
    )


def public_rounds() -> list[AllocationRound]:
    return list(
        db.session.scalars(
            sa.select(AllocationRound)
            .where(published())
            .order_by(AllocationRound.approved_at.desc(), AllocationRound.id.desc())
        )
    )


def published_round(reference: str) -> AllocationRound | None:
    if not re.fullmatch(r"[A-Za-z0-9-]{1,24}", reference or ""):
        return None
    return db.session.scalars(
        sa.select(AllocationRound).where(AllocationRound.reference == reference, published())
    ).one_or_none()


def entrant_pairs(rnd: AllocationRound) -> list[tuple[str, bool]]:
    """``(code, sector)`` of every entrant, as committed to by the entrant list's hash."""
    return [
        (code, sector)
        for code, sector in db.session.execute(
            sa.select(RoundEntrant.code, RoundEntrant.sector).where(RoundEntrant.round_id == rnd.id)
        )
    ]


def entrants_file(rnd: AllocationRound) -> bytes:
    """The canonical entrant list whose SHA-256 was published (``entrants.txt``)."""
    return lottery.canonical_entrants(entrant_pairs(rnd))


def result_rows(rnd: AllocationRound) -> Iterator[dict[str, Any]]:
    """Every entrant's published result, by position: code, draw, position, unit (a label,
    when a unit was given), group, status."""
    unit_label = (
        sa.select(Estate.name, Building.name, Unit.number)
        .join(Estate, Estate.id == Unit.estate_id)
        .join(Building, Building.id == Unit.building_id)
        .join(RoundEntrant, RoundEntrant.unit_id == Unit.id)
        .where(RoundEntrant.round_id == rnd.id)
        .add_columns(RoundEntrant.id)
    )
    labels = {eid: f"{e} {b} {n}" for e, b, n, eid in db.session.execute(unit_label)}
    rows = db.session.execute(
        sa.select(
            RoundEntrant.id,
            RoundEntrant.code,
            RoundEntrant.draw,
            RoundEntrant.position,
            RoundEntrant.group,
            RoundEntrant.sector,
            RoundEntrant.status,
        )
        .where(RoundEntrant.round_id == rnd.id)
        .order_by(RoundEntrant.position, RoundEntrant.code)
    )
    for eid, code, draw_hex, position, group, sector, status in rows:
        yield {
            "code": code,
            "draw": draw_hex,
            "position": position,
            "unit": labels.get(eid),
            "group": group.value,
            "sector": sector,
            "status": status.value,
        }


def verification(rnd: AllocationRound) -> list[lottery.Check]:
    """The lottery's checks, computed now from the published data alone (empty before the
    draw or for a round ordered by queue rank)."""
    if rnd.method is not Method.LOTTERY or not rnd.published_seed:
        return []
    return lottery.verify(
        rnd.published_seed,
        rnd.seed_hash or "",
        entrant_pairs(rnd),
        rnd.entrants_hash or "",
        list(result_rows(rnd)),
        quota_count(rnd),
    )


def check_title(name: str) -> str:
    return str(CHECK_TITLES.get(name, name))


def status_counts(rnd: AllocationRound) -> dict[EntrantStatus, int]:
    return Counter(
        dict(
            db.session.execute(
                sa.select(RoundEntrant.status, sa.func.count())
                .where(RoundEntrant.round_id == rnd.id)
                .group_by(RoundEntrant.status)
            ).all()
        )
    )
