"""Password policy for portal accounts (security requirement A1).

A password is acceptable when :func:`password_problems` returns an empty list. The rules are:

* at least :data:`MIN_LENGTH` (12) and at most :data:`MAX_LENGTH` (128) characters;
* not a common password: not in the shipped list (``data/common-passwords.txt``, compared
  case-insensitively, also after stripping trailing digits and symbols as long as at least
  eight characters remain), not a single repeated character and not a straight run such as
  ``123456789012`` or ``abcdefghijkl``;
* it must not contain the user's birth date, ID number or mobile number;
* staff passwords additionally need three of the four character classes (lower-case letters,
  capital letters, digits, everything else).

The module has no Flask dependency at import time; messages are lazy strings that are translated
when they are rendered.
"""

from __future__ import annotations

import datetime
import functools
import itertools
from pathlib import Path

from flask_babel.speaklater import LazyString

from portal.core.i18n import lazy_gettext as _l

__all__ = [
    "MAX_LENGTH",
    "MIN_LENGTH",
    "common_passwords",
    "password_problems",
]

MIN_LENGTH = 12
"""Minimum number of characters in a password."""

MAX_LENGTH = 128
"""Maximum number of characters accepted in a password."""

COMMON_PASSWORDS_FILE = Path(__file__).resolve().parent / "data" / "common-passwords.txt"
"""The shipped list of common passwords: one lower-case password a line, ``#`` lines ignored."""

_MIN_STRIPPED_LENGTH = 8
"""How many characters must remain after stripping trailing non-letters for a list lookup."""

_MIN_ID_LENGTH = 6
"""ID numbers shorter than this are not looked for in passwords (too many false positives)."""

_ID_TAIL_CHARACTERS = 6
"""A password must not contain this many trailing characters of the ID number."""

_MIN_MOBILE_DIGITS = 8
"""Mobile numbers with fewer digits than this are not looked for in passwords."""

_MOBILE_TAIL_DIGITS = 8
"""A password must not contain this many trailing digits of the mobile number."""

_STAFF_MIN_CLASSES = 3
"""Number of character classes (of four) that a staff password needs."""

_RUN_ALPHABETS = ("0123456789", "abcdefghijklmnopqrstuvwxyz")
"""Alphabets in which straight runs (ascending or descending, wrapping around) are rejected."""

_TOO_SHORT = _l("Use at least 12 characters.")
_TOO_LONG = _l("Use at most 128 characters.")
_TOO_COMMON = _l("This password is too common; choose one that is hard to guess.")
_BIRTH_DATE = _l("Do not use your birth date in your password.")
_ID_NUMBER = _l("Do not use your ID number in your password.")
_MOBILE = _l("Do not use your mobile number in your password.")
_STAFF_CLASSES = _l(
    "Staff passwords need at least three of: lower-case letters, capital letters, digits and "
    "symbols."
)


@functools.cache
def common_passwords() -> frozenset[str]:
    """Return the shipped common-password list, loaded once, as lower-case strings.

    Blank lines and lines starting with ``#`` are ignored.
    """
    with COMMON_PASSWORDS_FILE.open(encoding="utf-8") as lines:
        return frozenset(
            entry.lower()
            for entry in (line.strip() for line in lines)
            if entry and not entry.startswith("#")
        )


def _strip_trailing_non_letters(text: str) -> str:
    """Remove trailing digits, punctuation, symbols and spaces (anything that is not a letter)."""
    end = len(text)
    while end and not text[end - 1].isalpha():
        end -= 1
    return text[:end]


def _is_straight_run(text: str) -> bool:
    """Whether ``text`` (lower-case) is one straight run such as ``345678901234`` or ``lkjih``.

    Runs may ascend or descend and wrap around (``...7890123...``, ``...xyzabc...``).
    """
    for alphabet in _RUN_ALPHABETS:
        if all(char in alphabet for char in text):
            size = len(alphabet)
            steps = {
                (alphabet.index(after) - alphabet.index(before)) % size
                for before, after in itertools.pairwise(text)
            }
            return steps in ({1}, {size - 1})
    return False


def _is_common(lowered: str) -> bool:
    """Whether the lower-cased password is common, trivially repetitive or a straight run."""
    common = common_passwords()
    if lowered in common:
        return True
    stripped = _strip_trailing_non_letters(lowered)
    if len(stripped) >= _MIN_STRIPPED_LENGTH and stripped in common:
        return True
    return len(set(lowered)) == 1 or _is_straight_run(lowered)


def _normalise_id_number(id_number: str | None) -> str:
    """Return the ID number without white space, upper-cased (``""`` if not given)."""
    return "".join((id_number or "").split()).upper()


def _birth_date_from_id_number(id_number: str) -> datetime.date | None:
    """Return the birth date encoded in a resident identity card number, if there is one.

    18-character numbers hold ``YYYYMMDD`` in characters 7-14; old 15-digit numbers hold
    ``YYMMDD`` (19xx) in characters 7-12. Anything else, or an impossible date, gives ``None``.
    """
    if len(id_number) == 18 and id_number[:17].isascii() and id_number[:17].isdigit():
        digits = id_number[6:14]
    elif len(id_number) == 15 and id_number.isascii() and id_number.isdigit():
        digits = "19" + id_number[6:12]
    else:
        return None
    try:
        return datetime.date(int(digits[:4]), int(digits[4:6]), int(digits[6:8]))
    except ValueError:
        return None


def _birth_date_forms(birth_date: datetime.date) -> tuple[str, ...]:
    """Return the spellings of a birth date that a password must not contain."""
    year = f"{birth_date.year:04d}"
    month = f"{birth_date.month:02d}"
    day = f"{birth_date.day:02d}"
    return (
        f"{year}{month}{day}",
        f"{year[2:]}{month}{day}",
        f"{year}-{month}-{day}",
        f"{year}.{month}.{day}",
        f"{year}/{month}/{day}",
    )


def _mobile_digits(mobile: str | None) -> str:
    """Return the digits of a mobile number, without a ``+86``/``0086`` country code."""
    digits = "".join(char for char in (mobile or "") if char.isascii() and char.isdigit())
    if digits.startswith("00"):
        digits = digits[2:]
    if digits.startswith("86") and len(digits) > 11:
        digits = digits[2:]
    return digits


def _character_classes(password: str) -> int:
    """Count the classes present: lower-case, capitals, digits, other (symbols, spaces, CJK)."""
    lower = upper = digit = other = False
    for char in password:
        if char.islower():
            lower = True
        elif char.isupper():
            upper = True
        elif char.isdigit():
            digit = True
        else:
            other = True
    return lower + upper + digit + other


def password_problems(
    password: str,
    *,
    staff: bool = False,
    id_number: str | None = None,
    mobile: str | None = None,
    birth_date: datetime.date | None = None,
) -> list[LazyString]:
    """Check a new password against the policy and return what is wrong with it.

    :param password: the proposed password, exactly as typed.
    :param staff: whether the account is a staff account (stricter character-class rule).
    :param id_number: the user's ID number; the password must not contain it or its last six
        characters (case-insensitive). When ``birth_date`` is not given, the birth date is taken
        from the ID number.
    :param mobile: the user's mobile number; the password must not contain it or its last eight
        digits.
    :param birth_date: the user's birth date; the password must not contain it as ``YYYYMMDD``,
        ``YYMMDD``, ``YYYY-MM-DD``, ``YYYY.MM.DD`` or ``YYYY/MM/DD``.
    :return: translatable messages, one per broken rule; an empty list means acceptable. A
        password that is too short gets only the length message.
    """
    if len(password) < MIN_LENGTH:
        return [_TOO_SHORT]

    problems: list[LazyString] = []
    if len(password) > MAX_LENGTH:
        problems.append(_TOO_LONG)

    lowered = password.lower()
    if _is_common(lowered):
        problems.append(_TOO_COMMON)

    id_clean = _normalise_id_number(id_number)
    if birth_date is None and id_clean:
        birth_date = _birth_date_from_id_number(id_clean)
    if birth_date is not None and any(form in lowered for form in _birth_date_forms(birth_date)):
        problems.append(_BIRTH_DATE)

    if len(id_clean) >= _MIN_ID_LENGTH:
        id_lowered = id_clean.lower()
        if id_lowered in lowered or id_lowered[-_ID_TAIL_CHARACTERS:] in lowered:
            problems.append(_ID_NUMBER)

    mobile_clean = _mobile_digits(mobile)
    if len(mobile_clean) >= _MIN_MOBILE_DIGITS and (
        mobile_clean in password or mobile_clean[-_MOBILE_TAIL_DIGITS:] in password
    ):
        problems.append(_MOBILE)

    if staff and _character_classes(password) < _STAFF_MIN_CLASSES:
        problems.append(_STAFF_CLASSES)

    return problems
