"""Queue entries for tests: a qualified household on the waiting list, made directly (no
department checks), fast enough for tests that need many."""

from __future__ import annotations

import json
from datetime import date, timedelta

from portal.applications.models import Programme
from portal.core.clock import today
from portal.extensions import db
from portal.waitlist import rules
from portal.waitlist.models import GROUP_ORDER, EntryStatus, Group, QueueEntry, Sector
from portal.waitlist.services import add_months, tiebreak_of
from tests.factories.applications import qualified_application


def waiting_entry(
    district=None,
    *,
    group: Group = Group.G,
    household_size: int = 2,
    qualified_on: date | None = None,
    points: int = 0,
    programme: Programme = Programme.PUBLIC_RENTAL,
    resident=None,
) -> QueueEntry:
    """A qualified application (``applications.qualified_application``, qualified 30 days
    ago unless ``qualified_on``) and its WAITING queue entry. Not ranked yet: call
    ``services.rerank()`` for positions."""
    qualified_on = qualified_on or today() - timedelta(days=30)
    app = qualified_application(
        district,
        resident=resident,
        household_size=household_size,
        qualified_on=qualified_on,
        programme=programme,
    )
    items = (
        [{"category": "given", "code": "given", "points": points, "params": {}, "counted": True}]
        if points
        else []
    )
    values = rules.DEFAULTS
    entry = QueueEntry(
        application_id=app.id,
        programme=programme,
        group=group,
        group_order=GROUP_ORDER[group],
        sector=Sector.SANITATION if group is Group.S else None,
        qualified_on=qualified_on,
        points=points,
        points_json=json.dumps(items),
        birth_date=app.members[0].birth_date,
        tiebreak=tiebreak_of(app.reference),
        household_size=household_size,
        status=EntryStatus.WAITING,
        verified_on=qualified_on,
        next_verification_on=add_months(qualified_on, values["verify_every_months"]),
    )
    db.session.add(entry)
    db.session.flush()
    return entry
