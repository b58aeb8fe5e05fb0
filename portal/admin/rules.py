"""Managers' page for the versioned rule sets (DESIGN.md convention 5): see what is in force,
the history, and add a version with an effective date."""

from __future__ import annotations

from datetime import date

import sqlalchemy as sa
from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from portal.accounts.roles import Role
from portal.core.access import allow
from portal.core.clock import today
from portal.core.errors import ValidationFailed
from portal.core.i18n import lazy_gettext as _l
from portal.core.settings import RuleVersion, add_version, current_version, defaults
from portal.extensions import db

bp = Blueprint("rules", __name__, url_prefix="/manager/rules")

RULE_SETS = {
    "eligibility": _l("Eligibility and deadlines"),
    "waitlist": _l("Waiting list: groups, points, rotation and unit sizes"),
    "subsidy": _l("Rental subsidy: tiers, rates, area standards and the fixed table"),
    "tenancy": _l("Tenancy: rent, deposit, arrears, exit, annual review and renewal"),
}

LABELS = {
    "income_line": _l("Income line (yuan per person per month)"),
    "area_per_person": _l("Owned housing per person must be below (m²)"),
    "hukou_years": _l("Years of local household registration"),
    "social_insurance_months": _l("Or months of continuous local social insurance"),
    "affordable_social_insurance_months": _l(
        "Affordable rental housing: months of local social insurance"
    ),
    "notice_days": _l("Public notice (days)"),
    "supplement_working_days": _l("Time to provide a document (working days)"),
    "check_working_days": _l("Time for a department's reviewer (working days)"),
    "accept_working_days": _l("Acceptance (working days)"),
    "decide_working_days": _l("Whole review (working days)"),
    "second_review_working_days": _l("Time to ask for a second review (working days)"),
    "objection_working_days": _l("Time to answer an objection (working days)"),
    "spot_check_share": _l("Share of approvals drawn for a spot check (0 to 1)"),
    # waiting list (portal/waitlist/rules.py)
    "p1_disability_grade": _l("Priority 1: disability grade up to (1 most severe)"),
    "p2_age": _l("Priority 2: applicant aged at least (years)"),
    "p2_minors": _l("Priority 2: at least this many children under 18"),
    "adult_age": _l("Age of majority (years)"),
    "points_max": _l("Maximum points"),
    "priority_p1_points": _l("Points: a priority 1 reason"),
    "priority_p2_points": _l("Points: a priority 2 reason"),
    "age_older_years": _l("Applicant's age: first step (years)"),
    "age_older_points": _l("Points: applicant's age, first step"),
    "age_senior_years": _l("Applicant's age: second step (years)"),
    "age_senior_points": _l("Points: applicant's age, second step"),
    "size_medium": _l("Household size: first step (persons)"),
    "size_medium_points": _l("Points: household size, first step"),
    "size_large": _l("Household size: second step (persons)"),
    "size_large_points": _l("Points: household size, second step"),
    "minors_one_points": _l("Points: one child under 18"),
    "minors_two_points": _l("Points: two children under 18"),
    "minors_three_points": _l("Points: three or more children under 18"),
    "waited_points_per_year": _l("Points per full year on the list"),
    "waited_points_max": _l("Points for years on the list, at most"),
    "verify_every_months": _l("Re-verification of waiting households every (months)"),
    "objection_days": _l("Time to object to a suspension (days)"),
    "long_wait_years": _l("Households waiting longer than this are flagged (years)"),
    "max_refusals": _l("Refusals without good reason before removal"),
    "lease_years": _l("Lease term (years)"),
    "max_area_1": _l("Largest unit for one person (m²)"),
    "max_area_2": _l("Largest unit for two persons (m²)"),
    "max_area_3": _l("Largest unit for three or four persons (m²)"),
    "large_unit_area": _l("Units above this are large units (m²)"),
    "large_unit_min_size": _l("Larger units only for households of at least (persons)"),
    "choose_days": _l("Days an invited household has to choose a unit"),
    "results_notice_days": _l("Public notice of allocation results (days)"),
    # rental subsidy (portal/subsidy/rules.py)
    "mode_table": _l("Subsidy by a fixed table per household size instead of tiers (1 yes, 0 no)"),
    "rate_assistance": _l(
        "Subsidy rate for assistance (低保, 特困) households (yuan per m² a month)"
    ),
    "tier1_income": _l("Subsidy tier 1: income per person up to (yuan a month)"),
    "rate_tier1": _l("Subsidy rate, tier 1 (yuan per m² a month)"),
    "tier2_income": _l("Subsidy tier 2: income per person up to (yuan a month)"),
    "rate_tier2": _l("Subsidy rate, tier 2 (yuan per m² a month)"),
    "rate_above": _l("Subsidy rate above tier 2 (yuan per m² a month)"),
    "area_one_person": _l("Subsidy area standard for one person (m²)"),
    "area_cap": _l("Subsidy area standard at most (m²)"),
    "coefficient": _l("Subsidy coefficient"),
    "coefficient_veteran": _l("Subsidy coefficient for entitled (优抚) households"),
    "table_1": _l("Fixed table: one person (yuan a month)"),
    "table_2": _l("Fixed table: two persons (yuan a month)"),
    "table_3": _l("Fixed table: three persons (yuan a month)"),
    "table_4": _l("Fixed table: four persons (yuan a month)"),
    "table_5": _l("Fixed table: five or more persons (yuan a month)"),
    "valid_months": _l("A subsidy award is valid for (months)"),
    "review_days_before": _l("Subsidy review: renewed this many days before it expires (days)"),
    "tenant_offset_assistance_only": _l(
        "Tenants keep the subsidy against their rent: assistance households only (1) or all (0)"
    ),
    # tenancy: rent, arrears and exit (portal/tenancy/rent.py, exits.py)
    "rent_due_day": _l("Rent of a month is due by this day of the month"),
    "deposit_months": _l("Deposit: months of contract rent"),
    "reminder_days": _l("Arrears reminder: days after the due day"),
    "arrears_exit_months": _l("Months of rent in arrears that open an exit case"),
    "moving_months": _l("Moving period of an exit case (months, at the lease's rent)"),
    "overdue_factor": _l("After the moving period: times the market rent"),
    "overdue_step1_months": _l("Overdue: months after which the first higher factor applies"),
    "overdue_step1_factor": _l("Overdue: first higher factor (times the market rent)"),
    "overdue_step2_months": _l("Overdue: months after which the second higher factor applies"),
    "overdue_step2_factor": _l("Overdue: second higher factor (times the market rent)"),
    # tenancy: annual review and renewal (portal/reviews)
    "review_every_months": _l("Annual review of tenants every (months)"),
    "review_notice_days": _l("Annual review: the household is told this many days ahead"),
    "review_answer_days": _l("Annual review: days the household has to answer"),
    "renewal_ask_months": _l("Lease renewal asked this many months before the lease ends"),
    "renewal_answer_days": _l("Lease renewal: days the tenant is asked to answer in"),
}
# Labels of a rule set whose key means something else in another set.
SET_LABELS = {
    "subsidy": {
        "area_per_person": _l("Subsidy area standard per person, two or more (m²)"),
    },
}


def labels_of(key: str) -> dict:
    return {**LABELS, **SET_LABELS.get(key, {})}


def _parse(key: str, form) -> tuple[dict, date, str]:
    values = {}
    labels = labels_of(key)
    for name, default in defaults(key).items():
        raw = (form.get(name) or "").strip()
        try:
            value = float(raw) if isinstance(default, float) else int(raw)
        except ValueError as exc:
            raise ValidationFailed(
                _l("Enter a number for “%(label)s”.", label=labels.get(name, name)), field=name
            ) from exc
        if value < 0 or (name == "spot_check_share" and value > 1):
            raise ValidationFailed(
                _l("“%(label)s” is out of range.", label=labels.get(name, name)), field=name
            )
        values[name] = value
    try:
        effective = date.fromisoformat(form.get("effective_from") or "")
    except ValueError as exc:
        raise ValidationFailed(
            _l("Enter the date the rules take effect."), field="effective_from"
        ) from exc
    if effective < today():
        raise ValidationFailed(
            _l("A new version takes effect today or later; the past is not rewritten."),
            field="effective_from",
        )
    note = (form.get("note") or "").strip()
    if len(note) < 4:
        raise ValidationFailed(
            _l("Say why the rules change (e.g. the notice that sets them)."), field="note"
        )
    return values, effective, note


@bp.route("/<key>", methods=["GET", "POST"])
@allow(Role.MANAGER)
def rule_set(key: str):
    if key not in RULE_SETS:
        abort(404)
    current = current_version(key)
    errors: dict[str, str] = {}
    if request.method == "POST":
        try:
            values, effective, note = _parse(key, request.form)
            row = add_version(current_user._get_current_object(), key, values, effective, note)
        except ValidationFailed as exc:
            errors[exc.field or "note"] = str(exc)
            db.session.rollback()
        else:
            flash(
                _(
                    "Version %(v)d is stored and takes effect on %(d)s.",
                    v=row.version,
                    d=row.effective_from.isoformat(),
                ),
                "success",
            )
            return redirect(url_for("rules.rule_set", key=key))
    history = db.session.scalars(
        sa.select(RuleVersion).where(RuleVersion.key == key).order_by(RuleVersion.version.desc())
    ).all()
    return render_template(
        "rules/rule_set.html",
        key=key,
        title=RULE_SETS[key],
        current=current,
        history=history,
        labels=labels_of(key),
        form_values=request.form if request.method == "POST" else current.values,
        errors=errors,
        min_date=today().isoformat(),
    ), (422 if errors else 200)


@bp.get("/")
@allow(Role.MANAGER)
def index():
    return redirect(url_for("rules.rule_set", key="eligibility"))
