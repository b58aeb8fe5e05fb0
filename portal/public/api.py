"""JSON API of the public information (flask-smorest): listings, offices, self-check.

No token: anyone may read the housing listings (estates, unit types, rents, vacant units;
never a unit or a tenant) and the office contacts, and run the eligibility self-check
(nothing stored). Texts follow ``Accept-Language``. Errors are RFC 9457 problem documents.
"""

from __future__ import annotations

from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from portal.api.fields import Int
from portal.applications.models import Programme
from portal.core.access import api_access
from portal.core.i18n import current_locale
from portal.housing.services import HOUSING_PROGRAMMES
from portal.public import selfcheck, services

public_blp = Blueprint(
    "api_public_info",
    __name__,
    description="Public information: housing listings, office contacts, eligibility self-check",
)

blueprints = [public_blp]

ASSISTANCE = [*selfcheck.ASSISTANCE_CHOICES]


# --- schemas --------------------------------------------------------------------------------


class SelfCheckRequest(Schema):
    programme = fields.String(required=True, validate=validate.OneOf([p.value for p in Programme]))
    household_size = Int(
        required=True,
        strict=True,
        validate=validate.Range(1, selfcheck.MAX_HOUSEHOLD),
        metadata={"description": "persons, the applicant included"},
    )
    monthly_income = fields.Decimal(
        allow_none=True,
        load_default=None,
        allow_nan=False,
        metadata={
            "description": (
                f"yuan a month, the whole household, 0 to {selfcheck.MAX_INCOME}, at most two "
                "decimals; null: not sure"
            )
        },
    )
    assistance = fields.String(
        allow_none=True,
        load_default=selfcheck.NO_ASSISTANCE,
        validate=validate.OneOf(ASSISTANCE),
        metadata={"description": "none, dibao, tekun or low_income; null: not sure"},
    )
    owned_area = fields.Decimal(
        allow_none=True,
        load_default=None,
        allow_nan=False,
        metadata={
            "description": (
                f"m² the household owns in the city, 0 to {selfcheck.MAX_AREA}, at most two "
                "decimals; null: not sure"
            )
        },
    )
    hukou = fields.Boolean(
        allow_none=True,
        load_default=None,
        metadata={"description": "the applicant's household registration is local; null: not sure"},
    )
    hukou_years = Int(
        allow_none=True,
        load_default=None,
        strict=True,
        validate=validate.Range(0, selfcheck.MAX_YEARS),
        metadata={"description": "full years of local registration; null: not sure"},
    )
    social_insurance_months = Int(
        allow_none=True,
        load_default=None,
        strict=True,
        validate=validate.Range(0, selfcheck.MAX_MONTHS),
        metadata={"description": "months of continuous local social insurance; null: not sure"},
    )


class RuleOutcomeSchema(Schema):
    rule = fields.String(
        required=True, metadata={"description": "residency, income, housing, household or credit"}
    )
    code = fields.String(required=True)
    title = fields.String(required=True)
    passed = fields.Boolean(
        required=True, allow_none=True, metadata={"description": "null: cannot tell"}
    )
    text = fields.String(required=True)


class RuleVersionSchema(Schema):
    version = Int(required=True)
    effective_from = fields.Date(required=True)


class SubsidyEstimateSchema(Schema):
    amount = fields.String(
        required=True, metadata={"description": "yuan a month", "example": "720.00"}
    )
    steps = fields.List(fields.String(), required=True)


class SelfCheckSchema(Schema):
    programme = fields.String(required=True)
    verdict = fields.String(
        required=True,
        validate=validate.OneOf(["met", "not_met", "unknown"]),
        metadata={"description": "met: every rule the answers can decide is met"},
    )
    results = fields.List(fields.Nested(RuleOutcomeSchema), required=True)
    rules = fields.Nested(RuleVersionSchema, required=True)
    max_unit_area = fields.String(
        allow_none=True,
        metadata={"description": "public rental: the largest unit for the household, m²"},
    )
    subsidy = fields.Nested(SubsidyEstimateSchema, allow_none=True)
    note = fields.String(required=True)


class HousingQuery(Schema):
    district = fields.String(
        validate=validate.Length(1, 12), metadata={"description": "division code"}
    )
    programme = fields.String(validate=validate.OneOf([p.value for p in HOUSING_PROGRAMMES]))
    page = Int(load_default=1, validate=validate.Range(min=1))


class UnitTypeSchema(Schema):
    rooms = Int(required=True)
    units = Int(required=True)
    vacant = Int(required=True, metadata={"description": "ready to be let"})
    accessible = Int(required=True)
    area_min = fields.String(required=True, metadata={"description": "m²"})
    area_max = fields.String(required=True)
    rent_min = fields.String(required=True, metadata={"description": "yuan a month"})
    rent_max = fields.String(required=True)


class EstateSchema(Schema):
    code = fields.String(required=True)
    name = fields.String(required=True)
    district = fields.String(required=True, metadata={"description": "division code"})
    district_name = fields.String(required=True)
    address = fields.String(required=True)
    programme = fields.String(required=True)
    programme_title = fields.String(required=True)
    market_rent = fields.String(
        allow_none=True, metadata={"description": "yuan per m² a month; null: not set"}
    )
    units = Int(required=True)
    vacant = Int(required=True)
    unit_types = fields.List(fields.Nested(UnitTypeSchema), required=True)


class HousingPageSchema(Schema):
    estates = fields.List(fields.Nested(EstateSchema), required=True)
    page = Int(required=True)
    pages = Int(required=True)
    total = Int(required=True)


class OfficeSchema(Schema):
    id = Int(required=True)
    district = fields.String(
        allow_none=True, metadata={"description": "division code; null: the city's centre"}
    )
    district_name = fields.String(allow_none=True)
    name = fields.String(required=True)
    name_zh = fields.String(required=True)
    name_en = fields.String(required=True)
    address = fields.String(required=True)
    phone = fields.String(required=True)
    hours = fields.String(required=True)
    hours_zh = fields.String(required=True)
    hours_en = fields.String(required=True)


# --- payloads -------------------------------------------------------------------------------


def _estate(item: services.EstateListing) -> dict:
    e = item.estate
    return {
        "code": e.code,
        "name": e.name,
        "district": e.district.code,
        "district_name": e.district.name(current_locale()),
        "address": e.address,
        "programme": e.programme.value,
        "programme_title": str(e.programme.label),
        "market_rent": str(e.market_rent) if e.market_rent is not None else None,
        "units": item.units,
        "vacant": item.vacant,
        "unit_types": [
            {
                "rooms": t.rooms,
                "units": t.units,
                "vacant": t.vacant,
                "accessible": t.accessible,
                "area_min": str(t.area_min),
                "area_max": str(t.area_max),
                "rent_min": str(t.rent_min),
                "rent_max": str(t.rent_max),
            }
            for t in item.types
        ],
    }


def _office(o) -> dict:
    locale = current_locale()
    return {
        "id": o.id,
        "district": o.district.code if o.district else None,
        "district_name": o.district.name(locale) if o.district else None,
        "name": o.name(locale),
        "name_zh": o.name_zh,
        "name_en": o.name_en,
        "address": o.address,
        "phone": o.phone,
        "hours": o.hours(locale),
        "hours_zh": o.hours_zh,
        "hours_en": o.hours_en,
    }


# --- routes ---------------------------------------------------------------------------------


@public_blp.route("/public/self-check", methods=["POST"])
@public_blp.arguments(SelfCheckRequest)
@public_blp.response(200, SelfCheckSchema)
@public_blp.alt_response(422, description="An answer out of range or not a number")
@api_access(public=True)
def self_check(body: dict):
    """The eligibility self-check: each rule met, not met or not decided by the answers
    (a question may be null: not sure). An estimate only; nothing is stored."""
    answers = selfcheck.Answers(
        programme=Programme(body["programme"]),
        household_size=body["household_size"],
        monthly_income=body.get("monthly_income"),
        owned_area=body.get("owned_area"),
        hukou=body.get("hukou"),
        hukou_years=body.get("hukou_years"),
        social_insurance_months=body.get("social_insurance_months"),
        assistance=body.get("assistance"),
    )
    result = selfcheck.self_check(answers)
    return {
        "programme": answers.programme.value,
        "verdict": result.verdict,
        "results": [o.__dict__ for o in result.outcomes],
        "rules": {
            "version": result.version.version,
            "effective_from": result.version.effective_from,
        },
        "max_unit_area": str(result.max_area) if result.max_area is not None else None,
        "subsidy": (
            {"amount": str(result.subsidy.amount), "steps": result.subsidy_steps}
            if result.subsidy is not None
            else None
        ),
        "note": str(selfcheck.ESTIMATE_NOTE),
    }


@public_blp.route("/public/housing")
@public_blp.arguments(HousingQuery, location="query")
@public_blp.response(200, HousingPageSchema)
@public_blp.alt_response(422, description="No such district or programme")
@api_access(public=True)
def list_housing(query: dict):
    """Estates with their unit types (rooms, count, area and rent ranges) and vacant units,
    by district and code; 20 a page."""
    listing = services.housing_listing(query.get("district"), query.get("programme"), query["page"])
    return {
        "estates": [_estate(e) for e in listing.estates],
        "page": listing.page,
        "pages": listing.pages,
        "total": listing.total,
    }


@public_blp.route("/public/housing/<code>")
@public_blp.response(200, EstateSchema)
@public_blp.alt_response(404, description="No such estate")
@api_access(public=True)
def get_estate(code: str):
    """One estate with its unit types and vacant units."""
    return _estate(services.estate_listing(code))


@public_blp.route("/public/offices")
@public_blp.response(200, OfficeSchema(many=True))
@api_access(public=True)
def list_offices():
    """The housing offices: the city's centre first, then the districts'."""
    return [_office(o) for o in services.list_offices()]
