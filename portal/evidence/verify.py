"""Check an evidence pack offline: ``python -m portal.evidence.verify PACK.zip [--key KEY]``.

A regulator runs this on their own machine, so it needs only the standard library and
``cryptography`` and imports nothing else of the portal (the ``portal`` package's ``__init__`` loads
nothing either). It re-implements what it checks instead of trusting the portal's code: the ZIP
layout, SHA-256 of every file, the Ed25519 signatures of the manifest and of the tree head, and the
Merkle proofs of RFC 9162 (§2.1.3.2 inclusion, §2.1.4.2 consistency).

The pack's ZIP is *canonical*: members are stored (not compressed), in one run from the first byte,
with no extra fields, comments, data descriptors or stray bytes, and with fixed header values.
So every byte of the file is either a fixed value, a copy checked against its twin (local header
against central directory), or file data covered by a CRC-32 and by the signed manifest's SHA-256:
changing any single byte makes the check fail.

Exit status: 0 when every check passed, 1 when one failed, 2 for a usage error. Without ``--key``
the pack's own ``public-key.json`` is used, which proves only that the pack is consistent with
itself; the published key (``/.well-known/audit-log-key``) is what proves who signed it.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import hashlib
import json
import re
import struct
import sys
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

PACK_FORMAT = "portal-evidence-pack/1"
REQUEST_FORMAT = "portal-evidence-request/1"
MANIFEST_CONTEXT = b"portal-evidence-manifest/1\n"
HEAD_CONTEXT = b"portal-audit-tree-head/1\n"
ALGORITHM = "Ed25519"
HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()

MANIFEST = "manifest.json"
SIGNATURE = "manifest.sig"
PUBLIC_KEY = "public-key.json"
REQUEST_JSON = "request.json"
TREE_HEAD = "audit/tree-head.json"
ENTRIES = "audit/entries.jsonl"
CONSISTENCY_DIR = "audit/consistency/"

# The canonical ZIP: the header values every member must carry.
ZIP_VERSION = 20  # 2.0: what a stored member needs
ZIP_MADE_BY_SYSTEM = 3  # Unix
ZIP_FLAGS = 0  # names are ASCII: no UTF-8 flag, no data descriptor, no encryption
ZIP_METHOD = 0  # stored
ZIP_EXTERNAL_ATTR = 0o100644 << 16  # a regular file, rw-r--r--
LOCAL_HEADER = struct.Struct("<4sBBHHHHIIIHH")
CENTRAL_HEADER = struct.Struct("<4sBBBBHHHHIIIHHHHHII")
END_RECORD = struct.Struct("<4sHHHHIIH")
LOCAL_SIGNATURE = b"PK\x03\x04"
CENTRAL_SIGNATURE = b"PK\x01\x02"
END_SIGNATURE = b"PK\x05\x06"
MAX_MEMBERS = 10_000
SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)*")
STAMP = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z")
HEX64 = re.compile(r"[0-9a-f]{64}")


class PackError(Exception):
    """The pack is not what it claims; the message says what is wrong."""


class UsageError(Exception):
    """The command line (a key, an older head) cannot be used."""


# -- RFC 9162 ------------------------------------------------------------------------------------

def _node(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def verify_inclusion(leaf: bytes, index: int, tree_size: int, proof: Sequence[bytes], root: bytes) -> bool:
    """RFC 9162 §2.1.3.2: does ``proof`` put leaf hash ``leaf`` at ``index`` of the tree with ``root``?"""
    if not 0 <= index < tree_size or any(len(h) != HASH_SIZE for h in (leaf, root, *proof)):
        return False
    fn, sn, r = index, tree_size - 1, leaf
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = _node(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = _node(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def verify_consistency(old_size: int, new_size: int, old_root: bytes, new_root: bytes,
                       proof: Sequence[bytes]) -> bool:
    """RFC 9162 §2.1.4.2: is the tree of ``old_size`` leaves with ``old_root`` a prefix of the tree
    of ``new_size`` leaves with ``new_root``?"""
    if not 0 <= old_size <= new_size or any(len(h) != HASH_SIZE for h in (old_root, new_root, *proof)):
        return False
    if old_size == 0:
        return not proof and old_root == EMPTY_ROOT
    if old_size == new_size:
        return not proof and old_root == new_root
    if not proof:
        return False
    path = list(proof)
    if old_size & (old_size - 1) == 0:  # a power of two: the old root is the first node
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = _node(c, fr)
            sr = _node(c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = _node(sr, c)
        fn >>= 1
        sn >>= 1
    return sn == 0 and fr == old_root and sr == new_root


# -- the canonical ZIP ---------------------------------------------------------------------------

def read_zip(data: bytes) -> dict[str, bytes]:
    """The members of a canonical pack ZIP, in order; :class:`PackError` for anything else."""
    if len(data) < END_RECORD.size:
        raise PackError("the file is too short to be a ZIP archive")
    end = END_RECORD.unpack_from(data, len(data) - END_RECORD.size)
    signature, disk, cd_disk, on_disk, total, cd_size, cd_offset, comment = end
    if signature != END_SIGNATURE:
        raise PackError("no end-of-archive record at the end of the file (stray bytes, a comment, or not a ZIP)")
    if (disk, cd_disk, comment) != (0, 0, 0) or on_disk != total:
        raise PackError("the end-of-archive record is not canonical (several disks or a comment)")
    if total == 0 or total > MAX_MEMBERS:
        raise PackError(f"the archive holds {total} files")
    if cd_offset + cd_size != len(data) - END_RECORD.size:
        raise PackError("the central directory does not end where the end-of-archive record starts")
    central: list[tuple[tuple[Any, ...], str]] = []
    pos = cd_offset
    for _ in range(total):
        if pos + CENTRAL_HEADER.size > cd_offset + cd_size:
            raise PackError("the central directory is shorter than its entries")
        fields = CENTRAL_HEADER.unpack_from(data, pos)
        (sig, made_by, system, needed, reserved, flags, method, mtime, mdate, crc, csize, usize, name_len,
         extra_len, comment_len, disk_start, internal, external, offset) = fields
        if sig != CENTRAL_SIGNATURE:
            raise PackError(f"a central directory entry at byte {pos} has no signature")
        if (made_by, system, needed, reserved, flags, method) != (ZIP_VERSION, ZIP_MADE_BY_SYSTEM, ZIP_VERSION, 0,
                                                                  ZIP_FLAGS, ZIP_METHOD):
            raise PackError(f"a central directory entry at byte {pos} has non-canonical header values")
        if (extra_len, comment_len, disk_start, internal, external) != (0, 0, 0, 0, ZIP_EXTERNAL_ATTR):
            raise PackError(f"a central directory entry at byte {pos} has extra fields, a comment or odd attributes")
        if csize != usize:
            raise PackError(f"a central directory entry at byte {pos} gives two different sizes")
        raw_name = data[pos + CENTRAL_HEADER.size:pos + CENTRAL_HEADER.size + name_len]
        if len(raw_name) != name_len or pos + CENTRAL_HEADER.size + name_len > cd_offset + cd_size:
            raise PackError("a name runs past the central directory")
        name = _member_name(raw_name)
        central.append(((mtime, mdate, crc, csize, offset), name))
        pos += CENTRAL_HEADER.size + name_len
    if pos != cd_offset + cd_size:
        raise PackError("the central directory holds bytes that belong to no entry")
    members: dict[str, bytes] = {}
    pos = 0
    for (mtime, mdate, crc, size, offset), name in central:
        if offset != pos:
            raise PackError(f"{name}: its data is not where the central directory says (bytes between files)")
        if pos + LOCAL_HEADER.size > cd_offset:
            raise PackError(f"{name}: its header runs into the central directory")
        (sig, needed, reserved, flags, method, l_mtime, l_mdate, l_crc, l_csize, l_usize, name_len,
         extra_len) = LOCAL_HEADER.unpack_from(data, pos)
        if sig != LOCAL_SIGNATURE:
            raise PackError(f"{name}: no file header at byte {pos}")
        if (needed, reserved, flags, method, extra_len) != (ZIP_VERSION, 0, ZIP_FLAGS, ZIP_METHOD, 0):
            raise PackError(f"{name}: its file header has non-canonical values")
        if (l_mtime, l_mdate, l_crc, l_csize, l_usize) != (mtime, mdate, crc, size, size):
            raise PackError(f"{name}: its file header and the central directory disagree")
        start = pos + LOCAL_HEADER.size
        if data[start:start + name_len] != name.encode("ascii"):
            raise PackError(f"{name}: the name in its file header differs from the central directory's")
        start += name_len
        body = data[start:start + size]
        if len(body) != size or start + size > cd_offset:
            raise PackError(f"{name}: its data runs into the central directory")
        if zlib.crc32(body) != crc:
            raise PackError(f"{name}: CRC-32 mismatch (the data was changed)")
        if name in members:
            raise PackError(f"{name}: the archive holds two files of that name")
        members[name] = body
        pos = start + size
    if pos != cd_offset:
        raise PackError("there are bytes between the last file and the central directory")
    return members


def _member_name(raw: bytes) -> str:
    try:
        name = raw.decode("ascii")
    except UnicodeDecodeError:
        raise PackError(f"a file name is not plain ASCII: {raw!r}") from None
    if not SAFE_NAME.fullmatch(name) or ".." in name.split("/"):
        raise PackError(f"unsafe file name {name!r} (absolute, '..', a directory or odd characters)")
    return name


# -- reading the pieces --------------------------------------------------------------------------

def _json(members: dict[str, bytes], name: str) -> Any:
    if name not in members:
        raise PackError(f"{name} is missing")
    try:
        return json.loads(members[name].decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise PackError(f"{name} is not UTF-8 JSON: {exc}") from None


def _object(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise PackError(f"{what} is not a JSON object")
    return value


def _int(value: Any, what: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise PackError(f"{what} is not a non-negative integer")
    return value


def _str(value: Any, what: str) -> str:
    if not isinstance(value, str):
        raise PackError(f"{what} is not a string")
    return value


def _hex32(value: Any, what: str) -> bytes:
    if not isinstance(value, str) or not HEX64.fullmatch(value):
        raise PackError(f"{what} is not 64 lower-case hex digits")
    return bytes.fromhex(value)


def _b64(value: Any, what: str, size: int) -> bytes:
    """Strict, canonical base64 of exactly ``size`` bytes (one encoding per value)."""
    if not isinstance(value, str):
        raise PackError(f"{what} is not base64 text")
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise PackError(f"{what} is not valid base64") from None
    if len(raw) != size or base64.b64encode(raw).decode("ascii") != value:
        raise PackError(f"{what} is not the canonical base64 of {size} bytes")
    return raw


def key_id(raw_public_key: bytes) -> str:
    return hashlib.sha256(raw_public_key).hexdigest()[:16]


def public_key_from_document(document: Any) -> bytes:
    """The raw key of a key document (as ``/.well-known/audit-log-key`` serves it), its key id checked."""
    doc = _object(document, "the key document")
    if doc.get("algorithm") != ALGORITHM:
        raise PackError(f"the key document's algorithm is {doc.get('algorithm')!r}, not {ALGORITHM}")
    raw = _b64(doc.get("public_key"), "the key document's public_key", 32)
    if "key_id" in doc and doc["key_id"] != key_id(raw):
        raise PackError(f"the key document's key_id {doc['key_id']!r} is not that of its key ({key_id(raw)})")
    return raw


@dataclass(frozen=True)
class Head:
    tree_size: int
    root: bytes
    signed_at: str
    key_id: str
    signature: bytes

    def signed_bytes(self) -> bytes:
        return HEAD_CONTEXT + f"{self.tree_size}\n{self.root.hex()}\n{self.signed_at}\n{self.key_id}".encode()


def parse_head(document: Any, what: str = "the tree head") -> Head:
    doc = _object(document, what)
    signed_at = _str(doc.get("signed_at"), f"{what}'s signed_at")
    if not STAMP.fullmatch(signed_at):
        raise PackError(f"{what}'s signed_at is not YYYY-MM-DDTHH:MM:SSZ")
    kid = _str(doc.get("key_id"), f"{what}'s key_id")
    return Head(tree_size=_int(doc.get("tree_size"), f"{what}'s tree_size"),
                root=_hex32(doc.get("root_hash"), f"{what}'s root_hash"), signed_at=signed_at, key_id=kid,
                signature=_b64(doc.get("signature"), f"{what}'s signature", 64))


def head_signature_holds(head: Head, public_key: bytes) -> bool:
    if head.key_id != key_id(public_key):
        return False
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(head.signature, head.signed_bytes())
    except (InvalidSignature, ValueError):
        return False
    return True


# -- the report ----------------------------------------------------------------------------------

@dataclass
class Check:
    ok: bool
    text: str

    def line(self) -> str:
        return f"{'OK' if self.ok else 'FAIL'} {self.text}"


@dataclass
class Report:
    checks: list[Check] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(c.ok for c in self.checks)

    @property
    def failures(self) -> list[str]:
        return [c.text for c in self.checks if not c.ok]

    def passed(self, text: str) -> None:
        self.checks.append(Check(True, text))

    def failed(self, text: str) -> None:
        self.checks.append(Check(False, text))

    def lines(self) -> list[str]:
        return [*(f"WARNING {w}" for w in self.warnings), *(c.line() for c in self.checks)]


@dataclass
class _Pack:
    members: dict[str, bytes]
    manifest: dict[str, Any] | None = None
    public_key: bytes | None = None
    head: Head | None = None
    request: dict[str, Any] | None = None


def _step(report: Report, what: str, check: Callable[[], str | None]) -> bool:
    """Run one check: a returned text is its OK line; PackError (or anything unexpected in a
    malformed pack) becomes its FAIL line. Never raises."""
    try:
        text = check()
    except PackError as exc:
        report.failed(f"{what}: {exc}")
        return False
    except Exception as exc:  # a malformed pack must give FAIL, never a traceback
        report.failed(f"{what}: malformed ({type(exc).__name__}: {exc})")
        return False
    report.passed(f"{what}: {text}" if text else what)
    return True


# -- the checks ----------------------------------------------------------------------------------

def _check_files(pack: _Pack) -> str:
    manifest = _object(_json(pack.members, MANIFEST), MANIFEST)
    if manifest.get("format") != PACK_FORMAT:
        raise PackError(f"{MANIFEST}: format is {manifest.get('format')!r}, not {PACK_FORMAT!r}")
    listed = manifest.get("files")
    if not isinstance(listed, list) or not listed:
        raise PackError(f"{MANIFEST}: no list of files")
    seen: set[str] = set()
    for item in listed:
        item = _object(item, f"{MANIFEST}: a file entry")
        path = _str(item.get("path"), f"{MANIFEST}: a file path")
        if path in seen:
            raise PackError(f"{MANIFEST} lists {path} twice")
        if path in (MANIFEST, SIGNATURE):
            raise PackError(f"{MANIFEST} may not list {path}")
        seen.add(path)
        if path not in pack.members:
            raise PackError(f"{path} is listed in the manifest but missing from the pack")
        body = pack.members[path]
        if _int(item.get("size"), f"{path}'s size") != len(body):
            raise PackError(f"{path}: {len(body)} bytes, the manifest says {item.get('size')}")
        if _str(item.get("sha256"), f"{path}'s sha256") != hashlib.sha256(body).hexdigest():
            raise PackError(f"{path}: SHA-256 differs from the manifest's")
    unlisted = sorted(set(pack.members) - seen - {MANIFEST, SIGNATURE})
    if unlisted:
        raise PackError(f"files not in the manifest: {', '.join(unlisted)}")
    if SIGNATURE not in pack.members:
        raise PackError(f"{SIGNATURE} is missing")
    pack.manifest = manifest
    return f"{len(pack.members)} files; every file the manifest lists is present with its SHA-256 and size, no other"


def _choose_key(pack: _Pack, given: bytes | None, report: Report) -> str:
    if given is not None:
        if len(given) != 32:
            raise PackError("the given public key is not 32 bytes")
        pack.public_key = given
        own = pack.members.get(PUBLIC_KEY)
        if own is not None:
            try:
                inside = public_key_from_document(json.loads(own.decode("utf-8")))
            except (PackError, ValueError, UnicodeDecodeError):
                inside = None
            if inside != given:
                report.warnings.append(f"the pack's {PUBLIC_KEY} is not the key given with --key (the given key is "
                                       "used)")
        return f"the given key, key id {key_id(given)}"
    pack.public_key = public_key_from_document(_json(pack.members, PUBLIC_KEY))
    report.warnings.append("the key was NOT checked against the published one: the pack's own public-key.json was "
                           "used, which shows only that the pack agrees with itself. Verify again with --key and the "
                           "key published at /.well-known/audit-log-key.")
    return f"the pack's own {PUBLIC_KEY}, key id {key_id(pack.public_key)} (NOT checked against the published key)"


def _check_manifest_signature(pack: _Pack) -> str:
    assert pack.manifest is not None and pack.public_key is not None  # noqa: S101 - checked by the caller
    kid = key_id(pack.public_key)
    if pack.manifest.get("key_id") != kid:
        raise PackError(f"the manifest names key {pack.manifest.get('key_id')!r}, the key is {kid}")
    try:
        text = pack.members[SIGNATURE].decode("ascii")
    except UnicodeDecodeError:
        raise PackError(f"{SIGNATURE} is not base64 text") from None
    if not text.endswith("\n"):
        raise PackError(f"{SIGNATURE} does not end with a newline")
    signature = _b64(text[:-1], SIGNATURE, 64)
    try:
        Ed25519PublicKey.from_public_bytes(pack.public_key).verify(signature, MANIFEST_CONTEXT + pack.members[MANIFEST])
    except InvalidSignature:
        raise PackError("the manifest's Ed25519 signature is NOT valid under the key") from None
    return f"Ed25519 signature valid under key {kid}"


def _check_head(pack: _Pack) -> str:
    assert pack.manifest is not None and pack.public_key is not None  # noqa: S101
    document = _json(pack.members, TREE_HEAD)
    head = parse_head(document)
    if head.key_id != key_id(pack.public_key):
        raise PackError(f"signed by key {head.key_id}, not by {key_id(pack.public_key)}")
    if not head_signature_holds(head, pack.public_key):
        raise PackError("its Ed25519 signature is NOT valid")
    if pack.manifest.get("tree_head") != document:
        raise PackError("it differs from the manifest's copy")
    pack.head = head
    return f"size {head.tree_size}, root {head.root.hex()}, signed {head.signed_at}; signature valid"


def _check_request(pack: _Pack) -> str:
    assert pack.manifest is not None  # noqa: S101
    request = _object(_json(pack.members, REQUEST_JSON), REQUEST_JSON)
    if request.get("format") != REQUEST_FORMAT:
        raise PackError(f"format is {request.get('format')!r}, not {REQUEST_FORMAT!r}")
    request_id = _str(request.get("request_id"), "request_id")
    if request_id != pack.manifest.get("request_id"):
        raise PackError(f"request {request_id!r}, the manifest says {pack.manifest.get('request_id')!r}")
    _str(_object(request.get("subject"), "subject").get("id"), "subject.id")
    pack.request = request
    return f"request {request_id}, as the manifest says"


def _about(request: dict[str, Any]) -> tuple[str, str, set[str], set[str]]:
    """The request's id, its subject, and the exports and jobs that fulfilled it."""
    exports = request.get("exports") or []
    if not isinstance(exports, list):
        raise PackError(f"{REQUEST_JSON}: exports is not a list")
    export_ids = {_str(_object(e, "an export").get("id"), "an export's id") for e in exports}
    jobs = request.get("jobs") or []
    if not isinstance(jobs, list):
        raise PackError(f"{REQUEST_JSON}: jobs is not a list")
    job_ids = {_str(j, "a job id") for j in jobs}
    return request["request_id"], request["subject"]["id"], export_ids, job_ids


def _check_entries(pack: _Pack) -> str:
    assert pack.head is not None and pack.request is not None  # noqa: S101
    request_id, subject, export_ids, job_ids = _about(pack.request)
    if ENTRIES not in pack.members:
        raise PackError(f"{ENTRIES} is missing")
    try:
        text = pack.members[ENTRIES].decode("utf-8")
    except UnicodeDecodeError:
        raise PackError(f"{ENTRIES} is not UTF-8") from None
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    last_seq = 0
    for number, line in enumerate(lines, start=1):
        where = f"line {number}"
        try:
            item = _object(json.loads(line), where)
        except ValueError as exc:
            raise PackError(f"{where} is not JSON: {exc}") from None
        seq = _int(item.get("seq"), f"{where}: seq")
        where = f"entry seq {seq}"
        if seq <= last_seq:
            raise PackError(f"{where} does not follow seq {last_seq} (entries must be in increasing seq order)")
        last_seq = seq
        if not 1 <= seq <= pack.head.tree_size:
            raise PackError(f"{where} is outside the signed tree of {pack.head.tree_size} entries")
        if _int(item.get("leaf_index"), f"{where}: leaf_index") != seq - 1:
            raise PackError(f"{where}: leaf_index is not seq - 1")
        body = _str(item.get("entry"), f"{where}: entry")
        leaf = leaf_hash(body.encode("utf-8"))
        if _hex32(item.get("leaf_hash"), f"{where}: leaf_hash") != leaf:
            raise PackError(f"{where}: leaf_hash is not SHA-256(0x00 || entry)")
        proof = item.get("inclusion_proof")
        if not isinstance(proof, list):
            raise PackError(f"{where}: inclusion_proof is not a list")
        path = [_hex32(h, f"{where}: a proof hash") for h in proof]
        if not verify_inclusion(leaf, seq - 1, pack.head.tree_size, path, pack.head.root):
            raise PackError(f"{where}: the inclusion proof does NOT lead to the signed root")
        entry = _object(json.loads(body), f"{where}: entry")
        if json.dumps(entry, sort_keys=True, separators=(",", ":"), ensure_ascii=False) != body:
            raise PackError(f"{where}: the entry is not in canonical form")
        if entry.get("subject") != subject:
            raise PackError(f"{where} is about another subject ({entry.get('subject')!r}), not {subject}")
        targets = _object(entry.get("targets"), f"{where}: targets")
        if not (targets.get("request") == request_id or targets.get("export") in export_ids
                or targets.get("job") in job_ids):
            raise PackError(f"{where} is not about request {request_id}, its exports or its jobs")
    return (f"{len(lines)} entries, in seq order, each hashed as the log hashed it and proven included in the "
            f"signed tree of {pack.head.tree_size}; all about subject {subject} and this request")


def _entry_ids(pack: _Pack) -> set[str]:
    found = set()
    for line in pack.members[ENTRIES].decode("utf-8").split("\n"):
        if line:
            found.add(json.loads(json.loads(line)["entry"])["id"])
    return found


def _check_listed_entries(pack: _Pack) -> str:
    assert pack.request is not None and pack.head is not None  # noqa: S101
    audit = _object(pack.request.get("audit"), f"{REQUEST_JSON}: audit")
    listed = audit.get("entry_ids")
    if not isinstance(listed, list) or not all(isinstance(i, str) for i in listed):
        raise PackError(f"{REQUEST_JSON}: audit.entry_ids is not a list of ids")
    present = _entry_ids(pack)
    missing = sorted(set(listed) - present)
    if missing:
        raise PackError(f"{len(missing)} entries listed in {REQUEST_JSON} are missing: {', '.join(missing[:5])}")
    extra = sorted(present - set(listed))
    if extra:
        raise PackError(f"{len(extra)} entries are not listed in {REQUEST_JSON}: {', '.join(extra[:5])}")
    if audit.get("tree_size") != pack.head.tree_size or audit.get("root_hash") != pack.head.root.hex():
        raise PackError(f"{REQUEST_JSON} names another tree head")
    return f"the {len(listed)} entries {REQUEST_JSON} lists are the ones in {ENTRIES}"


def _check_consistency(pack: _Pack, old: Head) -> str:
    assert pack.head is not None and pack.public_key is not None  # noqa: S101
    if not head_signature_holds(old, pack.public_key):
        raise PackError(f"the older head (size {old.tree_size}) is NOT signed by key {key_id(pack.public_key)}")
    if old.tree_size > pack.head.tree_size:
        raise PackError(f"the older head (size {old.tree_size}) is larger than this pack's ({pack.head.tree_size})")
    if old.tree_size == pack.head.tree_size and old.root == pack.head.root:
        return f"the older head is this pack's own tree (size {old.tree_size}, the same root)"
    name = f"{CONSISTENCY_DIR}{old.tree_size}.json"
    if name not in pack.members:
        raise PackError(f"the pack has no {name}")
    doc = _object(_json(pack.members, name), name)
    if _int(doc.get("old_size"), f"{name}: old_size") != old.tree_size:
        raise PackError(f"{name}: old_size is not {old.tree_size}")
    if _hex32(doc.get("old_root"), f"{name}: old_root") != old.root:
        raise PackError(f"{name}: old_root is not the older head's root {old.root.hex()} (a different log)")
    if _int(doc.get("new_size"), f"{name}: new_size") != pack.head.tree_size:
        raise PackError(f"{name}: new_size is not this pack's head size")
    if _hex32(doc.get("new_root"), f"{name}: new_root") != pack.head.root:
        raise PackError(f"{name}: new_root is not this pack's signed root")
    proof = doc.get("proof")
    if not isinstance(proof, list):
        raise PackError(f"{name}: proof is not a list")
    path = [_hex32(h, f"{name}: a proof hash") for h in proof]
    if not verify_consistency(old.tree_size, pack.head.tree_size, old.root, pack.head.root, path):
        raise PackError(f"{name}: the consistency proof does NOT verify")
    return (f"the older head (size {old.tree_size}, signed {old.signed_at}, signature valid) is a prefix of this "
            f"pack's head (size {pack.head.tree_size})")


def verify_pack(path: str | Path, public_key_bytes: bytes | None = None,
                old_head: dict[str, Any] | None = None) -> Report:
    """Check the pack at ``path``; with ``public_key_bytes`` (the raw 32-byte published key) the
    signatures are checked under it, else under the pack's own key (with a warning); with
    ``old_head`` (a tree head document, as in ``audit/tree-head.json``) the pack must prove that
    head's log is a prefix of its own. Never raises for a bad pack: the report says FAIL."""
    report = Report()
    pack = _Pack(members={})

    def open_pack() -> str:
        try:
            data = Path(path).read_bytes()
        except OSError as exc:
            raise PackError(f"cannot read {path}: {exc.strerror or exc}") from None
        pack.members = read_zip(data)
        return f"{len(data)} bytes, {len(pack.members)} stored files, canonical layout, no stray bytes"

    if not _step(report, "zip", open_pack):
        return report
    if not _step(report, "files", lambda: _check_files(pack)):
        return report
    if _step(report, "key", lambda: _choose_key(pack, public_key_bytes, report)):
        _step(report, "manifest signature", lambda: _check_manifest_signature(pack))
        _step(report, "tree head", lambda: _check_head(pack))
    _step(report, "request", lambda: _check_request(pack))
    if pack.head is not None and pack.request is not None and _step(report, "audit entries",
                                                                    lambda: _check_entries(pack)):
        _step(report, "listed entries", lambda: _check_listed_entries(pack))
    if old_head is not None:
        def consistency() -> str:
            if pack.head is None:
                raise PackError("this pack's own tree head did not verify")
            return _check_consistency(pack, parse_head(old_head, "the older head"))

        _step(report, "consistency", consistency)
    return report


# -- the command ---------------------------------------------------------------------------------

def parse_key(value: str) -> bytes:
    """``--key``: a file holding, or the text of, the published key document (JSON) or the base64
    raw key."""
    text = value
    candidate = Path(value)
    try:
        if candidate.is_file():
            text = candidate.read_text("utf-8")
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise UsageError(f"--key: cannot read {value}: {exc}") from None
    text = text.strip()
    try:
        if text.startswith("{"):
            return public_key_from_document(json.loads(text))
        return _b64(text, "--key", 32)
    except (PackError, ValueError) as exc:
        raise UsageError(f"--key is neither the published key document nor a base64 Ed25519 key: {exc}") from None


def _head_from_older_pack(path: str) -> dict[str, Any]:
    try:
        members = read_zip(Path(path).read_bytes())
    except OSError as exc:
        raise UsageError(f"--older-pack: cannot read {path}: {exc.strerror or exc}") from None
    except PackError as exc:
        raise UsageError(f"--older-pack: {path} is not a readable pack: {exc}") from None
    try:
        return _object(_json(members, TREE_HEAD), TREE_HEAD)
    except PackError as exc:
        raise UsageError(f"--older-pack: {exc}") from None


def _head_from_file(path: str) -> dict[str, Any]:
    try:
        document = json.loads(Path(path).read_text("utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise UsageError(f"--old-head: cannot read a JSON tree head from {path}: {exc}") from None
    if not isinstance(document, dict):
        raise UsageError("--old-head: the file does not hold a JSON object")
    return document


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m portal.evidence.verify",
        description="Check an evidence pack offline: its files, signatures and audit proofs.")
    parser.add_argument("pack", help="the evidence pack (.zip)")
    parser.add_argument("--key", help="the published audit key: the JSON of /.well-known/audit-log-key (a file "
                                      "or the text) or the base64 raw key; without it the pack's own key is used")
    older = parser.add_mutually_exclusive_group()
    older.add_argument("--old-head", help="a tree head you hold already (JSON, as audit/tree-head.json)")
    older.add_argument("--older-pack", help="an earlier pack of the same request: its tree head")
    args = parser.parse_args(argv)
    try:
        key = parse_key(args.key) if args.key else None
        old = (_head_from_file(args.old_head) if args.old_head
               else _head_from_older_pack(args.older_pack) if args.older_pack else None)
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    report = verify_pack(args.pack, key, old)
    for line in report.lines():
        print(line)
    if report.warnings:
        for warning in report.warnings:
            print(f"WARNING {warning}", file=sys.stderr)
    if report.ok:
        print("RESULT the pack verifies" + (" (but see the WARNING above)" if report.warnings else ""))
        return 0
    print(f"RESULT the pack does NOT verify: {len(report.failures)} check(s) failed")
    return 1


if __name__ == "__main__":
    sys.exit(main())
