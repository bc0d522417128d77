"""The PKCS#11 backend of the subject-key store: an HSM (SoftHSM2 in the tests).

Each subject's key is kept on the token as a private data object (``CKO_DATA``, labelled with the
subject's id), holding the key wrapped by the master key exactly as the file backend keeps it:
the token alone opens nothing, and the key never sits in a folder that a backup of the data
takes along. Destroying it is ``C_DestroyObject``, one step on the token. A token restored from
an older backup is brought back in line by ``keys reapply-erasures`` like a key folder.

Set ``PORTAL_KEY_STORE=pkcs11`` with ``PORTAL_PKCS11_MODULE`` (the library, e.g.
``/usr/lib/softhsm/libsofthsm2.so``), ``PORTAL_PKCS11_TOKEN`` (the token's label) and
``PORTAL_PKCS11_PIN`` (the user PIN).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pkcs11
from pkcs11 import Attribute, ObjectClass

from portal.crypto.keys import SUBJECT_ID_PATTERN, SubjectKeyStore, key_id_of

APPLICATION = "privacy-portal subject keys"
LABEL_PREFIX = "portal-subject-key:"


class Pkcs11KeyStore(SubjectKeyStore):
    kind = "pkcs11"

    def __init__(self, master_key: bytes, *, module: str, token: str, pin: str) -> None:
        super().__init__(master_key)
        self._token = pkcs11.lib(module).get_token(token_label=token)
        self._pin = pin
        self._lock = threading.Lock()  # one session a call; creation is checked under the lock

    @contextmanager
    def _session(self) -> Iterator[Any]:
        with self._token.open(rw=True, user_pin=self._pin) as session:
            yield session

    @staticmethod
    def _template(subject_id: str) -> dict[Any, Any]:
        return {Attribute.CLASS: ObjectClass.DATA, Attribute.LABEL: LABEL_PREFIX + subject_id}

    def _objects(self, session: Any, subject_id: str) -> list[Any]:
        return list(session.get_objects(self._template(subject_id)))

    @staticmethod
    def _value(found: Any) -> bytes:
        return bytes(found[Attribute.VALUE])

    def _read(self, subject_id: str) -> bytes | None:
        with self._session() as session:
            found = self._objects(session, subject_id)
            if not found:
                return None
            # Two objects only if two processes created one at the same moment: every process
            # settles on the same one (the smaller key id), and create() removes the other.
            return min((self._value(obj) for obj in found), key=key_id_of)

    def _store(self, subject_id: str, wrapped: bytes) -> None:
        with self._lock, self._session() as session:
            if self._objects(session, subject_id):
                return
            session.create_object({**self._template(subject_id), Attribute.TOKEN: True, Attribute.PRIVATE: True,
                                   Attribute.MODIFIABLE: False, Attribute.APPLICATION: APPLICATION,
                                   Attribute.VALUE: wrapped})
            found = self._objects(session, subject_id)
            if len(found) > 1:  # another process raced us: keep the one everybody reads
                keep = min((self._value(obj) for obj in found), key=key_id_of)
                for obj in found:
                    if self._value(obj) != keep:
                        obj.destroy()

    def _remove(self, subject_id: str) -> str | None:
        with self._lock, self._session() as session:
            found = self._objects(session, subject_id)
            if not found:
                return None
            destroyed = min((self._value(obj) for obj in found), key=key_id_of)
            for obj in found:
                obj.destroy()
            return key_id_of(destroyed)

    def problem(self) -> str | None:
        with self._session():  # the token is there and takes the PIN (raises otherwise)
            return None

    def subject_ids(self) -> list[str]:
        with self._session() as session:
            labels = {str(obj[Attribute.LABEL]) for obj in session.get_objects({Attribute.CLASS: ObjectClass.DATA})}
        ids = (label.removeprefix(LABEL_PREFIX) for label in labels if label.startswith(LABEL_PREFIX))
        return sorted(i for i in ids if SUBJECT_ID_PATTERN.match(i))
