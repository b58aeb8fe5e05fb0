"""Personal data at rest (SECURITY.md D1): AES-GCM encryption and a keyed blind index.

One master key (``PORTAL_DATA_KEY``, kept outside the database) is stretched with HKDF into
an encryption key and an index key, so that the index reveals nothing about the cipher key.
Each ciphertext carries a version byte for later key rotation and is bound to its purpose
(the column it belongs to) as associated data, so values cannot be swapped between columns.
"""

from __future__ import annotations

import hashlib
import hmac
import os

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import current_app

VERSION = b"\x01"
NONCE_BYTES = 12


def _derive(master: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(master)


class DataProtector:
    """Encrypts, decrypts and indexes sensitive strings with keys derived from one master."""

    def __init__(self, master_key: str) -> None:
        if len(master_key) < 16:
            raise ValueError("PORTAL_DATA_KEY must be at least 16 characters")
        master = master_key.encode()
        self._aead = AESGCM(_derive(master, b"portal/encryption/v1"))
        self._index_key = _derive(master, b"portal/blind-index/v1")
        self._sign_key = _derive(master, b"portal/signing/v1")

    def encrypt(self, plaintext: str, purpose: str) -> bytes:
        """Encrypt ``plaintext``; the result differs every time (random nonce)."""
        nonce = os.urandom(NONCE_BYTES)
        return VERSION + nonce + self._aead.encrypt(nonce, plaintext.encode(), purpose.encode())

    def decrypt(self, blob: bytes, purpose: str) -> str:
        """Decrypt a value made by :meth:`encrypt` for the same purpose."""
        if blob[:1] != VERSION:
            raise ValueError("unknown ciphertext version")
        nonce, body = blob[1 : 1 + NONCE_BYTES], blob[1 + NONCE_BYTES :]
        return self._aead.decrypt(nonce, body, purpose.encode()).decode()

    def blind_index(self, value: str, purpose: str) -> str:
        """A keyed, deterministic digest for equality look-ups without the plaintext."""
        msg = purpose.encode() + b"\x00" + value.encode()
        return hmac.new(self._index_key, msg, hashlib.sha256).hexdigest()

    def sign(self, payload: bytes) -> str:
        """HMAC-SHA256 signature of ``payload`` (exports, tokens)."""
        return hmac.new(self._sign_key, payload, hashlib.sha256).hexdigest()


def protector() -> DataProtector:
    """The application's protector (created in ``create_app``)."""
    return current_app.extensions["portal.protector"]


def token_digest(token: str) -> str:
    """What is stored of a random bearer or session token: its SHA-256 (the token itself is
    random enough that no key or salt is needed)."""
    return hashlib.sha256(token.encode()).hexdigest()
