"""Waiting-list services: joining, ranking, positions, officers' actions and rotation.

A qualified household joins the list (``join_queue``) with its group and points from
``portal/waitlist/rules.py``. Positions come from the stored ranking: ``rerank`` numbers
every waiting household in one ``INSERT … SELECT`` with window functions as a new
*generation* of ``queue_ranks`` and a ``queue_rankings`` row with the published figures,
then drops older generations, all in one transaction; so a household's position is two
primary-key look-ups (``position``) and a listing page at any depth is an index range
(``listing``). Changes ask for a new ranking with ``request_rerank``; a daily job also
brings the years-waited points up to date and re-ranks.

Rotation (动态监管): each waiting household is checked again against the departments'
data every ``verify_every_months`` (``reverify_due``). Still eligible, its group and points
are recomputed; no longer eligible, it is suspended with the reason and may object until
``object_by``; an officer then restores or removes it; without an objection it is removed
(``remove_unanswered``), and the household's members are free to apply again.
"""

from __future__ import annotations

import calendar
import functools
import json
import logging
import math
import time
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from flask import current_app

from portal.accounts.models import User
from portal.accounts.roles import Role
from portal.applications import rules as eligibility
from portal.applications.models import (
    Application,
    HouseholdMember,
    Programme,
    Relationship,
    Status,
)
from portal.applications.services import active_bans, release_claims, tell_applicant
from portal.core import audit
from portal.core.clock import CITY_TZ, today, utcnow
from portal.core.crypto import protector
from portal.core.errors import Forbidden, InvalidTransition, ValidationFailed
from portal.core.i18n import in_locale_of
from portal.core.i18n import lazy_gettext as _l
from portal.core.scope import lock_row
from portal.core.settings import RuleVersion, current_version, defaults
from portal.extensions import db
from portal.waitlist import rules
from portal.waitlist.models import (
    GROUP_ORDER,
    WAITING,
    EntryStatus,
    Group,
    QueueEntry,
    QueueEvent,
    QueueRank,
    QueueRanking,
    Sector,
)

log = logging.getLogger(__name__)

# Programmes whose qualified households wait for a unit (the rental subsidy is paid, not
# allocated).
QUEUED_PROGRAMMES = (Programme.PUBLIC_RENTAL, Programme.AFFORDABLE_RENTAL)
PAGE_SIZE = 50
OBJECTION_MIN = 10
OBJECTION_MAX = 2000
NOTE_MIN = 4
_PG_RANK_LOCK = 0x5155_4555_4500  # names the advisory lock that serializes re-rankings
RANK_WORK_MEM = "256MB"  # PostgreSQL memory for the ranking statement's window functions
SQLITE_RANK_CACHE_KIB = 262_144  # SQLite page cache while ranking (256 MiB at most)
_RERANK_FLAG = "portal.waitlist.rerank_requested"


# --- rules and small helpers -------------------------------------------------------------


def rule_version() -> RuleVersion:
    return current_version("waitlist")


def rule_values() -> dict[str, Any]:
    """The ``waitlist`` values in force, without storing the defaults (reading pages)."""
    row = db.session.scalars(
        sa.select(RuleVersion)
        .where(RuleVersion.key == "waitlist", RuleVersion.effective_from <= today())
        .order_by(RuleVersion.effective_from.desc(), RuleVersion.version.desc())
        .limit(1)
    ).first()
    return row.values if row is not None else defaults("waitlist")


def tiebreak_of(reference: str) -> str:
    """The last tie-break: HMAC-SHA256 of the reference under the portal's data key."""
    return protector().blind_index(reference, rules.TIEBREAK_PURPOSE)


def add_months(day: date, months: int) -> date:
    """The same day ``months`` later (or earlier), or the month's last day if it is shorter."""
    month = day.month - 1 + months
    year, month = day.year + month // 12, month % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def members_of(app: Application) -> list[rules.Member]:
    return [rules.Member(m.id_index, m.relation.value, m.birth_date) for m in app.members]


def applicant_of(app: Application) -> HouseholdMember:
    return next((m for m in app.members if m.relation is Relationship.APPLICANT), app.members[0])


def entry_event(entry: QueueEntry, kind: str, actor: User | None = None, **params) -> QueueEvent:
    """One step of the entry's history (``portal/waitlist/explain.py`` has its sentence)."""
    ev = QueueEvent(
        entry_id=entry.id,
        kind=kind,
        actor_id=getattr(actor, "id", None),
        params_json=json.dumps({k: str(v) for k, v in params.items()}, ensure_ascii=False),
    )
    db.session.add(ev)
    return ev


def events_of(entry: QueueEntry) -> list[QueueEvent]:
    return list(
        db.session.scalars(
            sa.select(QueueEvent).where(QueueEvent.entry_id == entry.id).order_by(QueueEvent.id)
        )
    )


def recorded_reasons(entry: QueueEntry) -> list[str]:
    """The priority reasons officers have recorded for the household (in its history)."""
    return sorted(
        {
            json.loads(p).get("reason", "")
            for p in db.session.scalars(
                sa.select(QueueEvent.params_json).where(
                    QueueEvent.entry_id == entry.id, QueueEvent.kind == "priority_recorded"
                )
            )
        }
        - {""}
    )


def _lock(entry: QueueEntry) -> QueueEntry:
    """Re-read the entry under a row lock: two people acting at once take turns."""
    return lock_row(QueueEntry, entry.id)


def _apply(entry: QueueEntry, assessment: rules.Assessment, version: RuleVersion) -> None:
    entry.group = Group(assessment.group)
    entry.group_order = GROUP_ORDER[entry.group]
    entry.points = assessment.points
    entry.points_json = json.dumps(assessment.items, ensure_ascii=False, sort_keys=True)
    entry.rule_version_id = version.id


def _set_status(entry: QueueEntry, status: EntryStatus, reason: str | None = None) -> None:
    entry.status = status
    entry.status_reason = reason
    entry.status_changed_at = utcnow()


def _qualified_on(app: Application) -> date:
    if app.qualified_at is None:
        return today()
    return app.qualified_at.astimezone(CITY_TZ).date()


# --- scope -------------------------------------------------------------------------------


def resident_scope(user: User) -> sa.ColumnElement[bool]:
    """A resident's own household's entries."""
    return QueueEntry.application_id.in_(
        sa.select(Application.id).where(Application.applicant_id == user.id)
    )


def officer_scope(user: User) -> sa.ColumnElement[bool]:
    """Entries an officer acts on: those of applications handled in their districts (B1)."""
    if user.role is not Role.OFFICER:
        return sa.false()
    return QueueEntry.application_id.in_(
        sa.select(Application.id).where(Application.district_id.in_([d.id for d in user.districts]))
    )


def reader_scope(user: User) -> sa.ColumnElement[bool]:
    """Entries a staff member may look at: officers their districts', managers all."""
    if user.role is Role.MANAGER:
        return sa.true()
    return officer_scope(user)


def readable_ids(user: User, entry_ids: list[int]) -> set[int]:
    """Which of ``entry_ids`` the staff member may open (the listing links only those)."""
    if not entry_ids:
        return set()
    return set(
        db.session.scalars(
            sa.select(QueueEntry.id).where(QueueEntry.id.in_(entry_ids), reader_scope(user))
        )
    )


def _require_officer(entry: QueueEntry, actor: User) -> None:
    app = entry.application
    if actor.role is not Role.OFFICER or app.district_id not in {d.id for d in actor.districts}:
        raise Forbidden()


def can_act(user: User, entry: QueueEntry) -> bool:
    return user.role is Role.OFFICER and entry.application.district_id in {
        d.id for d in user.districts
    }


# --- joining -----------------------------------------------------------------------------


def join_queue(app: Application, actor: User | str | None = None) -> QueueEntry:
    """Put a qualified household on the waiting list; a second call returns the same entry.

    Its group and points follow from the department facts settled for the application. The
    caller asks for a new ranking (``request_rerank``) once it has joined everyone.
    """
    existing = db.session.scalars(
        sa.select(QueueEntry).where(QueueEntry.application_id == app.id)
    ).one_or_none()
    if existing is not None:
        return existing
    if app.programme not in QUEUED_PROGRAMMES:
        raise InvalidTransition(_l("This programme has no waiting list."))
    if app.status is not Status.QUALIFIED:
        raise InvalidTransition(_l("Only a qualified household joins the waiting list."))
    from portal.verification.services import settled_facts

    version = rule_version()
    values = version.values
    on = today()
    qualified_on = _qualified_on(app)
    assessment = rules.assess(
        members_of(app),
        settled_facts(app),
        recorded=[],
        sector=None,
        qualified_on=qualified_on,
        on=on,
        values=values,
    )
    applicant = applicant_of(app)
    entry = QueueEntry(
        application_id=app.id,
        programme=app.programme,
        qualified_on=qualified_on,
        birth_date=applicant.birth_date,
        tiebreak=tiebreak_of(app.reference or f"draft:{app.id}"),
        household_size=len(app.members),
        status=EntryStatus.WAITING,
        refusals=0,
        verified_on=on,
        next_verification_on=add_months(on, int(values["verify_every_months"])),
    )
    _apply(entry, assessment, version)
    db.session.add(entry)
    db.session.flush()
    entry_event(entry, "joined", group=entry.group.value, points=entry.points)
    audit.record(
        "waitlist.join",
        actor=actor or "system",
        obj=entry,
        reference=app.reference,
        group=entry.group.value,
        points=entry.points,
        rule_version=version.id,
    )
    from portal.subsidy import hooks

    hooks.joined_queue(app, actor)
    return entry


# --- ranking -----------------------------------------------------------------------------


@functools.cache
def _current_ranking_statement() -> sa.Select:
    return sa.select(QueueRanking).order_by(QueueRanking.id.desc()).limit(1)


def current_ranking() -> QueueRanking | None:
    """The newest ranking (the primary key's last row)."""
    return db.session.scalars(_current_ranking_statement()).first()


def current_generation() -> int | None:
    return db.session.scalar(sa.select(sa.func.max(QueueRanking.id)))


def request_rerank() -> None:
    """Ask for a new ranking that includes this transaction's changes.

    With background workers the job is sent once per transaction, when it commits;
    in-process, the ranking is made at once (the caller has made its changes)."""
    from portal import jobs

    if not jobs.runs_async():
        jobs.enqueue("waitlist.rerank")
        return
    session = db.session()
    marker = id(session.get_nested_transaction() or session.get_transaction())
    if session.info.get(_RERANK_FLAG) == marker:
        return
    session.info[_RERANK_FLAG] = marker
    jobs.enqueue("waitlist.rerank")


def rank_statement(generation: int) -> sa.Insert:
    """The whole ranking as one INSERT … SELECT: each waiting household's rank in its
    programme and in its group, by :data:`portal.waitlist.rules.ORDER`."""
    e = QueueEntry.__table__.c
    order = [e[col].desc() if way == "desc" else e[col].asc() for col, way in rules.ORDER]
    select = sa.select(
        sa.literal(generation),
        e.id,
        e.programme,
        sa.func.row_number().over(partition_by=e.programme, order_by=order),
        sa.func.row_number().over(partition_by=[e.programme, e.group_order], order_by=order[1:]),
    ).where(WAITING)  # the partial index's own predicate, as a literal
    return sa.insert(QueueRank).from_select(
        ["generation", "entry_id", "programme", "rank", "group_rank"], select
    )


def _allocations_last_year(now: datetime) -> dict[str, int]:
    from portal.tenancy.models import Lease

    rows = db.session.execute(
        sa.select(Application.programme, sa.func.count(sa.distinct(Lease.application_id)))
        .join(Application, Application.id == Lease.application_id)
        .where(Lease.created_at >= now - timedelta(days=365))
        .group_by(Application.programme)
    ).all()
    return {p.value if hasattr(p, "value") else str(p): n for p, n in rows}


def _waiting_counts() -> dict[str, dict[str, int]]:
    order_to_group = {v: k.value for k, v in GROUP_ORDER.items()}
    counts: dict[str, dict[str, int]] = {}
    rows = db.session.execute(
        sa.select(QueueEntry.programme, QueueEntry.group_order, sa.func.count())
        .where(QueueEntry.status == EntryStatus.WAITING)
        .group_by(QueueEntry.programme, QueueEntry.group_order)
    ).all()
    for programme, order, n in rows:
        key = programme.value if hasattr(programme, "value") else str(programme)
        per = counts.setdefault(key, {"total": 0})
        per[order_to_group[order]] = n
        per["total"] += n
    return counts


def rerank(points_on: date | None = None) -> QueueRanking:
    """Number every waiting household now: a new generation, made current atomically.

    One statement writes every rank (``rank_statement``), reading the partial index
    ``ix_queue_entries_order`` in order, so no sort is needed. Older generations are deleted
    first, in the same transaction: readers keep seeing them until it commits (and SQLite
    empties a table without a WHERE clause without visiting its rows). Concurrent calls take
    turns (an advisory lock on PostgreSQL; SQLite has one writer at a time anyway)."""
    started = time.perf_counter()
    session = db.session
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        session.execute(sa.select(sa.func.pg_advisory_xact_lock(_PG_RANK_LOCK)))
        session.execute(sa.text(f"SET LOCAL work_mem = '{RANK_WORK_MEM}'"))
        # compiling the plan to machine code costs more than it saves for one statement
        session.execute(sa.text("SET LOCAL jit = off"))
    previous = current_ranking()
    now = utcnow()
    ranking = QueueRanking(ranked_at=now, stats_json="{}", duration_ms=0)
    session.add(ranking)
    session.flush()
    session.execute(sa.delete(QueueRank), execution_options={"synchronize_session": False})
    with _sqlite_cache(session, dialect):
        session.execute(rank_statement(ranking.id))
    session.execute(
        sa.delete(QueueRanking).where(QueueRanking.id < ranking.id),
        execution_options={"synchronize_session": False},
    )
    allocated = _allocations_last_year(now)
    last_points = points_on or (
        date.fromisoformat(previous.stats["points_on"])
        if previous is not None and previous.stats.get("points_on")
        else None
    )
    stats = {
        "waiting": _waiting_counts(),
        "allocated_365": allocated,
        "monthly_rate": {p: round(n / 12, 3) for p, n in allocated.items()},
        "points_on": last_points.isoformat() if last_points else None,
    }
    ranking.stats_json = json.dumps(stats, sort_keys=True)
    ranking.duration_ms = int((time.perf_counter() - started) * 1000)
    session.flush()
    return ranking


@contextmanager
def _sqlite_cache(session, dialect: str):
    """SQLite's page cache is 2 MB by default: writing a million ranks into the primary-key
    index (in entry order, not rank order) then goes to disk page by page. A larger cache
    for the one statement halves its time; the memory is given back afterwards."""
    if dialect != "sqlite":
        yield
        return
    before = session.execute(sa.text("PRAGMA cache_size")).scalar()
    session.execute(sa.text(f"PRAGMA cache_size = -{SQLITE_RANK_CACHE_KIB}"))
    try:
        yield
    finally:
        session.execute(sa.text(f"PRAGMA cache_size = {int(before)}"))


@dataclass(frozen=True)
class Position:
    """A waiting household's place in the current ranking."""

    rank: int  # 1 is next in the programme
    group_rank: int
    ahead_in_group: int
    waiting_total: int  # households waiting in the programme
    group_total: int
    ranked_at: datetime
    estimated_months: int | None  # None: no allocations in the last year to go by


def estimate_months(ahead: int, monthly_rate: float | None) -> int | None:
    """Households ahead divided by the households housed per month over the last year."""
    if not monthly_rate:
        return None
    return math.ceil(ahead / monthly_rate)


def position(entry: QueueEntry) -> Position | None:
    """The household's place: two primary-key look-ups (the newest ranking, then the
    household's row of it), never a count over the queue. None when the household is not
    waiting or joined after the newest ranking."""
    if entry.status is not EntryStatus.WAITING:
        return None
    ranking = current_ranking()
    if ranking is None:
        return None
    row = db.session.get(QueueRank, (ranking.id, entry.id))
    if row is None:
        return None
    stats = ranking.stats
    per = stats.get("waiting", {}).get(row.programme, {})
    rate = stats.get("monthly_rate", {}).get(row.programme)
    return Position(
        rank=row.rank,
        group_rank=row.group_rank,
        ahead_in_group=row.group_rank - 1,
        waiting_total=per.get("total", row.rank),
        group_total=per.get(entry.group.value, row.group_rank),
        ranked_at=ranking.ranked_at,
        estimated_months=estimate_months(row.rank - 1, rate),
    )


# --- listing (staff) ---------------------------------------------------------------------


@dataclass(frozen=True)
class ListingRow:
    rank: int
    group_rank: int
    entry_id: int
    group: Group
    household_size: int
    qualified_on: date
    points: int
    masked_name: str
    masked_id: str


@dataclass(frozen=True)
class Listing:
    programme: Programme
    group: Group | None
    page: int
    pages: int
    total: int
    rows: list[ListingRow]
    ranked_at: datetime | None  # None: no ranking yet


def _rank_window(stats: dict, programme: Programme, group: Group | None) -> tuple[int, int]:
    """(ranks before the window, households in it). Groups are consecutive in the order, so
    a group is a range of ranks: its first rank follows the groups before it."""
    per = stats.get("waiting", {}).get(programme.value, {})
    if group is None:
        return 0, int(per.get("total", 0))
    before = sum(int(per.get(g.value, 0)) for g in Group if GROUP_ORDER[g] < GROUP_ORDER[group])
    return before, int(per.get(group.value, 0))


@functools.cache
def _listing_statement() -> sa.Select:
    """Plain columns, not whole records, from three tables only, and built once: a page at
    any depth stays about a millisecond. (The application reference, one table further,
    is on the entry's own page.)"""
    return (
        sa.select(
            QueueRank.rank,
            QueueRank.group_rank,
            QueueEntry.id,
            QueueEntry.group,
            QueueEntry.household_size,
            QueueEntry.qualified_on,
            QueueEntry.points,
            HouseholdMember.name,
            HouseholdMember.id_number,
        )
        .join(QueueEntry, QueueEntry.id == QueueRank.entry_id)
        .join(
            HouseholdMember,
            sa.and_(
                HouseholdMember.application_id == QueueEntry.application_id,
                HouseholdMember.relation == Relationship.APPLICANT,
            ),
        )
        .where(
            QueueRank.generation == sa.bindparam("generation"),
            QueueRank.programme == sa.bindparam("programme"),
            QueueRank.rank.between(sa.bindparam("first"), sa.bindparam("last")),
        )
        .order_by(QueueRank.rank)
    )


def listing(programme: Programme, page: int = 1, group: Group | None = None) -> Listing:
    """One page (50 households) of the current ranking of ``programme``, optionally of one
    group. Any page costs the same: a range of ranks on ``ix_queue_ranks_listing``."""
    from portal.core.identifiers import mask_id_number
    from portal.notices.services import mask_name

    # the Core connection, not the ORM session: plain rows need no identity map
    conn = db.session.connection()
    ranking = conn.execute(_ranking_figures_statement()).first()
    if ranking is None:
        return Listing(programme, group, 1, 1, 0, [], None)
    before, total = _rank_window(json.loads(ranking.stats_json), programme, group)
    pages = max(1, math.ceil(total / PAGE_SIZE))
    page = min(max(1, page), pages)
    first = before + (page - 1) * PAGE_SIZE + 1
    last = before + min(page * PAGE_SIZE, total)
    rows = conn.execute(
        _listing_statement(),
        {"generation": ranking.id, "programme": programme.value, "first": first, "last": last},
    ).all()
    return Listing(
        programme,
        group,
        page,
        pages,
        total,
        [ListingRow(*r[:7], mask_name(r.name), mask_id_number(r.id_number)) for r in rows],
        ranking.ranked_at,
    )


@functools.cache
def _ranking_figures_statement() -> sa.Select:
    return (
        sa.select(QueueRanking.id, QueueRanking.ranked_at, QueueRanking.stats_json)
        .order_by(QueueRanking.id.desc())
        .limit(1)
    )


def long_waiters(
    user: User, on: date | None = None, limit: int = 500
) -> list[tuple[QueueEntry, int]]:
    """Households waiting longer than ``long_wait_years`` (RULES.md: the wait should not
    exceed five years), the longest first, with the years waited; an officer's: their
    districts'."""
    on = on or today()
    years = int(rule_values()["long_wait_years"])
    since = _years_before(on, years)
    entries = db.session.scalars(
        sa.select(QueueEntry)
        .where(
            QueueEntry.status == EntryStatus.WAITING,
            QueueEntry.qualified_on <= since,
            reader_scope(user),
        )
        .order_by(QueueEntry.qualified_on, QueueEntry.id)
        .limit(limit)
    ).all()
    return [(e, rules.waited_years(e.qualified_on, on)) for e in entries]


def _years_before(on: date, years: int) -> date:
    return add_months(on, -12 * years)


# --- household and allocation events -----------------------------------------------------


def mark_invited(entry: QueueEntry, round) -> None:
    """The household is invited to choose a unit in ``round`` (its history shows it)."""
    entry_event(entry, "invited", round=round.reference, title=round.title)


def mark_housed(entry: QueueEntry, actor: User | str | None, lease) -> None:
    """The household signed a lease: it leaves the list."""
    entry = _lock(entry)
    if entry.status is not EntryStatus.WAITING:
        raise InvalidTransition(_l("Only a waiting household can be housed."))
    _set_status(entry, EntryStatus.HOUSED)
    entry.object_by = None
    entry_event(entry, "housed", actor if isinstance(actor, User) else None, lease=lease.reference)
    audit.record("waitlist.housed", actor=actor or "system", obj=entry, lease=lease.reference)
    db.session.flush()
    from portal.subsidy import hooks

    hooks.housed(entry.application, lease, actor)
    request_rerank()


def record_refusal(entry: QueueEntry, actor: User, *, good_reason: bool, reason: str) -> bool:
    """A household refused an offered unit. Refusals without a good reason are counted; at
    ``max_refusals`` the household is removed from the list. Returns True if removed."""
    entry = _lock(entry)
    if entry.status is not EntryStatus.WAITING:
        raise InvalidTransition(_l("Only a waiting household can refuse a unit."))
    reason = (reason or "").strip()
    if not good_reason:
        entry.refusals += 1
    limit = int(rule_values()["max_refusals"])
    entry_event(
        entry,
        "refused",
        actor,
        good_reason="yes" if good_reason else "no",
        reason=reason,
        count=entry.refusals,
        limit=limit,
    )
    audit.record(
        "waitlist.refusal",
        actor=actor,
        obj=entry,
        good_reason=good_reason,
        refusals=entry.refusals,
    )
    if not good_reason and entry.refusals >= limit:
        _remove(entry, actor, "refusals", {"count": entry.refusals})
        request_rerank()
        return True
    db.session.flush()
    return False


def _remove(entry: QueueEntry, actor, code: str, params: dict[str, Any]) -> None:
    """Off the list for good: the household's members may apply again."""
    app = entry.application
    _set_status(entry, EntryStatus.REMOVED, json.dumps({"code": code, "params": params}))
    entry.object_by = None
    release_claims(app)
    entry_event(entry, "removed", actor if isinstance(actor, User) else None, code=code, **params)
    audit.record("waitlist.remove", actor=actor or "system", obj=entry, reason=code)
    from portal.subsidy import hooks

    hooks.left_queue(app, actor)
    from portal.waitlist.explain import removal_sentence

    tell_applicant(
        app,
        "waitlist_removed",
        {
            "reference": app.reference,
            "reason": in_locale_of(app.applicant, lambda: removal_sentence(code, params)),
        },
        link="/waitlist",
    )
    db.session.flush()


# --- officers' actions -------------------------------------------------------------------


def _note(note: str | None) -> str:
    note = (note or "").strip()
    if len(note) < NOTE_MIN:
        raise ValidationFailed(_l("Say what you saw (the document and its number)."), field="note")
    return note[:500]


def _reassess(entry: QueueEntry) -> tuple[int, str]:
    """Group and points again after an officer's change; returns the old points and group."""
    version = rule_version()
    before = (entry.points, entry.group.value)
    assessment = rules.reassess(
        entry.point_items,
        recorded=recorded_reasons(entry),
        sector=entry.sector.value if entry.sector else None,
        values=version.values,
    )
    _apply(entry, assessment, version)
    return before


def record_priority_reason(entry: QueueEntry, officer: User, reason: str, note: str) -> None:
    """Record a verified reason no department reports (a veteran's certificate, 见义勇为
    recognition, a serious-illness diagnosis…): it counts for the group and points."""
    entry = _lock(entry)
    _require_officer(entry, officer)
    if entry.status not in (EntryStatus.WAITING, EntryStatus.SUSPENDED):
        raise InvalidTransition()
    if reason not in rules.RECORDED_REASONS:
        raise ValidationFailed(_l("Choose the reason."), field="reason")
    if reason in recorded_reasons(entry):
        raise ValidationFailed(_l("This reason is already recorded."), field="reason")
    note = _note(note)
    entry_event(entry, "priority_recorded", officer, reason=reason, note=note)
    db.session.flush()
    points, group = _reassess(entry)
    audit.record(
        "waitlist.priority_reason",
        actor=officer,
        obj=entry,
        reason=reason,
        group=f"{group}->{entry.group.value}",
        points=f"{points}->{entry.points}",
    )
    db.session.flush()
    request_rerank()


def assign_sector(entry: QueueEntry, officer: User, sector: Sector | None, note: str) -> None:
    """Put the household in the sector quota (S) after seeing the employer's letter, or
    take it out (``sector`` None)."""
    entry = _lock(entry)
    _require_officer(entry, officer)
    if entry.status not in (EntryStatus.WAITING, EntryStatus.SUSPENDED):
        raise InvalidTransition()
    note = _note(note)
    if entry.sector == sector:
        raise ValidationFailed(_l("Nothing changes."), field="sector")
    entry.sector = sector
    entry_event(entry, "sector", officer, sector=sector.value if sector else "", note=note)
    _, group = _reassess(entry)
    audit.record(
        "waitlist.sector",
        actor=officer,
        obj=entry,
        sector=sector.value if sector else None,
        group=f"{group}->{entry.group.value}",
    )
    db.session.flush()
    request_rerank()


# --- rotation (动态监管) -------------------------------------------------------------------


def fresh_facts(app: Application) -> dict[str, dict[str, dict[str, Any]]] | None:
    """Ask every department again about the household, through the configured source (the
    same backends as the application's checks). None when a department did not answer."""
    from portal.verification.backends import Answer, PersonRef, get_source
    from portal.verification.departments import Department

    source = get_source()
    people = [PersonRef(m.id_index, m.id_number, m.name) for m in app.members]
    timeout = float(current_app.config["DEPARTMENT_TIMEOUT_SECONDS"])
    answers: list[Answer] = []
    if source.concurrent:
        with ThreadPoolExecutor(max_workers=len(Department)) as pool:
            futures = [pool.submit(source.lookup, d, people, timeout) for d in Department]
            for d, fut in zip(Department, futures, strict=True):
                try:
                    answers.append(fut.result(timeout=timeout + 1))
                except (FutureTimeout, Exception) as exc:  # a broken backend: try again later
                    answers.append(Answer(d, "error", source=source.name, error=str(exc)[:200]))
    else:
        answers = [source.lookup(d, people, timeout) for d in Department]
    if any(a.status != "ok" for a in answers):
        return None
    indexes = {p.index for p in people}
    return {a.department.value: {i: f for i, f in a.facts.items() if i in indexes} for a in answers}


def reverify(entry: QueueEntry, on: date | None = None, actor=None) -> str:
    """Check one waiting household again. Returns ``"kept"``, ``"suspended"`` or
    ``"unanswered"`` (a department did not answer: tried again on the next run)."""
    on = on or today()
    entry = _lock(entry)
    if entry.status is not EntryStatus.WAITING:
        raise InvalidTransition()
    app = entry.application
    facts = fresh_facts(app)
    if facts is None:
        last = db.session.scalar(
            sa.select(QueueEvent.kind)
            .where(QueueEvent.entry_id == entry.id)
            .order_by(QueueEvent.id.desc())
            .limit(1)
        )
        if last != "reverify_unanswered":  # one line in the history, not one a night
            entry_event(entry, "reverify_unanswered")
        return "unanswered"
    eligibility_version = current_version("eligibility", on)
    people = [eligibility.Person(m.id_index, m.relation.value, m.birth_date) for m in app.members]
    result = eligibility.evaluate(
        app.programme.value,
        people,
        facts,
        eligibility_version.values,
        on,
        active_bans([m.id_index for m in app.members], on),
    )
    version = current_version("waitlist", on)
    values = version.values
    if result.eligible is False:
        failed = [{"code": r.code, "params": r.params} for r in result.results if r.passed is False]
        _set_status(entry, EntryStatus.SUSPENDED, json.dumps(failed, ensure_ascii=False))
        entry.object_by = on + timedelta(days=int(values["objection_days"]))
        entry.objection = None
        entry.objected_at = None
        entry.verified_on = on
        entry_event(entry, "suspended", object_by=entry.object_by.isoformat())
        audit.record(
            "waitlist.suspend",
            actor=actor or "system",
            obj=entry,
            reasons=[f["code"] for f in failed],
            rule_version=eligibility_version.id,
        )
        from portal.waitlist.explain import suspension_sentences

        tell_applicant(
            app,
            "waitlist_suspended",
            {
                "reference": app.reference,
                "reason": in_locale_of(
                    app.applicant, lambda: " ".join(suspension_sentences(entry))
                ),
                "object_by": entry.object_by,
            },
            link="/waitlist",
        )
        db.session.flush()
        from portal.subsidy import hooks

        hooks.suspended(app, actor, "reverify")
        return "suspended"
    before = (entry.points, entry.group.value)
    assessment = rules.assess(
        members_of(app),
        facts,
        recorded=recorded_reasons(entry),
        sector=entry.sector.value if entry.sector else None,
        qualified_on=entry.qualified_on,
        on=on,
        values=values,
    )
    _apply(entry, assessment, version)
    entry.verified_on = on
    entry.next_verification_on = add_months(on, int(values["verify_every_months"]))
    entry_event(
        entry,
        "reverified",
        actor if isinstance(actor, User) else None,
        group=entry.group.value,
        points=entry.points,
        old_group=before[1],
        old_points=before[0],
    )
    audit.record(
        "waitlist.reverify",
        actor=actor or "system",
        obj=entry,
        group=f"{before[1]}->{entry.group.value}",
        points=f"{before[0]}->{entry.points}",
        rule_version=version.id,
    )
    db.session.flush()
    from portal.subsidy import hooks

    hooks.reverified(app, facts, actor, on)
    return "kept"


def reverify_now(entry: QueueEntry, officer: User) -> str:
    """An officer asks for the household's check now (e.g. after a reported change)."""
    _require_officer(entry, officer)
    outcome = reverify(entry, today(), officer)
    request_rerank()
    return outcome


def reverify_due(on: date | None = None, limit: int = 2000) -> dict[str, int]:
    """Check again every waiting household whose time has come (``next_verification_on``).
    One household's failure does not stop the others; at most ``limit`` per run, the
    longest overdue first (the rest follow on the next day)."""
    on = on or today()
    ids = db.session.scalars(
        sa.select(QueueEntry.id)
        .where(QueueEntry.status == EntryStatus.WAITING, QueueEntry.next_verification_on <= on)
        .order_by(QueueEntry.next_verification_on, QueueEntry.id)
        .limit(limit)
    ).all()
    counts = {"kept": 0, "suspended": 0, "unanswered": 0, "failed": 0}
    for entry_id in ids:
        entry = db.session.get(QueueEntry, entry_id)
        try:
            with db.session.begin_nested():
                counts[reverify(entry, on)] += 1
        except Exception:
            log.exception("re-verification of queue entry %s failed", entry_id)
            counts["failed"] += 1
    if counts["kept"] or counts["suspended"]:
        request_rerank()
    return counts


def object_to_suspension(entry: QueueEntry, resident: User, text: str) -> None:
    """The household answers a suspension before ``object_by``; an officer decides."""
    entry = _lock(entry)
    if entry.application.applicant_id != resident.id:
        raise Forbidden()
    if entry.status is not EntryStatus.SUSPENDED or entry.object_by is None:
        raise InvalidTransition(_l("Your household is not suspended."))
    if entry.objection:
        raise InvalidTransition(_l("Your objection is already with the housing office."))
    if today() > entry.object_by:
        raise InvalidTransition(_l("The time to object has passed."))
    text = (text or "").strip()
    if len(text) < OBJECTION_MIN:
        raise ValidationFailed(
            _l(
                "Explain in at least %(count)d characters what is wrong and how you can show it.",
                count=OBJECTION_MIN,
            ),
            field="objection",
        )
    if len(text) > OBJECTION_MAX:
        raise ValidationFailed(
            _l("Keep the text under %(count)d characters.", count=OBJECTION_MAX),
            field="objection",
        )
    entry.objection = text
    entry.objected_at = utcnow()
    entry_event(entry, "objected", resident)
    audit.record("waitlist.objection", actor=resident, obj=entry)
    db.session.flush()


def decide_objection(entry: QueueEntry, officer: User, *, restore: bool, reason: str) -> None:
    """An officer decides on a suspended household's objection: restore it to the list
    (its place follows from its original qualification date) or remove it."""
    entry = _lock(entry)
    _require_officer(entry, officer)
    if entry.status is not EntryStatus.SUSPENDED or not entry.objection:
        raise InvalidTransition(_l("There is no objection to decide."))
    reason = (reason or "").strip()
    if len(reason) < NOTE_MIN:
        raise ValidationFailed(
            _l("Give the reason, in words the household understands."), field="reason"
        )
    app = entry.application
    if restore:
        values = rule_values()
        _set_status(entry, EntryStatus.WAITING)
        entry.object_by = None
        entry.verified_on = today()
        entry.next_verification_on = add_months(today(), int(values["verify_every_months"]))
        entry_event(entry, "restored", officer, reason=reason)
        audit.record("waitlist.restore", actor=officer, obj=entry)
        from portal.subsidy import hooks

        hooks.restored(app, officer)
        tell_applicant(
            app,
            "waitlist_restored",
            {"reference": app.reference, "reason": reason},
            link="/waitlist",
        )
        db.session.flush()
    else:
        _remove(entry, officer, "objection_rejected", {"reason": reason})
    request_rerank()


CREDIT_SUSPENSION = "credit_record"  # the code of a suspension for a credit record


def _credit_items(entry: QueueEntry) -> list[dict[str, Any]] | None:
    """The credit records a suspended entry waits on, or None if it is not suspended for
    credit (``status_reason`` holds one item per record)."""
    if entry.status is not EntryStatus.SUSPENDED:
        return None
    try:
        items = json.loads(entry.status_reason or "")
    except ValueError:
        return None
    if not isinstance(items, list) or not items:
        return None
    if any(not isinstance(i, dict) or i.get("code") != CREDIT_SUSPENSION for i in items):
        return None
    return items


def suspend_for_credit(entry: QueueEntry, record, actor=None) -> bool:
    """A major or serious credit record of a household member suspends the household's
    place (RULES.md). Unlike a suspension after the yearly check there is no objection here
    (``object_by`` stays None, so ``remove_unanswered`` leaves it alone): the person objects
    to the record itself, and the place comes back when the record is annulled, repaired or
    expires (``lift_credit_suspension``). Returns True if the entry changed."""
    entry = _lock(entry)
    if entry.status is EntryStatus.WAITING:
        items: list[dict[str, Any]] = []
    else:
        items = _credit_items(entry)
        if items is None:  # housed, removed, or suspended after the yearly check
            return False
    if any(i["params"].get("record") == record.id for i in items):
        return False
    first = not items
    items.append(
        {"code": CREDIT_SUSPENSION, "params": {"record": record.id, "reference": record.reference}}
    )
    _set_status(entry, EntryStatus.SUSPENDED, json.dumps(items, ensure_ascii=False))
    entry.object_by = None
    entry.objection = None
    entry.objected_at = None
    entry_event(entry, "credit_suspended", reference=record.reference)
    audit.record(
        "waitlist.credit_suspend", actor=actor or "system", obj=entry, record=record.reference
    )
    if first:
        app = entry.application
        from portal.subsidy import hooks

        hooks.suspended(app, actor, "credit")
        tell_applicant(
            app,
            "waitlist_credit_suspended",
            {"reference": app.reference, "record": record.reference},
            link="/waitlist",
        )
    db.session.flush()
    request_rerank()
    return True


def lift_credit_suspension(entry: QueueEntry, record, actor=None) -> bool:
    """``record`` no longer suspends the household: back on the list (its place follows
    from its qualification date) unless another credit record still suspends it. Returns
    True if the household is waiting again."""
    entry = _lock(entry)
    items = _credit_items(entry)
    if items is None:
        return False
    rest = [i for i in items if i["params"].get("record") != record.id]
    if len(rest) == len(items):
        return False
    if rest:
        entry.status_reason = json.dumps(rest, ensure_ascii=False)
        db.session.flush()
        return False
    _set_status(entry, EntryStatus.WAITING)
    entry.object_by = None
    entry_event(
        entry,
        "credit_restored",
        actor if isinstance(actor, User) else None,
        reference=record.reference,
    )
    audit.record(
        "waitlist.credit_restore", actor=actor or "system", obj=entry, record=record.reference
    )
    app = entry.application
    from portal.subsidy import hooks

    hooks.restored(app, actor)
    tell_applicant(
        app,
        "waitlist_credit_restored",
        {"reference": app.reference, "record": record.reference},
        link="/waitlist",
    )
    db.session.flush()
    request_rerank()
    return True


def remove_unanswered(on: date | None = None) -> dict[str, int]:
    """Suspended households that did not object by ``object_by`` leave the list."""
    on = on or today()
    entries = db.session.scalars(
        sa.select(QueueEntry)
        .where(
            QueueEntry.status == EntryStatus.SUSPENDED,
            QueueEntry.object_by < on,
            QueueEntry.objection.is_(None),
        )
        .order_by(QueueEntry.id)
    ).all()
    for entry in entries:
        _remove(
            _lock(entry),
            "system:scheduler",
            "unanswered",
            {"object_by": entry.object_by.isoformat()},
        )
    return {"removed": len(entries)}


def objections_waiting(officer: User) -> list[QueueEntry]:
    """Suspended households of the officer's districts that objected: the oldest first."""
    return list(
        db.session.scalars(
            sa.select(QueueEntry)
            .where(
                QueueEntry.status == EntryStatus.SUSPENDED,
                QueueEntry.objection.is_not(None),
                officer_scope(officer),
            )
            .order_by(QueueEntry.objected_at, QueueEntry.id)
        )
    )


# --- years waited: the daily refresh -----------------------------------------------------


def refresh_waited_points(on: date | None = None, since: date | None = None) -> int:
    """Bring the years-waited points up to ``on`` for households whose qualification
    anniversary fell after ``since`` (default: the day before). Only anniversaries that
    still add points are looked at (``waited_points_max`` / ``waited_points_per_year``
    years), so the query reads a few days' worth of qualification dates per year."""
    on = on or today()
    since = since or on - timedelta(days=1)
    if since >= on:
        return 0
    since = max(since, on - timedelta(days=366))
    version = rule_version()
    values = version.values
    per_year = max(1, int(values["waited_points_per_year"]))
    years = math.ceil(int(values["waited_points_max"]) / per_year)
    windows = [
        sa.and_(
            QueueEntry.qualified_on > _years_before(since, k) - timedelta(days=1),
            QueueEntry.qualified_on <= _years_before(on, k),
        )
        for k in range(1, years + 1)
    ]
    entries = db.session.scalars(
        sa.select(QueueEntry).where(QueueEntry.status == EntryStatus.WAITING, sa.or_(*windows))
    ).all()
    changed = 0
    for entry in entries:
        total, items = rules.refresh_waited(entry.point_items, entry.qualified_on, on, values)
        text = json.dumps(items, ensure_ascii=False, sort_keys=True)
        if total == entry.points and text == entry.points_json:
            continue
        entry.points = total
        entry.points_json = text
        entry_event(entry, "points_waited", points=total)
        changed += 1
    db.session.flush()
    return changed


def daily_rerank(on: date | None = None) -> dict[str, Any]:
    """The daily job: years-waited points first, then a full ranking."""
    on = on or today()
    ranking = current_ranking()
    since = None
    if ranking is not None and ranking.stats.get("points_on"):
        since = date.fromisoformat(ranking.stats["points_on"])
    changed = refresh_waited_points(on, since)
    new = rerank(points_on=on)
    return {"points_changed": changed, "generation": new.id, "ms": new.duration_ms}


# --- the resident's view -----------------------------------------------------------------


def entry_of_resident(user: User) -> QueueEntry | None:
    """The resident's household's entry: a waiting or suspended one first, else the last."""
    entries = db.session.scalars(
        sa.select(QueueEntry).where(resident_scope(user)).order_by(QueueEntry.id.desc())
    ).all()
    active = [e for e in entries if e.status in (EntryStatus.WAITING, EntryStatus.SUSPENDED)]
    return (active or entries or [None])[0]


def can_object(entry: QueueEntry, on: date | None = None) -> bool:
    return (
        entry.status is EntryStatus.SUSPENDED
        and entry.object_by is not None
        and not entry.objection
        and (on or today()) <= entry.object_by
    )


def joined_after_ranking(entry: QueueEntry, ranking: QueueRanking | None) -> bool:
    return entry.status is EntryStatus.WAITING and (
        ranking is None or entry.joined_at >= ranking.ranked_at
    )
