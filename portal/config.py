"""Settings: defaults in classes, secrets and URLs from ``PORTAL_*`` environment variables."""

from __future__ import annotations

import os
import secrets
from datetime import timedelta
from pathlib import Path
from typing import ClassVar


def _env(name: str, default: str | None = None) -> str | None:
    return os.environ.get(f"PORTAL_{name}", default)


def _env_bool(name: str, default: bool) -> bool:
    value = _env(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def instance_secret(instance_path: str, filename: str, nbytes: int = 32) -> str:
    """Read a secret kept in ``instance/``, creating it on first run.

    A fresh install must never run with a secret shipped in the code, and an operator who
    gives no secret should not have to invent one: the file is made once, readable only by
    the owner, and kept across restarts so sessions and encrypted data stay valid.
    """
    path = Path(instance_path) / filename
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_urlsafe(nbytes))
    return path.read_text().strip()


class Config:
    """Production-safe defaults. Everything an operator changes comes from the environment."""

    TESTING = False
    SECRET_KEY: str | None = _env("SECRET_KEY")
    # While rotating PORTAL_SECRET_KEY: the old key(s), comma-separated, still accepted for
    # the cookies signed before (docs/deployment.md); empty again once they have expired.
    SECRET_KEY_FALLBACKS: ClassVar[list[str]] = [
        k.strip() for k in (_env("SECRET_KEY_FALLBACKS") or "").split(",") if k.strip()
    ]
    # Master key for personal data (AES-GCM) and its blind index, base64 or any long string.
    DATA_KEY: str | None = _env("DATA_KEY")
    SQLALCHEMY_DATABASE_URI: str | None = _env("DATABASE_URL")
    SQLALCHEMY_ENGINE_OPTIONS: ClassVar[dict] = {"pool_pre_ping": True}
    REDIS_URL: str | None = _env("REDIS_URL")

    # Cookies and sessions (SECURITY.md A5)
    SESSION_COOKIE_NAME = "portal_session"
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    SESSION_COOKIE_SECURE = _env_bool("SECURE_COOKIES", True)
    PERMANENT_SESSION_LIFETIME = timedelta(hours=12)
    IDLE_TIMEOUT_STAFF = timedelta(minutes=15)
    IDLE_TIMEOUT_RESIDENT = timedelta(minutes=30)
    REMEMBER_COOKIE_DURATION = timedelta(0)
    HSTS = _env_bool("HSTS", True)

    # Sign-in throttling (SECURITY.md A3)
    LOGIN_MAX_FAILURES = 5
    LOGIN_LOCK_MINUTES = 15
    # per client address; raise it where a whole office signs in through one NAT address
    LOGIN_RATE_LIMIT = _env("LOGIN_RATE_LIMIT", "10 per 5 minutes")
    RATELIMIT_HEADERS_ENABLED = True
    # one prefix per portal, so portals sharing a Redis never share counters
    RATELIMIT_KEY_PREFIX = _env("RATELIMIT_KEY_PREFIX", "portal")
    RATELIMIT_STRATEGY = "moving-window"

    # Password hashing (SECURITY.md A2): argon2id, RFC 9106 / OWASP second choice or stronger
    ARGON2_TIME_COST = 3
    ARGON2_MEMORY_COST = 65536  # KiB
    ARGON2_PARALLELISM = 1

    MAX_CONTENT_LENGTH = 10 * 1024 * 1024 + 64 * 1024  # 10 MiB uploads plus form fields
    WTF_CSRF_TIME_LIMIT = None  # the token lives as long as the server-side session
    BABEL_DEFAULT_LOCALE = "zh_Hans_CN"
    BABEL_DEFAULT_TIMEZONE = "Asia/Shanghai"
    LANGUAGES = ("zh_Hans_CN", "en")
    CITY_NAME = _env("CITY_NAME", "桂林市")
    CITY_CODE = _env("CITY_CODE", "GL")  # prefix of application references

    # Department data (并联审核): "embedded" registry tables, or "http" for a data-sharing
    # platform at DATA_PLATFORM_URL (bearer DATA_PLATFORM_TOKEN).
    DEPARTMENT_BACKEND = _env("DEPARTMENT_BACKEND", "embedded")
    DATA_PLATFORM_URL = _env("DATA_PLATFORM_URL")
    DATA_PLATFORM_TOKEN = _env("DATA_PLATFORM_TOKEN")
    DEPARTMENT_TIMEOUT_SECONDS = float(_env("DEPARTMENT_TIMEOUT_SECONDS", "8") or 8)
    UPLOAD_FOLDER = _env("UPLOAD_FOLDER")  # default: instance/uploads
    # Where uploads are kept: "local" (UPLOAD_FOLDER) or "s3", any S3-compatible store
    # (MinIO, Aliyun OSS, Tencent COS, AWS); see docs/deployment.md and requirements-s3.txt.
    STORAGE = _env("STORAGE", "local")
    S3_BUCKET = _env("S3_BUCKET")
    S3_PREFIX = _env("S3_PREFIX", "uploads/")
    S3_ENDPOINT_URL = _env("S3_ENDPOINT_URL")  # none: AWS itself
    S3_REGION = _env("S3_REGION")
    # none: boto3's usual sources (AWS_* variables, ~/.aws, an instance role)
    S3_ACCESS_KEY_ID = _env("S3_ACCESS_KEY_ID")
    S3_SECRET_ACCESS_KEY = _env("S3_SECRET_ACCESS_KEY")
    S3_ADDRESSING_STYLE = _env("S3_ADDRESSING_STYLE", "auto")  # "path" (MinIO), "virtual" (OSS)
    S3_SERVER_SIDE_ENCRYPTION = _env("S3_SERVER_SIDE_ENCRYPTION")  # e.g. AES256
    # Logs: one JSON object per line on stderr (0: plain text lines), at this level and above
    LOG_JSON = _env_bool("LOG_JSON", True)
    LOG_LEVEL = (_env("LOG_LEVEL", "INFO") or "INFO").upper()
    SMTP_HOST = _env("SMTP_HOST")
    SMTP_PORT = int(_env("SMTP_PORT", "587") or 587)
    SMTP_USER = _env("SMTP_USER")
    SMTP_PASSWORD = _env("SMTP_PASSWORD")
    MAIL_FROM = _env("MAIL_FROM", "noreply@localhost")

    # Background jobs (docs/jobs.md). With REDIS_URL they go to Celery workers once the
    # request commits; without it, or with JOBS_EAGER, they run at once in the process.
    JOBS_EAGER = _env_bool("JOBS_EAGER", False)
    JOBS_QUEUE = _env("JOBS_QUEUE", "portal")  # Celery queue; one per portal sharing a Redis
    JOBS_MAX_ATTEMPTS = int(_env("JOBS_MAX_ATTEMPTS", "5") or 5)  # per job and period

    API_TITLE = "Public rental housing portal API"
    API_VERSION = "v1"
    OPENAPI_VERSION = "3.0.3"
    OPENAPI_URL_PREFIX = "/api/v1"
    OPENAPI_JSON_PATH = "openapi.json"
    API_TOKEN_HOURS = 12


class DevelopmentConfig(Config):
    """``make run``: local HTTP, so cookies cannot be Secure."""

    SESSION_COOKIE_SECURE = _env_bool("SECURE_COOKIES", False)
    HSTS = False


class TestConfig(Config):
    """Fast hashing and a throwaway database; everything else as in production."""

    TESTING = True
    SECRET_KEY = "test-secret-key-not-for-production"  # noqa: S105
    DATA_KEY = "test-data-key-not-for-production"
    # tests/conftest.py sets the database: a file per run, or TEST_DATABASE_URL
    SESSION_COOKIE_SECURE = False
    HSTS = False
    ARGON2_TIME_COST = 2  # SECURITY.md A2 minimum, with the minimum memory, to keep tests fast
    ARGON2_MEMORY_COST = 19456
    RATELIMIT_STORAGE_URI = "memory://"
    SERVER_NAME = "portal.test"
    # a developer's PORTAL_REDIS_URL must not send the suite's jobs to a broker
    JOBS_EAGER = _env_bool("JOBS_EAGER", True)


CONFIGS = {"production": Config, "development": DevelopmentConfig, "test": TestConfig}
