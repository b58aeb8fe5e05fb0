"""The housing stock (房源): estates, buildings and units, and the states a unit goes through.

A unit is ``VACANT`` until it is offered in an allocation round (``offer_in_round``: ``IN_ROUND``),
and from a round or directly it is let (``let_unit``: ``OCCUPIED``). When a tenancy ends it falls
vacant again (``vacate_unit``) and keeps the date, so units not re-let within a year can be
listed (``not_relet``). A vacant unit may be taken out for repairs (``set_maintenance``) and put
back (``end_maintenance``). Each change locks the unit's row first (SECURITY.md F1) and writes
an audit event.

Who may change the stock: officers within their districts, managers city-wide. The allocation
and tenancy services call the state transitions for the people they act for; those checks are
theirs, so the transitions here check only the unit's state.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import joinedload

from portal.accounts.models import District, User
from portal.accounts.roles import Role
from portal.applications.models import Programme
from portal.core import audit
from portal.core.clock import today, utcnow
from portal.core.errors import (
    Conflict,
    Forbidden,
    InvalidTransition,
    NotFound,
    ValidationFailed,
)
from portal.core.i18n import lazy_gettext as _l
from portal.extensions import db
from portal.housing.models import Building, Estate, Unit, UnitStatus

MAX_AREA = Decimal("200")
MIN_ROOMS, MAX_ROOMS = 1, 6
MIN_FLOOR, MAX_FLOOR = -3, 99
MAX_RENT = Decimal("100000")  # a sanity bound: a typo of a few digits is caught
CODE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$")
CENT = Decimal("0.01")
# Programmes whose households are housed in units; a rental subsidy is paid, not housed.
HOUSING_PROGRAMMES = (Programme.PUBLIC_RENTAL, Programme.AFFORDABLE_RENTAL)
LOCKED_IN = (UnitStatus.IN_ROUND, UnitStatus.OCCUPIED)


# --- scope -------------------------------------------------------------------------------


def _officer_district_ids(user: User) -> list[int]:
    return [d.id for d in user.districts]


def may_work_on_stock(user: User) -> bool:
    """Officers and managers keep the stock; no other role sees it."""
    return getattr(user, "role", None) in (Role.OFFICER, Role.MANAGER)


def district_scope(user: User) -> sa.ColumnElement[bool]:
    """The districts whose stock ``user`` sees: an officer's own, every one for a manager."""
    if user.role is Role.MANAGER:
        return sa.true()
    if user.role is Role.OFFICER:
        return District.id.in_(_officer_district_ids(user))
    return sa.false()


def estate_scope(user: User) -> sa.ColumnElement[bool]:
    """Estates an officer may see (their districts'), all for a manager (SECURITY.md B1)."""
    if user.role is Role.MANAGER:
        return sa.true()
    if user.role is Role.OFFICER:
        return Estate.district_id.in_(_officer_district_ids(user))
    return sa.false()


def unit_scope(user: User) -> sa.ColumnElement[bool]:
    """Units of the estates in ``user``'s scope."""
    if user.role is Role.MANAGER:
        return sa.true()
    if user.role is Role.OFFICER:
        return Unit.estate_id.in_(
            sa.select(Estate.id).where(Estate.district_id.in_(_officer_district_ids(user)))
        )
    return sa.false()


def covers_district(user: User, district_id: int) -> bool:
    if user.role is Role.MANAGER:
        return True
    return user.role is Role.OFFICER and district_id in _officer_district_ids(user)


def _require_district(actor: User, district_id: int) -> None:
    if not covers_district(actor, district_id):
        raise Forbidden(_l("You may change the housing stock of your own districts only."))


def districts_for(user: User) -> list[District]:
    """The districts ``user`` may place estates in, in the city's order."""
    return list(
        db.session.scalars(
            sa.select(District)
            .where(district_scope(user))
            .order_by(District.sort_order, District.id)
        )
    )


# --- parsing and checking values ----------------------------------------------------------
#
# The forms, the import and the API all go through these, so a value is judged alike
# wherever it comes from. Each raises ValidationFailed naming its field.


def _text(value: Any) -> str:
    if value is None:
        return ""
    return str(value).strip()


def _decimal(value: Any, field: str, what) -> Decimal:
    if isinstance(value, float):
        value = repr(value)  # a spreadsheet's number: its shortest exact spelling
    raw = _text(value).replace(",", "").replace("，", "")
    if not raw:
        raise ValidationFailed(_l("Enter the %(what)s.", what=what), field=field)
    try:
        number = Decimal(raw)
    except InvalidOperation:
        raise ValidationFailed(
            _l("The %(what)s must be a number, like 45.50.", what=what), field=field
        ) from None
    if not number.is_finite():
        raise ValidationFailed(
            _l("The %(what)s must be a number, like 45.50.", what=what), field=field
        )
    if number != number.quantize(CENT):
        raise ValidationFailed(
            _l("The %(what)s may have at most two decimal places.", what=what), field=field
        )
    return number.quantize(CENT)


def _integer(value: Any, field: str, what) -> int:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    raw = _text(value)
    if not raw:
        raise ValidationFailed(_l("Enter the %(what)s.", what=what), field=field)
    if not re.fullmatch(r"[+-]?\d{1,6}", raw):
        raise ValidationFailed(_l("The %(what)s must be a whole number.", what=what), field=field)
    return int(raw)


def parse_area(value: Any) -> Decimal:
    """Floor area in m²: more than 0, at most 200, two decimal places."""
    area = _decimal(value, "area", _l("floor area"))
    if area <= 0 or area > MAX_AREA:
        raise ValidationFailed(
            _l("The floor area must be more than 0 and at most %(max)s m².", max=MAX_AREA),
            field="area",
        )
    return area


def parse_rent(value: Any) -> Decimal:
    """Monthly rent in yuan: 0 or more, two decimal places."""
    rent = _decimal(value, "rent", _l("monthly rent"))
    if rent < 0:
        raise ValidationFailed(_l("The rent cannot be negative."), field="rent")
    if rent >= MAX_RENT:
        raise ValidationFailed(
            _l("The rent must be less than %(max)s yuan a month.", max=MAX_RENT), field="rent"
        )
    return rent


def parse_market_rent(value: Any) -> Decimal | None:
    """Optional market rent in yuan per m² a month."""
    if not _text(value):
        return None
    rent = _decimal(value, "market_rent", _l("market rent"))
    if rent < 0 or rent >= Decimal(1000):
        raise ValidationFailed(
            _l("The market rent is in yuan per m² a month: 0 to 999.99."), field="market_rent"
        )
    return rent


def parse_rooms(value: Any) -> int:
    rooms = _integer(value, "rooms", _l("number of rooms"))
    if not MIN_ROOMS <= rooms <= MAX_ROOMS:
        raise ValidationFailed(
            _l(
                "The number of rooms must be from %(min)d to %(max)d.", min=MIN_ROOMS, max=MAX_ROOMS
            ),
            field="rooms",
        )
    return rooms


def parse_floor(value: Any) -> int:
    floor = _integer(value, "floor", _l("floor"))
    if not MIN_FLOOR <= floor <= MAX_FLOOR:
        raise ValidationFailed(
            _l(
                "The floor must be from %(min)d (basement) to %(max)d.",
                min=MIN_FLOOR,
                max=MAX_FLOOR,
            ),
            field="floor",
        )
    return floor


YES = {"1", "y", "yes", "true", "t", "是", "有", "√", "✓"}
NO = {"", "0", "n", "no", "false", "f", "否", "无", "×"}


def parse_flag(value: Any, field: str = "accessible") -> bool:
    """Yes/no in either language: 是/否, yes/no, 1/0, true/false; blank is no."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        value = str(int(value)) if float(value).is_integer() else str(value)
    raw = _text(value).lower()
    if raw in YES:
        return True
    if raw in NO:
        return False
    raise ValidationFailed(_l("Write 是 or 否 (yes or no)."), field=field)


def parse_date(value: Any, field: str = "vacated_on") -> date | None:
    """An ISO date (2025-03-31); blank is none. Not in the future."""
    if isinstance(value, datetime):
        value = value.date()
    if isinstance(value, date):
        day = value
    else:
        raw = _text(value).replace("/", "-")
        if not raw:
            return None
        try:
            day = date.fromisoformat(raw)
        except ValueError:
            raise ValidationFailed(
                _l("Write the date as year-month-day, like 2025-03-31."), field=field
            ) from None
    if day > today():
        raise ValidationFailed(_l("The date cannot be in the future."), field=field)
    return day


def parse_code(value: Any) -> str:
    code = _text(value).upper()
    if not code:
        raise ValidationFailed(_l("Enter the estate code."), field="code")
    if not CODE_RE.fullmatch(code):
        raise ValidationFailed(
            _l(
                "The estate code has up to 32 letters, digits, hyphens or underscores, "
                "like GL-XF-001."
            ),
            field="code",
        )
    return code


def _required_text(value: Any, field: str, what, limit: int) -> str:
    text = " ".join(_text(value).split())
    if not text:
        raise ValidationFailed(_l("Enter the %(what)s.", what=what), field=field)
    if len(text) > limit:
        raise ValidationFailed(
            _l("The %(what)s may have at most %(count)d characters.", what=what, count=limit),
            field=field,
        )
    return text


def parse_estate_name(value: Any) -> str:
    return _required_text(value, "name", _l("estate name"), 120)


def parse_address(value: Any) -> str:
    return _required_text(value, "address", _l("address"), 200)


def parse_building_name(value: Any) -> str:
    return _required_text(value, "building", _l("building"), 40)


def parse_unit_number(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return _required_text(value, "number", _l("unit number"), 20)


PROGRAMME_WORDS = {
    "public_rental": Programme.PUBLIC_RENTAL,
    "公租房": Programme.PUBLIC_RENTAL,
    "公共租赁住房": Programme.PUBLIC_RENTAL,
    "public rental housing": Programme.PUBLIC_RENTAL,
    "affordable_rental": Programme.AFFORDABLE_RENTAL,
    "保租房": Programme.AFFORDABLE_RENTAL,
    "保障性租赁住房": Programme.AFFORDABLE_RENTAL,
    "affordable rental housing": Programme.AFFORDABLE_RENTAL,
}


def parse_programme(value: Any) -> Programme:
    """public_rental (公租房) or affordable_rental (保障性租赁住房); blank is public rental."""
    word = value.value if isinstance(value, Programme) else _text(value).lower()
    if not word:
        return Programme.PUBLIC_RENTAL
    found = PROGRAMME_WORDS.get(word)
    if found is None:
        raise ValidationFailed(
            _l("The programme is public_rental (公租房) or affordable_rental (保障性租赁住房)."),
            field="programme",
        )
    return found


def find_district(value: Any) -> District:
    code = _text(value)
    if isinstance(value, float) and value.is_integer():
        code = str(int(value))
    district = db.session.scalar(sa.select(District).where(District.code == code)) if code else None
    if district is None:
        raise ValidationFailed(
            _l("There is no district with the code “%(code)s”.", code=code[:20]), field="district"
        )
    return district


# --- estates and buildings -----------------------------------------------------------------


def _collect(checks: dict[str, Any]) -> dict[str, Any]:
    """Run every ``field: callable`` and raise one ValidationFailed with all the problems, so
    a form shows them together."""
    values, errors = {}, {}
    for field, check in checks.items():
        try:
            values[field] = check()
        except ValidationFailed as exc:
            errors.setdefault(exc.field or field, []).append(exc.message)
    if errors:
        first = next(iter(errors))
        raise ValidationFailed(errors[first][0], field=first, errors=errors)
    return values


def _estate_values(code, name, district, address, programme, market_rent) -> dict[str, Any]:
    values = _collect(
        {
            "code": lambda: parse_code(code),
            "name": lambda: parse_estate_name(name),
            "district": lambda: (
                district if isinstance(district, District) else find_district(district)
            ),
            "address": lambda: parse_address(address),
            "programme": lambda: parse_programme(programme),
            "market_rent": lambda: parse_market_rent(market_rent),
        }
    )
    if values["programme"] not in HOUSING_PROGRAMMES:
        raise ValidationFailed(
            _l("The programme is public_rental (公租房) or affordable_rental (保障性租赁住房)."),
            field="programme",
        )
    return values


def _code_taken(code: str, estate_id: int | None = None) -> bool:
    stmt = sa.select(Estate.id).where(Estate.code == code)
    if estate_id is not None:
        stmt = stmt.where(Estate.id != estate_id)
    return db.session.scalar(stmt) is not None


def create_estate(
    actor: User,
    *,
    code,
    name,
    district,
    address,
    programme=Programme.PUBLIC_RENTAL,
    market_rent=None,
) -> Estate:
    """A new estate in one of the actor's districts. ``district`` is a District or its code."""
    if not may_work_on_stock(actor):
        raise Forbidden()
    values = _estate_values(code, name, district, address, programme, market_rent)
    _require_district(actor, values["district"].id)
    if _code_taken(values["code"]):
        raise Conflict(
            _l("An estate with the code %(code)s already exists.", code=values["code"]),
            field="code",
        )
    estate = Estate(
        code=values["code"],
        name=values["name"],
        district_id=values["district"].id,
        address=values["address"],
        programme=values["programme"],
        market_rent=values["market_rent"],
    )
    db.session.add(estate)
    db.session.flush()
    audit.record(
        "housing.estate_create",
        actor=actor,
        obj=estate,
        code=estate.code,
        district=values["district"].code,
    )
    return estate


def update_estate(
    estate: Estate, actor: User, *, code, name, district, address, programme, market_rent=None
) -> Estate:
    """Change an estate's details. Moving it to another district needs both in scope."""
    if not may_work_on_stock(actor):
        raise Forbidden()
    _require_district(actor, estate.district_id)
    values = _estate_values(code, name, district, address, programme, market_rent)
    _require_district(actor, values["district"].id)
    if _code_taken(values["code"], estate.id):
        raise Conflict(
            _l("An estate with the code %(code)s already exists.", code=values["code"]),
            field="code",
        )
    changes = {}
    for attr, new in (
        ("code", values["code"]),
        ("name", values["name"]),
        ("district_id", values["district"].id),
        ("address", values["address"]),
        ("programme", values["programme"]),
        ("market_rent", values["market_rent"]),
    ):
        old = getattr(estate, attr)
        if old != new:
            changes[attr] = [old, new]
            setattr(estate, attr, new)
    if "district_id" in changes:
        estate.district = values["district"]
    db.session.flush()
    if changes:
        audit.record("housing.estate_update", actor=actor, obj=estate, changes=changes)
    return estate


def add_building(estate: Estate, actor: User, name) -> Building:
    """A new building of ``estate``; its name is unique within the estate."""
    if not may_work_on_stock(actor):
        raise Forbidden()
    _require_district(actor, estate.district_id)
    name = parse_building_name(name)
    taken = db.session.scalar(
        sa.select(Building.id).where(Building.estate_id == estate.id, Building.name == name)
    )
    if taken is not None:
        raise Conflict(
            _l("This estate already has a building called %(name)s.", name=name), field="building"
        )
    building = Building(estate_id=estate.id, name=name)
    db.session.add(building)
    db.session.flush()
    audit.record(
        "housing.building_create", actor=actor, obj=building, estate=estate.code, name=name
    )
    return building


# --- units --------------------------------------------------------------------------------


def _unit_values(number, floor, area, rooms, accessible, rent) -> dict[str, Any]:
    return _collect(
        {
            "number": lambda: parse_unit_number(number),
            "floor": lambda: parse_floor(floor),
            "area": lambda: parse_area(area),
            "rooms": lambda: parse_rooms(rooms),
            "accessible": lambda: parse_flag(accessible),
            "rent": lambda: parse_rent(rent),
        }
    )


def _number_taken(building_id: int, number: str, unit_id: int | None = None) -> bool:
    stmt = sa.select(Unit.id).where(Unit.building_id == building_id, Unit.number == number)
    if unit_id is not None:
        stmt = stmt.where(Unit.id != unit_id)
    return db.session.scalar(stmt) is not None


def _number_conflict(number: str) -> Conflict:
    return Conflict(
        _l("This building already has a unit numbered %(number)s.", number=number),
        field="number",
    )


def create_unit(
    building: Building, actor: User, *, number, floor, area, rooms, rent, accessible=False
) -> Unit:
    """A new vacant unit of ``building``."""
    if not may_work_on_stock(actor):
        raise Forbidden()
    estate = building.estate
    _require_district(actor, estate.district_id)
    values = _unit_values(number, floor, area, rooms, accessible, rent)
    if _number_taken(building.id, values["number"]):
        raise _number_conflict(values["number"])
    unit = Unit(
        estate_id=estate.id,
        building_id=building.id,
        status=UnitStatus.VACANT,
        **values,
    )
    db.session.add(unit)
    db.session.flush()
    audit.record(
        "housing.unit_create",
        actor=actor,
        obj=unit,
        estate=estate.code,
        building=building.name,
        number=unit.number,
        area=unit.area,
        rent=unit.rent,
    )
    return unit


def update_unit(
    unit: Unit,
    actor: User,
    *,
    number,
    floor,
    area,
    rooms,
    rent,
    accessible=False,
    building: Building | None = None,
) -> Unit:
    """Change a unit's details. While the unit is offered in a round or let, its area, rooms
    and rent stay as the households saw them."""
    if not may_work_on_stock(actor):
        raise Forbidden()
    _require_district(actor, unit.estate.district_id)
    values = _unit_values(number, floor, area, rooms, accessible, rent)
    unit = lock_unit(unit.id)
    target = building or unit.building
    if target.estate_id != unit.estate_id:
        raise ValidationFailed(_l("Choose a building of the same estate."), field="building")
    if unit.status in LOCKED_IN and any(
        getattr(unit, f) != values[f] for f in ("area", "rooms", "rent")
    ):
        raise Conflict(
            _l(
                "The area, rooms and rent of a unit cannot change while it is offered in a "
                "round or let (now: %(status)s).",
                status=unit.status.label,
            ),
            field="area",
        )
    if _number_taken(target.id, values["number"], unit.id):
        raise _number_conflict(values["number"])
    changes = {}
    if target.id != unit.building_id:
        changes["building"] = [unit.building.name, target.name]
        unit.building = target
    for attr, new in values.items():
        old = getattr(unit, attr)
        if old != new:
            changes[attr] = [old, new]
            setattr(unit, attr, new)
    db.session.flush()
    if changes:
        audit.record("housing.unit_update", actor=actor, obj=unit, changes=changes)
    return unit


# --- unit states --------------------------------------------------------------------------


def lock_unit(unit_id: int) -> Unit:
    """The unit with its row locked until the transaction ends (SELECT … FOR UPDATE), its
    state read afresh from the database: two officers offering or letting the same unit
    take turns, and the second sees what the first did (SECURITY.md F1)."""
    unit = db.session.scalars(
        sa.select(Unit)
        .where(Unit.id == unit_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one_or_none()
    if unit is None:
        raise NotFound()
    return unit


def _not_in_state(unit: Unit, wanted) -> InvalidTransition:
    return InvalidTransition(
        _l(
            "Unit %(unit)s is %(status)s; this is possible only when it is %(wanted)s.",
            unit=unit.number,
            status=unit.status.label,
            wanted=wanted,
        ),
        unit_id=unit.id,
        status=unit.status.value,
    )


def _move(unit: Unit, actor, event: str, to: UnitStatus, **details) -> None:
    before = unit.status
    unit.status = to
    db.session.flush()
    audit.record(
        event, actor=actor, obj=unit, status_from=before.value, status_to=to.value, **details
    )


def offer_in_round(unit: Unit, actor) -> None:
    """A vacant unit is offered in an allocation round (VACANT → IN_ROUND). Anything else,
    also a unit already offered, is a Conflict."""
    unit = lock_unit(unit.id)
    if unit.status is not UnitStatus.VACANT:
        raise _not_in_state(unit, UnitStatus.VACANT.label)
    _move(unit, actor, "housing.unit_offer", UnitStatus.IN_ROUND)


def offer_units_in_round(unit_ids: list[int], actor, round_reference: str) -> int:
    """Offer many vacant units in one round at once (VACANT → IN_ROUND): one conditional
    UPDATE per thousand units and one audit event naming them, where a round of 10,000
    units would otherwise take 10,000 locked reads and events. If any unit is no longer
    vacant, nothing is offered (the caller's transaction rolls back) and the Conflict names
    it."""
    ids = sorted(set(unit_ids))
    moved = 0
    for start in range(0, len(ids), 1000):
        chunk = ids[start : start + 1000]
        moved += db.session.execute(
            sa.update(Unit)
            .where(Unit.id.in_(chunk), Unit.status == UnitStatus.VACANT)
            .values(status=UnitStatus.IN_ROUND, updated_at=utcnow()),
            execution_options={"synchronize_session": False},
        ).rowcount
    if moved != len(ids):
        taken = db.session.scalars(
            sa.select(Unit)
            .where(Unit.id.in_(ids), Unit.status != UnitStatus.IN_ROUND)
            .limit(1)
            .execution_options(populate_existing=True)
        ).first()
        if taken is None:  # offered twice in the same list, or by someone else meanwhile
            taken = db.session.get(Unit, ids[0], populate_existing=True)
        raise _not_in_state(taken, UnitStatus.VACANT.label)
    wanted = set(ids)
    for unit in [o for o in db.session.identity_map.values() if isinstance(o, Unit)]:
        if unit.id in wanted:
            db.session.expire(unit, ["status", "updated_at"])
    audit.record(
        "housing.units_offer",
        actor=actor,
        round=round_reference,
        units=len(ids),
        unit_ids=ids[:50],
        status_from=UnitStatus.VACANT.value,
        status_to=UnitStatus.IN_ROUND.value,
    )
    return moved


def withdraw_from_round(unit: Unit, actor) -> None:
    """A unit nobody took, or a cancelled round's, is vacant again (IN_ROUND → VACANT). The
    date it fell vacant stays: the year without a tenant keeps counting."""
    unit = lock_unit(unit.id)
    if unit.status is not UnitStatus.IN_ROUND:
        raise _not_in_state(unit, UnitStatus.IN_ROUND.label)
    _move(unit, actor, "housing.unit_withdraw", UnitStatus.VACANT)


def let_unit(unit: Unit, actor) -> None:
    """The unit is let (IN_ROUND or VACANT → OCCUPIED); it is no longer counted vacant."""
    unit = lock_unit(unit.id)
    if unit.status not in (UnitStatus.IN_ROUND, UnitStatus.VACANT):
        raise _not_in_state(unit, UnitStatus.VACANT.label)
    vacated_on = unit.vacated_on
    unit.vacated_on = None
    _move(unit, actor, "housing.unit_let", UnitStatus.OCCUPIED, vacated_on=vacated_on)


def vacate_unit(unit: Unit, actor, on: date | None = None) -> None:
    """The tenant has left (腾退): OCCUPIED → VACANT, vacant since ``on`` (today if not
    given; not in the future)."""
    on = on or today()
    if on > today():
        raise ValidationFailed(_l("The date cannot be in the future."), field="vacated_on")
    unit = lock_unit(unit.id)
    if unit.status is not UnitStatus.OCCUPIED:
        raise _not_in_state(unit, UnitStatus.OCCUPIED.label)
    unit.vacated_on = on
    _move(unit, actor, "housing.unit_vacate", UnitStatus.VACANT, vacated_on=on)


def set_maintenance(unit: Unit, actor: User) -> None:
    """A vacant unit is taken out for repairs (VACANT → MAINTENANCE): no round offers it."""
    if not may_work_on_stock(actor):
        raise Forbidden()
    _require_district(actor, unit.estate.district_id)
    unit = lock_unit(unit.id)
    if unit.status is not UnitStatus.VACANT:
        raise _not_in_state(unit, UnitStatus.VACANT.label)
    _move(unit, actor, "housing.unit_repair", UnitStatus.MAINTENANCE)


def end_maintenance(unit: Unit, actor: User) -> None:
    """Repairs done: the unit is vacant again (MAINTENANCE → VACANT)."""
    if not may_work_on_stock(actor):
        raise Forbidden()
    _require_district(actor, unit.estate.district_id)
    unit = lock_unit(unit.id)
    if unit.status is not UnitStatus.MAINTENANCE:
        raise _not_in_state(unit, UnitStatus.MAINTENANCE.label)
    _move(unit, actor, "housing.unit_repaired", UnitStatus.VACANT)


# --- vacancies not re-let -----------------------------------------------------------------


def year_before(on: date) -> date:
    """The same day a year earlier (28 February for 29 February)."""
    try:
        return on.replace(year=on.year - 1)
    except ValueError:
        return on.replace(year=on.year - 1, day=28)


def not_relet_condition(on: date | None = None) -> sa.ColumnElement[bool]:
    """Units that fell vacant more than a year before ``on`` and are not let again."""
    cutoff = year_before(on or today())
    return sa.and_(
        Unit.vacated_on.is_not(None),
        Unit.vacated_on < cutoff,
        Unit.status != UnitStatus.OCCUPIED,
    )


def not_relet(on: date | None = None) -> sa.Select:
    """A query (``db.session.scalars(not_relet())``) of the units vacated more than a year
    before ``on`` (today) and not let since, the longest vacant first. Add
    ``.where(unit_scope(user))`` for one officer's."""
    return sa.select(Unit).where(not_relet_condition(on)).order_by(Unit.vacated_on, Unit.id)


@dataclass(frozen=True)
class VacantTooLong:
    unit: Unit
    days: int


def not_relet_rows(user: User, on: date | None = None, district_id: int | None = None):
    """The report: each unit in ``user``'s scope not re-let within a year, with its days
    vacant."""
    on = on or today()
    stmt = (
        not_relet(on)
        .where(unit_scope(user))
        .options(
            joinedload(Unit.estate).joinedload(Estate.district),
            joinedload(Unit.building),
        )
    )
    if district_id is not None:
        stmt = stmt.where(Unit.estate.has(Estate.district_id == district_id))
    return [VacantTooLong(u, (on - u.vacated_on).days) for u in db.session.scalars(stmt)]


# --- overviews ----------------------------------------------------------------------------


@dataclass(frozen=True)
class EstateCounts:
    estate: Estate
    vacant: int = 0
    in_round: int = 0
    let: int = 0
    repair: int = 0
    not_relet: int = 0

    @property
    def total(self) -> int:
        return self.vacant + self.in_round + self.let + self.repair


def _counts_by_estate(estate_ids: list[int], on: date | None = None):
    by_status: dict[int, dict[UnitStatus, int]] = {}
    stale: dict[int, int] = {}
    if not estate_ids:
        return by_status, stale
    for estate_id, status, n in db.session.execute(
        sa.select(Unit.estate_id, Unit.status, sa.func.count())
        .where(Unit.estate_id.in_(estate_ids))
        .group_by(Unit.estate_id, Unit.status)
    ):
        by_status.setdefault(estate_id, {})[status] = n
    stale = dict(
        db.session.execute(
            sa.select(Unit.estate_id, sa.func.count())
            .where(Unit.estate_id.in_(estate_ids), not_relet_condition(on))
            .group_by(Unit.estate_id)
        ).all()
    )
    return by_status, stale


def _with_counts(estates: list[Estate], on: date | None = None) -> list[EstateCounts]:
    by_status, stale = _counts_by_estate([e.id for e in estates], on)
    rows = []
    for e in estates:
        s = by_status.get(e.id, {})
        rows.append(
            EstateCounts(
                e,
                vacant=s.get(UnitStatus.VACANT, 0),
                in_round=s.get(UnitStatus.IN_ROUND, 0),
                let=s.get(UnitStatus.OCCUPIED, 0),
                repair=s.get(UnitStatus.MAINTENANCE, 0),
                not_relet=stale.get(e.id, 0),
            )
        )
    return rows


def estate_overview(user: User, district_id: int | None = None) -> list[EstateCounts]:
    """The estates ``user`` sees, by district and name, each with its units counted."""
    stmt = (
        sa.select(Estate)
        .join(District, District.id == Estate.district_id)
        .where(estate_scope(user))
        .options(joinedload(Estate.district))
        .order_by(District.sort_order, Estate.code)
    )
    if district_id is not None:
        stmt = stmt.where(Estate.district_id == district_id)
    return _with_counts(list(db.session.scalars(stmt)))


def counts_of(estate: Estate) -> EstateCounts:
    return _with_counts([estate])[0]


UNIT_FILTERS = ("vacant", "in_round", "occupied", "maintenance", "not_relet")


def units_of(estate: Estate, status: str | None = None, building_id: int | None = None):
    """The estate's units by building, floor and number; ``status`` is a UnitStatus value
    or ``not_relet``."""
    stmt = (
        sa.select(Unit)
        .join(Building, Building.id == Unit.building_id)
        .where(Unit.estate_id == estate.id)
        .options(joinedload(Unit.building))
        .order_by(Building.name, Unit.floor, Unit.number)
    )
    if status == "not_relet":
        stmt = stmt.where(not_relet_condition())
    elif status:
        stmt = stmt.where(Unit.status == UnitStatus(status))
    if building_id is not None:
        stmt = stmt.where(Unit.building_id == building_id)
    return list(db.session.scalars(stmt))


def is_not_relet(unit: Unit, on: date | None = None) -> bool:
    return (
        unit.vacated_on is not None
        and unit.status is not UnitStatus.OCCUPIED
        and unit.vacated_on < year_before(on or today())
    )
