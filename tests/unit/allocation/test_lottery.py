"""The verifiable lottery: fixed vectors recomputed here with hashlib and hmac, tampering
found by verify, the sector quota's places at the front."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from portal.allocation import lottery

SEED = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
CODES = ["GL2026000003", "GL2026000001", "GL2026000002", "GL2026000010"]


def _hmac(code: str) -> str:
    return hmac.new(bytes.fromhex(SEED), code.encode(), hashlib.sha256).hexdigest()


def _results(entrants, quota=0):
    return [
        {"code": c, "position": p, "draw": d, "unit": None}
        for c, p, d in lottery.order(SEED, entrants, quota)
    ]


def test_hashes_and_order_match_an_independent_computation():
    assert lottery.seed_hash(SEED) == hashlib.sha256(SEED.encode()).hexdigest()
    canonical = b"GL2026000001\nGL2026000002\nGL2026000003\nGL2026000010\n"
    assert lottery.canonical_entrants(CODES) == canonical
    assert lottery.entrants_hash(CODES) == hashlib.sha256(canonical).hexdigest()
    assert lottery.draw_value(SEED, "GL2026000001") == _hmac("GL2026000001")

    expected = sorted(CODES, key=_hmac)
    got = lottery.order(SEED, CODES, 0)
    assert [c for c, _, _ in got] == expected
    assert [p for _, p, _ in got] == [1, 2, 3, 4]
    assert all(d == _hmac(c) for c, _, d in got)


def test_fixed_vector_stays_the_same():
    """The published algorithm must not drift: docs/lottery.md's script gives these too."""
    assert lottery.seed_hash(SEED) == (
        "2a8abfa8cb9906290437854193ca6bca41d4d4e26d1d454bd66a35158095e737"
    )
    assert lottery.entrants_hash(CODES) == (
        "109515e31fbe7c10e41d919e9137c8904084700ed6502db8119a8a2e298fe9c6"
    )
    assert lottery.draw_value(SEED, "GL2026000001") == (
        "fc6b3185889e3343201bd38dd6d0cc30dbef645836849c8d8ed30ae89492bf27"
    )
    assert [c for c, _, _ in lottery.order(SEED, CODES, 0)] == [
        "GL2026000002",
        "GL2026000010",
        "GL2026000003",
        "GL2026000001",
    ]


def test_sector_households_are_marked_in_the_canonical_list():
    entrants = [("GL2026000002", True), ("GL2026000001", False)]
    assert lottery.canonical_entrants(entrants) == b"GL2026000001\nGL2026000002 S\n"
    assert lottery.parse_entrants(lottery.canonical_entrants(entrants)) == sorted(entrants)
    # the mark is committed to: the same codes without it hash differently
    assert lottery.entrants_hash(entrants) != lottery.entrants_hash([c for c, _ in entrants])


def test_quota_households_come_first_then_everybody_by_draw():
    sector = {"GL2026000002", "GL2026000010"}
    entrants = [(c, c in sector) for c in CODES]
    by_draw = sorted(CODES, key=_hmac)
    for quota in (0, 1, 2, 5):
        first = [c for c in by_draw if c in sector][:quota]
        expected = first + [c for c in by_draw if c not in first]
        got = lottery.order(SEED, entrants, quota)
        assert [c for c, _, _ in got] == expected, quota
        assert [p for _, p, _ in got] == list(range(1, len(CODES) + 1))


def test_an_honest_result_passes_every_check():
    entrants = [(c, c == "GL2026000002") for c in CODES]
    checks = lottery.verify(
        SEED,
        lottery.seed_hash(SEED),
        entrants,
        lottery.entrants_hash(entrants),
        _results(entrants, 1),
        1,
    )
    assert [c.name for c in checks] == list(lottery.CHECK_NAMES)
    assert all(c.passed for c in checks), checks


def _failed(checks) -> set[str]:
    return {c.name for c in checks if not c.passed}


def test_tampered_seed_is_found():
    other = "ff" + SEED[2:]
    checks = lottery.verify(
        other, lottery.seed_hash(SEED), CODES, lottery.entrants_hash(CODES), _results(CODES), 0
    )
    assert "seed_hash" in _failed(checks)
    assert "draws" in _failed(checks)


def test_tampered_entrant_list_is_found():
    published = lottery.entrants_hash(CODES)
    swapped = [*CODES[:-1], "GL2026000011"]
    checks = lottery.verify(SEED, lottery.seed_hash(SEED), swapped, published, _results(CODES), 0)
    assert _failed(checks) >= {"entrants_hash", "entrants"}
    # a household slipped into the quota after the hashes were published
    marked = [(c, c == "GL2026000001") for c in CODES]
    checks = lottery.verify(
        SEED, lottery.seed_hash(SEED), marked, published, _results(marked, 1), 1
    )
    assert _failed(checks) == {"entrants_hash"}


@pytest.mark.parametrize("field", ["position", "draw", "unit"])
def test_tampered_result_is_found(field):
    results = _results(CODES)
    results[0]["unit"], results[1]["unit"] = "A 1栋 101", "A 1栋 102"
    if field == "position":
        results[0]["position"], results[1]["position"] = 2, 1
        expected = {"order"}
    elif field == "draw":
        results[2]["draw"] = "0" * 64
        expected = {"draws"}
    else:
        results[1]["unit"] = "A 1栋 101"
        expected = {"units"}
    checks = lottery.verify(
        SEED, lottery.seed_hash(SEED), CODES, lottery.entrants_hash(CODES), results, 0
    )
    assert _failed(checks) == expected
    bad = next(c for c in checks if not c.passed)
    assert bad.expected != bad.actual


def test_a_missing_entrant_is_found():
    results = _results(CODES)[:-1]
    checks = lottery.verify(
        SEED, lottery.seed_hash(SEED), CODES, lottery.entrants_hash(CODES), results, 0
    )
    assert {"entrants", "order"} <= _failed(checks)


def test_new_seeds_are_fresh_hex():
    a, b = lottery.new_seed(), lottery.new_seed()
    assert a != b
    assert len(bytes.fromhex(a)) == 32
