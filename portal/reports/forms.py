"""Forms of the targets, projects and ledgers pages. They check presence and shape only;
numbers, amounts, dates and the progress rules are judged by ``portal.reports.targets``,
``portal.reports.projects`` and ``portal.reports.ledgers``, shared with the API. Numbers and
amounts are text fields so that what was typed comes back as typed, with a translated
message (Decimal, never float)."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import DateField, RadioField, SelectField, StringField, TextAreaField
from wtforms.validators import InputRequired, Length, Optional

from portal.accounts.forms import REQUIRED
from portal.core.forms import choices
from portal.core.i18n import lazy_gettext as _l
from portal.reports import projects as svc
from portal.reports.models import ProjectKind, ProjectStage

ALL = choices([("", _l("All"))])


class YearForm(FlaskForm):
    """Which year to show (GET)."""

    class Meta:
        csrf = False  # a GET filter changes nothing

    year = StringField(_l("Year"), [Optional(), Length(max=4)])


class TargetsForm(FlaskForm):
    """The edit grid and the deadlines: CSRF here, the cells read by
    ``portal.reports.targets.read_grid``."""


class ProjectFilterForm(FlaskForm):
    """Which projects to list (GET)."""

    class Meta:
        csrf = False

    year = StringField(_l("Plan year"), [Optional(), Length(max=4)])
    district = SelectField(_l("District or county"), validators=[Optional()])
    kind = SelectField(
        _l("Type of project"), choices=[*ALL, *choices(ProjectKind)], validators=[Optional()]
    )
    late = SelectField(
        _l("Start"),
        choices=choices([("", _l("All")), ("1", _l("Only those late to start"))]),
        validators=[Optional()],
    )


class ProjectForm(FlaskForm):
    year = StringField(_l("Plan year"), [InputRequired(REQUIRED), Length(max=4)])
    name = StringField(_l("Project name"), [InputRequired(REQUIRED), Length(max=svc.NAME_MAX)])
    address = StringField(
        _l("Project address"), [InputRequired(REQUIRED), Length(max=svc.ADDRESS_MAX)]
    )
    district_id = SelectField(_l("District or county"), [InputRequired(REQUIRED)])
    kind = SelectField(
        _l("Type of project"), [InputRequired(REQUIRED)], choices=choices(ProjectKind)
    )
    units = StringField(
        _l("Scale (units)"),
        [InputRequired(REQUIRED), Length(max=8)],
        description=_l("Planned 套 or 间, a whole number."),
    )
    floor_area = StringField(_l("Floor area (m², optional)"), [Optional(), Length(max=16)])
    investment = StringField(
        _l("Planned investment (10,000 yuan, optional)"),
        [Optional(), Length(max=16)],
        description=_l("In 万元, like 25800.00."),
    )
    start_by = DateField(
        _l("Start deadline (optional)"),
        [Optional()],
        description=_l("开工期限: the project is shown late to start after this day."),
    )
    complete_by = DateField(_l("Planned completion (optional)"), [Optional()])
    responsible_unit = StringField(
        _l("Responsible unit"), [InputRequired(REQUIRED), Length(max=svc.UNIT_MAX)]
    )
    responsible_person = StringField(
        _l("Responsible person"), [InputRequired(REQUIRED), Length(max=svc.PERSON_MAX)]
    )
    implementer = StringField(
        _l("Implementing unit"), [InputRequired(REQUIRED), Length(max=svc.UNIT_MAX)]
    )
    certificate = StringField(
        _l("Project certificate number (optional)"),
        [Optional(), Length(max=svc.CERTIFICATE_MAX)],
        description=_l("项目认定书 of an affordable rental project."),
    )
    remarks = TextAreaField(_l("Remarks (optional)"), [Optional(), Length(max=svc.TEXT_MAX)])

    def values(self) -> dict:
        """What was typed, for the services."""
        return {name: getattr(self, name).data for name in svc.PROJECT_FIELDS}


class ProgressForm(FlaskForm):
    month = StringField(
        _l("Month"),
        [InputRequired(REQUIRED), Length(max=7)],
        description=_l(
            "The state at the end of this month, like 2026-04. A month recorded again is corrected."
        ),
    )
    stage = SelectField(_l("Stage"), [InputRequired(REQUIRED)], choices=choices(ProjectStage))
    units_started = StringField(
        _l("Units started so far"),
        [InputRequired(REQUIRED), Length(max=8)],
        description=_l("Cumulative, since the project began."),
    )
    units_completed = StringField(
        _l("Units basically completed so far"),
        [InputRequired(REQUIRED), Length(max=8)],
        description=_l("Cumulative; at most the units started."),
    )
    investment_month = StringField(
        _l("Investment this month (10,000 yuan)"),
        [InputRequired(REQUIRED), Length(max=16)],
        description=_l("In 万元, like 350.00; 0 if none."),
    )
    problems = TextAreaField(
        _l("Problems (optional)"), [Optional(), Length(max=svc.TEXT_MAX)], id="progress-problems"
    )
    started_on = DateField(
        _l("Date work started (optional)"),
        [Optional()],
        description=_l("Blank: the first day of the first month with units started."),
    )
    completed_on = DateField(
        _l("Date basically completed (optional)"),
        [Optional()],
        description=_l("Blank: the first day of the first month recorded as basically completed."),
    )


class LedgerForm(FlaskForm):
    """One ledger to prepare: its year, month (progress ledgers) and format. One form per
    kind on the page, each with the kind as its prefix (the posted ``ledger`` names it)."""

    year = StringField(_l("Year"), [InputRequired(REQUIRED), Length(max=4)])
    month = StringField(
        _l("Month"),
        [Optional(), Length(max=7)],
        description=_l("Like 2026-04: the state at the end of that month."),
    )
    format = RadioField(
        _l("Format"),
        [InputRequired(_l("Choose CSV or Excel."))],
        choices=choices([("xlsx", _l("Excel (XLSX)")), ("csv", "CSV")]),
        default="xlsx",
        validate_choice=False,  # the exports service says which formats a ledger has
    )
