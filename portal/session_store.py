"""Sign-in sessions kept in the database (``PORTAL_SESSION_STORE=database``), for deployments
whose Redis serves the job broker and rate limits only, so that a Redis outage delays jobs but
lets people sign in and work (docs/architecture.md, "Failing clearly").

Each row is keyed by the SHA-256 of the session id (the cookie's value never sits in the
database) and its data is sealed with AES-256-GCM under a key derived from ``PORTAL_SECRET_KEY``,
bound to that row's key. Each read and write is a short transaction of its own on the engine, apart
from the request's ``db.session``. Expired rows are deleted hourly by a periodic task.
"""

from __future__ import annotations

import hashlib
import os
from datetime import datetime, timedelta
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import Flask
from flask_session.base import ServerSideSession, ServerSideSessionInterface
from sqlalchemy import LargeBinary, String, delete, select
from sqlalchemy.orm import Mapped, mapped_column

from portal.db import Base, UTCDateTime, upsert, utcnow
from portal.extensions import db
from portal.jobs.runners import periodic

NONCE_BYTES = 12


class WebSession(Base):
    __tablename__ = "web_sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True, comment="SHA-256 (hex) of the session id")
    data: Mapped[bytes] = mapped_column(LargeBinary, comment="nonce and AES-GCM sealed session data")
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)


def _row_id(store_id: str) -> str:
    return hashlib.sha256(store_id.encode()).hexdigest()


class DatabaseSessionInterface(ServerSideSessionInterface):
    """Flask-Session's server-side sessions over the ``web_sessions`` table."""

    session_class = ServerSideSession
    ttl = True  # expiry is enforced on read; the periodic purge removes the rows

    def __init__(self, app: Flask, secret_key: bytes, *, key_prefix: str, sid_length: int) -> None:
        super().__init__(app, key_prefix=key_prefix, use_signer=False, permanent=True, sid_length=sid_length,
                         serialization_format="msgpack", cleanup_n_requests=None)
        self._aead = AESGCM(HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                                 info=b"portal/v1/web-sessions").derive(secret_key))

    def _retrieve_session_data(self, store_id: str) -> dict[str, Any] | None:
        row_id = _row_id(store_id)
        with db.engine.begin() as conn:
            sealed = conn.execute(select(WebSession.data).where(
                WebSession.id == row_id, WebSession.expires_at > utcnow())).scalar_one_or_none()
        if sealed is None:
            return None
        try:
            plain = self._aead.decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], row_id.encode())
        except InvalidTag:  # sealed under another secret key (rotated): a new session
            return None
        decoded: dict[str, Any] = self.serializer.decode(plain)
        return decoded

    def _delete_session(self, store_id: str) -> None:
        with db.engine.begin() as conn:
            conn.execute(delete(WebSession).where(WebSession.id == _row_id(store_id)))

    def _upsert_session(self, session_lifetime: timedelta, session: ServerSideSession, store_id: str) -> None:
        row_id = _row_id(store_id)
        nonce = os.urandom(NONCE_BYTES)
        sealed = nonce + self._aead.encrypt(nonce, self.serializer.encode(session), row_id.encode())
        values = {"id": row_id, "data": sealed, "expires_at": utcnow() + session_lifetime}
        with db.engine.begin() as conn:
            upsert(WebSession, values, [WebSession.id], set_={"data": sealed, "expires_at": values["expires_at"]},
                   connection=conn)

    def _delete_expired_sessions(self) -> None:
        purge_expired_sessions()


@periodic(every=3600)
def purge_expired_sessions() -> int:
    """Delete the rows of sessions that have expired (a no-op unless sessions are in the database)."""
    with db.engine.begin() as conn:
        return conn.execute(delete(WebSession).where(WebSession.expires_at <= utcnow())).rowcount or 0


def init_app(app: Flask, secret_key: bytes, key_prefix: str, sid_length: int) -> None:
    app.session_interface = DatabaseSessionInterface(app, secret_key, key_prefix=key_prefix, sid_length=sid_length)
