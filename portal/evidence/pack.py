"""The evidence pack of one request: what a regulator gets to see that the request was handled
as the law requires, and can check offline (docs/architecture.md, "Audit and evidence").

The pack is a ZIP (see :mod:`portal.evidence.verify` for its canonical form)::

    README.txt              how to verify it
    manifest.json           format, request id, the signed tree head, every other file's SHA-256 and size
    manifest.sig            Ed25519 over b"portal-evidence-manifest/1\\n" + manifest.json (base64)
    public-key.json         the audit key document, as /.well-known/audit-log-key serves it
    request.json            the request's facts as data
    request.pdf             the same facts for people
    audit/tree-head.json    a tree head signed for this pack
    audit/entries.jsonl     the request's audit entries, each with its inclusion proof
    audit/consistency/<old size>.json   one per earlier head the regulator holds

Only facts go in: the subject is the portal's pseudonymous id and a jurisdiction; staff appear by
role (and surrogate id); no names, no e-mail addresses, nothing the requester wrote, no messages
or internal notes. The controller's own statements to the requester (the reasons of a refusal or
of an extension) are included: the regulator judges them.

Which audit entries go in: those whose subject is the request's subject *and* which are about
this request (``targets.request``), one of the exports that fulfilled it (``targets.export``) or
its fulfilment jobs (``targets.job``), up to the signed head. They are read through the
``(subject_id, seq)`` index and the targets are filtered here, as JSON querying differs between
SQLite and PostgreSQL.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, BinaryIO

from sqlalchemy import select

from portal.audit import merkle, tree
from portal.audit.heads import HeadError, make_head, public_key_document, signing_key, stamp
from portal.audit.models import AuditEntry, TreeHead
from portal.audit.services import Actor, entry_canonical, record
from portal.config import current_settings
from portal.db import instant, utcnow
from portal.exports.models import Export
from portal.extensions import db
from portal.jurisdictions import KINDS, ground_label, kind, regime_for
from portal.monitoring.models import DataCategory
from portal.rights.models import (
    Channel,
    DataRequest,
    ErasureApproval,
    ErasureCount,
    EventKind,
    RequestEvent,
    RequestState,
)

from . import verify as spec

# Filing these needs a fresh sign-in (step-up): the registry's kinds say which.
STEP_UP_TYPES = frozenset(k.type for k in KINDS if k.step_up)


def right_label(request: DataRequest) -> str:
    """The right a request exercises, with its article in the request's regime: what an approval
    rests on (a refusal names its ground instead)."""
    found = kind(request.type)
    citation = regime_for(request.jurisdiction).right(found.type)
    return f"{found.right_name} ({citation})" if citation else found.right_name


IDENTITY: dict[str, tuple[str, str]] = {
    "self_service": ("sso", "Signed in to the portal through the company's SSO; fulfilled at once by self-service"),
    "portal": ("sso", "Signed in to the portal through the company's SSO"),
    "portal-step-up": ("sso-step-up", "Signed in to the portal through the company's SSO, with a fresh sign-in "
                                      "(step-up re-authentication) just before filing"),
    "verified": ("personal-email-code", "Former employee without SSO: identity verified by a one-time code sent to "
                                        "the personal e-mail address on record (fresh codes before downloads, "
                                        "erasure and objection)"),
}
README = """Evidence pack for request {request_id}
======================================================================

This pack shows how one data-subject request was handled: request.pdf (for people),
request.json (the same facts as data) and the request's entries of the portal's tamper-evident
audit log, each with a Merkle inclusion proof against a signed tree head (RFC 9162).

To verify it offline (Python 3.11+ and the `cryptography` package only):

    python -m portal.evidence.verify {filename} --key audit-log-key.json

where audit-log-key.json is the key published at {key_url}
(key id {key_id}). The verifier checks:

  1. the ZIP: every file listed in manifest.json is present with its SHA-256 and size, and
     nothing else (the ZIP is stored and canonical: any changed byte is detected);
  2. manifest.sig: Ed25519 over b"portal-evidence-manifest/1\\n" + manifest.json, under the key;
  3. audit/tree-head.json: its signature over
     "portal-audit-tree-head/1\\n<size>\\n<root hex>\\n<signed_at>\\n<key_id>", and that the
     manifest holds the same head;
  4. audit/entries.jsonl: each entry's leaf hash is SHA-256(0x00 || entry) and its inclusion proof
     leads to the signed root; entries are in sequence order, all about this request's subject
     and this request;
  5. request.json names this request and lists exactly the entries present;
  6. with --older-pack OLD.zip (or --old-head HEAD.json): the signed head you hold already is a
     prefix of this one (audit/consistency/<old size>.json, RFC 9162 consistency proof).

Without --key the pack's own public-key.json is used: that shows only that the pack agrees with
itself, and the verifier says so.
"""


@dataclass(frozen=True)
class PackResult:
    filename: str  # evidence-<request id>-<YYYYMMDDTHHMMSSZ>.zip
    sha256: str  # hex of the whole zip
    size: int
    tree_size: int  # the signed head the proofs are against
    head_id: int
    entries: int  # audit entries in the pack
    manifest_sha256: str


# -- facts -------------------------------------------------------------------------------------------

def _day(value: date | None) -> str | None:
    return value.isoformat() if value else None


def _utc_date(value: datetime) -> date:
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(UTC).date()


def exports_of(request: DataRequest) -> list[Export]:
    """The exports made to fulfil ``request`` (a retried access request may have several)."""
    return list(db.session.scalars(select(Export).where(Export.request_id == request.id)
                                   .order_by(Export.created_at, Export.id)))


def fulfilment_jobs(request: DataRequest, exports: Sequence[Export]) -> list[str]:
    jobs = [request.job_id] if request.job_id else []
    jobs += [e.job_id for e in exports if e.job_id and e.job_id not in jobs]
    return jobs


def is_about(entry: AuditEntry, request: DataRequest, export_ids: set[str], job_ids: set[str]) -> bool:
    if entry.subject_id != request.subject_id:
        return False
    targets = entry.targets or {}
    return (targets.get("request") == request.id or targets.get("export") in export_ids
            or targets.get("job") in job_ids)


def entries_of(request: DataRequest, tree_size: int, export_ids: set[str], job_ids: set[str]) -> list[AuditEntry]:
    """The request's audit entries up to ``tree_size``, in seq order."""
    rows = db.session.scalars(select(AuditEntry).where(AuditEntry.subject_id == request.subject_id,
                                                       AuditEntry.seq <= tree_size).order_by(AuditEntry.seq))
    return [e for e in rows if is_about(e, request, export_ids, job_ids)]


def identity(request: DataRequest) -> dict[str, str]:
    channel = request.channel.value
    if request.channel == Channel.PORTAL and request.type in STEP_UP_TYPES:
        channel = "portal-step-up"
    method, text = IDENTITY[channel]
    return {"method": method, "description": text}


def _answered_at(request: DataRequest, events: Sequence[RequestEvent]) -> datetime | None:
    """When the controller answered: completed, or refused (withdrawn requests need no answer)."""
    if request.state == RequestState.COMPLETED:
        return request.completed_at
    if request.state == RequestState.REJECTED:
        return request.decided_at or next((e.created_at for e in reversed(events)
                                           if e.to_state == RequestState.REJECTED.value), None)
    return None


def deadline_facts(request: DataRequest, events: Sequence[RequestEvent], today: date) -> dict[str, Any]:
    """The deadline and whether it was met: ``met``/``late`` once answered, ``open`` (not yet due)
    or ``overdue`` while open, ``withdrawn``, or ``none`` (self-service: given at once)."""
    effective = request.effective_due
    answered = _answered_at(request, events)
    facts: dict[str, Any] = {
        "regime": request.regime, "due_on": _day(request.due_on), "acknowledge_by": _day(request.acknowledge_by),
        "extended_due_on": _day(request.extended_due_on), "extended_at": instant(request.extended_at),
        "extension_reason": request.extension_reason, "effective_due_on": _day(effective),
        "answered_at": instant(answered),
    }
    if request.state == RequestState.WITHDRAWN:
        withdrawn = next((e.created_at for e in reversed(events) if e.to_state == RequestState.WITHDRAWN.value), None)
        facts.update(status="withdrawn", days=None,
                     summary=f"withdrawn by the requester on {_day(_utc_date(withdrawn)) if withdrawn else '?'}: "
                             "no answer was due")
    elif effective is None:
        facts.update(status="none", days=None,
                     summary="no deadline: given at once by self-service" if answered else "no deadline set")
    elif answered is not None:
        day = _utc_date(answered)
        late_by = (day - effective).days
        facts.update(status="met" if late_by <= 0 else "late", days=late_by,
                     summary=(f"met: answered on {day.isoformat()}, due {effective.isoformat()}" if late_by <= 0 else
                              f"late: answered on {day.isoformat()}, {_days(late_by)} after {effective.isoformat()}"))
    else:
        left = (effective - today).days
        if left >= 0:
            facts.update(status="open", days=left,
                         summary=f"not yet due: open, due in {_days(left)} ({effective.isoformat()})")
        else:
            facts.update(status="overdue", days=-left,
                         summary=f"open and overdue: due {effective.isoformat()}, {_days(-left)} ago")
    return facts


def _days(n: int) -> str:
    return "1 day" if n == 1 else f"{n} days"


def _timeline(request: DataRequest, events: Sequence[RequestEvent]) -> list[dict[str, Any]]:
    """Each event by role; only the controller's own statements to the requester (an extension's
    or a refusal's reasons) are given, never a message, an answer, a note or a failure reason."""
    out = []
    for event in events:
        statement = None
        if event.kind == EventKind.EXTENSION.value:
            statement = request.extension_reason
        elif event.kind == EventKind.TRANSITION.value and event.to_state == RequestState.REJECTED.value:
            statement = request.decision_text
        out.append({"at": instant(event.created_at), "kind": event.kind, "actor_role": event.actor_role,
                    "actor_id": event.actor_id, "from_state": event.from_state, "to_state": event.to_state,
                    "statement": statement})
    return out


def _decisions(request: DataRequest, events: Sequence[RequestEvent]) -> list[dict[str, Any]]:
    decisions = []
    for event in events:
        if event.kind != EventKind.TRANSITION.value:
            continue
        if event.to_state == RequestState.APPROVED.value:
            decision = {"decision": "approved", "at": instant(event.created_at), "actor_role": event.actor_role,
                        "actor_id": event.actor_id, "legal_basis": f"right-{request.type}",
                        "legal_basis_label": right_label(request), "reasons": None}
            ground = regime_for(request.jurisdiction).erasure_ground(request.erasure_ground)
            if ground is not None:  # an erasure: the ground it rests on (Art. 17(1)'s letter, or the regime's)
                decision["erasure_ground"] = ground.code
                decision["legal_basis_label"] = f"{right_label(request)}; {ground.label}"
            decisions.append(decision)
        elif event.to_state == RequestState.REJECTED.value:
            basis = request.legal_basis or ""
            label = ground_label(request.jurisdiction, basis)
            decisions.append({"decision": "rejected", "at": instant(event.created_at), "actor_role": event.actor_role,
                              "actor_id": event.actor_id, "legal_basis": basis, "legal_basis_label": label,
                              "reasons": request.decision_text})
    return decisions


def _scope(request: DataRequest) -> dict[str, Any] | None:
    scope = request.scope
    if not scope:
        return None
    allowed = ("categories", "date_from", "date_to", "purpose")  # never free text
    return {key: scope[key] for key in allowed if key in scope}


def request_facts(request: DataRequest, *, head: TreeHead, entries: Sequence[AuditEntry],
                  exports: Sequence[Export], jobs: Sequence[str], today: date | None = None) -> dict[str, Any]:
    """What request.json says (and request.pdf shows)."""
    events = list(db.session.scalars(select(RequestEvent).where(RequestEvent.request_id == request.id)
                                     .order_by(RequestEvent.id)))
    approvals = db.session.scalars(select(ErasureApproval).where(ErasureApproval.request_id == request.id)
                                   .order_by(ErasureApproval.approved_at, ErasureApproval.approver_id))
    counts = db.session.scalars(select(ErasureCount).where(ErasureCount.request_id == request.id)
                                .order_by(ErasureCount.category))
    result = request.result or {}
    from portal.rights.certificate import recipient_facts

    recipients = recipient_facts(request)
    erased = {c.category: {"deleted": c.deleted, "blocked": c.blocked,
                           **({"removal_required": c.removal_required} if c.removal_required else {})}
              for c in counts}
    return {
        "format": spec.REQUEST_FORMAT,
        "request_id": request.id,
        "reference": request.reference,
        "type": request.type.value,
        "channel": request.channel.value,
        "jurisdiction": request.jurisdiction,
        "regime": request.regime,
        "subject": {"id": request.subject_id, "jurisdiction": request.jurisdiction},
        "state": request.state.value,
        "received_at": instant(request.received_at),
        "completed_at": instant(request.completed_at),
        "scope": _scope(request),
        "identity_verification": identity(request),
        "timeline": _timeline(request, events),
        "decisions": _decisions(request, events),
        "erasure_approvals": [{"actor_role": a.approver_role, "actor_id": a.approver_id,
                               "at": instant(a.approved_at)} for a in approvals],
        "exports": [{"id": e.id, "job_id": e.job_id, "state": str(e.state), "sha256": e.artifact_sha256,
                     "size": e.artifact_bytes, "counts": dict(e.counts or {}), "completed_at": instant(e.completed_at)}
                    for e in exports],
        "erasure": {"categories": erased, "key_destroyed": bool(result.get("key_destroyed"))} if erased else None,
        "result": {k: v for k, v in result.items() if k not in ("categories", "key_destroyed")} or None,
        # What the requester was told it came to: a statement (key and parameters, worded by
        # request.pdf in the language of its reader), or the text of a row from before keys.
        "outcome": (request.outcome_statement or ({"text": request.outcome_legacy} if request.outcome_legacy
                                                  else None)),
        "jobs": list(jobs),
        "deadline": deadline_facts(request, events, today or utcnow().date()),
        **_training_ledger(request, entries),
        "audit": {"tree_size": head.tree_size, "root_hash": bytes(head.root_hash).hex(), "signed_at":
                  stamp(head.signed_at), "key_id": head.key_id, "entries": len(entries),
                  "entry_ids": [e.entry_id for e in entries]},
        # Each recipient's task and answer, tied to the audit entry of the answer (in this pack).
        **({"recipients": recipients} if recipients else {}),
    }


def _training_ledger(request: DataRequest, entries: Sequence[AuditEntry]) -> dict[str, Any]:
    """The snapshots this request marked "removal required" in the training-set ledger, what the
    pipeline answered for each and for its models, each with the ids of its audit entries that are
    in this pack (absent when the request marked none, so that other packs keep their form)."""
    from portal.training.services import ledger_facts

    items = ledger_facts(request.subject_id, request_id=request.id)
    if not items:
        return {}
    present = {e.entry_id for e in entries}
    return {"training_ledger": [{**item, "audit_entry_ids": [e for e in item["audit_entry_ids"] if e in present]}
                                for item in items]}


# -- the ZIP -----------------------------------------------------------------------------------------

def _dos_time(moment: datetime) -> tuple[int, int]:
    return ((moment.hour << 11) | (moment.minute << 5) | (moment.second // 2),
            ((moment.year - 1980) << 9) | (moment.month << 5) | moment.day)


def canonical_zip(members: Sequence[tuple[str, bytes]], moment: datetime) -> bytes:
    """The canonical stored ZIP that :func:`portal.evidence.verify.read_zip` accepts (and nothing else)."""
    mtime, mdate = _dos_time(moment)
    out = io.BytesIO()
    central = io.BytesIO()
    for name, body in members:
        if not spec.SAFE_NAME.fullmatch(name):
            raise ValueError(f"unsafe member name {name!r}")
        raw = name.encode("ascii")
        crc = zlib.crc32(body)
        offset = out.tell()
        out.write(spec.LOCAL_HEADER.pack(spec.LOCAL_SIGNATURE, spec.ZIP_VERSION, 0, spec.ZIP_FLAGS, spec.ZIP_METHOD,
                                         mtime, mdate, crc, len(body), len(body), len(raw), 0))
        out.write(raw)
        out.write(body)
        central.write(spec.CENTRAL_HEADER.pack(spec.CENTRAL_SIGNATURE, spec.ZIP_VERSION, spec.ZIP_MADE_BY_SYSTEM,
                                               spec.ZIP_VERSION, 0, spec.ZIP_FLAGS, spec.ZIP_METHOD, mtime, mdate,
                                               crc, len(body), len(body), len(raw), 0, 0, 0, 0,
                                               spec.ZIP_EXTERNAL_ATTR, offset))
        central.write(raw)
    cd_offset = out.tell()
    directory = central.getvalue()
    out.write(directory)
    if len(members) > 0xFFFF or out.tell() > 0xFFFFFFFF:
        raise ValueError("an evidence pack this large needs ZIP64, which the format does not use")
    out.write(spec.END_RECORD.pack(spec.END_SIGNATURE, 0, 0, len(members), len(members), len(directory), cd_offset,
                                   0))
    return out.getvalue()


def _json_bytes(value: Any) -> bytes:
    return json.dumps(value, indent=2, ensure_ascii=False).encode("utf-8") + b"\n"


def head_document(head: TreeHead) -> dict[str, Any]:
    """A head as audit/tree-head.json holds it."""
    return {"tree_size": head.tree_size, "root_hash": bytes(head.root_hash).hex(), "signed_at": stamp(head.signed_at),
            "key_id": head.key_id, "signature": base64.b64encode(bytes(head.signature)).decode("ascii")}


def _entries_jsonl(entries: Sequence[AuditEntry], head: TreeHead) -> bytes:
    """Each entry with its proof, each checked here first: a pack that would not verify is not made."""
    lines = []
    tree_size, root = head.tree_size, bytes(head.root_hash)
    for entry in entries:
        body = entry_canonical(entry)
        if spec.leaf_hash(body) != bytes(entry.leaf_hash):
            raise HeadError(f"audit entry {entry.seq} does not match its leaf hash; run `flask --app wsgi audit verify`")
        proof = tree.inclusion_proof(entry.seq, tree_size)
        if not merkle.verify_inclusion(bytes(entry.leaf_hash), entry.seq - 1, tree_size, proof, root):
            raise HeadError(f"audit entry {entry.seq} is not in the signed tree as stored; run "
                            "`flask --app wsgi audit verify`")
        lines.append(json.dumps({"seq": entry.seq, "leaf_index": entry.seq - 1, "entry": body.decode("utf-8"),
                                 "leaf_hash": bytes(entry.leaf_hash).hex(),
                                 "inclusion_proof": [h.hex() for h in proof]},
                                ensure_ascii=False, separators=(",", ":")))
    return "".join(line + "\n" for line in lines).encode("utf-8")


def _consistency_files(known_heads: Sequence[TreeHead], head: TreeHead) -> list[tuple[str, bytes]]:
    files: dict[int, bytes] = {}
    for old in sorted(known_heads, key=lambda h: h.tree_size):
        if old.tree_size in files:
            continue
        if old.tree_size > head.tree_size:
            raise ValueError(f"a known head of size {old.tree_size} is larger than the new head ({head.tree_size})")
        proof = tree.consistency_proof(old.tree_size, head.tree_size)
        files[old.tree_size] = _json_bytes({"old_size": old.tree_size, "old_root": bytes(old.root_hash).hex(),
                                            "new_size": head.tree_size, "new_root": bytes(head.root_hash).hex(),
                                            "proof": [h.hex() for h in proof]})
    return [(f"{spec.CONSISTENCY_DIR}{size}.json", body) for size, body in sorted(files.items())]


def pack_filename(request: DataRequest, moment: datetime) -> str:
    return f"evidence-{request.id}-{moment.strftime('%Y%m%dT%H%M%SZ')}.zip"


def write_pack(request: DataRequest, out: BinaryIO, *, actor: Actor,
               known_heads: Sequence[TreeHead] = ()) -> PackResult:
    """Sign a fresh tree head, write the evidence pack of ``request`` to ``out`` and audit it
    (``evidence:pack:create``, after the bytes are made, so not inside this pack). Flushes; the
    caller commits. ``known_heads``: earlier heads the regulator holds; the pack proves each is a
    prefix of the new one. Raises :class:`portal.audit.heads.HeadError` when no head can be signed."""
    from portal.evidence.pack_pdf import write_request_pdf

    head = make_head(full=False)  # heads are made whenever a pack is made; this one reads only what is new
    db.session.flush()
    created = head.signed_at if head.signed_at.tzinfo else head.signed_at.replace(tzinfo=UTC)
    created = created.astimezone(UTC)
    exports = exports_of(request)
    jobs = fulfilment_jobs(request, exports)
    entries = entries_of(request, head.tree_size, {e.id for e in exports}, set(jobs))
    facts = request_facts(request, head=head, entries=entries, exports=exports, jobs=jobs,
                          today=created.date())
    names = {c.key: c.name for c in db.session.scalars(select(DataCategory))}
    pdf = io.BytesIO()
    write_request_pdf(facts, pdf, category_names=names)
    key_document = public_key_document()
    filename = pack_filename(request, created)
    settings = current_settings()
    key_url = f"{str(settings.base_url).rstrip('/')}/.well-known/audit-log-key"
    head_doc = head_document(head)
    files: list[tuple[str, bytes]] = [
        ("README.txt", README.format(request_id=request.id, filename=filename, key_url=key_url,
                                     key_id=key_document["key_id"]).encode("utf-8")),
        (spec.PUBLIC_KEY, _json_bytes(key_document)),
        (spec.REQUEST_JSON, _json_bytes(facts)),
        ("request.pdf", pdf.getvalue()),
        (spec.TREE_HEAD, _json_bytes(head_doc)),
        (spec.ENTRIES, _entries_jsonl(entries, head)),
        *_consistency_files(known_heads, head),
    ]
    manifest = _json_bytes({
        "format": spec.PACK_FORMAT, "request_id": request.id, "created_at": stamp(created),
        "key_id": key_document["key_id"], "tree_head": head_doc,
        "files": [{"path": path, "sha256": hashlib.sha256(body).hexdigest(), "size": len(body)}
                  for path, body in files],
    })
    signature = signing_key().sign(spec.MANIFEST_CONTEXT + manifest)
    members = [files[0], (spec.MANIFEST, manifest),
               (spec.SIGNATURE, base64.b64encode(signature) + b"\n"), *files[1:]]
    data = canonical_zip(members, created)
    out.write(data)
    digest = hashlib.sha256(data).hexdigest()
    record("evidence:pack:create", actor=actor, subject_id=request.subject_id, targets={"request": request.id},
           details={"sha256": digest, "tree_size": head.tree_size, "entries": len(entries)})
    db.session.flush()
    return PackResult(filename=filename, sha256=digest, size=len(data), tree_size=head.tree_size, head_id=head.id,
                      entries=len(entries), manifest_sha256=hashlib.sha256(manifest).hexdigest())


__all__ = ["PackResult", "write_pack"]
