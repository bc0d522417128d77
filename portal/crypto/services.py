"""Crypto-shredding: the one way a subject's data key is destroyed."""

from __future__ import annotations

from portal.audit.services import Actor, record
from portal.crypto.keys import keystore


def shred_subject(subject_id: str, *, actor: Actor, reason: str) -> bool:
    """Destroy the subject's data key, so that every sealed event and screenshot of theirs, in
    the database, the artifact directory and every backup of either, can never be opened again.

    Returns whether a key was destroyed (False if it was already gone). Audited either way."""
    destroyed = keystore().destroy(subject_id)
    record("crypto:subject-key:destroy", actor=actor, subject_id=subject_id,
           details={"reason": reason, "destroyed": destroyed})
    return destroyed
