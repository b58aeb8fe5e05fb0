"""Account forms. Field rules that are business rules live in the services; the forms only
check presence and shape, so the pages and the API cannot disagree."""

from flask_wtf import FlaskForm
from wtforms import BooleanField, PasswordField, RadioField, StringField
from wtforms.validators import EqualTo, InputRequired, Length

from portal.core.forms import choices
from portal.core.i18n import LANGUAGE_NAMES
from portal.core.i18n import lazy_gettext as _l

REQUIRED = _l("This field is required.")


class RegisterForm(FlaskForm):
    real_name = StringField(
        _l("Name (as on your ID card)"), [InputRequired(REQUIRED), Length(max=64)]
    )
    id_number = StringField(
        _l("ID number"),
        [InputRequired(REQUIRED), Length(max=40)],
        description=_l("18 characters; the last may be X."),
    )
    mobile = StringField(_l("Mobile number"), [InputRequired(REQUIRED), Length(max=20)])
    password = PasswordField(
        _l("Password"),
        [InputRequired(REQUIRED), Length(max=256)],
        description=_l(
            "At least 12 characters. Not a common password, and not your birth date, "
            "ID number or mobile number. A short sentence is easy to remember."
        ),
    )
    confirm = PasswordField(
        _l("Password again"),
        [InputRequired(REQUIRED), EqualTo("password", _l("The two passwords differ."))],
    )
    accept_privacy = BooleanField(
        _l("I have read the privacy notice and agree that my data is used for my housing case."),
        [InputRequired(_l("Please read and accept the privacy notice."))],
    )


class LoginForm(FlaskForm):
    identifier = StringField(
        _l("ID number, mobile number or staff sign-in name"),
        [InputRequired(REQUIRED), Length(max=64)],
    )
    password = PasswordField(_l("Password"), [InputRequired(REQUIRED), Length(max=256)])


class CodeForm(FlaskForm):
    code = StringField(
        _l("6-digit code from your authenticator app"),
        [InputRequired(REQUIRED), Length(max=10)],
    )


class ChangePasswordForm(FlaskForm):
    current = PasswordField(_l("Current password"), [InputRequired(REQUIRED), Length(max=256)])
    password = PasswordField(
        _l("New password"),
        [InputRequired(REQUIRED), Length(max=256)],
        description=RegisterForm.password.kwargs["description"],
    )
    confirm = PasswordField(
        _l("New password again"),
        [InputRequired(REQUIRED), EqualTo("password", _l("The two passwords differ."))],
    )


class PreferencesForm(FlaskForm):
    locale = RadioField(_l("Language"), choices=choices(LANGUAGE_NAMES.items()))
    care_mode = BooleanField(_l("Large text and high contrast (关怀模式)"))
