"""Browser tests: the portal runs as a real server process (SQLite in a temporary folder,
migrated, demo city loaded) and Debian's headless Chromium is driven by Playwright."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "e2e-artifacts"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def server(tmp_path_factory):
    """Base URL of a running portal, and its demo credentials."""
    inst = tmp_path_factory.mktemp("e2e-instance")
    env = {
        **os.environ,
        "FLASK_APP": "wsgi.py",
        "PORTAL_ENV": "development",
        "PORTAL_INSTANCE_PATH": str(inst),
        "PORTAL_DATABASE_URL": f"sqlite:///{inst / 'portal.db'}",
        # every browser of the journeys signs in from 127.0.0.1
        "PORTAL_LOGIN_RATE_LIMIT": "200 per 5 minutes",
    }
    env.pop("TEST_DATABASE_URL", None)
    flask = [sys.executable, "-m", "flask"]
    subprocess.run([*flask, "db", "upgrade"], cwd=ROOT, env=env, check=True, capture_output=True)
    subprocess.run([*flask, "portal", "demo"], cwd=ROOT, env=env, check=True, capture_output=True)
    port = _free_port()
    log = (inst / "server.log").open("w")
    proc = subprocess.Popen(
        [*flask, "run", "--host", "127.0.0.1", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            with urllib.request.urlopen(f"{base}/healthz", timeout=1) as resp:  # noqa: S310
                if resp.status == 200:
                    break
        except OSError:
            time.sleep(0.1)
    else:
        proc.terminate()
        pytest.fail("the portal did not start: " + (inst / "server.log").read_text())
    creds = json.loads((inst / "demo-accounts.json").read_text())
    yield {"url": base, "creds": creds, "instance": inst, "totp": _totp_codes(creds)}
    proc.terminate()
    proc.wait(timeout=10)


def _totp_codes(creds: dict):
    """``code(username)``: a fresh authenticator code for a demo staff account.

    The portal accepts each code once, so two sign-ins of one account in the same 30 seconds
    need different codes: each call takes the next time step not used yet (the portal allows
    one step of clock drift), and waits for a new step only when both are spent.
    """
    import pyotp

    used: dict[str, int] = {}

    def code(username: str) -> str:
        totp = pyotp.TOTP(creds["totp"][username])
        while True:
            now = int(time.time()) // 30
            step = max(now, used.get(username, now - 1) + 1)
            if step <= now + 1:
                used[username] = step
                return totp.at(step * 30)
            time.sleep(1)

    return code


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail("Chromium is not installed: apt-get install chromium chromium-driver")
    with sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        yield b
        b.close()


@pytest.fixture
def new_page(browser, request):
    """``new_page(locale=..., phone=False)``: a fresh browser context; screenshots on failure."""
    contexts = []

    def make(locale: str = "zh-CN", phone: bool = False):
        size = {"width": 390, "height": 844} if phone else {"width": 1280, "height": 900}
        ctx = browser.new_context(locale=locale, viewport=size)
        contexts.append(ctx)
        return ctx.new_page()

    yield make
    failed = getattr(request.node, "rep_call", None) is not None and request.node.rep_call.failed
    for i, ctx in enumerate(contexts):
        if failed:
            ARTIFACTS.mkdir(exist_ok=True)
            for j, page in enumerate(ctx.pages):
                page.screenshot(
                    path=str(ARTIFACTS / f"{request.node.name}-{i}-{j}.png"), full_page=True
                )
        ctx.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, f"rep_{rep.when}", rep)


@pytest.fixture(autouse=True)
def _isolated():
    """Browser tests talk to a server process with its own database: no test transaction."""
    return


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/e2e/" in str(item.fspath):
            item.add_marker(pytest.mark.e2e)
