"""Ed25519 signatures of what partners receive (SECURITY.md D6): a tampered byte fails."""

from __future__ import annotations

import hashlib
import json
import os
import stat

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from portal import create_app
from portal.config import TestConfig
from portal.credit import signing


def test_a_signature_verifies_and_a_tampered_body_fails(app):
    body = '{"changes":[{"id":1,"record":{"subject_name":"张*"}}]}'.encode()
    sig = signing.sign(body)
    pem = signing.public_key_pem()
    assert signing.verify(body, sig, pem)
    tampered = body.replace("张".encode(), "李".encode())
    assert not signing.verify(tampered, sig, pem)
    assert not signing.verify(body[:-1] + b" ", sig, pem)
    assert not signing.verify(body, "not base64!", pem)


def test_the_key_is_made_once_in_the_instance_folder_readable_by_the_owner_only(tmp_path):
    def make():
        return create_app(
            TestConfig, instance_path=str(tmp_path), SQLALCHEMY_DATABASE_URI="sqlite://"
        )

    first = make()
    with first.app_context():
        key_id = signing.key_id()
        sig = signing.sign(b"x")
    path = tmp_path / signing.KEY_FILE
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    second = make()  # a restart keeps the key
    with second.app_context():
        assert signing.key_id() == key_id
        assert signing.verify(b"x", sig, signing.public_key_pem())
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_an_operator_key_from_the_environment_wins(tmp_path, monkeypatch):
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    monkeypatch.setenv("PORTAL_CREDIT_SIGNING_KEY", pem)
    app = create_app(TestConfig, instance_path=str(tmp_path), SQLALCHEMY_DATABASE_URI="sqlite://")
    with app.app_context():
        der = key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        assert signing.key_id() == hashlib.sha256(der).hexdigest()
    assert not (tmp_path / signing.KEY_FILE).exists()


def test_a_file_is_signed_through_its_manifest(app, tmp_path):
    path = tmp_path / "list.csv"
    path.write_bytes(b"reference,subject_name\nCR1,\xe5\xbc\xa0*\n")
    doc = signing.detached_signature(path, name="list.csv", rows=1)
    manifest = json.loads(doc["manifest"])
    assert manifest["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert manifest["size"] == path.stat().st_size
    assert doc["key_id"] == signing.key_id()
    assert signing.verify(doc["manifest"].encode(), doc["signature"], signing.public_key_pem())
    forged = doc["manifest"].replace('"rows":1', '"rows":2').encode()
    assert not signing.verify(forged, doc["signature"], signing.public_key_pem())
