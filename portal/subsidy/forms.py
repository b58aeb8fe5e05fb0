"""Forms of the subsidy pages. They check presence and shape only; the rules (amounts,
months, who may act and when) live in ``portal.subsidy.services``, shared with the API."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateField,
    HiddenField,
    IntegerField,
    MonthField,
    RadioField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import InputRequired, Length, Optional

from portal.accounts.forms import REQUIRED
from portal.core.forms import choices
from portal.core.i18n import lazy_gettext as _l
from portal.subsidy import services
from portal.subsidy.models import AwardBasis, AwardStatus, Channel

ALL = choices([("", _l("All"))])
TIERS = choices(
    [
        ("", _l("All")),
        ("assistance", _l("Assistance (低保, 特困)")),
        ("tier1", _l("Tier 1")),
        ("tier2", _l("Tier 2")),
        ("above", _l("Above tier 2")),
        ("table", _l("Fixed table")),
    ]
)
TIER_TITLES = {value: label for value, label in ((c.value, c.label) for c in TIERS) if value}


class ComputeForm(FlaskForm):
    month = HiddenField(validators=[InputRequired(REQUIRED)])


class ActionForm(FlaskForm):
    """A button that changes state: CSRF only."""


class ExportForm(FlaskForm):
    format = RadioField(
        _l("Format"),
        [InputRequired(REQUIRED)],
        choices=choices([("csv", _l("CSV")), ("xlsx", _l("Excel (XLSX)"))]),
        default="csv",
    )


class LineFilterForm(FlaskForm):
    """The run's lines filters (GET)."""

    class Meta:
        csrf = False

    district = SelectField(_l("District"), choices=[], validators=[Optional()])
    tier = SelectField(_l("Tier"), choices=TIERS, validators=[Optional()])
    channel = SelectField(_l("Paid"), choices=[*ALL, *choices(Channel)], validators=[Optional()])


class AwardFilterForm(FlaskForm):
    """The awards list's filters (GET)."""

    class Meta:
        csrf = False

    q = StringField(_l("Award or application reference"), [Optional(), Length(max=40)])
    status = SelectField(
        _l("Status"), choices=[*ALL, *choices(AwardStatus)], validators=[Optional()]
    )
    basis = SelectField(
        _l("Paid as"), choices=[*ALL, *choices(AwardBasis)], validators=[Optional()]
    )
    district = SelectField(_l("District"), choices=[], validators=[Optional()])


class DetailsForm(FlaskForm):
    actual_rent = StringField(
        _l("Rent you pay each month (yuan)"),
        [InputRequired(REQUIRED), Length(max=12)],
        description=_l("As in your rental contract. The subsidy is never more than this rent."),
    )
    payee_name = StringField(
        _l("Account holder"),
        [InputRequired(REQUIRED), Length(max=64)],
        description=_l("A member of the household, named as on the application."),
    )
    bank_name = StringField(
        _l("Bank and branch"),
        [InputRequired(REQUIRED), Length(max=80)],
        description=_l("For example 中国工商银行桂林分行."),
    )
    bank_account = StringField(
        _l("Account number"),
        [InputRequired(REQUIRED), Length(max=40)],
        description=_l("The digits on the bank card; spaces are ignored."),
    )


class ChangeForm(FlaskForm):
    """A change of the household's facts (or a correction), from the month after it
    happened."""

    household_size = IntegerField(_l("Household size (persons)"), [InputRequired(REQUIRED)])
    per_capita_income = StringField(
        _l("Income per person a month (yuan)"), [InputRequired(REQUIRED), Length(max=12)]
    )
    assistance = BooleanField(_l("Minimum living or extreme poverty assistance (低保, 特困)"))
    own_area = StringField(_l("Housing area owned (m²)"), [InputRequired(REQUIRED), Length(max=12)])
    occurred_on = DateField(
        _l("The change happened on"),
        [InputRequired(REQUIRED)],
        description=_l(
            "It counts from the next month. A date in a month already paid makes any "
            "overpayment a recovery."
        ),
    )
    note = TextAreaField(
        _l("What changed and how you know it"),
        [InputRequired(REQUIRED), Length(max=services.NOTE_MAX)],
    )


class VeteranForm(FlaskForm):
    veteran = RadioField(
        _l("Entitled household (优抚对象)"),
        [InputRequired(REQUIRED)],
        choices=choices([("yes", _l("Yes: the veteran coefficient applies")), ("no", _l("No"))]),
    )
    reason = TextAreaField(
        _l("What you saw (the certificate and its number)"),
        [InputRequired(REQUIRED), Length(max=500)],
    )


class EndForm(FlaskForm):
    from_month = MonthField(_l("First month not paid"), [InputRequired(REQUIRED)])
    reason = StringField(
        _l("Reason"), [InputRequired(REQUIRED), Length(max=40)], description=_l("In a few words.")
    )


class RepayForm(FlaskForm):
    amount = StringField(_l("Amount repaid (yuan)"), [InputRequired(REQUIRED), Length(max=12)])
    reason = TextAreaField(
        _l("How it was repaid"), [InputRequired(REQUIRED), Length(max=services.NOTE_MAX)]
    )


class WaiveForm(FlaskForm):
    reason = TextAreaField(
        _l("Why the rest is waived"), [InputRequired(REQUIRED), Length(max=services.NOTE_MAX)]
    )
