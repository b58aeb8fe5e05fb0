"""``flask portal housing import FILE`` and the demonstration stock."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa

from portal.accounts.models import District
from portal.core.clock import today
from portal.demo import GUILIN
from portal.extensions import db
from portal.housing.cli import housing_cli
from portal.housing.demo import load_demo_housing
from portal.housing.models import Estate, Unit, UnitStatus
from portal.housing.services import not_relet
from tests.factories import DistrictFactory

GOOD = (
    "小区编码,小区名称,区县代码,地址,楼栋,房号,楼层,面积,户型室数,月租金\n"
    "GL-XF-001,丽泽苑,450302,桂林市秀峰区丽君路32号,1栋,1-0101,1,45.50,2,455\n"
)


@pytest.fixture
def run(app):
    runner = app.test_cli_runner()

    def invoke(*args: str):
        return runner.invoke(housing_cli, list(args))

    return invoke


def units() -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(Unit))


def test_cli_imports_a_file(run, tmp_path):
    DistrictFactory(code="450302")
    path = tmp_path / "stock.csv"
    path.write_text(GOOD, encoding="utf-8-sig")
    result = run("import", str(path))
    assert result.exit_code == 0, result.output
    assert "1 units created" in result.output
    assert units() == 1


def test_cli_reports_each_problem_and_imports_nothing(run, tmp_path):
    DistrictFactory(code="450302")
    path = tmp_path / "stock.csv"
    path.write_text(GOOD + GOOD.splitlines()[1].replace("45.50", "-1") + "\n", encoding="utf-8")
    result = run("import", str(path))
    assert result.exit_code == 1
    assert "row 3, 面积" in result.output  # the same unit twice, and a bad area
    assert "nothing was imported" in result.output
    assert units() == 0


def test_cli_refuses_an_unreadable_file(run, tmp_path):
    path = tmp_path / "stock.csv"
    path.write_text("just,some,words\n", encoding="utf-8")
    result = run("import", str(path))
    assert result.exit_code == 1
    assert units() == 0


# --- demo ---------------------------------------------------------------------------------


@pytest.fixture
def guilin():
    for order, (code, zh, en, kind) in enumerate(GUILIN):
        db.session.add(District(code=code, name_zh=zh, name_en=en, kind=kind, sort_order=order))
    db.session.flush()


def test_demo_stock_is_realistic_and_loads_once(guilin):
    created = load_demo_housing()
    assert 130 <= created <= 170
    assert load_demo_housing() == 0
    assert units() == created
    estates = list(db.session.scalars(sa.select(Estate)))
    assert len(estates) >= 6
    officers_own = [e for e in estates if e.district.code in ("450302", "450305")]
    assert len(officers_own) >= 3
    all_units = list(db.session.scalars(sa.select(Unit)))
    assert all(Decimal(28) <= u.area <= Decimal(75) for u in all_units)
    assert sum(Decimal(30) <= u.area <= Decimal(60) for u in all_units) > created * 0.7
    assert {u.rooms for u in all_units} <= {1, 2, 3}
    assert all(Decimal(9) <= u.rent / u.area <= Decimal("12.01") for u in all_units)
    assert all(u.rent == u.rent.quantize(Decimal("0.01")) for u in all_units)
    accessible = [u for u in all_units if u.accessible]
    assert accessible
    assert all(u.floor == 1 for u in accessible)
    assert any(u.status is UnitStatus.OCCUPIED for u in all_units)
    stale = list(db.session.scalars(not_relet()))
    assert stale
    assert all(today() - u.vacated_on > timedelta(days=365) for u in stale)
    assert any(
        u.estate.district.code in ("450302", "450305") for u in stale
    )  # the demo officer has some to deal with


def test_demo_command_loads_the_stock_once(run, guilin):
    first = run("demo")
    assert first.exit_code == 0, first.output
    assert int(first.output.split()[0]) == units()
    again = run("demo")
    assert again.output.startswith("0 ")
