"""Structured logs: one JSON object per line on stderr, for journald or any log shipper.

Every request gets an id: the ``X-Request-ID`` header when a proxy (nginx's
``$request_id``) or a caller sent a sane one, else a new one. It is in every line logged
while the request runs and in the response's ``X-Request-ID`` header, so a person who
reports a problem can quote it and an operator can find every line of that request,
across nginx, gunicorn and the portal. Each request ends with one ``portal.request`` line
that names the route, the status, the time taken and the signed-in user's id.

Logs never carry personal data in clear: whatever a line says, ID numbers (GB 11643) and
mobile numbers are masked on the way out, and fields named like a password, secret, token,
cookie or ID number are replaced, so a careless ``logger.info(form.data)`` cannot leak one.
The full numbers live only in the encrypted columns.
"""

from __future__ import annotations

import logging
import re
import sys
import time
import uuid

import sqlalchemy as sa
from flask import Flask, after_this_request, g, has_request_context, request
from flask.logging import default_handler
from pythonjsonlogger.json import JsonFormatter

REQUEST_ID_HEADER = "X-Request-ID"
# What a proxy or client may send as the request id: nginx's 32 hex digits, a UUID, ...
SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{7,127}")
QUIET_ENDPOINTS = {"public.healthz", "public.readyz"}  # load balancer probes: DEBUG only

_D = "0-9\uff10-\uff19"  # ASCII and full-width digits
ID_NUMBER = re.compile(
    rf"(?<![{_D}A-Za-z])([1-9\uff11-\uff19][{_D}]{{3}})[{_D}]{{10}}([{_D}]{{3}}[{_D}XxＸｘ])"
    rf"(?![{_D}A-Za-z])"
)
MOBILE = re.compile(rf"(?<![{_D}A-Za-z])(1[3-9][{_D}])[{_D}]{{4}}([{_D}]{{4}})(?![{_D}A-Za-z])")
SENSITIVE_FIELD = re.compile(
    r"pass(word)?|secret|token|cookie|authorization|id_?number|credential", re.IGNORECASE
)
REDACTED = "[redacted]"
_HANDLER_FLAG = "_portal_handler"


def redact(text: str) -> str:
    """``text`` with ID numbers and mobile numbers masked (first 4 and last 4 kept, as on
    the pages, and 3 + 4 for mobiles)."""
    text = ID_NUMBER.sub(lambda m: f"{m[1]}{'*' * 10}{m[2]}", text)
    return MOBILE.sub(lambda m: f"{m[1]}****{m[2]}", text)


class RequestContextFilter(logging.Filter):
    """Adds the request id to every record logged while a request runs."""

    def filter(self, record: logging.LogRecord) -> bool:
        if has_request_context():
            request_id = g.get("request_id")
            if request_id is not None and not hasattr(record, "request_id"):
                record.request_id = request_id
        return True


class PortalJsonFormatter(JsonFormatter):
    """JSON lines with ``time`` (UTC, ISO 8601), ``level``, ``logger``, ``message`` and
    any ``extra`` fields; personal numbers masked, sensitive fields replaced."""

    def __init__(self) -> None:
        super().__init__(
            "%(levelname)s %(name)s %(message)s",
            rename_fields={"levelname": "level", "name": "logger"},
            timestamp="time",
            json_ensure_ascii=False,
        )

    def process_log_record(self, log_data: dict) -> dict:
        for key in list(log_data):
            if SENSITIVE_FIELD.search(key):
                log_data[key] = REDACTED
        return super().process_log_record(log_data)

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


class PortalTextFormatter(logging.Formatter):
    """Plain lines for a developer's terminal (``PORTAL_LOG_JSON=0``), masked alike."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        if not hasattr(record, "request_id"):
            record.request_id = "-"
        return redact(super().format(record))


def make_handler(stream=None, *, json: bool = True) -> logging.Handler:
    """A handler that writes the portal's log lines to ``stream`` (default: stderr)."""
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(PortalJsonFormatter() if json else PortalTextFormatter())
    handler.addFilter(RequestContextFilter())
    return handler


def _install_root_handler(app: Flask) -> None:
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, _HANDLER_FLAG, False)]:
        root.removeHandler(old)
    handler = make_handler(json=app.config.get("LOG_JSON", True))
    setattr(handler, _HANDLER_FLAG, True)
    root.addHandler(handler)
    root.setLevel(app.config.get("LOG_LEVEL", "INFO"))
    # Alembic speaks at INFO whenever a migration context is made (the readiness check
    # makes one); `flask db upgrade` sets its own logging from migrations/alembic.ini.
    logging.getLogger("alembic").setLevel(logging.WARNING)
    # Flask's own handler would print each of the app's lines a second time, unformatted.
    logging.getLogger(app.name).removeHandler(default_handler)


# ------------------------------------------------------------------ per request


def _request_id() -> str:
    sent = request.headers.get(REQUEST_ID_HEADER, "")
    return sent if SANE_REQUEST_ID.fullmatch(sent) else uuid.uuid4().hex


def _who() -> dict:
    """The signed-in user (or API client) of this request, if the request looked it up.
    Read from what is already loaded: logging never sends a query of its own."""
    user = g.get("_login_user")  # Flask-Login's per-request cache
    if user is not None and getattr(user, "is_authenticated", False):
        state = sa.inspect(user, raiseerr=False)
        if state is not None and state.identity:
            return {"user_id": state.identity[0]}
    token = g.get("api_token")
    if token is not None:
        loaded = sa.inspect(token).dict
        if loaded.get("user_id") is not None:
            return {"user_id": loaded["user_id"]}
        if loaded.get("client_id") is not None:
            return {"api_client_id": loaded["client_id"]}
    return {}


def _capture_who(response):
    if "log_who" not in g:
        g.log_who = _who()
    return response


def _start_request() -> None:
    g.request_id = _request_id()
    g.request_started = time.perf_counter()
    after_this_request(_capture_who)


def _finish_request(response):
    """Runs after every other hook (the commit included): echo the id, log the request."""
    request_id = g.get("request_id")
    if request_id is None:
        return response
    response.headers[REQUEST_ID_HEADER] = request_id
    from portal.core.net import client_address

    rule = request.url_rule
    started = g.get("request_started", time.perf_counter())
    fields = {
        "method": request.method,
        "path": request.path,  # never the query string: search terms stay out of the logs
        "route": rule.rule if rule is not None else None,
        "endpoint": request.endpoint,
        "status": response.status_code,
        "duration_ms": round((time.perf_counter() - started) * 1000, 1),
        "client": client_address(),
        **g.get("log_who", {}),
    }
    level = logging.DEBUG if request.endpoint in QUIET_ENDPOINTS else logging.INFO
    logging.getLogger("portal.request").log(
        level,
        "%s %s %s",
        request.method,
        request.path,
        response.status_code,
        extra=fields,
    )
    return response


def portal_handler_installed() -> bool:
    """Whether the root logger has the portal's handler (JSON lines, numbers masked)."""
    return any(getattr(h, _HANDLER_FLAG, False) for h in logging.getLogger().handlers)


def init_app(app: Flask) -> None:
    """Set up the log lines and the request id. Call it before any other request hook is
    registered: its ``before_request`` then runs first, and its ``after_request`` last."""
    if not app.testing:  # tests read records through pytest or their own handler
        _install_root_handler(app)
    app.before_request(_start_request)
    app.after_request(_finish_request)
