"""Security headers on every response (C5), no inline script, CSRF on every cookie-
authenticated state change and GET never changing state (C3), and the session cookie's
attributes (A5)."""

from __future__ import annotations

import re
from datetime import date

import pytest
import sqlalchemy as sa
from flask import url_for

from portal import create_app
from portal.accounts.models import User
from portal.accounts.roles import Role
from portal.accounts.services import find_by_identifier
from portal.config import TestConfig
from portal.core.access import public
from portal.core.identifiers import make_id_number
from tests.conftest import PortalClient
from tests.factories import PASSWORD, ResidentFactory
from tests.factories.fixtures import make_staff, sign_in, sign_in_staff

ANON = "anonymous"
ADMIN = "admin"

# ---------------------------------------------------------------- helpers

GOOD_REFERRER_POLICIES = {
    "no-referrer",
    "same-origin",
    "strict-origin",
    "strict-origin-when-cross-origin",
}


def _csp(resp) -> dict[str, list[str]]:
    directives = {}
    for part in resp.headers.get("Content-Security-Policy", "").split(";"):
        words = part.split()
        if words:
            directives[words[0].lower()] = words[1:]
    return directives


def header_problems(resp, *, static: bool = False) -> list[str]:
    """What is missing from a response's security headers (empty: all good)."""
    problems = []
    csp = _csp(resp)
    if not csp:
        problems.append("no Content-Security-Policy")
    for directive in ("object-src", "base-uri", "frame-ancestors"):
        if csp.get(directive) != ["'none'"]:
            problems.append(f"CSP {directive} is {csp.get(directive)}, not 'none'")
    script_src = csp.get("script-src")
    if script_src is None or "'self'" not in script_src:
        problems.append(f"CSP script-src is {script_src}, without 'self'")
    elif "'unsafe-inline'" in script_src or "'unsafe-eval'" in script_src:
        problems.append(f"CSP script-src allows unsafe sources: {script_src}")
    if resp.headers.get("X-Content-Type-Options") != "nosniff":
        problems.append(f"X-Content-Type-Options is {resp.headers.get('X-Content-Type-Options')}")
    if resp.headers.get("Referrer-Policy") not in GOOD_REFERRER_POLICIES:
        problems.append(f"Referrer-Policy is {resp.headers.get('Referrer-Policy')}")
    if not static and "no-store" not in resp.headers.get("Cache-Control", ""):
        problems.append(f"Cache-Control is {resp.headers.get('Cache-Control')}, not no-store")
    return problems


def _browser(app, who: str):
    c = app.test_client()
    if who == ADMIN:
        sign_in_staff(c, make_staff(Role.ADMIN))
        assert c.get("/account").status_code == 200
    return c


# Values for URL parameters of GET routes; anything else gets "1" (a 404 is fine: its
# headers are checked all the same).
def _param_values(user: User) -> dict[str, object]:
    return {"user_id": user.id, "filename": "css/portal.css", "session_id": 1}


def _get_urls(app, user: User) -> list[tuple[str, str]]:
    """(endpoint, url) of every GET route of the application."""
    values = _param_values(user)
    urls = []
    for rule in app.url_map.iter_rules():
        if "GET" not in rule.methods:
            continue
        args = {name: values.get(name, "1") for name in rule.arguments}
        urls.append((rule.endpoint, url_for(rule.endpoint, **args)))
    return sorted(set(urls), key=lambda pair: pair[1])


def _fetch_every_page(app, who: str):
    browser = _browser(app, who)
    target = ResidentFactory()
    for endpoint, url in _get_urls(app, target):
        yield endpoint, url, browser.get(url)


# ---------------------------------------------------------------- C5: headers everywhere


@pytest.mark.parametrize("who", [ANON, ADMIN])
def test_every_get_route_sends_security_headers(app, who):
    seen_statuses = set()
    seen_endpoints = set()
    failures = {}
    for endpoint, url, resp in _fetch_every_page(app, who):
        seen_statuses.add(resp.status_code)
        seen_endpoints.add(endpoint)
        problems = header_problems(resp, static=endpoint == "static")
        if "Strict-Transport-Security" in resp.headers:
            problems.append("HSTS sent although the test config turns it off")
        if problems:
            failures[f"{url} ({resp.status_code})"] = problems
    assert failures == {}
    # the loop reached parametrized routes, static files and the API ...
    assert {"public.index", "admin.account", "static", "api_account.me"} <= seen_endpoints
    # ... and more than happy pages
    assert {200, 302} <= seen_statuses
    if who == ADMIN:
        assert {401, 403} <= seen_statuses  # /api/v1/me without token, /audit


@pytest.mark.parametrize(
    ("accept_language", "html_lang", "title"),
    [(None, "zh-Hans", "未找到"), ("en", "en", "Not found")],
)
def test_error_page_has_headers_and_a_localized_body(client, accept_language, html_lang, title):
    headers = {"Accept-Language": accept_language} if accept_language else {}
    resp = client.get("/does-not-exist", headers=headers)
    assert resp.status_code == 404
    assert resp.mimetype == "text/html"
    assert header_problems(resp) == []
    html = resp.get_data(as_text=True)
    assert f'lang="{html_lang}"' in html
    assert f"<h1>{title}</h1>" in html


def test_method_not_allowed_page_has_headers(resident_client):
    resp = resident_client.get("/logout")
    assert resp.status_code == 405
    assert header_problems(resp) == []


def test_server_error_page_has_headers(database_url, tmp_path):
    fresh = create_app(
        TestConfig,
        instance_path=str(tmp_path / "instance"),
        SQLALCHEMY_DATABASE_URI=database_url,
        PROPAGATE_UNEXPECTED=False,
    )

    @public
    def broken():
        raise RuntimeError("boom")

    fresh.add_url_rule("/broken", "broken", broken)
    resp = fresh.test_client().get("/broken")
    assert resp.status_code == 500
    assert header_problems(resp) == []
    assert "boom" not in resp.get_data(as_text=True)


def test_rate_limited_answer_has_headers(client):
    statuses = []
    for i in range(11):
        resp = client.post_form(
            "/login", {"identifier": f"nobody{i}", "password": "wrong-password"}
        )
        statuses.append(resp.status_code)
    assert statuses[:10] == [401] * 10
    assert resp.status_code == 429
    assert int(resp.headers["Retry-After"]) > 0
    assert header_problems(resp) == []


def test_too_large_request_has_headers(client):
    resp = client.post("/login", data={"blob": "a" * (11 * 1024 * 1024)})
    assert resp.status_code == 413
    assert header_problems(resp) == []


def test_api_problem_response_has_headers(client):
    resp = client.get("/api/v1/me")
    assert resp.status_code == 401
    assert resp.mimetype == "application/problem+json"
    assert resp.headers["WWW-Authenticate"].lower().startswith("bearer")
    body = resp.get_json()
    assert body["status"] == 401
    assert body["title"]
    assert header_problems(resp) == []


def test_api_unknown_path_is_a_problem_document(client):
    resp = client.get("/api/v1/no-such-thing")
    assert resp.status_code == 404
    assert resp.mimetype == "application/problem+json"
    assert header_problems(resp) == []


def test_no_hsts_in_test_config(client):
    assert "Strict-Transport-Security" not in client.get("/healthz").headers


def test_hsts_when_configured(database_url, tmp_path):
    fresh = create_app(
        TestConfig,
        instance_path=str(tmp_path / "instance"),
        SQLALCHEMY_DATABASE_URI=database_url,
        HSTS=True,
    )
    c = fresh.test_client()
    for url, status in (("/healthz", 200), ("/does-not-exist", 404)):
        resp = c.get(url)
        assert resp.status_code == status
        hsts = resp.headers.get("Strict-Transport-Security", "")
        m = re.search(r"max-age=(\d+)", hsts)
        assert m, f"no HSTS on {url}"
        assert int(m.group(1)) >= 31536000
        assert header_problems(resp) == []


def test_production_config_turns_hsts_and_secure_cookies_on():
    from portal.config import Config

    assert Config.HSTS is True
    assert Config.SESSION_COOKIE_SECURE is True


# ---------------------------------------------------------------- no inline script

INLINE_SCRIPT = re.compile(r"<script\b(?![^>]*\bsrc\s*=)[^>]*>", re.IGNORECASE)
EVENT_HANDLER = re.compile(r"<[a-z][^>]*\son[a-z]+\s*=", re.IGNORECASE)
JS_URL = re.compile(r"""\b(?:href|src|action|formaction)\s*=\s*["']?\s*javascript:""", re.I)


@pytest.mark.parametrize("who", [ANON, ADMIN])
def test_no_page_has_inline_script(app, who):
    pages = 0
    failures = {}
    for _endpoint, url, resp in _fetch_every_page(app, who):
        if resp.mimetype != "text/html":
            continue
        pages += 1
        html = resp.get_data(as_text=True)
        found = INLINE_SCRIPT.findall(html) + EVENT_HANDLER.findall(html) + JS_URL.findall(html)
        if found:
            failures[url] = found
    assert pages >= 5
    assert failures == {}


@pytest.mark.parametrize(
    "html",
    [
        "<script>alert(1)</script>",
        '<script type="module">x()</script>',
        '<button type="submit" onclick="x()">',
        "<body onload=x()>",
        '<a href="javascript:x()">',
    ],
)
def test_inline_script_patterns_catch_inline_script(html):
    assert INLINE_SCRIPT.search(html) or EVENT_HANDLER.search(html) or JS_URL.search(html)


@pytest.mark.parametrize(
    "html",
    [
        '<script src="/static/js/api-docs.js"></script>',
        '<form method="post" action="/login" class="inline-form">',
        "<p>online=yes</p>",
    ],
)
def test_inline_script_patterns_allow_external_script(html):
    assert not INLINE_SCRIPT.search(html)
    assert not EVENT_HANDLER.search(html)
    assert not JS_URL.search(html)


# ---------------------------------------------------------------- C3: CSRF


def _refused_without_token(browser, url: str, data: dict):
    resp = browser.post(url, data=data)
    assert resp.status_code == 400, resp.get_data(as_text=True)[:300]
    assert header_problems(resp) == []
    return resp


def test_login_needs_the_token(client, resident):
    data = {"identifier": resident.mobile, "password": PASSWORD}
    client.get("/login")
    _refused_without_token(client, "/login", data)
    assert client.get("/me").status_code == 302  # not signed in

    assert client.post_form("/login", data).status_code == 302
    assert client.get("/me").status_code == 200


def test_register_needs_the_token(client, db):
    mobile = "13712345678"
    data = {
        "real_name": "张三丰",
        "id_number": make_id_number("450302", date(1985, 6, 15), 123),
        "mobile": mobile,
        "password": PASSWORD,
        "confirm": PASSWORD,
        "accept_privacy": "y",
    }
    client.get("/register")
    _refused_without_token(client, "/register", data)
    assert find_by_identifier(mobile) is None

    assert client.post_form("/register", data).status_code == 302
    assert find_by_identifier(mobile) is not None


def test_logout_needs_the_token(resident_client):
    _refused_without_token(resident_client, "/logout", {})
    assert resident_client.get("/me").status_code == 200  # still signed in

    assert resident_client.post_form("/logout").status_code == 302
    assert resident_client.get("/me").status_code == 302


def _page_lang(browser) -> str:
    m = re.search(r'<html lang="([^"]+)"', browser.get("/").get_data(as_text=True))
    assert m
    return m.group(1)


def test_language_switch_needs_the_token(client):
    client.get("/")
    resp = _refused_without_token(client, "/locale", {"locale": "en", "next": "/"})
    assert "locale=" not in " ".join(resp.headers.getlist("Set-Cookie"))
    assert _page_lang(client) == "zh-Hans"

    assert client.post_form("/locale", {"locale": "en", "next": "/"}).status_code == 302
    assert _page_lang(client) == "en"


def test_care_mode_needs_the_token(client):
    client.get("/")
    _refused_without_token(client, "/care-mode", {"care_mode": "1"})
    assert 'class="care"' not in client.get("/").get_data(as_text=True)

    assert client.post_form("/care-mode", {"care_mode": "1"}).status_code == 302
    assert 'class="care"' in client.get("/").get_data(as_text=True)


def test_account_preferences_need_the_token(resident_client, resident, db):
    data = {"locale": "en", "care_mode": "y"}
    _refused_without_token(resident_client, "/account", data)
    db.session.expire_all()
    user = db.session.get(User, resident.id)
    assert user.locale != "en"
    assert user.care_mode is False

    assert resident_client.post_form("/account", data).status_code == 302
    db.session.expire_all()
    user = db.session.get(User, resident.id)
    assert user.locale == "en"
    assert user.care_mode is True


def test_password_change_needs_the_token(resident_client, resident, db):
    new = "Lantern-Harbour-Meadow-2027"
    data = {"current": PASSWORD, "password": new, "confirm": new}
    _refused_without_token(resident_client, "/account/password", data)
    assert resident_client.post_form("/logout").status_code == 302
    assert sign_in(resident_client, resident.mobile, new).status_code == 401
    assert sign_in(resident_client, resident.mobile, PASSWORD).status_code == 302

    assert resident_client.post_form("/account/password", data).status_code == 302
    assert resident_client.post_form("/logout").status_code == 302
    assert sign_in(resident_client, resident.mobile, new).status_code == 302


def test_staff_creation_needs_the_token(staff_client, db):
    admin_browser, _admin = staff_client(Role.ADMIN)
    data = {"role": "auditor", "username": "new.auditor", "real_name": "新审计员"}

    def exists() -> bool:
        return (
            db.session.scalar(sa.select(User.id).where(User.username == "new.auditor")) is not None
        )

    _refused_without_token(admin_browser, "/admin/accounts/new", data)
    assert not exists()

    resp = admin_browser.post_form("/admin/accounts/new", data)
    assert resp.status_code == 200, resp.get_data(as_text=True)[:300]
    assert exists()


def test_disabling_needs_the_token(staff_client, db):
    admin_browser, _admin = staff_client(Role.ADMIN)
    target = ResidentFactory()
    url = f"/admin/accounts/{target.id}/disable"

    _refused_without_token(admin_browser, url, {})
    db.session.expire_all()
    assert db.session.get(User, target.id).is_active is True

    assert admin_browser.post_form(url).status_code == 302
    db.session.expire_all()
    assert db.session.get(User, target.id).is_active is False


def test_a_token_from_another_browser_is_refused(app, resident_client):
    stranger = app.test_client()
    foreign_token = stranger.csrf_token()
    resp = resident_client.post("/logout", data={"csrf_token": foreign_token})
    assert resp.status_code == 400
    assert resident_client.get("/me").status_code == 200


@pytest.mark.parametrize("who", [ANON, ADMIN])
def test_every_page_post_route_needs_the_token(app, who):
    """Any route taking POST outside the bearer-token API refuses a POST without token."""
    browser = _browser(app, who)
    target = ResidentFactory()
    values = _param_values(target)
    answers = {}
    for rule in app.url_map.iter_rules():
        if "POST" not in rule.methods or rule.rule.startswith("/api/"):
            continue
        url = url_for(rule.endpoint, **{name: values.get(name, "1") for name in rule.arguments})
        answers[url] = browser.post(url, data={}).status_code
    assert answers
    assert {url: status for url, status in answers.items() if status != 400} == {}
    assert browser.get("/account").status_code == (200 if who == ADMIN else 302)


def test_api_needs_no_csrf_token_and_ignores_the_session_cookie(resident_client, resident):
    # bearer tokens are issued without CSRF token ...
    resp = resident_client.post(
        "/api/v1/auth/token", json={"identifier": resident.mobile, "password": PASSWORD}
    )
    assert resp.status_code == 201
    token = resp.get_json()["access_token"]
    # ... and a signed-in browser's cookie does not authenticate the API
    assert resident_client.get("/me").status_code == 200
    resp = resident_client.get("/api/v1/me")
    assert resp.status_code == 401
    assert resp.mimetype == "application/problem+json"
    resp = resident_client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert resp.status_code == 200
    assert resp.get_json()["role"] == "resident"


# ---------------------------------------------------------------- C3: GET changes nothing


def test_get_logout_is_not_allowed(resident_client):
    resp = resident_client.get("/logout")
    assert resp.status_code == 405
    assert resident_client.get("/me").status_code == 200


def test_get_language_switch_is_not_allowed(client):
    resp = client.get("/locale?locale=en")
    assert resp.status_code == 405
    assert "locale=" not in " ".join(resp.headers.getlist("Set-Cookie"))
    assert _page_lang(client) == "zh-Hans"


def test_get_care_mode_is_not_allowed(client):
    resp = client.get("/care-mode?care_mode=1")
    assert resp.status_code == 405
    assert 'class="care"' not in client.get("/").get_data(as_text=True)


# ---------------------------------------------------------------- A5: cookie attributes


def _set_cookie(resp, name: str) -> list[str]:
    """The attributes (lower case, values kept) of the Set-Cookie header for ``name``."""
    for header in resp.headers.getlist("Set-Cookie"):
        if header.startswith(f"{name}="):
            return [part.strip().lower() for part in header.split(";")[1:]]
    raise AssertionError(f"no Set-Cookie for {name}: {resp.headers.getlist('Set-Cookie')}")


def test_session_cookie_is_httponly_and_lax(app, client, resident):
    resp = sign_in(client, resident.mobile)
    assert resp.status_code == 302
    attrs = _set_cookie(resp, app.config["SESSION_COOKIE_NAME"])
    assert "httponly" in attrs
    assert "samesite=lax" in attrs
    assert "secure" not in attrs  # the test config runs over http


def test_production_cookies_are_secure(database_url, tmp_path):
    prod = create_app(
        "production",
        instance_path=str(tmp_path / "instance"),
        SQLALCHEMY_DATABASE_URI=database_url,
        SECRET_KEY="x" * 32,
        # the test database's personal data is encrypted with the test key
        DATA_KEY=TestConfig.DATA_KEY,
    )
    prod.test_client_class = PortalClient
    assert prod.config["SESSION_COOKIE_SECURE"] is True
    assert prod.config["SESSION_COOKIE_HTTPONLY"] is True
    assert prod.config["SESSION_COOKIE_SAMESITE"] == "Lax"
    assert prod.config["HSTS"] is True

    staff = make_staff(Role.OFFICER)
    browser = prod.test_client()
    resp = sign_in(browser, staff.username)
    assert resp.status_code == 302, resp.get_data(as_text=True)[:300]
    attrs = _set_cookie(resp, prod.config["SESSION_COOKIE_NAME"])
    assert {"secure", "httponly", "samesite=lax"} <= set(attrs)
    assert "Strict-Transport-Security" in resp.headers

    resp = browser.post_form("/locale", {"locale": "en"})
    assert resp.status_code == 302
    assert {"secure", "httponly", "samesite=lax"} <= set(_set_cookie(resp, "locale"))
