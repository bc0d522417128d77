"""Standard Webhooks signatures (https://www.standardwebhooks.com/): the headers ``webhook-id``,
``webhook-timestamp`` (Unix seconds) and ``webhook-signature``, which is ``v1,<base64 HMAC-SHA256
of "id.timestamp.body">`` for each secret in force, separated by spaces (during a rotation the old
and the new secret both sign). A secret is ``whsec_`` and the base64 of 32 random bytes."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

PREFIX = "whsec_"


class SecretError(ValueError):
    """Not a secret of the form ``whsec_<base64>``."""


def new_secret() -> str:
    return PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def key_of(secret: str) -> bytes:
    if not secret.startswith(PREFIX):
        raise SecretError("a signing secret starts with whsec_")
    try:
        key = base64.b64decode(secret[len(PREFIX):], validate=True)
    except ValueError:
        raise SecretError("a signing secret is whsec_ and base64") from None
    if len(key) < 24:
        raise SecretError("a signing secret holds at least 24 bytes")
    return key


def signature(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    signed = f"{message_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key_of(secret), signed, hashlib.sha256).digest()).decode()


def headers(secrets_in_force: list[str], message_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The three headers, signed with every secret in force (the newest first)."""
    return {"webhook-id": message_id, "webhook-timestamp": str(timestamp),
            "webhook-signature": " ".join(signature(s, message_id, timestamp, body) for s in secrets_in_force)}
