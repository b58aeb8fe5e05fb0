"""The public round pages: what is published before and after the draw, the entrant list
whose hash was published, results.json, and a verification that notices tampering."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa

from portal.accounts.roles import Role
from portal.allocation import lottery, services
from portal.allocation.cli import verify_document
from portal.allocation.models import Method, RoundEntrant
from portal.applications.models import Programme
from portal.waitlist.models import Group
from tests.factories import DistrictFactory
from tests.factories.fixtures import make_staff
from tests.factories.housing import EstateFactory, UnitFactory
from tests.factories.waitlist import waiting_entry


def make_round(*, households=5, method=Method.LOTTERY, draw=True, sector=0, share=0):
    """A published round of ``district``: approved, and drawn if ``draw``."""
    district = DistrictFactory(name_en="Qixing District", name_zh="七星区")
    estate = EstateFactory(district=district, name="漓江花园")
    for _ in range(households):
        waiting_entry(district, household_size=2)
    for _ in range(sector):
        waiting_entry(district, household_size=2, group=Group.S)
    officer = make_staff(Role.OFFICER, districts=[district])
    units = [UnitFactory(estate=estate, area=Decimal("45.50"), rooms=2) for _ in range(3)]
    rnd = services.create_round(
        officer,
        district=district,
        programme=Programme.PUBLIC_RENTAL,
        title="漓江花园第一批",
        method=method,
        groups=[Group.G, Group.S],
        sector_share=share,
        choose_days=3,
        unit_ids=[u.id for u in units],
    )
    services.propose(rnd, officer)
    services.approve(rnd, make_staff(Role.MANAGER))
    if draw:
        services.draw(rnd, officer)
    return rnd


@pytest.fixture
def en(client):
    client.set_cookie("locale", "en", domain="portal.test")
    return client


def test_drafts_are_not_public(en):
    district = DistrictFactory()
    officer = make_staff(Role.OFFICER, districts=[district])
    rnd = services.create_round(
        officer,
        district=district,
        programme=Programme.PUBLIC_RENTAL,
        title="草稿",
        method=Method.LOTTERY,
        groups=[Group.G],
        unit_ids=[UnitFactory(district=district).id],
    )
    assert rnd.reference not in en.get("/rounds/").get_data(as_text=True)
    assert en.get(f"/rounds/{rnd.reference}").status_code == 404
    assert en.get(f"/rounds/{rnd.reference}/entrants.txt").status_code == 404


def test_before_the_draw_the_hashes_are_published_not_the_seed(en):
    rnd = make_round(draw=False)
    assert rnd.reference in en.get("/rounds/").get_data(as_text=True)
    page = en.get(f"/rounds/{rnd.reference}").get_data(as_text=True)
    assert 'lang="en"' in page
    assert rnd.seed_hash in page
    assert rnd.entrants_hash in page
    assert rnd.seed not in page
    assert "漓江花园" in page
    assert "The order has not been drawn yet." in page
    data = en.get(f"/rounds/{rnd.reference}/entrants.txt")
    assert data.status_code == 200
    assert data.mimetype == "text/plain"
    assert hashlib.sha256(data.data).hexdigest() == rnd.entrants_hash
    assert len(data.data.splitlines()) == rnd.entrant_count


def test_after_the_draw_the_seed_order_and_a_passing_verification(en, db):
    rnd = make_round(households=4, sector=2, share=34)  # 34 % of 3 units: 1 quota place
    page = en.get(f"/rounds/{rnd.reference}").get_data(as_text=True)
    assert rnd.published_seed in page
    assert "✓ Every check passed" in page
    assert page.count("✓ passed") == len(lottery.CHECK_NAMES)
    assert "failed" not in page
    first = db.session.scalar(
        sa.select(RoundEntrant).where(RoundEntrant.round_id == rnd.id, RoundEntrant.position == 1)
    )
    assert first.sector  # the quota's place comes first
    assert first.masked_name in page
    data = en.get(f"/rounds/{rnd.reference}/entrants.txt").data
    assert hashlib.sha256(data).hexdigest() == rnd.entrants_hash
    assert f"{first.code} S\n".encode() in data


def test_results_json_holds_everything_to_verify(en, monkeypatch):
    from portal.allocation import public_views

    monkeypatch.setattr(public_views, "CHUNK", 4)  # sent in several pieces
    rnd = make_round(households=6)
    resp = en.get(f"/rounds/{rnd.reference}/results.json")
    assert resp.status_code == 200
    doc = json.loads(resp.get_data(as_text=True))
    assert doc["seed"] == rnd.published_seed
    assert doc["seed_hash"] == rnd.seed_hash
    assert len(doc["results"]) == len(doc["entrants"]) == rnd.entrant_count
    assert [r["position"] for r in doc["results"]] == list(range(1, 7))
    assert all(c.passed for c in verify_document(doc))
    doc["results"][0]["position"], doc["results"][1]["position"] = 2, 1
    assert not all(c.passed for c in verify_document(doc))


def test_a_tampered_result_shows_a_failed_check(en, db):
    rnd = make_round(households=4)
    db.session.execute(
        sa.update(RoundEntrant)
        .where(RoundEntrant.round_id == rnd.id, RoundEntrant.position == 2)
        .values(draw="0" * 64)
    )
    page = en.get(f"/rounds/{rnd.reference}").get_data(as_text=True)
    assert "✗ At least one check failed" in page
    assert "✗ failed" in page


def test_a_rank_round_publishes_its_order_without_a_lottery(en):
    rnd = make_round(method=Method.RANK)
    page = en.get(f"/rounds/{rnd.reference}").get_data(as_text=True)
    assert "ordered by the households' rank in the waiting list" in page
    assert "Verification" not in page


def test_unknown_round_is_not_found(en):
    assert en.get("/rounds/R2026-9999").status_code == 404
    assert en.get("/rounds/R2026-9999/results.json").status_code == 404


def test_the_documented_script_checks_a_download(en, tmp_path):
    """docs/lottery.md's 15-line script, run on its own against a downloaded results.json."""
    rnd = make_round(households=5, sector=2, share=34)
    download = tmp_path / "results.json"
    download.write_bytes(en.get(f"/rounds/{rnd.reference}/results.json").data)
    docs = Path(__file__).resolve().parents[2] / "docs" / "lottery.md"
    script = docs.read_text(encoding="utf-8").split("```python\n", 1)[1].split("```", 1)[0]
    assert len(script.strip().splitlines()) <= 15
    program = tmp_path / "check_round.py"
    program.write_text(script, encoding="utf-8")

    def run() -> str:
        return subprocess.run(
            [sys.executable, "-I", str(program), str(download)],
            capture_output=True,
            text=True,
            check=True,
            cwd=tmp_path,
        ).stdout

    assert run().split().count("True") == 4
    doc = json.loads(download.read_text(encoding="utf-8"))
    doc["results"][0]["position"], doc["results"][1]["position"] = 2, 1
    download.write_text(json.dumps(doc), encoding="utf-8")
    assert "False" in run()
