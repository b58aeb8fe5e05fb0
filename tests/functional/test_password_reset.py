"""Forgotten password (找回密码): a resident resets it with a code sent by SMS.

SECURITY.md A1 (policy on the new password), A3 (no account enumeration, lockout),
A5 (every session ends), E1 (audit events)."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
import sqlalchemy as sa
import time_machine

from portal.accounts.models import ApiToken, PasswordResetCode
from portal.accounts.reset import code_hash
from portal.accounts.roles import Role
from portal.accounts.services import id_index, mobile_index
from portal.core.audit import AuditEvent
from portal.core.clock import utcnow
from portal.core.identifiers import make_id_number
from portal.notifications.models import Message
from portal.notifications.services import deliver_outbox
from tests.factories import PASSWORD, ResidentFactory
from tests.factories.fixtures import make_staff, sign_in

NEW_PASSWORD = "Lotus-Pond-Evening-Bell-42"
SENT_TEXT = "If the details match an account, a code has been sent to that mobile number."
WRONG_CODE_TEXT = "The code is not correct or has expired."
CODE_RE = re.compile(r"(?<!\d)(\d{6})(?!\d)")
CSRF_VALUE_RE = re.compile(r'(name="csrf_token" type="hidden" value=")[^"]+"')
UNREGISTERED_ID = make_id_number("450302", date(1977, 7, 7), 777)


class FakeSms:
    def __init__(self):
        self.sent: list[tuple[str, str]] = []

    def send(self, mobile: str, text: str) -> None:
        self.sent.append((mobile, text))


@pytest.fixture(autouse=True)
def _english(client):
    """Pages and flashes in English, so the tests can read them (Chinese: the last test)."""
    client.set_cookie("locale", "en", domain="portal.test")


@pytest.fixture
def sms(app):
    gateway = FakeSms()
    app.extensions["portal.sms"] = gateway
    yield gateway
    app.extensions.pop("portal.sms", None)


def texts_to(sms: FakeSms, mobile: str) -> list[str]:
    """Deliver the outbox (the job's work) and return the texts this number received."""
    deliver_outbox()
    return [text for to, text in sms.sent if to == mobile]


def last_code(sms: FakeSms, mobile: str) -> str:
    texts = texts_to(sms, mobile)
    assert texts, "no text message was sent"
    return CODE_RE.search(texts[-1]).group(1)


def other_code(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


def ask(client, id_number: str, mobile: str, **kwargs):
    return client.post_form("/password-reset", {"id_number": id_number, "mobile": mobile}, **kwargs)


def confirm(client, id_number: str, code: str, password: str = NEW_PASSWORD, **kwargs):
    return client.post_form(
        "/password-reset/confirm",
        {"id_number": id_number, "code": code, "password": password, "confirm": password},
        **kwargs,
    )


def events(db, name: str) -> list[AuditEvent]:
    return db.session.scalars(
        sa.select(AuditEvent).where(AuditEvent.event == name).order_by(AuditEvent.id)
    ).all()


def page_text(resp) -> str:
    """The page without the per-request CSRF token, to compare two answers."""
    return CSRF_VALUE_RE.sub(r"\1TOKEN", resp.get_data(as_text=True))


# ---------------------------------------------------------------- the whole way through


def test_resident_resets_a_forgotten_password_through_the_pages(client, db, sms):
    resident = ResidentFactory(locale="en")
    login = client.get("/login").get_data(as_text=True)
    assert 'href="/password-reset"' in login
    assert "Forgot your password?" in login

    page = client.get("/password-reset")
    assert page.status_code == 200
    assert "Reset your password" in page.get_data(as_text=True)

    resp = ask(client, resident.id_number, resident.mobile)
    assert resp.status_code == 302
    assert resp.headers["Location"] == "/password-reset/confirm"
    confirm_page = client.get("/password-reset/confirm").get_data(as_text=True)
    assert SENT_TEXT in confirm_page

    [text] = texts_to(sms, resident.mobile)
    code = CODE_RE.search(text).group(1)
    assert "expires in 10 minutes" in text
    assert "Never share it" in text

    resp = confirm(client, resident.id_number, code)
    assert resp.status_code == 302
    assert resp.headers["Location"] == "/login"
    assert "Your password has been reset" in client.get("/login").get_data(as_text=True)

    assert sign_in(client, resident.mobile, PASSWORD).status_code == 401
    assert sign_in(client, resident.mobile, NEW_PASSWORD).headers["Location"] == "/me"
    db.session.refresh(resident)
    assert resident.password_hash.startswith("$argon2id$")
    [event] = events(db, "account.password_reset")
    assert event.actor_id == resident.id
    assert event.result == "success"


def test_the_code_goes_by_sms_only_never_as_an_in_app_message(client, db, sms, resident):
    ask(client, resident.id_number, resident.mobile)
    code = last_code(sms, resident.mobile)
    assert (
        db.session.scalar(
            sa.select(sa.func.count()).select_from(Message).where(Message.user_id == resident.id)
        )
        == 0
    )
    assert code  # it did go out, as a text message


def test_chinese_text_message_for_a_chinese_account(client, sms):
    resident = ResidentFactory(locale="zh_Hans_CN")
    ask(client, resident.id_number, resident.mobile)
    [text] = texts_to(sms, resident.mobile)
    assert CODE_RE.search(text)
    assert "10" in text
    assert "验证码" in text


def test_id_number_in_lower_case_and_code_with_full_width_digits_work(client, sms, resident):
    ask(client, resident.id_number.lower(), resident.mobile)
    code = last_code(sms, resident.mobile)
    full_width = "".join(chr(ord(c) + 0xFEE0) for c in code)
    assert confirm(client, resident.id_number.lower(), full_width).status_code == 302
    assert sign_in(client, resident.mobile, NEW_PASSWORD).status_code == 302


# ---------------------------------------------------------------- the code


def test_a_code_works_only_once(client, db, sms, resident):
    ask(client, resident.id_number, resident.mobile)
    code = last_code(sms, resident.mobile)
    assert confirm(client, resident.id_number, code).status_code == 302

    again = confirm(client, resident.id_number, code, "Another-Quiet-Harbour-77")
    assert again.status_code == 422
    assert WRONG_CODE_TEXT in again.get_data(as_text=True)
    assert sign_in(client, resident.mobile, "Another-Quiet-Harbour-77").status_code == 401
    assert sign_in(client, resident.mobile, NEW_PASSWORD).status_code == 302


def test_a_code_expires_after_10_minutes(client, sms, resident):
    with time_machine.travel(utcnow(), tick=False) as clock:
        ask(client, resident.id_number, resident.mobile)
        code = last_code(sms, resident.mobile)
        clock.shift(timedelta(minutes=10, seconds=1))
        resp = confirm(client, resident.id_number, code)
        assert resp.status_code == 422
        assert WRONG_CODE_TEXT in resp.get_data(as_text=True)
    assert sign_in(client, resident.mobile, PASSWORD).status_code == 302  # unchanged


def test_a_code_still_works_just_before_10_minutes(client, sms, resident):
    with time_machine.travel(utcnow(), tick=False) as clock:
        ask(client, resident.id_number, resident.mobile)
        code = last_code(sms, resident.mobile)
        clock.shift(timedelta(minutes=9, seconds=50))
        assert confirm(client, resident.id_number, code).status_code == 302


def test_a_new_request_makes_the_older_code_useless(client, sms, resident):
    ask(client, resident.id_number, resident.mobile)
    first = last_code(sms, resident.mobile)
    ask(client, resident.id_number, resident.mobile)
    second = last_code(sms, resident.mobile)
    if first != second:  # one chance in a million that both are the same digits
        assert confirm(client, resident.id_number, first).status_code == 422
    assert confirm(client, resident.id_number, second).status_code == 302


def test_the_stored_code_is_a_keyed_hash_not_the_digits(client, db, sms, resident):
    ask(client, resident.id_number, resident.mobile)
    code = last_code(sms, resident.mobile)
    [stored] = db.session.execute(sa.text("SELECT code_hash FROM password_reset_codes")).one()
    assert code not in stored
    assert re.fullmatch(r"[0-9a-f]{64}", stored)
    assert stored == code_hash(code, resident.id)  # bound to the account and to the key
    assert stored != code_hash(code, resident.id + 1)


# ---------------------------------------------------------------- no account enumeration


def test_unknown_pairs_answer_exactly_like_a_known_one_and_send_nothing(client, db, sms):
    resident = ResidentFactory()
    other = ResidentFactory()
    tries = {
        "known": (resident.id_number, resident.mobile),
        "unknown ID number": (UNREGISTERED_ID, resident.mobile),
        "another account's mobile": (resident.id_number, other.mobile),
        "unknown mobile": (resident.id_number, "13700000001"),
    }
    answers = {}
    for name, (id_number, mobile) in tries.items():
        resp = ask(client, id_number, mobile)
        follow = client.get(resp.headers["Location"])
        answers[name] = (resp.status_code, resp.headers["Location"], page_text(follow))
    assert answers["known"][0] == 302
    assert SENT_TEXT in answers["known"][2]
    assert all(answer == answers["known"] for answer in answers.values()), answers.keys()

    deliver_outbox()
    assert [to for to, _ in sms.sent] == [resident.mobile]
    assert db.session.scalar(sa.select(sa.func.count()).select_from(PasswordResetCode)) == 1


def test_staff_get_no_code(client, db, sms):
    id_number = make_id_number("450302", date(1980, 3, 3), 303)
    officer = make_staff(
        Role.OFFICER,
        id_number=id_number,
        id_number_index=id_index(id_number),
        mobile="13600000003",
        mobile_index=mobile_index("13600000003"),
    )
    resident = ResidentFactory()
    staff_answer = ask(client, officer.id_number, officer.mobile)
    staff_page = page_text(client.get("/password-reset/confirm"))
    resident_answer = ask(client, resident.id_number, resident.mobile)
    resident_page = page_text(client.get("/password-reset/confirm"))
    assert staff_answer.status_code == resident_answer.status_code == 302
    assert staff_page == resident_page

    deliver_outbox()
    assert officer.mobile not in [to for to, _ in sms.sent]
    assert (
        db.session.scalar(
            sa.select(sa.func.count())
            .select_from(PasswordResetCode)
            .where(PasswordResetCode.user_id == officer.id)
        )
        == 0
    )
    assert "security officer" in client.get("/password-reset").get_data(as_text=True)


def test_a_disabled_account_gets_no_code(client, sms):
    resident = ResidentFactory(is_active=False)
    assert ask(client, resident.id_number, resident.mobile).status_code == 302
    assert texts_to(sms, resident.mobile) == []


def test_badly_typed_numbers_are_explained(client, sms, resident):
    last = resident.id_number[-1]
    wrong_check = resident.id_number[:-1] + ("0" if last != "0" else "1")
    resp = ask(client, wrong_check, resident.mobile)
    assert resp.status_code == 422
    assert "not valid" in resp.get_data(as_text=True)
    assert texts_to(sms, resident.mobile) == []


# ---------------------------------------------------------------- limits


def test_the_fourth_code_within_an_hour_is_not_sent(client, db, sms, resident):
    with time_machine.travel(utcnow(), tick=False) as clock:
        for _ in range(3):
            assert ask(client, resident.id_number, resident.mobile).status_code == 302
            clock.shift(timedelta(minutes=5))
        assert len(texts_to(sms, resident.mobile)) == 3

        fourth = ask(client, resident.id_number, resident.mobile)
        assert fourth.status_code == 302
        assert fourth.headers["Location"] == "/password-reset/confirm"
        assert SENT_TEXT in client.get("/password-reset/confirm").get_data(as_text=True)
        assert len(texts_to(sms, resident.mobile)) == 3
        assert events(db, "account.password_reset_code")[-1].result == "refused"

        clock.shift(timedelta(minutes=46))  # the first code is now over an hour old
        assert ask(client, resident.id_number, resident.mobile).status_code == 302
        assert len(texts_to(sms, resident.mobile)) == 4


def test_five_wrong_codes_lock_the_reset_for_15_minutes(client, db, sms, resident):
    with time_machine.travel(utcnow(), tick=False) as clock:
        ask(client, resident.id_number, resident.mobile)
        code = last_code(sms, resident.mobile)
        for _ in range(5):
            resp = confirm(client, resident.id_number, other_code(code))
            assert resp.status_code == 422
            assert WRONG_CODE_TEXT in resp.get_data(as_text=True)
        locked = confirm(client, resident.id_number, code)  # even the right code
        assert locked.status_code == 429
        assert 0 < int(locked.headers["Retry-After"]) <= 15 * 60
        assert "Too many wrong codes" in locked.get_data(as_text=True)
        assert sign_in(client, resident.mobile, NEW_PASSWORD).status_code == 401

        clock.shift(timedelta(minutes=15, seconds=1))
        ask(client, resident.id_number, resident.mobile)
        assert (
            confirm(client, resident.id_number, last_code(sms, resident.mobile)).status_code == 302
        )

    failed = events(db, "account.password_reset_failed")
    assert [e.details_dict["reason"] for e in failed] == ["wrong_code"] * 5 + ["locked"]
    assert all(resident.id_number not in e.details for e in failed)


def test_an_unknown_id_number_is_locked_like_a_real_one(client, resident):
    for _ in range(5):
        assert confirm(client, UNREGISTERED_ID, "123456").status_code == 422
        assert confirm(client, resident.id_number, "123456").status_code == 422
    unknown = confirm(client, UNREGISTERED_ID, "123456")
    known = confirm(client, resident.id_number, "123456")
    assert unknown.status_code == known.status_code == 429


def test_one_failed_confirmation_answers_alike_for_an_unknown_id_number(client, resident):
    known = confirm(client, resident.id_number, "123456")
    unknown = confirm(client, UNREGISTERED_ID, "123456")
    assert known.status_code == unknown.status_code == 422

    def errors(resp):
        html = resp.get_data(as_text=True)
        return html[html.index('class="errors"') :][:300]

    assert errors(known) == errors(unknown)


# ---------------------------------------------------------------- the new password


def test_the_new_password_must_pass_the_policy(client, sms, resident):
    ask(client, resident.id_number, resident.mobile)
    code = last_code(sms, resident.mobile)
    with_birth_date = f"Spring-{resident.birth_date:%Y%m%d}-river"
    resp = confirm(client, resident.id_number, code, with_birth_date)
    assert resp.status_code == 422
    assert "Do not use your birth date in your password." in resp.get_data(as_text=True)
    resp = confirm(client, resident.id_number, code, "short-pw-11")
    assert resp.status_code == 422
    assert "Use at least 12 characters." in resp.get_data(as_text=True)
    assert sign_in(client, resident.mobile, with_birth_date).status_code == 401

    # the refused passwords did not use the code up
    assert confirm(client, resident.id_number, code).status_code == 302


def test_the_two_passwords_must_match(client, sms, resident):
    ask(client, resident.id_number, resident.mobile)
    code = last_code(sms, resident.mobile)
    resp = client.post_form(
        "/password-reset/confirm",
        {
            "id_number": resident.id_number,
            "code": code,
            "password": NEW_PASSWORD,
            "confirm": NEW_PASSWORD + "x",
        },
    )
    assert resp.status_code == 422
    assert "The two passwords differ." in resp.get_data(as_text=True)


# ---------------------------------------------------------------- what a reset ends


def test_a_reset_ends_every_session_and_api_token(app, client, db, sms, resident):
    elsewhere = app.test_client()
    assert sign_in(elsewhere, resident.mobile).status_code == 302
    assert elsewhere.get("/me").status_code == 200
    token = client.post(
        "/api/v1/auth/token", json={"identifier": resident.mobile, "password": PASSWORD}
    ).get_json()["access_token"]
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).status_code == 200

    ask(client, resident.id_number, resident.mobile)
    assert confirm(client, resident.id_number, last_code(sms, resident.mobile)).status_code == 302

    resp = elsewhere.get("/me")
    assert resp.status_code == 302
    assert resp.headers["Location"].startswith("/login")
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    revoked = db.session.scalars(
        sa.select(ApiToken.revoked_at).where(ApiToken.user_id == resident.id)
    ).all()
    assert revoked
    assert all(at is not None for at in revoked)


def test_a_reset_lifts_the_sign_in_lock(client, sms, resident):
    for _ in range(5):
        sign_in(client, resident.mobile, "wrong password!!")
    assert sign_in(client, resident.mobile, PASSWORD).status_code == 429
    ask(client, resident.id_number, resident.mobile)
    assert confirm(client, resident.id_number, last_code(sms, resident.mobile)).status_code == 302
    assert sign_in(client, resident.mobile, NEW_PASSWORD).status_code == 302


# ---------------------------------------------------------------- CSRF and languages


def test_both_forms_need_the_csrf_token(client, db, sms, resident):
    client.get("/password-reset")
    resp = client.post(
        "/password-reset", data={"id_number": resident.id_number, "mobile": resident.mobile}
    )
    assert resp.status_code == 400
    assert texts_to(sms, resident.mobile) == []

    ask(client, resident.id_number, resident.mobile)
    code = last_code(sms, resident.mobile)
    data = {
        "id_number": resident.id_number,
        "code": code,
        "password": NEW_PASSWORD,
        "confirm": NEW_PASSWORD,
    }
    assert client.post("/password-reset/confirm", data=data).status_code == 400
    assert sign_in(client, resident.mobile, NEW_PASSWORD).status_code == 401
    assert confirm(client, resident.id_number, code).status_code == 302  # code not used up


@pytest.mark.parametrize(
    ("locale", "html_lang", "words"),
    [
        ("en", "en", ["Reset your password", "Choose a new password", "Forgot your password?"]),
        ("zh_Hans_CN", "zh-Hans", ["找回密码", "设置新密码", "忘记密码？"]),
    ],
)
def test_pages_render_in_english_and_chinese(client, locale, html_lang, words):
    client.set_cookie("locale", locale, domain="portal.test")
    pages = [client.get(url) for url in ("/password-reset", "/password-reset/confirm", "/login")]
    for page, word in zip(pages, words, strict=True):
        assert page.status_code == 200
        html = page.get_data(as_text=True)
        assert f'<html lang="{html_lang}"' in html
        assert word in html
