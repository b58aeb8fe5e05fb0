"""The application's way through the services: draft, submit, parallel checks, decision."""

from datetime import date

import pytest
import sqlalchemy as sa

from portal.accounts.models import District
from portal.accounts.roles import Role
from portal.applications import services
from portal.applications.models import PersonClaim, Programme, Relationship, Status
from portal.core.errors import DuplicateApplication, Forbidden, NotEligible, ValidationFailed
from portal.core.identifiers import make_id_number
from portal.credit.models import CreditBan
from portal.verification import services as verification
from portal.verification.departments import Department
from portal.verification.models import CheckStatus
from tests.factories import ResidentFactory
from tests.factories.applications import draft_for, settle_all, submit
from tests.factories.fixtures import make_staff
from tests.factories.registry import local_household

SPOUSE = make_id_number("450302", date(1987, 5, 5), 42)


@pytest.fixture
def district(db):
    from tests.factories import DistrictFactory

    return DistrictFactory(code="450302")


def test_household_goes_from_draft_to_officer_decision(db, district):
    resident = ResidentFactory()
    local_household((resident.real_name, resident.id_number), ("李梅", SPOUSE), married=True)
    app = draft_for(resident, district)
    services.add_member(
        app, resident, name="李梅", id_number=SPOUSE, relationship=Relationship.SPOUSE
    )
    app = submit(app, resident)
    assert app.status is Status.CHECKING
    assert app.reference.startswith("GL")
    checks = verification.checks_of(app)
    assert {c.department for c in checks} == set(Department)
    assert all(c.status is CheckStatus.MATCH for c in checks), [
        (c.department, c.status) for c in checks
    ]
    assert all(c.payload_hash and c.source for c in checks)
    settle_all(app)
    assert app.status is Status.REVIEW
    assert app.evaluation["eligible"] is True
    assert app.rule_version_id is not None
    officer = make_staff(Role.OFFICER, districts=[district])
    services.approve(app, officer)
    assert app.status is Status.APPROVED


def test_submitting_twice_gives_one_application(db, district):
    resident = ResidentFactory()
    local_household((resident.real_name, resident.id_number))
    app = draft_for(resident, district)
    first = submit(app, resident)
    second = submit(app, resident)
    assert first.id == second.id
    assert first.reference == second.reference
    assert db.session.scalar(sa.select(sa.func.count()).select_from(PersonClaim)) == 1


def test_a_member_of_another_active_application_is_refused(db, district):
    a, b = ResidentFactory(), ResidentFactory()
    local_household((a.real_name, a.id_number))
    app_a = draft_for(a, district)
    services.add_member(app_a, a, name="李梅", id_number=SPOUSE, relationship=Relationship.SPOUSE)
    submit(app_a, a)
    app_b = draft_for(b, district)
    with pytest.raises(DuplicateApplication):
        services.add_member(
            app_b, b, name="李梅", id_number=SPOUSE, relationship=Relationship.SPOUSE
        )


def test_unreported_spouse_is_found_and_explained(db, district):
    resident = ResidentFactory()
    local_household((resident.real_name, resident.id_number), ("李梅", SPOUSE), married=True)
    app = submit(draft_for(resident, district), resident)
    civil = next(c for c in verification.checks_of(app) if c.department is Department.CIVIL_AFFAIRS)
    assert civil.status is CheckStatus.MISMATCH
    assert civil.findings[0]["code"] == "spouse_missing"
    settle_all(app)
    assert app.evaluation["eligible"] is False
    codes = {r["code"]: r["passed"] for r in app.evaluation["results"]}
    assert codes["household_spouse_missing"] is False


def test_income_above_the_line_is_not_eligible(db, district):
    resident = ResidentFactory()
    local_household((resident.real_name, resident.id_number), wage=5000)
    app = submit(draft_for(resident, district), resident)
    settle_all(app)
    income = next(r for r in app.evaluation["results"] if r["code"] == "income")
    assert income["passed"] is False
    assert income["params"]["per_capita"] == "5000.00"
    officer = make_staff(Role.OFFICER, districts=[district])
    with pytest.raises(ValidationFailed):
        services.approve(app, officer)  # against the rules needs a reason
    services.reject(app, officer, "收入超过标准")
    assert app.status is Status.REJECTED
    assert db.session.scalar(sa.select(sa.func.count()).select_from(PersonClaim)) == 0


def test_missing_register_record_asks_for_a_document(db, district):
    resident = ResidentFactory()  # no registry data at all
    app = submit(draft_for(resident, district), resident)
    ps = next(c for c in verification.checks_of(app) if c.department is Department.PUBLIC_SECURITY)
    assert ps.status is CheckStatus.NO_DATA
    reviewer = make_staff(Role.REVIEWER, department=Department.PUBLIC_SECURITY)
    req = services.request_supplement(
        app, reviewer, document="户口簿", reason="无户籍记录", check=ps
    )
    assert app.status is Status.SUPPLEMENT
    assert req.deadline > app.submitted_at.date()


def test_officer_of_another_district_cannot_decide(db, district):
    from tests.factories import DistrictFactory

    resident = ResidentFactory()
    local_household((resident.real_name, resident.id_number))
    app = submit(draft_for(resident, district), resident)
    settle_all(app)
    stranger = make_staff(Role.OFFICER, districts=[DistrictFactory()])
    with pytest.raises(Forbidden):
        services.approve(app, stranger)


def test_reviewer_of_another_department_cannot_confirm(db, district):
    resident = ResidentFactory()
    local_household((resident.real_name, resident.id_number))
    app = submit(draft_for(resident, district), resident)
    check = next(c for c in verification.checks_of(app) if c.department is Department.PROPERTY)
    other = make_staff(Role.REVIEWER, department=Department.VEHICLES)
    with pytest.raises(Forbidden):
        verification.confirm(check, other)


def test_a_credit_ban_blocks_the_application(db, district):
    resident = ResidentFactory()
    db.session.add(
        CreditBan(
            id_index=resident.id_number_index,
            source="桂林市中级人民法院",
            reason="失信被执行人",
            starts_on=date(2025, 1, 1),
            ends_on=date(2030, 1, 1),
        )
    )
    db.session.flush()
    with pytest.raises(NotEligible):
        services.start_application(resident, Programme.PUBLIC_RENTAL)


def test_district_must_exist(db, district):
    resident = ResidentFactory()
    app = services.start_application(resident, Programme.PUBLIC_RENTAL)
    with pytest.raises(ValidationFailed):
        services.update_details(
            app,
            resident,
            contact_phone=resident.mobile,
            email=None,
            current_address="某地某路",
            district_code="nope",
            preferred_codes=[],
        )
    assert db.session.scalar(sa.select(sa.func.count()).select_from(District)) == 1


def test_an_unanswered_document_request_expires_and_the_officer_decides(db, district):
    from datetime import timedelta

    resident = ResidentFactory()
    app = submit(draft_for(resident, district), resident)
    ps = next(c for c in verification.checks_of(app) if c.department is Department.PUBLIC_SECURITY)
    reviewer = make_staff(Role.REVIEWER, department=Department.PUBLIC_SECURITY)
    req = services.request_supplement(
        app, reviewer, document="户口簿", reason="无户籍记录", check=ps
    )
    assert services.expire_overdue_supplements(req.deadline) == 0  # due that day, not yet late
    assert services.expire_overdue_supplements(req.deadline + timedelta(days=1)) == 1
    assert req.status.value == "expired"
    assert app.status is Status.REVIEW
    assert app.evaluation is not None
    assert services.expire_overdue_supplements(req.deadline + timedelta(days=2)) == 0
