"""Forms of the department reviewers' pages, and how a department's facts read on a page.

The forms check presence and shape only; whether a note is needed, or a value is valid for a
fact, is the services' business (``portal.verification.services``, ``fields.parse_fact``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any, ClassVar

from flask_babel import format_date
from flask_wtf import FlaskForm
from wtforms import BooleanField, SelectField, SelectMultipleField, StringField, TextAreaField
from wtforms.validators import InputRequired, Length, Optional

from portal.applications.models import HouseholdMember
from portal.core.errors import PortalError, ValidationFailed
from portal.core.forms import choices
from portal.core.i18n import lazy_gettext as _l
from portal.verification.fields import FACTS, Fact, parse_fact
from portal.verification.models import CheckStatus, DepartmentCheck

REQUIRED = _l("This field is required.")

# What a reviewer can be waiting on: the department's automatic answer.
QUEUE_STATUSES = (
    CheckStatus.MATCH,
    CheckStatus.MISMATCH,
    CheckStatus.NO_DATA,
    CheckStatus.UNAVAILABLE,
)

# Translated titles of the values of ``choice`` facts (fields.MARITAL, fields.ASSISTANCE).
VALUE_LABELS = {
    "single": _l("Single"),
    "married": _l("Married"),
    "divorced": _l("Divorced"),
    "widowed": _l("Widowed"),
    "none": _l("None"),
    "dibao": _l("Minimum living allowance (dibao)"),
    "tekun": _l("Extreme poverty support (tekun)"),
    "low_income": _l("Low-income household"),
}
YES, NO = _l("Yes"), _l("No")
NOT_GIVEN = "—"


def format_fact(fact: Fact, value: Any) -> str:
    """A fact's value as a person reads it, in the page's language."""
    if value is None or value == "":
        return NOT_GIVEN
    if fact.kind == "bool":
        return str(YES if value else NO)
    if fact.kind == "choice":
        return str(VALUE_LABELS.get(value, value))
    if fact.kind == "date":
        try:
            return format_date(date.fromisoformat(str(value)), "medium")
        except ValueError:
            return str(value)
    if fact.kind == "decimal":
        return f"{float(value):.2f}".rstrip("0").rstrip(".")
    return str(value)


@dataclass(frozen=True)
class MemberFacts:
    """One household member and what one department reported about them."""

    member: HouseholdMember
    found: bool
    rows: list[tuple[str, str]]  # (label, value as read)


def facts_by_member(check: DepartmentCheck) -> list[MemberFacts]:
    """The check's facts per member, labelled (``FACTS``) and formatted; no ID numbers."""
    facts = check.facts
    out = []
    for m in check.application.members:
        mine = facts.get(m.id_index)
        rows = [
            (str(f.label), format_fact(f, (mine or {}).get(f.name)))
            for f in FACTS[check.department]
        ]
        out.append(MemberFacts(m, mine is not None, rows))
    return out


# --- queue -------------------------------------------------------------------------------


class CheckFilterForm(FlaskForm):
    class Meta:
        csrf = False  # a GET filter changes nothing

    status = SelectField(
        _l("Department's answer"),
        choices=[*choices([("", _l("All"))]), *choices(QUEUE_STATUSES)],
        validators=[Optional()],
    )
    overdue = BooleanField(_l("Overdue only"))


class ConfirmMatchingForm(FlaskForm):
    """The consistent answers shown on the queue page, confirmed together."""

    checks = SelectMultipleField(coerce=int, validate_choice=False)


# --- one check ---------------------------------------------------------------------------


class ActionForm(FlaskForm):
    """A button that changes state: CSRF only."""


class ConfirmForm(FlaskForm):
    note = TextAreaField(
        _l("Note"),
        [Optional(), Length(max=1000)],
        id="confirm-note",
        description=_l(
            "Needed when the data differ from the application or the department has no record."
        ),
    )


class DocumentForm(FlaskForm):
    document = StringField(
        _l("Document needed"),
        [InputRequired(REQUIRED), Length(max=200)],
        id="document-document",
        description=_l("One specific document, e.g. the household register booklet."),
    )
    reason = TextAreaField(
        _l("Why it is needed"),
        [InputRequired(REQUIRED), Length(max=1000)],
        id="document-reason",
        description=_l("The resident reads this."),
    )


class OverrideForm(FlaskForm):
    """The reviewer's correction: a reason, plus one field per member and fact, added by
    :func:`override_form` for the department of the check."""

    reason = TextAreaField(
        _l("Reason for the correction"),
        [InputRequired(REQUIRED), Length(max=1000)],
        id="override-reason",
        description=_l("E.g. the document or system the corrected facts come from."),
    )

    # filled in by override_form(): [(member, [(fact, field name), ...]), ...]
    layout: ClassVar[list[tuple[HouseholdMember, list[tuple[Fact, str]]]]] = []

    def member_fields(self):
        """For the template: each member with their bound fields."""
        return [(m, [self[name] for _fact, name in names]) for m, names in self.layout]

    def raw_facts(self) -> dict[str, dict[str, str]]:
        """``{person index: {fact name: text}}`` as ``verification.override`` takes it."""
        return {
            m.id_index: {fact.name: self[name].data or "" for fact, name in names}
            for m, names in self.layout
        }

    def put_fact_error(self, exc: PortalError) -> bool:
        """Put a fact's parse error on the input(s) that hold the bad value; False when the
        error is not about a fact of this form."""
        if not isinstance(exc, ValidationFailed):
            return False
        placed = False
        for _m, names in self.layout:
            for fact, name in names:
                if fact.name != exc.field:
                    continue
                try:
                    parse_fact(fact, self[name].data)
                except ValidationFailed as bad:
                    self[name].errors = [*self[name].errors, str(bad)]
                    placed = True
        return placed


def _as_text(fact: Fact, value: Any) -> str:
    if value is None:
        return ""
    if fact.kind == "bool":
        return "yes" if value else "no"
    return str(value)


def _fact_field(fact: Fact, field_id: str, default: str):
    if fact.kind == "bool":
        return SelectField(
            fact.label,
            choices=choices([("", NOT_GIVEN), ("yes", YES), ("no", NO)]),
            default=default,
            id=field_id,
        )
    if fact.kind == "choice":
        return SelectField(
            fact.label,
            choices=choices(
                [("", NOT_GIVEN), *((c, VALUE_LABELS.get(c, c)) for c in fact.choices)]
            ),
            default=default,
            id=field_id,
        )
    render_kw = {
        "date": {"type": "date"},
        "int": {"inputmode": "numeric"},
        "decimal": {"inputmode": "decimal"},
    }.get(fact.kind, {})
    return StringField(
        fact.label, [Length(max=200)], default=default, id=field_id, render_kw=render_kw
    )


def override_form(check: DepartmentCheck, **kwargs) -> OverrideForm:
    """The correction form of ``check``, pre-filled with the facts the department gave.

    Inputs are named by the member's position (``fact-<i>-<name>``), never by an identifier.
    """
    members = check.application.members
    facts = check.facts
    attrs: dict[str, Any] = {}
    layout = []
    for i, m in enumerate(members):
        names = []
        current = facts.get(m.id_index) or {}
        for fact in FACTS[check.department]:
            name = f"fact-{i}-{fact.name}"
            attrs[name] = _fact_field(fact, name, _as_text(fact, current.get(fact.name)))
            names.append((fact, name))
        layout.append((m, names))
    attrs["layout"] = layout
    form_class = type("CheckOverrideForm", (OverrideForm,), attrs)
    return form_class(**kwargs)
