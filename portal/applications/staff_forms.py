"""Forms of the housing officers' pages. They check presence and shape; the services decide
(``portal.applications.services``)."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import BooleanField, RadioField, SelectField, StringField, TextAreaField
from wtforms.validators import InputRequired, Length, Optional

from portal.applications.models import Programme, Status
from portal.core.forms import choices
from portal.core.i18n import lazy_gettext as _l

REQUIRED = _l("This field is required.")
ALL = choices([("", _l("All"))])


class QueueFilterForm(FlaskForm):
    """The officer's work queue filters (GET). District choices are the officer's own."""

    class Meta:
        csrf = False  # a GET filter changes nothing

    q = StringField(_l("Reference"), [Optional(), Length(max=24)])
    status = SelectField(
        _l("Status"),
        choices=[*ALL, *choices(s for s in Status if s is not Status.DRAFT)],
        validators=[Optional()],
    )
    programme = SelectField(
        _l("Programme"), choices=[*ALL, *choices(Programme)], validators=[Optional()]
    )
    district = SelectField(_l("District"), choices=[], validators=[Optional()])
    overdue = BooleanField(_l("Overdue only"))


class ApproveForm(FlaskForm):
    note = TextAreaField(
        _l("Note"),
        [Optional(), Length(max=2000)],
        id="approve-note",
        description=_l("Needed when the rules do not find the household eligible."),
    )


class RejectForm(FlaskForm):
    reason = TextAreaField(
        _l("Reason"),
        [InputRequired(REQUIRED), Length(max=2000)],
        id="reject-reason",
        description=_l("In words the applicant understands; they read it."),
    )


class SupplementForm(FlaskForm):
    document = StringField(
        _l("Document needed"),
        [InputRequired(REQUIRED), Length(max=200)],
        id="supplement-document",
        description=_l("One specific document."),
    )
    reason = TextAreaField(
        _l("Why it is needed"),
        [InputRequired(REQUIRED), Length(max=1000)],
        id="supplement-reason",
        description=_l("The resident reads this."),
    )


SPOT_OUTCOMES = (
    ("clean", _l("The pledge was true")),
    ("false_pledge", _l("False pledge: revoke the qualification")),
)


class SpotCheckForm(FlaskForm):
    outcome = RadioField(
        _l("Outcome"), choices=choices(SPOT_OUTCOMES), validators=[InputRequired(REQUIRED)]
    )
    finding = TextAreaField(_l("What the check found"), [InputRequired(REQUIRED), Length(max=2000)])
