"""The housing stock's services: what officers may enter, and the states a unit goes through."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa

from portal.accounts.roles import Role
from portal.applications.models import Programme
from portal.core.audit import AuditEvent
from portal.core.clock import today
from portal.core.errors import Conflict, Forbidden, InvalidTransition, ValidationFailed
from portal.extensions import db
from portal.housing import services
from portal.housing.models import Unit, UnitStatus
from tests.factories import DistrictFactory
from tests.factories.fixtures import make_staff
from tests.factories.housing import BuildingFactory, EstateFactory, UnitFactory


@pytest.fixture
def district():
    return DistrictFactory()


@pytest.fixture
def officer(district):
    return make_staff(Role.OFFICER, districts=[district])


def unit_values(**overrides):
    values = {"number": "1-0101", "floor": "1", "area": "45.50", "rooms": "2", "rent": "455"}
    return {**values, **overrides}


def events(name: str) -> list[AuditEvent]:
    return list(db.session.scalars(sa.select(AuditEvent).where(AuditEvent.event == name)))


# --- factories ----------------------------------------------------------------------------


def test_unit_factory_makes_a_vacant_unit_in_the_given_district(district):
    unit = UnitFactory(district=district)
    assert unit.status is UnitStatus.VACANT
    assert unit.estate.district is district
    assert unit.building.estate is unit.estate
    assert isinstance(unit.area, Decimal)
    assert isinstance(unit.rent, Decimal)
    assert unit.estate.programme is Programme.PUBLIC_RENTAL
    same_building = UnitFactory(building=unit.building)
    assert same_building.estate is unit.estate
    assert BuildingFactory(district=district).estate.district is district


# --- estates, buildings, units ------------------------------------------------------------


def test_officer_adds_an_estate_building_and_unit(officer, district):
    estate = services.create_estate(
        officer,
        code="gl-xf-101",
        name="  丽泽苑  ",
        district=district.code,
        address="桂林市秀峰区丽君路32号",
    )
    assert estate.code == "GL-XF-101"
    assert estate.name == "丽泽苑"
    building = services.add_building(estate, officer, "1栋")
    unit = services.create_unit(building, officer, **unit_values(accessible=True))
    assert unit.status is UnitStatus.VACANT
    assert unit.area == Decimal("45.50")
    assert unit.rent == Decimal("455.00")
    assert unit.accessible is True
    assert [e.object_id for e in events("housing.unit_create")] == [str(unit.id)]
    assert events("housing.estate_create")
    assert events("housing.building_create")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("area", "0"),
        ("area", "-3"),
        ("area", "200.01"),
        ("area", "45.555"),
        ("area", "forty"),
        ("rent", "-0.01"),
        ("rooms", "0"),
        ("rooms", "7"),
        ("rooms", "2.5"),
        ("floor", "-4"),
        ("floor", "100"),
        ("number", "   "),
    ],
)
def test_unit_values_out_of_range_are_refused(officer, district, field, value):
    building = BuildingFactory(district=district)
    with pytest.raises(ValidationFailed) as caught:
        services.create_unit(building, officer, **unit_values(**{field: value}))
    assert caught.value.field == field
    assert str(caught.value.message)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Unit)) == 0


def test_the_limits_themselves_are_accepted(officer, district):
    building = BuildingFactory(district=district)
    big = services.create_unit(
        building, officer, **unit_values(area="200", rooms="6", floor="99", rent="0")
    )
    low = services.create_unit(
        building, officer, **unit_values(number="B1", area="0.01", rooms="1", floor="-3")
    )
    assert (big.area, big.rooms, big.floor, big.rent) == (Decimal("200.00"), 6, 99, Decimal(0))
    assert (low.area, low.floor) == (Decimal("0.01"), -3)


def test_every_bad_value_is_reported_at_once(officer, district):
    building = BuildingFactory(district=district)
    with pytest.raises(ValidationFailed) as caught:
        services.create_unit(building, officer, **unit_values(area="0", rooms="9", rent="-1"))
    assert set(caught.value.details["errors"]) == {"area", "rooms", "rent"}


def test_unit_number_is_unique_in_its_building_only(officer, district):
    building = BuildingFactory(district=district)
    services.create_unit(building, officer, **unit_values())
    with pytest.raises(Conflict) as caught:
        services.create_unit(building, officer, **unit_values())
    assert caught.value.field == "number"
    other = BuildingFactory(estate=building.estate)
    assert services.create_unit(other, officer, **unit_values()).number == "1-0101"


def test_estate_code_is_unique(officer, district):
    EstateFactory(code="GL-XF-001", district=district)
    with pytest.raises(Conflict):
        services.create_estate(
            officer, code="gl-xf-001", name="甲", district=district, address="桂林市某路1号"
        )


def test_estate_needs_an_existing_district(officer):
    with pytest.raises(ValidationFailed) as caught:
        services.create_estate(
            officer, code="GL-X-1", name="甲", district="999999", address="桂林市某路1号"
        )
    assert caught.value.field == "district"


def test_building_names_are_unique_in_an_estate(officer, district):
    estate = EstateFactory(district=district)
    services.add_building(estate, officer, "1栋")
    with pytest.raises(Conflict):
        services.add_building(estate, officer, " 1栋 ")


def test_officer_changes_only_the_stock_of_their_districts(officer):
    elsewhere = DistrictFactory()
    with pytest.raises(Forbidden):
        services.create_estate(
            officer, code="GL-Y-1", name="乙", district=elsewhere, address="桂林市某路2号"
        )
    foreign = UnitFactory(district=elsewhere)
    with pytest.raises(Forbidden):
        services.add_building(foreign.estate, officer, "9栋")
    with pytest.raises(Forbidden):
        services.create_unit(foreign.building, officer, **unit_values())
    with pytest.raises(Forbidden):
        services.set_maintenance(foreign, officer)
    assert foreign.status is UnitStatus.VACANT


def test_manager_works_city_wide_and_a_reviewer_not_at_all():
    unit = UnitFactory()
    manager = make_staff(Role.MANAGER)
    services.set_maintenance(unit, manager)
    assert unit.status is UnitStatus.MAINTENANCE
    with pytest.raises(Forbidden):
        services.end_maintenance(unit, make_staff(Role.REVIEWER))


def test_officer_moves_an_estate_between_their_districts_only(officer, district):
    second = DistrictFactory()
    officer.districts = [district, second]
    estate = EstateFactory(district=district)
    values = {
        "code": estate.code,
        "name": estate.name,
        "address": estate.address,
        "programme": "public_rental",
    }
    services.update_estate(estate, officer, district=second.code, **values)
    assert estate.district_id == second.id
    with pytest.raises(Forbidden):
        services.update_estate(estate, officer, district=DistrictFactory().code, **values)


def test_area_rooms_and_rent_are_fixed_while_offered_or_let(officer, district):
    unit = UnitFactory(district=district)
    services.offer_in_round(unit, officer)
    current = {"number": unit.number, "floor": unit.floor, "rooms": unit.rooms}
    with pytest.raises(Conflict) as caught:
        services.update_unit(unit, officer, area="50", rent=unit.rent, **current)
    assert str(UnitStatus.IN_ROUND.label) in str(caught.value)  # says why, in its language
    # what the households saw stays; the number may still be corrected
    services.update_unit(
        unit, officer, area=unit.area, rent=unit.rent, **{**current, "number": "X-1"}
    )
    assert unit.number == "X-1"
    services.let_unit(unit, officer)
    with pytest.raises(Conflict):
        services.update_unit(unit, officer, area=unit.area, rent="1", **current)


# --- unit states --------------------------------------------------------------------------


def test_a_unit_goes_round_let_vacant(officer, district):
    unit = UnitFactory(district=district, vacated_on=today() - timedelta(days=30))
    services.offer_in_round(unit, officer)
    assert unit.status is UnitStatus.IN_ROUND
    services.let_unit(unit, officer)
    assert unit.status is UnitStatus.OCCUPIED
    assert unit.vacated_on is None
    services.vacate_unit(unit, officer, today() - timedelta(days=2))
    assert unit.status is UnitStatus.VACANT
    assert unit.vacated_on == today() - timedelta(days=2)
    moves = [
        e.details_dict["status_to"]
        for e in db.session.scalars(
            sa.select(AuditEvent).where(AuditEvent.object_type == "units").order_by(AuditEvent.id)
        )
    ]
    assert moves == ["in_round", "occupied", "vacant"]


def test_offering_a_unit_twice_is_a_conflict(officer, district):
    unit = UnitFactory(district=district)
    services.offer_in_round(unit, officer)
    with pytest.raises(Conflict) as caught:
        services.offer_in_round(unit, officer)
    assert isinstance(caught.value, InvalidTransition)
    assert unit.number in str(caught.value)


@pytest.mark.parametrize(
    ("status", "action"),
    [
        (UnitStatus.OCCUPIED, "offer_in_round"),
        (UnitStatus.MAINTENANCE, "offer_in_round"),
        (UnitStatus.VACANT, "withdraw_from_round"),
        (UnitStatus.MAINTENANCE, "let_unit"),
        (UnitStatus.OCCUPIED, "let_unit"),
        (UnitStatus.VACANT, "vacate_unit"),
        (UnitStatus.IN_ROUND, "set_maintenance"),
        (UnitStatus.VACANT, "end_maintenance"),
    ],
)
def test_impossible_moves_are_refused(officer, district, status, action):
    unit = UnitFactory(district=district, status=status)
    with pytest.raises(Conflict):
        getattr(services, action)(unit, officer)
    assert unit.status is status


def test_withdrawn_unit_keeps_its_vacated_date(officer, district):
    since = today() - timedelta(days=200)
    unit = UnitFactory(district=district, vacated_on=since)
    services.offer_in_round(unit, officer)
    services.withdraw_from_round(unit, officer)
    assert (unit.status, unit.vacated_on) == (UnitStatus.VACANT, since)


def test_vacating_in_the_future_is_refused(officer, district):
    unit = UnitFactory(district=district, status=UnitStatus.OCCUPIED)
    with pytest.raises(ValidationFailed):
        services.vacate_unit(unit, officer, today() + timedelta(days=1))
    assert unit.status is UnitStatus.OCCUPIED


def test_repair_and_back(officer, district):
    unit = UnitFactory(district=district)
    services.set_maintenance(unit, officer)
    assert unit.status is UnitStatus.MAINTENANCE
    with pytest.raises(Conflict):
        services.offer_in_round(unit, officer)
    services.end_maintenance(unit, officer)
    assert unit.status is UnitStatus.VACANT


def test_lock_unit_reads_the_row_afresh(district):
    unit = UnitFactory(district=district)
    db.session.execute(sa.update(Unit).where(Unit.id == unit.id).values(status=UnitStatus.OCCUPIED))
    assert services.lock_unit(unit.id) is unit
    assert unit.status is UnitStatus.OCCUPIED


# --- not re-let ---------------------------------------------------------------------------


def test_not_relet_lists_units_vacant_over_a_year(officer, district):
    on = today()
    old = UnitFactory(district=district, vacated_on=on - timedelta(days=400))
    recent = UnitFactory(district=district, vacated_on=on - timedelta(days=100))
    repairing = UnitFactory(
        district=district, vacated_on=on - timedelta(days=500), status=UnitStatus.MAINTENANCE
    )
    never_let = UnitFactory(district=district)
    listed = list(db.session.scalars(services.not_relet()))
    assert repairing in listed
    assert old in listed
    assert recent not in listed
    assert never_let not in listed
    assert listed.index(repairing) < listed.index(old)  # the longest vacant first
    rows = services.not_relet_rows(officer)
    assert {(r.unit.id, r.days) for r in rows} == {(old.id, 400), (repairing.id, 500)}
    services.let_unit(old, officer)
    assert old not in list(db.session.scalars(services.not_relet()))


def test_not_relet_report_keeps_to_the_officers_districts(officer, district):
    mine = UnitFactory(district=district, vacated_on=today() - timedelta(days=400))
    UnitFactory(vacated_on=today() - timedelta(days=400))
    assert [r.unit for r in services.not_relet_rows(officer)] == [mine]
    assert len(services.not_relet_rows(make_staff(Role.MANAGER))) == 2


def test_estate_overview_counts_units_by_state(officer, district):
    estate = EstateFactory(district=district)
    for status in (UnitStatus.VACANT, UnitStatus.VACANT, UnitStatus.OCCUPIED):
        UnitFactory(estate=estate, status=status)
    UnitFactory(estate=estate, status=UnitStatus.MAINTENANCE, vacated_on=today() - timedelta(400))
    UnitFactory(estate=estate, status=UnitStatus.IN_ROUND)
    EstateFactory()  # another district's
    (row,) = services.estate_overview(officer)
    assert (row.vacant, row.in_round, row.let, row.repair, row.not_relet, row.total) == (
        2,
        1,
        1,
        1,
        1,
        5,
    )
