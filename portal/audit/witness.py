"""The witness file: every signed tree head published outside the database as well.

A database administrator can delete the audit entries after a head together with the heads that
cover them, and a log cut short that way verifies against what is left in the database. Each head
is therefore also appended to ``<PORTAL_AUDIT_WITNESS_DIR>/checkpoints`` (docs/architecture.md,
"Audit and evidence"), which is meant to be shipped elsewhere; ``audit verify`` checks the log
against it (a shorter log, a head missing from the database, a different root).

Each head is written as a C2SP checkpoint (https://c2sp.org/tlog-checkpoint) in the signed-note
format (https://c2sp.org/signed-note)::

    <origin>
    <tree size>
    <root hash, standard base64>

    — <key name> <base64(4-byte key id || Ed25519 signature of the three lines above)>

followed by a blank line before the next one. The origin and key name are ``<host><path>/audit-log``
of ``PORTAL_BASE_URL``; the key id is the first 4 bytes of SHA-256(key name || 0x0A || 0x01 || public
key), the key being the audit signing key (the one served at ``/.well-known/audit-log-key``).

A second party (a works council, say) co-signs with ``flask audit witness``: it checks the portal's
signature and that the log grew from the checkpoint it co-signed before (an RFC 9162 consistency
proof), then appends the checkpoint with its own C2SP cosignature line (https://c2sp.org/tlog-cosignature,
``cosignature/v1``: key id over 0x04, an 8-byte time, the signature) to its own file, ``cosigned``
by default.

Heads are published right after the commit that stored them (a session hook), and the periodic
tree-head task publishes any that a crash left out, so the file follows the database within a sweep.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import fcntl
import hashlib
import logging
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy import and_, event, or_, select
from sqlalchemy.orm import Session

from portal.audit import merkle, tree
from portal.audit.heads import existing_signing_key, latest_head, raw_public_key, verify_head
from portal.audit.models import TreeHead
from portal.config import Settings, current_settings
from portal.db import utcnow
from portal.extensions import db
from portal.files import folder_problem, write_all

log = logging.getLogger(__name__)

CHECKPOINTS = "checkpoints"
COSIGNED = "cosigned"
DASH = "\u2014 "
ED25519 = 0x01  # signed-note signature type of an Ed25519 note signature
COSIGNATURE = 0x04  # and of a tlog cosignature/v1
COSIGNATURE_CONTEXT = b"cosignature/v1\ntime "
TAIL_BYTES = 64 * 1024  # the last few hundred records, which the sweep and /readyz read
RECENT = timedelta(minutes=10)  # heads this young that the file's end lacks are published again
_PENDING = "portal.audit.unpublished-heads"
TORN = "its last record is incomplete (a write cut short; the next publication cuts it off)"


class WitnessError(ValueError):
    """A witness file or key that cannot be used; the message says which and why."""


# -- the format --------------------------------------------------------------------------------------

def origin_of(base_url: str) -> str:
    """``<host><path>/audit-log`` of the portal's base URL: the checkpoints' origin and key name."""
    parts = urlsplit(base_url)
    return f"{parts.netloc}{parts.path.rstrip('/')}/audit-log"


def note_key_id(name: str, public: Ed25519PublicKey, kind: int = ED25519) -> bytes:
    return hashlib.sha256(name.encode() + b"\n" + bytes([kind]) + raw_public_key(public)).digest()[:4]


def verifier_key(name: str, public: Ed25519PublicKey, kind: int = COSIGNATURE) -> str:
    """The C2SP verifier key: ``<name>+<hex key id>+<base64(type || public key)>``."""
    return f"{name}+{note_key_id(name, public, kind).hex()}+{base64.b64encode(bytes([kind]) + raw_public_key(public)).decode()}"


def parse_verifier_key(value: str) -> tuple[str, Ed25519PublicKey]:
    """The name and key of a cosigner's verifier key; raises WitnessError if it is not one."""
    try:
        name, hex_id, encoded = value.strip().split("+", 2)
        raw = base64.b64decode(encoded, validate=True)
        public = Ed25519PublicKey.from_public_bytes(raw[1:])
    except (ValueError, binascii.Error):
        raise WitnessError("a verifier key looks like NAME+KEYID+BASE64 (as `audit witness-key` prints it)") from None
    if raw[0] != COSIGNATURE or bytes.fromhex(hex_id) != note_key_id(name, public, COSIGNATURE):
        raise WitnessError(f"the verifier key of {name} is not a cosignature/v1 Ed25519 key, or its key id is wrong")
    return name, public


def checkpoint_body(origin: str, size: int, root: bytes) -> str:
    return f"{origin}\n{size}\n{base64.b64encode(root).decode()}\n"


@dataclass(frozen=True)
class NoteSignature:
    name: str
    key_id: bytes
    blob: bytes  # what follows the key id: the signature (and, for a cosignature, its time first)

    def line(self) -> str:
        return f"{DASH}{self.name} {base64.b64encode(self.key_id + self.blob).decode()}\n"


@dataclass(frozen=True)
class Checkpoint:
    origin: str
    size: int
    root: bytes
    signatures: tuple[NoteSignature, ...] = field(default=())
    number: int = 0  # its place in the file it was read from, 1 first (0: not read from a file)

    @property
    def body(self) -> str:
        return checkpoint_body(self.origin, self.size, self.root)

    def text(self) -> str:
        """The signed note followed by the blank line that ends a record in the file."""
        return self.body + "\n" + "".join(s.line() for s in self.signatures) + "\n"

    def label(self) -> str:
        return f"witness checkpoint {self.number} (size {self.size}, root {self.root.hex()})"


def sign_checkpoint(private: Ed25519PrivateKey, origin: str, size: int, root: bytes) -> Checkpoint:
    body = checkpoint_body(origin, size, root)
    signature = NoteSignature(origin, note_key_id(origin, private.public_key()), private.sign(body.encode()))
    return Checkpoint(origin, size, root, (signature,))


def signed_by(checkpoint: Checkpoint, public: Ed25519PublicKey) -> bool:
    """Does a signature line of ``checkpoint`` hold under the portal's key ``public``?"""
    for signature in checkpoint.signatures:
        if signature.key_id != note_key_id(signature.name, public) or len(signature.blob) != 64:
            continue
        try:
            public.verify(signature.blob, checkpoint.body.encode())
        except InvalidSignature:
            continue
        return True
    return False


def cosignature_message(checkpoint: Checkpoint, moment: int) -> bytes:
    return COSIGNATURE_CONTEXT + str(moment).encode() + b"\n" + checkpoint.body.encode()


def cosign(checkpoint: Checkpoint, private: Ed25519PrivateKey, name: str, moment: int) -> Checkpoint:
    """``checkpoint`` with a cosignature/v1 line of ``name`` added, dated ``moment`` (Unix seconds)."""
    signature = private.sign(cosignature_message(checkpoint, moment))
    line = NoteSignature(name, note_key_id(name, private.public_key(), COSIGNATURE),
                         moment.to_bytes(8, "big") + signature)
    return Checkpoint(checkpoint.origin, checkpoint.size, checkpoint.root, (*checkpoint.signatures, line),
                      checkpoint.number)


def cosigned_at(checkpoint: Checkpoint, name: str, public: Ed25519PublicKey) -> int | None:
    """The time of a valid cosignature of ``name`` under ``public``, or None."""
    wanted = note_key_id(name, public, COSIGNATURE)
    for signature in checkpoint.signatures:
        if signature.name != name or signature.key_id != wanted or len(signature.blob) != 72:
            continue
        moment = int.from_bytes(signature.blob[:8], "big")
        try:
            public.verify(signature.blob[8:], cosignature_message(checkpoint, moment))
        except InvalidSignature:
            continue
        return moment
    return None


def _parse_signature(line: str) -> NoteSignature:
    if not line.startswith(DASH):
        raise WitnessError("a signature line starts with an em dash and a space")
    name, _, encoded = line[len(DASH):].rpartition(" ")
    try:
        raw = base64.b64decode(encoded, validate=True)
    except binascii.Error:
        raise WitnessError("a signature is not base64") from None
    if not name or " " in name or "+" in name or len(raw) < 5:
        raise WitnessError("a signature line holds a key name and base64(key id || signature)")
    return NoteSignature(name, raw[:4], raw[4:])


def _parse_record(body: str, signatures: str, number: int) -> Checkpoint:
    lines = body.split("\n")
    if len(lines) < 3:
        raise WitnessError("a checkpoint has an origin, a tree size and a root hash")
    origin, size_text, root_text = lines[:3]  # further lines would be extensions, which heads never have
    if not origin or not size_text.isdigit() or (size_text != "0" and size_text.startswith("0")):
        raise WitnessError("a checkpoint's first lines are its origin and its tree size in decimal")
    try:
        root = base64.b64decode(root_text, validate=True)
    except binascii.Error:
        root = b""
    if len(root) != 32:
        raise WitnessError("a checkpoint's root hash is 32 bytes in base64")
    if len(lines) > 3:
        raise WitnessError("a checkpoint of this log has no extension lines")
    parsed = tuple(_parse_signature(line) for line in signatures.split("\n"))
    return Checkpoint(origin, int(size_text), root, parsed, number)


def complete_end(data: bytes) -> int:
    """Where the last whole record in ``data`` ends (after its signature lines and blank line), or 0."""
    position = len(data)
    while (found := data.rfind(b"\n\n", 0, position)) >= 0:
        line_start = data.rfind(b"\n", 0, found) + 1
        if data[line_start:found].startswith(DASH.encode()):
            return found + 2
        position = found
    return 0


def parse(text: str, *, partial_start: bool = False) -> tuple[list[Checkpoint], str | None]:
    """The records of a witness file, and what is wrong with it (None if nothing): records are
    read up to the first malformed one. ``partial_start``: ``text`` is the tail of a file and may
    begin in the middle of a record (which is skipped)."""
    if not text:
        return [], None
    chunks = text[:-2].split("\n\n") if text.endswith("\n\n") else text.split("\n\n")
    if partial_start:
        chunks = chunks[1:]
        while chunks and chunks[0].startswith(DASH):
            chunks = chunks[1:]
    torn = None
    if complete_end(text.encode()) != len(text.encode()):
        # A write cut short: anything after the last record's signatures and blank line.
        torn = TORN
        if not text.endswith("\n\n"):
            chunks = chunks[:-1]
        if chunks and len(chunks) % 2:
            chunks = chunks[:-1]
    records: list[Checkpoint] = []
    for index in range(0, len(chunks), 2):
        number = index // 2 + 1
        if index + 1 >= len(chunks):
            return records, f"record {number} has no signature"
        try:
            records.append(_parse_record(chunks[index], chunks[index + 1], number))
        except WitnessError as exc:
            return records, f"record {number} is malformed: {exc}"
    return records, torn


def read_records(path: Path, *, tail: bool = False) -> tuple[list[Checkpoint], str | None]:
    """The records of the witness file at ``path`` (only its last few with ``tail``; their numbers
    then count from the first of them). A missing file holds none."""
    try:
        with path.open("rb") as fh:
            if tail:
                fh.seek(0, os.SEEK_END)
                start = max(0, fh.tell() - TAIL_BYTES)
                fh.seek(start)
                data = fh.read()
            else:
                start, data = 0, fh.read()
    except FileNotFoundError:
        return [], None
    try:
        text = data.decode()
    except UnicodeDecodeError:
        if not tail:
            return [], "it is not UTF-8 text"
        text = data.decode(errors="replace")
    return parse(text, partial_start=start > 0)


@contextlib.contextmanager
def locked(path: Path) -> Iterator[int]:
    """The witness file at ``path`` open for appending, under an exclusive lock (created if need
    be). A record left incomplete by a crash at its end is cut off first, so the next one starts clean."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o750)
    fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o640)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        size = os.fstat(fd).st_size
        if size:
            window = min(size, TAIL_BYTES)
            os.lseek(fd, size - window, os.SEEK_SET)
            tail = os.read(fd, window)
            end = complete_end(tail)
            if end != len(tail) and (end or window == size):
                log.warning("the witness file %s ended in an incomplete record; it was cut off", path)
                os.ftruncate(fd, size - window + end)
        yield fd
    finally:
        os.close(fd)  # releases the lock


def append(fd: int, records: Sequence[Checkpoint]) -> None:
    """Write ``records`` at the end of the locked witness file, all of them, and to disk."""
    if records:
        write_all(fd, "".join(r.text() for r in records).encode())
        os.fsync(fd)


# -- publishing --------------------------------------------------------------------------------------

def witness_path(settings: Settings) -> Path:
    return Path(settings.audit_witness_dir) / CHECKPOINTS


def _origin() -> str:
    return origin_of(current_settings().base_url)


def detached(head: TreeHead) -> TreeHead:
    """A copy of ``head`` that no session tracks (safe to read after its session committed)."""
    return TreeHead(id=head.id, tree_size=head.tree_size, root_hash=bytes(head.root_hash), signed_at=head.signed_at,
                    key_id=head.key_id, signature=bytes(head.signature))


def publish(heads: Iterable[TreeHead]) -> int:
    """Append a checkpoint of each head to the witness file unless one of its last records has
    that size and root; returns how many were added. Only heads validly signed by the audit signing key are published (a head is never
    vouched for here that the portal did not sign), and no key is ever created here."""
    private = existing_signing_key()
    if private is None:
        return 0
    public = private.public_key()
    wanted: dict[tuple[int, bytes], None] = {}
    for head in sorted(heads, key=lambda h: (h.tree_size, h.id or 0)):
        if verify_head(head, public):
            wanted.setdefault((head.tree_size, bytes(head.root_hash)), None)
        else:
            log.warning("tree head %s (size %s) is not signed by the audit signing key: not published",
                        head.id, head.tree_size)
    if not wanted:
        return 0
    origin = _origin()
    path = witness_path(current_settings())
    with locked(path) as fd:
        records, _ = read_records(path, tail=True)
        seen = {(r.size, r.root) for r in records}
        added: list[Checkpoint] = []
        for size, root in wanted:
            if (size, root) in seen:
                continue
            added.append(sign_checkpoint(private, origin, size, root))
            seen.add((size, root))
        append(fd, added)
    return len(added)


def publish_pending() -> int:
    """Publish the signed heads that the witness file does not have yet (a crash, or a full disk,
    between a head's commit and its publication): those larger than its last records, and those
    signed in the last :data:`RECENT` within the sizes they span that are not among them."""
    path = witness_path(current_settings())
    records, _ = read_records(path, tail=True)
    seen = {(r.size, r.root) for r in records}
    floor = max((r.size for r in records), default=-1)
    try:
        whole = path.stat().st_size <= TAIL_BYTES
    except FileNotFoundError:
        whole = True
    start = -1 if whole else min((r.size for r in records), default=-1)  # the sizes the end read covers
    heads = db.session.scalars(select(TreeHead).where(or_(
        TreeHead.tree_size > floor,
        and_(TreeHead.signed_at >= utcnow() - RECENT, TreeHead.tree_size >= start)))
        .order_by(TreeHead.tree_size, TreeHead.id)).all()
    return publish([detached(h) for h in heads if (h.tree_size, bytes(h.root_hash)) not in seen])


def problem() -> str | None:
    """For ``/readyz``: None when the newest signed head is in the witness file, else what is wrong
    (no personal data: the file holds only sizes and hashes)."""
    settings = current_settings()
    folder = Path(settings.audit_witness_dir)
    if folder.exists():
        trouble = folder_problem(folder)
        if trouble:
            return f"folder {trouble}"
    head = latest_head()
    latest = (head.tree_size, bytes(head.root_hash)) if head is not None else None
    db.session.rollback()
    if latest is None:
        return None
    records, _ = read_records(witness_path(settings), tail=True)
    if any((r.size, r.root) == latest for r in records):
        return None
    return "behind: the newest signed tree head is not in the witness file"


# -- checking the log against it ---------------------------------------------------------------------

@dataclass
class WitnessCheck:
    problems: list[str] = field(default_factory=list)  # what shows the log or its heads were changed
    # What the next publication mends: heads not in the file yet, a record cut short by a crash.
    unpublished: list[str] = field(default_factory=list)


def compare(records: Sequence[Checkpoint], file_problem: str | None, path: Path, *, exists: bool,
            heads: Sequence[TreeHead], roots: dict[int, bytes], log_size: int,
            public: Ed25519PublicKey | None) -> WitnessCheck:
    """Check the log (``roots``: its root at each record's size, read by the caller) and its stored
    heads against the records of the witness file."""
    check = WitnessCheck()
    if file_problem:
        (check.unpublished if file_problem == TORN else check.problems).append(f"the witness file {path}: {file_problem}")
    stored = {(h.tree_size, bytes(h.root_hash)) for h in heads}
    for record in records:
        if public is None:
            check.problems.append(f"{record.label()}: the audit signing key is missing, so its signature "
                                  "cannot be checked")
        elif not signed_by(record, public):
            check.problems.append(f"{record.label()}: not signed by the audit signing key")
            continue
        if record.size > log_size:
            gone = f"entry {log_size + 1}" if record.size == log_size + 1 else f"entries {log_size + 1}..{record.size}"
            check.problems.append(f"the log is shorter than the witness: {record.label()} covers {record.size} "
                                  f"entries, the log now holds {log_size} ({gone} gone)")
            continue
        if roots.get(record.size) != record.root:
            now = roots.get(record.size)
            check.problems.append(f"{record.label()}: the entries 1..{record.size} now give a different root "
                                  f"({now.hex() if now else 'none'})")
        if (record.size, record.root) not in stored:
            check.problems.append(f"{record.label()}: no tree head in the database has it (a signed head was removed)")
    published = {(r.size, r.root) for r in records}
    if heads and not exists:
        check.unpublished.append(f"the witness file {path} is missing, but the database holds {len(heads)} "
                                 "signed tree heads")
    elif exists:
        for head in heads:
            if (head.tree_size, bytes(head.root_hash)) not in published:
                check.unpublished.append(f"tree head {head.id} (size {head.tree_size}): not in the witness file {path}")
    return check


def compare_cosigned(records: Sequence[Checkpoint], file_problem: str | None, path: Path, *, name: str,
                     cosigner: Ed25519PublicKey, roots: dict[int, bytes], log_size: int,
                     public: Ed25519PublicKey | None) -> list[str]:
    """Check the log against the checkpoints a second party co-signed (``path``, its file)."""
    if not path.exists():
        return [f"the co-signed file {path} is missing"]
    problems = [f"the co-signed file {path}: {file_problem}"] if file_problem else []
    for record in records:
        label = f"co-signed checkpoint {record.number} (size {record.size}, root {record.root.hex()})"
        if cosigned_at(record, name, cosigner) is None:
            problems.append(f"{label}: no valid cosignature of {name}")
            continue
        if public is None or not signed_by(record, public):
            problems.append(f"{label}: not signed by the audit signing key")
            continue
        if record.size > log_size:
            problems.append(f"the log is shorter than {name} co-signed: {label} covers {record.size} entries, "
                            f"the log now holds {log_size}")
        elif roots.get(record.size) != record.root:
            problems.append(f"{label}: the entries 1..{record.size} now give a different root")
    return problems


# -- publishing each head after the commit that stored it --------------------------------------------

def _remember_heads(session: Session, flush_context: Any) -> None:
    new = [detached(o) for o in session.new if isinstance(o, TreeHead)]
    if new:
        session.info.setdefault(_PENDING, []).extend(new)


def _publish_committed(session: Session) -> None:
    pending = session.info.pop(_PENDING, None)
    if not pending:
        return
    try:
        publish(pending)
    except Exception:  # the periodic task publishes what is left out
        log.exception("a signed tree head could not be written to the witness file; it is published later")


def _forget_heads(session: Session, previous_transaction: Any) -> None:
    session.info.pop(_PENDING, None)


def register() -> None:
    """Publish every tree head after the commit that stores it (once per process)."""
    if not event.contains(db.session, "after_flush", _remember_heads):
        event.listen(db.session, "after_flush", _remember_heads)
        event.listen(db.session, "after_commit", _publish_committed)
        event.listen(db.session, "after_soft_rollback", _forget_heads)


# -- a second party that co-signs ----------------------------------------------------------------------

def new_signer_key(name: str) -> tuple[str, str]:
    """A new co-signing key: its secret form ``PRIVATE+KEY+<name>+<hex key id>+<base64(0x04 || seed)>``
    (as Go's signed-note tools write signer keys) and its verifier key."""
    if not name or any(c.isspace() for c in name) or "+" in name:
        raise WitnessError("a cosigner's name has no spaces and no '+' (e.g. works-council.example.com/witness)")
    private = Ed25519PrivateKey.generate()
    seed = private.private_bytes_raw()
    public = private.public_key()
    secret = (f"PRIVATE+KEY+{name}+{note_key_id(name, public, COSIGNATURE).hex()}+"
              f"{base64.b64encode(bytes([COSIGNATURE]) + seed).decode()}")
    return secret, verifier_key(name, public)


def load_signer_key(path: Path) -> tuple[str, Ed25519PrivateKey]:
    try:
        text = path.read_text().strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise WitnessError(f"the co-signing key {path} cannot be read: {getattr(exc, 'strerror', None) or exc}") from None
    try:
        marker, key, name, hex_id, encoded = text.split("+", 4)
        raw = base64.b64decode(encoded, validate=True)
        private = Ed25519PrivateKey.from_private_bytes(raw[1:])
        wanted = bytes.fromhex(hex_id)
    except (ValueError, binascii.Error):
        raise WitnessError(f"{path} is not a co-signing key (PRIVATE+KEY+NAME+KEYID+BASE64, as "
                           "`audit witness-key` writes it)") from None
    if (marker, key) != ("PRIVATE", "KEY") or raw[0] != COSIGNATURE or \
            wanted != note_key_id(name, private.public_key(), COSIGNATURE):
        raise WitnessError(f"{path} is not a cosignature/v1 Ed25519 key, or its key id does not match it")
    return name, private


@dataclass(frozen=True)
class Cosigned:
    checkpoint: Checkpoint
    previous: Checkpoint | None  # the checkpoint co-signed before, which this one was proved to extend
    added: bool  # False: it was co-signed already


def cosign_latest(name: str, private: Ed25519PrivateKey, out: Path, log_public: Ed25519PublicKey,
                  moment: int) -> Cosigned:
    """Co-sign the newest checkpoint of the witness file and append it, with the portal's signature
    and the cosignature, to ``out``: only if the portal's key signed it, the log gives its root,
    and it extends the checkpoint co-signed last (an RFC 9162 consistency proof from the log,
    checked here). Raises WitnessError naming what does not hold; nothing is written then."""
    records, trouble = read_records(witness_path(current_settings()), tail=True)
    if not records:
        raise WitnessError(f"the witness file holds no checkpoint to co-sign{f' ({trouble})' if trouble else ''}")
    latest = records[-1]
    if not signed_by(latest, log_public):
        raise WitnessError(f"the newest checkpoint (size {latest.size}) is not signed by the audit log's key; "
                           "nothing was co-signed")
    own = [r for r in read_records(out, tail=True)[0] if cosigned_at(r, name, private.public_key()) is not None]
    previous = own[-1] if own else None
    size = tree.log_size()
    if latest.size > size:
        raise WitnessError(f"the newest checkpoint covers {latest.size} entries, but the log holds only {size}; "
                           "nothing was co-signed")
    try:
        now_root = tree.root_at(latest.size)
    except tree.ProofError as exc:
        raise WitnessError(f"the log cannot give the root of its first {latest.size} entries: {exc}") from None
    if now_root != latest.root:
        raise WitnessError(f"the log's first {latest.size} entries no longer give the checkpoint's root; "
                           "nothing was co-signed")
    if previous is not None:
        if latest.size < previous.size:
            raise WitnessError(f"the newest checkpoint (size {latest.size}) is smaller than the one co-signed "
                               f"before (size {previous.size}): the log was cut short; nothing was co-signed")
        if latest.size == previous.size:
            if latest.root != previous.root:
                raise WitnessError(f"the newest checkpoint and the one co-signed before both have size "
                                   f"{latest.size} but different roots; nothing was co-signed")
            return Cosigned(previous, previous, added=False)
        proof = tree.consistency_proof(previous.size, latest.size)
        if not merkle.verify_consistency(previous.size, latest.size, previous.root, latest.root, proof):
            raise WitnessError(f"the log of {latest.size} entries does not extend the one of {previous.size} "
                               "co-signed before (its consistency proof fails); nothing was co-signed")
    portal_lines = tuple(s for s in latest.signatures if s.key_id == note_key_id(s.name, log_public))
    signed = cosign(Checkpoint(latest.origin, latest.size, latest.root, portal_lines), private, name, moment)
    with locked(out) as fd:
        append(fd, [signed])
    return Cosigned(signed, previous, added=True)
