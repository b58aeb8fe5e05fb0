"""Officers and managers: subsidy awards, monthly runs, ledger and bank files
(/staff/subsidy).

Runs are the city's: officers and managers compute a month (and compute it again after a
correction), another manager closes it, and the bank file is asked for through the exports
module. Officers see the awards and lines of their districts; managers everything."""

from __future__ import annotations

from datetime import date

import sqlalchemy as sa
from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from portal.accounts.models import District, User
from portal.accounts.roles import Role
from portal.core.access import allow
from portal.core.errors import PortalError
from portal.core.forms import choices, show_error
from portal.core.i18n import current_locale
from portal.core.scope import load_in_scope
from portal.core.web import discard_failed_work
from portal.extensions import db
from portal.subsidy import explain, services
from portal.subsidy.forms import (
    TIER_TITLES,
    ActionForm,
    AwardFilterForm,
    ChangeForm,
    ComputeForm,
    DetailsForm,
    EndForm,
    ExportForm,
    LineFilterForm,
    RepayForm,
    VeteranForm,
    WaiveForm,
)
from portal.subsidy.models import (
    AwardBasis,
    AwardStatus,
    Channel,
    RunStatus,
    SubsidyAward,
    SubsidyRecovery,
    SubsidyRun,
)

bp = Blueprint("subsidy", __name__, url_prefix="/staff/subsidy")

STAFF = (Role.OFFICER, Role.MANAGER)


def _actor() -> User:
    return current_user._get_current_object()


def parse_month(text: str | None) -> date | None:
    """``2026-04`` → 1 April 2026; None when it is not a month."""
    try:
        year, month = (int(p) for p in (text or "").split("-"))
        return date(year, month, 1)
    except (TypeError, ValueError):
        return None


def month_key(month: date) -> str:
    return month.strftime("%Y-%m")


@bp.app_template_filter("subsidy_month")
def subsidy_month(month: date) -> str:
    """A month as people read it (``April 2026`` / ``2026年4月``)."""
    return services.month_text(month)


@bp.app_template_filter("subsidy_month_iso")
def subsidy_month_iso(text: str) -> str:
    """A month stored as ISO text (``2026-04-01``), as people read it."""
    return services.month_text(date.fromisoformat(text))


@bp.app_template_global()
def subsidy_sentences(computation) -> list[str]:
    return explain.sentences(computation)


@bp.app_template_global()
def subsidy_end_reason(code: str | None) -> str:
    return services.end_reason_text(code)


def _districts(user: User) -> list[District]:
    if user.role is Role.OFFICER:
        return sorted(user.districts, key=lambda d: d.sort_order)
    return list(db.session.scalars(sa.select(District).order_by(District.sort_order)))


def _district_choices(user: User):
    locale = current_locale()
    return [
        *choices([("", _("All"))]),
        *choices((str(d.id), d.name(locale)) for d in _districts(user)),
    ]


def _run(month: str) -> SubsidyRun:
    day = parse_month(month)
    run = services.run_of(day) if day else None
    if run is None:
        abort(404)
    return run


def _load_award(award_id: int) -> SubsidyAward:
    user = _actor()
    return load_in_scope(SubsidyAward, award_id, services.award_scope(user), user)


# --- runs ----------------------------------------------------------------------------------


def _index_page(status: int = 200):
    following = services.next_to_compute()
    form = ComputeForm(formdata=None)
    if following is not None:
        form.month.data = month_key(following)
    return render_template(
        "subsidy/index.html",
        runs=services.runs(),
        following=following,
        open_run=services.open_run(),
        last_closed=services.last_closed_month(),
        form=form,
        is_manager=_actor().role is Role.MANAGER,
    ), status


@bp.get("/")
@allow(*STAFF)
def index():
    """The months computed and closed, and the month to compute next."""
    return _index_page()


def _computed_message(run: SubsidyRun) -> str:
    last = services.last_computation(run) or {}
    month = services.month_text(run.month)
    if "unchanged" not in last:
        return _(
            "%(month)s is computed: %(households)s households, %(total)s yuan.",
            month=month,
            households=run.households,
            total=run.total,
        )
    if last["unchanged"]:
        return _(
            "%(month)s is computed again: unchanged (the same lines, totals and checksum).",
            month=month,
        )
    return _(
        "%(month)s is computed again: %(count)s households changed; total %(before)s → "
        "%(after)s yuan.",
        month=month,
        count=last.get("changed_households", 0),
        before=last["before"]["total"],
        after=run.total,
    )


def _compute(month: date | None, back):
    form = ComputeForm()
    if not form.validate_on_submit() or month is None:
        flash(_("Choose the month to compute."), "error")
        return back(422)
    try:
        run = services.compute_month(month, _actor())
    except PortalError as exc:
        discard_failed_work(exc)
        flash(str(exc), "error")
        return back(exc.status)
    flash(_computed_message(run), "success")
    return redirect(url_for("subsidy.run", month=month_key(run.month)))


@bp.post("/runs")
@allow(*STAFF)
def compute():
    """Compute the month given (the next month to compute)."""
    return _compute(parse_month(request.form.get("month")), _index_page)


def _run_page(run: SubsidyRun, status: int = 200, export_form: ExportForm | None = None):
    user = _actor()
    filters = LineFilterForm(formdata=request.args)
    filters.district.choices = _district_choices(user)
    wanted = services.LineFilter()
    if filters.validate():
        wanted.district_id = int(filters.district.data) if filters.district.data else None
        wanted.tier = filters.tier.data or None
        wanted.channel = Channel(filters.channel.data) if filters.channel.data else None
    rows, next_after = services.lines_page(
        run, user, wanted, after=request.args.get("after", type=int)
    )
    args = {k: v for k, v in request.args.items() if k != "after" and v}
    form = ComputeForm(formdata=None)
    form.month.data = month_key(run.month)
    locale = current_locale()
    return render_template(
        "subsidy/run.html",
        run=run,
        reconciliation=services.reconcile(run),
        checks=services.CHECKS,
        history=run.history,
        rows=rows,
        next_after=next_after,
        args=args,
        filters=filters,
        tiers=TIER_TITLES,
        districts={d.id: d.name(locale) for d in _districts(user)}
        if user.role is Role.OFFICER
        else {d.id: d.name(locale) for d in db.session.scalars(sa.select(District))},
        compute_form=form,
        action_form=ActionForm(formdata=None),
        export_form=export_form or ExportForm(formdata=None),
        is_manager=user.role is Role.MANAGER,
        is_officer=user.role is Role.OFFICER,
        stale=run.status is RunStatus.COMPUTED and services.changes_since_computed(run) > 0,
        month_key=month_key(run.month),
    ), status


@bp.get("/runs/<month>")
@allow(*STAFF)
def run(month: str):
    """A month: totals, reconciliation, the history of its computations, and its lines."""
    return _run_page(_run(month))


@bp.post("/runs/<month>/compute")
@allow(*STAFF)
def compute_again(month: str):
    item = _run(month)
    return _compute(item.month, lambda status: _run_page(_run(month), status))


@bp.post("/runs/<month>/close")
@allow(Role.MANAGER)
def close(month: str):
    item = _run(month)
    form = ActionForm()
    if not form.validate_on_submit():
        return _run_page(item, 422)
    try:
        services.close_run(item, _actor())
    except PortalError as exc:
        discard_failed_work(exc)
        flash(str(exc), "error")
        return _run_page(_run(month), exc.status)
    flash(
        _(
            "%(month)s is closed: %(total)s yuan to the banks and the rent ledger. Its bank "
            "file can be made.",
            month=services.month_text(item.month),
            total=item.to_bank + item.to_rent,
        ),
        "success",
    )
    return redirect(url_for("subsidy.run", month=month))


def _export(month: str, ask):
    item = _run(month)
    form = ExportForm()
    if not form.validate_on_submit():
        return _run_page(item, 422, export_form=form)
    try:
        job = ask(item, _actor(), form.format.data, current_locale())
    except PortalError as exc:
        discard_failed_work(exc)
        flash(str(exc), "error")
        return _run_page(_run(month), exc.status, export_form=form)
    return redirect(url_for("exports.show", export_id=job.id))


@bp.post("/runs/<month>/bank-file")
@allow(*STAFF)
def bank_file(month: str):
    """Ask for the bank file of a closed month (CSV or XLSX), built by the exports module."""
    return _export(month, services.request_bank_file)


@bp.post("/runs/<month>/ledger")
@allow(*STAFF)
def ledger_export(month: str):
    """Ask for the month's lines as a spreadsheet."""
    return _export(month, services.request_ledger_export)


# --- awards --------------------------------------------------------------------------------


@bp.get("/awards")
@allow(*STAFF)
def awards():
    """The awards the staff member may see, the newest first, with filters."""
    user = _actor()
    filters = AwardFilterForm(formdata=request.args)
    filters.district.choices = _district_choices(user)
    wanted = services.AwardFilter()
    if filters.validate():
        wanted.status = AwardStatus(filters.status.data) if filters.status.data else None
        wanted.basis = AwardBasis(filters.basis.data) if filters.basis.data else None
        wanted.district_id = int(filters.district.data) if filters.district.data else None
        wanted.q = filters.q.data or ""
    rows, next_before = services.awards_page(
        user, wanted, before=request.args.get("before", type=int)
    )
    args = {k: v for k, v in request.args.items() if k != "before" and v}
    return render_template(
        "subsidy/awards.html",
        rows=rows,
        filters=filters,
        next_before=next_before,
        args=args,
        next_month=services.next_month(),
        locale=current_locale(),
    )


def _award_page(award: SubsidyAward, status: int = 200, **forms):
    user = _actor()
    app = award.application
    defaults = services.latest_basis(award)
    change_form = forms.get("change_form") or ChangeForm(formdata=None)
    if "change_form" not in forms and defaults is not None:
        change_form.household_size.data = defaults.household_size
        change_form.per_capita_income.data = str(defaults.per_capita_income)
        change_form.assistance.data = defaults.assistance
        change_form.own_area.data = str(defaults.own_area)
    details_form = forms.get("details_form") or DetailsForm(formdata=None)
    if "details_form" not in forms:
        details_form.payee_name.data = award.payee_name
        details_form.bank_name.data = award.bank_name
        if defaults is not None and defaults.actual_rent is not None:
            details_form.actual_rent.data = str(defaults.actual_rent)
    end_form = forms.get("end_form") or EndForm(formdata=None, prefix="end")
    if "end_form" not in forms:
        end_form.from_month.data = services.next_month()
    recoveries = services.recoveries_of(award)
    failed = forms.get("recovery_id")
    recovery_forms = {
        r.id: (
            forms.get("repay_form")
            if failed == r.id and "repay_form" in forms
            else RepayForm(formdata=None, prefix=f"repay{r.id}"),
            forms.get("waive_form")
            if failed == r.id and "waive_form" in forms
            else WaiveForm(formdata=None, prefix=f"waive{r.id}"),
        )
        for r in recoveries
    }
    return render_template(
        "subsidy/award.html",
        award=award,
        application=app,
        bases=services.bases_of(award),
        sources=services.SOURCES,
        ledger=services.ledger_of(award),
        recoveries=recoveries,
        outstanding=services.outstanding_of(award),
        next_amount=services.amount_now(award),
        next_month=services.next_month(),
        lease_rent=services.lease_rent(award),
        masked_account=services.mask_account(award.bank_account),
        tiers=TIER_TITLES,
        is_manager=user.role is Role.MANAGER,
        is_officer=user.role is Role.OFFICER,
        change_form=change_form,
        details_form=details_form,
        veteran_form=forms.get("veteran_form") or VeteranForm(formdata=None, prefix="veteran"),
        end_form=end_form,
        recovery_forms=recovery_forms,
        ended=award.status is AwardStatus.ENDED,
        tenant=award.basis is AwardBasis.TENANT,
    ), status


@bp.get("/awards/<int:award_id>")
@allow(*STAFF)
def award(award_id: int):
    """One award: its facts month by month, its ledger, recoveries, and the forms."""
    return _award_page(_load_award(award_id))


def _act(award_id: int, form_cls, name: str, act, done: str = "", prefix: str = ""):
    """Load, validate, act; the page again with the errors, or back with ``done`` (or the
    message ``act`` returns)."""
    item = _load_award(award_id)
    form = form_cls(prefix=prefix)
    if not form.validate_on_submit():
        return _award_page(item, 422, **{name: form})
    try:
        message = act(item, form)
    except PortalError as exc:
        show_error(form, exc)
        return _award_page(_load_award(award_id), exc.status, **{name: form})
    flash(message or done, "success")
    return redirect(url_for("subsidy.award", award_id=award_id))


@bp.post("/awards/<int:award_id>/change")
@allow(Role.OFFICER)
def change(award_id: int):
    """Record a change of the household's facts (or correct them) from the month after it
    happened; a date in a month already paid makes any overpayment a recovery."""

    def act(item, form) -> str:
        basis, recovery = services.correct_facts(
            item,
            _actor(),
            household_size=form.household_size.data,
            assistance=form.assistance.data,
            per_capita_income=form.per_capita_income.data,
            own_area=form.own_area.data,
            occurred_on=form.occurred_on.data,
            note=form.note.data,
        )
        message = _(
            "The facts are recorded from %(month)s.",
            month=services.month_text(basis.effective_month),
        )
        if recovery is not None:
            message += " " + _(
                "%(amount)s yuan was overpaid in months already closed: it is recovered from "
                "the next payments.",
                amount=recovery.amount,
            )
        return message

    return _act(award_id, ChangeForm, "change_form", act)


@bp.post("/awards/<int:award_id>/details")
@allow(*STAFF)
def details(award_id: int):
    """Enter the rent the household pays and its account (e.g. at the counter)."""

    def act(item, form):
        services.give_details(
            item,
            _actor(),
            actual_rent=form.actual_rent.data,
            payee_name=form.payee_name.data,
            bank_name=form.bank_name.data,
            bank_account=form.bank_account.data,
        )

    return _act(
        award_id,
        DetailsForm,
        "details_form",
        act,
        _("The rent and account are recorded; the award is paid from the next month."),
    )


@bp.post("/awards/<int:award_id>/veteran")
@allow(Role.OFFICER)
def veteran(award_id: int):
    """Record (or remove) the entitled-household status after seeing the certificate."""

    def act(item, form):
        services.set_veteran(
            item, _actor(), veteran=form.veteran.data == "yes", reason=form.reason.data
        )

    return _act(
        award_id,
        VeteranForm,
        "veteran_form",
        act,
        _("Recorded: the coefficient applies to the months computed from now on."),
        prefix="veteran",
    )


@bp.post("/awards/<int:award_id>/end")
@allow(*STAFF)
def end(award_id: int):
    """End the award from a month (the months before are paid as due)."""

    def act(item, form):
        _require_staff_scope(item)
        services.end_award(item, _actor(), from_month=form.from_month.data, reason=form.reason.data)

    return _act(
        award_id,
        EndForm,
        "end_form",
        act,
        _("The award ends; the household is told."),
        prefix="end",
    )


def _require_staff_scope(item: SubsidyAward) -> None:
    user = _actor()
    if user.role is Role.OFFICER and item.district_id not in {d.id for d in user.districts}:
        abort(404)


def _recovery(recovery_id: int) -> SubsidyRecovery:
    user = _actor()
    scope = SubsidyRecovery.award_id.in_(
        sa.select(SubsidyAward.id).where(services.award_scope(user))
    )
    return load_in_scope(SubsidyRecovery, recovery_id, scope, user)


def _recovery_action(recovery_id: int, form_cls, name: str, act, done: str):
    recovery = _recovery(recovery_id)
    form = form_cls(prefix=f"{name.split('_')[0]}{recovery_id}")
    item = recovery.award
    if not form.validate_on_submit():
        return _award_page(item, 422, **{name: form, "recovery_id": recovery.id})
    try:
        act(recovery, form)
    except PortalError as exc:
        show_error(form, exc)
        return _award_page(
            _load_award(item.id), exc.status, **{name: form, "recovery_id": recovery_id}
        )
    flash(done, "success")
    return redirect(url_for("subsidy.award", award_id=item.id))


@bp.post("/recoveries/<int:recovery_id>/repay")
@allow(Role.MANAGER)
def repay(recovery_id: int):
    """Record what the household repaid directly."""
    return _recovery_action(
        recovery_id,
        RepayForm,
        "repay_form",
        lambda r, f: services.repay(r, _actor(), amount=f.amount.data, reason=f.reason.data),
        _("The repayment is recorded."),
    )


@bp.post("/recoveries/<int:recovery_id>/waive")
@allow(Role.MANAGER)
def waive(recovery_id: int):
    """Waive what is still outstanding."""
    return _recovery_action(
        recovery_id,
        WaiveForm,
        "waive_form",
        lambda r, f: services.waive(r, _actor(), reason=f.reason.data),
        _("The rest of the overpayment is waived."),
    )
