"""Forms of the notice pages. They check presence and shape only; the rules (how long a
reason must be, who may object, when) live in the services, shared with the API."""

from flask_wtf import FlaskForm
from wtforms import HiddenField, RadioField, TextAreaField
from wtforms.validators import InputRequired, Length, ValidationError

from portal.accounts.forms import REQUIRED
from portal.applications.models import Programme
from portal.core.forms import choices
from portal.core.i18n import lazy_gettext as _l
from portal.notices.services import REASON_MAX, RESOLUTION_MAX


class ObjectionForm(FlaskForm):
    reason = TextAreaField(
        _l("Your objection"),
        [InputRequired(REQUIRED), Length(max=REASON_MAX)],
        description=_l(
            "Say what is wrong about this household and how you know it. The household is "
            "not told who objected."
        ),
    )


class PublishForm(FlaskForm):
    district = HiddenField(validators=[InputRequired(REQUIRED), Length(max=12)])
    programme = HiddenField(validators=[InputRequired(REQUIRED)])

    def validate_programme(self, field) -> None:
        if field.data not in {p.value for p in Programme}:
            raise ValidationError(_l("Choose a programme."))


class ResolveForm(FlaskForm):
    outcome = RadioField(
        _l("Outcome"),
        [InputRequired(REQUIRED)],
        choices=choices(
            [
                ("dismissed", _l("Dismiss: the household stays in the notice")),
                ("upheld", _l("Uphold: take the household off the notice and decide again")),
            ]
        ),
    )
    resolution = TextAreaField(
        _l("Answer to the objector"),
        [InputRequired(REQUIRED), Length(max=RESOLUTION_MAX)],
        description=_l("What was checked and found. The objector receives this text."),
    )


class ActionForm(FlaskForm):
    """A button that changes state: CSRF only."""
