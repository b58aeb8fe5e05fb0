"""Forms of the waiting-list pages. They check presence and shape only; the services decide
(``portal.waitlist.services``), for the pages and the API alike."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import IntegerField, RadioField, SelectField, StringField, TextAreaField
from wtforms.validators import InputRequired, Length, NumberRange, Optional

from portal.accounts.forms import REQUIRED
from portal.applications.models import Programme
from portal.core.forms import choices
from portal.core.i18n import lazy_gettext as _l
from portal.waitlist.explain import RECORDED_NAMES
from portal.waitlist.models import Group, Sector
from portal.waitlist.services import OBJECTION_MAX, QUEUED_PROGRAMMES


class ListingForm(FlaskForm):
    """Which part of the list to show (GET): programme, group and any page."""

    class Meta:
        csrf = False  # a GET filter changes nothing

    programme = SelectField(
        _l("Programme"),
        choices=choices(p for p in Programme if p in QUEUED_PROGRAMMES),
        default=Programme.PUBLIC_RENTAL.value,
        validators=[Optional()],
    )
    group = SelectField(
        _l("Group"), choices=[*choices([("", _l("All"))]), *choices(Group)], validators=[Optional()]
    )
    page = IntegerField(_l("Page"), [Optional(), NumberRange(min=1)], default=1)


class ObjectionForm(FlaskForm):
    objection = TextAreaField(
        _l("Your objection"),
        [InputRequired(REQUIRED), Length(max=OBJECTION_MAX)],
        description=_l(
            "Say which data are wrong and how you can show it (for example a new certificate). "
            "A housing officer looks at it and tells you the outcome."
        ),
    )


class PriorityForm(FlaskForm):
    reason = SelectField(
        _l("Verified reason"),
        [InputRequired(REQUIRED)],
        choices=choices(RECORDED_NAMES.items()),
        id="priority-reason",
    )
    note = StringField(
        _l("Document seen"),
        [InputRequired(REQUIRED), Length(max=500)],
        id="priority-note",
        description=_l("The certificate or decision you saw, with its number and issuer."),
    )


class SectorForm(FlaskForm):
    sector = SelectField(
        _l("Sector"),
        choices=[*choices([("", _l("None: leave the sector quota"))]), *choices(Sector)],
        validators=[Optional()],
        id="sector-sector",
    )
    note = StringField(
        _l("Employer's letter"),
        [InputRequired(REQUIRED), Length(max=500)],
        id="sector-note",
        description=_l("Employer, date and reference of the letter you saw."),
    )


class DecideForm(FlaskForm):
    outcome = RadioField(
        _l("Decision"),
        [InputRequired(REQUIRED)],
        choices=choices(
            [
                ("restore", _l("Restore: the household goes back on the list")),
                ("remove", _l("Remove: the household leaves the list")),
            ]
        ),
    )
    reason = TextAreaField(
        _l("Reason"),
        [InputRequired(REQUIRED), Length(max=2000)],
        id="decide-reason",
        description=_l("The household receives this text."),
    )


class ActionForm(FlaskForm):
    """A button that changes state: CSRF only."""
