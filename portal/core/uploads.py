"""Uploads (SECURITY.md C4): PDF, JPEG or PNG only, at most 10 MiB, the type decided by the
file's first bytes (not its name or the browser's word), stored under a random name outside
``static/`` (in the storage backend of ``portal.core.storage``: a folder or an S3-compatible
store), and sent back only as an attachment with ``nosniff``."""

from __future__ import annotations

import hashlib
import secrets
from pathlib import Path

from flask import Response, current_app, send_file
from werkzeug.datastructures import FileStorage
from werkzeug.exceptions import RequestEntityTooLarge

from portal.applications.models import Upload
from portal.core.errors import ValidationFailed
from portal.core.i18n import lazy_gettext as _l
from portal.core.storage import LocalStorage, get_storage, local_folder
from portal.extensions import db

MAX_BYTES = 10 * 1024 * 1024
SIGNATURES = (
    (b"%PDF-", "application/pdf", ".pdf"),
    (b"\xff\xd8\xff", "image/jpeg", ".jpg"),
    (b"\x89PNG\r\n\x1a\n", "image/png", ".png"),
)
NAME_SUFFIXES = {
    "application/pdf": {".pdf"},
    "image/jpeg": {".jpg", ".jpeg"},
    "image/png": {".png"},
}


def upload_folder() -> Path:
    """The folder of the local storage backend (``PORTAL_STORAGE=local``)."""
    path = local_folder(current_app)
    path.mkdir(parents=True, exist_ok=True)
    return path


def sniff(head: bytes) -> tuple[str, str] | None:
    for magic, content_type, suffix in SIGNATURES:
        if head.startswith(magic):
            return content_type, suffix
    return None


def _display_name(raw: str) -> str:
    """The name the person gave, without folders or control characters (it is only ever
    shown and offered as the download name; the stored file has a random name)."""
    base = raw.replace("\\", "/").rsplit("/", 1)[-1]
    cleaned = "".join(c for c in base if c.isprintable() and c not in '"<>')
    return cleaned.strip()[:200] or "upload"


def save_upload(owner, file: FileStorage | None, field: str = "file") -> Upload:
    """Check and store one uploaded file; raises ``ValidationFailed`` or 413."""
    if file is None or not file.filename:
        raise ValidationFailed(_l("Choose a file to upload."), field=field)
    data = file.stream.read(MAX_BYTES + 1)
    if len(data) > MAX_BYTES:
        raise RequestEntityTooLarge()
    if not data:
        raise ValidationFailed(_l("The file is empty."), field=field)
    kind = sniff(data[:16])
    name = _display_name(file.filename)
    suffix = Path(name).suffix.lower()
    if kind is None or suffix not in NAME_SUFFIXES[kind[0]]:
        raise ValidationFailed(
            _l("Only PDF, JPG or PNG files are accepted, and the name must match the content."),
            field=field,
        )
    storage_name = secrets.token_hex(16) + kind[1]
    get_storage().save(storage_name, data)
    upload = Upload(
        owner_id=owner.id,
        storage_name=storage_name,
        original_name=name[:200],
        content_type=kind[0],
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
    )
    db.session.add(upload)
    db.session.flush()
    return upload


def send_upload(upload: Upload) -> Response:
    """The file as a download, never rendered by the browser. A local file is sent from
    its path; an object in S3 is streamed through, never held whole in memory."""
    storage = get_storage()
    if isinstance(storage, LocalStorage):
        source = storage.path(upload.storage_name)
        options = {}
    else:
        source = storage.open(upload.storage_name)
        # A stream cannot answer range requests; the stored hash is a strong ETag.
        options = {"conditional": False, "etag": upload.sha256}
    resp = send_file(
        source,
        mimetype=upload.content_type,
        as_attachment=True,
        download_name=upload.original_name,
        max_age=0,
        **options,
    )
    if not isinstance(storage, LocalStorage):
        resp.content_length = upload.size
    resp.headers["X-Content-Type-Options"] = "nosniff"
    resp.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return resp
