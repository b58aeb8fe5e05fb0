"""Validation, normalisation and masking of Chinese personal and organisation identifiers.

Pure standard-library helpers used by forms, services, demo data and test factories:

* Resident identity card numbers (公民身份号码, GB 11643-1999), 18 characters.
* Unified social credit codes of organisations (统一社会信用代码, GB 32100-2015), 18 characters.
* Mainland mobile phone numbers (11 digits).

Each family offers a ``normalize_*`` function that turns user input (full-width characters,
spaces, lower case) into the canonical form and an ``is_valid_*`` function that checks the
canonical form strictly. Callers should normalise first, then validate and store the
normalised value.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Final, Literal

__all__ = [
    "CREDIT_CODE_CHARSET",
    "IdNumberError",
    "IdNumberErrorCode",
    "birth_date_of",
    "credit_code_check_char",
    "id_number_check_char",
    "is_valid_credit_code",
    "is_valid_id_number",
    "is_valid_mobile",
    "make_credit_code",
    "make_id_number",
    "mask_credit_code",
    "mask_id_number",
    "normalize_credit_code",
    "normalize_id_number",
    "normalize_mobile",
    "parse_id_number",
    "region_of",
    "sex_of",
]

# ---------------------------------------------------------------------------
# Shared helpers
# ---------------------------------------------------------------------------

# Full-width ASCII variants (U+FF01..U+FF5E) map onto U+0021..U+007E; U+3000 is the
# ideographic (full-width) space.
_HALFWIDTH_TABLE: Final[dict[int, int]] = {code: code - 0xFEE0 for code in range(0xFF01, 0xFF5F)}
_HALFWIDTH_TABLE[0x3000] = 0x20

_WHITESPACE_RE: Final = re.compile(r"\s+")


def _to_halfwidth(text: str) -> str:
    """Return ``text`` with full-width ASCII characters and spaces replaced by ASCII ones."""
    return text.translate(_HALFWIDTH_TABLE)


def _remove_whitespace(text: str) -> str:
    """Return ``text`` without any whitespace (surrounding or inner)."""
    return _WHITESPACE_RE.sub("", text)


# ---------------------------------------------------------------------------
# Resident identity card numbers (GB 11643-1999)
# ---------------------------------------------------------------------------

_ID_WEIGHTS: Final[tuple[int, ...]] = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK_CHARS: Final = "10X98765432"
# ASCII-only classes on purpose: ``\d`` would also match other Unicode digits.
_ID_FORMAT_RE: Final = re.compile(r"[1-9][0-9]{16}[0-9X]")
_ID_BODY_RE: Final = re.compile(r"[0-9]{17}")
_ID_MIN_BIRTH_DATE: Final = date(1900, 1, 1)

IdNumberErrorCode = Literal["format", "checksum", "birth_date"]

_ID_ERROR_MESSAGES: Final[dict[str, str]] = {
    "format": "ID number must be 17 digits followed by a digit or X, not starting with 0.",
    "checksum": "ID number check character does not match.",
    "birth_date": "ID number contains an impossible birth date.",
}


class IdNumberError(ValueError):
    """An ID number failed validation.

    ``code`` tells *why*, so that callers can show a specific (translated) message:

    * ``"format"``: not 17 ASCII digits plus a digit or ``X``, or first digit is ``0``;
    * ``"birth_date"``: digits 7-14 are not a calendar date between 1900-01-01 and today;
    * ``"checksum"``: the 18th character does not match the computed check character.
    """

    code: IdNumberErrorCode

    def __init__(self, code: IdNumberErrorCode, message: str | None = None) -> None:
        """Create the error with its machine-readable ``code`` and an English message."""
        super().__init__(message or _ID_ERROR_MESSAGES[code])
        self.code = code


def normalize_id_number(raw: str) -> str:
    """Return the canonical form of a user-typed ID number.

    Removes surrounding and inner whitespace (including the full-width space), converts
    full-width digits and full-width ``Ｘ``/``ｘ`` to ASCII and upper-cases ``x``. The result is
    not validated; use :func:`is_valid_id_number` or :func:`parse_id_number` for that.
    """
    return _remove_whitespace(_to_halfwidth(raw)).replace("x", "X")


def id_number_check_char(body17: str) -> str:
    """Return the GB 11643 check character for the first 17 digits of an ID number.

    The character is ``"10X98765432"[sum(d_i * w_i) mod 11]`` with weights
    7 9 10 5 8 4 2 1 6 3 7 9 10 5 8 4 2.

    Raises:
        ValueError: ``body17`` is not exactly 17 ASCII digits.
    """
    if not _ID_BODY_RE.fullmatch(body17):
        raise ValueError("ID number body must be exactly 17 ASCII digits")
    total = sum(int(digit) * weight for digit, weight in zip(body17, _ID_WEIGHTS, strict=True))
    return _ID_CHECK_CHARS[total % 11]


def _birth_date_or_none(id_number: str) -> date | None:
    """Return the birth date encoded at positions 7-14, or ``None`` if it is not a date."""
    digits = id_number[6:14]
    if len(digits) != 8 or not digits.isascii() or not digits.isdigit():
        return None
    try:
        return date(int(digits[:4]), int(digits[4:6]), int(digits[6:]))
    except ValueError:
        return None


def _id_number_error(value: str, today: date | None) -> IdNumberErrorCode | None:
    """Return the first failing check for a normalised ID number, or ``None`` if valid."""
    if not _ID_FORMAT_RE.fullmatch(value):
        return "format"
    birth = _birth_date_or_none(value)
    if today is None:
        # The portal serves a single (China) locale; the local calendar date is intended.
        today = date.today()  # noqa: DTZ011
    if birth is None or not _ID_MIN_BIRTH_DATE <= birth <= today:
        return "birth_date"
    if id_number_check_char(value[:17]) != value[17]:
        return "checksum"
    return None


def is_valid_id_number(value: str, *, today: date | None = None) -> bool:
    """Return whether ``value`` is a valid, *already normalised* 18-character ID number.

    Checks the format (17 digits plus digit or ``X``, first digit not ``0``), the birth date
    (a real date from 1900-01-01 up to ``today``, default :meth:`datetime.date.today`) and the
    check character. Input such as a lower-case ``x`` or full-width digits is rejected; pass it
    through :func:`normalize_id_number` first.
    """
    return _id_number_error(value, today) is None


def parse_id_number(raw: str, *, today: date | None = None) -> str:
    """Normalise and validate ``raw``, returning the canonical ID number.

    Raises:
        IdNumberError: with ``code`` of the first failing check, in the order
            ``"format"``, ``"birth_date"``, ``"checksum"``.
    """
    value = normalize_id_number(raw)
    code = _id_number_error(value, today)
    if code is not None:
        raise IdNumberError(code)
    return value


def birth_date_of(id_number: str) -> date:
    """Return the birth date encoded in digits 7-14 (``YYYYMMDD``) of an ID number.

    Only the format and the date itself are checked, not the check character.

    Raises:
        IdNumberError: ``"format"`` if ``id_number`` is not in canonical format,
            ``"birth_date"`` if the digits are not a calendar date.
    """
    if not _ID_FORMAT_RE.fullmatch(id_number):
        raise IdNumberError("format")
    birth = _birth_date_or_none(id_number)
    if birth is None:
        raise IdNumberError("birth_date")
    return birth


def sex_of(id_number: str) -> str:
    """Return ``"M"`` if the 17th digit (sequence code) is odd, else ``"F"``.

    Raises:
        IdNumberError: ``"format"`` if ``id_number`` is not in canonical format.
    """
    if not _ID_FORMAT_RE.fullmatch(id_number):
        raise IdNumberError("format")
    return "M" if int(id_number[16]) % 2 else "F"


def region_of(id_number: str) -> str:
    """Return the 6-digit administrative division code (the first 6 digits).

    Raises:
        IdNumberError: ``"format"`` if ``id_number`` is not in canonical format.
    """
    if not _ID_FORMAT_RE.fullmatch(id_number):
        raise IdNumberError("format")
    return id_number[:6]


def mask_id_number(value: str | None) -> str:
    """Mask an ID number for display, keeping the first 4 and last 4 characters.

    ``"450302199001011234"`` becomes ``"4503**********1234"``. ``None`` or ``""`` gives
    ``""``; values shorter than 9 characters are masked completely (keeping 4 + 4 characters
    would reveal all or nearly all of them).
    """
    if not value:
        return ""
    if len(value) < 9:
        return "*" * len(value)
    return f"{value[:4]}{'*' * (len(value) - 8)}{value[-4:]}"


def make_id_number(region: str, birth: date, sequence: int) -> str:
    """Build an ID number with a correct check character (for demo data and test factories).

    Args:
        region: 6-digit administrative division code, not starting with ``0``.
        birth: birth date, encoded as ``YYYYMMDD`` (not range-checked here, so factories can
            build e.g. future birth dates; :func:`is_valid_id_number` rejects those).
        sequence: sequence code 0-999; odd means male, even female.

    Raises:
        ValueError: ``region`` or ``sequence`` out of range.
    """
    if not re.fullmatch(r"[1-9][0-9]{5}", region):
        raise ValueError("region must be 6 ASCII digits not starting with 0")
    if not 0 <= sequence <= 999:
        raise ValueError("sequence must be between 0 and 999")
    body = f"{region}{birth.year:04d}{birth.month:02d}{birth.day:02d}{sequence:03d}"
    return body + id_number_check_char(body)


# ---------------------------------------------------------------------------
# Unified social credit codes (GB 32100-2015)
# ---------------------------------------------------------------------------

CREDIT_CODE_CHARSET: Final = "0123456789ABCDEFGHJKLMNPQRTUWXY"
"""The 31 characters allowed in a credit code (no I, O, S, V, Z); a character's value is its
index."""

_CREDIT_WEIGHTS: Final = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
_CREDIT_VALUES: Final[dict[str, int]] = {char: i for i, char in enumerate(CREDIT_CODE_CHARSET)}
_CREDIT_AUTHORITY_CODES: Final = "123456789ANY"


def normalize_credit_code(raw: str) -> str:
    """Return the canonical form of a user-typed credit code.

    Removes surrounding and inner whitespace, converts full-width characters to ASCII and
    upper-cases. The result is not validated.
    """
    return _remove_whitespace(_to_halfwidth(raw)).upper()


def credit_code_check_char(prefix17: str) -> str:
    """Return the GB 32100 check character for the first 17 characters of a credit code.

    The check value is ``(31 - sum(v_i * w_i) mod 31) mod 31`` with weights
    1 3 9 27 19 26 16 17 20 29 25 13 8 24 10 30 28, mapped back through the charset.

    Raises:
        ValueError: ``prefix17`` is not 17 characters from :data:`CREDIT_CODE_CHARSET`.
    """
    if len(prefix17) != 17:
        raise ValueError("credit code prefix must be exactly 17 characters")
    try:
        values = [_CREDIT_VALUES[char] for char in prefix17]
    except KeyError as exc:
        raise ValueError(f"invalid credit code character: {exc.args[0]!r}") from None
    total = sum(value * weight for value, weight in zip(values, _CREDIT_WEIGHTS, strict=True))
    return CREDIT_CODE_CHARSET[(31 - total % 31) % 31]


def is_valid_credit_code(value: str) -> bool:
    """Return whether ``value`` is a valid, *already normalised* unified social credit code.

    Checks: 18 characters from :data:`CREDIT_CODE_CHARSET`; the first character (registration
    authority code) is one of ``123456789ANY``; the 18th character is the GB 32100 check
    character.

    Deliberately *not* checked: the organisation code embedded at positions 9-17 carries its
    own GB 11714 check character (position 17), which is not verified here; the overall
    check character at position 18 already detects every single-character substitution.
    The institution type (position 2) and the administrative division code (positions 3-8)
    are not validated either.
    """
    if len(value) != 18 or value[0] not in _CREDIT_AUTHORITY_CODES:
        return False
    if any(char not in _CREDIT_VALUES for char in value):
        return False
    return credit_code_check_char(value[:17]) == value[17]


def make_credit_code(prefix17: str) -> str:
    """Return ``prefix17`` with its check character appended.

    Only length and characters are checked; the result is valid for
    :func:`is_valid_credit_code` when the first character is also in ``123456789ANY``.

    Raises:
        ValueError: ``prefix17`` is not 17 characters from :data:`CREDIT_CODE_CHARSET`.
    """
    return prefix17 + credit_code_check_char(prefix17)


def mask_credit_code(value: str | None) -> str:
    """Return the credit code unchanged (``""`` for ``None``).

    Unlike personal ID numbers, an organisation's unified social credit code is public
    information (printed on its business licence and searchable in the national enterprise
    credit information system), so it is not personal data and is not masked. The function
    exists so that templates can treat both identifier kinds the same way.
    """
    return value or ""


# ---------------------------------------------------------------------------
# Mobile phone numbers
# ---------------------------------------------------------------------------

_MOBILE_SEPARATORS_RE: Final = re.compile(r"[\s\-]+")
_MOBILE_RE: Final = re.compile(r"1[3-9][0-9]{9}")


def normalize_mobile(raw: str) -> str:
    """Return the canonical form of a user-typed mainland mobile number.

    Converts full-width characters to ASCII, removes whitespace and dashes, and drops a
    leading ``+86`` or ``86`` country code when exactly 11 digits follow it (so the digits
    including the ``86`` number 13). Other input is returned cleaned but otherwise unchanged.
    """
    value = _MOBILE_SEPARATORS_RE.sub("", _to_halfwidth(raw))
    for prefix in ("+86", "86"):
        if value.startswith(prefix):
            rest = value[len(prefix) :]
            if len(rest) == 11 and rest.isascii() and rest.isdigit():
                return rest
            break
    return value


def is_valid_mobile(value: str) -> bool:
    """Return whether ``value`` is a normalised mainland mobile number.

    That is exactly 11 ASCII digits, starting with ``1`` and a second digit from 3 to 9.
    """
    return _MOBILE_RE.fullmatch(value) is not None
