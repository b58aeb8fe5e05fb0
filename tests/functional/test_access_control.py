"""Access control: deny by default and no mass assignment (B2), the role × route matrix and
object scope (B1), and the separation of the three powers, 三权分立 (B3).

The expected tables below are written out by hand from SECURITY.md and the ``@allow``
declarations as they are meant to be; they are deliberately not computed from the code
under test, so that a changed declaration makes a test fail.
"""

from __future__ import annotations

import html
import re
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from portal import create_app
from portal.accounts.models import LoginThrottle, User, UserSession
from portal.accounts.roles import Role
from portal.accounts.throttle import throttle_key
from portal.config import TestConfig
from portal.core.access import access_of
from portal.core.audit import AuditEvent
from portal.core.clock import today, utcnow
from tests.conftest import PortalClient
from tests.factories import PASSWORD, DistrictFactory, ResidentFactory
from tests.factories.fixtures import make_staff, sign_in, sign_in_staff

ANON = "anonymous"
ALL_ROLES = [ANON, *(r.value for r in Role)]


# ---------------------------------------------------------------- helpers


def _client_as(app, who: str, district=None):
    """A fresh browser signed in as a new account of role ``who`` (or anonymous); an
    officer works in ``district`` when given (else in a new district of their own)."""
    c = app.test_client()
    if who == ANON:
        return c, None
    role = Role(who)
    if role is Role.RESIDENT:
        user = ResidentFactory()
        resp = sign_in(c, user.mobile)
        assert resp.status_code == 302, resp.get_data(as_text=True)
    else:
        kwargs = {"districts": [district]} if role is Role.OFFICER and district else {}
        user = make_staff(role, **kwargs)
        sign_in_staff(c, user)
    return c, user


def _location(resp) -> tuple[str, dict[str, list[str]]]:
    parts = urlsplit(resp.headers["Location"])
    return parts.path, parse_qs(parts.query)


def _assert_login_redirect(resp, path: str) -> None:
    assert resp.status_code == 302
    where, query = _location(resp)
    assert where == "/login"
    assert query == {"next": [path]}


def _count_events(db, event: str, **where) -> int:
    stmt = sa.select(sa.func.count()).select_from(AuditEvent).where(AuditEvent.event == event)
    for column, value in where.items():
        stmt = stmt.where(getattr(AuditEvent, column) == value)
    return db.session.scalar(stmt)


def _reload(db, user: User) -> User:
    db.session.expire_all()
    return db.session.get(User, user.id)


# ---------------------------------------------------------------- B2: deny by default


def test_every_route_declares_who_may_use_it(app):
    undeclared = sorted(
        {
            f"{rule.endpoint} ({rule.rule})"
            for rule in app.url_map.iter_rules()
            if access_of(app.view_functions[rule.endpoint]) is None
        }
    )
    assert undeclared == [], f"routes without @public/@signed_in/@allow/@api_access: {undeclared}"


@pytest.fixture
def fresh_app(database_url, tmp_path):
    """A second application on the already migrated test database."""
    fresh = create_app(
        TestConfig, instance_path=str(tmp_path / "instance"), SQLALCHEMY_DATABASE_URI=database_url
    )
    fresh.test_client_class = PortalClient
    return fresh


def test_a_route_without_declaration_is_refused_even_to_an_administrator(fresh_app):
    def leaky():
        return "SECRET-PAYLOAD"

    fresh_app.add_url_rule("/undeclared", "undeclared", leaky, methods=["GET", "POST"])

    anonymous = fresh_app.test_client()
    resp = anonymous.get("/undeclared")
    assert resp.status_code == 403
    assert "SECRET-PAYLOAD" not in resp.get_data(as_text=True)
    resp = anonymous.post_form("/undeclared")
    assert resp.status_code == 403
    assert "SECRET-PAYLOAD" not in resp.get_data(as_text=True)

    admin_browser = fresh_app.test_client()
    sign_in_staff(admin_browser, make_staff(Role.ADMIN))
    assert admin_browser.get("/account").status_code == 200  # really signed in
    resp = admin_browser.get("/undeclared")
    assert resp.status_code == 403
    assert "SECRET-PAYLOAD" not in resp.get_data(as_text=True)


# ---------------------------------------------------------------- B2: no mass assignment


def test_account_form_ignores_fields_it_does_not_offer(resident_client, resident, db):
    resp = resident_client.post_form(
        "/account",
        {
            "locale": "en",
            "care_mode": "y",
            "role": "admin",
            "is_active": "0",
            "username": "x",
            "real_name": "Mallory",
            "department": "public_security",
            "must_change_password": "1",
        },
    )
    assert resp.status_code == 302
    user = _reload(db, resident)
    # the offered preferences are saved ...
    assert user.locale == "en"
    assert user.care_mode is True
    # ... and nothing else
    assert user.role is Role.RESIDENT
    assert user.is_active is True
    assert user.username is None
    assert user.real_name == resident.real_name
    assert user.department is None
    assert user.must_change_password is False
    # still an ordinary resident: staff pages stay closed
    assert resident_client.get("/me").status_code == 200
    assert resident_client.get("/staff/").status_code == 403


def _api_token(client, identifier: str) -> str:
    resp = client.post("/api/v1/auth/token", json={"identifier": identifier, "password": PASSWORD})
    assert resp.status_code == 201, resp.get_data(as_text=True)
    return resp.get_json()["access_token"]


@pytest.mark.parametrize("method", ["PATCH", "PUT", "POST"])
def test_api_me_cannot_be_written(client, resident, db, method):
    token = _api_token(client, resident.mobile)
    auth = {"Authorization": f"Bearer {token}"}
    resp = client.open(
        "/api/v1/me",
        method=method,
        json={"role": "admin", "is_active": False, "username": "x"},
        headers=auth,
    )
    assert resp.status_code == 405
    assert resp.mimetype == "application/problem+json"
    user = _reload(db, resident)
    assert user.role is Role.RESIDENT
    assert user.is_active is True
    assert user.username is None
    me = client.get("/api/v1/me", headers=auth)
    assert me.status_code == 200
    assert me.get_json()["role"] == "resident"


def test_staff_form_ignores_fields_it_does_not_offer(staff_client, db):
    admin_browser, admin = staff_client(Role.ADMIN)
    resp = admin_browser.post_form(
        "/admin/accounts/new",
        {
            "role": "auditor",
            "username": "plain.auditor",
            "real_name": "审计员甲",
            "department": "public_security",  # offered, but only reviewers keep one
            "must_change_password": "0",
            "is_active": "0",
            "totp_secret": "JBSWY3DPEHPK3PXP",
            "created_by_id": "1",
            "is_demo": "1",
        },
    )
    assert resp.status_code == 200, resp.get_data(as_text=True)[:300]
    created = db.session.scalars(sa.select(User).where(User.username == "plain.auditor")).one()
    assert created.role is Role.AUDITOR
    assert created.department is None
    assert created.must_change_password is True
    assert created.is_active is True
    assert created.totp_secret is None
    assert created.totp_confirmed_at is None
    assert created.created_by_id == admin.id
    assert created.is_demo is False


def test_staff_form_cannot_make_a_resident(staff_client, db):
    admin_browser, _admin = staff_client(Role.ADMIN)
    resp = admin_browser.post_form(
        "/admin/accounts/new",
        {"role": "resident", "username": "not.staff", "real_name": "居民乙"},
    )
    assert resp.status_code == 422
    assert db.session.scalar(sa.select(User.id).where(User.username == "not.staff")) is None


# ---------------------------------------------------------------- B1: role × route matrix

OK = 200
DENIED = 403
LOGIN = "login"  # 302 to /login?next=<the page>
STAFF_HOME = "staff-home"  # 302 to /staff/

STAFF_ONLY = {
    ANON: LOGIN,
    "resident": DENIED,
    "officer": OK,
    "reviewer": OK,
    "manager": OK,
    "admin": OK,
    "security": OK,
    "auditor": OK,
}

# rent and exit, rental subsidy, annual reviews: @allow(Role.OFFICER, Role.MANAGER)
HOUSING_STAFF = {
    ANON: LOGIN,
    "resident": DENIED,
    "officer": OK,
    "reviewer": DENIED,
    "manager": OK,
    "admin": DENIED,
    "security": DENIED,
    "auditor": DENIED,
}

MANAGER_ONLY = {
    ANON: LOGIN,
    "resident": DENIED,
    "officer": DENIED,
    "reviewer": DENIED,
    "manager": OK,
    "admin": DENIED,
    "security": DENIED,
    "auditor": DENIED,
}

# a household's own pages (/my/...): @allow(Role.RESIDENT)
RESIDENT_ONLY = {
    ANON: LOGIN,
    "resident": OK,
    "officer": DENIED,
    "reviewer": DENIED,
    "manager": DENIED,
    "admin": DENIED,
    "security": DENIED,
    "auditor": DENIED,
}

# page -> role -> expected answer (from the @allow declarations in portal/*/views.py);
# {award}, {lease}, {case}, {review}: a record in the district the officer works in,
# {month}: a computed month of rental subsidy
EXPECTED = {
    "/staff/": STAFF_ONLY,
    "/admin/accounts": {
        ANON: LOGIN,
        "resident": DENIED,
        "officer": DENIED,
        "reviewer": DENIED,
        "manager": DENIED,
        "admin": OK,
        "security": OK,
        "auditor": DENIED,
    },
    "/admin/accounts/new": {
        ANON: LOGIN,
        "resident": DENIED,
        "officer": DENIED,
        "reviewer": DENIED,
        "manager": DENIED,
        "admin": OK,
        "security": DENIED,
        "auditor": DENIED,
    },
    "/admin/accounts/{target}": {
        ANON: LOGIN,
        "resident": DENIED,
        "officer": DENIED,
        "reviewer": DENIED,
        "manager": DENIED,
        "admin": OK,
        "security": OK,
        "auditor": DENIED,
    },
    "/audit": {
        ANON: LOGIN,
        "resident": DENIED,
        "officer": DENIED,
        "reviewer": DENIED,
        "manager": DENIED,
        "admin": DENIED,
        "security": DENIED,
        "auditor": OK,
    },
    "/audit/verify": {
        ANON: LOGIN,
        "resident": DENIED,
        "officer": DENIED,
        "reviewer": DENIED,
        "manager": DENIED,
        "admin": DENIED,
        "security": DENIED,
        "auditor": OK,
    },
    "/me": {
        ANON: LOGIN,
        "resident": OK,
        "officer": STAFF_HOME,
        "reviewer": STAFF_HOME,
        "manager": STAFF_HOME,
        "admin": STAFF_HOME,
        "security": STAFF_HOME,
        "auditor": STAFF_HOME,
    },
    "/account": {
        ANON: LOGIN,
        "resident": OK,
        "officer": OK,
        "reviewer": OK,
        "manager": OK,
        "admin": OK,
        "security": OK,
        "auditor": OK,
    },
    "/staff/subsidy/": HOUSING_STAFF,
    "/staff/subsidy/runs/{month}": HOUSING_STAFF,
    "/staff/subsidy/awards": HOUSING_STAFF,
    "/staff/subsidy/awards/{award}": HOUSING_STAFF,
    "/staff/tenancy/": HOUSING_STAFF,
    "/staff/tenancy/leases/{lease}": HOUSING_STAFF,
    "/staff/tenancy/arrears": HOUSING_STAFF,
    "/staff/tenancy/import": HOUSING_STAFF,
    "/staff/tenancy/import/template.csv": HOUSING_STAFF,
    "/staff/tenancy/exits": HOUSING_STAFF,
    "/staff/tenancy/exits/{case}": HOUSING_STAFF,
    "/staff/annual-reviews": HOUSING_STAFF,
    "/staff/annual-reviews/{review}": HOUSING_STAFF,
    "/staff/annual-reviews/renewals": HOUSING_STAFF,
    "/manager/rules/subsidy": MANAGER_ONLY,
    "/manager/rules/tenancy": MANAGER_ONLY,
    "/manager/offices": MANAGER_ONLY,
    "/manager/targets": MANAGER_ONLY,
    "/manager/projects": MANAGER_ONLY,
    "/manager/projects/new": MANAGER_ONLY,
    "/manager/ledgers": MANAGER_ONLY,
    "/manager/dashboard": MANAGER_ONLY,
    "/manager/assessment": MANAGER_ONLY,
    "/my/home": RESIDENT_ONLY,
    "/my/subsidy": RESIDENT_ONLY,
    "/my/review": RESIDENT_ONLY,
}


def _records(page: str, district) -> dict[str, tuple[str, str | None]]:
    """The records ``page`` names, made in ``district``: placeholder -> (its value in the
    URL, the reference that shows it on its page)."""
    from portal.reviews import services as reviews
    from portal.reviews.models import ReviewKind
    from portal.subsidy import services as subsidy
    from portal.tenancy import exits
    from portal.tenancy.models import ExitReason
    from tests.factories.reviews import tenant_household
    from tests.factories.subsidy import award

    made: dict[str, tuple[str, str]] = {}
    if "{award}" in page:
        row = award(district)
        made["award"] = (str(row.id), row.reference)
    if "{lease}" in page or "{case}" in page or "{review}" in page:
        lease = tenant_household(district)
        made["lease"] = (str(lease.id), lease.reference)
        if "{case}" in page:
            case = exits.open_case(lease, ExitReason.ARREARS, "system", facts="欠租六个月")
            made["case"] = (str(case.id), case.reference)
        if "{review}" in page:
            review = reviews.open_review(
                lease.application, ReviewKind.ANNUAL, "system", due_on=lease.next_review_on
            )
            made["review"] = (str(review.id), review.reference)
    if "{month}" in page:
        month = subsidy.month_of(today())
        subsidy.compute_month(month, make_staff(Role.MANAGER))
        made["month"] = (f"{month:%Y-%m}", None)  # the URL names it, e.g. in the links
    return made


@pytest.mark.parametrize("who", ALL_ROLES)
@pytest.mark.parametrize("page", list(EXPECTED))
def test_page_access_matrix(app, db, page, who):
    target = ResidentFactory()
    district = DistrictFactory()
    records = _records(page, district)
    url = page.format(target=target.id, **{k: value for k, (value, _) in records.items()})
    browser, user = _client_as(app, who, district)
    expected = EXPECTED[page][who]

    resp = browser.get(url)

    if expected == LOGIN:
        _assert_login_redirect(resp, url)
    elif expected == STAFF_HOME:
        assert resp.status_code == 302
        assert _location(resp)[0] == "/staff/"
    elif expected == DENIED:
        assert resp.status_code == 403
        assert target.real_name not in resp.get_data(as_text=True)
        for _value, shown in records.values():
            assert shown is None or shown not in resp.get_data(as_text=True)
        # the denial is written to the audit log (E1)
        assert _count_events(db, "access.denied", actor_id=user.id, result="denied") == 1
    else:
        assert resp.status_code == 200, resp.get_data(as_text=True)[:500]
        if "{target}" in page:
            assert target.real_name in resp.get_data(as_text=True)
        for name, (_value, shown) in records.items():
            if shown is not None and "{" + name + "}" in page:
                assert shown in resp.get_data(as_text=True), name


# POST actions on an account page: the one role that may take each, and its effect.
ACTIONS = {
    "disable": "admin",
    "enable": "admin",
    "unlock": "security",
    "reset-totp": "security",
    "end-sessions": "security",
}


class _Target:
    """A staff account prepared for one action, and a check of whether the action happened."""

    def __init__(self, app, db, action: str):
        self.db = db
        self.action = action
        self.user = make_staff(Role.OFFICER)
        self.browser = None
        if action == "enable":
            self.user.is_active = False
            self.user.disabled_at = utcnow()
        elif action == "unlock":
            db.session.add(
                LoginThrottle(
                    key=throttle_key(self.user.username),
                    failures=5,
                    locked_until=utcnow() + timedelta(minutes=15),
                    last_failure_at=utcnow(),
                )
            )
        db.session.flush()
        if action == "end-sessions":
            self.browser = app.test_client()
            sign_in_staff(self.browser, self.user)
            assert self.browser.get("/staff/").status_code == 200
        self.app = app

    def happened(self) -> bool:
        user = _reload(self.db, self.user)
        if self.action == "disable":
            return user.is_active is False
        if self.action == "enable":
            return user.is_active is True
        if self.action == "unlock":
            # user-visible: the password step no longer answers 429
            status = sign_in(self.app.test_client(), user.username).status_code
            assert status in (302, 429)
            return status == 302
        if self.action == "reset-totp":
            return user.totp_confirmed_at is None and user.totp_secret is None
        # end-sessions: the target's browser is signed out
        resp = self.browser.get("/staff/")
        assert resp.status_code in (200, 302)
        return resp.status_code == 302


@pytest.mark.parametrize("who", ALL_ROLES)
@pytest.mark.parametrize("action", list(ACTIONS))
def test_account_actions_only_for_their_role(app, db, action, who):
    target = _Target(app, db, action)
    browser, _user = _client_as(app, who)
    url = f"/admin/accounts/{target.user.id}/{action}"

    resp = browser.post_form(url)

    if who == ANON:
        _assert_login_redirect(resp, url)
        assert not target.happened()
    elif who == ACTIONS[action]:
        assert resp.status_code == 302
        assert _location(resp)[0] == f"/admin/accounts/{target.user.id}"
        assert target.happened()
    else:
        assert resp.status_code == 403
        assert not target.happened()


def test_staff_without_second_factor_cannot_act(app, db):
    """Password given, TOTP not yet: every role-restricted page and action sends to /login/totp."""
    admin = make_staff(Role.ADMIN)
    target = ResidentFactory()
    browser = app.test_client()
    assert sign_in(browser, admin.username).status_code == 302

    for url in ("/staff/", "/admin/accounts", f"/admin/accounts/{target.id}", "/account", "/me"):
        resp = browser.get(url)
        assert resp.status_code == 302, url
        assert _location(resp)[0] == "/login/totp", url
    resp = browser.post_form(f"/admin/accounts/{target.id}/disable")
    assert resp.status_code == 302
    assert _location(resp)[0] == "/login/totp"
    assert _reload(db, target).is_active is True


# ---------------------------------------------------------------- B1: object scope


def test_ending_another_residents_session_answers_404_and_is_audited(
    app, db, resident_client, resident
):
    other = ResidentFactory()
    other_browser = app.test_client()
    assert sign_in(other_browser, other.mobile).status_code == 302
    other_session = db.session.scalars(
        sa.select(UserSession).where(UserSession.user_id == other.id)
    ).one()
    before = _count_events(db, "access.out_of_scope")

    resp = resident_client.post_form(f"/account/sessions/{other_session.id}/end")

    assert resp.status_code == 404
    db.session.expire_all()
    assert db.session.get(UserSession, other_session.id).revoked_at is None
    assert other_browser.get("/me").status_code == 200  # still signed in
    assert resident_client.get("/me").status_code == 200
    events = db.session.scalars(
        sa.select(AuditEvent).where(AuditEvent.event == "access.out_of_scope")
    ).all()
    assert len(events) == before + 1
    event = events[-1]
    assert event.object_type == "user_sessions"
    assert event.object_id == str(other_session.id)
    assert event.actor_id == resident.id
    assert event.result == "denied"


def test_ending_a_missing_session_answers_404_without_scope_event(db, resident_client):
    missing = (db.session.scalar(sa.select(sa.func.max(UserSession.id))) or 0) + 1000
    before = _count_events(db, "access.out_of_scope")

    resp = resident_client.post_form(f"/account/sessions/{missing}/end")

    assert resp.status_code == 404
    assert _count_events(db, "access.out_of_scope") == before
    assert _count_events(db, "access.out_of_scope", object_id=str(missing)) == 0


def test_ending_ones_own_other_session_works(app, db, resident_client, resident):
    """The control for the two tests above: in scope, the same request succeeds."""
    second = app.test_client()
    assert sign_in(second, resident.mobile).status_code == 302
    newest = db.session.scalars(
        sa.select(UserSession)
        .where(UserSession.user_id == resident.id)
        .order_by(UserSession.id.desc())
    ).first()

    resp = resident_client.post_form(f"/account/sessions/{newest.id}/end")

    assert resp.status_code == 302
    assert second.get("/me").status_code == 302
    assert resident_client.get("/me").status_code == 200


@pytest.mark.parametrize(
    "page",
    [
        "/staff/subsidy/awards/{award}",
        "/staff/tenancy/leases/{lease}",
        "/staff/tenancy/exits/{case}",
        "/staff/annual-reviews/{review}",
    ],
)
def test_another_districts_record_answers_404_to_an_officer_and_is_audited(app, db, page):
    records = _records(page, DistrictFactory())
    url = page.format(**{k: value for k, (value, _) in records.items()})
    browser, officer = _client_as(app, "officer")  # in a district of their own

    resp = browser.get(url)

    assert resp.status_code == 404
    for _value, shown in records.values():
        assert shown not in resp.get_data(as_text=True)
    assert _count_events(db, "access.out_of_scope", actor_id=officer.id, result="denied") == 1


def _household(district) -> dict[str, str]:
    """A tenant household with its lease, its subsidy against the rent and its annual
    review: the tenant's mobile and each record's reference."""
    from portal.reviews import services as reviews
    from portal.reviews.models import ReviewKind
    from portal.subsidy.models import AwardBasis
    from tests.factories.reviews import tenant_household
    from tests.factories.subsidy import award

    lease = tenant_household(district)
    subsidy = award(app=lease.application, basis=AwardBasis.TENANT, lease=lease)
    review = reviews.open_review(
        lease.application, ReviewKind.ANNUAL, "system", due_on=lease.next_review_on
    )
    return {
        "mobile": lease.tenant.mobile,
        "/my/home": lease.reference,
        "/my/subsidy": subsidy.reference,
        "/my/review": review.reference,
    }


@pytest.mark.parametrize("page", ["/my/home", "/my/subsidy", "/my/review"])
def test_a_households_pages_show_its_own_records_only(app, page):
    district = DistrictFactory()
    mine, theirs = _household(district), _household(district)
    browser = app.test_client()
    assert sign_in(browser, mine["mobile"]).status_code == 302

    resp = browser.get(page)

    assert resp.status_code == 200
    assert mine[page] in resp.get_data(as_text=True)
    assert theirs[page] not in resp.get_data(as_text=True)


# ---------------------------------------------------------------- B3: 三权分立


def _add_nested(db, row) -> None:
    with db.session.begin_nested():
        db.session.add(row)
        db.session.flush()


def _raw_update(db, sql: str, **params) -> None:
    with db.session.begin_nested():
        db.session.execute(sa.text(sql), params)


@pytest.mark.parametrize(
    "combined",
    ["admin,auditor", "admin auditor", "security,admin", "auditor;security", "admin|security"],
)
def test_database_refuses_a_combined_role(db, combined):
    admin = make_staff(Role.ADMIN)
    with pytest.raises(IntegrityError):
        _raw_update(db, "UPDATE users SET role = :role WHERE id = :id", role=combined, id=admin.id)
    assert (
        db.session.scalar(sa.text("SELECT role FROM users WHERE id = :id"), {"id": admin.id})
        == "admin"
    )


@pytest.mark.parametrize(
    ("who", "method", "path"),
    [
        ("admin", "GET", "/audit"),
        ("admin", "GET", "/audit/verify"),
        ("admin", "POST", "/admin/accounts/{target}/unlock"),
        ("admin", "POST", "/admin/accounts/{target}/end-sessions"),
        ("admin", "POST", "/admin/accounts/{target}/reveal"),
        ("auditor", "POST", "/admin/accounts/{target}/disable"),
        ("auditor", "GET", "/admin/accounts"),
        ("auditor", "GET", "/admin/accounts/new"),
        ("security", "GET", "/admin/accounts/new"),
        ("security", "POST", "/admin/accounts/new"),
        ("security", "POST", "/admin/accounts/{target}/disable"),
        ("security", "GET", "/audit"),
    ],
)
def test_separated_powers_cannot_use_each_others(app, db, who, method, path):
    target = make_staff(Role.OFFICER)
    browser, _user = _client_as(app, who)
    url = path.format(target=target.id)
    staff_before = db.session.scalar(sa.select(sa.func.count()).select_from(User))

    if method == "GET":
        resp = browser.get(url)
    else:
        resp = browser.post_form(
            url,
            {
                "role": "auditor",
                "username": "second.auditor",
                "real_name": "第二审计员",
                "reason": "checking identity",
            },
        )

    assert resp.status_code == 403
    user = _reload(db, target)
    assert user.is_active is True
    assert user.totp_confirmed_at is not None
    assert db.session.scalar(sa.select(sa.func.count()).select_from(User)) == staff_before
    assert user.id_number is None or user.id_number not in resp.get_data(as_text=True)


@pytest.mark.parametrize(
    ("role", "department"),
    [("reviewer", None), ("officer", "civil_affairs"), ("admin", "public_security")],
)
def test_database_refuses_department_mismatch(db, role, department):
    staff = make_staff(Role.MANAGER)
    with pytest.raises(IntegrityError):
        _raw_update(
            db,
            "UPDATE users SET role = :role, department = :department WHERE id = :id",
            role=role,
            department=department,
            id=staff.id,
        )
    assert (
        db.session.scalar(sa.text("SELECT role FROM users WHERE id = :id"), {"id": staff.id})
        == "manager"
    )


def test_database_refuses_a_new_reviewer_without_department(db):
    reviewer = User(
        role=Role.REVIEWER,
        username="reviewer.without.department",
        real_name="无部门审核员",
        password_hash="x",
        department=None,
    )
    with pytest.raises(IntegrityError):
        _add_nested(db, reviewer)
    assert db.session.scalar(sa.select(User.id).where(User.username == reviewer.username)) is None


ONE_TIME_PASSWORD = re.compile(r'<code class="secret">([^<]+)</code>')


def test_no_default_passwords_for_new_staff(app, staff_client, db):
    """Each new staff account gets its own random one-time password, changed at first use."""
    admin_browser, _admin = staff_client(Role.ADMIN)
    passwords = {}
    for username in ("first.security", "second.security"):
        resp = admin_browser.post_form(
            "/admin/accounts/new",
            {"role": "security", "username": username, "real_name": "安全员"},
        )
        assert resp.status_code == 200
        m = ONE_TIME_PASSWORD.search(resp.get_data(as_text=True))
        assert m, "the one-time password is shown once"
        passwords[username] = html.unescape(m.group(1))

    first, second = passwords.values()
    assert first != second
    assert min(len(first), len(second)) >= 12
    for username, password in passwords.items():
        assert username not in password
        user = db.session.scalars(sa.select(User).where(User.username == username)).one()
        assert user.must_change_password is True
        assert user.password_hash != password  # hashed, never stored in clear
        # signing in with it leads to setting up an authenticator, never to the pages
        browser = app.test_client()
        resp = sign_in(browser, username, password)
        assert resp.status_code == 302
        assert _location(resp)[0] == "/login/totp/setup"
        assert _location(browser.get("/admin/accounts"))[0] == "/login/totp/setup"
