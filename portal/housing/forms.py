"""Forms of the housing stock pages. They check presence and length only; numbers, ranges and
uniqueness are the services' (``portal.housing.services``), shared with the import."""

from __future__ import annotations

from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import BooleanField, SelectField, StringField
from wtforms.validators import InputRequired, Length, Optional

from portal.core.forms import choices
from portal.core.i18n import lazy_gettext as _l
from portal.housing.models import UnitStatus
from portal.housing.services import HOUSING_PROGRAMMES, MAX_AREA

REQUIRED = _l("This field is required.")
ALL = choices([("", _l("All"))])


class DistrictFilterForm(FlaskForm):
    """The district filter of the estate list and the report (GET). Choices: the user's."""

    class Meta:
        csrf = False  # a GET filter changes nothing

    district = SelectField(_l("District"), choices=[], validators=[Optional()])


class UnitFilterForm(FlaskForm):
    class Meta:
        csrf = False

    status = SelectField(
        _l("Status"),
        choices=[
            *ALL,
            *choices(UnitStatus),
            *choices([("not_relet", _l("Vacant for over a year, not re-let"))]),
        ],
        validators=[Optional()],
    )
    building = SelectField(_l("Building"), choices=[], validators=[Optional()])


class EstateForm(FlaskForm):
    code = StringField(
        _l("Estate code"),
        [InputRequired(REQUIRED), Length(max=32)],
        description=_l("Unique in the city, like GL-XF-001. Letters, digits and hyphens."),
    )
    name = StringField(_l("Estate name"), [InputRequired(REQUIRED), Length(max=120)])
    district = SelectField(_l("District"), choices=[], validators=[InputRequired(REQUIRED)])
    address = StringField(_l("Address"), [InputRequired(REQUIRED), Length(max=200)])
    programme = SelectField(
        _l("Programme"), choices=choices(HOUSING_PROGRAMMES), validators=[InputRequired(REQUIRED)]
    )
    market_rent = StringField(
        _l("Market rent (yuan per m² a month)"),
        [Optional(), Length(max=12)],
        description=_l("Optional: the rent of similar homes on the market nearby."),
    )


class BuildingForm(FlaskForm):
    building = StringField(
        _l("New building"),
        [InputRequired(REQUIRED), Length(max=40)],
        description=_l("Its name or number as on the sign, like 3栋."),
    )


class UnitForm(FlaskForm):
    building = SelectField(_l("Building"), choices=[], validators=[InputRequired(REQUIRED)])
    number = StringField(
        _l("Unit number"),
        [InputRequired(REQUIRED), Length(max=20)],
        description=_l("Unique in its building, like 2-0304."),
    )
    floor = StringField(
        _l("Floor"),
        [InputRequired(REQUIRED), Length(max=6)],
        description=_l("From -3 (basement) to 99."),
    )
    area = StringField(
        _l("Floor area (m²)"),
        [InputRequired(REQUIRED), Length(max=12)],
        description=_l("Up to %(max)s m², two decimal places.", max=MAX_AREA),
    )
    rooms = StringField(
        _l("Rooms"), [InputRequired(REQUIRED), Length(max=3)], description=_l("From 1 to 6.")
    )
    accessible = BooleanField(_l("Accessible (barrier-free)"))
    rent = StringField(_l("Monthly rent (yuan)"), [InputRequired(REQUIRED), Length(max=12)])


class ImportForm(FlaskForm):
    file = FileField(
        _l("Spreadsheet (CSV or XLSX)"),
        description=_l("At most 5 MB and 20,000 units. One row a unit, as in the template."),
    )


class ActionForm(FlaskForm):
    """A button that changes state: CSRF only."""
