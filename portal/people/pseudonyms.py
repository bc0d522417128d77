"""The stable pseudonymous id of an employee in training data: ``tp_`` and 26 base32 letters.

It is a keyed permutation of the employee's random 128-bit surrogate id (one AES-256 block under a
key derived from the deployment's index key, itself derived from the master key): stable for the
deployment, different in every other, unlinkable to the person without the key, and turned back
into the surrogate id by the portal alone, so that a check needs no lookup table."""

from __future__ import annotations

import base64
import re

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from portal.crypto import blind_index

SHAPE = re.compile(r"^tp_[a-z2-7]{26}$")


def _cipher() -> Cipher[modes.ECB]:
    key = bytes.fromhex(blind_index("training-pseudonym-key", "v1", fold_case=False))  # 32 bytes
    # One block of a random id, never two of the same: ECB is the plain block permutation here.
    return Cipher(algorithms.AES256(key), modes.ECB())  # noqa: S305


def pseudonym(subject_id: str) -> str:
    encryptor = _cipher().encryptor()
    block = encryptor.update(bytes.fromhex(subject_id)) + encryptor.finalize()
    return "tp_" + base64.b32encode(block).decode().rstrip("=").lower()


def subject_of(value: str) -> str | None:
    """The surrogate id behind a pseudonym; None for anything that is not one."""
    if not isinstance(value, str) or not SHAPE.match(value):
        return None
    decryptor = _cipher().decryptor()
    block = base64.b32decode(value[3:].upper() + "======")
    return (decryptor.update(block) + decryptor.finalize()).hex()
