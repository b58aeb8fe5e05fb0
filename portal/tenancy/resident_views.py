"""Residents: their home (/my/home): the lease, this month's rent and what is owed, the rent
ledger and payments, the deposit, the exit case with its moving date and what follows it,
and giving notice to leave. A household member sees what the tenant sees."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, url_for
from flask_babel import format_date
from flask_babel import gettext as _
from flask_login import current_user

from portal.accounts.models import User
from portal.accounts.roles import Role
from portal.core.access import allow
from portal.core.clock import today
from portal.core.errors import PortalError
from portal.core.forms import show_error
from portal.tenancy import exits, rent
from portal.tenancy.forms import NoticeForm

bp = Blueprint("my_home", __name__, url_prefix="/my/home")


def _resident() -> User:
    return current_user._get_current_object()


def _page(notice_form: NoticeForm | None = None, status: int = 200):
    user = _resident()
    lease = rent.home_lease(user)
    context = {"lease": lease, "today": today()}
    if lease is not None:
        case = exits.latest_case_of(lease)
        first, last = exits.notice_window()
        if notice_form is None:
            notice_form = NoticeForm(formdata=None)
        context.update(
            this_month=rent.charge_of_month(lease, today()),
            state=rent.balance_of(lease),
            arrears=rent.arrears_of(lease),
            charges=rent.charges_of(lease),
            payments=rent.payments_of(lease),
            case=case,
            case_open=case is not None and case.status in exits.OPEN,
            figures=exits.settlement_of(case) if case is not None else None,
            values=rent.rule_values(),
            basis_labels=rent.BASIS_LABELS,
            notice_form=notice_form,
            is_tenant=lease.tenant_id == user.id,
            notice_first=first,
            notice_last=last,
        )
    return render_template("tenancy/home.html", **context), status


@bp.get("")
@allow(Role.RESIDENT)
def index():
    """The household's home: lease, rent, ledger, deposit and exit case."""
    return _page()


@bp.post("/notice")
@allow(Role.RESIDENT)
def notice():
    """Give notice to leave (the household leaves of its own accord)."""
    user = _resident()
    lease = rent.home_lease(user)
    if lease is None or lease.status.value != "active":
        flash(_("Your household has no lease in force."), "error")
        return redirect(url_for("my_home.index"))
    form = NoticeForm()
    if not form.validate_on_submit():
        return _page(form, 422)
    try:
        case = exits.give_notice(user, lease, leave_on=form.leave_on.data, note=form.note.data)
    except PortalError as exc:
        show_error(form, exc)
        return _page(form, exc.status)
    flash(
        _(
            "Your notice is received (%(reference)s). Please leave by %(date)s; the housing "
            "office contacts you to check the home and take the keys.",
            reference=case.reference,
            date=format_date(case.move_out_by),
        ),
        "success",
    )
    return redirect(url_for("my_home.index") + "#exit")
