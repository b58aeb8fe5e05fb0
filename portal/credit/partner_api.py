"""Partner agencies' API for the joint-punishment lists (client-credentials tokens).

- ``GET /credit/signing-key`` (public): the Ed25519 public key and its key id.
- ``GET /credit/changes?cursor=N&limit=M`` (scope ``credit.read``): listings, updates and
  removals after change ``N``, oldest first; signed.
- ``GET /credit/list?after=…&limit=M`` (scope ``credit.read``): the current joint list, a page
  of subjects at a time (keyset); signed.
- ``POST /credit/listings`` (scope ``credit.push``): the partner's own list entries, in
  atomic batches; they screen applicants from then on.
- ``DELETE /credit/listings/{external_id}`` (scope ``credit.push``): one entry taken off.

Signed responses carry ``X-Signature`` (base64 Ed25519 over the exact body bytes) and
``X-Signature-Key-Id``; docs/credit-lists.md shows how to verify them.
"""

from __future__ import annotations

from flask import Response, request
from flask_babel import gettext as _
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from portal.accounts.models import ApiClient
from portal.accounts.roles import Role
from portal.api.auth import api_user, principal
from portal.api.fields import Int
from portal.core import audit
from portal.core.access import api_access
from portal.core.errors import Forbidden
from portal.core.web import discard_failed_work, problem
from portal.credit import lists, signing

key_blp = Blueprint(
    "api_credit_key", __name__, description="The key that signs the joint-punishment lists"
)
partner_blp = Blueprint(
    "api_credit_partners",
    __name__,
    description=(
        "Partner agencies: pull the joint-punishment list and its changes (scope credit.read), "
        "push their own lists in (scope credit.push)"
    ),
)

blueprints = [key_blp, partner_blp]

BEARER = [{"bearerAuth": []}]
READ = "credit.read"
PUSH = "credit.push"
SIGNED = {
    signing.SIGNATURE_HEADER: {
        "description": "base64 Ed25519 signature of the exact response body bytes",
        "schema": {"type": "string"},
    },
    signing.KEY_ID_HEADER: {
        "description": "SHA-256 of the signing public key (see /credit/signing-key)",
        "schema": {"type": "string"},
    },
}


class SigningKeySchema(Schema):
    algorithm = fields.String(required=True, metadata={"example": "Ed25519"})
    key_id = fields.String(required=True, metadata={"description": "SHA-256 of the key (DER)"})
    public_key_pem = fields.String(required=True)


class RecordSchema(Schema):
    """The allow-listed fields of a credit record (the documented schema)."""

    reference = fields.String(required=True, metadata={"example": "CR2026000001"})
    subject_kind = fields.String(required=True, metadata={"description": "person or organisation"})
    subject_name = fields.String(
        required=True, metadata={"description": "persons: surname and *; organisations: full"}
    )
    subject_id = fields.String(
        required=True,
        metadata={"description": "persons: masked ID number; organisations: credit code"},
    )
    violation_code = fields.String(required=True, metadata={"example": "V-SUBLET"})
    violation_name_zh = fields.String(required=True)
    violation_name_en = fields.String(required=True)
    grade = fields.String(required=True, metadata={"description": "general, major or serious"})
    measures_zh = fields.String(required=True)
    measures_en = fields.String(required=True)
    legal_basis = fields.String(required=True)
    starts_on = fields.Date(required=True)
    publish_until = fields.Date(required=True)
    ban_until = fields.Date(allow_none=True)
    status = fields.String(required=True)
    removed = fields.Boolean(required=True)
    removed_reason = fields.String(
        allow_none=True, metadata={"description": "annulled, repaired or expired"}
    )


class ChangeSchema(Schema):
    id = Int(required=True, metadata={"description": "the change id: the cursor"})
    action = fields.String(required=True, metadata={"description": "listed, updated, removed"})
    at = fields.DateTime(required=True)
    record = fields.Nested(RecordSchema, required=True)


class ChangesPageSchema(Schema):
    changes = fields.List(fields.Nested(ChangeSchema), required=True)
    next_cursor = Int(required=True, metadata={"description": "pass as cursor next"})
    has_more = fields.Boolean(required=True)


class ChangesQuery(Schema):
    cursor = Int(load_default=0, validate=validate.Range(min=0))
    limit = Int(load_default=1000, validate=validate.Range(1, lists.MAX_PULL))


class SubjectSchema(Schema):
    subject_kind = fields.String(required=True)
    subject_name = fields.String(required=True)
    subject_id = fields.String(required=True)
    score = Int(required=True, metadata={"description": "100 minus points in force"})
    credit_grade = fields.String(required=True, metadata={"description": "A, B, C or D"})
    records = fields.List(fields.Nested(RecordSchema), required=True)


class ListPageSchema(Schema):
    on = fields.Date(required=True)
    subjects = fields.List(fields.Nested(SubjectSchema), required=True)
    next_after = fields.String(allow_none=True, metadata={"description": "pass as after next"})
    has_more = fields.Boolean(required=True)


class ListQuery(Schema):
    after = fields.String(load_default="", validate=validate.Length(max=64))
    limit = Int(load_default=200, validate=validate.Range(1, lists.MAX_LIST_PAGE))


class ListingEntrySchema(Schema):
    external_id = fields.String(
        required=True, metadata={"description": "the partner's own id of the entry (≤ 64)"}
    )
    removed = fields.Boolean(metadata={"description": "true: the entry is taken off"})
    list_name = fields.String(metadata={"example": "失信被执行人名单"})
    subject_kind = fields.String(metadata={"description": "person or organisation"})
    id_number = fields.String(metadata={"description": "persons (GB 11643)"})
    credit_code = fields.String(metadata={"description": "organisations (GB 32100)"})
    name = fields.String()
    reason = fields.String(metadata={"description": "shown to the person who is refused"})
    starts_on = fields.Date()
    ends_on = fields.Date(allow_none=True)


class _AsSent(fields.Nested):
    """Documented as :class:`ListingEntrySchema`, taken as sent: the service checks every
    entry, so all errors come back in one form (by entry index and field)."""

    def _deserialize(self, value, attr, data, **kwargs):
        return value


class PushRequest(Schema):
    entries = fields.List(
        _AsSent(ListingEntrySchema),
        required=True,
        metadata={"description": f"1 to {lists.MAX_PUSH} entries, saved all or none"},
    )


class PushResultSchema(Schema):
    listed = Int(required=True)
    updated = Int(required=True)
    removed = Int(required=True)
    unchanged = Int(required=True)


def _signed(body: bytes) -> Response:
    resp = Response(body, status=200, mimetype="application/json")
    resp.headers.update(signing.signature_headers(body))
    return resp


def _client() -> ApiClient:
    """Only a partner agency's client pushes lists (a staff token is refused)."""
    if api_user() is not None:
        audit.record("access.denied", actor=principal(), result="denied", path=request.path)
        raise Forbidden(_("Only partner agencies push lists."))
    return principal()


@key_blp.route("/credit/signing-key")
@key_blp.response(200, SigningKeySchema)
@api_access(public=True)
def signing_key():
    """The public key that verifies the lists' signatures."""
    return {
        "algorithm": signing.ALGORITHM,
        "key_id": signing.key_id(),
        "public_key_pem": signing.public_key_pem(),
    }


@partner_blp.route("/credit/changes")
@partner_blp.arguments(ChangesQuery, location="query")
@partner_blp.response(200, ChangesPageSchema, headers=SIGNED)
@partner_blp.alt_response(401, description="No valid bearer token")
@partner_blp.alt_response(403, description="The token lacks the credit.read scope")
@partner_blp.doc(security=BEARER)
@api_access(Role.MANAGER, scope=READ)
def changes(query: dict):
    """Changes of the list after ``cursor`` (a change id), oldest first, removals included.

    Start with ``cursor=0``; keep ``next_cursor`` and ask again while ``has_more``."""
    pulled = lists.pull_changes(principal(), query["cursor"], query["limit"])
    return _signed(pulled.body)


@partner_blp.route("/credit/list")
@partner_blp.arguments(ListQuery, location="query")
@partner_blp.response(200, ListPageSchema, headers=SIGNED)
@partner_blp.alt_response(401, description="No valid bearer token")
@partner_blp.alt_response(403, description="The token lacks the credit.read scope")
@partner_blp.doc(security=BEARER)
@api_access(Role.MANAGER, scope=READ)
def joint_list(query: dict):
    """The joint-punishment list today: subjects with a serious record in force or a score
    below 70, with their records; ``after`` the last page's ``next_after``."""
    body = lists.joint_list_body(principal(), None, query["after"], query["limit"])
    return _signed(body)


@partner_blp.route("/credit/listings", methods=["POST"])
@partner_blp.arguments(PushRequest)
@partner_blp.response(200, PushResultSchema)
@partner_blp.alt_response(401, description="No valid bearer token")
@partner_blp.alt_response(403, description="The token lacks the credit.push scope")
@partner_blp.alt_response(
    422,
    description=(
        "The batch was refused and nothing saved; `errors.entries.<index>.<field>` lists "
        "each problem"
    ),
)
@partner_blp.doc(security=BEARER)
@api_access(scope=PUSH)
def push(body: dict):
    """Push entries of the agency's own list (e.g. a court's list of dishonest judgment
    debtors): each screens applicants from its ``starts_on`` to its ``ends_on``."""
    client = _client()
    try:
        result = lists.push_listings(client, body["entries"])
    except lists.BatchRejected as exc:
        discard_failed_work(exc)
        audit.record(
            "credit.listings_pushed",
            actor=client,
            result="failure",
            entries=len(body["entries"]),
            refused=len({e.index for e in exc.errors}),
        )
        nested: dict[str, dict[str, list[str]]] = {}
        for e in exc.errors:
            nested.setdefault(str(e.index), {}).setdefault(e.field, []).append(e.message)
        return problem(422, _("Invalid input"), str(exc), code=exc.code, errors={"entries": nested})
    return {
        "listed": result.listed,
        "updated": result.updated,
        "removed": result.removed,
        "unchanged": result.unchanged,
    }


@partner_blp.route("/credit/listings/<string:external_id>", methods=["DELETE"])
@partner_blp.response(204)
@partner_blp.alt_response(404, description="No entry with this id came from this client")
@partner_blp.doc(security=BEARER)
@api_access(scope=PUSH)
def withdraw(external_id: str):
    """Take one entry of the agency's list off; it stops screening today."""
    lists.withdraw_listing(_client(), external_id)
