"""Several machines behave as one portal (docs/deployment.md, docs/jobs.md).

Two app servers (``gunicorn -c gunicorn.conf.py wsgi:app``) and one Celery worker
(``celery -A portal.jobs.worker worker``), each a process of its own with the same
environment, share a fresh PostgreSQL database, the local Redis and one instance folder.
A resident's browser (one cookie jar) speaks plain HTTP to both servers in turn, on every
request; then cron's ``run-due`` on "two machines" and the worker are asked for the same
scheduled job at the same moment.

Needs PostgreSQL (``TEST_DATABASE_URL``) and Redis at 127.0.0.1:6379; skipped without them.
Under ``CI`` a missing Redis fails the module. ``make test``'s SQLite pass runs without
``TEST_DATABASE_URL`` on purpose (``env -u``), so a missing PostgreSQL only skips; the
PostgreSQL pass of the same run covers this module. Redis database 13 is this module's, with
a queue of this run's own; only that queue's keys and the results of its tasks are deleted
at the end (the rate limiter's counters expire by themselves).
"""

from __future__ import annotations

import html
import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from http.cookiejar import CookieJar
from pathlib import Path

import pytest
import redis
import sqlalchemy as sa
from flask_migrate import upgrade

from portal import ROOT, create_app
from portal.applications.models import Application, ApplicationEvent, Programme
from portal.config import TestConfig
from portal.core.clock import utcnow
from portal.demo import RESIDENTS
from portal.extensions import db, limiter
from portal.jobs.core import due_jobs, period_key
from portal.jobs.models import JobRun, RunStatus
from portal.notifications.models import OutboxItem
from portal.verification.demo_data import demo_families
from portal.verification.departments import Department
from portal.verification.models import CheckStatus, DepartmentCheck
from tests.conftest import RUN_ID, _drop_postgres, _postgres_url

BIN = Path(sys.executable).parent
FLASK = [str(BIN / "flask"), "--app", "wsgi:app"]
REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379
REDIS_URL = f"redis://{REDIS_HOST}:{REDIS_PORT}/13"  # this module's own database
BASE = os.environ.get("TEST_DATABASE_URL")
IN_CI = bool(os.environ.get("CI"))
WAITING = "Waiting for the department"  # CheckStatus.PENDING, in English
NAME, _REGION, _BIRTH, _SEQ, MOBILE = RESIDENTS[0]  # 张伟, the first demo resident


def _redis_answers() -> bool:
    try:
        return bool(redis.Redis(REDIS_HOST, REDIS_PORT, socket_connect_timeout=1).ping())
    except redis.RedisError:
        return False


REDIS_UP = _redis_answers()

pytestmark = [
    pytest.mark.no_transaction,
    pytest.mark.skipif(not BASE, reason="several machines share PostgreSQL: TEST_DATABASE_URL"),
    pytest.mark.skipif(
        not REDIS_UP and not IN_CI, reason="no Redis at 127.0.0.1:6379 (CI has one)"
    ),
]


# ---------------------------------------------------------------- processes


def _free_ports(n: int) -> list[int]:
    """``n`` different ports nobody listens on (held open together, so never the same)."""
    sockets = [socket.socket() for _ in range(n)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def _wait_for(condition, timeout: float, what: str):
    """``condition()``'s first true value, polled until ``timeout`` seconds have passed."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.2)


@dataclass
class Process:
    name: str
    popen: subprocess.Popen
    log: Path

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def tail(self) -> str:
        return f"--- {self.name} ({self.log}) ---\n{self.text()[-3000:]}"

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
        try:
            self.popen.wait(timeout=20)
        except subprocess.TimeoutExpired:  # pragma: no cover - a hung process
            self.popen.kill()
            self.popen.wait(timeout=10)


def _start(name: str, argv: list[str], env: dict, folder: Path) -> Process:
    log = folder / f"{name}.log"
    with log.open("wb") as out:  # the child keeps its own descriptor
        popen = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    return Process(name, popen, log)


def _flask(*args: str, env: dict, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*FLASK, *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def _ready(url: str, proc: Process) -> bool:
    assert proc.popen.poll() is None, f"{proc.name} stopped"
    try:
        with urllib.request.urlopen(f"{url}/readyz", timeout=5) as resp:  # noqa: S310
            return resp.status == 200
    except (OSError, urllib.error.HTTPError):
        return False


@dataclass
class Cluster:
    a: str  # base URLs of the two app servers
    b: str
    env: dict
    instance: Path
    web: object  # a Flask app of this process, on the same database and data key
    worker: Process
    processes: list[Process] = field(default_factory=list)

    def logs(self) -> str:
        return "\n".join(p.tail() for p in self.processes)


@pytest.fixture
def cluster(tmp_path):
    if not REDIS_UP:
        pytest.fail("CI is set but Redis does not answer at 127.0.0.1:6379")
    instance = tmp_path / "instance"  # shared by every process, as one NFS mount would be
    instance.mkdir()
    queue = f"portal-machines-{RUN_ID}-{secrets.token_hex(3)}"
    url = _postgres_url(BASE, f"machines_{secrets.token_hex(3)}")
    secret_key, data_key = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    processes: list[Process] = []
    web = None
    try:
        saved = (limiter._storage, limiter._limiter, limiter._key_prefix)
        web = create_app(
            TestConfig,
            instance_path=str(tmp_path / "migrator"),
            SQLALCHEMY_DATABASE_URI=url,
            DATA_KEY=data_key,
        )
        limiter._storage, limiter._limiter, limiter._key_prefix = saved  # the suite's own
        with web.app_context():
            upgrade()
            db.session.remove()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PORTAL_", "FLASK_"))}
        env.update(
            PORTAL_ENV="production",
            PORTAL_SECURE_COOKIES="0",  # plain HTTP in this test only
            PORTAL_HSTS="0",
            PORTAL_SECRET_KEY=secret_key,
            PORTAL_DATA_KEY=data_key,
            PORTAL_DATABASE_URL=url,
            PORTAL_REDIS_URL=REDIS_URL,
            PORTAL_JOBS_EAGER="0",
            PORTAL_JOBS_QUEUE=queue,
            PORTAL_LOGIN_RATE_LIMIT="1000 per minute",
            PORTAL_INSTANCE_PATH=str(instance),
            PORTAL_WORKERS="1",
            PORTAL_GRACEFUL_TIMEOUT="5",
            PYTHONPATH=str(ROOT),
        )
        demo = _flask("portal", "demo", env=env)
        assert demo.returncode == 0, demo.stderr
        ports = _free_ports(2)
        for name, port in zip("ab", ports, strict=True):
            processes.append(
                _start(
                    f"server-{name}",
                    [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"],
                    {**env, "PORTAL_BIND": f"127.0.0.1:{port}"},
                    tmp_path,
                )
            )
        worker = _start(
            "worker",
            [
                str(BIN / "celery"),
                "-A",
                "portal.jobs.worker",
                "worker",
                "--loglevel=info",
                "--concurrency=2",
                "--without-gossip",
                "--without-mingle",
                "-n",
                f"{queue}@%h",
            ],
            env,
            tmp_path,
        )
        processes.append(worker)
        a, b = (f"http://127.0.0.1:{port}" for port in ports)
        cluster = Cluster(a, b, env, instance, web, worker, processes)
        try:
            for base, proc in ((a, processes[0]), (b, processes[1])):
                _wait_for(lambda: _ready(base, proc), 60, f"{proc.name} to be ready")  # noqa: B023
            _wait_for(
                lambda: worker.popen.poll() is not None or " ready." in worker.text(),
                60,
                "the worker to start",
            )
            assert worker.popen.poll() is None, "the worker stopped"
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{cluster.logs()}") from exc
        yield cluster
    finally:
        for proc in processes:
            proc.stop()
        broker = redis.Redis.from_url(REDIS_URL)
        for key in broker.scan_iter(f"*{queue}*"):
            broker.delete(key)
        for proc in processes:
            for task_id in set(re.findall(r"\[([0-9a-f-]{36})\] received", proc.text())):
                broker.delete(f"celery-task-meta-{task_id}")
        if web is not None:
            with web.app_context():
                db.session.remove()
                db.engine.dispose()
        _drop_postgres(BASE, url)


# ---------------------------------------------------------------- the browser


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None  # the test follows redirects itself, to see where they go


@dataclass
class Page:
    status: int
    location: str  # path and query of a redirect, else ""
    text: str

    def hidden(self, name: str) -> str:
        m = re.search(rf'<input[^>]*\bname="{name}"[^>]*\bvalue="([^"]*)"', self.text)
        assert m, f"no hidden {name} on the page:\n{self.text[:2000]}"
        return html.unescape(m.group(1))


def _page(resp) -> Page:
    location = urllib.parse.urlsplit(resp.headers.get("Location") or "")
    target = location.path + (f"?{location.query}" if location.query else "")
    return Page(resp.status, target, resp.read().decode())


class Browser:
    """One person's browser: one cookie jar, whichever server answers."""

    def __init__(self) -> None:
        self.jar = CookieJar()
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(self.jar), _NoRedirect()
        )

    def open(self, base: str, path: str, fields: list[tuple[str, str]] | None = None) -> Page:
        data = urllib.parse.urlencode(fields).encode() if fields is not None else None
        req = urllib.request.Request(  # noqa: S310 - a local URL
            base + path, data=data, headers={"Accept-Language": "en"}
        )
        try:
            with self.opener.open(req, timeout=20) as resp:
                return _page(resp)
        except urllib.error.HTTPError as exc:
            return _page(exc)

    def post(self, base: str, path: str, fields: list[tuple[str, str]], form_page: Page) -> Page:
        """Submit a form like a browser: with the CSRF token of the page that showed it."""
        return self.open(base, path, [("csrf_token", form_page.hidden("csrf_token")), *fields])

    def cookie(self, name: str) -> str:
        return next(c.value for c in self.jar if c.name == name)


def _with_cookie(base: str, path: str, cookie: str) -> Page:
    """A request carrying exactly this cookie (as someone holding a copy of it would)."""
    opener = urllib.request.build_opener(_NoRedirect())
    req = urllib.request.Request(  # noqa: S310 - a local URL
        base + path, headers={"Cookie": cookie, "Accept-Language": "en"}
    )
    try:
        with opener.open(req, timeout=20) as resp:
            return _page(resp)
    except urllib.error.HTTPError as exc:
        return _page(exc)


# ---------------------------------------------------------------- the journey


def test_two_servers_and_a_worker_serve_a_resident_and_run_the_schedule_once(cluster):
    browser = Browser()  # one person, one cookie jar, whichever server answers
    try:
        _sign_in_on_a_known_on_b(cluster, browser)
        app_id = _apply_on_both_servers(cluster, browser)
        _the_worker_checks_the_submission(cluster, browser, app_id)
        _sign_out_on_a_refused_on_b(cluster, browser)
        _the_schedule_runs_once(cluster)
    except AssertionError as exc:  # with what the servers and the worker said
        raise AssertionError(f"{exc}\n{cluster.logs()}") from exc


def _sign_in_on_a_known_on_b(c: Cluster, browser: Browser) -> None:
    """The session is a row in the shared database, the cookie signed with the shared key."""
    password = json.loads((c.instance / "demo-accounts.json").read_text())["password"]
    login = browser.open(c.b, "/login")
    assert login.status == 200
    signed_in = browser.post(c.a, "/login", [("identifier", MOBILE), ("password", password)], login)
    assert (signed_in.status, signed_in.location) == (302, "/me"), signed_in.text[:2000]
    me = browser.open(c.b, "/me")
    assert me.status == 200
    assert f"Hello, {NAME}" in me.text
    server_a, server_b = c.processes[:2]
    assert '"POST /login 302"' in server_a.text()
    assert '"GET /me 200"' in server_b.text()


def _apply_on_both_servers(c: Cluster, browser: Browser) -> int:
    """Start, add the family, fill in the details, sign: each form shown by one server and
    sent to the other. Returns the application's id."""
    a, b = c.a, c.b
    index = browser.open(a, "/applications")
    started = browser.post(
        b,
        "/applications",
        [("programme", Programme.PUBLIC_RENTAL.value), ("token", index.hidden("token"))],
        index,
    )
    assert started.status == 302, started.text[:2000]
    m = re.fullmatch(r"/applications/(\d+)/edit", started.location)
    assert m, started.location
    app_id = int(m.group(1))
    edit = f"/applications/{app_id}/edit"

    family = demo_families()[0].household
    assert family.applicant.name == NAME
    for person in family.members[1:]:  # the spouse and the son
        household = browser.open(b, edit)
        added = browser.post(
            a,
            f"/applications/{app_id}/members",
            [
                ("name", person.name),
                ("id_number", person.id_number),
                ("relationship", person.relationship.value),
            ],
            household,
        )
        assert (added.status, added.location) == (302, edit), added.text[:2000]

    details = browser.open(a, f"{edit}?step=details")
    saved = browser.post(
        b,
        edit,
        [
            ("contact_phone", MOBILE),
            ("email", ""),
            ("current_address", "桂林市秀峰区解放西路 12 号 3 单元 201"),
            ("district", "450302"),
            ("preferred", "450302"),
            ("declared_income", "2700"),
        ],
        details,
    )
    assert (saved.status, saved.location) == (302, f"/applications/{app_id}/sign"), saved.text

    sign_page = browser.open(b, f"/applications/{app_id}/sign")
    assert sign_page.status == 200
    for person in family.members:  # added on A, shown by B
        assert person.name in sign_page.text
    submitted = browser.post(
        a,
        f"/applications/{app_id}/sign",
        [
            ("accept_pledge", "y"),
            ("accept_authorization", "y"),
            ("accept_privacy", "y"),
            ("shown_hash", sign_page.hidden("shown_hash")),
        ],
        sign_page,
    )
    assert (submitted.status, submitted.location) == (302, f"/applications/{app_id}"), (
        submitted.text[:2000]
    )
    return app_id


def _the_worker_checks_the_submission(c: Cluster, browser: Browser, app_id: int) -> None:
    """The submission's checks go to the worker after A commits; B shows the answers."""

    def answered() -> Page | None:
        page = browser.open(c.b, f"/applications/{app_id}")
        assert page.status == 200
        return page if WAITING not in page.text else None

    status = _wait_for(answered, 30, "the department checks on the status page")
    assert "Department checks" in status.text
    assert re.search(r"verification\.run_checks\[[0-9a-f-]{36}\] succeeded", c.worker.text())
    with c.web.app_context():
        checks = db.session.execute(
            sa.select(DepartmentCheck.department, DepartmentCheck.status).where(
                DepartmentCheck.application_id == app_id
            )
        ).all()
        assert len(checks) == len(Department) == 8
        assert {d for d, _s in checks} == set(Department)
        assert CheckStatus.PENDING not in {s for _d, s in checks}
        events = db.session.scalars(
            sa.select(ApplicationEvent.kind).where(ApplicationEvent.application_id == app_id)
        ).all()
        assert events.count("submitted") == 1, events
        applicant = db.session.get(Application, app_id).applicant_id
        applications = db.session.scalars(
            sa.select(Application).where(Application.applicant_id == applicant)
        ).all()
        assert [x.id for x in applications] == [app_id]  # one draft, started once
        # The receipt, as a text message (the demo resident has no e-mail address). Nobody
        # has run the schedule yet, so it waits in the outbox.
        outbox = db.session.scalars(sa.select(OutboxItem)).all()
        assert [(o.channel, o.recipient, o.attempts, o.sent_at) for o in outbox] == [
            ("sms", MOBILE, 0, None)
        ]
        assert applications[0].reference in outbox[0].subject
        db.session.remove()


def _sign_out_on_a_refused_on_b(c: Cluster, browser: Browser) -> None:
    page = browser.open(c.b, "/me")
    old_cookie = f"portal_session={browser.cookie('portal_session')}"
    signed_out = browser.post(c.a, "/logout", [], page)
    assert signed_out.status == 302, signed_out.text[:2000]
    for replayed in (_with_cookie(c.b, "/me", old_cookie), browser.open(c.b, "/me")):
        assert replayed.status == 302
        assert replayed.location.startswith("/login")


def _the_schedule_runs_once(c: Cluster) -> None:
    """Cron's ``run-due`` on two machines and an operator handing the outbox job to the
    worker, all at once and within one minute, so that all three ask for the same periods:
    each due job runs once, and the text message leaves once."""
    if utcnow().second > 40:  # not enough of this minute left: start with the next one
        time.sleep(60.5 - utcnow().second - utcnow().microsecond / 1e6)
    began = utcnow()
    eager = {**c.env, "PORTAL_JOBS_EAGER": "1"}  # each runs the jobs itself, as cron does
    runners = [
        subprocess.Popen(
            [*FLASK, "portal", "jobs", *args],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for args, env in (
            (["run-due"], eager),
            (["run-due"], eager),
            (["run", "outbox.deliver", "--enqueue"], c.env),
        )
    ]
    outputs = []
    try:
        for runner in runners:
            outputs.append(runner.communicate(timeout=60))
    finally:
        for runner in runners:
            if runner.poll() is None:  # pragma: no cover - a hung command
                runner.kill()
                runner.wait()
    assert [r.returncode for r in runners] == [0, 0, 0], outputs
    assert outputs[2][0].strip() == "outbox.deliver sent to the workers"
    worker_said = _wait_for(
        lambda: re.search(
            r"outbox\.deliver\[[0-9a-f-]{36}\] succeeded in [^:]+: .*'status': '(\w+)', "
            r"'period': '([^']+)'",
            c.worker.text(),
        ),
        30,
        "the worker to run outbox.deliver",
    )
    assert period_key("minute", began) == period_key("minute", utcnow()), "a minute passed"

    due = {job.name: period_key(job.period, began) for job in due_jobs(began)}
    assert "outbox.deliver" in due
    worker_status, worker_period = worker_said.groups()
    assert worker_period == due["outbox.deliver"]  # the same minute as cron's two runs
    # run-due prints one line per job it ran, none for those it skipped
    ran = [line.split()[0] for out, _err in outputs[:2] for line in out.splitlines()]
    if worker_status == "done":
        ran.append("outbox.deliver")
    else:
        assert worker_status == "skipped", worker_said.group(0)
    assert sorted(ran) == sorted(due), outputs  # each due job by exactly one of the three

    with c.web.app_context():
        runs = db.session.scalars(sa.select(JobRun)).all()
        assert sorted((r.name, r.period_key) for r in runs) == sorted(due.items())
        assert {(r.status, r.attempts) for r in runs} == {(RunStatus.DONE, 1)}
        outbox = db.session.scalars(sa.select(OutboxItem)).all()
        assert [(o.channel, o.attempts, o.last_error) for o in outbox] == [("sms", 1, None)]
        assert outbox[0].sent_at is not None
        db.session.remove()
    # the text message left once, from whichever process delivered it
    said = [err for _out, err in outputs[:2]] + [c.worker.text()]
    sms = f"sms to {MOBILE[:3]}****{MOBILE[-4:]}"
    assert sum(text.count(sms) for text in said) == 1, said
