"""Queue entries for tests: a qualified household on the waiting list, made directly (no
department checks), fast enough for tests that need many."""

from __future__ import annotations

import itertools
import json
from datetime import UTC, date, datetime, timedelta

from portal.applications.models import (
    Application,
    HouseholdMember,
    PersonClaim,
    Programme,
    Relationship,
    Status,
)
from portal.core.clock import today
from portal.core.identifiers import make_id_number
from portal.extensions import db
from portal.waitlist import rules
from portal.waitlist.models import GROUP_ORDER, EntryStatus, Group, QueueEntry, Sector
from portal.waitlist.services import add_months, tiebreak_of
from tests.factories import DistrictFactory, ResidentFactory

_people = itertools.count()


def _member_number(adult: bool) -> tuple[str, date]:
    """A valid ID number never used by another factory (region 450305 adults, 450306
    children; ResidentFactory uses 450302)."""
    n = next(_people)
    if adult:
        birth = date(1970, 1, 1) + timedelta(days=n // 1000)
        return make_id_number("450305", birth, n % 1000), birth
    birth = date(2015, 1, 1) + timedelta(days=n // 1000)
    return make_id_number("450306", birth, n % 1000), birth


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
    """A qualified application (applicant plus members up to ``household_size``, their
    person claims) and its WAITING queue entry. The second member is a spouse, further ones
    are minor children. Not ranked yet: call ``services.rerank()`` for positions."""
    district = district or DistrictFactory()
    resident = resident or ResidentFactory()
    qualified_on = qualified_on or today() - timedelta(days=30)
    app = Application(
        applicant=resident,
        programme=programme,
        status=Status.QUALIFIED,
        district=district,
        contact_phone=resident.mobile,
        current_address="桂林市秀峰区中山中路1号",
        submitted_at=datetime.combine(qualified_on - timedelta(days=40), datetime.min.time(), UTC),
        qualified_at=datetime.combine(qualified_on, datetime.min.time(), UTC) + timedelta(hours=4),
    )
    app.preferred_districts = [district]
    applicant_birth = resident.birth_date or date(1980, 1, 1)
    app.members.append(
        HouseholdMember(
            position=0,
            name=resident.real_name or "居民",
            id_number=resident.id_number,
            id_index=resident.id_number_index,
            relation=Relationship.APPLICANT,
            birth_date=applicant_birth,
        )
    )
    from portal.accounts.services import id_index

    for pos in range(1, household_size):
        number, birth = _member_number(adult=pos == 1)
        app.members.append(
            HouseholdMember(
                position=pos,
                name=f"成员{pos}",
                id_number=number,
                id_index=id_index(number),
                relation=Relationship.SPOUSE if pos == 1 else Relationship.CHILD,
                birth_date=birth,
            )
        )
    db.session.add(app)
    db.session.flush()
    app.reference = f"GL{qualified_on.year}{app.id:06d}"
    for m in app.members:
        db.session.add(PersonClaim(id_index=m.id_index, application_id=app.id))
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
        birth_date=applicant_birth,
        tiebreak=tiebreak_of(app.reference),
        household_size=household_size,
        status=EntryStatus.WAITING,
        verified_on=qualified_on,
        next_verification_on=add_months(qualified_on, values["verify_every_months"]),
    )
    db.session.add(entry)
    db.session.flush()
    return entry
