"""JSON API of the managers' dashboard (flask-smorest): ``GET /staff/dashboard`` answers
every figure of the dashboard page for the same filters (``district`` code, ``year`` of the
targets, period ``from``/``to`` as ``YYYY-MM-DD``), from the same functions
(``portal.reports.figures``) and the same rules for the filters. Managers only; the whole
city unless a district is asked for.

Money is text with two decimals (``"1234.50"``), percentages and days text with one
(``"58.3"``), never binary floats; a share of nothing is null. Errors are RFC 9457 problem
documents (a bad filter: 422, ``errors`` naming the parameter).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from portal.accounts.roles import Role
from portal.applications.models import Programme, Status
from portal.core.access import api_access
from portal.core.errors import ValidationFailed
from portal.core.i18n import current_locale
from portal.credit.models import Grade, RecordStatus
from portal.housing.models import UnitStatus
from portal.reports import figures
from portal.reports.models import TargetKind
from portal.verification.departments import Department
from portal.verification.models import CheckStatus
from portal.waitlist.models import Group

blp = Blueprint(
    "api_staff_dashboard",
    __name__,
    description=(
        "Managers: the dashboard's figures (targets and their milestones, applications, "
        "checks, review times, waiting list, allocations, subsidies, homes, credit, rent)"
    ),
)

blueprints = [blp]

BEARER = [{"bearerAuth": []}]
PARAMS = {"start": "from", "end": "to"}  # the filters' fields → the query's names


def Money(**kw):
    """Yuan as text with two decimals."""
    metadata = {"description": "yuan, two decimals", "example": "1234.50", **kw.pop("metadata", {})}
    return fields.String(metadata=metadata, **kw)


def OnePlace(description: str, **kw):
    """A percentage or a number of days as text with one decimal; null when none."""
    return fields.String(
        allow_none=True, metadata={"description": description, "example": "58.3"}, **kw
    )


def District(**kw):
    """A district by its code; null: none (or a line of the whole city or a group)."""
    metadata = {"description": "district code; null: none", **kw.pop("metadata", {})}
    return fields.String(allow_none=True, metadata=metadata, **kw)


def _values(enum) -> validate.OneOf:
    return validate.OneOf([m.value for m in enum])


class DashboardQuery(Schema):
    district = fields.String(
        metadata={"description": "a district's code (GET /districts); none: the whole city"}
    )
    year = fields.String(metadata={"description": "the targets' year; default: this year"})
    start = fields.String(
        data_key="from",
        metadata={"description": "first day of the period, YYYY-MM-DD (Jan 1 of the year)"},
    )
    end = fields.String(
        data_key="to",
        metadata={"description": "last day, YYYY-MM-DD (today, or Dec 31); at most 5 years"},
    )


class DashTargetCellSchema(Schema):
    measure = fields.String(required=True, validate=_values(figures.Measure))
    title = fields.String(required=True)
    targets = fields.Dict(
        keys=fields.String(validate=_values(TargetKind)),
        values=fields.Integer(),
        required=True,
        metadata={"description": "the target per kind of task (two for renovation starts)"},
    )
    target = fields.Integer(required=True)
    achieved = fields.Integer(
        allow_none=True, metadata={"description": "null: the city's own share (not recorded)"}
    )
    percent = OnePlace("achieved as a percentage of the target")
    due = fields.Integer(required=True, metadata={"description": "units due by the milestone"})
    due_share = fields.Integer(allow_none=True, metadata={"description": "percent due"})
    due_month = fields.Integer(allow_none=True, metadata={"description": "by the end of"})
    next_share = fields.Integer(allow_none=True)
    next_month = fields.Integer(allow_none=True)
    behind = fields.Boolean(required=True)


class DashProgressLineSchema(Schema):
    role = fields.String(
        required=True, validate=validate.OneOf(["total", "subtotal", "city", "district"])
    )
    label = fields.String(required=True)
    district = District()
    cells = fields.List(fields.Nested(DashTargetCellSchema), required=True)


class DashCountSchema(Schema):
    programme = fields.String(required=True, validate=_values(Programme))
    status = fields.String(validate=_values(Status))
    count = fields.Integer(required=True)


class DashApplicationsSchema(Schema):
    total = fields.Integer(required=True, metadata={"description": "submitted in the period"})
    counts = fields.List(
        fields.Nested(DashCountSchema), required=True, metadata={"description": "by state now"}
    )
    overdue_total = fields.Integer(required=True, metadata={"description": "open, past deadline"})
    overdue = fields.List(fields.Nested(DashCountSchema), required=True)


class DashCheckRowSchema(Schema):
    department = fields.String(required=True, validate=_values(Department))
    title = fields.String(required=True)
    by_status = fields.Dict(
        keys=fields.String(validate=_values(CheckStatus)), values=fields.Integer(), required=True
    )
    settled = fields.Integer(required=True)
    waiting = fields.Integer(required=True, metadata={"description": "waiting for a reviewer now"})
    overdue = fields.Integer(required=True, metadata={"description": "of these, past deadline"})


class DashReviewTimesSchema(Schema):
    district = District()
    decided = fields.Integer(required=True)
    on_time = fields.Integer(required=True, metadata={"description": "decided by the deadline"})
    on_time_percent = OnePlace("share decided by the deadline")
    median_days = OnePlace("days from submission to decision, the middle case")
    mean_days = OnePlace("days from submission to decision, on average")


class DashReviewSchema(Schema):
    total = fields.Nested(DashReviewTimesSchema, required=True)
    districts = fields.List(fields.Nested(DashReviewTimesSchema), required=True)
    open_overdue = fields.Integer(required=True)


class DashWaitingSchema(Schema):
    waiting = fields.Integer(required=True)
    median_days = OnePlace("median wait in days")
    longest_days = fields.Integer(allow_none=True)
    long_waiters = fields.Integer(required=True)


class DashQueueGroupSchema(DashWaitingSchema):
    programme = fields.String(required=True, validate=_values(Programme))
    group = fields.String(required=True, validate=_values(Group))


class DashQueueDistrictSchema(DashWaitingSchema):
    district = District()


class DashQueueSchema(Schema):
    on = fields.Date(required=True)
    long_wait_years = fields.Integer(required=True)
    total = fields.Nested(DashWaitingSchema, required=True)
    groups = fields.List(fields.Nested(DashQueueGroupSchema), required=True)
    districts = fields.List(fields.Nested(DashQueueDistrictSchema), required=True)


class DashAllocationSchema(Schema):
    district = District()
    rounds = fields.Integer(required=True, metadata={"description": "order drawn"})
    allocated = fields.Integer(required=True, metadata={"description": "units chosen"})
    refused = fields.Integer(required=True)
    refused_good_reason = fields.Integer(required=True)
    no_show = fields.Integer(required=True)
    leases = fields.Integer(required=True, metadata={"description": "leases begun"})


class DashAllocationsSchema(Schema):
    total = fields.Nested(DashAllocationSchema, required=True)
    districts = fields.List(fields.Nested(DashAllocationSchema), required=True)


class DashSubsidyMonthSchema(Schema):
    month = fields.String(required=True, metadata={"example": "2026-04"})
    closed = fields.Boolean(required=True, metadata={"description": "false: computed only"})
    households = fields.Integer(required=True)
    paid = Money(required=True)
    recovered = Money(required=True)
    net = Money(required=True)


class DashSubsidiesSchema(Schema):
    households = fields.Integer(required=True, metadata={"description": "distinct, the period"})
    paid = Money(required=True)
    recovered = Money(required=True)
    net = Money(required=True)
    months = fields.List(fields.Nested(DashSubsidyMonthSchema), required=True)


class DashHousingRowSchema(Schema):
    district = District()
    by_status = fields.Dict(
        keys=fields.String(validate=_values(UnitStatus)), values=fields.Integer(), required=True
    )
    total = fields.Integer(required=True)
    not_relet = fields.Integer(
        required=True, metadata={"description": "vacated over a year ago, not let since"}
    )
    occupancy = OnePlace("units let as a percentage of all units")


class DashHousingSchema(Schema):
    total = fields.Nested(DashHousingRowSchema, required=True)
    districts = fields.List(fields.Nested(DashHousingRowSchema), required=True)


class DashCreditCountSchema(Schema):
    grade = fields.String(required=True, validate=_values(Grade))
    status = fields.String(required=True, validate=_values(RecordStatus))
    count = fields.Integer(required=True)


class DashCreditSchema(Schema):
    counts = fields.List(fields.Nested(DashCreditCountSchema), required=True)
    confirmed = fields.Dict(
        keys=fields.String(validate=_values(Grade)),
        values=fields.Integer(),
        required=True,
        metadata={"description": "confirmed in the period, by grade"},
    )
    confirmed_total = fields.Integer(required=True)


class DashRentMonthSchema(Schema):
    month = fields.String(required=True, metadata={"example": "2026-04"})
    charged = Money(required=True)
    collected = Money(required=True)
    rate = OnePlace("collected as a percentage of charged")


class DashRentSchema(Schema):
    charged = Money(required=True)
    collected = Money(required=True)
    rate = OnePlace("collected as a percentage of charged")
    arrears_households = fields.Integer(required=True, metadata={"description": "today"})
    arrears_amount = Money(required=True)
    months = fields.List(fields.Nested(DashRentMonthSchema), required=True)


class DashboardSchema(Schema):
    district = District(metadata={"description": "the district asked for; null: the city"})
    year = fields.Integer(required=True)
    start = fields.Date(required=True, data_key="from")
    end = fields.Date(required=True, data_key="to")
    as_of = fields.Date(required=True, metadata={"description": "the targets' progress date"})
    targets = fields.List(fields.Nested(DashProgressLineSchema), required=True)
    applications = fields.Nested(DashApplicationsSchema, required=True)
    checks = fields.List(fields.Nested(DashCheckRowSchema), required=True)
    review = fields.Nested(DashReviewSchema, required=True)
    queue = fields.Nested(DashQueueSchema, required=True)
    allocations = fields.Nested(DashAllocationsSchema, required=True)
    subsidies = fields.Nested(DashSubsidiesSchema, required=True)
    housing = fields.Nested(DashHousingSchema, required=True)
    credit = fields.Nested(DashCreditSchema, required=True)
    rent = fields.Nested(DashRentSchema, required=True)


# --- from the figures to JSON -------------------------------------------------------------


def _text(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def _month(day) -> str:
    return day.strftime("%Y-%m")


def dashboard_json(data: figures.Dashboard) -> dict[str, Any]:
    """The figures as the schema above (enum values as keys, decimals as text)."""
    codes = {i: d.code for i, d in data.districts.items()}

    def code(district_id):
        return codes.get(district_id)

    def cell(c: figures.TargetProgress) -> dict:
        return {
            "measure": c.measure.value,
            "title": str(c.measure.label),
            "targets": {k.value: v for k, v in c.targets.items()},
            "target": c.target,
            "achieved": c.achieved,
            "percent": _text(c.percent),
            "due": c.due,
            "due_share": c.due_share,
            "due_month": c.due_month,
            "next_share": c.next_share,
            "next_month": c.next_month,
            "behind": c.behind,
        }

    def review(r: figures.ReviewTimes) -> dict:
        return {
            "district": code(r.district_id),
            "decided": r.decided,
            "on_time": r.on_time,
            "on_time_percent": _text(r.on_time_percent),
            "median_days": _text(r.median_days),
            "mean_days": _text(r.mean_days),
        }

    def waiting(w: figures.Waiting) -> dict:
        return {
            "waiting": w.waiting,
            "median_days": _text(w.median_days),
            "longest_days": w.longest_days,
            "long_waiters": w.long_waiters,
        }

    def allocation(a: figures.AllocationRow) -> dict:
        return {"district": code(a.district_id)} | {
            name: getattr(a, name) for name in figures.ALLOCATION_FIELDS
        }

    def homes(h: figures.HousingRow) -> dict:
        return {
            "district": code(h.district_id),
            "by_status": {s.value: h.of(s) for s in UnitStatus},
            "total": h.total,
            "not_relet": h.not_relet,
            "occupancy": _text(h.occupancy),
        }

    apps, s, r, q = data.applications, data.subsidies, data.rent, data.queue
    return {
        "district": data.filters.district.code if data.filters.district else None,
        "year": data.filters.year,
        "start": data.filters.period.start,
        "end": data.filters.period.end,
        "as_of": data.as_of,
        "targets": [
            {
                "role": line.role,
                "label": line.label,
                "district": line.district.code if line.district else None,
                "cells": [cell(line.cells[m]) for m in figures.Measure],
            }
            for line in data.progress
        ],
        "applications": {
            "total": apps.total,
            "counts": [
                {"programme": p.value, "status": st.value, "count": n}
                for (p, st), n in sorted(apps.counts.items())
            ],
            "overdue_total": apps.overdue_total,
            "overdue": [
                {"programme": p.value, "count": n} for p, n in sorted(apps.overdue.items())
            ],
        },
        "checks": [
            {
                "department": row.department.value,
                "title": str(row.department.label),
                "by_status": {k.value: v for k, v in row.by_status.items()},
                "settled": row.settled,
                "waiting": row.waiting,
                "overdue": row.overdue,
            }
            for row in data.checks
        ],
        "review": {
            "total": review(data.review.total),
            "districts": [review(x) for x in data.review.districts],
            "open_overdue": data.review.open_overdue,
        },
        "queue": {
            "on": q.on,
            "long_wait_years": q.long_wait_years,
            "total": waiting(q.total),
            "groups": [
                {"programme": p.value, "group": g.value, **waiting(w)}
                for (p, g), w in q.groups.items()
            ],
            "districts": [{"district": code(d), **waiting(w)} for d, w in q.districts.items()],
        },
        "allocations": {
            "total": allocation(data.allocation_total),
            "districts": [allocation(a) for a in data.allocations],
        },
        "subsidies": {
            "households": s.households,
            "paid": str(s.paid),
            "recovered": str(s.recovered),
            "net": str(s.net),
            "months": [
                {
                    "month": _month(m.month),
                    "closed": m.closed,
                    "households": m.households,
                    "paid": str(m.paid),
                    "recovered": str(m.recovered),
                    "net": str(m.net),
                }
                for m in s.months
            ],
        },
        "housing": {
            "total": homes(data.housing_total),
            "districts": [homes(h) for h in data.housing],
        },
        "credit": {
            "counts": [
                {"grade": g.value, "status": st.value, "count": n}
                for (g, st), n in sorted(data.credit.counts.items())
            ],
            "confirmed": {g.value: n for g, n in data.credit.confirmed.items()},
            "confirmed_total": data.credit.confirmed_total,
        },
        "rent": {
            "charged": str(r.charged),
            "collected": str(r.collected),
            "rate": _text(r.rate),
            "arrears_households": r.arrears_households,
            "arrears_amount": str(r.arrears_amount),
            "months": [
                {
                    "month": _month(m.month),
                    "charged": str(m.charged),
                    "collected": str(m.collected),
                    "rate": _text(m.rate),
                }
                for m in r.months
            ],
        },
    }


@blp.route("/staff/dashboard")
@blp.arguments(DashboardQuery, location="query")
@blp.response(200, DashboardSchema)
@blp.alt_response(422, description="A filter is not valid (unknown district, bad dates)")
@blp.doc(security=BEARER)
@api_access(Role.MANAGER)
def dashboard(query: dict):
    """Every figure of the managers' dashboard for the filters asked (the whole city and
    this year by default)."""
    try:
        filters = figures.read_filters(
            district=query.get("district") or None,
            year=query.get("year"),
            start=query.get("start"),
            end=query.get("end"),
        )
    except ValidationFailed as exc:
        exc.field = PARAMS.get(exc.field, exc.field)
        raise
    return dashboard_json(figures.dashboard(filters, current_locale()))
