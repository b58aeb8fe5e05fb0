"""The managers' dashboard (/manager/dashboard) and the annual self-assessment report
(/manager/assessment, 监测评价): read-only pages of the figures in
``portal.reports.figures`` and ``portal.reports.assessment``.

Managers only: they see the whole city and may narrow it to a district. Officers keep to
their workbench and their districts' lists (the figures would allow an officer's districts,
but the targets, the city's share and the self-assessment are the city's business).

Every number is in a table (caption, header cells with their scope); ``static/js/charts.js``
draws a chart above the tables marked ``data-chart`` from their cells, so without JavaScript
the page shows the same numbers."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from flask import Blueprint, current_app, render_template, request, url_for
from flask_babel import format_date
from flask_babel import gettext as _
from flask_wtf import FlaskForm
from wtforms import SelectField, StringField
from wtforms.validators import Length, Optional

from portal.accounts.roles import Role
from portal.applications.models import Programme
from portal.core.access import allow
from portal.core.clock import today
from portal.core.errors import ValidationFailed
from portal.core.forms import show_error
from portal.core.i18n import current_locale
from portal.core.i18n import lazy_gettext as _l
from portal.credit.models import Grade, RecordStatus
from portal.housing.models import UnitStatus
from portal.reports import assessment as assessments
from portal.reports import figures
from portal.verification.models import CheckStatus

bp = Blueprint("dashboard", __name__, url_prefix="/manager")


class DashboardFilterForm(FlaskForm):
    """The dashboard's filters (GET): what was typed is kept; the rules are
    ``figures.read_filters``'s, shared with the API."""

    class Meta:
        csrf = False  # a GET filter changes nothing

    district = SelectField(_l("District"), choices=[], validators=[Optional()])
    year = StringField(
        _l("Year of the targets"),
        [Optional(), Length(max=4)],
        description=_l("The targets and their milestones of this year."),
    )
    start = StringField(
        _l("Period from"),
        [Optional(), Length(max=10)],
        name="from",
        description=_l("Like 2026-01-01. Empty: the first day of the year."),
    )
    end = StringField(
        _l("Period to"),
        [Optional(), Length(max=10)],
        name="to",
        description=_l("Like 2026-06-30. Empty: today, or the year's last day."),
    )


class AssessmentForm(FlaskForm):
    class Meta:
        csrf = False

    year = StringField(_l("Year assessed"), [Optional(), Length(max=4)])


def percent_text(value: Decimal | None) -> str:
    """``58.3%``; a dash when there is nothing to compare with."""
    return "—" if value is None else f"{value}%"


def number_text(value) -> str:
    return "—" if value is None else str(value)


def month_name(year: int, month: int) -> str:
    """A milestone's month as people read it (``June 2026`` / ``2026年6月``)."""
    from portal.subsidy.services import month_text

    return month_text(date(year, month, 1), current_locale())


def period_text(period: figures.Period) -> str:
    return _(
        "%(start)s to %(end)s",
        start=format_date(period.start, "long"),
        end=format_date(period.end, "long"),
    )


def ledger_url() -> str | None:
    """Where the self-assessment is asked for as a file (the ledgers page's form), if
    that page is there."""
    if "reports.request_ledger" in current_app.view_functions:
        return url_for("reports.request_ledger")
    return None


HELPERS = {
    "percent_text": percent_text,
    "number_text": number_text,
    "month_name": month_name,
    "period_text": period_text,
}


@bp.get("/dashboard")
@allow(Role.MANAGER)
def index():
    """The figures of the city (or a district): targets first, then applications and
    checks, review times, the waiting list, allocations, subsidies, homes, credit and rent.
    Bad filters answer 422 with the form and its messages."""
    locale = current_locale()
    form = DashboardFilterForm(formdata=request.args)
    districts = figures.all_districts()
    form.district.choices = [("", _("Whole city")), *((d.code, d.name(locale)) for d in districts)]
    try:
        filters = figures.read_filters(
            district=form.district.data or None,
            year=form.year.data,
            start=form.start.data,
            end=form.end.data,
        )
    except ValidationFailed as exc:
        show_error(form, exc)
        return render_template("reports/dashboard.html", form=form, data=None, **HELPERS), 422
    data = figures.dashboard(filters, locale)
    return render_template(
        "reports/dashboard.html",
        form=form,
        data=data,
        locale=locale,
        Measure=figures.Measure,
        programme_list=list(Programme),
        check_statuses=list(CheckStatus),
        unit_statuses=list(UnitStatus),
        UnitStatus=UnitStatus,
        grades=list(Grade),
        record_statuses=list(RecordStatus),
        **HELPERS,
    )


@bp.get("/assessment")
@allow(Role.MANAGER)
def assessment():
    """The year's self-assessment (监测评价) as a printable report, with the file to
    download."""
    form = AssessmentForm(formdata=request.args)
    try:
        year = assessments.check_year(form.year.data)
    except ValidationFailed as exc:
        show_error(form, exc)
        return render_template(
            "reports/assessment.html", form=form, report=None, ledger_url=ledger_url()
        ), 422
    form.year.data = str(year)
    figures_of_year = assessments.self_assessment(year)
    return render_template(
        "reports/assessment.html",
        form=form,
        report=assessments.report(figures_of_year),
        report_as_of=figures_of_year.as_of,
        ledger_url=ledger_url(),
        today=today(),
        **HELPERS,
    )
