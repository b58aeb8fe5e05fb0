"""Forms of the credit pages. They check presence and shape only; the rules (lengths, dates,
identifiers, who may act and when) live in ``portal.credit.services``, shared with the API.
Files are read from ``request.files`` and checked by the services like every upload."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateField,
    IntegerField,
    RadioField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import InputRequired, Length, Optional

from portal.accounts.forms import REQUIRED
from portal.core.forms import choices
from portal.core.i18n import lazy_gettext as _l
from portal.credit import services
from portal.credit.models import Grade, RecordStatus, SubjectKind

ALL = choices([("", _l("All"))])


class FlagForm(FlaskForm):
    subject_kind = RadioField(
        _l("The subject is"),
        [InputRequired(REQUIRED)],
        choices=choices(SubjectKind),
        default=SubjectKind.PERSON.value,
    )
    id_number = StringField(
        _l("ID number (persons)"),
        [Optional(), Length(max=24)],
        description=_l("18 characters; the last may be X."),
    )
    credit_code = StringField(
        _l("Unified social credit code (organisations)"),
        [Optional(), Length(max=24)],
        description=_l("18 characters, as on the business licence."),
    )
    name = StringField(
        _l("Name of the person or organisation"), [InputRequired(REQUIRED), Length(max=120)]
    )
    code = SelectField(_l("Violation"), [InputRequired(REQUIRED)], choices=[])
    months = IntegerField(
        _l("Months (arrears or vacancy)"),
        [Optional()],
        description=_l(
            "For rent arrears (5 points a month, serious from 12) and a home left vacant "
            "(from 6 months; serious from 12)."
        ),
    )
    occurred_on = DateField(_l("Date of the violation"), [InputRequired(REQUIRED)])
    facts = TextAreaField(
        _l("Facts"),
        [InputRequired(REQUIRED), Length(max=services.FACTS_MAX)],
        description=_l(
            "What happened, when, and how it was found. The subject reads this text; a second "
            "manager confirms it."
        ),
    )


class ConfirmForm(FlaskForm):
    note = TextAreaField(_l("Note (optional)"), [Optional(), Length(max=services.NOTE_MAX)])


class RejectForm(FlaskForm):
    note = TextAreaField(
        _l("Why the violation is not confirmed"),
        [InputRequired(REQUIRED), Length(max=services.NOTE_MAX)],
    )


class AppealForm(FlaskForm):
    """An objection or a request for credit repair (the subject's side)."""

    reason = TextAreaField(
        _l("Your reasons"),
        [InputRequired(REQUIRED), Length(max=services.REASON_MAX)],
        description=_l(
            "Say what is wrong, or what you have put right, and how you can show it. You may "
            "attach documents (PDF, JPG or PNG, at most 10 MB each)."
        ),
    )


class DecideForm(FlaskForm):
    outcome = RadioField(
        _l("Decision"),
        [InputRequired(REQUIRED)],
        choices=choices([("granted", _l("Grant")), ("refused", _l("Refuse"))]),
    )
    reason = TextAreaField(
        _l("Reason given to the subject"),
        [InputRequired(REQUIRED), Length(max=services.REASON_MAX)],
    )


class RecordFilterForm(FlaskForm):
    """The records list's filters (GET)."""

    class Meta:
        csrf = False  # a GET filter changes nothing

    q = StringField(_l("Reference, name, ID number or credit code"), [Optional(), Length(max=60)])
    status = SelectField(
        _l("Status"), choices=[*ALL, *choices(RecordStatus)], validators=[Optional()]
    )
    grade = SelectField(_l("Grade"), choices=[*ALL, *choices(Grade)], validators=[Optional()])


class VersionForm(FlaskForm):
    """A new version of a catalogue entry (a new code when ``code`` is shown)."""

    code = StringField(_l("Code"), [Optional(), Length(max=services.CODE_MAX)])
    name_zh = StringField(_l("Name (Chinese)"), [InputRequired(REQUIRED), Length(max=120)])
    name_en = StringField(_l("Name (English)"), [InputRequired(REQUIRED), Length(max=200)])
    grade = SelectField(_l("Grade"), [InputRequired(REQUIRED)], choices=choices(Grade))
    points = IntegerField(_l("Points deducted"), [InputRequired(REQUIRED)])
    publish_months = IntegerField(_l("Published for (months)"), [InputRequired(REQUIRED)])
    ban_months = IntegerField(
        _l("Ban from housing benefits (months, 0: none)"), [InputRequired(REQUIRED)]
    )
    repair_after_months = IntegerField(
        _l("Credit repair may be asked after (months)"), [InputRequired(REQUIRED)]
    )
    suspends_queue = BooleanField(_l("Suspends the household's place on the waiting list"))
    opens_exit = BooleanField(_l("Opens an exit case for a tenant"))
    measures_zh = TextAreaField(
        _l("Measures (Chinese)"), [InputRequired(REQUIRED), Length(max=services.MEASURES_MAX)]
    )
    measures_en = TextAreaField(
        _l("Measures (English)"), [InputRequired(REQUIRED), Length(max=services.MEASURES_MAX)]
    )
    legal_basis = StringField(
        _l("Legal basis"), [InputRequired(REQUIRED), Length(max=services.LEGAL_BASIS_MAX)]
    )
    effective_from = DateField(_l("In force from"), [InputRequired(REQUIRED)])


class RetireForm(FlaskForm):
    effective_from = DateField(_l("Retired from"), [InputRequired(REQUIRED)])


class ActionForm(FlaskForm):
    """A button that changes state: CSRF only."""
