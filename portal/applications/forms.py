"""Forms of the resident's application pages. They check presence and shape only; the rules
(valid ID numbers, one spouse, districts that exist, a member in no other case) live in
``portal.applications.services``, so the pages and the API cannot disagree."""

from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    HiddenField,
    IntegerField,
    RadioField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import InputRequired, Length, NumberRange, Optional

from portal.accounts.forms import REQUIRED
from portal.applications.models import Programme, Relationship
from portal.core.forms import MultiCheckboxField, choices
from portal.core.i18n import lazy_gettext as _l

# One plain-language line per programme, shown under its name.
PROGRAMME_HINTS = {
    Programme.PUBLIC_RENTAL: _l(
        "Rent a flat of up to 60 m² from the city at a low rent, for households with low "
        "income and too little housing."
    ),
    Programme.RENTAL_SUBSIDY: _l(
        "Receive money each month towards the rent of a home you find yourself; same "
        "conditions as public rental housing."
    ),
    Programme.AFFORDABLE_RENTAL: _l(
        "Rent a small flat below market rent if you are new to the city or young and own no "
        "home here; there is no income limit."
    ),
}


class StartForm(FlaskForm):
    programme = RadioField(
        _l("Which help do you apply for?"),
        [InputRequired(_l("Choose the help you apply for."))],
        choices=choices(Programme),
    )
    # A fresh token per page view: a double click sends it twice and makes one draft.
    token = HiddenField(validators=[Length(max=80)])


class MemberForm(FlaskForm):
    name = StringField(_l("Name (as on the ID card)"), [InputRequired(REQUIRED), Length(max=64)])
    id_number = StringField(
        _l("ID number"),
        [InputRequired(REQUIRED), Length(max=40)],
        description=_l("18 characters; the last may be X."),
    )
    relationship = SelectField(
        _l("Relationship to you"),
        choices=choices([r for r in Relationship if r is not Relationship.APPLICANT]),
    )


class DetailsForm(FlaskForm):
    contact_phone = StringField(
        _l("Mobile number for this application"), [InputRequired(REQUIRED), Length(max=20)]
    )
    email = StringField(
        _l("E-mail (optional)"),
        [Optional(), Length(max=254)],
        description=_l("We also send each step of your application here."),
    )
    current_address = StringField(
        _l("Where you live now"), [InputRequired(REQUIRED), Length(max=200)]
    )
    district = SelectField(
        _l("District where you apply"),
        [InputRequired(_l("Choose the district where you apply."))],
        choices=[],
        description=_l("Usually the district of your household registration or your work."),
    )
    preferred = MultiCheckboxField(
        _l("Districts where you would like to live"), choices=[], validate_choice=False
    )
    declared_income = IntegerField(
        _l("Household income per month in yuan (optional)"),
        [Optional(), NumberRange(min=0, message=_l("Enter the monthly income in yuan."))],
        description=_l(
            "The departments' data decide; what you give here helps the officer see at a glance "
            "whether they agree."
        ),
    )


class SignForm(FlaskForm):
    accept_pledge = BooleanField(
        _l("I sign the pledge above."), [InputRequired(_l("Tick the box to sign the pledge."))]
    )
    accept_authorization = BooleanField(
        _l("I give the authorization above."),
        [InputRequired(_l("Tick the box to give the authorization."))],
    )
    accept_privacy = BooleanField(
        _l("I have read and accept the privacy notice."),
        [InputRequired(_l("Tick the box to accept the privacy notice."))],
    )
    shown_hash = HiddenField()  # texts_hash of what the page showed


class UploadForm(FlaskForm):
    """The file is read from ``request.files`` and checked by ``save_upload``."""


class WithdrawForm(FlaskForm):
    understand = BooleanField(
        _l(
            "I understand that a withdrawn application ends, and that I must apply again "
            "to be considered."
        ),
        [InputRequired(_l("Tick the box to confirm that you want to withdraw."))],
    )


class SecondReviewForm(FlaskForm):
    reason = TextAreaField(
        _l("Why should the decision be looked at again?"),
        [InputRequired(REQUIRED), Length(max=4000)],
        description=_l("Say what you think is wrong, and what the officer should look at."),
    )


class ActionForm(FlaskForm):
    """A button that changes state: CSRF only."""
