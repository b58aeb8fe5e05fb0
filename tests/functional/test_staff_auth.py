"""Staff accounts: created by an administrator with a one-time password, second factor
(SECURITY.md A4), forced password change."""

import re

import pyotp
import pytest
import sqlalchemy as sa
import time_machine

from portal.accounts.models import User
from portal.accounts.roles import Role
from portal.core.clock import utcnow
from tests.factories import DistrictFactory
from tests.factories.fixtures import make_staff, sign_in, sign_in_staff, totp_now


def test_staff_without_second_factor_cannot_reach_staff_pages(client):
    officer = make_staff(Role.OFFICER)
    resp = sign_in(client, officer.username)
    assert resp.headers["Location"].startswith("/login/totp")
    for page in ("/staff/", "/account", "/me"):
        resp = client.get(page)
        assert resp.status_code == 302
        assert resp.headers["Location"].startswith("/login/totp")


def test_staff_with_code_reaches_the_workbench(client):
    officer = make_staff(Role.OFFICER)
    sign_in_staff(client, officer)
    html = client.get("/staff/").get_data(as_text=True)
    assert officer.districts[0].name_zh in html


def test_a_replayed_code_fails(app, db):
    officer = make_staff(Role.OFFICER)
    with time_machine.travel(utcnow(), tick=False):
        code = totp_now(officer)
        first = app.test_client()
        sign_in(first, officer.username)
        assert first.post_form("/login/totp", {"code": code}).status_code == 302
        second = app.test_client()
        sign_in(second, officer.username)
        resp = second.post_form("/login/totp", {"code": code})
        assert resp.status_code == 422
        assert second.get("/staff/").status_code == 302


def test_wrong_codes_lock_the_second_step(client):
    officer = make_staff(Role.OFFICER)
    sign_in(client, officer.username)
    for _ in range(5):
        assert client.post_form("/login/totp", {"code": "000000"}).status_code == 422
    resp = client.post_form("/login/totp", {"code": totp_now(officer)})
    assert resp.status_code == 429
    assert "Retry-After" in resp.headers


def _create_staff_via_page(client, **fields):
    resp = client.post_form("/admin/accounts/new", fields)
    html = resp.get_data(as_text=True)
    return resp, html


def test_administrator_creates_officer_who_sets_up_authenticator(app, db, staff_client):
    district = DistrictFactory()
    admin_client, admin = staff_client(Role.ADMIN)
    resp, html = _create_staff_via_page(
        admin_client,
        role="officer",
        username="Li.Ming",
        real_name="李明",
        districts=[district.code],
    )
    assert resp.status_code == 200
    one_time = re.search(r'<code class="secret">([^<]+)</code>', html).group(1)
    user = db.session.scalars(sa.select(User).where(User.username == "li.ming")).one()
    assert user.must_change_password
    assert user.created_by_id == admin.id
    assert [d.code for d in user.districts] == [district.code]

    newcomer = app.test_client()
    resp = sign_in(newcomer, "li.ming", one_time)
    assert resp.headers["Location"].startswith("/login/totp/setup")
    html = newcomer.get("/login/totp/setup").get_data(as_text=True)
    assert "<svg" in html  # QR code drawn by the portal itself
    secret = re.search(r'<code class="secret">([A-Z2-7]+)</code>', html).group(1)
    resp = newcomer.post_form("/login/totp/setup", {"code": pyotp.TOTP(secret).now()})
    assert resp.headers["Location"].startswith("/account/password")
    assert newcomer.get("/staff/").headers["Location"].startswith("/account/password")
    # staff passwords need three character classes
    weak = "onlylowercaseletters"
    resp = newcomer.post_form(
        "/account/password", {"current": one_time, "password": weak, "confirm": weak}
    )
    assert resp.status_code == 422
    strong = "Guilin-Officer-2026"
    resp = newcomer.post_form(
        "/account/password", {"current": one_time, "password": strong, "confirm": strong}
    )
    assert resp.status_code == 302
    assert newcomer.get("/staff/").status_code == 200


@pytest.mark.parametrize(
    ("fields", "error_field"),
    [
        ({"role": "officer", "username": "a.b", "real_name": "甲"}, "districts"),
        ({"role": "reviewer", "username": "c.d", "real_name": "乙"}, "department"),
        ({"role": "manager", "username": "bad name!", "real_name": "丙"}, "username"),
    ],
)
def test_staff_form_explains_what_is_missing(staff_client, db, fields, error_field):
    admin_client, _ = staff_client(Role.ADMIN)
    resp, html = _create_staff_via_page(admin_client, **fields)
    assert resp.status_code == 422
    assert f'id="{error_field}-error"' in html
    assert db.session.scalar(sa.select(sa.func.count()).select_from(User)) == 1  # the admin


def test_security_officer_resets_a_second_factor(app, staff_client, db):
    officer = make_staff(Role.OFFICER)
    victim_client = app.test_client()
    sign_in_staff(victim_client, officer)
    sec_client, _ = staff_client(Role.SECURITY)
    resp = sec_client.post_form(f"/admin/accounts/{officer.id}/reset-totp")
    assert resp.status_code == 302
    db.session.refresh(officer)
    assert officer.totp_confirmed_at is None
    assert officer.totp_secret is None
    assert victim_client.get("/staff/").status_code == 302  # session ended
    fresh = app.test_client()
    assert sign_in(fresh, officer.username).headers["Location"].startswith("/login/totp/setup")


def test_security_officer_lifts_a_lock(app, staff_client, resident):
    for _ in range(5):
        sign_in(app.test_client(), resident.mobile, "wrong password!!")
    assert sign_in(app.test_client(), resident.mobile).status_code == 429
    sec_client, _ = staff_client(Role.SECURITY)
    html = sec_client.get(f"/admin/accounts/{resident.id}").get_data(as_text=True)
    assert "Sign-in locked" in html or "登录已锁定" in html
    assert sec_client.post_form(f"/admin/accounts/{resident.id}/unlock").status_code == 302
    assert sign_in(app.test_client(), resident.mobile).status_code == 302


def test_security_officer_resets_a_residents_password_at_the_counter(
    app, staff_client, resident, db
):
    from tests.factories import PASSWORD

    phone = app.test_client()
    sign_in(phone, resident.mobile)
    sec_client, _ = staff_client(Role.SECURITY)
    resp = sec_client.post_form(
        f"/admin/accounts/{resident.id}/reset-password", {"reset-reason": ""}
    )
    assert resp.status_code == 422  # the identity check must be recorded
    resp = sec_client.post_form(
        f"/admin/accounts/{resident.id}/reset-password",
        {"reset-reason": "ID card checked at counter"},
    )
    assert resp.status_code == 200
    one_time = re.search(r'<code class="secret">([^<]+)</code>', resp.get_data(as_text=True)).group(
        1
    )
    assert phone.get("/me").status_code == 302  # the old sign-in ended
    assert sign_in(app.test_client(), resident.mobile, PASSWORD).status_code == 401
    fresh = app.test_client()
    assert (
        sign_in(fresh, resident.mobile, one_time)
        .headers["Location"]
        .startswith("/account/password")
    )
    new = "a fresh passphrase for me"
    resp = fresh.post_form(
        "/account/password", {"current": one_time, "password": new, "confirm": new}
    )
    assert resp.status_code == 302
    assert fresh.get("/me").status_code == 200


def test_only_the_security_officer_resets_passwords(staff_client, resident):
    for role in (Role.ADMIN, Role.OFFICER, Role.AUDITOR):
        client, _ = staff_client(role)
        resp = client.post_form(
            f"/admin/accounts/{resident.id}/reset-password", {"reset-reason": "ID card checked"}
        )
        assert resp.status_code == 403
