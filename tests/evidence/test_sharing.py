"""Stored evidence packs and the links that share them with a supervisory authority.

The services on both databases: a pack on disk is what was recorded and verifies; every later pack
of a request proves that the log only grew; a link works until it expires or is revoked, every look
is counted and audited, and its token is kept nowhere. Then the pages: who may make, download,
share and revoke (the case's DPOs; nobody else, the auditor and the admin included), the regulator's
page and download without signing in, and bad input that changes nothing.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import stat
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import requests as http_client
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from portal.audit.heads import public_key, raw_public_key
from portal.audit.models import AuditEntry
from portal.audit.services import Actor
from portal.db import utcnow
from portal.evidence import sharing
from portal.evidence.models import EvidencePack, EvidenceShare
from portal.evidence.verify import verify_pack
from portal.extensions import db
from portal.jobs.runners import EXTENSION
from portal.monitoring.artifacts import artifact_dir
from portal.people.models import Employee
from portal.people.services import find_by_email
from portal.rights import routing
from portal.rights import services as requests
from portal.rights.models import DataRequest
from tests.conftest import LiveServer, _stop_job_runner, both_databases
from tests.helpers import audit_entries, drop_audit_triggers, existing, signed_in_as, snapshot
from tests.rights.staff.conftest import Cast, RecordingRunner, add_idp_user
from tests.rights.support import World, get, make_world

REFUSED = "access:object:refused"
LINK = re.compile(r'id="share-url" readonly value="([^"]+)"')


# -- services, on both databases ----------------------------------------------------------------------

@pytest.fixture
def world(app: Flask) -> Iterator[World]:
    _stop_job_runner(app)
    app.extensions[EXTENSION] = RecordingRunner()
    built = make_world(app)
    with app.app_context():
        yield built
        db.session.rollback()


def file_for(world: World, who: str = "alice", kind: str = "access") -> DataRequest:
    filed = requests.file_request(world[who], kind, description="Everything, please.")
    db.session.commit()
    return filed.request


def staff(world: World, who: str = "dpo") -> Actor:
    return Actor("employee", getattr(world, who))


def tree_head_of(path: Path) -> dict[str, Any]:
    with zipfile.ZipFile(path) as archive:
        head: dict[str, Any] = json.loads(archive.read("audit/tree-head.json"))
        return head


def opened(pack: EvidencePack, where: Path) -> Path:
    """The stored pack, opened, as a file (the pack is sealed at rest)."""
    path = where / pack.filename
    path.write_bytes(sharing.pack_bytes(pack))
    return path


def published_key() -> bytes:
    return raw_public_key(public_key())


@both_databases
def test_a_stored_pack_is_what_was_recorded_and_later_packs_prove_the_log_grew(world: World, tmp_path: Path) -> None:
    case = file_for(world)
    pack = sharing.make_pack(case, staff(world))
    db.session.commit()

    path = sharing.pack_path(pack)
    assert path.is_file() and path.parent.parent == artifact_dir() / "evidence"
    sealed = path.read_bytes()
    assert not sealed.startswith(b"PK") and case.id.encode() not in sealed and b"request.json" not in sealed
    data = sharing.pack_bytes(pack)
    assert hashlib.sha256(data).hexdigest() == pack.sha256 and len(data) == pack.size
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert [p.name for p in path.parent.iterdir()] == [path.name], "no temporary file is left"
    assert (pack.created_by_id, pack.created_by_role) == (world.dpo, "dpo")
    assert pack.filename.startswith(f"evidence-{case.id}-") and pack.filename.endswith(".zip")
    first = opened(pack, tmp_path)
    assert tree_head_of(first)["tree_size"] == pack.tree_size
    assert verify_pack(first, published_key()).ok

    # The pack audits its making once; storing it adds nothing.
    made = list(db.session.scalars(sa.select(AuditEntry).where(AuditEntry.tag.like("evidence:pack:%"))))
    assert [(e.tag, e.targets.get("request"), e.subject_id) for e in made] == [
        ("evidence:pack:create", case.id, world.alice)]

    requests.claim(case, world["dpo"])
    db.session.commit()
    second = sharing.make_pack(case, staff(world))
    db.session.commit()
    assert second.tree_size > pack.tree_size and second.artifact_key != pack.artifact_key
    assert [h.id for h in sharing.earlier_heads(case.id)] == sorted({pack.head_id, second.head_id})
    report = verify_pack(opened(second, tmp_path), published_key(), old_head=tree_head_of(first))
    assert report.ok, report.lines()
    assert [p.id for p in sharing.packs_of(case.id)] == [second.id, pack.id]


@both_databases
def test_a_link_works_until_it_expires_or_is_revoked_and_every_look_is_counted(world: World) -> None:
    case = file_for(world)
    pack = sharing.make_pack(case, staff(world))
    link, token = sharing.share(pack, "aepd", 14, actor=staff(world))
    db.session.commit()
    assert link.expires_at - link.created_at == timedelta(days=14)
    assert link.token_digest == hashlib.sha256(token.encode()).hexdigest() and len(token) == 43

    assert sharing.open_share(token) == link
    sharing.record_access(link, "view")
    sharing.record_access(link, "download")
    db.session.commit()
    link = get(EvidenceShare, link.id)
    assert link.access_count == 2 and link.last_access_at is not None
    looks = list(db.session.scalars(sa.select(AuditEntry).where(AuditEntry.tag.like("evidence:share:%"))
                                           .order_by(AuditEntry.seq)))
    assert [(e.tag, e.actor_type, e.actor_id, e.subject_id, e.targets) for e in looks] == [
        ("evidence:share:create", "employee", world.dpo, world.alice,
         {"share": link.id, "pack": pack.id, "request": case.id}),
        *[(f"evidence:share:{what}", "anonymous", None, world.alice,
           {"share": link.id, "pack": pack.id, "request": case.id}) for what in ("view", "download")]]

    # The clock moves past the expiry: the same token gives nothing, and the miss is audited.
    assert sharing.open_share(token, now=link.expires_at - timedelta(seconds=1)) == link
    assert sharing.open_share(token, now=link.expires_at) is None
    # A wrong or malformed token gives nothing either.
    assert sharing.open_share(token[:-1] + ("A" if token[-1] != "A" else "B")) is None
    assert sharing.open_share("x" * 10_000) is None
    db.session.commit()

    other, other_token = sharing.share(pack, "other-eu", 1, actor=staff(world))
    db.session.commit()
    assert sharing.open_share(other_token) == other
    sharing.revoke(other, staff(world, "dpo2"))
    db.session.commit()
    assert sharing.open_share(other_token) is None
    db.session.commit()
    with pytest.raises(sharing.AlreadyRevoked):
        sharing.revoke(other, staff(world))
    db.session.rollback()
    other = get(EvidenceShare, other.id)
    assert other.revoked_by_id == world.dpo2 and other.access_count == 0
    db.session.commit()

    misses = [(e.subject_id, e.targets, e.details["reason"]) for e in db.session.scalars(
        sa.select(AuditEntry).where(AuditEntry.tag == REFUSED).order_by(AuditEntry.seq))]
    assert misses == [(world.alice, {"type": "evidence_shares", "id": link.id}, "expired"),
                      (None, {"type": "evidence_shares", "id": "-"}, "unknown"),
                      (None, {"type": "evidence_shares", "id": "-"}, "unknown"),
                      (world.alice, {"type": "evidence_shares", "id": other.id}, "revoked")]
    revoked = db.session.scalars(sa.select(AuditEntry).where(AuditEntry.tag == "evidence:share:revoke")).one()
    assert (revoked.actor_id, revoked.targets["share"]) == (world.dpo2, other.id)


BAD_LINKS: list[tuple[str, Any]] = [("aepd", 0), ("aepd", 31), ("aepd", "14"), ("aepd", True), ("aepd", None),
                                    ("ico", 14), ("", 14), ("AEPD", 14)]


@both_databases
def test_a_link_needs_a_listed_authority_and_1_to_30_days(world: World) -> None:
    case = file_for(world)
    pack = sharing.make_pack(case, staff(world))
    db.session.commit()
    before = db.session.scalar(sa.select(sa.func.count()).select_from(AuditEntry))
    for authority, days in BAD_LINKS:
        with pytest.raises(sharing.SharingError):
            sharing.share(pack, authority, days, actor=staff(world))
        db.session.rollback()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(EvidenceShare)) == 0
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditEntry)) == before


@both_databases
def test_a_pack_whose_file_is_gone_is_not_shared(world: World) -> None:
    case = file_for(world)
    pack = sharing.make_pack(case, staff(world))
    db.session.commit()
    sharing.pack_path(pack).unlink()
    with pytest.raises(sharing.SharingError, match="missing"):
        sharing.share(pack, "cppa", 7, actor=staff(world))


# -- the pages ------------------------------------------------------------------------------------------

@pytest.fixture
def desk(app: Flask, idp_url: str) -> Cast:
    """alice files; dana is a DPO of Spain (alice's queue), olga of Colombia; audrey is an auditor
    (evidence:read only); admin is the privacy admin (no evidence:read)."""
    _stop_job_runner(app)
    app.extensions[EXTENSION] = RecordingRunner()
    add_idp_user(idp_url, "olga@example.com", "Olga Otherqueue", ["dpo"], country="CO")
    add_idp_user(idp_url, "audrey@example.com", "Audrey Auditor", ["auditor"])
    emails = {who: f"{who}@example.com" for who in ("alice", "dana", "olga", "admin", "audrey")}
    clients = {}
    for who, email in emails.items():
        clients[who] = app.test_client()
        signed_in_as(clients[who], email)
    clients["anonymous"] = app.test_client()
    with app.app_context():
        found = {who: find_by_email(email) for who, email in emails.items()}
        ids = {who: employee.id for who, employee in found.items() if employee is not None}
        spain = routing.create_queue("Spain", "", actor=Actor.system())
        colombia = routing.create_queue("Colombia", "", actor=Actor.system())
        routing.add_member(spain, existing(Employee, ids["dana"]), actor=Actor.system())
        routing.add_member(colombia, existing(Employee, ids["olga"]), actor=Actor.system())
        routing.set_rule("ES", "*", spain, actor=Actor.system())
        routing.set_rule("CO", "*", colombia, actor=Actor.system())
        db.session.commit()
        spain_id, colombia_id = spain.id, colombia.id
    return Cast(app=app, ids=ids, clients=clients, spain=spain_id, colombia=colombia_id)


def html(response: Any) -> str:
    return response.get_data(as_text=True)


def packs(desk: Cast, request_id: str) -> list[tuple[str, str, bytes]]:
    with desk.app.app_context():
        return [(p.id, p.sha256, sharing.pack_bytes(p)) for p in sharing.packs_of(request_id)]


def make_pack_on_the_page(desk: Cast, request_id: str) -> tuple[str, str, bytes]:
    made = desk.post("dana", f"/dpo/requests/{request_id}/evidence")
    assert made.status_code == 302 and made.headers["Location"] == f"/dpo/requests/{request_id}#case-evidence"
    return packs(desk, request_id)[0]


def refusals(desk: Cast) -> list[AuditEntry]:
    return audit_entries(desk.app, REFUSED)


def test_the_case_dpo_makes_and_downloads_a_pack_and_nobody_else_does(desk: Cast) -> None:
    request_id = desk.file("access")
    page = html(desk.get("dana", f"/dpo/requests/{request_id}"))
    assert 'id="case-evidence"' in page and "No evidence pack has been made for this case yet." in page

    pack_id, sha, data = make_pack_on_the_page(desk, request_id)
    body = html(desk.get("dana", f"/dpo/requests/{request_id}"))
    assert "The evidence pack is made (SHA-256" in body and sha[:16] in body
    assert f'/dpo/evidence/{pack_id}/download' in body and f'/dpo/evidence/{pack_id}/shares' in body
    assert "Not shared yet." in body

    got = desk.get("dana", f"/dpo/evidence/{pack_id}/download")
    assert got.status_code == 200 and got.mimetype == "application/zip"
    assert got.headers["Content-Disposition"].startswith("attachment; filename=evidence-")
    assert got.headers["Cache-Control"] == "no-store"
    assert got.data == data and hashlib.sha256(got.data).hexdigest() == sha
    downloads = audit_entries(desk.app, "evidence:pack:download")
    assert [(e.actor_id, e.subject_id, e.targets) for e in downloads] == [
        (desk.ids["dana"], desk.ids["alice"], {"pack": pack_id, "request": request_id})]

    # The admin sees the case but may not read evidence: no section, and the routes are not theirs.
    assert 'id="case-evidence"' not in html(desk.get("admin", f"/dpo/requests/{request_id}"))
    before = snapshot(desk.app)
    tried = [("olga", "object"), ("audrey", "object"), ("alice", "route"), ("admin", "route")]
    for who, refused_as in tried:
        seen = len(refusals(desk))
        for method, path_ in (("POST", f"/dpo/requests/{request_id}/evidence"),
                              ("GET", f"/dpo/evidence/{pack_id}/download"),
                              ("POST", f"/dpo/evidence/{pack_id}/shares")):
            answer = desk.post(who, path_, {"authority": "aepd", "days": "7"}) if method == "POST" else desk.get(
                who, path_)
            assert answer.status_code == 404, (who, path_)
            assert sha not in html(answer), (who, path_)
        new = refusals(desk)[seen:]
        assert [e.actor_id for e in new] == [desk.ids[who]] * 3
        if refused_as == "object":
            assert [e.targets["type"] for e in new] == ["data_requests", "evidence_packs", "evidence_packs"], who
            assert {e.subject_id for e in new} == {desk.ids["alice"]}
        else:
            assert {e.targets["type"] for e in new} == {"route"}, who
    assert snapshot(desk.app) == before
    assert len(packs(desk, request_id)) == 1
    assert len(audit_entries(desk.app, "evidence:pack:download")) == 1


def test_a_link_is_shown_once_and_opens_without_signing_in_until_revoked(desk: Cast, caplog: Any,
                                                                         tmp_path: Path) -> None:
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.INFO, logger="urllib3")  # the regulator's own HTTP client, not the portal
    request_id = desk.file("access")
    pack_id, sha, data = make_pack_on_the_page(desk, request_id)

    made = desk.post("dana", f"/dpo/evidence/{pack_id}/shares", {"authority": "aepd", "days": "5"})
    assert made.status_code == 200
    page = html(made)
    match = LINK.search(page)
    assert match, page[:3000]
    url = match.group(1)
    assert url.startswith("http://localhost/evidence/shared/")
    token = url.rsplit("/", 1)[1]
    assert sha in page and "AEPD" in page and "only time the link is shown" in page
    with desk.app.app_context():
        link = db.session.scalars(sa.select(EvidenceShare)).one()
        share_id = link.id
        assert link.expires_at - link.created_at == timedelta(days=5)
    case_page = html(desk.get("dana", f"/dpo/requests/{request_id}"))
    assert token not in case_page and "AEPD" in case_page and "works" in case_page

    # The regulator, not signed in.
    regulator = desk.clients["anonymous"]
    opened = regulator.get(f"/evidence/shared/{token}")
    assert opened.status_code == 200
    shown = html(opened)
    for fact in (request_id, sha, "access", "ES", "/.well-known/audit-log-key", "/evidence/verifier.py",
                 "python -m portal.evidence.verify PACK.zip --key key.json", "pip install cryptography"):
        assert fact in shown, fact
    assert "Alice" not in shown and "alice@example.com" not in shown
    assert opened.headers["Referrer-Policy"] == "no-referrer" and opened.headers["Cache-Control"] == "no-store"
    assert "noindex" in opened.headers["X-Robots-Tag"]

    got = regulator.get(f"/evidence/shared/{token}/download")
    assert got.status_code == 200 and got.data == data
    assert got.headers["Referrer-Policy"] == "no-referrer" and got.headers["Cache-Control"] == "no-store"
    # The regulator's steps, with nothing but what the portal's public pages give: the key and the verifier.
    workdir = tmp_path / "regulator"
    workdir.mkdir()
    (workdir / "PACK.zip").write_bytes(got.data)
    (workdir / "key.json").write_bytes(regulator.get("/.well-known/audit-log-key").data)
    (workdir / "verifier.py").write_bytes(regulator.get("/evidence/verifier.py").data)
    run = subprocess.run([sys.executable, "-I", "verifier.py", "PACK.zip", "--key", "key.json"], cwd=workdir,
                         capture_output=True, text=True, timeout=60, check=False)
    assert run.returncode == 0 and "WARNING" not in run.stdout, run.stdout + run.stderr
    # Through a real web server, whose access log names every path it serves: not the token, though.
    with LiveServer(desk.app) as live:
        assert http_client.get(f"{live.url}/evidence/shared/{token}", timeout=10).status_code == 200
    assert "/evidence/shared/[token]" in caplog.text
    with desk.app.app_context():
        assert get(EvidenceShare, share_id).access_count == 3
    looks = [(e.tag, e.actor_type, e.subject_id) for tag in ("evidence:share:view", "evidence:share:download")
             for e in audit_entries(desk.app, tag)]
    assert looks == [("evidence:share:view", "anonymous", desk.ids["alice"])] * 2 + [
        ("evidence:share:download", "anonymous", desk.ids["alice"])]

    # Revoking needs the box ticked; then the link is dead, and its holder is told so and whom to ask.
    before = snapshot(desk.app)
    unticked = desk.post("dana", f"/dpo/evidence/shares/{share_id}/revoke", {})
    assert unticked.status_code == 400 and "Tick the box to confirm revoking the link." in html(unticked)
    assert snapshot(desk.app) == before
    revoked = desk.post("dana", f"/dpo/evidence/shares/{share_id}/revoke", {"confirm": "y"})
    assert revoked.status_code == 302
    again = desk.post("dana", f"/dpo/evidence/shares/{share_id}/revoke", {"confirm": "y"})
    assert again.status_code == 409
    gone = regulator.get(f"/evidence/shared/{token}")
    unknown = regulator.get("/evidence/shared/" + "A" * 43)
    assert (gone.status_code, unknown.status_code) == (410, 404)
    assert "This link was revoked" in html(gone) and "This link was revoked" not in html(unknown)
    assert "This link does not work" in html(unknown)
    for answer in (gone, unknown):  # the regulator is sent to the DPO, not to an employees' sign-in
        assert "ask the data protection officer who sent you the link" in html(answer)
        assert "/auth/login" not in html(answer) and "Go to the start page" not in html(answer)
    assert regulator.get(f"/evidence/shared/{token}/download").status_code == 410
    with desk.app.app_context():
        assert get(EvidenceShare, share_id).access_count == 3, "a dead link counts nothing"

    # Nowhere is the token kept: not in any column of any table, not in the audit log, not in the logs.
    with desk.app.app_context():
        for table in db.metadata.sorted_tables:
            for row in db.session.execute(sa.select(table)):
                for value in row:
                    text = value.decode("latin-1") if isinstance(value, bytes) else json.dumps(value, default=str)
                    assert token not in text, table.name
    assert token not in caplog.text


def test_an_expired_link_is_dead(desk: Cast) -> None:
    request_id = desk.file("access")
    pack_id, _sha, _path = make_pack_on_the_page(desk, request_id)
    made = desk.post("dana", f"/dpo/evidence/{pack_id}/shares", {"authority": "cppa", "days": "1"})
    match = LINK.search(html(made))
    assert match
    token = match.group(1).rsplit("/", 1)[1]
    regulator = desk.clients["anonymous"]
    assert regulator.get(f"/evidence/shared/{token}").status_code == 200
    with desk.app.app_context():
        link = db.session.scalars(sa.select(EvidenceShare)).one()
        moment = utcnow() - timedelta(seconds=1)
        link.created_at = moment - timedelta(days=1)
        link.expires_at = moment
        db.session.commit()
    expired = regulator.get(f"/evidence/shared/{token}")
    assert expired.status_code == 410
    assert "This link has expired" in html(expired) and moment.strftime("%Y-%m-%d") in html(expired)
    assert regulator.get(f"/evidence/shared/{token}/download").status_code == 410
    assert [e.details["reason"] for e in refusals(desk)] == ["expired", "expired"]
    assert ">expired</span>" in html(desk.get("dana", f"/dpo/requests/{request_id}"))


BAD_FORMS = [{"authority": "aepd", "days": "0"}, {"authority": "aepd", "days": "31"},
             {"authority": "aepd", "days": "two"}, {"authority": "aepd", "days": ""},
             {"authority": "ico", "days": "14"}, {"authority": "", "days": "14"}, {"days": "14"}]


def test_bad_share_input_is_refused_and_changes_nothing(desk: Cast) -> None:
    request_id = desk.file("access")
    pack_id, _sha, _path = make_pack_on_the_page(desk, request_id)
    before = snapshot(desk.app, skip=frozenset())
    for data in BAD_FORMS:
        answer = desk.post("dana", f"/dpo/evidence/{pack_id}/shares", data)
        assert answer.status_code == 400, data
        body = html(answer)
        assert "No link was made:" in body and 'aria-invalid="true"' in body, data
        assert 'id="case-evidence"' in body, "the case page again, the form with its error"
    assert snapshot(desk.app, skip=frozenset()) == before


def test_forms_without_their_csrf_token_change_nothing(desk: Cast) -> None:
    request_id = desk.file("access")
    pack_id, _sha, _path = make_pack_on_the_page(desk, request_id)
    made = desk.post("dana", f"/dpo/evidence/{pack_id}/shares", {"authority": "sic", "days": "3"})
    assert made.status_code == 200
    with desk.app.app_context():
        share_id = db.session.scalars(sa.select(EvidenceShare.id)).one()
    before = snapshot(desk.app, skip=frozenset())
    for path_, data in ((f"/dpo/requests/{request_id}/evidence", {}),
                        (f"/dpo/evidence/{pack_id}/shares", {"authority": "aepd", "days": "7"}),
                        (f"/dpo/evidence/shares/{share_id}/revoke", {"confirm": "y"})):
        answer = desk.post("dana", path_, data, token=False)
        assert answer.status_code == 400, path_
    assert snapshot(desk.app, skip=frozenset()) == before
    with desk.app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(EvidencePack)) == 1


def test_the_verifier_source_is_public(client: FlaskClient) -> None:
    got = client.get("/evidence/verifier.py")
    assert got.status_code == 200 and got.mimetype == "text/x-python"
    assert got.data == (Path(__file__).parents[2] / "portal" / "evidence" / "verify.py").read_bytes()


def test_no_pack_is_made_over_a_log_that_does_not_verify(desk: Cast) -> None:
    """A row of the case rewritten after the last head (content and leaf hash): the page says why
    no pack was made (409), and no pack, file or head is added."""
    request_id = desk.file("access")
    make_pack_on_the_page(desk, request_id)
    with desk.app.app_context():
        seq = db.session.scalar(sa.select(sa.func.min(AuditEntry.seq))
                                .where(AuditEntry.targets["request"].as_string() == request_id))
        drop_audit_triggers()
        db.session.execute(sa.text("UPDATE audit_entries SET leaf_hash = :h WHERE seq = :s"),
                           {"h": b"\x05" * 32, "s": seq})
        db.session.commit()
        files = sorted(p.name for p in (artifact_dir() / "evidence").rglob("*"))
    before = snapshot(desk.app)
    refused = desk.post("dana", f"/dpo/requests/{request_id}/evidence")
    assert refused.status_code == 409
    assert "No pack was made: the audit log does not verify" in html(refused)
    assert snapshot(desk.app) == before
    with desk.app.app_context():
        assert sorted(p.name for p in (artifact_dir() / "evidence").rglob("*")) == files
        assert len(sharing.packs_of(request_id)) == 1
