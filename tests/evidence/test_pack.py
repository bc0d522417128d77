"""Evidence packs (portal.evidence.pack): requests worked through the real services, packed by
write_pack and by `flask evidence pack`, checked by the offline verifier; what goes in (the
request's entries with proofs, its facts as JSON and PDF, consistency with earlier heads) and what
never does (another employee's entries, names, e-mail addresses, what people wrote)."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import re
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask

from portal.audit import heads
from portal.audit.models import AuditEntry, TreeHead
from portal.audit.services import Actor, entry_canonical
from portal.evidence import verify as spec
from portal.evidence.models import EvidencePack
from portal.evidence.pack import head_document
from portal.evidence.verify import verify_pack
from portal.exports.models import Export
from portal.exports.services import record_download
from portal.extensions import db
from portal.jurisdictions import ground_label
from portal.rights.certificate import issue_certificate
from portal.rights.models import ErasureCount
from portal.rights.services import file_request, record_self_service_access
from tests.conftest import both_databases
from tests.evidence.pack_support import (
    EXTENSION_REASON,
    REJECTION_REASONS,
    SECRETS,
    all_text,
    audit_count,
    completed_access,
    completed_erasure,
    ids_of,
    make_pack,
    pdf_text,
    public_key,
    rejected,
    req,
)
from tests.helpers import drop_audit_triggers
from tests.rights.support import World, days_ago, start_world

LAYOUT = ["README.txt", "manifest.json", "manifest.sig", "public-key.json", "request.json", "request.pdf",
          "audit/tree-head.json", "audit/entries.jsonl"]
NAMES = ("Alice Example", "Bob Example", "Staff Member", "alice@example.com", "bob@example.com", "dana@example.com",
         "dario@example.com", "uma@example.com", "admin@example.com")


@pytest.fixture
def world(app: Flask) -> Iterator[World]:
    yield from start_world(app)


def heads_count() -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(TreeHead)) or 0


def about(entry: AuditEntry, request_id: str) -> bool:
    return (entry.targets or {}).get("request") == request_id


# -- a completed erasure ----------------------------------------------------------------------------

@both_databases
def test_a_completed_erasure_is_packed_with_its_entries_facts_and_a_fresh_signed_head(
        world: World, tmp_path: Path) -> None:
    request_id = completed_erasure(world)
    before, heads_before = audit_count(), heads_count()
    made = make_pack(request_id)
    result = made.result

    # The result describes the bytes, and the head was signed for this pack and stored.
    assert re.fullmatch(rf"evidence-{request_id}-\d{{8}}T\d{{6}}Z\.zip", result.filename)
    assert (result.sha256, result.size) == (hashlib.sha256(made.data).hexdigest(), len(made.data))
    assert result.manifest_sha256 == hashlib.sha256(made.members["manifest.json"]).hexdigest()
    assert heads_count() == heads_before + 1
    head = made.head()
    assert heads.verify_head(head, heads.public_key())
    assert head.tree_size == result.tree_size == before  # the whole log, just before the pack's own entry
    assert list(made.members) == LAYOUT  # deterministic order, no consistency file without known heads

    # One audit entry, after the head, not inside this pack.
    (created,) = db.session.scalars(sa.select(AuditEntry).where(AuditEntry.seq > head.tree_size))
    assert audit_count() == before + 1
    assert (created.tag, created.actor_type, created.subject_id, created.targets) == (
        "evidence:pack:create", "system", world.alice, {"request": request_id})
    assert created.details == {"sha256": result.sha256, "tree_size": head.tree_size, "entries": result.entries}
    entries = made.entries()
    assert created.entry_id not in {json.loads(e["entry"])["id"] for e in entries}

    # The entries: exactly Alice's entries about this request, in order, as the log holds them.
    expected = [e for e in db.session.scalars(sa.select(AuditEntry).order_by(AuditEntry.seq))
                if e.subject_id == world.alice and about(e, request_id) and e.seq <= head.tree_size]
    assert [e["seq"] for e in entries] == [e.seq for e in expected] and result.entries == len(expected)
    assert [e["leaf_hash"] for e in entries] == [bytes(e.leaf_hash).hex() for e in expected]
    tags = {json.loads(e["entry"])["tag"] for e in entries}
    assert {"requests:request:file", "requests:request:claim", "requests:request:extend",
            "requests:request:approve-erasure", "requests:request:approve", "requests:request:complete",
            "crypto:subject-key:destroy"} <= tags
    assert "consent:suppression:add" not in tags  # Alice's, but about no request

    report = verify_pack(made.write(tmp_path / result.filename), public_key())
    assert report.ok, report.lines()
    assert report.warnings == []

    # The facts.
    facts = made.json("request.json")
    manifest = made.json("manifest.json")
    assert facts["request_id"] == manifest["request_id"] == request_id
    assert manifest["tree_head"] == made.json("audit/tree-head.json")
    assert made.json("public-key.json") == heads.public_key_document()
    assert (facts["type"], facts["channel"], facts["jurisdiction"], facts["subject"]) == (
        "erasure", "portal", "ES", {"id": world.alice, "jurisdiction": "ES"})
    assert facts["identity_verification"]["method"] == "sso-step-up"
    assert [(d["decision"], d["actor_role"], d["actor_id"]) for d in facts["decisions"]] == [
        ("approved", "dpo", world.dpo2)]
    assert "GDPR Art. 17" in facts["decisions"][0]["legal_basis_label"]
    assert sorted((a["actor_role"], a["actor_id"]) for a in facts["erasure_approvals"]) == sorted(
        [("dpo", world.dpo), ("dpo", world.dpo2)])
    counts = {c.category: {"deleted": c.deleted, "blocked": c.blocked}
              for c in db.session.scalars(sa.select(ErasureCount).where(ErasureCount.request_id == request_id))}
    counts["ai_training_use"]["removal_required"] = 1  # the record of use is kept as evidence, marked
    assert facts["erasure"] == {"categories": counts, "key_destroyed": True}
    assert sum(c["deleted"] for c in counts.values()) == 7  # 6 events, 1 screenshot
    deadline = facts["deadline"]
    request = req(request_id)
    assert request.due_on is not None and request.extended_due_on is not None
    assert (deadline["status"], deadline["due_on"], deadline["extended_due_on"]) == (
        "met", request.due_on.isoformat(), request.extended_due_on.isoformat())
    assert deadline["extension_reason"] == EXTENSION_REASON
    statements = {e["kind"]: e["statement"] for e in facts["timeline"] if e["statement"]}
    assert statements == {"extension": EXTENSION_REASON}  # not the question, the answer or the notes
    assert facts["audit"]["entry_ids"] == [json.loads(e["entry"])["id"] for e in entries]
    # The training-set ledger's state for what this request marked, tied to its entries in the pack.
    (item,) = facts["training_ledger"]
    assert item["removal"]["cause"] == "erasure" and item["removal"]["request_id"] == request_id
    assert item["removal"]["answer"] is None and item["audit_entry_ids"]
    assert set(item["audit_entry_ids"]) <= set(facts["audit"]["entry_ids"])
    assert "training:removal:mark" in tags

    # Nothing anyone wrote to or about the requester, and no names or e-mail addresses, anywhere.
    text = all_text(made)
    for secret in (*SECRETS.values(), *NAMES):
        assert secret not in text, secret

    pdf = pdf_text(made)
    assert request_id in pdf and "Erasure" in pdf and "Right to erasure (GDPR Art. 17" in pdf
    assert "met: answered on" in pdf and EXTENSION_REASON in " ".join(pdf.split())
    for name, count in (("Input events", counts["input_events"]), ("Screenshots", counts["screenshots"])):
        assert f"{name}\n{count['deleted']}\n{count['blocked']}" in pdf
    assert f"Evidence pack for request {request_id}" in pdf and "page 1 of" in pdf
    # No internal key or enum value reaches the reader: states, kinds, roles and timeline entries in words.
    flat = " ".join(pdf.split())
    for raw in ("in_review", "(erasure)", "— → received", "day(s)", "fulfilling", " dpo "):
        assert raw not in flat, raw
    assert "New → Received" in flat and "Being carried out" in flat and "Completed" in flat
    assert "Training-set ledger" in flat and "Waiting for the AI-training team's answer." in flat


@both_databases
def test_an_access_request_pack_carries_its_export_hash_counts_and_export_entries(
        world: World, tmp_path: Path) -> None:
    request_id = completed_access(world)
    (export,) = db.session.scalars(sa.select(Export).where(Export.request_id == request_id))
    record_download(export, actor=Actor("employee", world.alice))
    db.session.commit()
    made = make_pack(request_id)
    assert verify_pack(made.write(tmp_path / "p.zip"), public_key()).ok

    facts = made.json("request.json")
    assert facts["exports"] == [{"id": export.id, "job_id": export.job_id, "state": "ready",
                                 "sha256": export.artifact_sha256, "size": export.artifact_bytes,
                                 "counts": export.counts, "completed_at": facts["exports"][0]["completed_at"]}]
    assert export.counts and export.counts["screenshots"] == 1
    assert facts["jobs"] == [export.job_id] and facts["erasure"] is None
    assert facts["identity_verification"]["method"] == "sso"
    assert facts["decisions"][0]["legal_basis_label"].startswith("Right of access (GDPR Art. 15")
    entries = [json.loads(e["entry"]) for e in made.entries()]
    by_tag = {e["tag"]: e for e in entries}
    # Entries about the export or its job count, though they do not name the request.
    assert by_tag["exports:export:request"]["targets"] == {"export": export.id, "job": export.job_id}
    assert by_tag["exports:export:download"]["targets"] == {"export": export.id}
    assert "exports:export:complete" in by_tag and "requests:request:complete" in by_tag

    pdf = pdf_text(made)
    assert export.artifact_sha256 is not None
    assert export.artifact_sha256 in pdf and "Access" in pdf and "(access)" not in pdf and "met: answered on" in pdf
    assert f"Screenshots\n{export.counts['screenshots']}" in pdf


@both_databases
def test_another_employees_entries_never_reach_the_pack(world: World) -> None:
    """Bob has requests, exports, jobs and audit entries of his own, worked by other staff; none of
    his ids appear anywhere in Alice's pack, and every entry in it is about Alice."""
    completed_access(world, "bob")
    rejected(world, "bob")
    request_id = completed_erasure(world)
    completed_erasure(world, "bob")
    bobs = ids_of(world, "bob") | {world.us_dpo}
    assert len(bobs) > 20
    made = make_pack(request_id)
    text = all_text(made)
    assert [i for i in bobs if i in text] == []
    assert {json.loads(e["entry"])["subject"] for e in made.entries()} == {world.alice}


def test_a_refusal_shows_its_legal_basis_and_reasons(world: World, tmp_path: Path) -> None:
    request_id = rejected(world)
    made = make_pack(request_id)
    assert verify_pack(made.write(tmp_path / "p.zip"), public_key()).ok
    facts = made.json("request.json")
    label = ground_label("ES", "no-data")
    assert [(d["decision"], d["legal_basis"], d["legal_basis_label"], d["reasons"]) for d in facts["decisions"]] == [
        ("rejected", "no-data", label, REJECTION_REASONS)]
    assert facts["deadline"]["status"] == "met"
    assert "It says I used LinkedIn" not in all_text(made)  # what the requester asked to correct
    pdf = " ".join(pdf_text(made).split())
    assert label in pdf and REJECTION_REASONS in pdf and "Rectification" in pdf and "(rectification)" not in pdf


def test_the_deadline_says_not_yet_due_overdue_late_or_none(world: World) -> None:
    open_now = file_request(world["alice"], "access").request.id
    open_old = file_request(world["bob"], "portability", received_at=days_ago(70)).request.id
    db.session.commit()
    late = completed_erasure(world, received_days_ago=60)

    facts = make_pack(open_now).json("request.json")
    assert (facts["state"], facts["deadline"]["status"], facts["decisions"]) == ("received", "open", [])
    assert facts["deadline"]["summary"].startswith("not yet due: open, due in ")
    made = make_pack(open_old)
    assert made.json("request.json")["deadline"]["status"] == "overdue"
    assert "open and overdue" in pdf_text(made)
    made = make_pack(late)
    deadline = made.json("request.json")["deadline"]
    assert (deadline["status"], deadline["extended_due_on"]) == ("late", None)
    assert deadline["days"] > 0 and "late: answered on" in pdf_text(made)

    # A self-service copy has no deadline: it was given at once.
    own = record_self_service_access(world.alice, "ES", actor=Actor("employee", world.alice), details={})
    db.session.commit()
    made = make_pack(own.id)
    facts = made.json("request.json")
    assert (facts["channel"], facts["state"], facts["deadline"]["status"]) == ("self_service", "completed", "none")
    assert facts["identity_verification"]["description"].endswith("fulfilled at once by self-service")
    assert "no deadline: given at once by self-service" in pdf_text(made)


# -- consistency with a head the regulator holds ---------------------------------------------------

@both_databases
def test_a_later_pack_proves_the_earlier_head_is_a_prefix_of_its_own(world: World, tmp_path: Path) -> None:
    request_id = completed_erasure(world)
    first = make_pack(request_id)
    first_size, first_root = first.result.tree_size, bytes(first.head().root_hash).hex()
    issue_certificate(req(request_id), world["alice"], actor=Actor("employee", world.alice))
    db.session.commit()
    middle = head_document(heads.make_head())  # a head the regulator got elsewhere
    db.session.commit()
    completed_access(world, "bob")  # the log grows with others' entries too
    second = make_pack(request_id, known_heads=[first.head(), first.head()])
    name = f"audit/consistency/{first_size}.json"
    assert list(second.members) == [*LAYOUT, name]  # one file per known size
    proof = second.json(name)
    assert (proof["old_size"], proof["old_root"], proof["new_size"]) == (
        first_size, first_root, second.result.tree_size)
    assert proof["proof"]
    tags = [json.loads(e["entry"])["tag"] for e in second.entries()]
    assert tags[-2:] == ["evidence:pack:create", "requests:certificate:download"]  # the first pack is in the log

    path = second.write(tmp_path / "second.zip")
    old = first.json("audit/tree-head.json")
    report = verify_pack(path, public_key(), old_head=old)
    assert report.ok, report.lines()
    assert any(c.ok and c.text.startswith("consistency") for c in report.checks)

    # A head over another log (its root changed), unsigned or signed with the real key: refused.
    forged = {**old, "root_hash": hashlib.sha256(b"another log").hexdigest()}
    report = verify_pack(path, public_key(), old_head=forged)
    assert report.failures == [f"consistency: the older head (size {first_size}) is NOT signed by key "
                               f"{spec.key_id(public_key())}"]
    signed = spec.parse_head(forged).signed_bytes()
    forged["signature"] = base64.b64encode(heads.signing_key().sign(signed)).decode()
    report = verify_pack(path, public_key(), old_head=forged)
    assert len(report.failures) == 1 and "old_root is not the older head's root" in report.failures[0]
    # A head the pack has no proof for, and one newer than the pack's.
    report = verify_pack(path, public_key(), old_head=middle)
    assert report.failures == [f"consistency: the pack has no audit/consistency/{middle['tree_size']}.json"]
    newer = make_pack(request_id).json("audit/tree-head.json")
    report = verify_pack(path, public_key(), old_head=newer)
    assert len(report.failures) == 1 and "larger than this pack's" in report.failures[0]
    # The pack's own head needs no proof: it is the same tree.
    report = verify_pack(first.write(tmp_path / "first.zip"), public_key(), old_head=old)
    assert report.ok and any(c.text.startswith("consistency: the older head is this pack's") for c in report.checks)


# -- the command -------------------------------------------------------------------------------------

def test_the_command_writes_a_verifiable_pack_and_refuses_bad_input(app: Flask, world: World,
                                                                    tmp_path: Path) -> None:
    request_id = completed_erasure(world)
    runner = app.test_cli_runner()
    folder = tmp_path / "out"
    folder.mkdir()
    out = folder / "pack.zip"
    db.session.remove()
    result = runner.invoke(args=["evidence", "pack", "--request", request_id, "--out", str(out)])
    assert result.exit_code == 0, result.output
    data = out.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    assert f"sha256:     {digest}" in result.output and f"path:       {out}" in result.output
    assert re.search(r"tree head:  \d+ \(size \d+\)", result.output) and "entries:    " in result.output
    assert verify_pack(out, public_key()).ok
    assert sorted(p.name for p in folder.iterdir()) == ["pack.zip"]  # no temporary file left
    db.session.remove()  # committed: a fresh session sees the entry
    (entry,) = db.session.scalars(sa.select(AuditEntry).where(AuditEntry.tag == "evidence:pack:create"))
    assert entry.details["sha256"] == digest and entry.actor_type == "system"

    def refused(args: list[str], message: str, code: int = 1) -> None:
        db.session.remove()
        before = (audit_count(), heads_count(), sorted(p.name for p in folder.iterdir()), out.read_bytes())
        db.session.remove()
        result = runner.invoke(args=["evidence", "pack", *args])
        assert result.exit_code == code and message in result.output, result.output
        db.session.remove()
        assert (audit_count(), heads_count(), sorted(p.name for p in folder.iterdir()), out.read_bytes()) == before

    refused(["--request", request_id, "--out", str(out)], "exists already; choose a new file name or add --force")
    refused(["--request", "no-such-request", "--out", str(folder / "new.zip")], "No request has the id")
    refused(["--request", request_id, "--out", str(folder / "missing" / "p.zip")], "is not a directory")
    refused(["--request", request_id, "--out", str(folder)], "is a directory", code=2)
    result = runner.invoke(args=["evidence", "pack", "--out", str(folder / "x.zip")])
    assert result.exit_code == 2 and "--request" in result.output

    result = runner.invoke(args=["evidence", "pack", "--request", request_id, "--out", str(out), "--force"])
    assert result.exit_code == 0, result.output
    assert out.read_bytes() != data and verify_pack(out, public_key()).ok
    assert sorted(p.name for p in folder.iterdir()) == ["pack.zip"]
    # Packs made from the shell are recorded as packs of the request, like those of the case page,
    # so the second carries a consistency proof from the first's head (verifiable with --older-pack).
    db.session.remove()
    packs = db.session.scalars(sa.select(EvidencePack).where(EvidencePack.request_id == request_id)
                               .order_by(EvidencePack.tree_size)).all()
    assert [p.sha256 for p in packs] == [digest, hashlib.sha256(out.read_bytes()).hexdigest()]
    with zipfile.ZipFile(io.BytesIO(data)) as earlier:
        first_head = json.loads(earlier.read("audit/tree-head.json"))
    assert verify_pack(out, public_key(), old_head=first_head).ok
    assert f"audit/consistency/{first_head['tree_size']}.json" in zipfile.ZipFile(out).namelist()


def test_a_pack_over_a_rewritten_entry_is_not_made(world: World, tmp_path: Path) -> None:
    """A row of the request rewritten after it was signed, with its leaf hash recomputed to match,
    passes its own check; its proof against the head made from the latest one does not, so no pack
    is made (and nothing is audited or counted as made)."""
    request_id = rejected(world)
    first = make_pack(request_id)
    assert verify_pack(first.write(tmp_path / "first.zip"), public_key()).ok
    entry = db.session.scalar(sa.select(AuditEntry).where(AuditEntry.targets["request"].as_string() == request_id)
                              .order_by(AuditEntry.seq).limit(1))
    assert entry is not None
    seq = entry.seq
    forged = AuditEntry(**{c.name: getattr(entry, c.name) for c in AuditEntry.__table__.c} | {"details": {"x": 1}})
    leaf = hashlib.sha256(b"\x00" + entry_canonical(forged)).digest()
    db.session.expunge_all()
    drop_audit_triggers()
    db.session.execute(sa.text("UPDATE audit_entries SET details = :d, leaf_hash = :h WHERE seq = :s"),
                       {"d": json.dumps({"x": 1}), "h": leaf, "s": seq})
    db.session.commit()
    before = (audit_count(), heads_count())
    with pytest.raises(heads.HeadError, match=f"audit entry {seq} is not in the signed tree as stored"):
        make_pack(request_id)
    db.session.rollback()
    assert (audit_count(), heads_count()) == before
