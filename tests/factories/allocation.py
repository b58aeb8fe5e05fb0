"""Allocation rounds for tests, built directly as rows (no proposal, approval or draw): a
round whose order is drawn, its units offered and its entrants in positions 1..n."""

from __future__ import annotations

import itertools
from datetime import timedelta

from portal.accounts.roles import Role
from portal.allocation.models import (
    AllocationRound,
    EntrantStatus,
    Method,
    RoundEntrant,
    RoundStatus,
    RoundUnit,
)
from portal.applications.models import Programme
from portal.core.clock import today, utcnow
from portal.extensions import db
from portal.housing.models import Unit, UnitStatus
from portal.notices.services import mask_name
from portal.waitlist.models import Group, QueueEntry
from tests.factories.fixtures import make_staff
from tests.factories.housing import UnitFactory

_rounds = itertools.count(1)


def ordered_round(
    district,
    *,
    units: list[Unit] | int = 2,
    entrants: list[QueueEntry] = (),
    method: Method = Method.LOTTERY,
    status: RoundStatus = RoundStatus.ORDERED,
    choose_days: int = 3,
    title: str | None = None,
) -> AllocationRound:
    """A round of ``district`` whose order is drawn: ``units`` (Units, or how many new
    45.50 m² units to make in the district) offered in it, ``entrants`` (queue entries) in
    positions 1..n in the order given, every one still waiting for its turn."""
    n = next(_rounds)
    if isinstance(units, int):
        units = [UnitFactory(district=district) for _ in range(units)]
    proposer = make_staff(Role.OFFICER, districts=[district])
    approver = make_staff(Role.MANAGER)
    now = utcnow()
    rnd = AllocationRound(
        reference=f"R{today().year}-T{n:04d}",
        title=title or f"测试批次{n}",
        programme=Programme.PUBLIC_RENTAL,
        district_id=district.id,
        method=method,
        groups=",".join(g.value for g in Group),
        sector_share=0,
        choose_days=choose_days,
        status=status,
        created_by_id=proposer.id,
        proposed_at=now - timedelta(days=3),
        approved_by_id=approver.id,
        approved_at=now - timedelta(days=2),
        entrant_count=len(entrants),
        ordered_at=now - timedelta(days=1),
    )
    db.session.add(rnd)
    db.session.flush()
    for unit in units:
        unit.status = UnitStatus.IN_ROUND
        db.session.add(RoundUnit(round_id=rnd.id, unit_id=unit.id))
    for position, entry in enumerate(entrants, start=1):
        app = entry.application
        db.session.add(
            RoundEntrant(
                round_id=rnd.id,
                entry_id=entry.id,
                code=app.reference,
                group=entry.group,
                sector=entry.sector is not None,
                household_size=entry.household_size,
                masked_name=mask_name(app.members[0].name),
                queue_rank=position,
                position=position,
                status=EntrantStatus.WAITING,
            )
        )
    db.session.flush()
    return rnd
