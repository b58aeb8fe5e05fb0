"""Where uploaded documents are kept: a folder on this server (the default) or an
S3-compatible object store, so that several app servers see the same files.

Both backends store opaque names that the portal made itself (a random hex name and a
suffix, see ``portal.core.uploads``); a name with a folder part or anything else is
refused, so a stored name can never reach outside the folder or the bucket prefix.

``PORTAL_STORAGE=s3`` uses boto3, which is an optional dependency
(``pip install -r requirements-s3.txt``). It speaks the S3 API to AWS, MinIO, Aliyun OSS
(its S3-compatible endpoint), Tencent COS or any other store that implements it.
"""

from __future__ import annotations

import os
import re
import secrets
from pathlib import Path
from typing import IO, Protocol, runtime_checkable

from flask import Flask, current_app

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


def check_name(name: str) -> str:
    """The name itself, or ValueError when it is not a plain file name of ours."""
    if not NAME.fullmatch(name) or ".." in name:
        raise ValueError(f"not a storage name: {name!r}")
    return name


@runtime_checkable
class Storage(Protocol):
    """What the portal needs from a place that keeps uploaded files."""

    def save(self, name: str, data: bytes) -> None:
        """Store ``data`` under ``name`` (replacing nothing: names are random)."""

    def open(self, name: str) -> IO[bytes]:
        """A binary stream of the file; FileNotFoundError when there is none."""

    def delete(self, name: str) -> None:
        """Remove the file; no error when it is already gone."""

    def exists(self, name: str) -> bool:
        """Whether a file of that name is stored."""


class LocalStorage:
    """Files in one folder of this server, readable only by the portal's user."""

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        self.folder = Path(folder)

    def path(self, name: str) -> Path:
        return self.folder / check_name(name)

    def save(self, name: str, data: bytes) -> None:
        target = self.path(name)
        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        # Written under a temporary name and renamed, so a reader never sees half a file.
        tmp = self.folder / f".{name}.{secrets.token_hex(4)}.part"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.replace(tmp, target)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise

    def open(self, name: str) -> IO[bytes]:
        return self.path(name).open("rb")

    def delete(self, name: str) -> None:
        self.path(name).unlink(missing_ok=True)

    def exists(self, name: str) -> bool:
        return self.path(name).is_file()


class S3Storage:
    """Objects under ``prefix`` in one bucket of an S3-compatible store."""

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        endpoint_url: str | None = None,
        *,
        region: str | None = None,
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
        addressing_style: str = "auto",
        server_side_encryption: str | None = None,
        client=None,
    ) -> None:
        if not bucket:
            raise ValueError("S3 storage needs a bucket (PORTAL_S3_BUCKET)")
        self.bucket = bucket
        self.prefix = prefix
        self.extra = (
            {"ServerSideEncryption": server_side_encryption} if server_side_encryption else {}
        )
        self.client = client or self._client(
            endpoint_url, region, access_key_id, secret_access_key, addressing_style
        )

    @staticmethod
    def _client(endpoint_url, region, access_key_id, secret_access_key, addressing_style):
        try:  # optional dependency: only installations that use S3 need it
            import boto3
            from botocore.config import Config as BotoConfig
        except ImportError as exc:  # pragma: no cover - depends on the installation
            raise RuntimeError(
                "PORTAL_STORAGE=s3 needs boto3: pip install -r requirements-s3.txt"
            ) from exc
        # A session of its own: boto3's default session is not safe to share across threads.
        session = boto3.session.Session()
        return session.client(
            "s3",
            endpoint_url=endpoint_url or None,
            region_name=region or None,
            aws_access_key_id=access_key_id or None,
            aws_secret_access_key=secret_access_key or None,
            config=BotoConfig(
                signature_version="s3v4",
                s3={"addressing_style": addressing_style or "auto"},
                connect_timeout=5,
                read_timeout=30,
                retries={"max_attempts": 3, "mode": "standard"},
            ),
        )

    def key(self, name: str) -> str:
        return self.prefix + check_name(name)

    @staticmethod
    def _missing(exc) -> bool:
        code = str(exc.response.get("Error", {}).get("Code", ""))
        return code in {"404", "NoSuchKey", "NotFound"}

    def save(self, name: str, data: bytes) -> None:
        self.client.put_object(
            Bucket=self.bucket,
            Key=self.key(name),
            Body=data,
            ContentType="application/octet-stream",
            **self.extra,
        )

    def open(self, name: str) -> IO[bytes]:
        from botocore.exceptions import ClientError

        try:
            return self.client.get_object(Bucket=self.bucket, Key=self.key(name))["Body"]
        except ClientError as exc:
            if self._missing(exc):
                raise FileNotFoundError(name) from exc
            raise

    def delete(self, name: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self.key(name))

    def exists(self, name: str) -> bool:
        from botocore.exceptions import ClientError

        try:
            self.client.head_object(Bucket=self.bucket, Key=self.key(name))
        except ClientError as exc:
            if self._missing(exc):
                return False
            raise
        return True


def local_folder(app: Flask) -> Path:
    """``UPLOAD_FOLDER``, or ``uploads`` in the instance folder."""
    return Path(app.config.get("UPLOAD_FOLDER") or os.path.join(app.instance_path, "uploads"))


def _settings(app: Flask) -> tuple:
    cfg = app.config
    kind = (cfg.get("STORAGE") or "local").lower()
    if kind == "local":
        return (kind, str(local_folder(app)))
    if kind == "s3":
        names = (
            "S3_BUCKET",
            "S3_PREFIX",
            "S3_ENDPOINT_URL",
            "S3_REGION",
            "S3_ACCESS_KEY_ID",
            "S3_SECRET_ACCESS_KEY",
            "S3_ADDRESSING_STYLE",
            "S3_SERVER_SIDE_ENCRYPTION",
        )
        return (kind, *(cfg.get(n) for n in names))
    raise ValueError(f"PORTAL_STORAGE must be local or s3, not {kind!r}")


def _build(settings: tuple) -> Storage:
    if settings[0] == "local":
        return LocalStorage(settings[1])
    bucket, prefix, endpoint, region, key_id, secret, style, sse = settings[1:]
    return S3Storage(
        bucket,
        prefix or "",
        endpoint,
        region=region,
        access_key_id=key_id,
        secret_access_key=secret,
        addressing_style=style or "auto",
        server_side_encryption=sse,
    )


def get_storage(app: Flask | None = None) -> Storage:
    """The application's upload storage, made once from its settings (and again if they
    change, as they do in tests)."""
    app = app or current_app._get_current_object()
    settings = _settings(app)
    cached = app.extensions.get("portal.storage")
    if cached is None or cached[0] != settings:
        cached = (settings, _build(settings))
        app.extensions["portal.storage"] = cached
    return cached[1]
