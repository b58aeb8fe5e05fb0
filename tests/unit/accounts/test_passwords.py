"""Unit tests for the password policy (security requirement A1); no Flask app needed."""

from __future__ import annotations

import datetime
from typing import Any

import pytest
from flask import Flask
from flask_babel import Babel, force_locale
from flask_babel.speaklater import LazyString
from hypothesis import given, settings
from hypothesis import strategies as st

from portal.accounts import passwords
from portal.accounts.passwords import (
    MAX_LENGTH,
    MIN_LENGTH,
    common_passwords,
    password_problems,
)


@pytest.fixture(autouse=True)
def _english():
    """The messages are compared with their English source text."""
    with force_locale("en"):
        yield


TOO_SHORT = "Use at least 12 characters."
TOO_LONG = "Use at most 128 characters."
TOO_COMMON = "This password is too common; choose one that is hard to guess."
BIRTH_DATE = "Do not use your birth date in your password."
ID_NUMBER = "Do not use your ID number in your password."
MOBILE = "Do not use your mobile number in your password."
STAFF = (
    "Staff passwords need at least three of: lower-case letters, capital letters, digits and "
    "symbols."
)
ALL_MESSAGES = {TOO_SHORT, TOO_LONG, TOO_COMMON, BIRTH_DATE, ID_NUMBER, MOBILE, STAFF}

ID_NUMBER_VALUE = "11010519491231002X"
MOBILE_VALUE = "13800138000"
STRONG_12 = "vK7#qPz!2mWd"


def problems(password: str, **kwargs: Any) -> list[str]:
    """Run the policy and render the lazy messages (outside any app context: the msgids)."""
    return [str(message) for message in password_problems(password, **kwargs)]


def test_limits() -> None:
    assert MIN_LENGTH == 12
    assert MAX_LENGTH == 128


def test_lazy_messages_render_as_msgid_outside_app_context() -> None:
    result = password_problems("short")
    assert len(result) == 1
    assert isinstance(result[0], LazyString)
    assert str(result[0]) == TOO_SHORT


def test_lazy_messages_render_inside_babel_app_context() -> None:
    app = Flask(__name__)
    Babel(app)
    with app.test_request_context():
        assert [str(m) for m in password_problems("x" * 11)] == [TOO_SHORT]


def test_eleven_characters_rejected_with_only_the_length_message() -> None:
    assert problems(STRONG_12[:11]) == [TOO_SHORT]
    # Returns early: no other message even when other rules would also fail.
    assert problems("123456", staff=True, mobile="123456") == [TOO_SHORT]


def test_twelve_strong_characters_accepted() -> None:
    assert len(STRONG_12) == 12
    assert problems(STRONG_12) == []
    assert problems(STRONG_12, staff=True) == []


def test_128_characters_accepted_and_129_rejected() -> None:
    password = (STRONG_12 + "Xy9-") * 8
    assert len(password) == 128
    assert problems(password) == []
    assert problems(password + "q") == [TOO_LONG]


@pytest.mark.parametrize(
    "password",
    [
        "woaini1314520",
        "Woaini1314520",
        "WOAINI1314520",
        "1qaz2wsx3edc",
        "1qaz2wsx3edc4rfv",
        "zhangwei123456",
        "password123456",  # "password" after stripping trailing digits
        "Iloveyou2024!!",  # "iloveyou" after stripping trailing digits and symbols
        "qwertyuiop123",
    ],
)
def test_common_passwords_rejected(password: str) -> None:
    assert problems(password) == [TOO_COMMON]


@pytest.mark.parametrize(
    "password",
    [
        "aaaaaaaaaaaa",
        "############",
        "123456789012",
        "987654321098",
        "abcdefghijkl",
        "ABCDEFGHIJKLMNOP",
        "zyxwvutsrqpo",
        "uvwxyzabcdef",
    ],
)
def test_repeats_and_straight_runs_rejected(password: str) -> None:
    assert problems(password) == [TOO_COMMON]


def test_stripping_needs_eight_remaining_characters() -> None:
    # "dragon" is common, but only 6 letters would remain after stripping.
    assert "dragon" in common_passwords()
    assert problems("dragon7#4!92q") == []
    assert TOO_COMMON not in problems("dragon74!9217")


def test_birth_date_from_id_number_rejected() -> None:
    assert problems("Xk#q19491231vb", id_number=ID_NUMBER_VALUE) == [BIRTH_DATE]
    assert problems("Xk#qm491231vbz", id_number=ID_NUMBER_VALUE) == [BIRTH_DATE]
    assert problems("Xk#q1949-12-31v", id_number=ID_NUMBER_VALUE) == [BIRTH_DATE]


@pytest.mark.parametrize(
    "password",
    ["Tr!p19850704zz", "Tr!p850704zzqq", "Tr!p1985-07-04", "Tr!p1985.07.04", "Tr!p1985/07/04"],
)
def test_birth_date_given_directly_rejected(password: str) -> None:
    assert problems(password, birth_date=datetime.date(1985, 7, 4)) == [BIRTH_DATE]
    assert problems(password) == []


def test_given_birth_date_takes_precedence_over_id_number() -> None:
    other = datetime.date(1990, 1, 2)
    assert problems("Xk#q19491231vb", id_number=ID_NUMBER_VALUE, birth_date=other) == []


def test_id_number_rejected() -> None:
    assert problems("Mz!q8v31002xKp", id_number=ID_NUMBER_VALUE) == [ID_NUMBER]
    assert problems("Mz!q8v31002XKp", id_number=ID_NUMBER_VALUE.lower()) == [ID_NUMBER]
    whole = problems(f"a{ID_NUMBER_VALUE.lower()}!", id_number=ID_NUMBER_VALUE)
    assert ID_NUMBER in whole
    assert BIRTH_DATE in whole


def test_mobile_rejected() -> None:
    assert problems("Pw-13800138000!", mobile=MOBILE_VALUE) == [MOBILE]
    assert problems("Qz#tr00138000vb", mobile=MOBILE_VALUE) == [MOBILE]
    assert problems("Qz#tr00138000vb", mobile="+86 138-0013-8000") == [MOBILE]
    assert problems("Qz#tr00138000vb") == []


def test_staff_character_classes() -> None:
    assert problems("lowercaseonlypassword", staff=True) == [STAFF]
    assert problems("lowercaseonlypassword") == []
    assert problems("Abcdefgh1234x", staff=True) == []
    assert problems("lower case with spaces 7", staff=True) == []  # lower, digit, other
    assert problems("UPPERCASEONLYPASS", staff=True) == [STAFF]


def test_several_problems_reported_together() -> None:
    result = problems(
        "13800138000" + "19491231" + "a" * 110,
        staff=True,
        id_number=ID_NUMBER_VALUE,
        mobile=MOBILE_VALUE,
    )
    assert result == [TOO_LONG, BIRTH_DATE, MOBILE, STAFF]


def test_common_list_loads() -> None:
    common = common_passwords()
    assert isinstance(common, frozenset)
    assert len(common) >= 20_000
    assert "woaini1314520" in common
    assert "1qaz2wsx3edc" in common
    assert all(entry == entry.lower() and not entry.startswith("#") for entry in common)
    assert common_passwords() is common  # loaded once


def test_common_list_file_format() -> None:
    path = passwords.COMMON_PASSWORDS_FILE
    assert path.stat().st_size < 1024 * 1024
    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines[0].startswith("#")
    entries = lines[1:]
    assert len(entries) == len(set(entries))
    assert all(entry and entry == entry.lower() for entry in entries)


@settings(max_examples=300, deadline=None)
@given(
    password=st.text(
        alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E),
        min_size=MIN_LENGTH,
        max_size=MAX_LENGTH,
    ),
    staff=st.booleans(),
)
def test_printable_passwords_never_raise(password: str, staff: bool) -> None:
    result = password_problems(password, staff=staff)
    assert isinstance(result, list)
    rendered = [str(message) for message in result]
    assert set(rendered) <= ALL_MESSAGES
    assert len(rendered) == len(set(rendered))
    assert TOO_SHORT not in rendered
    assert TOO_LONG not in rendered


@settings(max_examples=200, deadline=None)
@given(
    password=st.text(min_size=1, max_size=MAX_LENGTH + 20),
    staff=st.booleans(),
    id_number=st.none() | st.from_regex(r"\A[0-9]{17}[0-9Xx]\Z") | st.text(max_size=20),
    mobile=st.none() | st.from_regex(r"\A1[3-9][0-9]{9}\Z") | st.text(max_size=20),
    birth_date=st.none() | st.dates(),
)
def test_any_input_never_raises(
    password: str,
    staff: bool,
    id_number: str | None,
    mobile: str | None,
    birth_date: datetime.date | None,
) -> None:
    result = password_problems(
        password, staff=staff, id_number=id_number, mobile=mobile, birth_date=birth_date
    )
    assert isinstance(result, list)
    assert {str(message) for message in result} <= ALL_MESSAGES
