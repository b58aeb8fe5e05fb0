"""The HTTP JSON backend for a data-sharing platform, against a small platform the tests run
on loopback: normal answers, slow answers, errors, invalid JSON, a refused token; and a
whole submission with the portal configured to use it (8 departments asked at once)."""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from portal.accounts.roles import Role
from portal.accounts.services import id_index
from portal.applications import services
from portal.applications.models import Relationship
from portal.core.identifiers import make_id_number, mask_id_number
from portal.verification import services as verification
from portal.verification.backends import PersonRef, get_source
from portal.verification.departments import Department
from portal.verification.http_backend import HttpDataPlatform
from portal.verification.models import CheckStatus
from tests.factories import ResidentFactory
from tests.factories.applications import draft_for, submit
from tests.factories.fixtures import make_staff

TOKEN = "platform-token-for-tests"
SPOUSE = make_id_number("450302", date(1988, 2, 3), 46)
STRANGER = make_id_number("450305", date(1970, 1, 1), 11)
# an ID number standing alone, not a run of digits inside a hexadecimal blind index
ID_NUMBER_RE = re.compile(r"(?<![0-9a-f])\d{17}[\dX](?![0-9a-f])")


class FakePlatform:
    """What the loopback platform answers, per department, and what it was sent."""

    def __init__(self) -> None:
        self.records: dict[str, dict[str, dict]] = {}  # department -> id number -> facts
        self.mode: dict[str, str] = {}  # department -> ok/error/invalid/stranger/redirect
        self.delay: dict[str, float] = {}  # department -> seconds before answering
        self.sent: dict[str, bytes] = {}  # department -> the body it answered with
        self.asked: list[tuple[str, dict, str | None, float]] = []
        self.redirect_target_hits = 0
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.url = ""

    def answer(self, department: str, request: dict) -> tuple[int, bytes]:
        mode = self.mode.get(department, "ok")
        if mode == "error":
            return 500, b'{"error": "internal"}'
        if mode == "invalid":
            return 200, b'{"records": [ {"id_number": '
        known = self.records.get(department, {})
        people = [p["id_number"] for p in request["people"]]
        if mode == "stranger":
            people.append(STRANGER)
            known = {**known, STRANGER: {}}
        records = [{"id_number": n, "facts": known[n]} for n in people if n in known]
        return 200, json.dumps({"records": records}, ensure_ascii=False).encode()


def _handler(platform: FakePlatform):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:  # keep the test output clean
            pass

        def _send(self, status: int, body: bytes, headers: dict | None = None) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self) -> None:
            m = re.fullmatch(r"/api/departments/([a-z_]+)/lookup", self.path)
            if self.path == "/elsewhere":
                platform.redirect_target_hits += 1
                self._send(200, b'{"records": []}')
                return
            if m is None:
                self._send(404, b"{}")
                return
            department = m.group(1)
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            auth = self.headers.get("Authorization")
            with platform.lock:
                platform.asked.append((department, body, auth, time.monotonic()))
            if platform.stop.wait(platform.delay.get(department, 0)):
                return  # the test is over
            if auth != f"Bearer {TOKEN}":
                self._send(401, b'{"error": "unauthorized"}')
                return
            if platform.mode.get(department) == "redirect":
                self._send(307, b"", {"Location": f"{platform.url}/elsewhere"})
                return
            status, raw = platform.answer(department, body)
            with platform.lock:
                platform.sent[department] = raw
            self._send(status, raw)

    return Handler


class QuietServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 32  # the default backlog of 5 drops some of 8 connections at once

    def handle_error(self, request, client_address) -> None:
        pass  # a client that gave up (timeout) closes the socket under a slow handler


@pytest.fixture
def platform():
    fake = FakePlatform()
    server = QuietServer(("127.0.0.1", 0), _handler(fake))
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield fake
    fake.stop.set()
    server.shutdown()
    server.server_close()
    thread.join(5)


def source(platform, token=TOKEN) -> HttpDataPlatform:
    return HttpDataPlatform(f"{platform.url}/api/", token, name="test platform")


def person(number: str, name: str) -> PersonRef:
    return PersonRef(id_index(number), number, name)


# --- lookups ---------------------------------------------------------------------------------


def test_facts_come_back_keyed_by_blind_index_with_the_raw_payload(db, platform):
    number = make_id_number("450302", date(1985, 1, 2), 13)
    platform.records["social_security"] = {
        number: {"local_months_continuous": 36, "monthly_wage": 1800, "employer": "漓江物业"}
    }
    answer = source(platform).lookup(
        Department.SOCIAL_SECURITY, [person(number, "黄伟"), person(SPOUSE, "李梅")], 2
    )
    assert answer.status == "ok", answer.error
    assert answer.facts == {
        id_index(number): {
            "local_months_continuous": 36,
            "monthly_wage": 1800,
            "employer": "漓江物业",
        }
    }
    assert answer.source == "test platform"
    assert answer.raw == platform.sent["social_security"]
    assert answer.payload_hash == hashlib.sha256(platform.sent["social_security"]).hexdigest()
    department, body, auth, _at = platform.asked[0]
    assert department == "social_security"
    assert auth == f"Bearer {TOKEN}"
    assert body == {
        "people": [{"id_number": number, "name": "黄伟"}, {"id_number": SPOUSE, "name": "李梅"}]
    }


def test_a_spouse_id_number_is_kept_only_as_blind_index_and_mask(db, platform):
    number = make_id_number("450302", date(1985, 1, 2), 13)
    platform.records["civil_affairs"] = {
        number: {
            "marital_status": "married",
            "spouse_id_number": SPOUSE,
            "spouse_masked": "made up by the platform",
            "assistance": "none",
        }
    }
    answer = source(platform).lookup(Department.CIVIL_AFFAIRS, [person(number, "黄伟")], 2)
    assert answer.status == "ok", answer.error
    facts = answer.facts[id_index(number)]
    assert facts == {
        "marital_status": "married",
        "assistance": "none",
        "spouse_index": id_index(SPOUSE),
        "spouse_masked": mask_id_number(SPOUSE),
    }
    assert not ID_NUMBER_RE.search(json.dumps(answer.facts))


def test_values_are_typed_like_the_registry_import(db, platform):
    number = make_id_number("450302", date(1985, 1, 2), 13)
    platform.records["public_security"] = {
        number: {"registered_name": "黄伟", "hukou_local": "是", "hukou_since": "2001-02-03"}
    }
    platform.records["property"] = {number: {"owned_area": 45, "properties": 1.0}}
    ok = source(platform)
    ps = ok.lookup(Department.PUBLIC_SECURITY, [person(number, "黄伟")], 2)
    assert ps.facts[id_index(number)] == {
        "registered_name": "黄伟",
        "hukou_local": True,
        "hukou_since": "2001-02-03",
    }
    prop = ok.lookup(Department.PROPERTY, [person(number, "黄伟")], 2)
    assert prop.facts[id_index(number)] == {"owned_area": 45.0, "properties": 1}

    platform.records["property"] = {number: {"owned_area": "a lot"}}
    bad = ok.lookup(Department.PROPERTY, [person(number, "黄伟")], 2)
    assert bad.status == "error"
    assert bad.error == "invalid value for owned_area"


def test_a_slow_platform_times_out_within_the_deadline(db, platform):
    platform.delay["vehicles"] = 5
    started = time.monotonic()
    answer = source(platform).lookup(Department.VEHICLES, [person(SPOUSE, "李梅")], 0.4)
    elapsed = time.monotonic() - started
    assert answer.status == "error"
    assert answer.error == "timeout"
    assert answer.facts == {}
    assert elapsed < 1.5


@pytest.mark.parametrize(
    ("mode", "error"),
    [
        ("error", "HTTP 500"),
        ("invalid", "invalid JSON"),
        ("stranger", "a record for a person not asked about"),
        ("redirect", "HTTP 307: redirect not followed"),
    ],
)
def test_a_failing_platform_answers_an_error_never_an_exception(db, platform, mode, error):
    platform.mode["disability"] = mode
    platform.records["disability"] = {SPOUSE: {"grade": 2}}
    answer = source(platform).lookup(Department.DISABILITY, [person(SPOUSE, "李梅")], 2)
    assert (answer.status, answer.error) == ("error", error)
    assert answer.facts == {}
    assert platform.redirect_target_hits == 0


def test_a_wrong_token_is_an_error(db, platform):
    platform.records["vehicles"] = {SPOUSE: {"vehicles": 1}}
    answer = source(platform, token="wrong").lookup(
        Department.VEHICLES, [person(SPOUSE, "李梅")], 2
    )
    assert answer.status == "error"
    assert answer.error == "HTTP 401: the platform refused the token"
    assert answer.facts == {}


def test_a_token_that_cannot_be_sent_is_an_error(db, platform):
    answer = source(platform, token="two\nlines").lookup(
        Department.VEHICLES, [person(SPOUSE, "李梅")], 2
    )
    assert answer.status == "error"
    assert answer.error.startswith("invalid request")
    assert platform.asked == []


def test_an_unreachable_or_unconfigured_platform_is_an_error(db, platform):
    closed = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    port = closed.server_address[1]
    closed.server_close()  # nothing listens there any more
    refused = HttpDataPlatform(f"http://127.0.0.1:{port}", TOKEN).lookup(
        Department.VEHICLES, [person(SPOUSE, "李梅")], 1
    )
    assert refused.status == "error"
    assert refused.error.startswith("connection failed")
    for url in (None, "", "ftp://platform.example", "http://platform.example:port"):
        answer = HttpDataPlatform(url, TOKEN).lookup(
            Department.VEHICLES, [person(SPOUSE, "李梅")], 1
        )
        assert answer.status == "error"
        assert "URL is missing or not http(s)" in answer.error


# --- the whole submission --------------------------------------------------------------------


@pytest.fixture
def use_platform(app, platform, monkeypatch):
    """The portal configured for the loopback platform (restored after the test)."""

    def configure(timeout: float) -> None:
        monkeypatch.setitem(app.config, "DEPARTMENT_BACKEND", "http")
        monkeypatch.setitem(app.config, "DATA_PLATFORM_URL", f"{platform.url}/api")
        monkeypatch.setitem(app.config, "DATA_PLATFORM_TOKEN", TOKEN)
        monkeypatch.setitem(app.config, "DEPARTMENT_TIMEOUT_SECONDS", timeout)

    return configure


@pytest.fixture
def district(db):
    from tests.factories import DistrictFactory

    return DistrictFactory(code="450302")


def married_couple_on_the_platform(platform, resident) -> None:
    me, spouse = resident.id_number, SPOUSE
    platform.records = {
        "public_security": {
            me: {
                "registered_name": resident.real_name,
                "hukou_local": True,
                "hukou_district": "450302",
                "hukou_since": "2005-03-01",
            },
            spouse: {
                "registered_name": "李梅",
                "hukou_local": True,
                "hukou_district": "450302",
                "hukou_since": "2010-03-01",
            },
        },
        "civil_affairs": {
            me: {"marital_status": "married", "spouse_id_number": spouse, "assistance": "none"},
            spouse: {"marital_status": "married", "spouse_id_number": me, "assistance": "none"},
        },
        "social_security": {
            me: {"local_months_continuous": 80, "monthly_wage": 1500},
            spouse: {"local_months_continuous": 40, "monthly_wage": 1000},
        },
    }


def household_application(platform, district):
    resident = ResidentFactory()
    married_couple_on_the_platform(platform, resident)
    app = draft_for(resident, district)
    services.add_member(
        app, resident, name="李梅", id_number=SPOUSE, relationship=Relationship.SPOUSE
    )
    return app, resident


def test_configured_portal_uses_the_http_backend(db, app, use_platform, platform):
    use_platform(3)
    assert isinstance(get_source(), HttpDataPlatform)


def test_submission_asks_all_eight_departments_at_once(db, platform, use_platform, district):
    use_platform(3)
    for dept in Department:
        platform.delay[dept.value] = 0.5
    app, resident = household_application(platform, district)
    started = time.monotonic()
    app = submit(app, resident)
    elapsed = time.monotonic() - started

    assert {d for d, *_ in platform.asked} == {d.value for d in Department}
    assert elapsed < 2.5, f"the departments were not asked at once ({elapsed:.1f} s)"
    arrivals = [at for *_, at in platform.asked]
    assert max(arrivals) - min(arrivals) < 0.5  # all asked before the first one answered

    checks = {c.department: c for c in verification.checks_of(app)}
    assert all(c.status is CheckStatus.MATCH for c in checks.values()), [
        (c.department, c.status, c.error) for c in checks.values()
    ]
    for dept, check in checks.items():
        assert check.source == "data-sharing platform"
        assert check.payload_hash == hashlib.sha256(platform.sent[dept.value]).hexdigest()
    me, spouse = id_index(resident.id_number), id_index(SPOUSE)
    civil = checks[Department.CIVIL_AFFAIRS].facts
    assert civil[me]["spouse_index"] == spouse
    assert checks[Department.SOCIAL_SECURITY].facts[spouse]["monthly_wage"] == 1000
    assert not ID_NUMBER_RE.search(json.dumps([c.facts for c in checks.values()]))

    for check in checks.values():
        verification.confirm(check, make_staff(Role.REVIEWER, department=check.department))
    assert app.evaluation["eligible"] is True
    income = next(r for r in app.evaluation["results"] if r["code"] == "income")
    assert income["params"]["per_capita"] == "1250.00"


def test_a_department_past_the_deadline_is_unavailable_and_can_be_asked_again(
    db, platform, use_platform, district
):
    use_platform(0.6)
    platform.delay["vehicles"] = 5
    platform.mode["housing_fund"] = "error"
    app, resident = household_application(platform, district)
    started = time.monotonic()
    app = submit(app, resident)
    assert time.monotonic() - started < 2.0

    checks = {c.department: c for c in verification.checks_of(app)}
    assert checks[Department.VEHICLES].status is CheckStatus.UNAVAILABLE
    assert checks[Department.VEHICLES].error == "timeout"
    assert checks[Department.HOUSING_FUND].status is CheckStatus.UNAVAILABLE
    assert checks[Department.HOUSING_FUND].error == "HTTP 500"
    answered = set(Department) - {Department.VEHICLES, Department.HOUSING_FUND}
    assert {d for d in answered if checks[d].status is CheckStatus.MATCH} == answered
    assert checks[Department.PUBLIC_SECURITY].facts  # the others were filled

    platform.delay["vehicles"] = 0
    reviewer = make_staff(Role.REVIEWER, department=Department.VEHICLES)
    verification.ask_again(checks[Department.VEHICLES], reviewer)
    assert checks[Department.VEHICLES].status is CheckStatus.MATCH
    assert checks[Department.VEHICLES].error is None
    assert checks[Department.VEHICLES].payload_hash == (
        hashlib.sha256(platform.sent["vehicles"]).hexdigest()
    )
