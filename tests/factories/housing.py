"""Estates, buildings and units for tests.

``UnitFactory()`` is a vacant unit of a new estate in a new district. ``district=d`` puts the
new estate in district ``d``; ``estate=e`` or ``building=b`` places the unit in an existing
estate or building. ``EstateFactory`` and ``BuildingFactory`` take ``district=`` too.
"""

from __future__ import annotations

from decimal import Decimal

import factory

from portal.applications.models import Programme
from portal.housing.models import Building, Estate, Unit, UnitStatus
from tests.factories import Base, DistrictFactory


class EstateFactory(Base):
    """A public-rental estate; ``EstateFactory(district=d)`` places it in district ``d``."""

    class Meta:
        model = Estate

    code = factory.Sequence(lambda n: f"T-{n:05d}")
    name = factory.Sequence(lambda n: f"测试小区{n}")
    district = factory.SubFactory(DistrictFactory)
    address = factory.Sequence(lambda n: f"桂林市测试路{n}号")
    programme = Programme.PUBLIC_RENTAL
    market_rent = None


class BuildingFactory(Base):
    """A building of a new estate (in ``district=`` if given) or of ``estate=``."""

    class Meta:
        model = Building

    estate = None
    district = None
    name = factory.Sequence(lambda n: f"{n + 1}栋")

    @classmethod
    def _adjust_kwargs(cls, **kwargs):
        district = kwargs.pop("district", None)
        if kwargs.get("estate") is None:
            kwargs["estate"] = EstateFactory(**({"district": district} if district else {}))
        return kwargs


class UnitFactory(Base):
    """A vacant unit: 45.50 m², 2 rooms, 3rd floor, 500.50 yuan a month."""

    class Meta:
        model = Unit

    estate = None
    building = None
    district = None
    number = factory.Sequence(lambda n: f"U{n:05d}")
    floor = 3
    area = Decimal("45.50")
    rooms = 2
    accessible = False
    rent = Decimal("500.50")
    status = UnitStatus.VACANT
    vacated_on = None

    @classmethod
    def _adjust_kwargs(cls, **kwargs):
        district = kwargs.pop("district", None)
        building = kwargs.get("building")
        estate = kwargs.get("estate")
        if building is None:
            if estate is None:
                estate = EstateFactory(**({"district": district} if district else {}))
            building = BuildingFactory(estate=estate)
        kwargs["building"] = building
        kwargs["estate"] = building.estate
        return kwargs
