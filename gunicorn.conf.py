"""Gunicorn settings for the portal: ``gunicorn -c gunicorn.conf.py wsgi:app``.

Every value can be changed from the environment (the systemd unit reads
/etc/portal/portal.env); see docs/deployment.md for sizing.

| variable | meaning | default |
|---|---|---|
| PORTAL_BIND | address:port (or unix:/path) to listen on | 127.0.0.1:8000 |
| PORTAL_WORKERS | worker processes | 2 x cores + 1, at most 8 |
| PORTAL_THREADS | threads per worker | 2 |
| PORTAL_TIMEOUT | seconds before a silent worker is restarted | 60 |
| PORTAL_FORWARDED_ALLOW_IPS | proxies whose X-Forwarded-Proto is believed | 127.0.0.1,::1 |
| PORTAL_ACCESS_LOG | access log file, "-" for stdout, "off" for none | - |
| PORTAL_LOG_LEVEL | gunicorn's own log level | info |
| PORTAL_CONTROL_SOCKET | gunicornc's control socket, e.g. /run/portal/gunicorn.ctl | none (off) |
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime

from gunicorn.glogging import Logger

from portal.core.logging import PortalJsonFormatter, redact


def _int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    return int(value) if value else default


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))  # the cores this process may use (containers)
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


bind = os.environ.get("PORTAL_BIND", "127.0.0.1:8000").split(",")
# Each worker holds its own database pool; a sign-in hashes with 64 MiB (argon2id), so more
# workers than this only add memory and database connections on a small server.
workers = _int("PORTAL_WORKERS", min(2 * _cores() + 1, 8))
threads = _int("PORTAL_THREADS", 2)  # more than 1: gunicorn's gthread worker
timeout = _int("PORTAL_TIMEOUT", 60)  # department checks have their own 8 s deadline
graceful_timeout = _int("PORTAL_GRACEFUL_TIMEOUT", 30)
keepalive = 5
# Restart workers now and then, so that a slow leak never grows without bound.
max_requests = _int("PORTAL_MAX_REQUESTS", 2000)
max_requests_jitter = max_requests // 10
# nginx in front sets X-Forwarded-Proto; only these addresses are believed. The client's
# address itself is taken by the app (PORTAL_PROXY_HOPS, Werkzeug's ProxyFix).
forwarded_allow_ips = os.environ.get("PORTAL_FORWARDED_ALLOW_IPS", "127.0.0.1,::1")
proc_name = "portal"
# The workers' heartbeat files (made with mkstemp) on tmpfs, never on a slow disk.
SHM = "/dev/shm"  # noqa: S108
if os.path.isdir(SHM):
    worker_tmp_dir = SHM

# gunicornc's control socket only where asked for: two servers on one machine (or a test
# beside a running server) must not fight over one default path in $HOME.
control_socket = os.environ.get("PORTAL_CONTROL_SOCKET", "")
control_socket_disable = not control_socket

_access = os.environ.get("PORTAL_ACCESS_LOG", "-")
accesslog = None if _access.lower() in {"", "off", "none"} else _access
errorlog = "-"
loglevel = os.environ.get("PORTAL_LOG_LEVEL", "info").lower()


class JsonLogger(Logger):
    """Gunicorn's error and access logs as JSON lines, like the portal's own.

    An access line holds the time, client, method, path (never the query string), status,
    bytes, duration and the request id the portal echoed; ID and mobile numbers in a path
    are masked like everywhere else."""

    def setup(self, cfg) -> None:
        super().setup(cfg)
        for handler in self.error_log.handlers:
            handler.setFormatter(PortalJsonFormatter())

    def access(self, resp, req, environ, request_time) -> None:
        if not self.access_log_enabled:
            return
        status = resp.status.split(None, 1)[0] if isinstance(resp.status, str) else resp.status
        headers = {k.lower(): v for k, v in resp.headers}
        line = {
            "time": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "level": "INFO",
            "logger": "gunicorn.access",
            "client": environ.get("REMOTE_ADDR", "-"),
            "method": environ.get("REQUEST_METHOD"),
            "path": environ.get("PATH_INFO"),
            "protocol": environ.get("SERVER_PROTOCOL"),
            "status": int(status),
            "bytes": getattr(resp, "sent", None),
            "duration_ms": round(request_time.total_seconds() * 1000, 1),
            "request_id": headers.get("x-request-id"),
            "user_agent": environ.get("HTTP_USER_AGENT"),
        }
        try:
            self.access_log.info(redact(json.dumps(line, ensure_ascii=False)))
        except Exception:
            self.exception("access log line failed")


logger_class = JsonLogger
