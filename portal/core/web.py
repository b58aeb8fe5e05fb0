"""The web edge: one commit per request, security headers, and error pages/documents."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from flask import Flask, Response, current_app, jsonify, render_template, request
from flask_babel import gettext as _
from werkzeug.exceptions import HTTPException
from werkzeug.routing import IntegerConverter

from portal.core.errors import PortalError, TooManyAttempts, ValidationFailed
from portal.core.i18n import lazy_gettext as _l
from portal.extensions import db

ROW_ID_MAX = 2**31 - 1  # the largest value of an INTEGER key column on PostgreSQL


class RowId(IntegerConverter):
    """``<int:...>`` in routes: a number past any row id does not match (404), rather than
    reaching the database and failing there."""

    def __init__(self, map, *args, **kwargs) -> None:
        kwargs.setdefault("max", ROW_ID_MAX)
        super().__init__(map, *args, **kwargs)


CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; form-action 'self'; object-src 'none'; "
    "base-uri 'none'; frame-ancestors 'none'"
)


def local_url(target: str | None, default: str | None = None) -> str | None:
    """``target`` if it is a path on this site, else ``default``: redirects taken from a form,
    a query string or a stored link never lead off the portal (``//host`` and
    ``https://host`` included)."""
    target = target or ""
    if target.startswith("/") and not target.startswith("//") and not urlsplit(target).netloc:
        return target
    return default


def csv_attachment(text: str, filename: str) -> Response:
    """``text`` as a CSV file to save (UTF-8, as written: a BOM for Excel is the caller's)."""
    resp = Response(text.encode("utf-8"), mimetype="text/csv")
    resp.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    resp.headers["X-Content-Type-Options"] = "nosniff"
    return resp


def is_api_request() -> bool:
    return request.path.startswith("/api/")


def security_headers(response: Response) -> Response:
    """SECURITY.md C5: on every response, error pages included."""
    h = response.headers
    h.setdefault("Content-Security-Policy", CSP)
    h["X-Content-Type-Options"] = "nosniff"
    h["Referrer-Policy"] = "same-origin"
    h["X-Frame-Options"] = "DENY"
    h["Cross-Origin-Opener-Policy"] = "same-origin"
    h["Permissions-Policy"] = "camera=(), microphone=(), geolocation=(), payment=()"
    if current_app.config.get("HSTS"):
        h["Strict-Transport-Security"] = "max-age=31536000; includeSubDomains"
    if request.endpoint != "static":
        # Pages may hold personal data: never cached by the browser or a proxy.
        h["Cache-Control"] = "no-store"
        h["Pragma"] = "no-cache"
    return response


def commit_request(response: Response) -> Response:
    """The one place a request's work is committed; anything failing was rolled back."""
    if response.status_code < 500:
        db.session.commit()
    else:
        db.session.rollback()
    return response


# Shown for HTTP errors, translated when rendered.
ERROR_TEXTS = {
    400: (
        _l("Bad request"),
        _l("The request could not be understood. Please go back and try again."),
    ),
    401: (_l("Please sign in"), _l("You need to sign in to continue.")),
    403: (_l("Not allowed"), _l("You do not have permission to see this page.")),
    404: (_l("Not found"), _l("This page or record does not exist, or you may not see it.")),
    405: (_l("Not allowed"), _l("This action is not possible here.")),
    409: (_l("Conflict"), _l("This conflicts with the current state of the record.")),
    413: (_l("Too large"), _l("The file or form is too large. Files may be at most 10 MB.")),
    422: (_l("Invalid input"), _l("Some of the information given is not valid.")),
    429: (_l("Too many attempts"), _l("Too many attempts. Please wait and try again.")),
    500: (_l("Something went wrong"), _l("An unexpected error occurred. It has been recorded.")),
}


def problem(status: int, title: str, detail: str, **extra) -> Response:
    """An RFC 9457 problem document."""
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail, **extra}
    resp = jsonify(body)
    resp.status_code = status
    resp.mimetype = "application/problem+json"
    return resp


def _texts(status: int) -> tuple[str, str]:
    title, detail = ERROR_TEXTS.get(status, ERROR_TEXTS[500 if status >= 500 else 400])
    return str(title), str(detail)


def handle_http_error(exc: HTTPException):
    status = exc.code or 500
    title, detail = _texts(status)
    if status == 400 and getattr(exc, "description", "").startswith("The CSRF"):
        detail = _("The form has expired. Please reload the page and submit it again.")
    headers = {}
    retry = exc.get_headers() if hasattr(exc, "get_headers") else []
    for k, v in retry:
        if k.lower() == "retry-after":
            headers["Retry-After"] = v
    if status == 429 and "Retry-After" not in headers:
        headers["Retry-After"] = "60"
    if is_api_request():
        extra = {}
        messages = (getattr(exc, "data", None) or {}).get("messages")
        if messages:  # webargs/marshmallow: {location: {field: [messages]}}
            extra["errors"] = {
                field: msgs for loc in messages.values() for field, msgs in loc.items()
            }
        resp = problem(status, title, detail, **extra)
    else:
        resp = current_app.make_response(
            (
                render_template("errors/error.html", status=status, title=title, detail=detail),
                status,
            )
        )
    if status == 405 and hasattr(exc, "valid_methods") and exc.valid_methods:
        resp.headers["Allow"] = ", ".join(exc.valid_methods)
    resp.headers.update(headers)
    return resp


def handle_portal_error(exc: PortalError):
    """A domain error that reached the edge without a view handling it."""
    discard_failed_work(exc)
    headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, TooManyAttempts) else {}
    if is_api_request():
        extra = {"code": exc.code}
        if exc.field:
            extra["errors"] = {exc.field: [str(exc.message)]}
        resp = problem(exc.status, _texts(exc.status)[0], str(exc.message), **extra)
        resp.headers.update(headers)
        return resp
    title = _texts(exc.status)[0]
    return (
        render_template("errors/error.html", status=exc.status, title=title, detail=str(exc)),
        exc.status,
        headers,
    )


def handle_unexpected(exc: Exception):
    db.session.rollback()
    current_app.logger.exception("unhandled error")
    if current_app.testing and current_app.config.get("PROPAGATE_UNEXPECTED", True):
        raise exc
    title, detail = _texts(500)
    if is_api_request():
        return problem(500, title, detail)
    return render_template("errors/error.html", status=500, title=title, detail=detail), 500


def discard_failed_work(exc: PortalError) -> None:
    """Roll back what a failed action wrote, unless it was recorded on purpose."""
    if not exc.persist:
        db.session.rollback()


def _holds_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_holds_nul(k) or _holds_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_holds_nul(v) for v in value)
    return False


def refuse_nul_characters() -> None:
    """No text a person or a machine sends may hold the NUL character: no database stores it
    (PostgreSQL refuses it) and no form needs it. Files uploaded are not text and are not
    looked at."""
    sent = [request.path, *request.args.values()]
    if request.is_json:
        sent.append(request.get_json(silent=True))
    elif request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data"):
        sent.extend(v for _k, values in request.form.lists() for v in values)
    if any(_holds_nul(v) for v in sent):
        raise ValidationFailed(_l("Text may not contain the NUL character."))


def register(app: Flask) -> None:
    app.before_request(refuse_nul_characters)
    app.register_error_handler(HTTPException, handle_http_error)
    app.register_error_handler(PortalError, handle_portal_error)
    app.register_error_handler(Exception, handle_unexpected)
    app.after_request(commit_request)
    app.after_request(security_headers)
