"""Base API routes: tokens, who am I, districts. Domain packages add their own blueprints."""

from __future__ import annotations

import sqlalchemy as sa
from flask import current_app
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from portal.accounts.models import District
from portal.api import auth
from portal.api.fields import Int
from portal.core.access import api_access
from portal.core.i18n import current_locale
from portal.extensions import db, limiter

auth_blp = Blueprint("api_auth", __name__, description="Tokens for residents, staff and partners")
account_blp = Blueprint("api_account", __name__, description="The token holder's own account")
reference_blp = Blueprint("api_reference", __name__, description="Reference data")

blueprints = [auth_blp, account_blp, reference_blp]


def _login_limit() -> str:
    return current_app.config["LOGIN_RATE_LIMIT"]


class TokenRequest(Schema):
    identifier = fields.String(
        required=True,
        validate=validate.Length(1, 64),
        metadata={"description": "ID number, mobile number or staff sign-in name"},
    )
    password = fields.String(required=True, validate=validate.Length(1, 256), load_only=True)
    code = fields.String(
        load_default=None, metadata={"description": "TOTP code, required for staff"}
    )


class ClientTokenRequest(Schema):
    grant_type = fields.String(required=True, validate=validate.OneOf(["client_credentials"]))
    client_id = fields.String(required=True, validate=validate.Length(1, 64))
    client_secret = fields.String(required=True, validate=validate.Length(1, 256), load_only=True)


class TokenResponse(Schema):
    access_token = fields.String(required=True)
    token_type = fields.String(required=True, metadata={"example": "Bearer"})
    expires_in = Int(required=True, metadata={"description": "seconds"})


class MeSchema(Schema):
    kind = fields.String(required=True, metadata={"description": "user or client"})
    role = fields.String(allow_none=True)
    name = fields.String(required=True)
    id_number = fields.String(allow_none=True, metadata={"description": "masked"})
    mobile = fields.String(allow_none=True, metadata={"description": "masked"})
    districts = fields.List(fields.String(), required=True)
    department = fields.String(allow_none=True)
    scopes = fields.List(fields.String(), required=True)


class DistrictSchema(Schema):
    code = fields.String(required=True)
    name = fields.String(required=True)
    name_zh = fields.String(required=True)
    name_en = fields.String(required=True)
    kind = fields.String(required=True)


def _token_body(issued: auth.IssuedToken) -> dict:
    return {"access_token": issued.token, "token_type": "Bearer", "expires_in": issued.expires_in}


@auth_blp.route("/auth/token", methods=["POST"])
@auth_blp.arguments(TokenRequest)
@auth_blp.response(201, TokenResponse)
@auth_blp.alt_response(401, description="Wrong identifier or password (answered alike)")
@auth_blp.alt_response(429, description="Too many attempts; see Retry-After")
@limiter.limit(_login_limit, methods=["POST"])
@api_access(public=True)
def issue_token(body: dict):
    """Sign in and get a bearer token (residents; staff add their TOTP code)."""
    return _token_body(auth.issue_user_token(body["identifier"], body["password"], body["code"]))


@auth_blp.route("/auth/client-token", methods=["POST"])
@auth_blp.arguments(ClientTokenRequest)
@auth_blp.response(201, TokenResponse)
@auth_blp.alt_response(401, description="Unknown client or wrong secret")
@limiter.limit(_login_limit, methods=["POST"])
@api_access(public=True)
def issue_client_token(body: dict):
    """Client-credentials grant for partner agencies."""
    return _token_body(auth.issue_client_token(body["client_id"], body["client_secret"]))


@auth_blp.route("/auth/token", methods=["DELETE"])
@auth_blp.response(204)
@auth_blp.doc(security=[{"bearerAuth": []}])
@api_access(scope="*")
def revoke_token():
    """Revoke the token used for this request (sign out)."""
    from flask import g

    auth.revoke_token(g.api_token)


@account_blp.route("/me")
@account_blp.response(200, MeSchema)
@account_blp.doc(security=[{"bearerAuth": []}])
@api_access(scope="*")
def me():
    """The token holder: a user's masked identity and scope, or a partner client."""
    user = auth.api_user()
    if user is None:
        client = auth.principal()
        return {
            "kind": "client",
            "role": None,
            "name": client.name,
            "districts": [],
            "department": None,
            "scopes": sorted(client.scope_set),
        }
    return {
        "kind": "user",
        "role": user.role.value,
        "name": user.real_name,
        "id_number": user.masked_id_number or None,
        "mobile": user.masked_mobile or None,
        "districts": [d.code for d in user.districts],
        "department": user.department.value if user.department else None,
        "scopes": [],
    }


@reference_blp.route("/districts")
@reference_blp.response(200, DistrictSchema(many=True))
@api_access(public=True)
def districts():
    """The city's districts and counties."""
    loc = current_locale()
    rows = db.session.scalars(sa.select(District).order_by(District.sort_order)).all()
    return [
        {
            "code": d.code,
            "name": d.name(loc),
            "name_zh": d.name_zh,
            "name_en": d.name_en,
            "kind": d.kind.value,
        }
        for d in rows
    ]
