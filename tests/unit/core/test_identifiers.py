"""Tests for :mod:`portal.core.identifiers`."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from portal.core.identifiers import (
    CREDIT_CODE_CHARSET,
    IdNumberError,
    birth_date_of,
    credit_code_check_char,
    id_number_check_char,
    is_valid_credit_code,
    is_valid_id_number,
    is_valid_mobile,
    make_credit_code,
    make_id_number,
    mask_credit_code,
    mask_id_number,
    normalize_credit_code,
    normalize_id_number,
    normalize_mobile,
    parse_id_number,
    region_of,
    sex_of,
)

TODAY = date(2024, 6, 15)

ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
ID_CHECK_CHARS = "10X98765432"
ID_CHECK_ALPHABET = "0123456789X"
DIGITS = "0123456789"

CREDIT_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)

# A well-known sample ID number (Beijing, Chaoyang district, born 1949-12-31, female).
SAMPLE_ID = "11010519491231002X"
# Second literal sample, check character worked out by hand below.
SAMPLE_ID_2 = "450302199001011232"
# A real, published unified social credit code.
SAMPLE_CREDIT_CODE = "91350100M000100Y43"


# ---------------------------------------------------------------------------
# Strategies
# ---------------------------------------------------------------------------

regions = st.integers(min_value=110000, max_value=659999).map(str)
birth_dates = st.dates(min_value=date(1900, 1, 1), max_value=date(2020, 12, 31))
sequences = st.integers(min_value=0, max_value=999)
valid_id_numbers = st.builds(make_id_number, regions, birth_dates, sequences)

credit_prefixes = st.builds(
    lambda first, rest: first + rest,
    st.sampled_from("123456789ANY"),
    st.text(alphabet=CREDIT_CODE_CHARSET, min_size=16, max_size=16),
)
valid_credit_codes = credit_prefixes.map(make_credit_code)


def _replace(value: str, index: int, char: str) -> str:
    return value[:index] + char + value[index + 1 :]


# ---------------------------------------------------------------------------
# ID numbers: fixed literal samples checked by hand
# ---------------------------------------------------------------------------


def test_sample_id_check_char_by_hand() -> None:
    # 1*7 + 1*9 + 0*10 + 1*5 + 0*8 + 5*4 + 1*2 + 9*1 + 4*6 + 9*3 + 1*7 + 2*9 + 3*10
    # + 1*5 + 0*8 + 0*4 + 2*2
    products = [7, 9, 0, 5, 0, 20, 2, 9, 24, 27, 7, 18, 30, 5, 0, 0, 4]
    assert sum(products) == 167
    assert 167 % 11 == 2
    assert ID_CHECK_CHARS[2] == "X"
    assert [int(d) * w for d, w in zip(SAMPLE_ID[:17], ID_WEIGHTS, strict=True)] == products
    assert id_number_check_char(SAMPLE_ID[:17]) == "X"
    assert is_valid_id_number(SAMPLE_ID, today=TODAY)
    assert is_valid_id_number(SAMPLE_ID)  # default "today"


def test_second_sample_id_check_char_by_hand() -> None:
    # 4*7 + 5*9 + 0*10 + 3*5 + 0*8 + 2*4 + 1*2 + 9*1 + 9*6 + 0*3 + 0*7 + 1*9 + 0*10
    # + 1*5 + 1*8 + 2*4 + 3*2
    products = [28, 45, 0, 15, 0, 8, 2, 9, 54, 0, 0, 9, 0, 5, 8, 8, 6]
    assert sum(products) == 197
    assert 197 % 11 == 10
    assert ID_CHECK_CHARS[10] == "2"
    assert [int(d) * w for d, w in zip(SAMPLE_ID_2[:17], ID_WEIGHTS, strict=True)] == products
    assert is_valid_id_number(SAMPLE_ID_2, today=TODAY)


@pytest.mark.parametrize("value", ["110105194912310021", "450302199001011234"])
def test_wrong_check_char_is_invalid(value: str) -> None:
    assert not is_valid_id_number(value, today=TODAY)
    with pytest.raises(IdNumberError) as exc_info:
        parse_id_number(value, today=TODAY)
    assert exc_info.value.code == "checksum"


def test_sample_id_attributes() -> None:
    assert birth_date_of(SAMPLE_ID) == date(1949, 12, 31)
    assert sex_of(SAMPLE_ID) == "F"  # 17th digit 2
    assert region_of(SAMPLE_ID) == "110105"
    assert sex_of(SAMPLE_ID_2) == "M"  # 17th digit 3
    assert birth_date_of(SAMPLE_ID_2) == date(1990, 1, 1)


# ---------------------------------------------------------------------------
# ID numbers: normalisation and parsing
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        "11010519491231002X",
        "11010519491231002x",
        "  110105 19491231 002x \t",
        "１１０１０５１９４９１２３１００２Ｘ",
        "１１０１０５１９４９１２３１００２ｘ",
        "\u3000110105\u300019491231002X\u3000",
    ],
)
def test_normalize_and_parse_id_number(raw: str) -> None:
    assert normalize_id_number(raw) == SAMPLE_ID
    assert parse_id_number(raw, today=TODAY) == SAMPLE_ID


def test_is_valid_expects_normalized_input() -> None:
    assert not is_valid_id_number("11010519491231002x", today=TODAY)
    assert not is_valid_id_number(" 11010519491231002X", today=TODAY)


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "11010519491231002",  # 17 characters
        "11010519491231002X1",  # 19 characters
        "1101051949123100XX",  # X not only in last position
        "X10105194912310021",
        "11010519491231A02X",  # letter
        "01010519491231002X",  # leading zero
        "110105-19491231002X",  # punctuation is not stripped
        "١١٠١٠٥١٩٤٩١٢٣١٠٠٢X",  # non-ASCII (Arabic-Indic) digits
    ],
)
def test_format_errors(raw: str) -> None:
    with pytest.raises(IdNumberError) as exc_info:
        parse_id_number(raw, today=TODAY)
    assert exc_info.value.code == "format"
    assert isinstance(exc_info.value, ValueError)
    assert not is_valid_id_number(normalize_id_number(raw), today=TODAY)


def _with_correct_check_char(body17: str) -> str:
    return body17 + id_number_check_char(body17)


@pytest.mark.parametrize(
    "value",
    [
        _with_correct_check_char("11010519900230123"),  # 30 February
        _with_correct_check_char("11010519000229123"),  # 1900 is not a leap year
        _with_correct_check_char("11010519901301123"),  # month 13
        _with_correct_check_char("11010519900100123"),  # day 0
        _with_correct_check_char("11010518991231123"),  # year 1899
        make_id_number("110105", date(1899, 12, 31), 123),
        make_id_number("110105", date(2024, 6, 16), 123),  # day after TODAY
        make_id_number("110105", date(2100, 1, 1), 123),
    ],
)
def test_birth_date_errors(value: str) -> None:
    # The check character is right, so only the birth date can be at fault.
    assert id_number_check_char(value[:17]) == value[17]
    assert not is_valid_id_number(value, today=TODAY)
    with pytest.raises(IdNumberError) as exc_info:
        parse_id_number(value, today=TODAY)
    assert exc_info.value.code == "birth_date"


def test_birth_date_bounds_inclusive() -> None:
    assert is_valid_id_number(make_id_number("110105", date(1900, 1, 1), 1), today=TODAY)
    assert is_valid_id_number(make_id_number("110105", TODAY, 1), today=TODAY)


def test_future_birth_date_with_real_today() -> None:
    future = make_id_number("110105", date(date.today().year + 1, 1, 1), 1)  # noqa: DTZ011
    with pytest.raises(IdNumberError) as exc_info:
        parse_id_number(future)
    assert exc_info.value.code == "birth_date"


def test_error_order_birth_date_before_checksum() -> None:
    body = "11010519900230123"
    wrong = "0" if id_number_check_char(body) != "0" else "1"
    with pytest.raises(IdNumberError) as exc_info:
        parse_id_number(body + wrong, today=TODAY)
    assert exc_info.value.code == "birth_date"


def test_error_order_format_first() -> None:
    with pytest.raises(IdNumberError) as exc_info:
        parse_id_number("01010518990230123A", today=TODAY)
    assert exc_info.value.code == "format"


def test_id_number_error_has_message() -> None:
    error = IdNumberError("checksum")
    assert error.code == "checksum"
    assert str(error)
    assert str(IdNumberError("format", "custom")) == "custom"


def test_attribute_helpers_reject_bad_format() -> None:
    for func in (birth_date_of, sex_of, region_of):
        with pytest.raises(IdNumberError):
            func("not an id")
    with pytest.raises(IdNumberError) as exc_info:
        birth_date_of(_with_correct_check_char("11010519900230123"))
    assert exc_info.value.code == "birth_date"


# ---------------------------------------------------------------------------
# ID numbers: masking and construction
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("450302199001011234", "4503**********1234"),
        (SAMPLE_ID, "1101**********002X"),
        (None, ""),
        ("", ""),
        ("12345678", "********"),
        ("1", "*"),
        ("123456789", "1234*6789"),
    ],
)
def test_mask_id_number(value: str | None, expected: str) -> None:
    assert mask_id_number(value) == expected


def test_make_id_number_matches_fields() -> None:
    value = make_id_number("450302", date(1990, 1, 1), 123)
    assert value == SAMPLE_ID_2
    assert make_id_number("110105", date(1949, 12, 31), 2) == SAMPLE_ID


@pytest.mark.parametrize(
    ("region", "sequence"),
    [("11010", 1), ("1101050", 1), ("010105", 1), ("11010A", 1), ("110105", -1), ("110105", 1000)],
)
def test_make_id_number_rejects_bad_input(region: str, sequence: int) -> None:
    with pytest.raises(ValueError, match=r"region|sequence"):
        make_id_number(region, date(1990, 1, 1), sequence)


@pytest.mark.parametrize("body", ["1101051949123100", "110105194912310021", "1101051949123100A"])
def test_id_number_check_char_rejects_bad_body(body: str) -> None:
    with pytest.raises(ValueError, match="17 ASCII digits"):
        id_number_check_char(body)


@given(region=regions, birth=birth_dates, sequence=sequences)
def test_generated_id_numbers_are_valid(region: str, birth: date, sequence: int) -> None:
    value = make_id_number(region, birth, sequence)
    assert is_valid_id_number(value)
    assert parse_id_number(value) == value
    assert birth_date_of(value) == birth
    assert region_of(value) == region
    assert sex_of(value) == ("M" if sequence % 2 else "F")
    assert mask_id_number(value) == value[:4] + "*" * 10 + value[-4:]


@given(value=valid_id_numbers, data=st.data())
def test_id_single_substitution_is_detected(value: str, data: st.DataObject) -> None:
    assert is_valid_id_number(value, today=TODAY)
    index = data.draw(st.integers(min_value=0, max_value=17), label="index")
    alphabet = ID_CHECK_ALPHABET if index == 17 else DIGITS
    char = data.draw(st.sampled_from([c for c in alphabet if c != value[index]]), label="char")
    mutated = _replace(value, index, char)
    assert not is_valid_id_number(mutated, today=TODAY)
    # The check character alone catches it, whatever the date and format checks say.
    assert id_number_check_char(mutated[:17]) != mutated[17]


def test_id_weights_detect_every_single_substitution() -> None:
    # Changing digit i from d to d' changes the sum by (d' - d) * w_i; with 11 prime, all
    # weights in 1..10 and 0 < |d' - d| < 11, that is never 0 mod 11, so the check character
    # always changes. Exhaustively confirm the arithmetic behind the property test.
    for weight in ID_WEIGHTS:
        for delta in range(1, 10):
            assert (delta * weight) % 11 != 0
    # And exhaustively on a fixed sample, all 17 * 9 + 10 substitutions.
    for index in range(18):
        alphabet = ID_CHECK_ALPHABET if index == 17 else DIGITS
        for char in alphabet:
            if char != SAMPLE_ID[index]:
                assert not is_valid_id_number(_replace(SAMPLE_ID, index, char), today=TODAY)


# ---------------------------------------------------------------------------
# Unified social credit codes
# ---------------------------------------------------------------------------


def test_credit_charset() -> None:
    assert len(CREDIT_CODE_CHARSET) == 31
    assert not set("IOSVZ") & set(CREDIT_CODE_CHARSET)


def test_sample_credit_code_check_char_by_hand() -> None:
    # Values of "91350100M000100Y4": M = 21, Y = 30 in the charset.
    values = [9, 1, 3, 5, 0, 1, 0, 0, 21, 0, 0, 0, 1, 0, 0, 30, 4]
    assert [CREDIT_CODE_CHARSET.index(c) for c in SAMPLE_CREDIT_CODE[:17]] == values
    # 9*1 + 1*3 + 3*9 + 5*27 + 1*26 + 21*20 + 1*8 + 30*30 + 4*28
    assert sum(v * w for v, w in zip(values, CREDIT_WEIGHTS, strict=True)) == 1640
    assert 1640 % 31 == 28
    assert (31 - 28) % 31 == 3
    assert CREDIT_CODE_CHARSET[3] == "3" == SAMPLE_CREDIT_CODE[17]
    assert credit_code_check_char(SAMPLE_CREDIT_CODE[:17]) == "3"
    assert is_valid_credit_code(SAMPLE_CREDIT_CODE)
    assert make_credit_code(SAMPLE_CREDIT_CODE[:17]) == SAMPLE_CREDIT_CODE


def test_credit_check_value_zero_maps_to_zero() -> None:
    # Sum 1: (31 - 1) mod 31 = 30 -> "Y", the last charset character.
    assert credit_code_check_char("1" + "0" * 16) == "Y"
    # Sum divisible by 31 gives (31 - 0) mod 31 = 0, i.e. "0", not an out-of-range index 31.
    assert credit_code_check_char("0" * 17) == "0"
    # "Y" = 30 at weight 1: (31 - 30) mod 31 = 1 -> "1".
    assert credit_code_check_char("Y" + "0" * 16) == "1"
    # "Y" = 30 at weight 1 and "M" = 21 at weight 3: 30 + 63 = 93 = 3 * 31 -> "0".
    assert credit_code_check_char("YM" + "0" * 15) == "0"


@pytest.mark.parametrize(
    "raw",
    [
        "91350100M000100Y43",
        "91350100m000100y43",
        " 9135 0100 M000 100Y 43 ",
        "９１３５０１００Ｍ０００１００Ｙ４３",
        "９１３５０１００ｍ０００１００ｙ４３",
    ],
)
def test_normalize_credit_code(raw: str) -> None:
    assert normalize_credit_code(raw) == SAMPLE_CREDIT_CODE
    assert is_valid_credit_code(normalize_credit_code(raw))


@pytest.mark.parametrize(
    "value",
    [
        "",
        "91350100M000100Y4",  # 17 characters
        "91350100M000100Y430",  # 19 characters
        "91350100m000100y43",  # not normalised
        "91350100M000100Y44",  # wrong check character
        "91350100O000100Y43",  # O is not in the charset
        "B1350100M000100Y43",  # B is not a registration authority code
        "01350100M000100Y43",  # 0 is not a registration authority code
    ],
)
def test_invalid_credit_codes(value: str) -> None:
    assert not is_valid_credit_code(value)


def test_registration_authority_checked_even_with_right_check_char() -> None:
    code = make_credit_code("B1350100M000100Y4")
    assert credit_code_check_char(code[:17]) == code[17]
    assert not is_valid_credit_code(code)


@pytest.mark.parametrize(
    "prefix", ["", "91350100M000100Y", "91350100M000100Y43", "91350100I000100Y4"]
)
def test_make_credit_code_rejects_bad_prefix(prefix: str) -> None:
    with pytest.raises(ValueError, match="credit code"):
        make_credit_code(prefix)


@given(prefix=credit_prefixes)
def test_generated_credit_codes_are_valid(prefix: str) -> None:
    code = make_credit_code(prefix)
    assert len(code) == 18
    assert code.startswith(prefix)
    assert is_valid_credit_code(code)


@given(code=valid_credit_codes, data=st.data())
def test_credit_single_substitution_is_detected(code: str, data: st.DataObject) -> None:
    index = data.draw(st.integers(min_value=0, max_value=17), label="index")
    char = data.draw(
        st.sampled_from([c for c in CREDIT_CODE_CHARSET if c != code[index]]), label="char"
    )
    mutated = _replace(code, index, char)
    assert not is_valid_credit_code(mutated)
    # The check character alone catches it (31 is prime, weights are 1..30).
    assert credit_code_check_char(mutated[:17]) != mutated[17]


def test_credit_weights_detect_every_single_substitution() -> None:
    for weight in CREDIT_WEIGHTS:
        for delta in range(1, 31):
            assert (delta * weight) % 31 != 0


@pytest.mark.parametrize(
    ("value", "expected"),
    [(SAMPLE_CREDIT_CODE, SAMPLE_CREDIT_CODE), (None, ""), ("", "")],
)
def test_mask_credit_code_is_identity(value: str | None, expected: str) -> None:
    assert mask_credit_code(value) == expected


# ---------------------------------------------------------------------------
# Mobile numbers
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("13800138000", "13800138000"),
        (" 138 0013 8000 ", "13800138000"),
        ("138-0013-8000", "13800138000"),
        ("+86 138 0013 8000", "13800138000"),
        ("+86-138-0013-8000", "13800138000"),
        ("+8613800138000", "13800138000"),
        ("8613800138000", "13800138000"),
        ("86 13800138000", "13800138000"),
        ("１３８００１３８０００", "13800138000"),
        ("86138001380", "86138001380"),  # 11 digits: a number that starts with 86, keep it
        ("+861380013800", "+861380013800"),  # only 10 digits after +86
        ("008613800138000", "008613800138000"),
        ("", ""),
    ],
)
def test_normalize_mobile(raw: str, expected: str) -> None:
    assert normalize_mobile(raw) == expected


@pytest.mark.parametrize("value", ["13800138000", "19912345678", "16612345678", "14700000000"])
def test_valid_mobiles(value: str) -> None:
    assert is_valid_mobile(value)


@pytest.mark.parametrize(
    "value",
    [
        "",
        "1380013800",  # 10 digits
        "138001380000",  # 12 digits
        "12800138000",  # second digit 2
        "10800138000",  # second digit 0
        "23800138000",  # does not start with 1
        "1380013800A",
        "138 0013 8000",  # not normalised
        "+8613800138000",
        "１３８００１３８０００",  # full-width, not normalised
        "13800138000\n",
    ],
)
def test_invalid_mobiles(value: str) -> None:
    assert not is_valid_mobile(value)


@given(digits=st.text(alphabet=DIGITS, min_size=9, max_size=9), second=st.sampled_from("3456789"))
def test_mobile_roundtrip(digits: str, second: str) -> None:
    number = "1" + second + digits
    assert is_valid_mobile(number)
    formatted = f"+86 {number[:3]}-{number[3:7]}-{number[7:]}"
    assert normalize_mobile(formatted) == number
