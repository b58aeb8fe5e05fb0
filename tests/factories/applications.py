"""The application's way through the services, for tests that need one at a given step."""

from __future__ import annotations

from portal.accounts.roles import Role
from portal.applications import services
from portal.applications.models import Application, Programme
from portal.applications.texts import texts_hash
from portal.verification import services as verification
from portal.verification.models import CheckStatus
from tests.factories.fixtures import make_staff


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
