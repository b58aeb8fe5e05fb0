"""Helpers between domain errors and WTForms forms."""

from flask import flash
from flask_wtf import FlaskForm
from wtforms import SelectChoice, SelectMultipleField
from wtforms.widgets import CheckboxInput, ListWidget

from portal.core.errors import PortalError
from portal.core.web import discard_failed_work


def show_error(form: FlaskForm, exc: PortalError) -> None:
    """Discard the failed action's writes, then put the error on the field it names, or
    flash it for the whole form."""
    discard_failed_work(exc)
    field = getattr(form, exc.field, None) if exc.field else None
    if field is not None:
        problems = exc.details.get("problems") or [exc.message]
        field.errors = [*field.errors, *[str(p) for p in problems]]
    else:
        flash(str(exc), "error")


def choices(pairs) -> list[SelectChoice]:
    """Select options from ``(value, label)`` pairs or from a TitledEnum's members."""
    return [
        SelectChoice(p.value, p.label) if hasattr(p, "label") else SelectChoice(p[0], p[1])
        for p in pairs
    ]


class MultiCheckboxField(SelectMultipleField):
    """A list of checkboxes, one per choice."""

    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()
