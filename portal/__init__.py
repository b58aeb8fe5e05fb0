"""The public rental housing service portal."""

from __future__ import annotations

import os
from pathlib import Path

from flask import Flask

from portal.config import CONFIGS, Config, instance_secret

ROOT = Path(__file__).resolve().parent.parent


def create_app(
    config: type[Config] | str | None = None, *, instance_path: str | None = None, **overrides
) -> Flask:
    """Build the application. ``config`` is a Config class or one of ``production``,
    ``development``, ``test`` (default: ``PORTAL_ENV`` or production); ``overrides`` are
    settings that win over the class."""
    app = Flask(
        __name__,
        instance_path=instance_path
        or os.environ.get("PORTAL_INSTANCE_PATH")
        or str(ROOT / "instance"),
        template_folder=str(ROOT / "templates"),
        static_folder=str(ROOT / "static"),
    )
    configure(app, config, overrides)
    from portal.core import logging as portal_logging
    from portal.core.web import RowId

    app.url_map.converters["int"] = RowId  # before any route: ids past the columns are 404

    portal_logging.init_app(app)  # first, so its request hooks wrap all others
    register_extensions(app)
    register_blueprints(app)
    register_request_hooks(app)
    register_cli(app)
    return app


def configure(app: Flask, config, overrides: dict) -> None:
    if config is None or isinstance(config, str):
        config = CONFIGS[config or os.environ.get("PORTAL_ENV", "production")]
    app.config.from_object(config)
    app.config.update(overrides)
    instance = Path(app.instance_path)
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = instance_secret(app.instance_path, "secret_key")
    if not app.config.get("DATA_KEY"):
        app.config["DATA_KEY"] = instance_secret(app.instance_path, "data_key")
    if not app.config.get("SQLALCHEMY_DATABASE_URI"):
        instance.mkdir(parents=True, exist_ok=True)
        app.config["SQLALCHEMY_DATABASE_URI"] = f"sqlite:///{instance / 'portal.db'}"
    uri = app.config["SQLALCHEMY_DATABASE_URI"]
    if uri.startswith("postgresql://"):  # psycopg 3 is the driver we ship
        app.config["SQLALCHEMY_DATABASE_URI"] = (
            "postgresql+psycopg://" + uri[len("postgresql://") :]
        )
    app.config.setdefault("RATELIMIT_STORAGE_URI", app.config.get("REDIS_URL") or "memory://")
    if app.config.get("PROXY_HOPS") is None:
        app.config["PROXY_HOPS"] = int(os.environ.get("PORTAL_PROXY_HOPS", "0"))


def register_extensions(app: Flask) -> None:
    import portal.models  # noqa: F401 - every table known before anything is used
    from portal import jobs
    from portal.accounts import hashing
    from portal.accounts.sessions import load_session_user
    from portal.core import dbsetup, i18n
    from portal.core.crypto import DataProtector
    from portal.extensions import babel, csrf, db, limiter, login_manager, migrate

    if app.config["PROXY_HOPS"]:
        from werkzeug.middleware.proxy_fix import ProxyFix

        hops = app.config["PROXY_HOPS"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)
    app.extensions["portal.protector"] = DataProtector(app.config["DATA_KEY"])
    db.init_app(app)
    dbsetup.init_app(app)
    migrate.init_app(app, db, directory=str(ROOT / "migrations"))
    csrf.init_app(app)
    babel.init_app(
        app,
        locale_selector=i18n.select_locale,
        default_translation_directories=str(ROOT / "translations"),
    )
    limiter.init_app(app)
    login_manager.init_app(app)
    login_manager.session_protection = None  # our server-side sessions do this job
    login_manager.request_loader(load_session_user)
    login_manager.login_view = "accounts.login"
    hashing.init_app(app)
    i18n.init_app(app)
    jobs.init_app(app)


def register_blueprints(app: Flask) -> None:
    from portal.accounts import reset_views as reset
    from portal.accounts import views as accounts
    from portal.admin import rules
    from portal.admin import views as admin
    from portal.allocation import counter_views as counter
    from portal.allocation import public_views as lottery
    from portal.allocation import resident_views as choose
    from portal.allocation import views as rounds
    from portal.api import init_api
    from portal.applications import staff_views as officer
    from portal.applications import views as applications
    from portal.credit import list_views as credit_lists
    from portal.credit import public_views as credit_public
    from portal.credit import resident_views as my_credit
    from portal.credit import views as credit
    from portal.exports import views as exports
    from portal.housing import views as housing
    from portal.notices import views as notices
    from portal.notifications import views as notifications
    from portal.public import info
    from portal.public import views as public
    from portal.reports import dashboard_views as dashboard
    from portal.reports import views as reports
    from portal.reviews import resident_views as my_reviews
    from portal.reviews import views as reviews
    from portal.staff import views as staff
    from portal.subsidy import resident_views as my_subsidy
    from portal.subsidy import views as subsidy
    from portal.tenancy import resident_views as my_home
    from portal.tenancy import views as tenancy
    from portal.verification import views as review
    from portal.waitlist import views as waitlist

    for module in (
        public,
        accounts,
        reset,
        staff,
        admin,
        rules,
        applications,
        officer,
        review,
        notices,
        notifications,
        exports,
        housing,
        waitlist,
        rounds,
        counter,
        choose,
        lottery,
        credit_public,
        credit_lists,
        credit,
        my_credit,
        subsidy,
        my_subsidy,
        tenancy,
        my_home,
        reviews,
        my_reviews,
        info,
        reports,
        dashboard,
    ):
        app.register_blueprint(module.bp)
    init_api(app)


def register_request_hooks(app: Flask) -> None:
    from portal.core import access, web

    access.register(app)
    web.register(app)


def register_cli(app: Flask) -> None:
    from portal.cli import portal_cli

    app.cli.add_command(portal_cli)
