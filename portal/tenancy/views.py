"""Officers: rent ledgers, payments, bank imports, arrears and exit cases (/staff/tenancy).

Officers see the leases and cases of their districts, managers all (SECURITY.md B1); a
lease or case out of scope answers 404 and is audited."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import format_date, ngettext
from flask_babel import gettext as _
from flask_login import current_user

from portal.accounts.models import User
from portal.accounts.roles import Role
from portal.core.access import allow
from portal.core.clock import today
from portal.core.errors import PortalError
from portal.core.forms import run_upload, show_error
from portal.core.i18n import current_locale
from portal.core.scope import load_in_scope
from portal.core.web import csv_attachment
from portal.tenancy import bank_import, exits, rent
from portal.tenancy.forms import (
    CancelForm,
    CheckOutForm,
    ExitFilterForm,
    ImportForm,
    LeaseFilterForm,
    OpenExitForm,
    PaymentForm,
    SettleForm,
)
from portal.tenancy.models import ExitCase, Lease

bp = Blueprint("tenancy", __name__, url_prefix="/staff/tenancy")

STAFF = (Role.OFFICER, Role.MANAGER)


def _actor() -> User:
    return current_user._get_current_object()


def _lease(lease_id: int) -> Lease:
    user = _actor()
    return load_in_scope(Lease, lease_id, rent.lease_scope(user), user)


def _case(case_id: int) -> ExitCase:
    user = _actor()
    return load_in_scope(ExitCase, case_id, exits.case_scope(user), user)


# --- leases ----------------------------------------------------------------------------------


@bp.get("/")
@allow(*STAFF)
def index():
    """Leases in scope with their arrears; search by reference, only those in arrears."""
    filters = LeaseFilterForm(formdata=request.args)
    q, arrears_only, status = "", False, "active"
    if filters.validate():
        q = filters.q.data or ""
        arrears_only = bool(filters.arrears.data)
        status = filters.status.data or "active"
    rows, next_after = rent.leases_page(
        _actor(),
        q=q,
        arrears_only=arrears_only,
        status=status,
        after=request.args.get("after", type=int),
    )
    args = {k: v for k, v in request.args.items() if k != "after" and v}
    return render_template(
        "tenancy/staff_index.html",
        rows=rows,
        filters=filters,
        next_after=next_after,
        args=args,
        exit_counts=exits.counts(_actor()),
        arrears_count=rent.arrears_count(_actor()),
    )


def _lease_page(
    lease: Lease,
    *,
    payment_form: PaymentForm | None = None,
    exit_form: OpenExitForm | None = None,
    status: int = 200,
):
    if payment_form is None:
        payment_form = PaymentForm(formdata=None)
        payment_form.paid_on.data = today()
    return render_template(
        "tenancy/staff_lease.html",
        lease=lease,
        charges=rent.charges_of(lease),
        payments=rent.payments_of(lease),
        state=rent.balance_of(lease),
        arrears=rent.arrears_of(lease),
        market=_market(lease),
        exit_case=exits.open_case_of(lease),
        cases=exits.cases_of(lease),
        payment_form=payment_form,
        exit_form=exit_form or OpenExitForm(formdata=None),
        basis_labels=rent.BASIS_LABELS,
        values=rent.rule_values(),
        today=today(),
    ), status


def _market(lease: Lease):
    try:
        return rent.market_rent_of(lease)
    except PortalError:
        return None


@bp.get("/leases/<int:lease_id>")
@allow(*STAFF)
def lease(lease_id: int):
    """A lease's rent ledger, payments, arrears and exit cases."""
    return _lease_page(_lease(lease_id))


@bp.post("/leases/<int:lease_id>/payments")
@allow(*STAFF)
def record_payment(lease_id: int):
    """A payment at the counter."""
    lease = _lease(lease_id)
    form = PaymentForm()
    if not form.validate_on_submit():
        return _lease_page(lease, payment_form=form, status=422)
    try:
        payment = rent.record_payment(
            lease,
            _actor(),
            amount=form.amount.data,
            paid_on=form.paid_on.data,
            note=form.note.data,
        )
    except PortalError as exc:
        show_error(form, exc)
        return _lease_page(_lease(lease_id), payment_form=form, status=exc.status)
    flash(
        _(
            "Payment of %(amount)s yuan recorded for %(lease)s.",
            amount=payment.amount,
            lease=lease.reference,
        ),
        "success",
    )
    return redirect(url_for("tenancy.lease", lease_id=lease.id) + "#ledger")


@bp.post("/leases/<int:lease_id>/exit")
@allow(*STAFF)
def open_exit(lease_id: int):
    """Open an exit case for the lease (any RULES.md trigger, with the facts)."""
    lease = _lease(lease_id)
    form = OpenExitForm()
    if not form.validate_on_submit():
        return _lease_page(lease, exit_form=form, status=422)
    try:
        case = exits.open_by_officer(
            lease,
            _actor(),
            reason=form.reason.data,
            facts=form.facts.data,
            move_out_by=form.move_out_by.data,
        )
    except PortalError as exc:
        show_error(form, exc)
        return _lease_page(_lease(lease_id), exit_form=form, status=exc.status)
    flash(
        _(
            "Exit case %(reference)s is open; the household is told to move out by %(date)s.",
            reference=case.reference,
            date=format_date(case.move_out_by),
        ),
        "success",
    )
    return redirect(url_for("tenancy.exit_case", case_id=case.id))


# --- the bank's file -------------------------------------------------------------------------


@bp.route("/import", methods=["GET", "POST"])
@allow(*STAFF)
def bank_file():
    """Upload the bank's collection file: every row is checked before anything is written."""
    form = ImportForm()
    result, status = run_upload(
        form,
        lambda upload: bank_import.import_payments(
            upload, upload.filename, _actor(), dry_run=bool(form.check_only.data)
        ),
    )
    if result is not None and result.ok and result.imported:
        flash(
            ngettext(
                "Imported %(num)d payment: %(total)s yuan.",
                "Imported %(num)d payments: %(total)s yuan.",
                result.rows,
                total=result.total,
            ),
            "success",
        )
    return render_template(
        "tenancy/import.html",
        form=form,
        result=result,
        columns=bank_import.COLUMNS,
        recent=bank_import.recent_imports(_actor()),
        max_rows=bank_import.MAX_ROWS,
    ), status


@bp.get("/import/template.csv")
@allow(*STAFF)
def import_template():
    """The bank file's template: headers in the reader's language and one example row."""
    chinese = current_locale().startswith("zh")
    return csv_attachment(bank_import.template_csv(chinese), "rent-bank-template.csv")


# --- arrears -------------------------------------------------------------------------------


@bp.get("/arrears")
@allow(*STAFF)
def arrears():
    """Leases in arrears, the most months first."""
    values = rent.rule_values()
    return render_template(
        "tenancy/arrears.html",
        rows=rent.arrears_rows(_actor()),
        threshold=int(values["arrears_exit_months"]),
        values=values,
    )


# --- exit cases ----------------------------------------------------------------------------


@bp.get("/exits")
@allow(*STAFF)
def exit_cases():
    """Exit cases: overdue first, then by the moving deadline."""
    filters = ExitFilterForm(formdata=request.args)
    status = filters.status.data if filters.validate() else None
    return render_template(
        "tenancy/exits.html",
        cases=exits.cases_page(_actor(), status=status or None),
        filters=filters,
        today=today(),
    )


def _case_page(
    case: ExitCase,
    *,
    check_out_form: CheckOutForm | None = None,
    settle_form: SettleForm | None = None,
    cancel_form: CancelForm | None = None,
    status: int = 200,
):
    if check_out_form is None:
        check_out_form = CheckOutForm(formdata=None)
        check_out_form.on.data = today()
    return render_template(
        "tenancy/exit_case.html",
        case=case,
        lease=case.lease,
        figures=exits.settlement_of(case),
        state=rent.balance_of(case.lease),
        arrears=rent.arrears_of(case.lease),
        check_out_form=check_out_form,
        settle_form=settle_form or SettleForm(formdata=None),
        cancel_form=cancel_form or CancelForm(formdata=None),
        before_check_out=case.status in exits.BEFORE_CHECK_OUT,
        today=today(),
    ), status


@bp.get("/exits/<int:case_id>")
@allow(*STAFF)
def exit_case(case_id: int):
    """One exit case: facts, moving period, check-out, settlement."""
    return _case_page(_case(case_id))


@bp.post("/exits/<int:case_id>/check-out")
@allow(*STAFF)
def check_out(case_id: int):
    case = _case(case_id)
    form = CheckOutForm()
    if not form.validate_on_submit():
        return _case_page(case, check_out_form=form, status=422)
    try:
        exits.check_out(
            case,
            _actor(),
            on=form.on.data,
            condition_note=form.condition_note.data,
            keys_returned=form.keys_returned.data,
            damages=form.damages.data,
        )
    except PortalError as exc:
        show_error(form, exc)
        return _case_page(_case(case_id), check_out_form=form, status=exc.status)
    flash(
        _("Checked out: the lease has ended and the unit is vacant. Settle the deposit."),
        "success",
    )
    return redirect(url_for("tenancy.exit_case", case_id=case.id))


@bp.post("/exits/<int:case_id>/settle")
@allow(*STAFF)
def settle(case_id: int):
    case = _case(case_id)
    form = SettleForm()
    if not form.validate_on_submit():
        return _case_page(case, settle_form=form, status=422)
    try:
        case = exits.settle(case, _actor(), note=form.note.data)
    except PortalError as exc:
        show_error(form, exc)
        return _case_page(_case(case_id), settle_form=form, status=exc.status)
    if case.settlement >= 0:
        message = _("Settled: %(amount)s yuan to refund.", amount=case.settlement)
    else:
        message = _("Settled: %(amount)s yuan still owed.", amount=-case.settlement)
    flash(message, "success")
    return redirect(url_for("tenancy.exit_case", case_id=case.id))


@bp.post("/exits/<int:case_id>/cancel")
@allow(*STAFF)
def cancel(case_id: int):
    case = _case(case_id)
    form = CancelForm()
    if not form.validate_on_submit():
        return _case_page(case, cancel_form=form, status=422)
    try:
        exits.cancel(case, _actor(), reason=form.reason.data)
    except PortalError as exc:
        show_error(form, exc)
        return _case_page(_case(case_id), cancel_form=form, status=exc.status)
    flash(_("The exit case is cancelled; the lease continues."), "success")
    return redirect(url_for("tenancy.exit_case", case_id=case.id))
