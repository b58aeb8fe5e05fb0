"""The verifiable lottery (摇号) of an allocation round: pure functions, no database.

1. When a manager approves the round, a secret seed (32 random bytes, hex) is drawn and the
   entrants are frozen. Published at once: ``seed_hash`` = SHA-256 of the seed and
   ``entrants_hash`` = SHA-256 of the canonical entrant list (:func:`canonical_entrants`).
2. The draw reveals the seed. Each entrant's draw value is
   ``HMAC-SHA256(key=bytes.fromhex(seed), msg=code)`` in hex; the order follows from the
   draw values alone (:func:`order`), so nobody, the office included, could pick the order
   after seeing the entrants, and anyone can re-run it (docs/lottery.md).

The canonical entrant list has one line per entrant, sorted by code, UTF-8, each line
ending with a line feed: the code alone, or the code, a space and ``S`` for a household of
the sector quota (their places are reserved at the front, so the list commits to who they
are before the seed is known). A round without sector households is thus just its codes.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

SECTOR_MARK = "S"


def new_seed() -> str:
    """A fresh secret seed: 32 random bytes as 64 hex digits."""
    return secrets.token_hex(32)


def seed_hash(seed: str) -> str:
    """SHA-256 (hex) of the seed as text, published before the draw."""
    return hashlib.sha256(seed.encode("utf-8")).hexdigest()


def _pairs(entrants: Iterable[str | tuple[str, bool]]) -> list[tuple[str, bool]]:
    """Entrants as ``(code, sector)``; a bare code is a household outside the sector quota."""
    return [(e, False) if isinstance(e, str) else (e[0], bool(e[1])) for e in entrants]


def canonical_entrants(entrants: Iterable[str | tuple[str, bool]]) -> bytes:
    """The published entrant list: sorted by code, one line each (see the module's text)."""
    lines = (f"{c} {SECTOR_MARK}\n" if s else f"{c}\n" for c, s in sorted(_pairs(entrants)))
    return "".join(lines).encode("utf-8")


def parse_entrants(data: bytes) -> list[tuple[str, bool]]:
    """The entrants of a canonical list (the inverse of :func:`canonical_entrants`)."""
    out = []
    for line in data.decode("utf-8").splitlines():
        code, _, mark = line.partition(" ")
        out.append((code, mark == SECTOR_MARK))
    return out


def entrants_hash(entrants: Iterable[str | tuple[str, bool]]) -> str:
    """SHA-256 (hex) of the canonical entrant list, published before the draw."""
    return hashlib.sha256(canonical_entrants(entrants)).hexdigest()


def draw_value(seed: str, code: str) -> str:
    """An entrant's draw: HMAC-SHA256 keyed with the seed's bytes over the code, hex."""
    return hmac.new(bytes.fromhex(seed), code.encode("utf-8"), "sha256").hexdigest()


def draw_values(seed: str, codes: Sequence[str]) -> list[str]:
    """:func:`draw_value` of many codes: the keyed state is made once and copied, which
    halves the cost of a million entrants."""
    keyed = hmac.new(bytes.fromhex(seed), digestmod="sha256")
    out = []
    append = out.append
    for code in codes:
        h = keyed.copy()
        h.update(code.encode("utf-8"))
        append(h.hexdigest())
    return out


def order(
    seed: str, entrants: Iterable[str | tuple[str, bool]], quota_count: int
) -> list[tuple[str, int, str]]:
    """``(code, position, draw)`` for every entrant, position 1 choosing first.

    The first ``quota_count`` sector households by ascending draw value take positions
    1…Q; everybody else follows by ascending draw value. Two equal draw values would need a
    SHA-256 collision; they would be ordered by code.
    """
    pairs = _pairs(entrants)
    codes = [c for c, _ in pairs]
    draws = draw_values(seed, codes)
    ranked = sorted(range(len(codes)), key=draws.__getitem__)
    if len(set(draws)) < len(draws):  # pragma: no cover - a SHA-256 collision
        ranked.sort(key=lambda i: (draws[i], codes[i]))
    first: list[int] = []
    rest: list[int] = []
    for i in ranked:
        if pairs[i][1] and len(first) < quota_count:
            first.append(i)
        else:
            rest.append(i)
    return [(codes[i], p, draws[i]) for p, i in enumerate(first + rest, start=1)]


@dataclass(frozen=True)
class Check:
    """One verification step: ``name`` is a stable key (see ``CHECK_NAMES``)."""

    name: str
    passed: bool
    expected: str
    actual: str


CHECK_NAMES = ("seed_hash", "entrants_hash", "entrants", "draws", "order", "units")


def _first_difference(expected: Sequence, actual: Sequence) -> tuple[str, str]:
    for e, a in zip(expected, actual, strict=False):
        if e != a:
            return str(e), str(a)
    return f"{len(expected)} rows", f"{len(actual)} rows"


def verify(
    seed: str,
    published_seed_hash: str,
    entrants: Iterable[str | tuple[str, bool]],
    published_entrants_hash: str,
    results: Iterable[Mapping],
    quota_count: int,
) -> list[Check]:
    """Re-check a drawn round from its published data alone.

    ``results`` are mappings with ``code``, ``draw``, ``position`` and optionally ``unit``
    (as in ``results.json``). Each check says what was expected and what was found; on a
    mismatch, the first differing item.
    """
    pairs = _pairs(entrants)
    results = sorted(results, key=lambda r: (r["position"] is None, r["position"] or 0))
    checks = []

    actual = seed_hash(seed)
    checks.append(Check("seed_hash", actual == published_seed_hash, published_seed_hash, actual))

    actual = entrants_hash(pairs)
    checks.append(
        Check("entrants_hash", actual == published_entrants_hash, published_entrants_hash, actual)
    )

    codes = sorted(c for c, _ in pairs)
    result_codes = sorted(r["code"] for r in results)
    if codes == result_codes:
        checks.append(Check("entrants", True, f"{len(codes)}", f"{len(result_codes)}"))
    else:
        missing = sorted(set(codes) - set(result_codes))[:3]
        extra = sorted(set(result_codes) - set(codes))[:3]
        checks.append(
            Check(
                "entrants",
                False,
                f"{len(codes)}" + (f" ({', '.join(missing)})" if missing else ""),
                f"{len(result_codes)}" + (f" ({', '.join(extra)})" if extra else ""),
            )
        )

    expected_draws = draw_values(seed, [r["code"] for r in results])
    wrong = [r for r, d in zip(results, expected_draws, strict=True) if r["draw"] != d]
    if wrong:
        bad = wrong[0]
        checks.append(
            Check(
                "draws",
                False,
                f"{bad['code']}: {draw_value(seed, bad['code'])}",
                f"{bad['code']}: {bad['draw']}",
            )
        )
    else:
        checks.append(Check("draws", True, f"{len(results)}", f"{len(results)}"))

    expected = [(c, p) for c, p, _ in order(seed, pairs, quota_count)]
    actual_order = [(r["code"], r["position"]) for r in results]
    if expected == actual_order:
        checks.append(Check("order", True, f"{len(expected)}", f"{len(actual_order)}"))
    else:
        e, a = _first_difference(expected, actual_order)
        checks.append(Check("order", False, e, a))

    units = Counter(str(r["unit"]) for r in results if r.get("unit"))
    twice = sorted(u for u, n in units.items() if n > 1)
    checks.append(
        Check(
            "units",
            not twice,
            f"{units.total()}",
            f"{len(units)}" + (f" ({', '.join(twice[:3])})" if twice else ""),
        )
    )
    return checks
