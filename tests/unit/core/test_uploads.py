"""Uploads (SECURITY.md C4)."""

import io

import pytest
from werkzeug.datastructures import FileStorage
from werkzeug.exceptions import RequestEntityTooLarge

from portal.core.errors import ValidationFailed
from portal.core.uploads import MAX_BYTES, save_upload, send_upload, upload_folder
from tests.factories import ResidentFactory

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 100
PDF = b"%PDF-1.7\n" + b"0" * 100


def fs(data: bytes, name: str) -> FileStorage:
    return FileStorage(stream=io.BytesIO(data), filename=name)


def test_pdf_is_stored_under_a_random_name(db):
    owner = ResidentFactory()
    up = save_upload(owner, fs(PDF, "户口簿.pdf"))
    assert up.content_type == "application/pdf"
    assert up.storage_name.endswith(".pdf")
    assert "户口" not in up.storage_name
    assert (upload_folder() / up.storage_name).read_bytes() == PDF
    assert "static" not in str(upload_folder())


def test_a_png_named_pdf_is_refused(db):
    with pytest.raises(ValidationFailed):
        save_upload(ResidentFactory(), fs(PNG, "scan.pdf"))


@pytest.mark.parametrize(
    ("data", "name"), [(b"<html><script>", "a.pdf"), (b"GIF89a....", "a.png"), (b"", "a.pdf")]
)
def test_other_content_is_refused(db, data, name):
    with pytest.raises(ValidationFailed):
        save_upload(ResidentFactory(), fs(data, name))


def test_ten_mebibytes_pass_and_one_byte_more_is_refused(db):
    owner = ResidentFactory()
    assert save_upload(owner, fs(PDF + b"0" * (MAX_BYTES - len(PDF)), "big.pdf")).size == MAX_BYTES
    with pytest.raises(RequestEntityTooLarge):
        save_upload(owner, fs(PDF + b"0" * (MAX_BYTES - len(PDF) + 1), "bigger.pdf"))


def test_served_as_attachment_with_nosniff(db):
    up = save_upload(ResidentFactory(), fs(PNG, "photo.png"))
    resp = send_upload(up)
    assert resp.headers["Content-Disposition"].startswith("attachment")
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert resp.mimetype == "image/png"
    resp.close()
