"""Deny by default (SECURITY.md B2): every route declares who may use it.

A view is decorated with :func:`public`, :func:`signed_in` or :func:`allow`; the check runs
in ``before_request`` for every endpoint, so a route that forgets its declaration is refused
(and a test over the URL map fails) instead of being open.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from flask import Flask, abort, current_app, redirect, request, url_for
from flask_login import current_user

from portal.accounts.roles import Role

ATTR = "portal_access"


@dataclass(frozen=True)
class Access:
    public: bool = False
    roles: frozenset[Role] | None = None  # None: any signed-in account
    # Reachable while a staff member has given the password but not yet the second factor,
    # or still has to change a one-time password.
    before_second_factor: bool = False
    api: bool = False  # bearer-token authentication, no cookies
    scope: str | None = None  # partner clients need this scope


def _declare(access: Access) -> Callable:
    def decorator(view: Callable) -> Callable:
        setattr(view, ATTR, access)
        return view

    return decorator


def public(view: Callable) -> Callable:
    """Anyone, signed in or not."""
    return _declare(Access(public=True))(view)


def signed_in(view: Callable | None = None, *, before_second_factor: bool = False):
    """Any signed-in account."""
    decorator = _declare(Access(before_second_factor=before_second_factor))
    return decorator(view) if view is not None else decorator


def allow(*roles: Role) -> Callable:
    """Only the listed roles."""
    return _declare(Access(roles=frozenset(roles)))


def api_access(*roles: Role, scope: str | None = None, public: bool = False) -> Callable:
    """An API route: bearer tokens only, never cookies.

    Users' tokens need one of ``roles`` (none listed: any user); partner clients' tokens
    need ``scope`` (none given: clients are refused). ``public`` routes need no token.
    """
    return _declare(Access(public=public, roles=frozenset(roles) or None, api=True, scope=scope))


def access_of(view: Callable | None) -> Access | None:
    """The declaration of a view function, or None when it has none."""
    if view is None:
        return None
    found = getattr(view, ATTR, None)
    if found is None and hasattr(view, "view_class"):
        found = getattr(view.view_class, ATTR, None)
    return found


def enforce() -> None:
    """``before_request`` hook: refuse anything the endpoint's declaration does not allow."""
    if request.endpoint is None:
        return None  # 404/405: the error handler answers
    view = current_app.view_functions.get(request.endpoint)
    access = access_of(view)
    if access is None:
        current_app.logger.error("route %s declares no access; refused", request.endpoint)
        abort(403)
    if access.api:
        from portal.api.auth import authenticate_request

        return authenticate_request(access)
    if access.public:
        return None
    if not current_user.is_authenticated:
        return redirect(url_for("accounts.login", next=request.full_path.rstrip("?")))
    from portal.accounts.sessions import current_auth_session

    auth = current_auth_session()
    if not access.before_second_factor and auth is not None and auth.pending_step():
        return redirect(url_for(auth.pending_endpoint()))
    if access.roles is not None and current_user.role not in access.roles:
        from portal.core import audit

        audit.record("access.denied", actor=current_user, result="denied", path=request.path)
        abort(403)
    return None


def declare_public(app: Flask, endpoint: str) -> None:
    """Declare a view registered by Flask or an extension (often a bound method) public."""
    inner = app.view_functions[endpoint]

    def view(*args, **kwargs):
        return inner(*args, **kwargs)

    view.__name__ = endpoint.replace(".", "_")
    app.view_functions[endpoint] = public(view)


def register(app: Flask) -> None:
    app.before_request(enforce)
    declare_public(app, "static")
