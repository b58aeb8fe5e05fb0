"""Department data from the city's data-sharing platform (数据共享交换平台) over HTTP JSON.

The contract (``docs/department-data.md``)::

    POST {base_url}/departments/{department}/lookup
    Authorization: Bearer <token>
    {"people": [{"id_number": "...", "name": "..."}]}

    200 {"records": [{"id_number": "...", "facts": {...}}]}

Facts use the names of ``portal.verification.fields.FACTS``; civil affairs may give
``spouse_id_number``, which becomes ``spouse_index`` and ``spouse_masked`` here, so no ID
number is ever kept with the facts. Unknown fact names are ignored.

Lookups run in worker threads (``concurrent = True``), so this class never touches the
database or the application context there: the blind-index key is captured when the source
is made, in the request's thread. Every failure (timeout, refused connection, TLS error,
non-200 answer, redirect, invalid JSON, a record for someone not asked about, a value of the
wrong type) answers ``status="error"`` with a short reason; nothing is raised.
"""

from __future__ import annotations

import functools
import http.client
import json
import logging
import ssl
import time
from typing import Any
from urllib.parse import quote, urlsplit

from portal.core.crypto import protector
from portal.core.errors import ValidationFailed
from portal.core.identifiers import IdNumberError, normalize_id_number, parse_id_number
from portal.verification.backends import Answer, PersonRef
from portal.verification.departments import Department
from portal.verification.fields import Fact, parse_fact
from portal.verification.registry import SPOUSE_COLUMN, importable_facts, link_spouse

log = logging.getLogger(__name__)

MAX_ANSWER_BYTES = 8 * 1024 * 1024  # a household's facts are a few kilobytes
CHUNK = 64 * 1024


class _BadAnswer(Exception):
    """The platform answered, but not as the contract says."""


class HttpDataPlatform:
    """A :class:`~portal.verification.backends.DepartmentSource` over HTTP JSON."""

    concurrent = True

    def __init__(
        self, base_url: str | None, token: str | None, name: str = "data-sharing platform"
    ) -> None:
        self.name = name
        self._token = token
        self._target = _target(base_url)
        # made here, in the request's thread: the worker threads have no application context
        self._index = functools.partial(protector().blind_index, purpose="id_number")

    # --- the protocol ----------------------------------------------------------------------

    def lookup(self, department: Department, people: list[PersonRef], timeout: float) -> Answer:
        """What ``department`` knows about ``people``, or an error answer; never raises."""
        raw = b""
        try:
            status, raw = self._post(department, people, timeout)
            if status in (401, 403):
                raise _BadAnswer(f"HTTP {status}: the platform refused the token")
            if 300 <= status < 400:
                raise _BadAnswer(f"HTTP {status}: redirect not followed")
            if status != 200:
                raise _BadAnswer(f"HTTP {status}")
            facts = self._facts(department, people, raw)
        except TimeoutError:
            return self._error(department, "timeout", raw)
        except _BadAnswer as exc:
            return self._error(department, str(exc), raw)
        except ssl.SSLError as exc:
            return self._error(department, f"TLS error: {exc.reason or type(exc).__name__}", raw)
        except (OSError, http.client.HTTPException) as exc:
            reason = getattr(exc, "strerror", None) or type(exc).__name__
            return self._error(department, f"connection failed: {reason}", raw)
        except ValueError:  # http.client refuses the request itself: a bad token or URL
            return self._error(department, "invalid request: check the platform URL and token", raw)
        return Answer(department, "ok", facts, raw, self.name)

    # --- transport -------------------------------------------------------------------------

    def _post(
        self, department: Department, people: list[PersonRef], timeout: float
    ) -> tuple[int, bytes]:
        """Status and body of the answer, within ``timeout`` seconds in all (not per read)."""
        if self._target is None:
            raise _BadAnswer("the data-sharing platform's URL is missing or not http(s)")
        scheme, host, port, prefix = self._target
        deadline = time.monotonic() + timeout
        body = json.dumps(
            {"people": [{"id_number": p.id_number, "name": p.name} for p in people]},
            ensure_ascii=False,
        ).encode()
        path = f"{prefix}/departments/{quote(department.value)}/lookup"
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "Accept": "application/json",
            "User-Agent": "housing-portal",
        }
        if self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        conn_class = (
            http.client.HTTPSConnection if scheme == "https" else http.client.HTTPConnection
        )
        # http.client never follows redirects: an answer elsewhere cannot be fetched by accident
        conn = conn_class(host, port, timeout=timeout)
        try:
            conn.connect()
            sock = conn.sock
            sock.settimeout(_remaining(deadline))
            conn.request("POST", path, body=body, headers=headers)
            resp = conn.getresponse()
            length = resp.getheader("Content-Length")
            if length and length.isdigit() and int(length) > MAX_ANSWER_BYTES:
                raise _BadAnswer("answer too large")
            chunks: list[bytes] = []
            size = 0
            while True:
                sock.settimeout(_remaining(deadline))
                chunk = resp.read1(CHUNK)
                if not chunk:
                    break
                size += len(chunk)
                if size > MAX_ANSWER_BYTES:
                    raise _BadAnswer("answer too large")
                chunks.append(chunk)
            return resp.status, b"".join(chunks)
        finally:
            conn.close()

    # --- reading the answer ----------------------------------------------------------------

    def _facts(
        self, department: Department, people: list[PersonRef], raw: bytes
    ) -> dict[str, dict[str, Any]]:
        try:
            doc = json.loads(raw, parse_constant=_no_constant)
        except ValueError as exc:  # includes UnicodeDecodeError
            raise _BadAnswer("invalid JSON") from exc
        records = doc.get("records") if isinstance(doc, dict) else None
        if not isinstance(records, list):
            raise _BadAnswer("unexpected answer: no list of records")
        asked = {normalize_id_number(p.id_number): p for p in people}
        facts: dict[str, dict[str, Any]] = {}
        for record in records:
            if not isinstance(record, dict) or not isinstance(record.get("id_number"), str):
                raise _BadAnswer("unexpected answer: a record without an ID number")
            person = asked.get(normalize_id_number(record["id_number"]))
            if person is None:
                raise _BadAnswer("a record for a person not asked about")
            if person.index in facts:
                raise _BadAnswer("two records for one person")
            values = record.get("facts") or {}
            if not isinstance(values, dict):
                raise _BadAnswer("unexpected answer: facts are not an object")
            facts[person.index] = self._person_facts(department, values)
        return facts

    def _person_facts(self, department: Department, values: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for fact in importable_facts(department):
            value = _typed(fact, values.get(fact.name))
            if value is not None:
                out[fact.name] = value
        spouse = None
        if department is Department.CIVIL_AFFAIRS and values.get(SPOUSE_COLUMN):
            try:
                spouse = parse_id_number(str(values[SPOUSE_COLUMN]))
            except IdNumberError as exc:
                raise _BadAnswer(f"invalid value for {SPOUSE_COLUMN}") from exc
        return link_spouse(out, spouse, self._index)

    def _error(self, department: Department, reason: str, raw: bytes) -> Answer:
        log.warning("%s: %s did not answer: %s", self.name, department.value, reason)
        return Answer(department, "error", raw=raw, source=self.name, error=reason[:200])


def _target(base_url: str | None) -> tuple[str, str, int | None, str] | None:
    """Scheme, host, port and path prefix of the platform, or ``None`` when unusable."""
    try:
        url = urlsplit((base_url or "").strip().rstrip("/"))
        port = url.port  # raises for a port that is not a number
    except ValueError:
        return None
    if url.scheme not in ("http", "https") or not url.hostname or url.query or url.fragment:
        return None
    return url.scheme, url.hostname, port, url.path


def _remaining(deadline: float) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError
    return left


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} is not a number")  # NaN and Infinity are not JSON


def _typed(fact: Fact, value: Any) -> Any:
    """A JSON value as the fact's type; strings go through the same parser as CSV cells."""
    if value is None:
        return None
    bad = _BadAnswer(f"invalid value for {fact.name}")
    if isinstance(value, str):
        try:
            return parse_fact(fact, value)
        except ValidationFailed as exc:
            raise bad from exc
    if isinstance(value, bool):
        if fact.kind == "bool":
            return value
        raise bad
    if isinstance(value, int | float):
        if fact.kind == "int" and float(value).is_integer():
            return int(value)
        if fact.kind == "decimal":
            return float(value)
        if fact.kind == "text":
            return str(value)
    raise bad
