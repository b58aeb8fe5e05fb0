"""What the resident reads about their application: one sentence per timeline event, and what
is awaited now, from whom and by when. Sentences are formatted when shown, in the reader's
language; the events keep only a kind and its parameters."""

from __future__ import annotations

from datetime import date
from typing import Any

from flask_babel import format_date
from flask_babel import gettext as _

from portal.applications.models import Application, ApplicationEvent, Programme, Status
from portal.core.clock import today
from portal.core.i18n import lazy_gettext as _l

# kind -> sentence; the parameters are those ``services.event`` stored for the kind.
EVENT_TEXTS = {
    "created": _l("You started an application for %(programme)s."),
    "submitted": _l("You signed the pledge and submitted the application (%(reference)s)."),
    "supplement_requested": _l("A document was requested: %(document)s, by %(deadline)s."),
    "supplement_answered": _l("You sent the requested document: %(document)s."),
    "checks_settled": _l(
        "All departments have answered. The application went to a housing officer."
    ),
    "approved": _l("A housing officer approved the application."),
    "rejected": _l("The application was not approved: %(reason)s"),
    "second_review": _l("You asked for a second review of the decision."),
    "withdrawn": _l("You withdrew the application."),
    "revoked": _l("The qualification was revoked: %(reason)s"),
    "notice_published": _l("Your household was published for public notice until %(ends_on)s."),
    "objection_upheld": _l(
        "An objection during the public notice was upheld, so a housing officer looks at the "
        "application again: %(resolution)s"
    ),
    "qualified": _l("The public notice ended without objection: your household is qualified."),
    "supplement_expired": _l(
        "The time to send %(document)s passed; a housing officer decides with what there is."
    ),
}
# The same events as staff read them in the file (including internal ones).
STAFF_EVENT_TEXTS = {
    "created": _l("Application started"),
    "submitted": _l("Submitted, reference %(reference)s"),
    "withdrawn": _l("Withdrawn by the applicant"),
    "checks_settled": _l("Every department check settled; the rules were evaluated"),
    "supplement_requested": _l("Document requested: %(document)s, by %(deadline)s"),
    "supplement_answered": _l("Document received: %(document)s"),
    "supplement_expired": _l("Document not received in time: %(document)s"),
    "approved": _l("Approved"),
    "rejected": _l("Rejected: %(reason)s"),
    "second_review": _l("Second review requested: %(reason)s"),
    "spot_check_drawn": _l("Drawn for a spot check"),
    "revoked": _l("Qualification revoked: %(reason)s"),
    "notice_published": _l("Published for public notice until %(ends_on)s"),
    "objection_filed": _l("Objection filed during the public notice"),
    "objection_upheld": _l("Objection upheld: %(resolution)s"),
    "qualified": _l("Qualified after the public notice"),
}
UNKNOWN_EVENT = _l("The application was updated.")

DATE_PARAMS = frozenset({"deadline", "ends_on", "until", "date", "decide_by"})


class _Params(dict):
    """Parameters for ``%`` formatting; a missing one shows as a dash, never an error."""

    def __missing__(self, key: str) -> str:
        return "—"


def _shown(key: str, value: Any) -> str:
    if key == "programme":
        try:
            return str(Programme(value).label)
        except ValueError:
            return str(value)
    if key in DATE_PARAMS and value:
        try:
            return format_date(date.fromisoformat(str(value)[:10]))
        except ValueError:
            return str(value)
    return str(value)


def event_sentence(ev: ApplicationEvent, *, staff: bool = False) -> str:
    """The event as one sentence in the current language, as the resident or staff read it."""
    text = (STAFF_EVENT_TEXTS if staff else EVENT_TEXTS).get(ev.kind, UNKNOWN_EVENT)
    params = _Params({k: _shown(k, v) for k, v in ev.params.items()})
    return str(text) % params


def _d(value: date | None) -> str:
    return format_date(value) if value else "—"


def awaited(
    app: Application, *, supplement_deadline: date | None = None, notice_ends_on: date | None = None
) -> str:
    """What happens next: who is to act, and by when."""
    s = app.status
    if s is Status.DRAFT:
        return _("You complete the application and sign it; nothing has been sent yet.")
    if s is Status.CHECKING:
        return _(
            "The departments are checking your data (answer due by %(date)s).",
            date=_d(app.decide_by),
        )
    if s is Status.SUPPLEMENT:
        return _(
            "We need a document from you by %(date)s. Upload it below.",
            date=_d(supplement_deadline),
        )
    if s is Status.REVIEW:
        return _("A housing officer decides by %(date)s.", date=_d(app.decide_by))
    if s is Status.SECOND_REVIEW:
        return _("A housing officer is looking at the decision again.")
    if s is Status.APPROVED:
        return _("Approved. Waiting for the public notice; you need do nothing.")
    if s is Status.NOTICE:
        return _("In public notice until %(date)s.", date=_d(notice_ends_on))
    if s is Status.QUALIFIED:
        return _(
            "Your household is qualified since %(date)s and on the waiting list.",
            date=_d(app.qualified_at.date() if app.qualified_at else None),
        )
    if s is Status.REJECTED:
        return _("Not approved: %(reason)s", reason=app.decision_reason or "—")
    if s is Status.WITHDRAWN:
        return _("You withdrew this application. Nothing more happens with it.")
    return _("The qualification was revoked: %(reason)s", reason=app.decision_reason or "—")


NEXT_STEPS = {
    Status.DRAFT: _l("Complete and sign it"),
    Status.CHECKING: _l("Departments check your data"),
    Status.SUPPLEMENT: _l("Upload the requested document"),
    Status.REVIEW: _l("An officer decides"),
    Status.SECOND_REVIEW: _l("An officer looks again"),
    Status.APPROVED: _l("Public notice follows"),
    Status.NOTICE: _l("Public notice runs"),
    Status.QUALIFIED: _l("On the waiting list"),
    Status.REJECTED: _l("You may ask for a second review"),
    Status.WITHDRAWN: _l("No further step"),
    Status.REVOKED: _l("No further step"),
}


def next_step(app: Application) -> str:
    """A few words for the list of applications."""
    if app.status is Status.REJECTED and (
        app.second_review_by is None or today() > app.second_review_by
    ):
        return str(NEXT_STEPS[Status.WITHDRAWN])
    return str(NEXT_STEPS[app.status])
