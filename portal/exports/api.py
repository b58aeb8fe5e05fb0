"""What the JSON API of every export shares: the document of an export, its owner's look-up
and the download of a finished file. Each domain's API keeps its own paths (where to ask
for its exports) and calls these."""

from __future__ import annotations

from collections.abc import Collection

from flask import Response
from marshmallow import Schema, fields, validate

from portal.accounts.models import User
from portal.api.fields import Int
from portal.core.errors import Conflict
from portal.core.scope import load_in_scope
from portal.exports import services
from portal.exports.models import Export, ExportStatus

SHOWN_PARAMS = ("year", "month")  # of what an export holds; never its scope


class ExportSchema(Schema):
    id = Int(required=True)
    kind = fields.String(required=True)
    format = fields.String(required=True)
    params = fields.Dict(required=True, metadata={"description": "e.g. year, month"})
    status = fields.String(required=True, validate=validate.OneOf([s.value for s in ExportStatus]))
    total = Int(allow_none=True)
    done_rows = Int(required=True)
    page = fields.String(required=True, metadata={"description": "the export's page"})
    status_url = fields.String(required=True, metadata={"description": "poll this"})
    file = fields.String(allow_none=True, metadata={"description": "download, once done"})


def export_document(export: Export, status_url: str) -> dict:
    """``export`` as the API shows it; ``status_url`` is its API path, the file is below."""
    done = export.status is ExportStatus.DONE
    return {
        "id": export.id,
        "kind": export.kind,
        "format": export.format,
        "params": {k: v for k, v in export.params.items() if k in SHOWN_PARAMS},
        "status": export.status.value,
        "total": export.total,
        "done_rows": export.done_rows,
        "page": f"/exports/{export.id}",
        "status_url": status_url,
        "file": f"{status_url}/file" if done else None,
    }


def owned_export(user: User, export_id: int, kinds: Collection[str]) -> Export:
    """One of ``user``'s exports of ``kinds``; 404 for anyone else's."""
    return load_in_scope(
        Export, export_id, (Export.owner_id == user.id) & Export.kind.in_(list(kinds)), user
    )


def finished_file(export: Export, user: User) -> Response:
    """The file of a finished export (409 while it is being prepared), download audited."""
    if export.status is not ExportStatus.DONE:
        raise Conflict()
    return services.file_response(export, user)
