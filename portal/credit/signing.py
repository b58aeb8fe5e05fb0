"""Signatures on what leaves the portal for partner agencies (SECURITY.md D6): Ed25519.

The private key comes from ``PORTAL_CREDIT_SIGNING_KEY`` (a PEM, PKCS#8) when the operator
gives one, otherwise it is generated once into the instance folder (``credit_signing_key.pem``,
readable only by the owner) and kept across restarts, like the secret and data keys. The
public key is published at ``GET /api/v1/credit/signing-key`` with its key id, the SHA-256
of the public key (DER, SubjectPublicKeyInfo), so a receiver can tell which key signed a
response when the key is rotated.

Every partner pull response carries ``X-Signature`` (base64 Ed25519 signature over the exact
response body bytes) and ``X-Signature-Key-Id``. Export files are signed through a small
manifest (name, size, SHA-256 of the file): Ed25519 needs the whole message at once, and an
export may be larger than memory should hold. docs/credit-lists.md shows how to verify both.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from flask import Flask, current_app

ALGORITHM = "Ed25519"
KEY_FILE = "credit_signing_key.pem"
SIGNATURE_HEADER = "X-Signature"
KEY_ID_HEADER = "X-Signature-Key-Id"
_EXTENSION = "portal.credit_signer"


@dataclass(frozen=True)
class Signer:
    private_key: Ed25519PrivateKey
    public_pem: str
    key_id: str

    def sign(self, body: bytes) -> str:
        return base64.b64encode(self.private_key.sign(body)).decode("ascii")


def _load_or_create(instance_path: str) -> bytes:
    """The PEM in the instance folder, written once: a temporary file with mode 0600 is
    linked into place, so two processes starting together end with one key, never a
    half-written file."""
    path = Path(instance_path) / KEY_FILE
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        pem = Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        tmp = path.with_name(f".{KEY_FILE}.{secrets.token_hex(6)}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(pem)
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass  # another process won; its key is the one
        finally:
            tmp.unlink(missing_ok=True)
    return path.read_bytes()


def _make_signer(app: Flask) -> Signer:
    configured = app.config.get("CREDIT_SIGNING_KEY") or os.environ.get("PORTAL_CREDIT_SIGNING_KEY")
    pem = configured.encode() if configured else _load_or_create(app.instance_path)
    key = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError("PORTAL_CREDIT_SIGNING_KEY must be an Ed25519 private key (PKCS#8 PEM)")
    public = key.public_key()
    der = public.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    pem_public = public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode("ascii")
    return Signer(key, pem_public, hashlib.sha256(der).hexdigest())


def signer() -> Signer:
    """The application's signer, loaded (or created) on first use."""
    app = current_app._get_current_object()
    found = app.extensions.get(_EXTENSION)
    if found is None:
        found = app.extensions[_EXTENSION] = _make_signer(app)
    return found


def sign(body: bytes) -> str:
    """Base64 Ed25519 signature of ``body``."""
    return signer().sign(body)


def key_id() -> str:
    return signer().key_id


def public_key_pem() -> str:
    return signer().public_pem


def signature_headers(body: bytes) -> dict[str, str]:
    """The headers that let a receiver verify ``body``."""
    s = signer()
    return {SIGNATURE_HEADER: s.sign(body), KEY_ID_HEADER: s.key_id}


def verify(body: bytes, signature: str, public_pem: str | bytes) -> bool:
    """Whether ``signature`` (base64) is the signature of ``body`` under ``public_pem``."""
    if isinstance(public_pem, str):
        public_pem = public_pem.encode()
    key = serialization.load_pem_public_key(public_pem)
    if not isinstance(key, Ed25519PublicKey):
        return False
    try:
        key.verify(base64.b64decode(signature, validate=True), body)
    except (InvalidSignature, ValueError):
        return False
    return True


def file_manifest(path: Path, *, name: str, **about) -> bytes:
    """The signed statement about an export file: its name, size and SHA-256 (read in
    chunks, so memory stays flat), plus ``about`` (kind, format, rows, created_at)."""
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
            size += len(chunk)
    manifest = {"file": name, "size": size, "sha256": digest.hexdigest(), **about}
    return json.dumps(manifest, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()


def detached_signature(path: Path, *, name: str, **about) -> dict:
    """The detached signature document of an export file (``<file>.sig.json``)."""
    manifest = file_manifest(path, name=name, **about)
    s = signer()
    return {
        "algorithm": ALGORITHM,
        "key_id": s.key_id,
        "manifest": manifest.decode(),
        "signature": s.sign(manifest),
    }
