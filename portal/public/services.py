"""Public information: the programme guide's rule numbers, the housing listings and the
office contacts, shared by the pages and the API. Nothing here reads or shows a person.

The guide reads every number from the rule versions in force (``portal.core.settings``);
the listings count units with one GROUP BY per page of estates; the contacts are kept by
managers, audited.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import joinedload

from portal.accounts.models import District
from portal.accounts.roles import Role
from portal.applications.models import Programme
from portal.core import audit
from portal.core.clock import today
from portal.core.errors import Forbidden, NotFound, ValidationFailed
from portal.core.i18n import lazy_gettext as _l
from portal.core.settings import RuleVersion, current_version
from portal.extensions import db
from portal.housing.models import Estate, Unit, UnitStatus
from portal.housing.services import HOUSING_PROGRAMMES
from portal.public.models import Office

# --- the programme guide --------------------------------------------------------------------

GUIDE_RULE_SETS = ("eligibility", "waitlist", "subsidy", "tenancy")


def plain(value: Any) -> str:
    """A rule value as a reader sees it: ``1549``, ``1.5``, ``0.1`` (no trailing zeros, no
    exponent)."""
    number = Decimal(str(value))
    text = f"{number.normalize():f}"
    return text


@dataclass(frozen=True)
class UnitSize:
    """Households of ``smallest``..``largest`` persons (None: or more) may be offered units
    of up to ``max_area`` m² (None: any size)."""

    smallest: int
    largest: int | None
    max_area: str | None


@dataclass(frozen=True)
class Guide:
    on: date
    versions: dict[str, RuleVersion]
    eligibility: dict[str, str]
    waitlist: dict[str, str]
    subsidy: dict[str, str]
    tenancy: dict[str, str]
    unit_sizes: list[UnitSize]
    subsidy_table: bool  # the subsidy is a fixed amount by household size
    subsidy_table_rows: list[tuple[int, str]] = field(default_factory=list)


def _unit_sizes(values: dict[str, Any]) -> list[UnitSize]:
    """The unit size limits by household size, from the allocation rule itself
    (``portal.waitlist.rules.max_area``), consecutive sizes with one limit together."""
    from portal.waitlist import rules as waitlist

    largest_size = max(1, int(values["large_unit_min_size"]))
    rows: list[UnitSize] = []
    for size in range(1, largest_size + 1):
        limit = waitlist.max_area(size, values)
        shown = plain(limit) if limit is not None else None
        if size == largest_size or limit is None:
            rows.append(UnitSize(size, None, shown))
            break
        if rows and rows[-1].max_area == shown:
            rows[-1] = UnitSize(rows[-1].smallest, size, shown)
        else:
            rows.append(UnitSize(size, size, shown))
    return rows


def programme_guide(on: date | None = None) -> Guide:
    """The numbers of the rule versions in force on ``on`` (today), ready to be read."""
    from portal.subsidy import rules as subsidy

    on = on or today()
    versions = {key: current_version(key, on) for key in GUIDE_RULE_SETS}
    waitlist_values = versions["waitlist"].values
    subsidy_values = versions["subsidy"].values
    table = bool(int(subsidy_values.get("mode_table", 0) or 0))
    return Guide(
        on=on,
        versions=versions,
        eligibility={k: plain(v) for k, v in versions["eligibility"].values.items()},
        waitlist={k: plain(v) for k, v in waitlist_values.items()},
        subsidy={k: plain(subsidy.value(subsidy_values, k)) for k in subsidy.DEFAULTS},
        tenancy={k: plain(v) for k, v in versions["tenancy"].values.items()},
        unit_sizes=_unit_sizes(waitlist_values),
        subsidy_table=table,
        subsidy_table_rows=[
            (n, plain(subsidy.value(subsidy_values, f"table_{n}")))
            for n in range(1, subsidy.TABLE_SIZES + 1)
        ],
    )


# --- housing listings -----------------------------------------------------------------------

PAGE_SIZE = 20


@dataclass(frozen=True)
class UnitType:
    """The units of an estate with one number of rooms."""

    rooms: int
    units: int
    vacant: int  # ready to be let (UnitStatus.VACANT); not those offered in a round or repaired
    accessible: int
    area_min: Decimal
    area_max: Decimal
    rent_min: Decimal
    rent_max: Decimal


@dataclass(frozen=True)
class EstateListing:
    estate: Estate
    types: list[UnitType]

    @property
    def units(self) -> int:
        return sum(t.units for t in self.types)

    @property
    def vacant(self) -> int:
        return sum(t.vacant for t in self.types)


@dataclass(frozen=True)
class ListingPage:
    estates: list[EstateListing]
    page: int
    pages: int
    total: int
    district: District | None
    programme: Programme | None


def districts() -> list[District]:
    """Every district, in the city's order (the filters' choices)."""
    return list(db.session.scalars(sa.select(District).order_by(District.sort_order, District.id)))


def _district(code: str | None) -> District | None:
    if not code:
        return None
    found = db.session.scalars(sa.select(District).where(District.code == code)).one_or_none()
    if found is None:
        raise ValidationFailed(_l("There is no such district."), field="district")
    return found


def _programme(value: str | None) -> Programme | None:
    if not value:
        return None
    for p in HOUSING_PROGRAMMES:
        if p.value == value:
            return p
    raise ValidationFailed(
        _l("Choose public rental housing or affordable rental housing."), field="programme"
    )


def unit_types(estate_ids: list[int]) -> dict[int, list[UnitType]]:
    """Per estate, its units by number of rooms: counted, vacant, area and rent ranges (one
    GROUP BY over the units of all the estates)."""
    if not estate_ids:
        return {}
    vacant = sa.func.sum(sa.case((Unit.status == UnitStatus.VACANT, 1), else_=0))
    accessible = sa.func.sum(sa.case((Unit.accessible, 1), else_=0))
    rows = db.session.execute(
        sa.select(
            Unit.estate_id,
            Unit.rooms,
            sa.func.count(),
            vacant,
            accessible,
            sa.func.min(Unit.area),
            sa.func.max(Unit.area),
            sa.func.min(Unit.rent),
            sa.func.max(Unit.rent),
        )
        .where(Unit.estate_id.in_(estate_ids))
        .group_by(Unit.estate_id, Unit.rooms)
        .order_by(Unit.estate_id, Unit.rooms)
    )
    found: dict[int, list[UnitType]] = {}
    for estate_id, rooms, units, free, easy, a_min, a_max, r_min, r_max in rows:
        found.setdefault(estate_id, []).append(
            UnitType(rooms, units, int(free or 0), int(easy or 0), a_min, a_max, r_min, r_max)
        )
    return found


def housing_listing(
    district: str | None = None, programme: str | None = None, page: int = 1
) -> ListingPage:
    """Estates by district and code, ``PAGE_SIZE`` a page, each with its unit types;
    ``district`` is a division code, ``programme`` a housing programme's value."""
    where_district = _district(district)
    where_programme = _programme(programme)
    where = []
    if where_district is not None:
        where.append(Estate.district_id == where_district.id)
    if where_programme is not None:
        where.append(Estate.programme == where_programme)
    total = db.session.scalar(sa.select(sa.func.count()).select_from(Estate).where(*where)) or 0
    pages = max(1, math.ceil(total / PAGE_SIZE))
    page = min(max(1, page), pages)
    estates = list(
        db.session.scalars(
            sa.select(Estate)
            .join(District, District.id == Estate.district_id)
            .where(*where)
            .options(joinedload(Estate.district))
            .order_by(District.sort_order, Estate.code)
            .offset((page - 1) * PAGE_SIZE)
            .limit(PAGE_SIZE)
        )
    )
    types = unit_types([e.id for e in estates])
    return ListingPage(
        [EstateListing(e, types.get(e.id, [])) for e in estates],
        page,
        pages,
        total,
        where_district,
        where_programme,
    )


def estate_listing(code: str) -> EstateListing:
    """One estate by its code, with its unit types; NotFound for an unknown code."""
    estate = db.session.scalars(
        sa.select(Estate).where(Estate.code == code).options(joinedload(Estate.district))
    ).one_or_none()
    if estate is None:
        raise NotFound()
    return EstateListing(estate, unit_types([estate.id]).get(estate.id, []))


# --- office contacts ------------------------------------------------------------------------

# 0773-2801234 (area code and number, maybe an extension) or a service line such as 12345
PHONE = re.compile(r"0\d{2,3}-\d{7,8}(-\d{1,6})?|\d{5}")
OFFICE_TEXTS = {  # field: longest text (the columns' sizes)
    "name_zh": 120,
    "name_en": 160,
    "address": 200,
    "phone": 40,
    "hours_zh": 120,
    "hours_en": 160,
}
MAX_SORT_ORDER = 9999


@dataclass(frozen=True)
class OfficeData:
    """What a manager gives for an office; ``district_id`` None: the city's centre."""

    district_id: int | None
    name_zh: str
    name_en: str
    address: str
    phone: str
    hours_zh: str
    hours_en: str
    sort_order: int = 0


def list_offices() -> list[Office]:
    """The city's centre first, then the districts' offices in the city's order."""
    return list(
        db.session.scalars(
            sa.select(Office)
            .outerjoin(District, District.id == Office.district_id)
            .options(joinedload(Office.district))
            .order_by(
                sa.case((Office.district_id.is_(None), 0), else_=1),
                District.sort_order,
                Office.sort_order,
                Office.id,
            )
        )
    )


def _require_manager(actor) -> None:
    if getattr(actor, "role", None) is not Role.MANAGER:
        raise Forbidden()


def _clean(data: OfficeData) -> OfficeData:
    values = {}
    for name, longest in OFFICE_TEXTS.items():
        text = " ".join((getattr(data, name) or "").split())
        if not text:
            raise ValidationFailed(_l("This field is required."), field=name)
        if len(text) > longest:
            raise ValidationFailed(_l("At most %(num)d characters.", num=longest), field=name)
        values[name] = text
    if not PHONE.fullmatch(values["phone"]):
        raise ValidationFailed(
            _l("Enter a phone number like 0773-2801234, or a five-digit service line like 12345."),
            field="phone",
        )
    if not 0 <= int(data.sort_order) <= MAX_SORT_ORDER:
        raise ValidationFailed(
            _l("Enter a number from %(low)s to %(high)s.", low=0, high=MAX_SORT_ORDER),
            field="sort_order",
        )
    if data.district_id is not None and db.session.get(District, data.district_id) is None:
        raise ValidationFailed(_l("There is no such district."), field="district_id")
    return OfficeData(district_id=data.district_id, sort_order=int(data.sort_order), **values)


def add_office(actor, data: OfficeData) -> Office:
    """A new office (managers)."""
    _require_manager(actor)
    clean = _clean(data)
    office = Office(**clean.__dict__)
    db.session.add(office)
    db.session.flush()
    audit.record("office.created", actor=actor, obj=office, name=office.name_zh)
    return office


def update_office(actor, office: Office, data: OfficeData) -> Office:
    """Change an office's contacts (managers); audited with the fields that changed."""
    _require_manager(actor)
    clean = _clean(data)
    changed = sorted(k for k, v in clean.__dict__.items() if getattr(office, k) != v)
    for name, value in clean.__dict__.items():
        setattr(office, name, value)
    db.session.flush()
    audit.record("office.updated", actor=actor, obj=office, changed=changed)
    return office
