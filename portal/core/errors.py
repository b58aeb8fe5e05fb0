"""Domain exceptions. They carry a translated message and become flash messages, HTTP status
codes or problem+json documents only at the edges (``portal.core.web``, ``portal.api``)."""

from __future__ import annotations

from portal.core.i18n import lazy_gettext as _l


class PortalError(Exception):
    """Base of every error a person may be shown.

    When one reaches the edge, whatever the failed action wrote is rolled back, unless the
    error is raised with ``persist=True``: then what was recorded on purpose before raising
    (a failed sign-in's count and audit event) is committed with the answer.
    """

    status = 400
    code = "bad_request"
    default_message = _l("The request could not be processed.")
    persist = False

    def __init__(
        self, message=None, *, field: str | None = None, persist: bool | None = None, **details
    ) -> None:
        self.message = message if message is not None else self.default_message
        self.field = field
        self.details = details
        if persist is not None:
            self.persist = persist
        super().__init__(str(self.code))

    def __str__(self) -> str:
        return str(self.message)


class NotFound(PortalError):
    status = 404
    code = "not_found"
    default_message = _l("This page or record does not exist, or you may not see it.")


class Forbidden(PortalError):
    status = 403
    code = "forbidden"
    default_message = _l("You do not have permission to do this.")


class AuthenticationFailed(PortalError):
    status = 401
    code = "authentication_failed"
    persist = True  # the failure was counted and audited
    default_message = _l("The ID number, mobile number or password is not correct.")


class TooManyAttempts(PortalError):
    status = 429
    code = "too_many_attempts"
    persist = True
    default_message = _l("Too many attempts. Please wait and try again.")

    def __init__(self, retry_after: int, message=None) -> None:
        super().__init__(message, persist=True)
        self.retry_after = max(1, int(retry_after))


class Conflict(PortalError):
    status = 409
    code = "conflict"
    default_message = _l("This conflicts with the current state of the record.")


class InvalidTransition(Conflict):
    code = "invalid_transition"
    default_message = _l("This step is not possible in the record's current state.")


class DuplicateAccount(Conflict):
    code = "duplicate_account"
    default_message = _l("An account already exists for this ID number or mobile number.")


class SameActor(Conflict):
    """Four eyes (SECURITY.md B4): the second step must be taken by another person."""

    code = "same_actor"
    default_message = _l("The same person may not take both steps; another person must.")


class ValidationFailed(PortalError):
    status = 422
    code = "validation_failed"
    default_message = _l("Some of the information given is not valid.")


class DuplicateApplication(Conflict):
    """RULES.md: one person, at most one active application or tenancy."""

    code = "duplicate_application"
    default_message = _l("This person is already in another active application or tenancy.")


class NotEligible(PortalError):
    status = 422
    code = "not_eligible"
    default_message = _l("The household does not meet the conditions for this programme.")


class UnitTaken(Conflict):
    """SECURITY.md F1: a unit is let to one household at a time."""

    code = "unit_taken"
    default_message = _l("This unit has just been taken by another household. Choose another.")
