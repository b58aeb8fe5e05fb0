"""JSON API of rent and exit (flask-smorest); the same services as the pages.

Residents: ``GET /me/lease/rent`` (the household's lease with its rent ledger, payments,
arrears, deposit and exit case) and ``POST /me/lease/notice`` (give notice to leave).
Staff (officers their districts, managers all): leases with their ledgers, counter payments,
the bank's collection file (multipart), arrears, and exit cases (open, check out, settle,
cancel). Amounts are strings of yuan with two decimals (``"512.50"``), never floats. Errors
are RFC 9457 problem documents; a rejected bank file lists every row's problem in
``rows``.
"""

from __future__ import annotations

from flask import abort, request
from flask_babel import gettext as _
from flask_smorest import Blueprint
from flask_smorest.fields import Upload as UploadField
from marshmallow import Schema, fields, validate

from portal.accounts.roles import Role
from portal.api.auth import api_user
from portal.api.fields import Int
from portal.core.access import api_access
from portal.core.scope import load_in_scope
from portal.core.web import problem
from portal.tenancy import bank_import, exits, rent
from portal.tenancy.models import ExitCase, ExitReason, ExitStatus, Lease

resident_blp = Blueprint(
    "api_my_home",
    __name__,
    description="Residents: their rent ledger (租金), deposit and leaving the home (退出)",
)
staff_blp = Blueprint(
    "api_staff_tenancy",
    __name__,
    description=(
        "Officers and managers: rent ledgers, counter payments, the bank's collection file, "
        "arrears and exit cases (moving period, check-out, deposit settlement)"
    ),
)

blueprints = [resident_blp, staff_blp]

BEARER = [{"bearerAuth": []}]
MONEY = {"description": "yuan, two decimals", "example": "512.50"}


def _money(*, metadata: dict | None = None, **kw):
    return fields.Decimal(as_string=True, places=2, metadata={**MONEY, **(metadata or {})}, **kw)


class ChargeSchema(Schema):
    month = fields.String(required=True, metadata={"example": "2026-03"})
    due_on = fields.Date(required=True)
    amount = _money(required=True)
    paid = _money(required=True)
    outstanding = _money(required=True)
    basis = fields.String(
        required=True, metadata={"description": "contract, market or exit_overdue"}
    )
    basis_title = fields.String(required=True)
    multiplier = fields.Decimal(as_string=True, places=2, required=True)
    settled_on = fields.Date(allow_none=True)
    reminded_on = fields.Date(allow_none=True)
    overdue = fields.Boolean(required=True)


class PaymentSchema(Schema):
    id = Int(required=True)
    paid_on = fields.Date(required=True)
    amount = _money(required=True)
    source = fields.String(
        required=True, metadata={"description": "counter, bank, subsidy or deposit"}
    )
    source_title = fields.String(required=True)
    bank_reference = fields.String(allow_none=True)
    note = fields.String(required=True)


class ArrearsSchema(Schema):
    amount = _money(required=True)
    months = Int(required=True)


class BalanceSchema(Schema):
    charged = _money(required=True)
    paid = _money(required=True)
    balance = _money(required=True, metadata={"description": "positive: owed; negative: credit"})
    owed = _money(required=True)
    credit = _money(required=True)


class SettlementSchema(Schema):
    deposit = _money(required=True)
    arrears = _money(required=True)
    credit = _money(required=True)
    damages = _money(required=True)
    settlement = _money(
        required=True, metadata={"description": "positive: refunded; negative: still owed"}
    )


class ExitCaseSchema(Schema):
    id = Int(required=True)
    reference = fields.String(required=True, metadata={"example": "X2026000001"})
    lease = fields.String(required=True)
    reason = fields.String(required=True, metadata={"description": "ExitReason value"})
    reason_title = fields.String(required=True)
    facts = fields.String(required=True)
    status = fields.String(
        required=True,
        metadata={"description": "moving, overdue, checked_out, closed or cancelled"},
    )
    status_title = fields.String(required=True)
    opened_on = fields.Date(required=True)
    move_out_by = fields.Date(required=True)
    refusal_recorded = fields.Boolean(required=True)
    checked_out_on = fields.Date(allow_none=True)
    condition_note = fields.String(required=True)
    keys_returned = fields.Boolean(required=True)
    settled_on = fields.Date(allow_none=True)
    cancelled_reason = fields.String(allow_none=True)
    settlement = fields.Nested(SettlementSchema, required=True)


class LeaseRentSchema(Schema):
    id = Int(required=True)
    reference = fields.String(required=True, metadata={"example": "L2026000001"})
    status = fields.String(required=True, metadata={"description": "active or ended"})
    unit = fields.String(required=True)
    tenant = fields.String(required=True)
    starts_on = fields.Date(required=True)
    ends_on = fields.Date(required=True)
    ended_on = fields.Date(allow_none=True)
    monthly_rent = _money(required=True)
    rent_basis = fields.String(required=True, metadata={"description": "contract or market"})
    deposit = _money(required=True)
    next_review_on = fields.Date(allow_none=True)
    balance = fields.Nested(BalanceSchema, required=True)
    arrears = fields.Nested(ArrearsSchema, required=True)
    exit_case = fields.Nested(ExitCaseSchema, allow_none=True)


class LeaseLedgerSchema(LeaseRentSchema):
    charges = fields.List(fields.Nested(ChargeSchema), required=True)
    payments = fields.List(fields.Nested(PaymentSchema), required=True)


class LeasePageSchema(Schema):
    leases = fields.List(fields.Nested(LeaseRentSchema), required=True)
    next_after = Int(allow_none=True, metadata={"description": "ask with after="})


class LeaseQuery(Schema):
    q = fields.String(validate=validate.Length(max=24), metadata={"description": "reference"})
    status = fields.String(
        load_default="active", validate=validate.OneOf(["active", "ended", "all"])
    )
    arrears = fields.Boolean(load_default=False, metadata={"description": "only in arrears"})
    after = Int(validate=validate.Range(min=1))


class PaymentRequest(Schema):
    amount = fields.String(required=True, metadata=MONEY)
    paid_on = fields.Date(required=True)
    note = fields.String(load_default="", validate=validate.Length(max=rent.NOTE_MAX))


class NoticeRequest(Schema):
    leave_on = fields.Date(required=True, metadata={"description": "from today to 3 months"})
    note = fields.String(load_default="", validate=validate.Length(max=exits.NOTE_MAX))


class ImportFileRequest(Schema):
    file = UploadField(
        metadata={"description": "CSV or XLSX: lease_reference, amount, paid_on, transaction_id"}
    )


class ImportQuery(Schema):
    check_only = fields.Boolean(load_default=False, metadata={"description": "write nothing"})


class ImportResultSchema(Schema):
    imported = fields.Boolean(required=True)
    rows = Int(required=True)
    leases = Int(required=True)
    total = _money(required=True)


class ArrearsRowSchema(Schema):
    lease_id = Int(required=True)
    lease = fields.String(required=True)
    tenant = fields.String(required=True)
    months = Int(required=True)
    amount = _money(required=True)
    since = fields.String(required=True, metadata={"example": "2026-01"})
    reminded_on = fields.Date(allow_none=True)
    exit_case = fields.String(allow_none=True)


class ExitQuery(Schema):
    status = fields.String(
        validate=validate.OneOf(["all", *[s.value for s in ExitStatus]]),
        metadata={"description": "default: the open cases"},
    )


class OpenExitRequest(Schema):
    lease_id = Int(required=True)
    reason = fields.String(required=True, validate=validate.OneOf([r.value for r in ExitReason]))
    facts = fields.String(required=True, validate=validate.Length(max=exits.FACTS_MAX))
    move_out_by = fields.Date(load_default=None)


class CheckOutRequest(Schema):
    on = fields.Date(required=True)
    condition_note = fields.String(required=True, validate=validate.Length(max=exits.NOTE_MAX))
    keys_returned = fields.Boolean(required=True)
    damages = fields.String(load_default="0", metadata=MONEY)


class SettleRequest(Schema):
    note = fields.String(load_default="", validate=validate.Length(max=exits.NOTE_MAX))


class CancelRequest(Schema):
    reason = fields.String(required=True, validate=validate.Length(max=exits.NOTE_MAX))


# --- documents -----------------------------------------------------------------------------


def _charge(c) -> dict:
    from portal.core.clock import today

    return {
        "month": c.month.strftime("%Y-%m"),
        "due_on": c.due_on,
        "amount": c.amount,
        "paid": c.paid,
        "outstanding": c.outstanding,
        "basis": c.basis,
        "basis_title": str(rent.BASIS_LABELS.get(c.basis, c.basis)),
        "multiplier": c.multiplier,
        "settled_on": c.settled_on,
        "reminded_on": c.reminded_on,
        "overdue": c.settled_on is None and c.due_on < today(),
    }


def _payment(p) -> dict:
    return {
        "id": p.id,
        "paid_on": p.paid_on,
        "amount": p.amount,
        "source": p.source.value,
        "source_title": str(p.source.label),
        "bank_reference": p.bank_reference,
        "note": p.note,
    }


def _case(case: ExitCase) -> dict:
    return {
        "id": case.id,
        "reference": case.reference,
        "lease": case.lease.reference,
        "reason": case.reason.value,
        "reason_title": str(case.reason.label),
        "facts": case.facts,
        "status": case.status.value,
        "status_title": str(case.status.label),
        "opened_on": case.opened_on,
        "move_out_by": case.move_out_by,
        "refusal_recorded": case.credit_record_id is not None,
        "checked_out_on": case.checked_out_on,
        "condition_note": case.condition_note,
        "keys_returned": case.keys_returned,
        "settled_on": case.settled_on,
        "cancelled_reason": case.cancelled_reason,
        "settlement": exits.settlement_of(case),
    }


def _lease(lease: Lease, *, ledger: bool = False) -> dict:
    state = rent.balance_of(lease)
    case = exits.latest_case_of(lease)
    doc = {
        "id": lease.id,
        "reference": lease.reference,
        "status": lease.status.value,
        "unit": lease.unit.label,
        "tenant": lease.tenant.real_name,
        "starts_on": lease.starts_on,
        "ends_on": lease.ends_on,
        "ended_on": lease.ended_on,
        "monthly_rent": lease.monthly_rent,
        "rent_basis": lease.rent_basis.value,
        "deposit": lease.deposit,
        "next_review_on": lease.next_review_on,
        "balance": {
            "charged": state.charged,
            "paid": state.paid,
            "balance": state.balance,
            "owed": state.owed,
            "credit": state.credit,
        },
        "arrears": rent.arrears_of(lease).__dict__,
        "exit_case": _case(case) if case is not None else None,
    }
    if ledger:
        doc["charges"] = [_charge(c) for c in rent.charges_of(lease)]
        doc["payments"] = [_payment(p) for p in rent.payments_of(lease)]
    return doc


# --- residents -----------------------------------------------------------------------------


@resident_blp.route("/me/lease/rent")
@resident_blp.response(200, LeaseLedgerSchema)
@resident_blp.alt_response(404, description="No lease")
@resident_blp.doc(security=BEARER)
@api_access(Role.RESIDENT)
def my_rent():
    """Your household's lease (in force, or the last one) with its rent ledger, payments,
    arrears, deposit and exit case."""
    lease = rent.home_lease(api_user())
    if lease is None:
        abort(404)
    return _lease(lease, ledger=True)


@resident_blp.route("/me/lease/notice", methods=["POST"])
@resident_blp.arguments(NoticeRequest)
@resident_blp.response(201, ExitCaseSchema)
@resident_blp.alt_response(404, description="No lease in force")
@resident_blp.alt_response(409, description="An exit case is already open")
@resident_blp.alt_response(422, description="The date is outside the window")
@resident_blp.doc(security=BEARER)
@api_access(Role.RESIDENT)
def give_notice(body: dict):
    """Give notice to leave the home by ``leave_on`` (from today to the end of a moving
    period): an exit case of your own accord; the housing office arranges the check-out."""
    user = api_user()
    lease = rent.home_lease(user)
    if lease is None or lease.status.value != "active":
        abort(404)
    return _case(exits.give_notice(user, lease, leave_on=body["leave_on"], note=body["note"]))


# --- staff: leases and payments ------------------------------------------------------------


def _load_lease(lease_id: int) -> Lease:
    user = api_user()
    return load_in_scope(Lease, lease_id, rent.lease_scope(user), user)


def _load_case(case_id: int) -> ExitCase:
    user = api_user()
    return load_in_scope(ExitCase, case_id, exits.case_scope(user), user)


STAFF = (Role.OFFICER, Role.MANAGER)


@staff_blp.route("/staff/tenancy/leases")
@staff_blp.arguments(LeaseQuery, location="query")
@staff_blp.response(200, LeasePageSchema)
@staff_blp.doc(security=BEARER)
@api_access(*STAFF)
def list_leases(query: dict):
    """Leases in your scope by id, with their balance, arrears and exit case."""
    rows, next_after = rent.leases_page(
        api_user(),
        q=query.get("q") or "",
        arrears_only=query["arrears"],
        status=query["status"],
        after=query.get("after"),
    )
    return {"leases": [_lease(r.lease) for r in rows], "next_after": next_after}


@staff_blp.route("/staff/tenancy/leases/<int:lease_id>")
@staff_blp.response(200, LeaseLedgerSchema)
@staff_blp.alt_response(404, description="No such lease in your scope")
@staff_blp.doc(security=BEARER)
@api_access(*STAFF)
def get_lease(lease_id: int):
    """One lease with its rent ledger and payments."""
    return _lease(_load_lease(lease_id), ledger=True)


@staff_blp.route("/staff/tenancy/leases/<int:lease_id>/payments", methods=["POST"])
@staff_blp.arguments(PaymentRequest)
@staff_blp.response(201, LeaseLedgerSchema)
@staff_blp.alt_response(404, description="No such lease in your scope")
@staff_blp.alt_response(422, description="Bad amount or date")
@staff_blp.doc(security=BEARER)
@api_access(*STAFF)
def record_payment(body: dict, lease_id: int):
    """A payment at the counter: allocated to the oldest unpaid month; more is credit."""
    lease = _load_lease(lease_id)
    rent.record_payment(
        lease, api_user(), amount=body["amount"], paid_on=body["paid_on"], note=body["note"]
    )
    return _lease(lease, ledger=True)


@staff_blp.route("/staff/tenancy/rent-imports", methods=["POST"])
@staff_blp.arguments(ImportFileRequest, location="files")
@staff_blp.arguments(ImportQuery, location="query")
@staff_blp.response(201, ImportResultSchema)
@staff_blp.alt_response(413, description="The file is larger than 10 MiB")
@staff_blp.alt_response(
    422, description="A row is wrong (every problem in ``rows``), or the file was imported"
)
@staff_blp.doc(security=BEARER)
@api_access(*STAFF)
def import_file(files: dict, query: dict):
    """The bank's collection file as field ``file`` (CSV or XLSX): all rows or none."""
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        return problem(
            422,
            _("Invalid input"),
            _("Choose a file to upload."),
            code="validation_failed",
            errors={"file": [_("Choose a file to upload.")]},
        )
    result = bank_import.import_payments(
        upload, upload.filename, api_user(), dry_run=query["check_only"]
    )
    if not result.ok:
        return problem(
            422,
            _("Invalid input"),
            _("Nothing was imported: correct the rows listed and send the file again."),
            code="import_rejected",
            rows=[
                {"row": e.row, "column": e.column, "message": str(e.message)} for e in result.errors
            ],
        )
    return {
        "imported": result.imported,
        "rows": result.rows,
        "leases": result.leases,
        "total": result.total,
    }, (201 if result.imported else 200)


@staff_blp.route("/staff/tenancy/arrears")
@staff_blp.response(200, ArrearsRowSchema(many=True))
@staff_blp.doc(security=BEARER)
@api_access(*STAFF)
def arrears():
    """Leases in arrears in your scope, the most months first."""
    return [
        {
            "lease_id": r.lease.id,
            "lease": r.lease.reference,
            "tenant": r.lease.tenant.real_name,
            "months": r.months,
            "amount": r.amount,
            "since": r.since.strftime("%Y-%m"),
            "reminded_on": r.reminded_on,
            "exit_case": r.exit_case.reference if r.exit_case else None,
        }
        for r in rent.arrears_rows(api_user())
    ]


# --- staff: exit cases ---------------------------------------------------------------------


@staff_blp.route("/staff/tenancy/exits")
@staff_blp.arguments(ExitQuery, location="query")
@staff_blp.response(200, ExitCaseSchema(many=True))
@staff_blp.doc(security=BEARER)
@api_access(*STAFF)
def list_cases(query: dict):
    """Exit cases in your scope: overdue first, then by the moving date."""
    return [_case(c) for c in exits.cases_page(api_user(), status=query.get("status"))]


@staff_blp.route("/staff/tenancy/exits", methods=["POST"])
@staff_blp.arguments(OpenExitRequest)
@staff_blp.response(201, ExitCaseSchema)
@staff_blp.alt_response(404, description="No such lease in your scope")
@staff_blp.alt_response(409, description="The lease already has an open case, or has ended")
@staff_blp.doc(security=BEARER)
@api_access(*STAFF)
def open_case(body: dict):
    """Open an exit case for a lease (a RULES.md trigger, with the facts)."""
    lease = _load_lease(body["lease_id"])
    case = exits.open_by_officer(
        lease,
        api_user(),
        reason=body["reason"],
        facts=body["facts"],
        move_out_by=body["move_out_by"],
    )
    return _case(case)


@staff_blp.route("/staff/tenancy/exits/<int:case_id>")
@staff_blp.response(200, ExitCaseSchema)
@staff_blp.alt_response(404, description="No such case in your scope")
@staff_blp.doc(security=BEARER)
@api_access(*STAFF)
def get_case(case_id: int):
    """One exit case with its settlement as it stands."""
    return _case(_load_case(case_id))


@staff_blp.route("/staff/tenancy/exits/<int:case_id>/check-out", methods=["POST"])
@staff_blp.arguments(CheckOutRequest)
@staff_blp.response(200, ExitCaseSchema)
@staff_blp.alt_response(409, description="Not waiting for a check-out")
@staff_blp.alt_response(422, description="Bad date, note or damages")
@staff_blp.doc(security=BEARER)
@api_access(*STAFF)
def check_out(body: dict, case_id: int):
    """Take the home back: the lease ends that day, the unit is vacant, the settlement is
    computed."""
    case = exits.check_out(_load_case(case_id), api_user(), **body)
    return _case(case)


@staff_blp.route("/staff/tenancy/exits/<int:case_id>/settlement", methods=["POST"])
@staff_blp.arguments(SettleRequest)
@staff_blp.response(200, ExitCaseSchema)
@staff_blp.alt_response(409, description="Not checked out, or already settled")
@staff_blp.doc(security=BEARER)
@api_access(*STAFF)
def settle(body: dict, case_id: int):
    """Settle the deposit and close the case."""
    return _case(exits.settle(_load_case(case_id), api_user(), note=body["note"]))


@staff_blp.route("/staff/tenancy/exits/<int:case_id>/cancellation", methods=["POST"])
@staff_blp.arguments(CancelRequest)
@staff_blp.response(200, ExitCaseSchema)
@staff_blp.alt_response(409, description="Already checked out, closed or cancelled")
@staff_blp.doc(security=BEARER)
@api_access(*STAFF)
def cancel(body: dict, case_id: int):
    """Cancel a case before its check-out, with the reason."""
    return _case(exits.cancel(_load_case(case_id), api_user(), reason=body["reason"]))
