"""Helpers between domain errors and WTForms forms."""

from flask import flash
from flask_wtf import FlaskForm

from portal.core.errors import PortalError


def show_error(form: FlaskForm, exc: PortalError) -> None:
    """Put a domain error on the field it names, or flash it for the whole form."""
    field = getattr(form, exc.field, None) if exc.field else None
    if field is not None:
        problems = exc.details.get("problems") or [exc.message]
        field.errors = [*field.errors, *[str(p) for p in problems]]
    else:
        flash(str(exc), "error")
