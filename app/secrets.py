"""Encryption at rest for vendor credentials and account tokens.

Fernet (AES-128-CBC + HMAC-SHA256) from ``cryptography``. ``DESKBRIDGE_SECRET_KEY`` holds one or more
comma-separated secrets: the first encrypts, every one decrypts, so a key can be rotated by prepending the
new one. The embedded default generates a key into a 0600 file beside the SQLite database so that a fresh
clone needs no setup; PostgreSQL deployments must set the variable (several replicas share the database).
"""

from __future__ import annotations

import base64
import hashlib
import os
import secrets as _secrets
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from app.settings import Settings

KEY_FILE_NAME = "secret.key"


class SecretKeyMissingError(RuntimeError):
    """A shared database needs an explicit ``DESKBRIDGE_SECRET_KEY``."""


def _fernet(secret: str) -> Fernet:
    # Any string works as a secret: it is stretched to Fernet's 32-byte key by SHA-256.
    return Fernet(base64.urlsafe_b64encode(hashlib.sha256(secret.encode()).digest()))


def _key_file_secret(path: Path) -> str:
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    secret = _secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(secret + "\n")
    return secret


def secret_key_file(settings: Settings) -> Path:
    """Where the embedded default keeps its generated key: beside the SQLite database."""
    from sqlalchemy.engine import make_url

    database = make_url(settings.database_url).database
    directory = Path(database).parent if database and database != ":memory:" else settings.data_dir
    return directory / KEY_FILE_NAME


class SecretBox:
    """Encrypts and decrypts small secrets (credentials JSON, account tokens)."""

    def __init__(self, secrets: list[str]) -> None:
        if not secrets:
            raise SecretKeyMissingError("no secret key given")
        self._fernet = MultiFernet([_fernet(s) for s in secrets])

    @classmethod
    def from_settings(cls, settings: Settings) -> SecretBox:
        if settings.secret_key:
            return cls([s.strip() for s in settings.secret_key.split(",") if s.strip()])
        if not settings.is_embedded_sqlite:
            raise SecretKeyMissingError(
                "DESKBRIDGE_SECRET_KEY must be set when the database is not the embedded SQLite default"
            )
        return cls([_key_file_secret(secret_key_file(settings))])

    def encrypt(self, plaintext: bytes) -> bytes:
        return self._fernet.encrypt(plaintext)

    def decrypt(self, token: bytes) -> bytes:
        try:
            return self._fernet.decrypt(token)
        except InvalidToken:
            raise SecretKeyMissingError(
                "stored secret cannot be decrypted with the configured DESKBRIDGE_SECRET_KEY"
            ) from None
