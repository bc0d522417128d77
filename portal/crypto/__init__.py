"""Per-subject data keys wrapped by the master key; sealing records; crypto-shredding."""

from __future__ import annotations

from typing import TYPE_CHECKING

from portal.crypto.keys import (
    KeyDestroyed,
    KeyStore,
    SubjectCipher,
    blind_index,
    directory_cipher,
    keystore,
)

if TYPE_CHECKING:
    from flask import Flask

__all__ = ["KeyDestroyed", "KeyStore", "SubjectCipher", "blind_index", "directory_cipher", "keystore"]


def register(app: Flask) -> None:
    """The periodic key-store check and orphan-key sweep, and the hooks that destroy a key made in
    a transaction that did not commit (docs/architecture.md, "Wiring")."""
    from . import services  # noqa: F401  (the periodic tasks and session hooks)
