"""Deployment: readiness, structured logs with request ids, gunicorn serving the app, rate
limits shared through Redis across instances, the client address behind a proxy, and the
upload storage backends (a local folder and an S3-compatible store)."""

from __future__ import annotations

import io
import json
import logging
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest
import redis
import sqlalchemy as sa
from flask_migrate import upgrade

from portal import ROOT, create_app
from portal.accounts.roles import Role
from portal.applications import services
from portal.applications.models import SupplementRequest, Upload
from portal.config import DevelopmentConfig, TestConfig
from portal.core.audit import AuditEvent
from portal.core.logging import make_handler
from portal.core.storage import LocalStorage, S3Storage, Storage, get_storage
from portal.extensions import db as _db
from portal.extensions import limiter
from portal.verification import services as verification
from portal.verification.departments import Department
from tests.conftest import PortalClient, _drop_postgres, _postgres_url
from tests.factories import PASSWORD, DistrictFactory, ResidentFactory
from tests.factories.applications import draft_for, submit
from tests.factories.fixtures import make_staff, sign_in

REDIS_URL = "redis://127.0.0.1:6379/14"
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n%%EOF\n"
WRONG = "wrong password!!"


# ---------------------------------------------------------------- helpers


@pytest.fixture(autouse=True)
def _keep_the_limiter():
    """Flask-Limiter keeps one storage for its one Limiter object: an app made here
    replaces it. Put the suite's own back afterwards."""
    saved = (limiter._storage, limiter._limiter, limiter._key_prefix)
    yield
    limiter._storage, limiter._limiter, limiter._key_prefix = saved


def another_app(tmp_path, database_url, config=TestConfig, **settings):
    """A second instance of the portal on the suite's database (and the test's
    transaction, which the harness binds every session to)."""
    app = create_app(
        config,
        instance_path=str(tmp_path / f"instance-{uuid.uuid4().hex[:6]}"),
        SQLALCHEMY_DATABASE_URI=database_url,
        **settings,
    )
    app.test_client_class = PortalClient
    return app


def client_of(app, address: str = "127.0.0.1") -> PortalClient:
    c = app.test_client()
    c.environ_base["REMOTE_ADDR"] = address
    return c


def fail_sign_in(client, n: int, **kwargs):
    """A failed sign-in with an unknown identifier of its own (so no identifier is locked:
    only the per-address limit counts)."""
    return client.post_form(
        "/login", {"identifier": f"1300{n:07d}", "password": WRONG}, **kwargs
    ).status_code


def unique_address() -> str:
    """An address no other test, run or worker uses, so shared Redis counters never mix."""
    return f"2001:db8::{uuid.uuid4().hex[:4]}:{uuid.uuid4().hex[:4]}"


@pytest.fixture(scope="module")
def migrated_database(tmp_path_factory, worker_id):
    """A database of its own, migrated to head and committed, for other processes."""
    base = os.environ.get("TEST_DATABASE_URL")
    folder = tmp_path_factory.mktemp("deploy")
    url = _postgres_url(base, f"deploy_{worker_id}") if base else f"sqlite:///{folder / 'p.db'}"
    saved = (limiter._storage, limiter._limiter, limiter._key_prefix)
    app = create_app(TestConfig, instance_path=str(folder / "i"), SQLALCHEMY_DATABASE_URI=url)
    limiter._storage, limiter._limiter, limiter._key_prefix = saved
    with app.app_context():
        upgrade()
        _db.engine.dispose()
    yield url
    if base:
        _drop_postgres(base, url)


def redis_up() -> bool:
    try:
        return bool(redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping())
    except redis.RedisError:
        return False


@pytest.fixture
def redis_url():
    if not redis_up():
        if os.environ.get("CI"):
            pytest.fail(f"Redis must run for CI at {REDIS_URL}")
        pytest.skip(f"Redis is not running at {REDIS_URL}")
    return REDIS_URL


def portal_env(**values) -> dict:
    """The environment of a portal process: this one's, without any PORTAL_ setting."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PORTAL_")}
    env.update(values)
    return env


# ---------------------------------------------------------------- readiness


def test_readyz_answers_200_when_every_part_is_ready(client):
    resp = client.get("/readyz")
    assert resp.status_code == 200
    assert resp.json == {
        "status": "ok",
        "checks": {"database": "ok", "schema": "ok", "redis": "not configured", "storage": "ok"},
    }
    assert resp.headers["Cache-Control"] == "no-store"


@pytest.mark.no_transaction
def test_readyz_answers_503_while_the_schema_is_behind(tmp_path, worker_id):
    base = os.environ.get("TEST_DATABASE_URL")
    url = _postgres_url(base, f"empty_{worker_id}") if base else f"sqlite:///{tmp_path / 'e.db'}"
    app = another_app(tmp_path, url)
    try:
        resp = app.test_client().get("/readyz")
        assert resp.status_code == 503
        assert resp.json["status"] == "unavailable"
        assert resp.json["checks"]["database"] == "ok"
        assert resp.json["checks"]["schema"] == "behind"
        with app.app_context():
            upgrade()
            _db.session.remove()
        assert app.test_client().get("/readyz").status_code == 200
        with app.app_context():  # a revision this code does not know: newer code upgraded it
            _db.session.execute(sa.text("UPDATE alembic_version SET version_num = 'f00dfeedbeef'"))
            _db.session.commit()
        resp = app.test_client().get("/readyz")
        assert resp.status_code == 503
        assert resp.json["checks"]["schema"] == "ahead"
    finally:
        with app.app_context():
            _db.session.remove()
            _db.engine.dispose()
        if base:
            _drop_postgres(base, url)


def test_readyz_answers_503_when_redis_is_configured_but_unreachable(tmp_path, database_url):
    app = another_app(tmp_path, database_url, REDIS_URL="redis://127.0.0.1:1/0")
    resp = app.test_client().get("/readyz")
    assert resp.status_code == 503
    assert resp.json["checks"] == {
        "database": "ok",
        "schema": "ok",
        "redis": "unavailable",
        "storage": "ok",
    }


def test_readyz_answers_503_when_the_upload_folder_cannot_be_written(tmp_path, database_url):
    not_a_folder = tmp_path / "uploads"
    not_a_folder.write_text("a file where the folder should be")
    app = another_app(tmp_path, database_url, UPLOAD_FOLDER=str(not_a_folder))
    resp = app.test_client().get("/readyz")
    assert resp.status_code == 503
    assert resp.json["checks"]["storage"] == "unavailable"
    assert resp.json["checks"]["database"] == "ok"


# ---------------------------------------------------------------- logs


@pytest.fixture
def log_lines(caplog):
    """The JSON lines the portal writes, read back as dicts."""
    caplog.set_level(logging.INFO)
    buffer = io.StringIO()
    handler = make_handler(buffer)
    logging.getLogger().addHandler(handler)

    def read() -> list[dict]:
        return [json.loads(line) for line in buffer.getvalue().splitlines()]

    read.text = buffer.getvalue  # type: ignore[attr-defined]
    yield read
    logging.getLogger().removeHandler(handler)


def test_log_lines_carry_the_request_id_and_never_the_id_number(client, app, log_lines):
    resident = ResidentFactory()
    assert sign_in(client, resident.id_number).status_code == 302  # by ID number
    resp = client.get("/me", headers={"X-Request-ID": "trace-0001-from-nginx"})
    assert resp.status_code == 200
    assert resp.headers["X-Request-ID"] == "trace-0001-from-nginx"
    # a path holding the number (a mistyped link) and a careless log call
    assert client.get(f"/residents/{resident.id_number}").status_code == 404
    with app.test_request_context(headers={"X-Request-ID": "trace-0002-careless"}):
        app.preprocess_request()
        logging.getLogger("portal.test").warning(
            "looked up %s", resident.id_number, extra={"password": WRONG}
        )

    lines = log_lines()
    requests = [line for line in lines if line["logger"] == "portal.request"]
    assert all(line["request_id"] for line in requests)
    assert len({line["request_id"] for line in requests}) == len(requests)  # one per request
    me = next(line for line in requests if line["path"] == "/me")
    assert me["request_id"] == "trace-0001-from-nginx"
    assert me["user_id"] == resident.id
    assert me["route"] == "/me"
    assert me["status"] == 200
    login = next(line for line in requests if line["path"] == "/login" and line["method"] == "POST")
    assert login["user_id"] == resident.id
    careless = next(line for line in lines if line["logger"] == "portal.test")
    assert careless["request_id"] == "trace-0002-careless"
    masked = f"{resident.id_number[:4]}{'*' * 10}{resident.id_number[-4:]}"
    assert careless["message"] == f"looked up {masked}"
    assert careless["password"] == "[redacted]"
    text = log_lines.text()
    assert resident.id_number not in text
    assert resident.mobile not in text
    assert WRONG not in text


def test_api_request_lines_name_the_token_holder(client, log_lines):
    resident = ResidentFactory()
    resp = client.post(
        "/api/v1/auth/token", json={"identifier": resident.id_number, "password": PASSWORD}
    )
    assert resp.status_code == 201
    me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {resp.json['access_token']}"})
    assert me.status_code == 200
    line = next(x for x in log_lines() if x.get("path") == "/api/v1/me")
    assert line["user_id"] == resident.id
    assert line["request_id"] == me.headers["X-Request-ID"]
    assert resident.id_number not in log_lines.text()


def test_a_request_id_that_is_not_sane_is_replaced(client):
    resp = client.get("/privacy", headers={"X-Request-ID": 'x" onload=alert(1)'})
    new = resp.headers["X-Request-ID"]
    assert new != 'x" onload=alert(1)'
    assert len(new) == 32
    assert set(new) <= set("0123456789abcdef")
    assert client.get("/privacy").headers["X-Request-ID"] != new


# ---------------------------------------------------------------- gunicorn


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url: str, headers: dict | None = None):
    req = urllib.request.Request(url, headers=headers or {})  # noqa: S310 - a local URL
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:  # noqa: S310
            return resp.status, dict(resp.headers), json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), json.loads(exc.read())


@pytest.mark.no_transaction
def test_gunicorn_serves_the_app(tmp_path, migrated_database):
    port = free_port()
    env = portal_env(
        PORTAL_ENV="development",
        PORTAL_INSTANCE_PATH=str(tmp_path / "instance"),
        PORTAL_DATABASE_URL=migrated_database,
        PORTAL_BIND=f"127.0.0.1:{port}",
        PORTAL_WORKERS="2",
    )
    out, err = (tmp_path / "stdout").open("w+"), (tmp_path / "stderr").open("w+")
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"],
        cwd=ROOT,
        env=env,
        stdout=out,
        stderr=err,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert server.poll() is None, (tmp_path / "stderr").read_text()
            try:
                status, _, health = get(f"{base}/healthz")
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        assert (status, health) == (200, {"status": "ok", "database": "ok"})
        status, headers, ready = get(f"{base}/readyz", {"X-Request-ID": "probe-from-the-lb"})
        assert status == 200, ready
        assert ready["checks"]["schema"] == "ok"
        assert headers["X-Request-ID"] == "probe-from-the-lb"
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:  # pragma: no cover - a hung server
            server.kill()
            server.wait()
    assert server.returncode == 0
    errors = [json.loads(line) for line in (tmp_path / "stderr").read_text().splitlines()]
    assert sum("Booting worker" in line["message"] for line in errors) == 2
    access = [json.loads(line) for line in (tmp_path / "stdout").read_text().splitlines()]
    probe = next(line for line in access if line["path"] == "/readyz")
    assert probe["status"] == 200
    assert probe["request_id"] == "probe-from-the-lb"


# ---------------------------------------------------------------- Redis and proxies


class RedisDevelopmentConfig(DevelopmentConfig):
    """The production path for the limiter's storage (REDIS_URL, no explicit storage URI),
    with the suite's keys and fast hashing."""

    TESTING = True
    SECRET_KEY = TestConfig.SECRET_KEY
    DATA_KEY = TestConfig.DATA_KEY
    ARGON2_TIME_COST = TestConfig.ARGON2_TIME_COST
    ARGON2_MEMORY_COST = TestConfig.ARGON2_MEMORY_COST
    SERVER_NAME = TestConfig.SERVER_NAME
    JOBS_EAGER = True


def test_instances_share_the_sign_in_rate_limit_through_redis(
    tmp_path, database_url, migrated_database, redis_url
):
    address = unique_address()
    first = another_app(tmp_path, database_url, RedisDevelopmentConfig, REDIS_URL=redis_url)
    assert first.config["RATELIMIT_STORAGE_URI"] == redis_url
    a = client_of(first, address)
    assert [fail_sign_in(a, n) for n in range(5)] == [401] * 5
    # A second instance: had the counters been in this process's memory, it would start
    # again from nothing, and so would the first one, which now uses the same limiter.
    second = another_app(tmp_path, database_url, RedisDevelopmentConfig, REDIS_URL=redis_url)
    b = client_of(second, address)
    assert [fail_sign_in(b, n) for n in range(5, 10)] == [401] * 5
    assert fail_sign_in(a, 10) == 429
    assert fail_sign_in(b, 11) == 429
    assert fail_sign_in(client_of(second, unique_address()), 12) == 401  # another address

    # A third instance in a process of its own, set up from PORTAL_REDIS_URL alone.
    script = (
        "import sys\n"
        "from portal import create_app\n"
        "from portal.extensions import limiter\n"
        "from tests.conftest import PortalClient\n"
        "app = create_app()\n"
        "app.test_client_class = PortalClient\n"
        "c = app.test_client()\n"
        "c.environ_base['REMOTE_ADDR'] = sys.argv[1]\n"
        "r = c.post_form('/login', {'identifier': '13000000012', 'password': 'x' * 12})\n"
        "print(type(limiter.storage).__name__, r.status_code)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, address],
        cwd=ROOT,
        env=portal_env(
            PORTAL_ENV="development",
            PORTAL_INSTANCE_PATH=str(tmp_path / "third"),
            PORTAL_DATABASE_URL=migrated_database,
            PORTAL_REDIS_URL=redis_url,
        ),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[-2:] == ["RedisStorage", "429"]


def test_behind_one_proxy_the_forwarded_address_is_the_client(tmp_path, database_url, db):
    app = another_app(tmp_path, database_url, PROXY_HOPS=1)
    proxy = client_of(app, "127.0.0.1")  # nginx on the same machine

    def attempt(n: int, forwarded: str) -> int:
        return fail_sign_in(proxy, n, headers={"X-Forwarded-For": forwarded})

    # Whatever the client itself claims comes first; nginx appends the address it saw.
    assert [attempt(n, f"10.0.0.{n}, 203.0.113.7") for n in range(10)] == [401] * 10
    assert attempt(10, "203.0.113.7") == 429
    assert attempt(11, "203.0.113.8") == 401  # another client behind the same proxy
    last = db.session.scalars(
        sa.select(AuditEvent).where(AuditEvent.event == "auth.login").order_by(AuditEvent.id.desc())
    ).first()
    assert last.ip == "203.0.113.8"


def test_without_proxy_hops_a_forwarded_address_is_ignored(client, db):
    fail_sign_in(client, 1, headers={"X-Forwarded-For": "203.0.113.9"})
    last = db.session.scalars(
        sa.select(AuditEvent).where(AuditEvent.event == "auth.login").order_by(AuditEvent.id.desc())
    ).first()
    assert last.ip == "127.0.0.1"


def test_a_rotated_secret_key_keeps_people_signed_in_through_its_fallback(
    tmp_path, database_url, resident
):
    old, new = "old-secret-key-0123456789abcdef", "new-secret-key-fedcba9876543210"
    before = client_of(another_app(tmp_path, database_url, SECRET_KEY=old))
    assert sign_in(before, resident.mobile).status_code == 302
    cookie = before.get_cookie("portal_session", domain="portal.test").value

    def me(**settings):
        browser = client_of(another_app(tmp_path, database_url, SECRET_KEY=new, **settings))
        browser.set_cookie("portal_session", cookie, domain="portal.test")
        return browser.get("/me")

    assert me(SECRET_KEY_FALLBACKS=[old]).status_code == 200
    resp = me()  # no fallback: the old cookie is not accepted
    assert resp.status_code == 302
    assert resp.headers["Location"].startswith("/login")


# ---------------------------------------------------------------- upload storage


def test_local_storage_keeps_files_private_and_refuses_paths(tmp_path):
    storage = LocalStorage(tmp_path / "uploads")
    assert isinstance(storage, Storage)
    storage.save("0a1b.pdf", PDF)
    assert storage.exists("0a1b.pdf")
    with storage.open("0a1b.pdf") as fh:
        assert fh.read() == PDF
    assert (tmp_path / "uploads" / "0a1b.pdf").stat().st_mode & 0o777 == 0o600
    assert [p.name for p in (tmp_path / "uploads").iterdir()] == ["0a1b.pdf"]  # no leftovers
    storage.delete("0a1b.pdf")
    storage.delete("0a1b.pdf")  # already gone: no error
    assert not storage.exists("0a1b.pdf")
    with pytest.raises(FileNotFoundError):
        storage.open("0a1b.pdf")
    for bad in ("../secret_key", "a/b.pdf", "..", ".hidden", ""):
        with pytest.raises(ValueError, match="not a storage name"):
            storage.save(bad, PDF)


@pytest.fixture
def s3(monkeypatch):
    """An in-process S3 (moto), with a bucket."""
    from moto import mock_aws

    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        import boto3

        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket="portal-uploads")
        yield client


def keys(s3, prefix: str = "") -> list[str]:
    listed = s3.list_objects_v2(Bucket="portal-uploads", Prefix=prefix)
    return [o["Key"] for o in listed.get("Contents", [])]


def test_s3_storage_saves_reads_back_and_deletes(s3):
    storage = S3Storage("portal-uploads", "uploads/", region="us-east-1")
    assert isinstance(storage, Storage)
    assert not storage.exists("0a1b.pdf")
    storage.save("0a1b.pdf", PDF)
    assert keys(s3) == ["uploads/0a1b.pdf"]
    assert storage.exists("0a1b.pdf")
    assert storage.open("0a1b.pdf").read() == PDF
    storage.delete("0a1b.pdf")
    assert keys(s3) == []
    assert not storage.exists("0a1b.pdf")
    with pytest.raises(FileNotFoundError):
        storage.open("0a1b.pdf")
    with pytest.raises(ValueError, match="not a storage name"):
        storage.save("../elsewhere.pdf", PDF)


def test_s3_storage_asks_for_server_side_encryption_when_set(s3):
    storage = S3Storage(
        "portal-uploads", "enc/", region="us-east-1", server_side_encryption="AES256"
    )
    storage.save("0a1b.pdf", PDF)
    head = s3.head_object(Bucket="portal-uploads", Key="enc/0a1b.pdf")
    assert head["ServerSideEncryption"] == "AES256"


def test_a_document_goes_up_and_down_through_s3(tmp_path, database_url, db, s3):
    local = tmp_path / "local-uploads"
    app = another_app(
        tmp_path,
        database_url,
        STORAGE="s3",
        S3_BUCKET="portal-uploads",
        S3_PREFIX="docs/",
        S3_REGION="us-east-1",
        UPLOAD_FOLDER=str(local),
    )
    resident = ResidentFactory()
    district = DistrictFactory(code="450302")
    application = submit(draft_for(resident, district), resident)
    check = next(
        c for c in verification.checks_of(application) if c.department is Department.PUBLIC_SECURITY
    )
    reviewer = make_staff(Role.REVIEWER, department=Department.PUBLIC_SECURITY)
    req = services.request_supplement(
        application, reviewer, document="户口簿", reason="无户籍记录", check=check
    )
    browser = client_of(app)
    assert sign_in(browser, resident.mobile).status_code == 302
    resp = browser.post(
        f"/applications/{application.id}/supplements/{req.id}",
        data={"csrf_token": browser.csrf_token(), "file": (io.BytesIO(PDF), "户口簿.pdf")},
        content_type="multipart/form-data",
    )
    assert resp.status_code == 302
    db.session.expire_all()
    upload = db.session.get(Upload, db.session.get(SupplementRequest, req.id).upload_id)
    assert keys(s3) == [f"docs/{upload.storage_name}"]
    assert not local.exists() or not any(local.iterdir())  # nothing on this server's disk

    resp = browser.get(f"/uploads/{upload.id}")
    assert resp.status_code == 200
    assert resp.data == PDF
    assert resp.mimetype == "application/pdf"
    assert resp.headers["Content-Length"] == str(len(PDF))
    assert resp.headers["Content-Disposition"].startswith("attachment")
    assert "filename*=UTF-8''%E6%88%B7%E5%8F%A3%E7%B0%BF.pdf" in resp.headers["Content-Disposition"]
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert resp.headers["Content-Security-Policy"] == "default-src 'none'; sandbox"
    assert resp.headers["Cache-Control"] == "no-store"
    with app.app_context():
        assert isinstance(get_storage(), S3Storage)


def test_the_default_storage_is_the_local_upload_folder(app):
    storage = get_storage(app)
    assert isinstance(storage, LocalStorage)
    assert storage.folder == Path(app.instance_path) / "uploads"
