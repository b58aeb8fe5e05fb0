"""Forms of the administration pages."""

from flask_wtf import FlaskForm
from wtforms import SelectField, StringField
from wtforms.validators import InputRequired, Length, Optional

from portal.accounts.forms import REQUIRED
from portal.accounts.roles import STAFF_ROLES
from portal.core.forms import MultiCheckboxField, choices
from portal.core.i18n import lazy_gettext as _l
from portal.verification.departments import Department


class StaffForm(FlaskForm):
    role = SelectField(_l("Role"), choices=choices(STAFF_ROLES))
    username = StringField(
        _l("Sign-in name"),
        [InputRequired(REQUIRED), Length(max=64)],
        description=_l("Letters, digits, dots, dashes or underscores, e.g. li.ming"),
    )
    real_name = StringField(_l("Name"), [InputRequired(REQUIRED), Length(max=64)])
    districts = MultiCheckboxField(
        _l("Districts (housing officers)"), choices=[], validate_choice=False
    )
    department = SelectField(
        _l("Department (department reviewers)"),
        choices=[*choices([("", "—")]), *choices(Department)],
        validators=[Optional()],
    )
    mobile = StringField(_l("Mobile number"), [Optional(), Length(max=20)])
    email = StringField(_l("E-mail"), [Optional(), Length(max=254)])


class ReasonForm(FlaskForm):
    reason = StringField(_l("Reason"), [InputRequired(REQUIRED), Length(max=200)])


class ActionForm(FlaskForm):
    """A button that changes state: CSRF only."""


class AuditFilterForm(FlaskForm):
    class Meta:
        csrf = False  # a GET search form changes nothing

    event = StringField(_l("Event"), [Optional(), Length(max=64)])
    actor = StringField(_l("Actor"), [Optional(), Length(max=120)])
    object_type = StringField(_l("Object type"), [Optional(), Length(max=64)])
    object_id = StringField(_l("Object id"), [Optional(), Length(max=64)])


class ClientForm(FlaskForm):
    name = StringField(_l("Agency"), [InputRequired(REQUIRED), Length(max=200)])
    credit_code = StringField(
        _l("Unified social credit code"),
        [InputRequired(REQUIRED), Length(max=30)],
        description=_l("18 characters, as on the agency's business licence."),
    )
    scopes = StringField(
        _l("Scopes"),
        [Optional(), Length(max=500)],
        description=_l("Separated by spaces, e.g. credit.read"),
    )
