"""Residents: their rental subsidy (/my/subsidy): status, this month's and next month's
amount with its explanation, the ledger by month, recoveries, and the rent and account the
subsidy is paid on."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user

from portal.accounts.models import User
from portal.accounts.roles import Role
from portal.core.access import allow
from portal.core.clock import today
from portal.core.errors import PortalError
from portal.core.forms import show_error
from portal.subsidy import services
from portal.subsidy.forms import TIER_TITLES, DetailsForm
from portal.subsidy.models import AwardBasis, AwardStatus, SubsidyAward

bp = Blueprint("my_subsidy", __name__, url_prefix="/my/subsidy")


def _actor() -> User:
    return current_user._get_current_object()


@bp.app_template_global()
def resident_subsidy() -> SubsidyAward | None:
    """The signed-in resident's award, for the dashboard."""
    return services.award_of_resident(_actor())


def _page(award: SubsidyAward | None, form: DetailsForm | None = None, status: int = 200):
    if award is None:
        return render_template("subsidy/mine.html", award=None), status
    current, line = services.this_month(award)
    basis = services.latest_basis(award)
    if form is None:
        form = DetailsForm(formdata=None)
        form.payee_name.data = award.payee_name
        form.bank_name.data = award.bank_name
        if basis is not None and basis.actual_rent is not None:
            form.actual_rent.data = str(basis.actual_rent)
    return render_template(
        "subsidy/mine.html",
        award=award,
        this_month=services.month_of(today()),
        current=current,
        current_line=line,
        next_month=services.next_month(),
        upcoming=services.amount_now(award),
        ledger=services.ledger_of(award),
        recoveries=services.recoveries_of(award),
        outstanding=services.outstanding_of(award),
        masked_account=services.mask_account(award.bank_account),
        rent=basis.actual_rent if basis is not None else None,
        lease_rent=services.lease_rent(award),
        tiers=TIER_TITLES,
        form=form,
        can_give_details=award.basis is not AwardBasis.TENANT
        and award.status is not AwardStatus.ENDED,
    ), status


@bp.get("")
@allow(Role.RESIDENT)
def index():
    """The household's subsidy: what it is paid, why, and what it needs to give."""
    return _page(services.award_of_resident(_actor()))


@bp.post("/details")
@allow(Role.RESIDENT)
def details():
    """The rent the household pays and the account to pay the subsidy to; the account is
    shown masked once saved."""
    award = services.award_of_resident(_actor())
    if award is None:
        return _page(None, status=404)
    form = DetailsForm()
    if not form.validate_on_submit():
        return _page(award, form, 422)
    try:
        services.give_details(
            award,
            _actor(),
            actual_rent=form.actual_rent.data,
            payee_name=form.payee_name.data,
            bank_name=form.bank_name.data,
            bank_account=form.bank_account.data,
        )
    except PortalError as exc:
        show_error(form, exc)
        return _page(services.award_of_resident(_actor()), form, exc.status)
    flash(
        _(
            "Thank you: your subsidy is paid to the account ending %(last)s from %(month)s.",
            last=(award.bank_account or "")[-4:],
            month=services.month_text(max(award.starts_month, services.next_month())),
        ),
        "success",
    )
    return redirect(url_for("my_subsidy.index"))
