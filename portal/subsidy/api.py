"""JSON API of the rental subsidy (flask-smorest); the same services as the pages.

Residents: ``GET /me/subsidy`` (status, this month's and next month's amount with the
explanation, sentence by sentence, in the language asked for), ``GET /me/subsidy/ledger``,
``PUT /me/subsidy/details`` (the rent paid and the account; shown masked afterwards).
Staff: the monthly runs (list, compute, one month with its reconciliation, close by another
manager, lines in scope, the bank file through the exports module), awards (list, one,
change of facts, details, veteran status, end) and recoveries (repayment, waiver). Money is
given as text with two decimals (``"1234.50"``), never as a binary float. Errors are RFC
9457 problem documents.
"""

from __future__ import annotations

from datetime import date

from flask import abort
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from portal.accounts.roles import Role
from portal.api.auth import api_user
from portal.api.fields import Int
from portal.core.access import api_access
from portal.core.errors import NotFound
from portal.core.i18n import current_locale
from portal.core.scope import load_in_scope
from portal.exports.api import ExportSchema, export_document, finished_file, owned_export
from portal.exports.models import Export
from portal.subsidy import explain, rules, services
from portal.subsidy.models import (
    AwardBasis,
    AwardStatus,
    Channel,
    SubsidyAward,
    SubsidyRecovery,
    SubsidyRun,
)

resident_blp = Blueprint(
    "api_my_subsidy",
    __name__,
    description="Residents: their rental subsidy (租赁补贴): amounts, explanation, ledger",
)
staff_blp = Blueprint(
    "api_staff_subsidy",
    __name__,
    description=(
        "Officers and managers: monthly subsidy runs (compute, close by another manager, bank "
        "file), awards, changes and recoveries"
    ),
)

blueprints = [resident_blp, staff_blp]

BEARER = [{"bearerAuth": []}]
MONTH = validate.Regexp(r"^\d{4}-(0[1-9]|1[0-2])$", error="A month is written YYYY-MM.")
TIERS = ["assistance", "tier1", "tier2", "above", "table"]


def Money(**kw):
    """Yuan as text with two decimals (a field, named like one)."""
    metadata = {"description": "yuan, two decimals", "example": "540.00", **kw.pop("metadata", {})}
    return fields.String(metadata=metadata, **kw)


class SubsidyComputationSchema(Schema):
    month = fields.String(required=True, metadata={"example": "2026-04"})
    amount = Money(required=True)
    tier = fields.String(required=True, validate=validate.OneOf(TIERS))
    rate = Money(allow_none=True, metadata={"description": "yuan per m² a month"})
    area = fields.String(allow_none=True, metadata={"description": "m² paid for"})
    coefficient = fields.String(allow_none=True)
    uncapped = Money(required=True)
    cap = Money(allow_none=True, metadata={"description": "the rent paid: null if not known"})
    computed = fields.Boolean(
        required=True, metadata={"description": "true: the month's run line; false: estimate"}
    )
    explanation = fields.List(fields.String(), required=True)


class SubsidyLedgerMonthSchema(Schema):
    month = fields.String(required=True)
    payment = Money(allow_none=True)
    recovery = Money(allow_none=True, metadata={"description": "negative: deducted"})
    net = Money(required=True)
    channel = fields.String(required=True, validate=validate.OneOf([c.value for c in Channel]))
    closed = fields.Boolean(required=True, metadata={"description": "false: provisional"})
    tier = fields.String(allow_none=True)
    rate = Money(allow_none=True)
    area = fields.String(allow_none=True)
    coefficient = fields.String(allow_none=True)
    uncapped = Money(allow_none=True)
    cap = Money(allow_none=True)


class SubsidyRecoverySchema(Schema):
    id = Int(required=True)
    status = fields.String(required=True)
    status_title = fields.String(required=True)
    amount = Money(required=True)
    recovered = Money(required=True)
    outstanding = Money(required=True)
    from_month = fields.String(required=True)
    to_month = fields.String(required=True)
    detail = fields.List(fields.Dict(), required=True, metadata={"description": "per month"})
    reason = fields.String(required=True)


class MySubsidySchema(Schema):
    reference = fields.String(required=True, metadata={"example": "S2026000001"})
    status = fields.String(required=True, validate=validate.OneOf([s.value for s in AwardStatus]))
    status_title = fields.String(required=True)
    basis = fields.String(required=True, validate=validate.OneOf([b.value for b in AwardBasis]))
    basis_title = fields.String(required=True)
    starts_month = fields.String(required=True)
    ends_month = fields.String(allow_none=True)
    valid_until = fields.Date(required=True)
    veteran = fields.Boolean(required=True)
    payee_name = fields.String(allow_none=True)
    bank_name = fields.String(allow_none=True)
    account = fields.String(allow_none=True, metadata={"description": "masked"})
    rent = Money(allow_none=True, metadata={"description": "the rent paid a month (the cap)"})
    this_month = fields.Nested(SubsidyComputationSchema, allow_none=True)
    next_month = fields.Nested(SubsidyComputationSchema, allow_none=True)
    outstanding = Money(required=True, metadata={"description": "overpayment to recover"})
    recoveries = fields.List(fields.Nested(SubsidyRecoverySchema), required=True)


class SubsidyDetailsRequest(Schema):
    actual_rent = fields.String(
        required=True, metadata={"description": "yuan a month, as text", "example": "1200.00"}
    )
    payee_name = fields.String(required=True, validate=validate.Length(max=64))
    bank_name = fields.String(required=True, validate=validate.Length(max=80))
    bank_account = fields.String(required=True, validate=validate.Length(max=40))


class SubsidyCheckSchema(Schema):
    code = fields.String(required=True)
    title = fields.String(required=True)
    stored = fields.String(required=True)
    counted = fields.String(required=True)
    ok = fields.Boolean(required=True)


class SubsidyRunSchema(Schema):
    month = fields.String(required=True, metadata={"example": "2026-04"})
    status = fields.String(required=True)
    status_title = fields.String(required=True)
    households = Int(required=True)
    total = Money(required=True)
    recovered = Money(required=True)
    to_bank = Money(required=True)
    to_rent = Money(required=True)
    checksum = fields.String(required=True)
    computations = Int(required=True)
    rule_version_id = Int(required=True)
    computed_at = fields.DateTime(allow_none=True)
    closed_at = fields.DateTime(allow_none=True)
    computed_by_self = fields.Boolean(
        required=True, metadata={"description": "you computed it last: another manager closes"}
    )
    reconciled = fields.Boolean(required=True)
    checks = fields.List(fields.Nested(SubsidyCheckSchema), required=True)
    history = fields.List(fields.Dict(), required=True)


class SubsidyRunListSchema(Schema):
    runs = fields.List(fields.Nested(SubsidyRunSchema), required=True)
    next_to_compute = fields.String(allow_none=True)


class SubsidyComputeRequest(Schema):
    month = fields.String(required=True, validate=MONTH, metadata={"example": "2026-04"})


class SubsidyLineSchema(Schema):
    id = Int(required=True)
    award_id = Int(required=True)
    award_reference = fields.String(required=True)
    district_id = Int(allow_none=True)
    kind = fields.String(required=True)
    channel = fields.String(required=True)
    tier = fields.String(required=True)
    rate = Money(allow_none=True)
    area = fields.String(allow_none=True)
    coefficient = fields.String(allow_none=True)
    uncapped = Money(allow_none=True)
    cap = Money(allow_none=True)
    amount = Money(required=True)


class SubsidyLinePageSchema(Schema):
    lines = fields.List(fields.Nested(SubsidyLineSchema), required=True)
    next_after = Int(allow_none=True, metadata={"description": "ask with after="})


class SubsidyLineQuery(Schema):
    district_id = Int()
    tier = fields.String(validate=validate.OneOf(TIERS))
    channel = fields.String(validate=validate.OneOf([c.value for c in Channel]))
    after = Int(validate=validate.Range(min=1))
    limit = Int(load_default=services.PAGE, validate=validate.Range(1, 500))


class SubsidyExportRequest(Schema):
    format = fields.String(required=True, validate=validate.OneOf(["csv", "xlsx"]))


class SubsidyBasisSchema(Schema):
    effective_month = fields.String(required=True)
    household_size = Int(required=True)
    assistance = fields.Boolean(required=True)
    per_capita_income = Money(required=True)
    own_area = fields.String(required=True)
    actual_rent = Money(allow_none=True)
    source = fields.String(required=True)
    occurred_on = fields.Date(allow_none=True)
    note = fields.String(required=True)


class SubsidyAwardSummarySchema(Schema):
    id = Int(required=True)
    reference = fields.String(required=True)
    application = fields.String(allow_none=True)
    district_id = Int(allow_none=True)
    basis = fields.String(required=True)
    status = fields.String(required=True)
    status_title = fields.String(required=True)
    starts_month = fields.String(required=True)
    ends_month = fields.String(allow_none=True)
    ended_reason = fields.String(allow_none=True)
    valid_until = fields.Date(required=True)
    veteran = fields.Boolean(required=True)
    payee_name = fields.String(allow_none=True)
    bank_name = fields.String(allow_none=True)
    account = fields.String(allow_none=True, metadata={"description": "masked"})
    lease_id = Int(allow_none=True)
    bases = fields.List(fields.Nested(SubsidyBasisSchema), required=True)
    next_month = fields.Nested(SubsidyComputationSchema, allow_none=True)
    outstanding = Money(required=True)
    recoveries = fields.List(fields.Nested(SubsidyRecoverySchema), required=True)


class SubsidyStaffAwardSchema(SubsidyAwardSummarySchema):
    ledger = fields.List(fields.Nested(SubsidyLedgerMonthSchema), required=True)


class SubsidyAwardListSchema(Schema):
    awards = fields.List(fields.Nested(SubsidyAwardSummarySchema), required=True)
    next_before = Int(allow_none=True)


class SubsidyAwardQuery(Schema):
    status = fields.String(validate=validate.OneOf([s.value for s in AwardStatus]))
    basis = fields.String(validate=validate.OneOf([b.value for b in AwardBasis]))
    district_id = Int()
    q = fields.String(validate=validate.Length(max=40))
    before = Int(validate=validate.Range(min=1))
    limit = Int(load_default=services.PAGE, validate=validate.Range(1, 200))


class SubsidyChangeRequest(Schema):
    household_size = Int(required=True)
    per_capita_income = fields.String(required=True, metadata={"example": "1500.00"})
    assistance = fields.Boolean(load_default=False)
    own_area = fields.String(required=True, metadata={"example": "0"})
    occurred_on = fields.Date(required=True, metadata={"description": "counts from next month"})
    note = fields.String(required=True, validate=validate.Length(max=services.NOTE_MAX))


class SubsidyChangeResultSchema(Schema):
    effective_month = fields.String(required=True)
    recovery = fields.Nested(SubsidyRecoverySchema, allow_none=True)
    award = fields.Nested(SubsidyAwardSummarySchema, required=True)


class SubsidyVeteranRequest(Schema):
    veteran = fields.Boolean(required=True)
    reason = fields.String(required=True, validate=validate.Length(max=500))


class SubsidyEndRequest(Schema):
    from_month = fields.String(required=True, validate=MONTH)
    reason = fields.String(required=True, validate=validate.Length(max=40))


class SubsidyRepayRequest(Schema):
    amount = fields.String(required=True, metadata={"example": "100.00"})
    reason = fields.String(required=True, validate=validate.Length(max=services.NOTE_MAX))


class SubsidyWaiveRequest(Schema):
    reason = fields.String(required=True, validate=validate.Length(max=services.NOTE_MAX))


# --- helpers -------------------------------------------------------------------------------


def _m(value) -> str | None:
    return None if value is None else str(value)


def _key(month: date | None) -> str | None:
    return None if month is None else month.strftime("%Y-%m")


def _month(text: str) -> date:
    from portal.subsidy.views import parse_month

    found = parse_month(text)
    if found is None:
        abort(404)
    return found


def _computation(c: rules.Computation | None, month: date, computed: bool) -> dict | None:
    if c is None:
        return None
    return {
        "month": _key(month),
        "amount": _m(c.amount),
        "tier": c.tier,
        "rate": _m(c.rate),
        "area": _m(c.area),
        "coefficient": _m(c.coefficient),
        "uncapped": _m(c.uncapped),
        "cap": _m(c.cap),
        "computed": computed,
        "explanation": explain.sentences(c),
    }


def _ledger(award: SubsidyAward) -> list[dict]:
    out = []
    for m in services.ledger_of(award):
        p = m.payment
        out.append(
            {
                "month": _key(m.month),
                "payment": _m(p.amount) if p else None,
                "recovery": _m(m.recovery.amount) if m.recovery else None,
                "net": _m(m.net),
                "channel": (p or m.recovery).channel.value,
                "closed": m.closed,
                "tier": p.tier if p else None,
                "rate": _m(p.rate) if p else None,
                "area": _m(p.area) if p else None,
                "coefficient": _m(p.coefficient) if p else None,
                "uncapped": _m(p.uncapped) if p else None,
                "cap": _m(p.cap) if p else None,
            }
        )
    return out


def _recovery(r: SubsidyRecovery) -> dict:
    return {
        "id": r.id,
        "status": r.status.value,
        "status_title": str(r.status.label),
        "amount": _m(r.amount),
        "recovered": _m(r.recovered),
        "outstanding": _m(r.outstanding),
        "from_month": _key(r.from_month),
        "to_month": _key(r.to_month),
        "detail": r.detail,
        "reason": r.reason,
    }


def _mine(award: SubsidyAward) -> dict:
    current, line = services.this_month(award)
    basis = services.latest_basis(award)
    following = services.next_month()
    return {
        "reference": award.reference,
        "status": award.status.value,
        "status_title": str(award.status.label),
        "basis": award.basis.value,
        "basis_title": str(award.basis.label),
        "starts_month": _key(award.starts_month),
        "ends_month": _key(award.ends_month),
        "valid_until": award.valid_until,
        "veteran": award.veteran,
        "payee_name": award.payee_name,
        "bank_name": award.bank_name,
        "account": services.mask_account(award.bank_account) or None,
        "rent": _m(basis.actual_rent) if basis is not None else None,
        "this_month": _computation(current, _this_month(), line is not None),
        "next_month": _computation(services.amount_now(award), following, False),
        "outstanding": _m(services.outstanding_of(award)),
        "recoveries": [_recovery(r) for r in services.recoveries_of(award)],
    }


def _this_month() -> date:
    from portal.core.clock import today

    return services.month_of(today())


def _my_award() -> SubsidyAward:
    award = services.award_of_resident(api_user())
    if award is None:
        raise NotFound()
    return award


def _run_dict(run: SubsidyRun) -> dict:
    user = api_user()
    rec = services.reconcile(run)
    return {
        "month": _key(run.month),
        "status": run.status.value,
        "status_title": str(run.status.label),
        "households": run.households,
        "total": _m(run.total),
        "recovered": _m(run.recovered),
        "to_bank": _m(run.to_bank),
        "to_rent": _m(run.to_rent),
        "checksum": run.checksum,
        "computations": run.computations,
        "rule_version_id": run.rule_version_id,
        "computed_at": run.computed_at,
        "closed_at": run.closed_at,
        "computed_by_self": run.computed_by_id == user.id,
        "reconciled": rec.ok,
        "checks": [
            {
                "code": c.code,
                "title": str(services.CHECKS[c.code]),
                "stored": str(c.stored),
                "counted": str(c.counted),
                "ok": c.ok,
            }
            for c in rec.checks
        ],
        "history": [{k: v for k, v in h.items() if k not in ("by_name",)} for h in run.history],
    }


def _run(month: str) -> SubsidyRun:
    run = services.run_of(_month(month))
    if run is None:
        abort(404)
    return run


def _award(award_id: int) -> SubsidyAward:
    user = api_user()
    return load_in_scope(SubsidyAward, award_id, services.award_scope(user), user)


def _staff_award(award: SubsidyAward, *, ledger: bool = True) -> dict:
    data = {
        "id": award.id,
        "reference": award.reference,
        "application": award.application.reference,
        "district_id": award.district_id,
        "basis": award.basis.value,
        "status": award.status.value,
        "status_title": str(award.status.label),
        "starts_month": _key(award.starts_month),
        "ends_month": _key(award.ends_month),
        "ended_reason": award.ended_reason,
        "valid_until": award.valid_until,
        "veteran": award.veteran,
        "payee_name": award.payee_name,
        "bank_name": award.bank_name,
        "account": services.mask_account(award.bank_account) or None,
        "lease_id": award.lease_id,
        "bases": [
            {
                "effective_month": _key(b.effective_month),
                "household_size": b.household_size,
                "assistance": b.assistance,
                "per_capita_income": _m(b.per_capita_income),
                "own_area": _m(b.own_area),
                "actual_rent": _m(b.actual_rent),
                "source": b.source,
                "occurred_on": b.occurred_on,
                "note": b.note,
            }
            for b in services.bases_of(award)
        ],
        "next_month": _computation(services.amount_now(award), services.next_month(), False),
        "outstanding": _m(services.outstanding_of(award)),
        "recoveries": [_recovery(r) for r in services.recoveries_of(award)],
    }
    if ledger:
        data["ledger"] = _ledger(award)
    return data


SUBSIDY_EXPORTS = ("subsidy_bank_file", "subsidy_ledger")


def _export(export: Export) -> dict:
    return export_document(export, f"/api/v1/staff/subsidy/exports/{export.id}")


# --- residents -----------------------------------------------------------------------------


@resident_blp.route("/me/subsidy")
@resident_blp.response(200, MySubsidySchema)
@resident_blp.alt_response(404, description="Your household has no rental subsidy")
@resident_blp.doc(security=BEARER)
@api_access(Role.RESIDENT)
def my_subsidy():
    """Your subsidy: status, this month's and next month's amount with the explanation."""
    return _mine(_my_award())


@resident_blp.route("/me/subsidy/ledger")
@resident_blp.response(200, SubsidyLedgerMonthSchema(many=True))
@resident_blp.alt_response(404, description="Your household has no rental subsidy")
@resident_blp.doc(security=BEARER)
@api_access(Role.RESIDENT)
def my_ledger():
    """Your subsidy month by month: payment, recovery, net, and how it was computed."""
    return _ledger(_my_award())


@resident_blp.route("/me/subsidy/details", methods=["PUT", "POST"])
@resident_blp.arguments(SubsidyDetailsRequest)
@resident_blp.response(200, MySubsidySchema)
@resident_blp.alt_response(404, description="Your household has no rental subsidy")
@resident_blp.alt_response(409, description="A tenant's subsidy goes to the rent, or it ended")
@resident_blp.alt_response(422, description="Rent, account holder, bank or account not valid")
@resident_blp.doc(security=BEARER)
@api_access(Role.RESIDENT)
def my_details(body: dict):
    """Give the rent you pay a month (the cap) and the account to pay the subsidy to; the
    first time, it is paid from next month."""
    award = services.give_details(_my_award(), api_user(), **body)
    return _mine(award)


# --- staff: runs ---------------------------------------------------------------------------


@staff_blp.route("/staff/subsidy/runs")
@staff_blp.response(200, SubsidyRunListSchema)
@staff_blp.doc(security=BEARER)
@api_access(Role.OFFICER, Role.MANAGER)
def list_runs():
    """Every month computed or closed, the latest first, and the month to compute next."""
    return {
        "runs": [_run_dict(r) for r in services.runs()],
        "next_to_compute": _key(services.next_to_compute()),
    }


@staff_blp.route("/staff/subsidy/runs", methods=["POST"])
@staff_blp.arguments(SubsidyComputeRequest)
@staff_blp.response(200, SubsidyRunSchema)
@staff_blp.alt_response(409, description="Closed, or out of order (another month comes next)")
@staff_blp.alt_response(422, description="The month has not begun")
@staff_blp.doc(security=BEARER)
@api_access(Role.OFFICER, Role.MANAGER)
def compute(body: dict):
    """Compute a month (or compute it again after corrections): the same facts give the same
    lines; the history says what changed."""
    return _run_dict(services.compute_month(_month(body["month"]), api_user()))


@staff_blp.route("/staff/subsidy/runs/<month>")
@staff_blp.response(200, SubsidyRunSchema)
@staff_blp.alt_response(404, description="The month has not been computed")
@staff_blp.doc(security=BEARER)
@api_access(Role.OFFICER, Role.MANAGER)
def get_run(month: str):
    """One month: totals, reconciliation (each check to the fen) and history."""
    return _run_dict(_run(month))


@staff_blp.route("/staff/subsidy/runs/<month>/close", methods=["POST"])
@staff_blp.response(200, SubsidyRunSchema)
@staff_blp.alt_response(403, description="Only managers close")
@staff_blp.alt_response(409, description="You computed it last (four eyes), or it is closed")
@staff_blp.doc(security=BEARER)
@api_access(Role.MANAGER)
def close(month: str):
    """Close a computed month (a manager other than the last who computed it): paid, never
    changed again."""
    return _run_dict(services.close_run(_run(month), api_user()))


@staff_blp.route("/staff/subsidy/runs/<month>/lines")
@staff_blp.arguments(SubsidyLineQuery, location="query")
@staff_blp.response(200, SubsidyLinePageSchema)
@staff_blp.doc(security=BEARER)
@api_access(Role.OFFICER, Role.MANAGER)
def lines(query: dict, month: str):
    """The month's lines in your scope (officers: your districts), by line."""
    run = _run(month)
    wanted = services.LineFilter(
        district_id=query.get("district_id"),
        tier=query.get("tier"),
        channel=Channel(query["channel"]) if query.get("channel") else None,
    )
    rows, next_after = services.lines_page(
        run, api_user(), wanted, after=query.get("after"), limit=query["limit"]
    )
    return {
        "lines": [
            {
                "id": p.id,
                "award_id": a.id,
                "award_reference": a.reference,
                "district_id": a.district_id,
                "kind": p.kind.value,
                "channel": p.channel.value,
                "tier": p.tier,
                "rate": _m(p.rate),
                "area": _m(p.area),
                "coefficient": _m(p.coefficient),
                "uncapped": _m(p.uncapped),
                "cap": _m(p.cap),
                "amount": _m(p.amount),
            }
            for p, a in rows
        ],
        "next_after": next_after,
    }


@staff_blp.route("/staff/subsidy/runs/<month>/bank-file", methods=["POST"])
@staff_blp.arguments(SubsidyExportRequest)
@staff_blp.response(202, ExportSchema)
@staff_blp.alt_response(409, description="The month is not closed")
@staff_blp.doc(security=BEARER)
@api_access(Role.OFFICER, Role.MANAGER)
def bank_file(body: dict, month: str):
    """Ask for the bank file of a closed month; follow ``page`` or poll the export, then
    download ``file``."""
    export = services.request_bank_file(_run(month), api_user(), body["format"], current_locale())
    return _export(export)


@staff_blp.route("/staff/subsidy/exports/<int:export_id>")
@staff_blp.response(200, ExportSchema)
@staff_blp.alt_response(404, description="No such export of yours")
@staff_blp.doc(security=BEARER)
@api_access(Role.OFFICER, Role.MANAGER)
def get_export(export_id: int):
    """The progress of one of your subsidy exports."""
    return _export(owned_export(api_user(), export_id, SUBSIDY_EXPORTS))


@staff_blp.route("/staff/subsidy/exports/<int:export_id>/file")
@staff_blp.response(200, description="The file (CSV or XLSX)")
@staff_blp.alt_response(404, description="No such export of yours")
@staff_blp.alt_response(409, description="Not ready yet")
@staff_blp.doc(security=BEARER)
@api_access(Role.OFFICER, Role.MANAGER)
def export_file(export_id: int):
    """Download one of your finished subsidy exports (recorded in the audit log)."""
    user = api_user()
    return finished_file(owned_export(user, export_id, SUBSIDY_EXPORTS), user)


# --- staff: awards and recoveries ----------------------------------------------------------


@staff_blp.route("/staff/subsidy/awards")
@staff_blp.arguments(SubsidyAwardQuery, location="query")
@staff_blp.response(200, SubsidyAwardListSchema)
@staff_blp.doc(security=BEARER)
@api_access(Role.OFFICER, Role.MANAGER)
def list_awards(query: dict):
    """Awards in your scope, the newest first; ``q``: an award or application reference."""
    wanted = services.AwardFilter(
        status=AwardStatus(query["status"]) if query.get("status") else None,
        basis=AwardBasis(query["basis"]) if query.get("basis") else None,
        district_id=query.get("district_id"),
        q=query.get("q") or "",
    )
    rows, next_before = services.awards_page(
        api_user(), wanted, before=query.get("before"), limit=query["limit"]
    )
    return {"awards": [_staff_award(a, ledger=False) for a in rows], "next_before": next_before}


@staff_blp.route("/staff/subsidy/awards/<int:award_id>")
@staff_blp.response(200, SubsidyStaffAwardSchema)
@staff_blp.alt_response(404, description="No such award in your scope")
@staff_blp.doc(security=BEARER)
@api_access(Role.OFFICER, Role.MANAGER)
def get_award(award_id: int):
    """One award: its facts month by month, next month's amount, ledger and recoveries."""
    return _staff_award(_award(award_id))


@staff_blp.route("/staff/subsidy/awards/<int:award_id>/changes", methods=["POST"])
@staff_blp.arguments(SubsidyChangeRequest)
@staff_blp.response(201, SubsidyChangeResultSchema)
@staff_blp.alt_response(403, description="Officers of the district record changes")
@staff_blp.alt_response(422, description="Not a valid figure or date")
@staff_blp.doc(security=BEARER)
@api_access(Role.OFFICER)
def change(body: dict, award_id: int):
    """Record a change of the household's facts (or a late correction) from the month after
    it happened; closed months overpaid become a recovery."""
    award = _award(award_id)
    basis, recovery = services.correct_facts(award, api_user(), **body)
    return {
        "effective_month": _key(basis.effective_month),
        "recovery": _recovery(recovery) if recovery is not None else None,
        "award": _staff_award(award, ledger=False),
    }


@staff_blp.route("/staff/subsidy/awards/<int:award_id>/details", methods=["PUT"])
@staff_blp.arguments(SubsidyDetailsRequest)
@staff_blp.response(200, SubsidyStaffAwardSchema)
@staff_blp.alt_response(409, description="A tenant's subsidy goes to the rent, or it ended")
@staff_blp.alt_response(422, description="Rent, account holder, bank or account not valid")
@staff_blp.doc(security=BEARER)
@api_access(Role.OFFICER, Role.MANAGER)
def details(body: dict, award_id: int):
    """Enter the rent the household pays and its account."""
    return _staff_award(services.give_details(_award(award_id), api_user(), **body))


@staff_blp.route("/staff/subsidy/awards/<int:award_id>/veteran", methods=["POST"])
@staff_blp.arguments(SubsidyVeteranRequest)
@staff_blp.response(200, SubsidyStaffAwardSchema)
@staff_blp.doc(security=BEARER)
@api_access(Role.OFFICER)
def veteran(body: dict, award_id: int):
    """Record (or remove) the entitled-household status, with what you saw."""
    award = services.set_veteran(_award(award_id), api_user(), **body)
    return _staff_award(award)


@staff_blp.route("/staff/subsidy/awards/<int:award_id>/end", methods=["POST"])
@staff_blp.arguments(SubsidyEndRequest)
@staff_blp.response(200, SubsidyStaffAwardSchema)
@staff_blp.alt_response(422, description="A closed month, or no reason")
@staff_blp.doc(security=BEARER)
@api_access(Role.OFFICER, Role.MANAGER)
def end(body: dict, award_id: int):
    """End the award from a month; the months before are paid as due."""
    award = services.end_award(
        _award(award_id), api_user(), from_month=_month(body["from_month"]), reason=body["reason"]
    )
    return _staff_award(award)


def _load_recovery(recovery_id: int) -> SubsidyRecovery:
    import sqlalchemy as sa

    user = api_user()
    scope = SubsidyRecovery.award_id.in_(
        sa.select(SubsidyAward.id).where(services.award_scope(user))
    )
    return load_in_scope(SubsidyRecovery, recovery_id, scope, user)


@staff_blp.route("/staff/subsidy/recoveries/<int:recovery_id>/repayment", methods=["POST"])
@staff_blp.arguments(SubsidyRepayRequest)
@staff_blp.response(200, SubsidyRecoverySchema)
@staff_blp.alt_response(409, description="Already settled")
@staff_blp.doc(security=BEARER)
@api_access(Role.MANAGER)
def repay(body: dict, recovery_id: int):
    """Record what the household repaid directly."""
    return _recovery(services.repay(_load_recovery(recovery_id), api_user(), **body))


@staff_blp.route("/staff/subsidy/recoveries/<int:recovery_id>/waiver", methods=["POST"])
@staff_blp.arguments(SubsidyWaiveRequest)
@staff_blp.response(200, SubsidyRecoverySchema)
@staff_blp.alt_response(409, description="Already settled")
@staff_blp.doc(security=BEARER)
@api_access(Role.MANAGER)
def waive(body: dict, recovery_id: int):
    """Waive what is still outstanding, with the reason."""
    return _recovery(services.waive(_load_recovery(recovery_id), api_user(), **body))
