"""Applications for tests: the way through the services, for tests that need one at a given
step; and ``qualified_application``, a qualified household made directly (no department
checks), fast enough for tests that need many."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta

from portal.accounts.roles import Role
from portal.accounts.services import id_index
from portal.applications import services
from portal.applications.models import (
    Application,
    HouseholdMember,
    PersonClaim,
    Programme,
    Relationship,
    Status,
)
from portal.applications.texts import texts_hash
from portal.core.clock import today
from portal.core.identifiers import make_id_number
from portal.extensions import db
from portal.verification import services as verification
from portal.verification.models import CheckStatus
from tests.factories import DistrictFactory, ResidentFactory
from tests.factories.fixtures import make_staff

_people = itertools.count()


def draft_for(resident, district, programme: Programme = Programme.PUBLIC_RENTAL) -> Application:
    """A complete draft; ``district`` is a District or its code."""
    code = getattr(district, "code", district)
    app = services.start_application(resident, programme)
    services.update_details(
        app,
        resident,
        contact_phone=resident.mobile,
        email=None,
        current_address="桂林市秀峰区中山中路1号",
        district_code=code,
        preferred_codes=[code],
    )
    return app


def submit(app: Application, resident) -> Application:
    """Sign (in Chinese) and submit; the departments are asked at once."""
    return services.submit(
        app,
        resident,
        accept_pledge=True,
        accept_authorization=True,
        accept_privacy=True,
        locale="zh_Hans_CN",
        shown_hash=texts_hash("zh_Hans_CN"),
    )


def settle_all(app: Application) -> None:
    """A reviewer of each department confirms its check (with a note where needed)."""
    for check in verification.checks_of(app):
        reviewer = make_staff(Role.REVIEWER, department=check.department)
        note = None if check.status is CheckStatus.MATCH else "seen the original"
        verification.confirm(check, reviewer, note)


# --- made directly ---------------------------------------------------------------------------


def _member_number(adult: bool) -> tuple[str, date]:
    """A valid ID number never used by another factory (region 450305 adults, 450306
    children; ResidentFactory uses 450302)."""
    n = next(_people)
    if adult:
        birth = date(1970, 1, 1) + timedelta(days=n // 1000)
        return make_id_number("450305", birth, n % 1000), birth
    birth = date(2015, 1, 1) + timedelta(days=n // 1000)
    return make_id_number("450306", birth, n % 1000), birth


def qualified_application(
    district=None,
    *,
    resident=None,
    household_size: int = 2,
    qualified_on: date | None = None,
    programme: Programme = Programme.PUBLIC_RENTAL,
) -> Application:
    """A QUALIFIED application of ``household_size`` persons in ``district`` (its only
    preferred one), qualified on ``qualified_on`` (60 days ago) and submitted 40 days
    before, with its members' person claims. The applicant is ``resident`` (a new one), the
    second member a spouse, further ones minor children."""
    district = district or DistrictFactory()
    resident = resident or ResidentFactory()
    qualified_on = qualified_on or today() - timedelta(days=60)
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
    app.members.append(
        HouseholdMember(
            position=0,
            name=resident.real_name or "居民",
            id_number=resident.id_number,
            id_index=resident.id_number_index,
            relation=Relationship.APPLICANT,
            birth_date=resident.birth_date or date(1980, 1, 1),
        )
    )
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
    db.session.flush()
    return app
