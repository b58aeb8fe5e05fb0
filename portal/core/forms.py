"""Helpers between domain errors and WTForms forms."""

from collections.abc import Callable
from typing import Any

from flask import flash
from flask_babel import gettext as _
from flask_wtf import FlaskForm
from werkzeug.datastructures import FileStorage
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


def run_upload(form: FlaskForm, run: Callable[[FileStorage], Any]) -> tuple[Any, int]:
    """An import page's file: ``run(upload)`` once the form is valid and holds a file, and
    the page's status. The result is None unless ``run`` returned; the status is 200 (not
    submitted, or a result that is ``ok``), 422 (an invalid form, no file, or a result with
    errors) or the status of the error ``run`` raised, which is put on the form."""
    if not form.validate_on_submit():
        return None, 422 if form.is_submitted() else 200
    upload = form.file.data
    if upload is None or not getattr(upload, "filename", ""):
        form.file.errors = [_("Choose a file to upload.")]
        return None, 422
    try:
        result = run(upload)
    except PortalError as exc:
        show_error(form, exc)
        return None, exc.status
    return result, 200 if result.ok else 422


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
