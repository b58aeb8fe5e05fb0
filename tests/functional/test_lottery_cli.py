"""``flask portal lottery verify``: from the database or from a downloaded results.json;
exit status 0 when every check passes, 1 on any mismatch."""

from __future__ import annotations

import json

import sqlalchemy as sa

from portal.allocation.models import Method, RoundEntrant
from tests.functional.test_lottery_public import make_round


def _verify(app, *args):
    return app.test_cli_runner().invoke(args=["portal", "lottery", "verify", *args])


def test_verify_from_the_database(app):
    rnd = make_round(households=5)
    result = _verify(app, rnd.reference)
    assert result.exit_code == 0, result.output
    assert "[ok  ] seed_hash" in result.output
    assert "verified" in result.output


def test_a_tampered_database_row_exits_1(app, db):
    rnd = make_round(households=5)
    db.session.execute(
        sa.update(RoundEntrant)
        .where(RoundEntrant.round_id == rnd.id, RoundEntrant.position == 1)
        .values(position=99)
    )
    result = _verify(app, rnd.reference)
    assert result.exit_code == 1
    assert "[FAIL] order" in result.output


def test_verify_a_file_without_the_database(app, client, tmp_path):
    rnd = make_round(households=5)
    doc = json.loads(client.get(f"/rounds/{rnd.reference}/results.json").data)
    good = tmp_path / "results.json"
    good.write_text(json.dumps(doc), encoding="utf-8")
    result = _verify(app, "--file", str(good))
    assert result.exit_code == 0, result.output

    doc["entrants"].append({"code": "GL2099000001", "sector": False})
    bad = tmp_path / "tampered.json"
    bad.write_text(json.dumps(doc), encoding="utf-8")
    result = _verify(app, "--file", str(bad))
    assert result.exit_code == 1
    assert "[FAIL] entrants_hash" in result.output


def test_rounds_that_cannot_be_verified_say_why(app):
    rank = make_round(method=Method.RANK)
    undrawn = make_round(draw=False)
    for ref in (rank.reference, undrawn.reference, "R2026-9999"):
        result = _verify(app, ref)
        assert result.exit_code != 0
        assert "Error" in result.output
    assert _verify(app).exit_code == 2  # neither a reference nor a file
