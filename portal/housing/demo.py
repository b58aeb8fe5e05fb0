"""Demonstration housing stock for Guilin: seven estates, about 150 units.

The estates are made up, in real streets of the city. Most of them lie in 秀峰区 and 七星区,
the districts of the demo officer. Each unit is drawn from a generator seeded with its
estate's code, so loading twice gives the same stock, and only what is missing is created.
"""

from __future__ import annotations

import random
from datetime import timedelta
from decimal import ROUND_HALF_UP, Decimal

import sqlalchemy as sa

from portal.accounts.models import District
from portal.applications.models import Programme
from portal.core import audit
from portal.core.clock import today
from portal.extensions import db
from portal.housing.models import Building, Estate, Unit, UnitStatus

# code, district, name, address, programme, buildings, floors, units a floor,
# rent in yuan per m² a month, market rent per m²
ESTATES = (
    ("GL-XF-001", "450302", "丽泽苑公租房小区", "桂林市秀峰区丽君路32号",
     Programme.PUBLIC_RENTAL, 3, 5, 2, "10.20", "22.00"),
    ("GL-XF-002", "450302", "甲山安居小区", "桂林市秀峰区甲山路18号",
     Programme.PUBLIC_RENTAL, 2, 5, 2, "9.80", "20.50"),
    ("GL-QX-001", "450305", "穿山公租房小区", "桂林市七星区穿山东路6号",
     Programme.PUBLIC_RENTAL, 3, 5, 2, "10.50", "23.00"),
    ("GL-QX-002", "450305", "东环保租公寓", "桂林市七星区东环路59号",
     Programme.AFFORDABLE_RENTAL, 2, 5, 2, "11.80", "24.00"),
    ("GL-DC-001", "450303", "北门安居苑", "桂林市叠彩区北辰路21号",
     Programme.PUBLIC_RENTAL, 2, 5, 2, "9.50", "19.00"),
    ("GL-XS-001", "450304", "瓦窑公租房小区", "桂林市象山区瓦窑路12号",
     Programme.PUBLIC_RENTAL, 2, 4, 2, "9.20", "18.50"),
    ("GL-LG-001", "450312", "临桂新区公租房", "桂林市临桂区世纪西路199号",
     Programme.PUBLIC_RENTAL, 2, 4, 2, "9.00", "17.00"),
)  # fmt: skip
CENT = Decimal("0.01")


def _area(rng: random.Random) -> Decimal:
    """Mostly 30–60 m², now and then a small flat or a large one (28–75)."""
    roll = rng.random()
    if roll < 0.08:
        low, high = 28, 30
    elif roll < 0.9:
        low, high = 30, 60
    else:
        low, high = 60, 75
    return (Decimal(rng.randint(low * 100, high * 100)) / 100).quantize(CENT)


def _rooms(area: Decimal) -> int:
    if area < 38:
        return 1
    return 2 if area < 55 else 3


def _state(rng: random.Random, on):
    """Status and vacated date: a third let, a few vacant for over a year (flagged as not
    re-let), a few under repair, the rest vacant and ready for allocation rounds."""
    roll = rng.random()
    if roll < 0.3:
        return UnitStatus.OCCUPIED, None
    if roll < 0.38:
        return UnitStatus.VACANT, on - timedelta(days=rng.randint(380, 700))
    if roll < 0.42:
        return UnitStatus.MAINTENANCE, on - timedelta(days=rng.randint(40, 200))
    if roll < 0.65:
        return UnitStatus.VACANT, on - timedelta(days=rng.randint(10, 300))
    return UnitStatus.VACANT, None  # new, never let


def load_demo_housing() -> int:
    """Create the demonstration estates, buildings and units that are missing (the districts
    must exist: ``portal.demo.load_demo``). Returns how many units were created."""
    districts = {d.code: d for d in db.session.scalars(sa.select(District))}
    on = today()
    created = 0
    for (
        code,
        district_code,
        name,
        address,
        programme,
        buildings,
        floors,
        per_floor,
        rate,
        market,
    ) in ESTATES:
        district = districts.get(district_code)
        if district is None:
            continue
        estate = db.session.scalar(sa.select(Estate).where(Estate.code == code))
        if estate is None:
            estate = Estate(
                code=code,
                name=name,
                district_id=district.id,
                address=address,
                programme=programme,
                market_rent=Decimal(market),
            )
            db.session.add(estate)
            db.session.flush()
        rng = random.Random(code)  # noqa: S311 -- repeatable demo data, not a secret
        have = {b.name: b for b in estate.buildings}
        numbers = set(
            db.session.execute(
                sa.select(Building.name, Unit.number)
                .join(Building, Building.id == Unit.building_id)
                .where(Unit.estate_id == estate.id)
            ).all()
        )
        for b in range(1, buildings + 1):
            building_name = f"{b}栋"
            building = have.get(building_name)
            if building is None:
                building = Building(estate=estate, name=building_name)
                db.session.add(building)
            for floor in range(1, floors + 1):
                for n in range(1, per_floor + 1):
                    # drawn for every unit, created or not, so the sequence never shifts
                    area = _area(rng)
                    accessible = floor == 1 and rng.random() < 0.6
                    status, vacated_on = _state(rng, on)
                    number = f"{b}-{floor:02d}{n:02d}"
                    if (building_name, number) in numbers:
                        continue
                    rent = (area * Decimal(rate)).quantize(CENT, rounding=ROUND_HALF_UP)
                    db.session.add(
                        Unit(
                            estate=estate,
                            building=building,
                            number=number,
                            floor=floor,
                            area=area,
                            rooms=_rooms(area),
                            accessible=accessible,
                            rent=rent,
                            status=status,
                            vacated_on=vacated_on,
                        )
                    )
                    created += 1
    db.session.flush()
    if created:
        audit.record("housing.demo_load", actor="cli", units=created)
    return created
