"""The JSON API at ``/api/v1`` (flask-smorest): OpenAPI 3 generated from the code."""

from __future__ import annotations

from flask import Flask

from portal.core.access import declare_public
from portal.extensions import api, csrf


def init_api(app: Flask) -> None:
    from portal.allocation import api as allocation_api
    from portal.allocation import choosing_api
    from portal.api import docs, views
    from portal.applications import api as applications_api
    from portal.credit import api as credit_records_api
    from portal.credit import partner_api as credit_api
    from portal.notices import api as notices_api
    from portal.public import api as public_api
    from portal.reports import api as reports_api
    from portal.reports import dashboard_api
    from portal.reviews import api as reviews_api
    from portal.staff import api as staff_api
    from portal.subsidy import api as subsidy_api
    from portal.tenancy import api as tenancy_api
    from portal.verification import api as verification_api
    from portal.waitlist import api as waitlist_api

    app.config.setdefault(
        "API_SPEC_OPTIONS",
        {
            "info": {
                "description": (
                    "API of the public rental housing portal for the city's service app "
                    "and partner agencies. Authenticate with a bearer token from "
                    "`POST /api/v1/auth/token` (residents and staff) or "
                    "`POST /api/v1/auth/client-token` (partner agencies). Errors are "
                    "RFC 9457 problem documents."
                )
            },
            "components": {
                "securitySchemes": {
                    "bearerAuth": {"type": "http", "scheme": "bearer"},
                }
            },
        },
    )
    api.init_app(app)
    every = [
        *views.blueprints,
        *applications_api.blueprints,
        *verification_api.blueprints,
        *notices_api.blueprints,
        *waitlist_api.blueprints,
        *allocation_api.blueprints,
        *choosing_api.blueprints,
        *credit_api.blueprints,
        *credit_records_api.blueprints,
        *subsidy_api.blueprints,
        *tenancy_api.blueprints,
        *reviews_api.blueprints,
        *public_api.blueprints,
        *reports_api.blueprints,
        *dashboard_api.blueprints,
        *staff_api.blueprints,
    ]
    for blp in every:
        api.register_blueprint(blp, url_prefix="/api/v1")
        csrf.exempt(blp)  # bearer tokens only; cookies never authenticate the API
    app.register_blueprint(docs.bp)
    declare_public(app, "api-docs.openapi_json")
