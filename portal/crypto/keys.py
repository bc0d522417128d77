"""Keys and sealed data.

* The master key (``PORTAL_MASTER_KEY``) never encrypts data itself; HKDF derives from it a
  key-wrapping key, a directory key (for the people table) and a blind-index key.
* Each subject has a random AES-256-GCM data key. It is stored only wrapped, in the key
  store: one file per subject under ``PORTAL_KEY_DIR``, deliberately *outside* the database,
  so that destroying it makes every copy of the database and of the artifact directory,
  backups included, undecryptable for that subject (crypto-shredding).
* Every sealed value carries associated data that binds it to its subject and record, so a
  ciphertext moved to another row or subject fails to open.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import re
import secrets
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import Any

import msgspec
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import current_app

from portal.files import folder_problem, sync_directory, write_file

log = logging.getLogger(__name__)
TOMBSTONE_PREFIX = ".destroyed-"  # a key being destroyed: already no key, not yet scrubbed

FORMAT_V1 = b"\x01"
NONCE_BYTES = 12
SUBJECT_ID_PATTERN = re.compile(r"^[0-9a-f]{32}$")


class KeyDestroyed(LookupError):
    """The subject's data key does not exist (never created, or crypto-shredded)."""


class SealError(ValueError):
    """A sealed value failed to open: wrong key, wrong record binding, or tampering."""


def derive_key(master_key: bytes, purpose: str) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=f"portal/v1/{purpose}".encode()).derive(
        master_key
    )


def seal(key: AESGCM, plaintext: bytes, aad: bytes) -> bytes:
    nonce = os.urandom(NONCE_BYTES)
    return FORMAT_V1 + nonce + key.encrypt(nonce, plaintext, aad)


def unseal(key: AESGCM, blob: bytes, aad: bytes) -> bytes:
    if not blob or blob[:1] != FORMAT_V1 or len(blob) < 1 + NONCE_BYTES + 16:
        raise SealError("not a sealed value")
    try:
        return key.decrypt(blob[1 : 1 + NONCE_BYTES], blob[1 + NONCE_BYTES :], aad)
    except InvalidTag:
        raise SealError("sealed value does not open with this key and binding") from None


NAME_INDEX_BYTES = 16  # a name's blind index: HMAC-SHA256 truncated to 128 bits


_encode_names = msgspec.json.Encoder().encode
_decode_names = msgspec.json.Decoder(tuple[str, str | None]).decode


def join_names(application: str, site_domain: str | None) -> bytes:
    """An application name and a site domain as one sealed plaintext: the JSON ``[application, site]``."""
    return _encode_names((application, site_domain))


def split_names(plain: bytes) -> tuple[str, str | None]:
    return _decode_names(plain)


class SubjectCipher:
    """Seals and opens one subject's records with that subject's data key."""

    def __init__(self, subject_id: str, data_key: bytes) -> None:
        self.subject_id = subject_id
        self._aead = AESGCM(data_key)
        self._data_key = data_key

    @cached_property
    def _name_index_key(self) -> bytes:
        """The key of the subject's name blind indexes, derived from their data key: once that key is
        destroyed, no index can be recomputed, so none can be tied to an application or a site."""
        return derive_key(self._data_key, "name-index")

    def name_index(self, kind: str, value: str) -> bytes:
        """The blind index of an application (``kind`` "app") or a site (``"site"``, lower case) name:
        a keyed HMAC under the subject's own key, truncated to :data:`NAME_INDEX_BYTES`."""
        return hmac.new(self._name_index_key, f"{kind}:{value}".encode(), hashlib.sha256).digest()[:NAME_INDEX_BYTES]

    def name_indexer(self, kind: str) -> Callable[[str], bytes]:
        """:meth:`name_index` for one kind, remembering each name's index (a batch repeats a few names)."""
        cache: dict[str, bytes] = {}
        index = self.name_index

        def lookup(value: str) -> bytes:
            found = cache.get(value)
            if found is None:
                found = cache[value] = index(kind, value)
            return found

        return lookup

    def seal_names(self, kind: str, record_id: str, application: str, site_domain: str | None) -> bytes:
        """The application and site of a record (``kind``: "event-names" or "screenshot-names")."""
        return self.seal_bytes(kind, record_id, join_names(application, site_domain))

    def open_names(self, kind: str, record_id: str, blob: bytes) -> tuple[str, str | None]:
        return split_names(self.open_bytes(kind, record_id, blob))

    def names_sealer(self) -> Callable[[str, str, str | None], bytes]:
        """``seal_names("event-names", ...)`` for bulk use: the same bytes, less per-call overhead."""
        encrypt, urandom = self._aead.encrypt, os.urandom
        prefix = f"event-names:{self.subject_id}:"

        def seal_event_names(record_id: str, application: str, site_domain: str | None) -> bytes:
            nonce = urandom(NONCE_BYTES)
            return FORMAT_V1 + nonce + encrypt(nonce, join_names(application, site_domain),
                                               (prefix + record_id).encode())

        return seal_event_names

    def seal_label(self, target_type: str, index: bytes, name: str) -> bytes:
        """An aggregate's display name, bound to its kind and blind index."""
        return self.seal_bytes("target-label", f"{target_type}:{index.hex()}", name.encode())

    def open_label(self, target_type: str, index: bytes, blob: bytes) -> str:
        return self.open_bytes("target-label", f"{target_type}:{index.hex()}", blob).decode()

    def _aad(self, kind: str, record_id: str) -> bytes:
        return f"{kind}:{self.subject_id}:{record_id}".encode()

    @property
    def aead(self) -> AESGCM:
        """The AEAD itself, for bulk readers that build the associated data as :meth:`_aad` does."""
        return self._aead

    def seal_bytes(self, kind: str, record_id: str, data: bytes) -> bytes:
        return seal(self._aead, data, self._aad(kind, record_id))

    def open_bytes(self, kind: str, record_id: str, blob: bytes) -> bytes:
        return unseal(self._aead, blob, self._aad(kind, record_id))

    def seal_json(self, kind: str, record_id: str, value: dict[str, Any]) -> bytes:
        return self.seal_bytes(kind, record_id, msgspec.json.encode(value))

    def event_sealer(self) -> Callable[[str, dict[str, Any]], bytes]:
        """``seal_json("event", ...)`` for bulk use: the same bytes, less per-call overhead."""
        encrypt, encode, urandom = self._aead.encrypt, msgspec.json.encode, os.urandom
        prefix = f"event:{self.subject_id}:"

        def seal_event(record_id: str, value: dict[str, Any]) -> bytes:
            nonce = urandom(NONCE_BYTES)
            return FORMAT_V1 + nonce + encrypt(nonce, encode(value), (prefix + record_id).encode())

        return seal_event

    def stream_writer(self, out: Any, kind: str, record_id: str) -> Any:
        """A :class:`portal.crypto.streams.SealingWriter` over ``out`` bound to this subject and record."""
        from portal.crypto.streams import SealingWriter

        return SealingWriter(out, self._aead, self._aad(kind, record_id))

    def stream_reader(self, source: Any, kind: str, record_id: str) -> Iterator[bytes]:
        """The verified plaintext chunks of a stream written by :meth:`stream_writer`."""
        from portal.crypto.streams import open_stream

        return open_stream(source, self._aead, self._aad(kind, record_id))

    def open_json(self, kind: str, record_id: str, blob: bytes) -> dict[str, Any]:
        result: dict[str, Any] = json.loads(self.open_bytes(kind, record_id, blob))
        return result


def write_once(path: Path, data: bytes) -> None:
    """Create ``path`` holding ``data`` (mode 0600, written in full before it appears), unless it
    exists: when processes race, the first one's file stays and the others' are dropped. A write
    that fails leaves no file at all."""
    write_file(path, data, exclusive=True)


def key_id_of(wrapped: bytes) -> str:
    return hashlib.sha256(b"portal-subject-key-id\0" + wrapped).hexdigest()[:32]


class DirectoryCipher:
    """Seals the people table's personal fields (name, e-mail, employee number)."""

    def __init__(self, key: bytes) -> None:
        self._aead = AESGCM(key)

    def seal_bytes(self, field: str, record_id: str, data: bytes) -> bytes:
        return seal(self._aead, data, f"directory:{record_id}:{field}".encode())

    def open_bytes(self, field: str, record_id: str, blob: bytes) -> bytes:
        return unseal(self._aead, blob, f"directory:{record_id}:{field}".encode())

    def seal_text(self, record_id: str, field: str, value: str) -> bytes:
        return self.seal_bytes(field, record_id, value.encode())

    def open_text(self, record_id: str, field: str, blob: bytes) -> str:
        return self.open_bytes(field, record_id, blob).decode()


class PurposeCipher:
    """Seals short-lived values of one purpose (a one-time code waiting in a mail job) under a key
    derived from the master key for that purpose, each bound to its record."""

    def __init__(self, key: bytes, purpose: str) -> None:
        self._aead = AESGCM(key)
        self._purpose = purpose

    def seal_text(self, record_id: str, value: str) -> bytes:
        return seal(self._aead, value.encode(), f"{self._purpose}:{record_id}".encode())

    def open_text(self, record_id: str, blob: bytes) -> str:
        return unseal(self._aead, blob, f"{self._purpose}:{record_id}".encode()).decode()


class SubjectKeyStore:
    """Where wrapped subject keys are kept: what every backend shares. A key is stored only wrapped
    by a key derived from the master key, bound to its subject; its id is a digest of the wrapped
    form (:func:`key_id_of`). Backends say how the wrapped bytes are read, created and destroyed."""

    kind = "abstract"

    def __init__(self, master_key: bytes) -> None:
        self._wrap = AESGCM(derive_key(master_key, "key-wrap"))

    @staticmethod
    def _check(subject_id: str) -> str:
        if not SUBJECT_ID_PATTERN.match(subject_id):
            raise ValueError("malformed subject id")
        return subject_id

    @staticmethod
    def _aad(subject_id: str) -> bytes:
        return f"subject-key:{subject_id}".encode()

    # -- what a backend provides -------------------------------------------------------------------

    def _read(self, subject_id: str) -> bytes | None:
        raise NotImplementedError

    def _store(self, subject_id: str, wrapped: bytes) -> None:
        """Keep ``wrapped`` as the subject's key unless one is there already (then keep that one)."""
        raise NotImplementedError

    def _remove(self, subject_id: str) -> str | None:
        """Destroy the subject's key in one step; its key id, or None if there was none."""
        raise NotImplementedError

    def subject_ids(self) -> list[str]:
        """The subjects whose keys are in the store."""
        raise NotImplementedError

    def scrub_tombstones(self) -> int:
        """Finish destructions that were cut short. Returns how many."""
        return 0

    def created_at(self, subject_id: str) -> datetime | None:
        """When the subject's key was made, if the backend can tell (None: unknown, or no key)."""
        return None

    def problem(self) -> str | None:
        """What keeps the store from working now (for /readyz), or None."""
        raise NotImplementedError

    # -- the same for every backend ----------------------------------------------------------------

    def exists(self, subject_id: str) -> bool:
        return self._read(self._check(subject_id)) is not None

    def create(self, subject_id: str) -> None:
        """Create the subject's data key; creating one that exists is a no-op."""
        if self._read(self._check(subject_id)) is None:
            self._store(subject_id, seal(self._wrap, secrets.token_bytes(32), self._aad(subject_id)))

    def data_key(self, subject_id: str) -> bytes:
        wrapped = self._read(self._check(subject_id))
        if wrapped is None:
            raise KeyDestroyed(subject_id)
        return unseal(self._wrap, wrapped, self._aad(subject_id))

    def cipher(self, subject_id: str) -> SubjectCipher:
        return SubjectCipher(subject_id, self.data_key(subject_id))

    def key_id(self, subject_id: str) -> str | None:
        """The id of the subject's current key (a digest of its wrapped form), None if there is none.
        A key restored from a backup has the id it had; a key made later for the same person has
        another, so a list of destroyed key ids never catches a newer key."""
        wrapped = self._read(self._check(subject_id))
        return key_id_of(wrapped) if wrapped is not None else None

    def destroy(self, subject_id: str) -> str | None:
        """Destroy the wrapped key. Returns its key id, or None if there was none."""
        return self._remove(self._check(subject_id))


class KeyStore(SubjectKeyStore):
    """The file backend: wrapped subject keys, one file each under ``PORTAL_KEY_DIR``, written
    atomically; destroyed by a rename to a tombstone, then overwrite and unlink."""

    kind = "file"

    def __init__(self, directory: Path, master_key: bytes) -> None:
        super().__init__(master_key)
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)

    def _path(self, subject_id: str) -> Path:
        return self.directory / f"{self._check(subject_id)}.key"

    def _read(self, subject_id: str) -> bytes | None:
        try:
            return self._path(subject_id).read_bytes()
        except FileNotFoundError:
            return None

    def _store(self, subject_id: str, wrapped: bytes) -> None:
        write_once(self._path(subject_id), wrapped)

    def _remove(self, subject_id: str) -> str | None:
        """The key file is first renamed to a tombstone (one atomic step: from then on the key does
        not exist for anyone), then overwritten and removed. A tombstone that could not be scrubbed
        (a failing disk) stays for :meth:`scrub_tombstones`, never as a key that half exists."""
        path = self._path(subject_id)
        tombstone = self.directory / f"{TOMBSTONE_PREFIX}{subject_id}.{secrets.token_hex(4)}"
        try:
            destroyed = key_id_of(path.read_bytes())
            os.rename(path, tombstone)
        except FileNotFoundError:
            return None
        sync_directory(self.directory)
        self._scrub(tombstone)
        return destroyed

    @staticmethod
    def _scrub(tombstone: Path) -> bool:
        try:
            size = tombstone.stat().st_size
            with open(tombstone, "r+b") as fh:
                fh.write(secrets.token_bytes(size))
                fh.flush()
                os.fsync(fh.fileno())
            tombstone.unlink()
        except OSError:
            log.warning("a destroyed key's tombstone could not be scrubbed yet; the next sweep tries again")
            return False
        return True

    def scrub_tombstones(self) -> int:
        return sum(self._scrub(path) for path in self.directory.glob(f"{TOMBSTONE_PREFIX}*"))

    def created_at(self, subject_id: str) -> datetime | None:
        """The key file's modification time: it is written once and never changed."""
        try:
            return datetime.fromtimestamp(self._path(subject_id).stat().st_mtime, UTC)
        except FileNotFoundError:
            return None

    def problem(self) -> str | None:
        return folder_problem(self.directory)

    def subject_ids(self) -> list[str]:
        return sorted(p.stem for p in self.directory.glob("*.key") if SUBJECT_ID_PATTERN.match(p.stem))


class _Keys:
    def __init__(self, master_key: bytes, key_dir: Path, pkcs11: dict[str, str] | None) -> None:
        self._master = master_key
        self._key_dir = key_dir
        self._pkcs11 = pkcs11

    @cached_property
    def store(self) -> SubjectKeyStore:
        if self._pkcs11 is not None:
            from portal.crypto.pkcs11_store import Pkcs11KeyStore

            return Pkcs11KeyStore(self._master, **self._pkcs11)
        return KeyStore(self._key_dir, self._master)

    @cached_property
    def directory(self) -> DirectoryCipher:
        return DirectoryCipher(derive_key(self._master, "directory"))

    @cached_property
    def index_key(self) -> bytes:
        return derive_key(self._master, "blind-index")


def init_app(app: Any, master_key: bytes, key_dir: Path, pkcs11: dict[str, str] | None = None) -> None:
    """``pkcs11``: the module, token label and PIN of a PKCS#11 token that keeps the subject keys
    (``PORTAL_KEY_STORE=pkcs11``); otherwise they are files in ``key_dir``."""
    app.extensions["portal.keys"] = _Keys(master_key, key_dir, pkcs11)


def _keys() -> _Keys:
    keys: _Keys = current_app.extensions["portal.keys"]
    return keys


def keystore() -> SubjectKeyStore:
    return _keys().store


def archive_cipher_after_erasure(subject_id: str) -> SubjectCipher:
    """Seals the export archive of a person whose data key was destroyed by an erasure: what
    remains of them (requests, consent history, access log) is still theirs to have. A key derived
    from the master key; associated data binds each archive to the person and the export."""
    return SubjectCipher(subject_id, derive_key(_keys()._master, "export-archive-after-erasure"))


def purpose_cipher(purpose: str) -> PurposeCipher:
    return PurposeCipher(derive_key(_keys()._master, f"purpose:{purpose}"), purpose)


def directory_cipher() -> DirectoryCipher:
    return _keys().directory


def webhook_cipher() -> DirectoryCipher:
    """Seals recipients' webhook signing secrets: a key of their own, derived from the master key."""
    return DirectoryCipher(derive_key(_keys()._master, "webhook-secrets"))


def blind_index(kind: str, value: str, *, fold_case: bool = True) -> str:
    """A keyed hash for looking up a personal value without storing it (e-mail, IdP subject)."""
    normalised = value.strip().casefold() if fold_case else value
    return hmac.new(_keys().index_key, f"{kind}:{normalised}".encode(), hashlib.sha256).hexdigest()
