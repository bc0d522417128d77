"""Signed tree heads: the audit log's Merkle root at a size, signed with Ed25519.

The signing key comes from ``PORTAL_AUDIT_SIGNING_KEY`` (a 32-byte Ed25519 seed, URL-safe base64)
or, without it, is generated once and kept in ``<key dir>/audit-signing.key``, sealed (AES-256-GCM)
under a key derived from the master key. The public key is served at
``/.well-known/audit-log-key`` and printed by ``flask --app wsgi audit public-key``.

A head signs exactly these bytes (UTF-8)::

    portal-audit-tree-head/1\\n<tree_size>\\n<root hex>\\n<signed_at, YYYY-MM-DDTHH:MM:SSZ>\\n<key_id>

where ``key_id`` is the first 16 hex digits of SHA-256 of the raw 32-byte public key. A head is only
signed over a log that verifies (:func:`portal.audit.verify.verify_log`, the earlier heads included),
so a tampered log gets no new head; heads already signed keep naming the root that was.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import secrets
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from flask import current_app
from sqlalchemy import select

from portal.audit.models import TreeHead
from portal.audit.tree import log_size
from portal.config import Settings, current_settings, decode_key
from portal.crypto.keys import SealError, derive_key, seal, unseal, write_once
from portal.db import serialised, utcnow
from portal.extensions import db
from portal.jobs.runners import periodic

log = logging.getLogger(__name__)

HEAD_CONTEXT = b"portal-audit-tree-head/1\n"
KEY_FILE = "audit-signing.key"
KEY_AAD = b"audit-signing-key:ed25519"
ALGORITHM = "Ed25519"
EXTENSION = "portal.audit-signing-key"
# The job runner's sweep makes a head when the log grew and the last head is at least this old, so
# an entry is in the witness file (portal.audit.witness) about a minute after it was written.
HEAD_INTERVAL = timedelta(minutes=1)
# Such a head reads only the entries added since the last one; at most this often (and at a
# process's first) it recomputes the whole log and checks every earlier head and the witness first.
FULL_CHECK_INTERVAL = timedelta(minutes=10)
_LAST_FULL = "portal.audit.last-full-head"
_HEAD_LOCK = 7244892  # next to the append lock (7244891) of portal.audit.services


class HeadError(RuntimeError):
    """No head can be signed (the log does not verify, or the signing key cannot be opened)."""


# -- the key ---------------------------------------------------------------------------------------

def raw_public_key(public: Ed25519PublicKey) -> bytes:
    return public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_id(public: Ed25519PublicKey) -> str:
    return hashlib.sha256(raw_public_key(public)).hexdigest()[:16]


def _key_path(settings: Settings) -> Path:
    return Path(settings.key_dir) / KEY_FILE


def _wrap(settings: Settings) -> AESGCM:
    return AESGCM(derive_key(settings.master_key_bytes, "audit-signing-key-wrap"))


def _create_key_file(path: Path, wrap: AESGCM) -> None:
    """Write a new wrapped seed atomically; if another process got there first, theirs wins."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    write_once(path, seal(wrap, secrets.token_bytes(32), KEY_AAD))  # exactly one key ever lands there


def load_signing_key(settings: Settings, *, create: bool = True) -> Ed25519PrivateKey | None:
    """The configured key, else the stored one (created first if ``create``), else None."""
    if settings.audit_signing_key:
        return Ed25519PrivateKey.from_private_bytes(decode_key("PORTAL_AUDIT_SIGNING_KEY", settings.audit_signing_key))
    path, wrap = _key_path(settings), _wrap(settings)
    if not path.exists():
        if not create:
            return None
        _create_key_file(path, wrap)
    try:
        seed = unseal(wrap, path.read_bytes(), KEY_AAD)
    except SealError:
        raise HeadError(f"{path} does not open with this master key; the audit signing key cannot be used") from None
    return Ed25519PrivateKey.from_private_bytes(seed)


def signing_key() -> Ed25519PrivateKey:
    """This app's signing key (created on first use), kept for the app's lifetime."""
    cached: Ed25519PrivateKey | None = current_app.extensions.get(EXTENSION)
    if cached is None:
        cached = load_signing_key(current_settings())
        if cached is None:  # pragma: no cover - create=True always gives a key
            raise HeadError("no audit signing key")
        current_app.extensions[EXTENSION] = cached
    return cached


def public_key() -> Ed25519PublicKey:
    return signing_key().public_key()


def existing_signing_key() -> Ed25519PrivateKey | None:
    """The signing key if it exists already (never creates one)."""
    cached: Ed25519PrivateKey | None = current_app.extensions.get(EXTENSION)
    if cached is None:
        cached = load_signing_key(current_settings(), create=False)
        if cached is None:
            return None
        current_app.extensions[EXTENSION] = cached
    return cached


def existing_public_key() -> Ed25519PublicKey | None:
    """The public key if a signing key exists already (never creates one)."""
    private = existing_signing_key()
    return private.public_key() if private is not None else None


def public_key_document(public: Ed25519PublicKey | None = None) -> dict[str, str]:
    """What ``/.well-known/audit-log-key`` serves."""
    public = public or public_key()
    return {"algorithm": ALGORITHM, "public_key": base64.b64encode(raw_public_key(public)).decode(),
            "key_id": key_id(public)}


# -- heads -----------------------------------------------------------------------------------------

def stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def head_bytes(tree_size: int, root_hash: bytes, signed_at: datetime, head_key_id: str) -> bytes:
    """The canonical bytes a head signs."""
    return HEAD_CONTEXT + f"{tree_size}\n{root_hash.hex()}\n{stamp(signed_at)}\n{head_key_id}".encode()


def verify_head(head: TreeHead, public: Ed25519PublicKey) -> bool:
    """Is ``head`` signed by ``public`` over its own size, root, time and key id?"""
    if head.key_id != key_id(public) or len(head.signature or b"") != 64 or len(head.root_hash or b"") != 32:
        return False
    try:
        public.verify(bytes(head.signature), head_bytes(head.tree_size, bytes(head.root_hash), head.signed_at,
                                                        head.key_id))
    except InvalidSignature:
        return False
    return True


def latest_head() -> TreeHead | None:
    head: TreeHead | None = db.session.scalar(select(TreeHead).order_by(TreeHead.tree_size.desc(),
                                                                        TreeHead.id.desc()).limit(1))
    return head


def _extend(last: TreeHead, public: Ed25519PublicKey) -> tuple[int, bytes]:
    """The size and root of the log now, read from the latest head on: the head's signature, the
    stored subtree hashes that make up its tree (their root must be the one it signed), and the
    entries added since, each recomputed from its content. What the head covers is not read again:
    the new root commits to exactly what that head signed, whatever has been done to those rows
    since (which ``audit verify`` names, and which breaks any proof made over them)."""
    from portal.audit import merkle, tree
    from portal.audit.verify import recomputed_leaves

    label = f"tree head {last.id} (size {last.tree_size})"
    if not verify_head(last, public):
        raise HeadError(f"{label} is not validly signed by the audit signing key, so no head is signed after it; "
                        "run `flask --app wsgi audit verify`")
    size = log_size()
    if size < last.tree_size:
        raise HeadError(f"{label} covers more entries than the log now holds ({size})")
    tree.sync_nodes(last.tree_size)
    pieces = merkle.perfect_pieces(0, last.tree_size) if last.tree_size else []
    hashes = tree.fetch_pieces(pieces)
    if (merkle.fold_pieces(hashes) if pieces else merkle.EMPTY_ROOT) != bytes(last.root_hash):
        raise HeadError(f"the stored audit tree no longer matches {label}; run `flask --app wsgi audit verify`")
    builder = merkle.TreeBuilder.resume([(1 << level, h) for (level, _), h in zip(pieces, hashes, strict=True)])
    for row, computed in recomputed_leaves(last.tree_size, size):
        seq = row["seq"]
        if seq != builder.size + 1:
            raise HeadError(f"the audit log does not verify, so no tree head is signed: seq {builder.size + 1} "
                            "is missing")
        if computed != bytes(row["leaf_hash"]):
            raise HeadError(f"the audit log does not verify, so no tree head is signed: seq {seq}: leaf hash "
                            "does not match its content")
        builder.append(computed)
    if builder.size != size:
        raise HeadError(f"the audit log does not verify, so no tree head is signed: seq {builder.size + 1} is missing")
    return size, builder.root()


def make_head(*, full: bool = True) -> TreeHead:
    """Sign the log's root and store the head (the caller commits). Audits nothing.

    ``full`` (the command; the periodic head at most every ten minutes): recompute the whole log and check every earlier head
    first. Otherwise (a head for an evidence pack, made while someone waits): go on from the latest
    head, reading only what was added since (:func:`_extend`); the first head is always full."""
    from portal.audit.tree import sync_nodes
    from portal.audit.verify import verify_log

    private = signing_key()
    last = None if full else latest_head()
    if last is None:
        # The heads signed before are checked too: a log rewritten with consistent leaf hashes passes
        # the entry checks, and only the earlier heads show it; such a log must not get a new head.
        result = verify_log()
        if result.problems:  # a head that is only not yet in the witness file is published later
            raise HeadError(f"the audit log does not verify, so no tree head is signed: {result.problems[0]}")
        size, root = result.entries, result.root
    else:
        size, root = _extend(last, private.public_key())
    sync_nodes(size)  # keeps proofs against this head O(log n)
    signed_at = utcnow().replace(microsecond=0)
    kid = key_id(private.public_key())
    head = TreeHead(tree_size=size, root_hash=root, signed_at=signed_at, key_id=kid,
                    signature=private.sign(head_bytes(size, root, signed_at, kid)))
    db.session.add(head)
    db.session.flush()
    return head


def make_head_if_due(now: datetime | None = None, interval: timedelta | None = None) -> TreeHead | None:
    """A head when the log grew since the last one and that one is at least ``interval`` (by default
    :data:`HEAD_INTERVAL`) old: a full one (:func:`make_head`) when this process made none for
    :data:`FULL_CHECK_INTERVAL`, else one from the latest head."""
    interval = HEAD_INTERVAL if interval is None else interval
    serialised(_HEAD_LOCK)  # one head maker at a time
    now = now or utcnow()
    last = latest_head()
    size = log_size()
    if size == 0 or (last is not None and (size <= last.tree_size or now - last.signed_at < interval)):
        return None
    last_full: datetime | None = current_app.extensions.get(_LAST_FULL)
    full = last_full is None or now - last_full >= FULL_CHECK_INTERVAL or now < last_full
    head = make_head(full=full)
    if full:
        current_app.extensions[_LAST_FULL] = now
    return head


@periodic
def sign_tree_head() -> Any:
    """At each sweep of the job runner: the heads a crash kept out of the witness file published,
    then a new signed head when one is due (commits; the commit publishes it)."""
    from portal.audit.witness import publish_pending

    try:
        publish_pending()
    except OSError:
        log.exception("the witness file cannot be written; tree heads are still signed and kept in the database")
    head = make_head_if_due()
    db.session.commit()
    if head is not None:
        log.info("signed audit tree head %s over %s entries", head.id, head.tree_size)
    return head
