"""Forms of the rent and exit pages. They check presence and shape only; amounts, dates and
who may act live in ``portal.tenancy.rent`` and ``portal.tenancy.exits``, shared with the
API. Amounts are text fields so that the services judge them (Decimal, never float)."""

from __future__ import annotations

from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import BooleanField, DateField, SelectField, StringField, TextAreaField
from wtforms.validators import InputRequired, Length, Optional

from portal.accounts.forms import REQUIRED
from portal.core.forms import choices
from portal.core.i18n import lazy_gettext as _l
from portal.tenancy import exits, rent
from portal.tenancy.models import ExitStatus

ALL = choices([("", _l("All"))])


class LeaseFilterForm(FlaskForm):
    """The leases list's filters (GET)."""

    class Meta:
        csrf = False  # a GET filter changes nothing

    q = StringField(_l("Lease reference"), [Optional(), Length(max=24)])
    status = SelectField(
        _l("Lease"),
        choices=choices([("active", _l("In force")), ("ended", _l("Ended")), ("all", _l("All"))]),
        default="active",
        validators=[Optional()],
    )
    arrears = BooleanField(_l("Only leases in arrears"))


class PaymentForm(FlaskForm):
    amount = StringField(
        _l("Amount (yuan)"),
        [InputRequired(REQUIRED), Length(max=20)],
        description=_l("Like 512.50. It pays the oldest unpaid month first; more is credit."),
    )
    paid_on = DateField(_l("Paid on"), [InputRequired(REQUIRED)])
    note = TextAreaField(
        _l("Note (optional)"),
        [Optional(), Length(max=rent.NOTE_MAX)],
        description=_l("The receipt number, or how it was paid."),
    )


class ImportForm(FlaskForm):
    file = FileField(
        _l("The bank's collection file (CSV or XLSX)"),
        description=_l(
            "At most 10 MB. One row a payment: lease reference, amount, date paid and the "
            "bank's transaction id."
        ),
    )
    check_only = BooleanField(_l("Only check the file; import nothing"))


class OpenExitForm(FlaskForm):
    reason = SelectField(
        _l("Reason"), [InputRequired(REQUIRED)], choices=choices(exits.OFFICER_REASONS)
    )
    facts = TextAreaField(
        _l("Facts"),
        [InputRequired(REQUIRED), Length(max=exits.FACTS_MAX)],
        description=_l("What happened, when, and how it was found. The tenant reads this text."),
    )
    move_out_by = DateField(
        _l("Move out by (optional)"),
        [Optional()],
        description=_l("Blank: at the end of the moving period from today."),
    )


class CheckOutForm(FlaskForm):
    on = DateField(_l("Check-out date"), [InputRequired(REQUIRED)])
    condition_note = TextAreaField(
        _l("Condition of the home"),
        [InputRequired(REQUIRED), Length(max=exits.NOTE_MAX)],
        description=_l("What was found at the inspection: rooms, fittings, meters."),
    )
    keys_returned = BooleanField(_l("All keys returned"))
    damages = StringField(
        _l("Damages to charge (yuan)"),
        [Optional(), Length(max=20)],
        description=_l("0 or blank for none. Taken from the deposit after the unpaid rent."),
    )


class SettleForm(FlaskForm):
    note = TextAreaField(
        _l("Note (optional)"),
        [Optional(), Length(max=exits.NOTE_MAX)],
        description=_l("How the refund is paid, or how what is owed will be collected."),
    )


class CancelForm(FlaskForm):
    reason = TextAreaField(
        _l("Why the case is cancelled"),
        [InputRequired(REQUIRED), Length(max=exits.NOTE_MAX)],
        description=_l("The tenant reads this reason."),
    )


class ExitFilterForm(FlaskForm):
    class Meta:
        csrf = False

    status = SelectField(
        _l("Status"),
        choices=[*choices([("", _l("Open")), ("all", _l("All"))]), *choices(ExitStatus)],
        validators=[Optional()],
    )


class NoticeForm(FlaskForm):
    """The household gives notice to leave."""

    leave_on = DateField(
        _l("We will leave the home by"),
        [InputRequired(REQUIRED)],
        description=_l("The housing office checks the home and takes the keys on that day."),
    )
    note = TextAreaField(
        _l("Anything the housing office should know (optional)"),
        [Optional(), Length(max=exits.NOTE_MAX)],
    )
    understood = BooleanField(
        _l(
            "I understand that the lease ends at the check-out and that the deposit, less "
            "any unpaid rent and damages, is then refunded."
        ),
        [InputRequired(REQUIRED)],
    )
