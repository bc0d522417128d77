"""The offline verifier (portal.evidence.verify): it loads only the standard library and
`cryptography`; its RFC 9162 proofs agree with the portal's; a real pack passes (in-process and as
`python -m portal.evidence.verify`), and every way of changing it fails with exit 1 and FAIL lines,
never a traceback: any flipped byte (a sample that covers every file and every byte of the ZIP's
structure, and Hypothesis' choice), a file removed or added, an edited file with its hash fixed, a
pack re-signed with another key, entries swapped or about someone else. Bad arguments exit 2."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import sys
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from portal.audit import heads, merkle
from portal.config import PROJECT_ROOT
from portal.evidence import verify as spec
from portal.evidence.pack import _dos_time
from portal.evidence.verify import main, verify_pack
from tests.evidence.pack_support import (
    completed_access,
    flip,
    make_pack,
    member_spans,
    public_key,
    rebuild,
    rejected,
)
from tests.rights.support import World, start_world

MODULE = "portal.evidence.verify"


def run_verifier(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", MODULE, *map(str, args)], capture_output=True, text=True,
                          cwd=PROJECT_ROOT, timeout=60, env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)})


# -- what it needs --------------------------------------------------------------------------------

def test_the_verifier_loads_only_the_standard_library_and_cryptography() -> None:
    """Against a baseline interpreter that has loaded the Ed25519 module of `cryptography`, importing
    the verifier adds standard-library modules and the three portal modules on its path, nothing else."""
    probe = ("import sys\n"
             "import cryptography.hazmat.primitives.asymmetric.ed25519, cryptography.exceptions\n"
             "before = set(sys.modules)\n"
             f"import {MODULE}\n"
             "print('\\n'.join(sorted(set(sys.modules) - before)))\n")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=PROJECT_ROOT,
                         timeout=60).stdout.split()
    portal = sorted(m for m in out if m.split(".")[0] == "portal")
    assert portal == ["portal", "portal.evidence", MODULE]
    foreign = [m for m in out if m.split(".")[0] not in sys.stdlib_module_names and m not in portal]
    assert foreign == []
    assert not [m for m in out if m.split(".")[0] in ("flask", "sqlalchemy", "reportlab", "werkzeug")]


def test_its_merkle_proofs_agree_with_the_portals() -> None:
    """The verifier's own RFC 9162 code accepts every proof the portal makes and refuses each one
    changed, for every tree of 1..33 leaves."""
    all_leaves = [merkle.leaf_hash(f"entry {i}".encode()) for i in range(33)]
    for size in range(1, 34):
        leaves = all_leaves[:size]
        root = merkle.root(leaves)
        for index in range(size):
            proof = merkle.inclusion_proof(leaves, index)
            assert spec.verify_inclusion(leaves[index], index, size, proof, root)
            assert not spec.verify_inclusion(leaves[index], (index + 1) % size, size, proof, root) or size == 1
            for k in range(len(proof)):
                bad = [*proof[:k], flip(proof[k], 0, 1), *proof[k + 1:]]
                assert not spec.verify_inclusion(leaves[index], index, size, bad, root)
        for old in range(0, size + 1):
            proof = merkle.consistency_proof(leaves, old)
            old_root = merkle.root(leaves[:old])
            assert spec.verify_consistency(old, size, old_root, root, proof), (old, size)
            assert not spec.verify_consistency(old, size, flip(old_root, 3), root, proof)
            if proof:
                assert not spec.verify_consistency(old, size, old_root, root, proof[:-1])
                assert not spec.verify_consistency(old, size, old_root, root, [flip(proof[0], 31), *proof[1:]])


def test_bad_arguments_exit_2_and_a_missing_or_foreign_file_fails(tmp_path: Path) -> None:
    assert main([str(tmp_path / "missing.zip")]) == 1
    junk = tmp_path / "junk.zip"
    junk.write_bytes(b"PK\x05\x06" + bytes(18))
    assert not verify_pack(junk).ok
    for data in (b"", b"not a zip at all", bytes(1000)):
        junk.write_bytes(data)
        report = verify_pack(junk)
        assert not report.ok and report.failures[0].startswith("zip: ")
    result = run_verifier(junk, "--key", "not a key")
    assert result.returncode == 2 and "--key is neither" in result.stderr and "Traceback" not in result.stderr
    assert run_verifier().returncode == 2
    assert run_verifier(junk, "--old-head", tmp_path / "nothing.json").returncode == 2
    assert run_verifier(junk, "--older-pack", junk).returncode == 2
    both = run_verifier(junk, "--old-head", junk, "--older-pack", junk)
    assert both.returncode == 2 and "not allowed with" in both.stderr
    result = run_verifier(tmp_path / "missing.zip")
    assert result.returncode == 1 and result.stdout.startswith("FAIL zip: cannot read")


# -- a real pack ------------------------------------------------------------------------------------

@dataclass
class Packed:
    data: bytes
    older: bytes  # an earlier pack of the same request, whose head the later one proves
    key: bytes
    key_document: dict[str, str]
    signing: Ed25519PrivateKey
    foreign_line: str  # an entries.jsonl line of another subject, with its real proof


@pytest.fixture
def world(app: Flask) -> Iterator[World]:
    yield from start_world(app)


@pytest.fixture
def packed(world: World) -> Packed:
    """A small pack (a refusal) with a consistency proof, and a line of Bob's from his own pack."""
    request_id = rejected(world)
    older = make_pack(request_id)
    bob = make_pack(completed_access(world, "bob"))
    made = make_pack(request_id, known_heads=[older.head()])
    assert [n for n in made.members if n.startswith("audit/consistency/")]
    # Bob's entry, with a proof against this pack's head (not his own pack's).
    line = json.loads(bob.members[spec.ENTRIES].decode().splitlines()[0])
    from portal.audit.tree import inclusion_proof

    line["inclusion_proof"] = [h.hex() for h in inclusion_proof(line["seq"], made.result.tree_size)]
    return Packed(data=made.data, older=older.data, key=public_key(), key_document=heads.public_key_document(),
                  signing=heads.signing_key(), foreign_line=json.dumps(line, separators=(",", ":")))


def fails(path: Path, key: bytes, **kwargs: object) -> list[str]:
    report = verify_pack(path, key, **kwargs)  # type: ignore[arg-type]
    assert not report.ok
    return report.failures


def test_a_real_pack_passes_in_process_and_as_a_command(packed: Packed, tmp_path: Path) -> None:
    pack, older = tmp_path / "pack.zip", tmp_path / "older.zip"
    pack.write_bytes(packed.data)
    older.write_bytes(packed.older)
    report = verify_pack(pack, packed.key, old_head=json.loads(spec.read_zip(packed.older)[spec.TREE_HEAD]))
    assert report.ok and report.warnings == [], report.lines()
    assert [c.text.split(":")[0] for c in report.checks] == [
        "zip", "files", "key", "manifest signature", "tree head", "request", "audit entries", "listed entries",
        "consistency"]

    key_file = tmp_path / "audit-log-key.json"
    key_file.write_text(json.dumps(packed.key_document))
    raw_key = base64.b64encode(packed.key).decode()
    for key in (str(key_file), raw_key, json.dumps(packed.key_document)):
        result = run_verifier(pack, "--key", key, "--older-pack", older)
        assert result.returncode == 0, result.stdout + result.stderr
        lines = result.stdout.splitlines()
        assert all(line.startswith("OK ") for line in lines[:-1]) and len(lines) == 10
        assert lines[-1] == "RESULT the pack verifies" and result.stderr == ""
    head_file = tmp_path / "head.json"
    head_file.write_bytes(spec.read_zip(packed.older)[spec.TREE_HEAD])
    assert run_verifier(pack, "--key", raw_key, "--old-head", head_file).returncode == 0

    # Without --key: exit 0, but it says loudly that the key was not checked.
    result = run_verifier(pack)
    assert result.returncode == 0
    assert "WARNING the key was NOT checked against the published one" in result.stdout
    assert "WARNING the key was NOT checked" in result.stderr
    assert "(but see the WARNING above)" in result.stdout
    # A key document whose key id does not match its key is a usage error.
    wrong = {**packed.key_document, "key_id": "0" * 16}
    assert run_verifier(pack, "--key", json.dumps(wrong)).returncode == 2


def flip_offsets(data: bytes) -> list[int]:
    """Every 97th byte, the first and last byte of each file's data, and every byte of the ZIP's
    structure (each file header with its name, the central directory and the end record)."""
    offsets = set(range(0, len(data), 97))
    spans = member_spans(data)
    cursor = 0
    for start, end in sorted(spans.values()):
        offsets.update(range(cursor, start))  # the file header and name before this file's data
        if end > start:
            offsets.update((start, end - 1))
        cursor = end
    offsets.update(range(cursor, len(data)))  # the central directory and the end record
    return sorted(offsets)


def test_every_flipped_byte_fails(packed: Packed, tmp_path: Path) -> None:
    path = tmp_path / "flipped.zip"
    offsets = flip_offsets(packed.data)
    assert len(offsets) > 500
    covered: set[str] = set()
    spans = member_spans(packed.data)
    for offset in offsets:
        path.write_bytes(flip(packed.data, offset))
        report = verify_pack(path, packed.key)  # never raises
        assert not report.ok, offset
        covered.update(name for name, (start, end) in spans.items() if start <= offset < end)
    assert covered == set(spans)  # every file was hit

    @settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(offset=st.integers(0, len(packed.data) - 1), mask=st.integers(1, 255))
    def any_byte(offset: int, mask: int) -> None:
        path.write_bytes(flip(packed.data, offset, mask))
        assert not verify_pack(path, packed.key).ok

    any_byte()

    # As a command: exit 1 with FAIL lines, no traceback (in a file's data, the ZIP's structure, the end).
    pdf_start, _ = spans["request.pdf"]
    for offset in (pdf_start + 100, len(packed.data) - 30, len(packed.data) - 1, 3):
        path.write_bytes(flip(packed.data, offset))
        result = run_verifier(path, "--key", base64.b64encode(packed.key).decode())
        assert result.returncode == 1 and "FAIL " in result.stdout and "Traceback" not in result.stderr
        assert result.stdout.splitlines()[-1].startswith("RESULT the pack does NOT verify")


def test_removed_added_and_edited_files_fail(packed: Packed, tmp_path: Path) -> None:
    members = spec.read_zip(packed.data)
    path = tmp_path / "changed.zip"
    assert not [m for m in members if m.endswith("/")]

    def check(changed: dict[str, bytes], *, key: Ed25519PrivateKey | None = None) -> list[str]:
        path.write_bytes(rebuild(changed, key=key))
        return fails(path, packed.key)

    for name in members:
        if name != spec.MANIFEST:
            rest = {k: v for k, v in members.items() if k != name}
            assert check(rest)[0].startswith("files: "), name
    assert check({k: v for k, v in members.items() if k != spec.MANIFEST}) == [f"files: {spec.MANIFEST} is missing"]
    assert check({**members, "notes.txt": b"added later"}) == ["files: files not in the manifest: notes.txt"]
    assert check({**members, "audit/consistency/1.json": b"{}"})[0].startswith("files: files not in the manifest")

    # request.json edited, and its hash in the manifest fixed: now the manifest's signature fails.
    facts = json.loads(members[spec.REQUEST_JSON])
    facts["deadline"]["status"] = "met" if facts["deadline"]["status"] != "met" else "late"
    edited = json.dumps(facts, indent=2).encode() + b"\n"
    manifest = json.loads(members[spec.MANIFEST])
    for item in manifest["files"]:
        if item["path"] == spec.REQUEST_JSON:
            item.update(sha256=hashlib.sha256(edited).hexdigest(), size=len(edited))
    changed = {**members, spec.REQUEST_JSON: edited, spec.MANIFEST: json.dumps(manifest).encode()}
    assert check(changed) == ["manifest signature: the manifest's Ed25519 signature is NOT valid under the key"]

    # Unsafe names never get as far as the manifest.
    for name in ("/etc/passwd", "../up.txt", "audit/../x", "dir/", "a\\b"):
        path.write_bytes(_renamed(members, name))
        report = verify_pack(path, packed.key)
        assert not report.ok and report.failures[0].startswith("zip: "), name


def _renamed(members: dict[str, bytes], unsafe: str) -> bytes:
    """A ZIP whose README.txt is called ``unsafe`` (written around the canonical writer's name check)."""
    out, central = bytearray(), bytearray()
    mtime, mdate = _dos_time(datetime(2026, 1, 1))
    for name, body in members.items():
        raw = (unsafe if name == "README.txt" else name).encode()
        crc = zlib.crc32(body)
        offset = len(out)
        out += spec.LOCAL_HEADER.pack(spec.LOCAL_SIGNATURE, 20, 0, 0, 0, mtime, mdate, crc, len(body), len(body),
                                      len(raw), 0) + raw + body
        central += spec.CENTRAL_HEADER.pack(spec.CENTRAL_SIGNATURE, 20, 3, 20, 0, 0, 0, mtime, mdate, crc, len(body),
                                            len(body), len(raw), 0, 0, 0, 0, spec.ZIP_EXTERNAL_ATTR, offset) + raw
    end = spec.END_RECORD.pack(spec.END_SIGNATURE, 0, 0, len(members), len(members), len(central), len(out), 0)
    return bytes(out + central + end)


def test_a_pack_re_signed_with_another_key_fails_under_the_published_key(packed: Packed, tmp_path: Path) -> None:
    members = spec.read_zip(packed.data)
    other = Ed25519PrivateKey.generate()
    path = tmp_path / "resigned.zip"
    path.write_bytes(rebuild(members, key=other, head_key=other))
    # Consistent with itself under its own key: exactly what the warning without --key is about.
    report = verify_pack(path)
    assert report.ok and report.warnings
    failures = fails(path, packed.key)
    assert failures[0].startswith("manifest signature: the manifest names key")
    assert "tree head: signed by key" in failures[1]
    result = run_verifier(path, "--key", base64.b64encode(packed.key).decode())
    assert result.returncode == 1 and "FAIL manifest signature" in result.stdout
    # Only the manifest re-signed (the head still the portal's): refused under either key.
    path.write_bytes(rebuild(members, key=other))
    assert fails(path, packed.key)[0].startswith("manifest signature")


def test_entries_swapped_dropped_or_about_someone_else_fail(packed: Packed, tmp_path: Path) -> None:
    """Changes that keep every hash and signature right (the pack is re-signed with the real key,
    as a portal bug would be) are still caught by the entry checks."""
    members = spec.read_zip(packed.data)
    lines = members[spec.ENTRIES].decode().splitlines()
    assert len(lines) >= 4
    path = tmp_path / "entries.zip"

    def with_lines(new: list[str], *, sign: bool = True) -> list[str]:
        changed = {**members, spec.ENTRIES: "".join(line + "\n" for line in new).encode()}
        path.write_bytes(rebuild(changed, key=packed.signing if sign else None))
        return fails(path, packed.key)

    swapped = [lines[1], lines[0], *lines[2:]]
    assert with_lines(swapped, sign=False)[0].startswith("files: audit/entries.jsonl: SHA-256 differs")
    (failure,) = with_lines(swapped)
    assert "does not follow seq" in failure
    assert with_lines(lines[:1] + lines[2:])[0].startswith("listed entries: 1 entries listed in request.json are "
                                                            "missing")
    foreign = sorted([*lines, packed.foreign_line], key=lambda line: json.loads(line)["seq"])
    (failure,) = with_lines(foreign)
    assert "is about another subject" in failure
    entry = json.loads(lines[0])
    entry["inclusion_proof"] = entry["inclusion_proof"][:-1]
    (failure,) = with_lines([json.dumps(entry), *lines[1:]])
    assert "the inclusion proof does NOT lead to the signed root" in failure
    entry = json.loads(lines[0])
    entry["entry"] = entry["entry"].replace('"v":1', '"v":2')
    (failure,) = with_lines([json.dumps(entry), *lines[1:]])
    assert "leaf_hash is not SHA-256(0x00 || entry)" in failure
    assert with_lines(["not json", *lines[1:]])[0].startswith("audit entries: line 1 is not JSON")
