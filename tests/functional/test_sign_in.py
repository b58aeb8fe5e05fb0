"""Sign-in and sessions: SECURITY.md A2 (hashing), A3 (lockout, rate limits), A5 (sessions),
E1 (one audit event per failed sign-in)."""

from datetime import timedelta

import pytest
import sqlalchemy as sa
import time_machine
from argon2 import PasswordHasher, Type

from portal.accounts import services
from portal.accounts.models import UserSession
from portal.accounts.roles import Role
from portal.core.audit import AuditEvent
from portal.core.clock import utcnow
from tests.factories import PASSWORD, ResidentFactory
from tests.factories.fixtures import make_staff, sign_in


def events(db, name):
    return db.session.scalars(sa.select(AuditEvent).where(AuditEvent.event == name)).all()


def test_sign_in_by_mobile_and_by_id_number(client, resident):
    assert sign_in(client, resident.mobile).headers["Location"] == "/me"
    client.post_form("/logout")
    assert sign_in(client, resident.id_number.lower()).headers["Location"] == "/me"


def test_stored_hash_is_argon2id_with_required_cost(resident):
    assert resident.password_hash.startswith("$argon2id$v=19$")
    fields = dict(p.split("=") for p in resident.password_hash.split("$")[3].split(","))
    assert int(fields["t"]) >= 2
    assert int(fields["m"]) >= 19 * 1024
    assert int(fields["p"]) == 1


def test_legacy_hash_is_rewritten_at_sign_in(client, db):
    weak = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1, type=Type.ID)
    user = ResidentFactory(password_hash=weak.hash(PASSWORD))
    old = user.password_hash
    assert sign_in(client, user.mobile).status_code == 302
    db.session.refresh(user)
    assert user.password_hash != old
    fields = dict(p.split("=") for p in user.password_hash.split("$")[3].split(","))
    assert int(fields["m"]) >= 19 * 1024


def test_sixth_try_is_refused_with_retry_after_then_works_after_15_minutes(client, resident):
    with time_machine.travel(utcnow(), tick=False) as clock:
        for _ in range(5):
            assert sign_in(client, resident.mobile, "wrong password!!").status_code == 401
        resp = sign_in(client, resident.mobile)  # even the right password
        assert resp.status_code == 429
        assert 0 < int(resp.headers["Retry-After"]) <= 15 * 60
        clock.shift(timedelta(minutes=14))
        assert sign_in(client, resident.mobile).status_code == 429
        clock.shift(timedelta(minutes=1, seconds=1))
        assert sign_in(client, resident.mobile).status_code == 302


def test_unknown_user_and_wrong_password_answer_alike(client, resident):
    wrong = sign_in(client, resident.mobile, "wrong password!!")
    unknown = sign_in(client, "13000000000", "wrong password!!")
    assert wrong.status_code == unknown.status_code == 401

    def error_text(resp):
        html = resp.get_data(as_text=True)
        return html[html.index('class="errors"') :][:300]

    assert error_text(wrong) == error_text(unknown)


def test_unknown_identifier_is_locked_like_a_real_one(client):
    for _ in range(5):
        assert sign_in(client, "13000000000", "wrong password!!").status_code == 401
    assert sign_in(client, "13000000000", "wrong password!!").status_code == 429


def test_locked_identifier_costs_no_hashing(client, resident, monkeypatch):
    for _ in range(5):
        sign_in(client, resident.mobile, "wrong password!!")
    calls = []
    monkeypatch.setattr(services.hashing, "check_password", lambda *a: calls.append(a))
    assert sign_in(client, resident.mobile).status_code == 429
    assert calls == []


def test_ten_attempts_per_address_per_five_minutes(client):
    for i in range(10):
        resp = sign_in(client, f"1300000{i:04d}", "wrong password!!")
        assert resp.status_code == 401
    resp = sign_in(client, "13000009999", "wrong password!!")
    assert resp.status_code == 429
    assert int(resp.headers["Retry-After"]) > 0


def test_failed_sign_in_writes_exactly_one_audit_event(client, db, resident):
    before = len(events(db, "auth.login"))
    sign_in(client, resident.mobile, "wrong password!!")
    new = events(db, "auth.login")[before:]
    assert len(new) == 1
    assert new[0].result == "failure"
    assert new[0].actor_id == resident.id
    assert resident.id_number not in new[0].details
    assert resident.mobile not in new[0].details


def test_cookie_replayed_after_sign_out_is_refused(client, app, resident):
    sign_in(client, resident.mobile)
    cookie = client.get_cookie("portal_session", domain="portal.test").value
    assert client.post_form("/logout").status_code == 302
    thief = app.test_client()
    thief.set_cookie("portal_session", cookie, domain="portal.test")
    resp = thief.get("/me")
    assert resp.status_code == 302
    assert resp.headers["Location"].startswith("/login")


def test_new_session_at_sign_in(client, db, resident):
    client.get("/")
    before = client.get_cookie("portal_session", domain="portal.test")
    sign_in(client, resident.mobile)
    after = client.get_cookie("portal_session", domain="portal.test")
    assert after is not None
    assert before is None or before.value != after.value
    assert (
        db.session.scalar(
            sa.select(sa.func.count())
            .select_from(UserSession)
            .where(UserSession.user_id == resident.id)
        )
        == 1
    )


@pytest.mark.parametrize(("role", "minutes"), [(Role.RESIDENT, 30), (Role.OFFICER, 15)])
def test_idle_timeout(app, role, minutes):
    from tests.factories.fixtures import sign_in_staff

    client = app.test_client()
    with time_machine.travel(utcnow(), tick=False) as clock:
        if role is Role.RESIDENT:
            user = ResidentFactory()
            sign_in(client, user.mobile)
            page = "/me"
        else:
            user = make_staff(role)
            sign_in_staff(client, user)
            page = "/staff/"
        clock.shift(timedelta(minutes=minutes - 1))
        assert client.get(page).status_code == 200  # activity resets the idle clock
        clock.shift(timedelta(minutes=minutes - 1))
        assert client.get(page).status_code == 200
        clock.shift(timedelta(minutes=minutes, seconds=1))
        resp = client.get(page)
        assert resp.status_code == 302
        assert resp.headers["Location"].startswith("/login")


def test_password_change_ends_other_sessions(app, resident):
    laptop, phone = app.test_client(), app.test_client()
    sign_in(laptop, resident.mobile)
    sign_in(phone, resident.mobile)
    new = "a brand new passphrase 42"
    resp = laptop.post_form(
        "/account/password", {"current": PASSWORD, "password": new, "confirm": new}
    )
    assert resp.status_code == 302
    assert laptop.get("/me").status_code == 200
    assert phone.get("/me").status_code == 302
    assert sign_in(app.test_client(), resident.mobile, new).status_code == 302


def test_password_change_checks_current_password_and_policy(resident_client):
    resp = resident_client.post_form(
        "/account/password",
        {"current": "not my password", "password": "x" * 20, "confirm": "x" * 20},
    )
    assert resp.status_code == 422
    resp = resident_client.post_form(
        "/account/password", {"current": PASSWORD, "password": "short", "confirm": "short"}
    )
    assert resp.status_code == 422


def test_disabling_an_account_ends_its_sessions(app, db, resident):
    client = app.test_client()
    sign_in(client, resident.mobile)
    admin = make_staff(Role.ADMIN)
    services.set_active(admin, resident, False)
    db.session.flush()
    assert client.get("/me").status_code == 302
    assert sign_in(app.test_client(), resident.mobile).status_code == 401


def test_user_can_end_one_of_their_sessions(app, db, resident):
    laptop, phone = app.test_client(), app.test_client()
    sign_in(laptop, resident.mobile)
    sign_in(phone, resident.mobile)
    rows = db.session.scalars(
        sa.select(UserSession).where(UserSession.user_id == resident.id).order_by(UserSession.id)
    ).all()
    phone_session = rows[-1]
    resp = laptop.post_form(f"/account/sessions/{phone_session.id}/end")
    assert resp.status_code == 302
    assert phone.get("/me").status_code == 302
    assert laptop.get("/me").status_code == 200


def test_sign_in_redirects_only_to_local_pages(client, resident):
    resp = client.post_form(
        "/login?next=https://evil.example/x",
        {"identifier": resident.mobile, "password": PASSWORD},
    )
    assert resp.headers["Location"] == "/me"
    client.post_form("/logout")
    resp = client.post_form(
        "/login?next=/account", {"identifier": resident.mobile, "password": PASSWORD}
    )
    assert resp.headers["Location"] == "/account"


def test_an_eighteen_character_sign_in_name_is_not_taken_for_an_id_number(client):
    officer = make_staff(Role.REVIEWER, username="demo.civil-affairs")
    assert len(officer.username) == 18
    resp = sign_in(client, officer.username)
    assert resp.status_code == 302
    assert resp.headers["Location"].startswith("/login/totp")
