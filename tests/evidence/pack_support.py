"""Requests worked through the real services (with the jobs run by the test), evidence packs made
from them, and ways to take a pack apart and put it back together (re-signed when a test needs
the signatures to hold, so that a deeper check is the one that must fail)."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from portal.audit import heads
from portal.audit.models import AuditEntry, TreeHead
from portal.audit.services import Actor
from portal.evidence import verify as spec
from portal.evidence.pack import PackResult, canonical_zip, write_pack
from portal.exports.models import Export
from portal.extensions import db
from portal.rights import services as rs
from portal.rights.models import DataRequest, RequestType
from tests.rights.support import World, fill, get, run_pending

# Words that must never reach a pack: what the requester and staff wrote to each other or noted.
SECRETS = {
    "description": "Please erase everything about my Tuesday screenshots",
    "message": "Could you confirm the date range you meant",
    "answer": "All of it, from the very first day",
    "note": "Internal: checked with HR about the pending grievance",
    "approval": "Approved after a look at the hold register",
}
EXTENSION_REASON = "The erasure covers several source systems that must each confirm the deletion"
REJECTION_REASONS = "We hold no monitoring data about you for that period"


def req(request_id: str) -> DataRequest:
    found: DataRequest = get(DataRequest, request_id)
    return found


def completed_erasure(w: World, who: str = "alice", *, received_days_ago: int = 0) -> str:
    """A full erasure: filed (with a description), claimed, a question answered, a note, an
    extension with reasons, reviewed, approved by two DPOs, erased by the job."""
    subject = w[who]
    fill(subject.id, events=6, shots=1)
    received = datetime.now(UTC) - timedelta(days=received_days_ago) if received_days_ago else None
    request_id = rs.file_request(subject, RequestType.ERASURE, description=SECRETS["description"],
                                 received_at=received).request.id
    db.session.commit()
    dpo, dpo2 = (w["dpo"], w["dpo2"]) if who == "alice" else (w["us_dpo"], w["admin"])
    rs.claim(req(request_id), dpo)
    rs.start_review(req(request_id), dpo)
    rs.ask_requester(req(request_id), dpo, SECRETS["message"])
    rs.answer(req(request_id), w[who], SECRETS["answer"])
    rs.add_note(req(request_id), dpo, SECRETS["note"])
    if not received_days_ago:
        rs.extend(req(request_id), dpo, EXTENSION_REASON)
    assert rs.approve(req(request_id), dpo, SECRETS["approval"], erasure_ground=rs.erasure_grounds(req(request_id))[0].code) is False
    assert rs.approve(req(request_id), dpo2) is True
    db.session.commit()
    run_pending()
    assert req(request_id).state == "completed"
    return request_id


def completed_access(w: World, who: str = "alice") -> str:
    """An access request approved by a DPO and fulfilled by its export job."""
    subject = w[who]
    fill(subject.id, events=6, shots=1, prefix=f"{who}-access-")
    request_id = rs.file_request(subject, RequestType.ACCESS, description=SECRETS["description"]).request.id
    db.session.commit()
    dpo = w["dpo"] if who == "alice" else w["us_dpo"]
    rs.claim(req(request_id), dpo)
    rs.start_review(req(request_id), dpo)
    rs.approve(req(request_id), dpo)
    db.session.commit()
    run_pending()
    assert req(request_id).state == "completed"
    return request_id


def rejected(w: World, who: str = "alice", *, basis: str = "no-data") -> str:
    request_id = rs.file_request(w[who], RequestType.RECTIFICATION, wrong="It says I used LinkedIn",
                                 correct="That was a colleague").request.id
    dpo = w["dpo"] if who == "alice" else w["us_dpo"]
    rs.claim(req(request_id), dpo)
    rs.start_review(req(request_id), dpo)
    rs.reject(req(request_id), dpo, basis, REJECTION_REASONS)
    db.session.commit()
    return request_id


@dataclass
class Made:
    data: bytes
    result: PackResult
    members: dict[str, bytes]

    def json(self, name: str) -> Any:
        return json.loads(self.members[name])

    def head(self) -> TreeHead:
        head: TreeHead = get(TreeHead, self.result.head_id)
        return head

    def entries(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.members[spec.ENTRIES].decode().splitlines()]

    def write(self, path: Path) -> Path:
        path.write_bytes(self.data)
        return path


def make_pack(request_id: str, *, known_heads: list[TreeHead] | None = None) -> Made:
    """write_pack as a caller does it: into a buffer, then commit."""
    out = io.BytesIO()
    result = write_pack(req(request_id), out, actor=Actor.system(), known_heads=known_heads or ())
    db.session.commit()
    data = out.getvalue()
    return Made(data=data, result=result, members=spec.read_zip(data))


def public_key() -> bytes:
    return heads.raw_public_key(heads.public_key())


def key_document() -> dict[str, str]:
    return heads.public_key_document()


# -- taking packs apart --------------------------------------------------------------------------------

def rebuild(members: dict[str, bytes], *, key: Ed25519PrivateKey | None = None,
            head_key: Ed25519PrivateKey | None = None) -> bytes:
    """A canonical ZIP of ``members``. With ``key``: a fresh manifest (hashes of the files as they
    are now) signed with it; with ``head_key`` too, the tree head is re-signed with that one (and
    public-key.json names it)."""
    members = dict(members)
    if key is not None:
        manifest = json.loads(members[spec.MANIFEST])
        raw = heads.raw_public_key(key.public_key())
        kid = spec.key_id(raw)
        if head_key is not None:
            head = json.loads(members[spec.TREE_HEAD])
            head["key_id"] = spec.key_id(heads.raw_public_key(head_key.public_key()))
            signed = spec.parse_head({**head, "signature": base64.b64encode(bytes(64)).decode()}).signed_bytes()
            head["signature"] = base64.b64encode(head_key.sign(signed)).decode()
            members[spec.TREE_HEAD] = json.dumps(head, indent=2).encode() + b"\n"
            manifest["tree_head"] = head
            members[spec.PUBLIC_KEY] = json.dumps({"algorithm": "Ed25519", "public_key": base64.b64encode(raw).decode(),
                                                   "key_id": kid}).encode()
        manifest["key_id"] = kid
        manifest["files"] = [{"path": name, "sha256": hashlib.sha256(body).hexdigest(), "size": len(body)}
                             for name, body in members.items() if name not in (spec.MANIFEST, spec.SIGNATURE)]
        body = json.dumps(manifest, indent=2).encode() + b"\n"
        members[spec.MANIFEST] = body
        members[spec.SIGNATURE] = base64.b64encode(key.sign(spec.MANIFEST_CONTEXT + body)) + b"\n"
    return canonical_zip(list(members.items()), datetime(2026, 1, 2, 3, 4, 6, tzinfo=UTC))


def member_spans(data: bytes) -> dict[str, tuple[int, int]]:
    """Where each member's data lies in the file: name -> (first byte, one past the last)."""
    spans = {}
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        for info in archive.infolist():
            start = info.header_offset + 30 + len(info.filename.encode())
            spans[info.filename] = (start, start + info.file_size)
    return spans


def all_text(made: Made) -> str:
    """Every member as text (the PDF's extracted text instead of its compressed bytes)."""
    from pypdf import PdfReader

    parts = []
    for name, body in made.members.items():
        if name.endswith(".pdf"):
            parts.append("\n".join(page.extract_text() for page in PdfReader(io.BytesIO(body)).pages))
            parts.append(body.decode("latin-1"))
        else:
            parts.append(body.decode("utf-8"))
    return "\n".join(parts)


def pdf_text(made: Made) -> str:
    from pypdf import PdfReader

    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(made.members["request.pdf"])).pages)


def audit_count() -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(AuditEntry)) or 0


def ids_of(w: World, who: str) -> set[str]:
    """Every id that belongs to ``who``: theirs, their requests', exports', jobs' and audit entries'."""
    subject = getattr(w, who)
    requests = set(db.session.scalars(sa.select(DataRequest.id).where(DataRequest.subject_id == subject)))
    exports = db.session.execute(sa.select(Export.id, Export.job_id).where(Export.subject_id == subject)).all()
    jobs = set(db.session.scalars(sa.select(DataRequest.job_id).where(DataRequest.subject_id == subject,
                                                                      DataRequest.job_id.is_not(None))))
    entries = set(db.session.scalars(sa.select(AuditEntry.entry_id).where(AuditEntry.subject_id == subject)))
    return {subject, *requests, *(e for e, _ in exports), *(j for _, j in exports), *jobs, *entries}


Flip = Callable[[bytes, int, int], bytes]


def flip(data: bytes, offset: int, mask: int = 0xFF) -> bytes:
    changed = bytearray(data)
    changed[offset] ^= mask
    return bytes(changed)
