"""Resident self-registration: SECURITY.md A1 (passwords) and C1 (ID numbers) on the page."""

from datetime import date

import pytest
import sqlalchemy as sa
from flask_babel import force_locale, gettext

from portal.accounts.models import User
from portal.core.identifiers import make_id_number
from tests.factories import ResidentFactory

GOOD_ID = make_id_number("450305", date(1990, 6, 15), 218)


def register(client, **overrides):
    data = {
        "real_name": "黄小明",
        "id_number": GOOD_ID,
        "mobile": "13977301234",
        "password": "river-osmanthus-karst-7",
        "confirm": "river-osmanthus-karst-7",
        "accept_privacy": "y",
    }
    data.update(overrides)
    if "confirm" not in overrides:
        data["confirm"] = data["password"]
    return client.post_form("/register", data)


def users_with_id(db, id_number):
    from portal.accounts.services import id_index

    return db.session.scalars(
        sa.select(User).where(User.id_number_index == id_index(id_number))
    ).all()


def test_registration_creates_resident_signed_in(client, db):
    resp = register(client)
    assert resp.status_code == 302
    assert resp.headers["Location"] == "/me"
    assert client.get("/me").status_code == 200
    [user] = users_with_id(db, GOOD_ID)
    assert user.role.value == "resident"
    assert user.birth_date == date(1990, 6, 15)


def test_eleven_characters_rejected_with_clear_message(client, db):
    with force_locale("zh_Hans_CN"):
        expected = gettext("Use at least 12 characters.")
    assert expected != "Use at least 12 characters."  # the Chinese catalogue has it
    resp = register(client, password="abcdefghijk")
    assert resp.status_code == 422
    assert expected in resp.get_data(as_text=True)
    assert users_with_id(db, GOOD_ID) == []


def test_eleven_characters_message_in_english(client):
    client.set_cookie("locale", "en", domain="portal.test")
    resp = register(client, password="abcdefghijk")
    assert "Use at least 12 characters." in resp.get_data(as_text=True)


def test_128_characters_accepted(client, db):
    resp = register(client, password="Yangshuo river " * 8 + "12345678")  # 128 chars
    assert resp.status_code == 302
    assert len(users_with_id(db, GOOD_ID)) == 1


@pytest.mark.parametrize(
    "password",
    [
        "woaini1314520",  # common Chinese password
        "1qaz2wsx3edc",  # keyboard walk from the shipped list
        "xiaoming19900615",  # own birth date
        "mypassword900615xy",  # own birth date, short form
        "secret-" + GOOD_ID[-6:] + "-abc",  # own ID digits
        "call-me-13977301234",  # own mobile number
    ],
)
def test_common_and_context_passwords_rejected(client, db, password):
    resp = register(client, password=password)
    assert resp.status_code == 422
    assert users_with_id(db, GOOD_ID) == []


@pytest.mark.parametrize(
    ("id_number", "message_en"),
    [
        (GOOD_ID[:-1] + ("0" if GOOD_ID[-1] != "0" else "1"), "is not valid"),  # checksum
        ("45030519900230123X", "not a real date"),  # Feb 30
        ("4503051990061", "17 digits"),  # too short
    ],
)
def test_invalid_id_numbers_rejected_with_reason(client, db, id_number, message_en):
    client.set_cookie("locale", "en", domain="portal.test")
    resp = register(client, id_number=id_number)
    assert resp.status_code == 422
    assert message_en in resp.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(User)) == 0


def test_full_width_digits_and_lower_case_x_are_normalised(client, db):
    idn = make_id_number("450302", date(1985, 1, 1), 1)
    while not idn.endswith("X"):  # find a number whose check character is X
        idn = make_id_number("450302", date(1985, 1, 1), int(idn[14:17]) + 1)
    typed = "".join(chr(ord(c) + 0xFEE0) if c.isdigit() else c.lower() for c in idn)
    resp = register(client, id_number=typed)
    assert resp.status_code == 302
    assert len(users_with_id(db, idn)) == 1


def test_one_account_per_id_number(client, db):
    existing = ResidentFactory(id_number=GOOD_ID)
    client.set_cookie("locale", "en", domain="portal.test")
    resp = register(client)
    assert resp.status_code == 409
    assert "An account already exists" in resp.get_data(as_text=True)
    assert users_with_id(db, GOOD_ID) == [existing]


def test_mobile_must_have_eleven_digits(client, db):
    resp = register(client, mobile="1397730123")
    assert resp.status_code == 422
    assert users_with_id(db, GOOD_ID) == []


def test_privacy_notice_must_be_accepted(client, db):
    resp = register(client, accept_privacy="")
    assert resp.status_code == 422
    assert users_with_id(db, GOOD_ID) == []
