"""Forms of the review pages. They check presence and shape only; the rules (lengths, dates,
who may act and when) live in ``portal.reviews.services`` and ``portal.reviews.renewals``,
shared with the API. A document is read from ``request.files`` and checked like every
upload (``portal.core.uploads``)."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import BooleanField, IntegerField, RadioField, SelectField, TextAreaField
from wtforms.validators import InputRequired, Length, NumberRange, Optional

from portal.accounts.forms import REQUIRED
from portal.core.forms import choices
from portal.core.i18n import lazy_gettext as _l
from portal.reviews.models import ReviewKind, ReviewOutcome, ReviewStatus
from portal.reviews.services import ANSWER_MAX, CHANGE_TITLES, REASON_MAX

ALL = choices([("", _l("All"))])
DOCUMENT_HINT = _l("Optional: a PDF, JPG or PNG file of at most 10 MB (e.g. a certificate).")


class AnswerForm(FlaskForm):
    answer = TextAreaField(
        _l("Your answer"),
        [InputRequired(REQUIRED), Length(max=ANSWER_MAX)],
        description=_l(
            "Tell the housing office what it should know for the review: a change since your "
            "application, or data you think are wrong and how you can show it."
        ),
    )


class ChangeForm(FlaskForm):
    kind = RadioField(
        _l("What changed"),
        [InputRequired(REQUIRED)],
        choices=choices(CHANGE_TITLES.items()),
    )
    text = TextAreaField(
        _l("Describe the change"),
        [InputRequired(REQUIRED), Length(max=ANSWER_MAX)],
        id="change-text",
        description=_l(
            "When it happened and what it is: e.g. a new job and its monthly wage, a child "
            "born, a member who moved out. Your household's data are then checked again."
        ),
    )


class RenewalForm(FlaskForm):
    renew = RadioField(
        _l("Do you want to renew your lease?"),
        [InputRequired(REQUIRED)],
        choices=choices(
            [
                ("yes", _l("Yes, we want to renew: check our data again")),
                ("no", _l("No, we will move out when the lease ends")),
            ]
        ),
    )


class DecideForm(FlaskForm):
    outcome = RadioField(
        _l("Decision"),
        [InputRequired(REQUIRED)],
        choices=choices(ReviewOutcome),
    )
    reason = TextAreaField(
        _l("Reason given to the household"),
        [InputRequired(REQUIRED), Length(max=REASON_MAX)],
        id="decide-reason",
        description=_l(
            "The household receives this text. When your decision differs from the proposal, "
            "say why."
        ),
    )


class QueueFilterForm(FlaskForm):
    """Which reviews to list (GET)."""

    class Meta:
        csrf = False  # a GET filter changes nothing

    kind = SelectField(_l("Kind"), choices=[*ALL, *choices(ReviewKind)], validators=[Optional()])
    status = SelectField(
        _l("State"),
        choices=[
            *choices([("", _l("Open: told or awaiting the decision"))]),
            *choices(ReviewStatus),
        ],
        validators=[Optional()],
    )
    overdue = BooleanField(_l("Only those past their due date"), validators=[Optional()])
    page = IntegerField(_l("Page"), [Optional(), NumberRange(min=1)], default=1)


class ActionForm(FlaskForm):
    """A button that changes state: CSRF only."""
