"""Public pages of allocation rounds: published inputs, results and the lottery's verification.

Everything here is computed from what the round has published: the hashes from approval on,
the seed and the order after the draw. The verification is run live on each visit, so the
page can never say "verified" about data it did not check.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

from flask import (
    Blueprint,
    Response,
    abort,
    render_template,
    request,
    url_for,
)

from portal.allocation import services
from portal.allocation.models import AllocationRound, Method
from portal.core.access import public

bp = Blueprint("lottery", __name__, url_prefix="/rounds")

PAGE = 100
CHUNK = 1000  # rows of results.json sent at a time


def _round(reference: str) -> AllocationRound:
    rnd = services.published_round(reference)
    if rnd is None:
        abort(404)
    return rnd


@bp.get("/")
@public
def index():
    """Published rounds, the newest first."""
    return render_template("allocation/public_index.html", rounds=services.public_rounds())


@bp.get("/<reference>")
@public
def show(reference: str):
    """One round: its units, the published inputs, and after the draw the order, the
    results and the verification."""
    rnd = _round(reference)
    start = request.args.get("from", "")
    start = int(start) if start.isdigit() and int(start) > 0 else 1
    entrants, next_start = (
        services.entrants_by_position(rnd, start, PAGE) if rnd.ordered_at else ([], None)
    )
    checks = services.verification(rnd)
    return render_template(
        "allocation/public_round.html",
        round=rnd,
        units=services.round_units(rnd),
        quota=services.quota_count(rnd),
        entrants=entrants,
        start=start,
        next_url=url_for("lottery.show", reference=rnd.reference, **{"from": next_start}) + "#order"
        if next_start
        else None,
        first_url=url_for("lottery.show", reference=rnd.reference) + "#order"
        if start > 1
        else None,
        checks=checks,
        check_title=services.check_title,
        all_passed=bool(checks) and all(c.passed for c in checks),
        lottery=rnd.method is Method.LOTTERY,
    )


@bp.get("/<reference>/entrants.txt")
@public
def entrants_txt(reference: str):
    """The canonical entrant list: exactly the bytes whose SHA-256 was published."""
    rnd = _round(reference)
    return Response(
        services.entrants_file(rnd),
        mimetype="text/plain",
        headers={
            "Content-Disposition": f'attachment; filename="{rnd.reference}-entrants.txt"',
        },
    )


def results_document(rnd: AllocationRound) -> Iterator[str]:
    """``results.json``: everything needed to verify the round (docs/lottery.md). The rows
    are read now; the text is made as it is sent, so a large round is never one huge string
    in memory (and the stream needs no database)."""
    head = {
        "reference": rnd.reference,
        "title": rnd.title,
        "method": rnd.method.value,
        "status": rnd.status.value,
        "seed": rnd.published_seed,
        "seed_hash": rnd.seed_hash,
        "entrants_hash": rnd.entrants_hash,
        "entrant_count": rnd.entrant_count,
        "quota_count": services.quota_count(rnd),
        "ordered_at": rnd.ordered_at.isoformat() if rnd.ordered_at else None,
        "notice_until": rnd.notice_until.isoformat() if rnd.notice_until else None,
    }
    pairs = sorted(services.entrant_pairs(rnd))
    results = list(services.result_rows(rnd)) if rnd.ordered_at else []

    def rows(items: list, sep: str) -> Iterator[str]:
        for i in range(0, len(items), CHUNK):
            yield (
                ("," if i else "")
                + sep
                + f",{sep}".join(
                    json.dumps(item, ensure_ascii=False) for item in items[i : i + CHUNK]
                )
            )

    def chunks() -> Iterator[str]:
        yield json.dumps(head, ensure_ascii=False, indent=1)[:-2] + ',\n "entrants": ['
        yield from rows([{"code": c, "sector": s} for c, s in pairs], "")
        yield '],\n "results": ['
        yield from rows(results, "\n  ")
        yield "\n ]\n}\n"

    return chunks()


@bp.get("/<reference>/results.json")
@public
def results_json(reference: str):
    """Seed, hashes, entrants and every result: what the verification script reads."""
    rnd = _round(reference)
    return Response(
        results_document(rnd),
        mimetype="application/json",
        headers={
            "Content-Disposition": f'attachment; filename="{rnd.reference}-results.json"',
        },
    )
