"""Forms of the public information pages: the self-check (GET, nothing stored), the
listings' filters (GET) and the managers' office form. They check presence and shape with
the limits of ``portal.public.selfcheck`` and ``portal.public.services``; the rules are
there, shared with the API."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from flask_wtf import FlaskForm
from wtforms import DecimalField, IntegerField, RadioField, SelectField, StringField
from wtforms.validators import InputRequired, Length, NumberRange, Optional, StopValidation

from portal.accounts.forms import REQUIRED
from portal.applications.models import Programme
from portal.core.forms import choices
from portal.core.i18n import lazy_gettext as _l
from portal.housing.services import HOUSING_PROGRAMMES
from portal.public import selfcheck
from portal.public.selfcheck import QUESTIONS
from portal.public.services import MAX_SORT_ORDER, OFFICE_TEXTS

NOT_SURE = ""


def _range(low, high) -> NumberRange:
    return NumberRange(
        min=low,
        max=high,
        message=_l("Enter a number from %(low)s to %(high)s.", low=low, high=high),
    )


CHOOSE = _l("Choose one of the options.")


class _StopWhenUnreadable:
    """A number field whose text could not be read says so once: its range is not checked."""

    def pre_validate(self, form):
        if self.process_errors:
            raise StopValidation()


class WholeNumberField(_StopWhenUnreadable, IntegerField):
    """A whole number, with the portal's own message (in the reader's language) when it is
    not one."""

    def process_formdata(self, valuelist):
        if not valuelist or not valuelist[0].strip():
            self.data = None
            return
        try:
            super().process_formdata([valuelist[0].strip()])
        except ValueError as exc:
            raise ValueError(str(_l("Enter a whole number, for example 3."))) from exc


class AmountField(_StopWhenUnreadable, DecimalField):
    """A non-negative amount with at most two decimal places (yuan, m²), shown as typed."""

    def _value(self):
        if self.raw_data:
            return self.raw_data[0]
        return "" if self.data is None else str(self.data)

    def process_formdata(self, valuelist):
        if not valuelist or not valuelist[0].strip():
            self.data = None
            return
        raw = valuelist[0].strip().replace(",", "").replace("，", "")
        try:
            value = Decimal(raw)
        except (InvalidOperation, ValueError) as exc:
            self.data = None
            raise ValueError(str(_l("Enter a number, for example 1500 or 45.5."))) from exc
        if not value.is_finite():
            self.data = None
            raise ValueError(str(_l("Enter a number, for example 1500 or 45.5.")))
        if value.as_tuple().exponent < -2:
            self.data = None
            raise ValueError(str(_l("Use at most two decimal places.")))
        self.data = value


class SelfCheckForm(FlaskForm):
    """The household's answers (GET: nothing is sent to anyone)."""

    class Meta:
        csrf = False  # a GET that changes nothing

    programme = RadioField(
        QUESTIONS["programme"],
        [InputRequired(REQUIRED)],
        choices=choices(Programme),
        default=Programme.PUBLIC_RENTAL.value,
        invalid_choice_message=CHOOSE,
    )
    household_size = WholeNumberField(
        QUESTIONS["household_size"],
        [InputRequired(REQUIRED), _range(1, selfcheck.MAX_HOUSEHOLD)],
        description=_l("You, your spouse, and the children and others who live with you."),
    )
    monthly_income = AmountField(
        QUESTIONS["monthly_income"],
        [Optional(), _range(0, selfcheck.MAX_INCOME)],
        description=_l(
            "Wages of every member, as their social insurance or housing fund records them. "
            "Leave it empty if you are not sure."
        ),
    )
    assistance = SelectField(
        QUESTIONS["assistance"],
        [Optional()],
        choices=choices(
            [
                (selfcheck.NO_ASSISTANCE, _l("No")),
                ("dibao", _l("Yes: minimum living allowance (低保)")),
                ("tekun", _l("Yes: extreme poverty support (特困)")),
                ("low_income", _l("Yes: low-income household (低收入)")),
                (NOT_SURE, _l("Not sure")),
            ]
        ),
        default=selfcheck.NO_ASSISTANCE,
        invalid_choice_message=CHOOSE,
    )
    owned_area = AmountField(
        QUESTIONS["owned_area"],
        [Optional(), _range(0, selfcheck.MAX_AREA)],
        description=_l("Enter 0 if nobody in the household owns a home here."),
    )
    hukou = RadioField(
        QUESTIONS["hukou"],
        [Optional()],
        choices=choices([("yes", _l("Yes")), ("no", _l("No")), (NOT_SURE, _l("Not sure"))]),
        default=NOT_SURE,
        invalid_choice_message=CHOOSE,
    )
    hukou_years = WholeNumberField(
        QUESTIONS["hukou_years"],
        [Optional(), _range(0, selfcheck.MAX_YEARS)],
        description=_l("Only if your registration is local. Leave it empty if you are not sure."),
    )
    social_insurance_months = WholeNumberField(
        QUESTIONS["social_insurance_months"],
        [Optional(), _range(0, selfcheck.MAX_MONTHS)],
        description=_l(
            "Paid here without a break, up to now: 12 months is one year. Enter 0 if none."
        ),
    )

    def answers(self) -> selfcheck.Answers:
        """The validated form as answers."""
        hukou = {"yes": True, "no": False}.get(self.hukou.data or NOT_SURE)
        assistance = self.assistance.data or None
        return selfcheck.Answers(
            programme=Programme(self.programme.data),
            household_size=self.household_size.data,
            monthly_income=self.monthly_income.data,
            owned_area=self.owned_area.data,
            hukou=hukou,
            hukou_years=self.hukou_years.data,
            social_insurance_months=self.social_insurance_months.data,
            assistance=assistance,
        )


ALL = (NOT_SURE, _l("All"))


class ListingFilterForm(FlaskForm):
    """Which estates to list (GET). The choices are checked by the listing service, shared
    with the API."""

    class Meta:
        csrf = False

    district = SelectField(_l("District"), [Optional()], choices=[], validate_choice=False)
    programme = SelectField(
        _l("Programme"),
        [Optional()],
        choices=choices([ALL, *[(p.value, p.label) for p in HOUSING_PROGRAMMES]]),
        validate_choice=False,
    )


class OfficeForm(FlaskForm):
    district_id = SelectField(
        _l("District"),
        choices=[],
        description=_l("None: the city's own service centre."),
        validate_choice=False,
    )
    name_zh = StringField(
        _l("Name in Chinese"), [InputRequired(REQUIRED), Length(max=OFFICE_TEXTS["name_zh"])]
    )
    name_en = StringField(
        _l("Name in English"), [InputRequired(REQUIRED), Length(max=OFFICE_TEXTS["name_en"])]
    )
    address = StringField(
        _l("Street address"), [InputRequired(REQUIRED), Length(max=OFFICE_TEXTS["address"])]
    )
    phone = StringField(
        _l("Phone"),
        [InputRequired(REQUIRED), Length(max=OFFICE_TEXTS["phone"])],
        description=_l("For example 0773-2801234, or a service line such as 12345."),
    )
    hours_zh = StringField(
        _l("Opening hours in Chinese"),
        [InputRequired(REQUIRED), Length(max=OFFICE_TEXTS["hours_zh"])],
        description=_l("For example 周一至周五 9:00-12:00, 14:30-17:30"),
    )
    hours_en = StringField(
        _l("Opening hours in English"),
        [InputRequired(REQUIRED), Length(max=OFFICE_TEXTS["hours_en"])],
        description=_l("For example Monday to Friday 9:00-12:00, 14:30-17:30"),
    )
    sort_order = WholeNumberField(
        _l("Order in the list"),
        [InputRequired(REQUIRED), _range(0, MAX_SORT_ORDER)],
        default=0,
        description=_l("Offices of one district are listed by this number, smallest first."),
    )

    def set_districts(self, districts, locale: str) -> None:
        self.district_id.choices = choices(
            [
                ("", _l("None: the city's service centre")),
                *[(str(d.id), d.name(locale)) for d in districts],
            ]
        )
