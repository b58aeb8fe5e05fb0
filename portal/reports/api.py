"""JSON API of targets, projects and ledgers (flask-smorest); the same services as the
managers' pages, for managers only.

``GET``/``PUT /staff/targets/<year>``: the year's cells (``district_code`` null: the city's
own share), its deadlines and the task table with its subtotals; a PUT replaces the cells
(and the deadlines when given). ``/staff/projects``: list (filters), add, read one with its
progress, change, record a month's progress. ``POST /staff/ledgers``: ask for a ledger
(its parameters checked like on the page), then poll ``GET /staff/ledgers/<id>`` and
download ``file``. Amounts (万元, m²) are text with two decimals, never a binary float.
Errors are RFC 9457 problem documents.
"""

from __future__ import annotations

from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from portal.accounts.models import District
from portal.accounts.roles import Role
from portal.api.auth import api_user
from portal.api.fields import Int
from portal.core.access import api_access
from portal.core.errors import ValidationFailed
from portal.core.i18n import current_locale
from portal.core.i18n import lazy_gettext as _l
from portal.exports.api import ExportSchema, export_document, finished_file, owned_export
from portal.exports.models import Export
from portal.extensions import db
from portal.reports import ledgers, targets
from portal.reports import projects as svc
from portal.reports.models import Project, ProjectKind, ProjectProgress, ProjectStage, TargetKind

blp = Blueprint(
    "api_staff_reports",
    __name__,
    description=(
        "Managers: yearly targets (目标任务) and their deadlines, construction projects and "
        "their monthly progress, the ledgers (台账)"
    ),
)

blueprints = [blp]

BEARER = [{"bearerAuth": []}]
MONTH = validate.Regexp(r"^\d{4}-(0[1-9]|1[0-2])$", error="A month is written YYYY-MM.")
TARGET_KINDS = [k.value for k in TargetKind]


def Amount(**kw):
    """An amount as text with two decimals (万元 or m²)."""
    return fields.String(**kw)


class TargetCellSchema(Schema):
    district_code = fields.String(
        required=True, allow_none=True, metadata={"description": "null: the city's own share"}
    )
    kind = fields.String(required=True, validate=validate.OneOf(TARGET_KINDS))
    units = Int(required=True, strict=True, metadata={"description": "0-1000000"})


class MilestoneSchema(Schema):
    kind = fields.String(required=True, validate=validate.OneOf(TARGET_KINDS))
    by_month = Int(required=True, strict=True, metadata={"description": "1-12"})
    share_percent = Int(required=True, strict=True, metadata={"description": "1-100"})


class TargetLineSchema(Schema):
    label = fields.String(required=True)
    line = fields.String(
        required=True,
        validate=validate.OneOf(["city", "district", "subtotal", "total"]),
        metadata={"description": "subtotal and total lines are computed"},
    )
    district_code = fields.String(allow_none=True)
    values = fields.Dict(
        keys=fields.String(),
        values=Int(allow_none=True),
        required=True,
        metadata={"description": "column key → units; null: no target"},
    )


class TargetsSchema(Schema):
    year = Int(required=True)
    cells = fields.List(fields.Nested(TargetCellSchema), required=True)
    milestones = fields.List(fields.Nested(MilestoneSchema), required=True)
    columns = fields.List(fields.String(), required=True, metadata={"description": "in order"})
    table = fields.List(fields.Nested(TargetLineSchema), required=True)


class TargetsRequest(Schema):
    cells = fields.List(
        fields.Nested(TargetCellSchema),
        required=True,
        metadata={"description": "the whole year: a cell left out has no target afterwards"},
    )
    milestones = fields.List(
        fields.Nested(MilestoneSchema),
        metadata={"description": "when given, replaces the year's deadlines"},
    )


class ProgressSchema(Schema):
    month = fields.String(required=True, metadata={"example": "2026-04"})
    stage = fields.String(required=True, validate=validate.OneOf([s.value for s in ProjectStage]))
    stage_title = fields.String(required=True)
    units_started = Int(required=True)
    units_completed = Int(required=True)
    investment_month = Amount(required=True, metadata={"description": "万元"})
    investment_total = Amount(required=True, metadata={"description": "万元, cumulative"})
    problems = fields.String(allow_none=True)
    recorded_at = fields.DateTime(required=True)


class ProjectSchema(Schema):
    id = Int(required=True)
    year = Int(required=True)
    name = fields.String(required=True)
    address = fields.String(required=True)
    district_code = fields.String(required=True)
    kind = fields.String(required=True, validate=validate.OneOf([k.value for k in ProjectKind]))
    kind_title = fields.String(required=True)
    units = Int(required=True)
    floor_area = Amount(allow_none=True, metadata={"description": "m²"})
    investment = Amount(allow_none=True, metadata={"description": "planned, 万元"})
    start_by = fields.Date(allow_none=True, metadata={"description": "start deadline"})
    complete_by = fields.Date(allow_none=True)
    started_on = fields.Date(allow_none=True)
    completed_on = fields.Date(allow_none=True)
    late_to_start = fields.Boolean(required=True)
    responsible_unit = fields.String(required=True)
    responsible_person = fields.String(required=True)
    implementer = fields.String(required=True)
    certificate = fields.String(allow_none=True)
    remarks = fields.String(allow_none=True)
    latest = fields.Nested(ProgressSchema, allow_none=True)


class ProjectDetailSchema(ProjectSchema):
    progress = fields.List(fields.Nested(ProgressSchema), required=True)


class ProjectListSchema(Schema):
    projects = fields.List(fields.Nested(ProjectSchema), required=True)


class ProjectQuery(Schema):
    year = Int(metadata={"description": "default: this year"})
    district_code = fields.String()
    kind = fields.String(validate=validate.OneOf([k.value for k in ProjectKind]))
    late = fields.Boolean(metadata={"description": "only those late to start"})


class ProjectRequest(Schema):
    year = Int(required=True)
    name = fields.String(required=True)
    address = fields.String(required=True)
    district_code = fields.String(required=True)
    kind = fields.String(required=True, validate=validate.OneOf([k.value for k in ProjectKind]))
    units = Int(required=True, strict=True)
    floor_area = Amount(allow_none=True, metadata={"example": "52300.50"})
    investment = Amount(allow_none=True, metadata={"example": "25800.00"})
    start_by = fields.Date(allow_none=True)
    complete_by = fields.Date(allow_none=True)
    responsible_unit = fields.String(required=True)
    responsible_person = fields.String(required=True)
    implementer = fields.String(required=True)
    certificate = fields.String(allow_none=True)
    remarks = fields.String(allow_none=True)


class ProjectChangeRequest(ProjectRequest):
    """The fields to change (any of them)."""


class ProgressRequest(Schema):
    month = fields.String(required=True, validate=MONTH, metadata={"example": "2026-04"})
    stage = fields.String(required=True, validate=validate.OneOf([s.value for s in ProjectStage]))
    units_started = Int(required=True, strict=True)
    units_completed = Int(required=True, strict=True)
    investment_month = Amount(required=True, metadata={"example": "350.00"})
    problems = fields.String(allow_none=True)
    started_on = fields.Date(allow_none=True)
    completed_on = fields.Date(allow_none=True)


class LedgerRequest(Schema):
    kind = fields.String(required=True, validate=validate.OneOf(list(ledgers.LEDGER_NAMES)))
    format = fields.String(required=True, validate=validate.OneOf(["csv", "xlsx"]))
    year = Int(required=True)
    month = fields.String(
        validate=MONTH,
        metadata={"description": "progress_ledger and monthly_progress: YYYY-MM"},
    )


# --- helpers -------------------------------------------------------------------------------


def _m(value) -> str | None:
    return None if value is None else str(value)


def _district_id(code: str | None) -> int | None:
    if code is None:
        return None
    found = db.session.scalar(db.select(District.id).where(District.code == code))
    if found is None:
        raise ValidationFailed(_l("No such district: %(code)s.", code=code), field="district_code")
    return found


def _targets(year: int) -> dict:
    table = targets.targets_table(year, current_locale())
    codes = {d.id: d.code for d in targets.districts()}
    cells = [
        {"district_code": codes.get(district_id), "kind": kind.value, "units": units}
        for district_id, kinds in targets.cells_of(year).items()
        for kind, units in kinds.items()
    ]
    cells.sort(key=lambda c: (c["district_code"] or "", targets.KIND_ORDER[TargetKind(c["kind"])]))
    return {
        "year": year,
        "cells": cells,
        "milestones": [
            {"kind": m.kind.value, "by_month": m.by_month, "share_percent": m.share_percent}
            for m in table.milestones
        ],
        "columns": [c.key for c in targets.COLUMNS],
        "table": [
            {
                "label": r.label,
                "line": r.kind,
                "district_code": r.district.code if r.district else None,
                "values": r.values,
            }
            for r in table.rows
        ],
    }


def _progress(r: ProjectProgress) -> dict:
    return {
        "month": svc.month_key(r.month),
        "stage": r.stage.value,
        "stage_title": str(r.stage.label),
        "units_started": r.units_started,
        "units_completed": r.units_completed,
        "investment_month": _m(r.investment_month),
        "investment_total": _m(r.investment_total),
        "problems": r.problems,
        "recorded_at": r.recorded_at,
    }


def _project(p: Project, latest: ProjectProgress | None = None, *, detail: bool = False) -> dict:
    data = {
        "id": p.id,
        "year": p.year,
        "name": p.name,
        "address": p.address,
        "district_code": p.district.code,
        "kind": p.kind.value,
        "kind_title": str(p.kind.label),
        "units": p.units,
        "floor_area": _m(p.floor_area),
        "investment": _m(p.investment),
        "start_by": p.start_by,
        "complete_by": p.complete_by,
        "started_on": p.started_on,
        "completed_on": p.completed_on,
        "late_to_start": svc.is_late_to_start(p),
        "responsible_unit": p.responsible_unit,
        "responsible_person": p.responsible_person,
        "implementer": p.implementer,
        "certificate": p.certificate,
        "remarks": p.remarks,
        "latest": _progress(latest) if latest is not None else None,
    }
    if detail:
        records = db.session.scalars(
            db.select(ProjectProgress)
            .where(ProjectProgress.project_id == p.id)
            .order_by(ProjectProgress.month)
        ).all()
        data["progress"] = [_progress(r) for r in records]
        data["latest"] = _progress(records[-1]) if records else None
    return data


def _project_values(body: dict) -> dict:
    values = {k: v for k, v in body.items() if k != "district_code"}
    if "district_code" in body:
        values["district_id"] = _district_id(body["district_code"])
    return values


def _load(project_id: int) -> Project:
    return db.get_or_404(Project, project_id)


def _export(export: Export) -> dict:
    return export_document(export, f"/api/v1/staff/ledgers/{export.id}")


# --- targets -------------------------------------------------------------------------------


@blp.route("/staff/targets/<int:year>")
@blp.response(200, TargetsSchema)
@blp.doc(security=BEARER)
@api_access(Role.MANAGER)
def get_targets(year: int):
    """The year's cells, deadlines and task table (subtotals and total computed)."""
    return _targets(targets.check_year(year))


@blp.route("/staff/targets/<int:year>", methods=["PUT"])
@blp.arguments(TargetsRequest)
@blp.response(200, TargetsSchema)
@blp.alt_response(422, description="A bad cell (negative, over 1,000,000, twice) or deadline")
@blp.doc(security=BEARER)
@api_access(Role.MANAGER)
def put_targets(body: dict, year: int):
    """Replace the year's cells (a cell left out has no target afterwards) and, when given,
    its deadlines; audited."""
    user = api_user()
    cells = [(_district_id(c["district_code"]), c["kind"], c["units"]) for c in body["cells"]]
    targets.set_targets(year, cells, user)
    if "milestones" in body:
        targets.set_milestones(
            year,
            [(m["kind"], m["by_month"], m["share_percent"]) for m in body["milestones"]],
            user,
        )
    return _targets(year)


# --- projects ------------------------------------------------------------------------------


@blp.route("/staff/projects")
@blp.arguments(ProjectQuery, location="query")
@blp.response(200, ProjectListSchema)
@blp.doc(security=BEARER)
@api_access(Role.MANAGER)
def list_projects(query: dict):
    """A year's projects by district, each with its latest progress."""
    from portal.core.clock import today

    wanted = svc.ProjectFilter(
        year=targets.check_year(query.get("year") or today().year),
        district_id=_district_id(query["district_code"]) if query.get("district_code") else None,
        kind=ProjectKind(query["kind"]) if query.get("kind") else None,
        late_only=bool(query.get("late")),
    )
    rows = svc.find_projects(wanted)
    latest = svc.latest_of([p.id for p in rows])
    return {"projects": [_project(p, latest.get(p.id)) for p in rows]}


@blp.route("/staff/projects", methods=["POST"])
@blp.arguments(ProjectRequest)
@blp.response(201, ProjectDetailSchema)
@blp.alt_response(422, description="A field is missing or not valid")
@blp.doc(security=BEARER)
@api_access(Role.MANAGER)
def create_project(body: dict):
    """Add a project to a year's plan."""
    project = svc.create_project(api_user(), **_project_values(body))
    return _project(project, detail=True)


@blp.route("/staff/projects/<int:project_id>")
@blp.response(200, ProjectDetailSchema)
@blp.alt_response(404, description="No such project")
@blp.doc(security=BEARER)
@api_access(Role.MANAGER)
def get_project(project_id: int):
    """One project with its progress month by month."""
    return _project(_load(project_id), detail=True)


@blp.route("/staff/projects/<int:project_id>", methods=["PUT"])
@blp.arguments(ProjectChangeRequest(partial=True))
@blp.response(200, ProjectDetailSchema)
@blp.alt_response(422, description="A field is not valid")
@blp.doc(security=BEARER)
@api_access(Role.MANAGER)
def update_project(body: dict, project_id: int):
    """Change a project's facts (the fields given)."""
    project = svc.update_project(_load(project_id), api_user(), **_project_values(body))
    return _project(project, detail=True)


@blp.route("/staff/projects/<int:project_id>/progress", methods=["POST"])
@blp.arguments(ProgressRequest)
@blp.response(201, ProjectDetailSchema)
@blp.alt_response(
    422,
    description="More than the project's units, completed above started, "
    "or lower than the month before",
)
@blp.doc(security=BEARER)
@api_access(Role.MANAGER)
def record_progress(body: dict, project_id: int):
    """Record a month's progress; recording a month again corrects it."""
    project = _load(project_id)
    svc.record_progress(project, api_user(), **body)
    return _project(project, detail=True)


# --- ledgers -------------------------------------------------------------------------------


@blp.route("/staff/ledgers", methods=["POST"])
@blp.arguments(LedgerRequest)
@blp.response(202, ExportSchema)
@blp.alt_response(422, description="Unknown ledger, format, year or month")
@blp.doc(security=BEARER)
@api_access(Role.MANAGER)
def request_ledger(body: dict):
    """Ask for a ledger; poll ``status_url``, then download ``file``."""
    export = ledgers.request_ledger(
        api_user(),
        body["kind"],
        body["format"],
        current_locale(),
        year=body["year"],
        month=body.get("month"),
    )
    return _export(export)


@blp.route("/staff/ledgers/<int:export_id>")
@blp.response(200, ExportSchema)
@blp.alt_response(404, description="No such ledger of yours")
@blp.doc(security=BEARER)
@api_access(Role.MANAGER)
def get_ledger(export_id: int):
    """The progress of one of your ledgers, and its file once done."""
    return _export(owned_export(api_user(), export_id, ledgers.LEDGER_NAMES))


@blp.route("/staff/ledgers/<int:export_id>/file")
@blp.response(200, description="The file (CSV or XLSX)")
@blp.alt_response(404, description="No such ledger of yours")
@blp.alt_response(409, description="Not ready yet")
@blp.doc(security=BEARER)
@api_access(Role.MANAGER)
def ledger_file(export_id: int):
    """Download one of your finished ledgers (recorded in the audit log)."""
    user = api_user()
    return finished_file(owned_export(user, export_id, ledgers.LEDGER_NAMES), user)
