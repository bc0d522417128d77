"""Commands: ``flask --app wsgi demo seed|generate`` and friends."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import click
from flask import Flask

from portal.config import current_settings
from portal.db import DatabaseUnavailable, retry_transient
from portal.extensions import db
from portal.files import atomic_file
from portal.jurisdictions import RequestType

# The demo's code, which the production image leaves out (Containerfile, .dockerignore).
DEMO_PACKAGE = Path(__file__).resolve().parent / "demo"


def register_commands(app: Flask) -> None:
    if DEMO_PACKAGE.is_dir():
        _register_demo_commands(app)
    _register_commands(app)


def _register_demo_commands(app: Flask) -> None:
    """``demo seed`` and ``demo generate``: they import ``portal.demo`` only when they run."""

    @app.cli.group()
    def demo() -> None:
        """Demo identities and synthetic monitoring data."""

    @demo.command("seed")
    def demo_seed() -> None:
        """Create the demo identities and their data (safe to run again)."""
        from portal.demo.seed import seed

        issuer = current_settings().oidc_issuer
        started = time.monotonic()
        report = seed(issuer, progress=lambda line: click.echo(f"  {line}"))
        db.session.commit()
        click.echo(f"Demo seeded in {time.monotonic() - started:.1f}s: {len(report.created)} people created, "
                   f"{len(report.existing)} already there; {report.events} events and "
                   f"{report.screenshots} screenshots added.")

    @demo.command("generate")
    @click.option("--employee", "email", required=True, help="The employee's e-mail address.")
    @click.option("--events", type=click.IntRange(0, 50_000_000), default=0, show_default=True)
    @click.option("--screenshots", type=click.IntRange(0, 100_000), default=0, show_default=True)
    @click.option("--seed", "seed_value", type=int, default=None, help="Random seed for repeatable data.")
    def demo_generate(email: str, events: int, screenshots: int, seed_value: int | None) -> None:
        """Add bulk synthetic data to one employee."""
        from portal.demo.seed import generate
        from portal.people.services import find_by_email

        employee = find_by_email(email)
        if employee is None:
            raise click.ClickException("No employee has that e-mail address.")
        started = time.monotonic()

        def progress(done: int, total: int) -> None:
            click.echo(f"  {done:,}/{total:,} events", err=True)

        try:
            stored, shots = generate(employee, events=events, screenshots=screenshots, seed_value=seed_value,
                                     progress=progress)
        except ValueError as exc:
            raise click.ClickException(str(exc)) from None
        elapsed = time.monotonic() - started
        click.echo(f"Added {stored:,} events and {shots} screenshots in {elapsed:.1f}s "
                   f"({stored / elapsed if elapsed else 0:,.0f} events/s).")


def _register_commands(app: Flask) -> None:
    @app.cli.group("export")
    def export_group() -> None:
        """Copies of an employee's data (the same code as the portal's export page)."""

    @export_group.command("run")
    @click.option("--employee", "email", required=True, help="The employee's e-mail address.")
    @click.option("--out", "out_path", required=True, type=click.Path(dir_okay=False, writable=True),
                  help="Where to write the ZIP (must not exist).")
    @click.option("--category", "categories", multiple=True, help="Only these register categories (repeatable).")
    @click.option("--from", "date_from", type=click.DateTime(["%Y-%m-%d"]), default=None, help="First day, in the employee's time zone.")
    @click.option("--to", "date_to", type=click.DateTime(["%Y-%m-%d"]), default=None, help="Last day, in the employee's time zone.")
    def export_run(email: str, out_path: str, categories: tuple[str, ...], date_from: Any, date_to: Any) -> None:
        """Build an employee's export package in the foreground and write it to --out."""
        from portal.audit.services import Actor
        from portal.db import utcnow
        from portal.exports import services as exports
        from portal.exports.models import Export, ExportState
        from portal.jobs.models import Job, JobState
        from portal.jobs.services import run_job
        from portal.people.services import find_by_email

        out = Path(out_path)
        if out.exists():
            raise click.ClickException(f"{out} exists already; choose a new file name.")
        if not out.parent.is_dir() or not os.access(out.parent, os.W_OK):  # before anything is made or recorded
            raise click.ClickException(f"{out.parent} is not a folder this command can write to.")
        wait = current_settings().db_retry_seconds

        def again(work: Any) -> Any:
            """Each step starts its own transaction and may run again: through a database restart
            it is retried for up to PORTAL_DB_RETRY_SECONDS."""
            return retry_transient(work, seconds=wait, what="export run", session=db.session)

        def request_it() -> tuple[str, str]:
            employee = find_by_email(email)
            if employee is None:
                raise click.ClickException("No employee has that e-mail address.")
            try:
                export = exports.request_export(
                    employee, categories=list(categories) or None, actor=Actor.system(), origin="shell",
                    dispatch=False, date_from=date_from.date() if date_from else None,
                    date_to=date_to.date() if date_to else None)
            except exports.ExportError as exc:
                raise click.ClickException(str(exc)) from None
            ids = export.id, export.job_id
            db.session.commit()
            return ids

        def attempt(job_id: str) -> tuple[JobState, int, str | None, float] | None:
            run_job(job_id)
            db.session.remove()
            job = db.session.get(Job, job_id)
            if job is None:
                return None
            wait_for = (job.not_before - utcnow()).total_seconds() if job.state == JobState.QUEUED else 1.0
            return job.state, job.attempts, job.error, wait_for

        def deliver(export_id: str) -> Export:
            export = db.session.get(Export, export_id, populate_existing=True)
            if export is None or export.state != ExportState.READY:
                reason = export.error if export is not None else "unknown"
                raise click.ClickException(f"The export failed: {reason}")
            try:
                with atomic_file(out) as (fh, _placed):
                    for chunk in exports.open_download(export):
                        fh.write(chunk)
            except OSError as exc:
                raise click.ClickException(f"{out} could not be written ({exc.strerror or type(exc).__name__}); "
                                           "nothing was delivered, and no access was recorded.") from None
            return export

        def record(export_id: str) -> Export:
            export = db.session.get(Export, export_id, populate_existing=True)
            assert export is not None  # noqa: S101 - delivered just now
            if export.request_id is None:  # not already recorded by a commit whose answer was lost
                exports.record_shell_delivery(export)  # delivered: only now is it an access to their data
                db.session.commit()
            return export

        try:
            export_id, job_id = again(request_it)
            started = time.monotonic()
            said = None
            while True:
                outcome = again(lambda: attempt(job_id))
                if outcome is None or outcome[0] in (JobState.SUCCEEDED, JobState.FAILED):
                    break
                state, attempts, error, wait_for = outcome
                if (state, attempts) != said:
                    said = (state, attempts)
                    if state == JobState.QUEUED:
                        click.echo(f"  attempt {attempts} did not finish ({error}); trying again in "
                                   f"{max(wait_for, 0):.0f}s", err=True)
                    else:
                        click.echo(f"  attempt {attempts} is under way in another worker; waiting for it", err=True)
                time.sleep(max(0.2, wait_for))
            again(lambda: deliver(export_id))
        except DatabaseUnavailable as gone:
            raise click.ClickException(f"The export stopped: {gone}. Nothing was delivered, and no access was "
                                       "recorded; run the command again once the database is back.") from None
        try:
            export = again(lambda: record(export_id))
        except DatabaseUnavailable as gone:
            out.unlink(missing_ok=True)  # a copy that is not on record is not handed out
            raise click.ClickException(f"The export was written but could not be recorded: {gone}. The file was "
                                       "removed again, so nothing was delivered; run the command again once "
                                       "the database is back.") from None
        counts = ", ".join(f"{v:,} {k}" for k, v in (export.counts or {}).items())
        click.echo(f"Wrote {out} ({export.artifact_bytes:,} bytes; {counts}) in {time.monotonic() - started:.1f}s.")

    @app.cli.group("jobs")
    def jobs_group() -> None:
        """The job system."""

    @jobs_group.command("sweep")
    def jobs_sweep() -> None:
        """Dispatch jobs that are due again and run the clean-ups (safe from cron, any number of times)."""
        from portal.jobs.runners import ThreadRunner, run_periodic, runner

        run_periodic()
        active = runner()
        if isinstance(active, ThreadRunner):
            active.wait_idle(timeout=3600)

    @jobs_group.command("work")
    def jobs_work() -> None:
        """Run every due job in this process, in the foreground, until none is left."""
        from portal.jobs.services import due_jobs, run_job

        ran = 0
        while ids := due_jobs():
            progressed = False
            for job_id in ids:
                state = run_job(job_id)
                db.session.remove()
                if state is not None:
                    ran += 1
                    progressed = True
            if not progressed:
                break
        click.echo(f"Ran {ran} job attempt(s).")

    @app.cli.group("people")
    def people_group() -> None:
        """Employees: leavers, and their return."""

    @people_group.command("leave")
    @click.option("--email", "email", required=True, help="The employee's work e-mail address.")
    @click.option("--on", "left_on", type=click.DateTime(["%Y-%m-%d"]), default=None,
                  help="The leave date, YYYY-MM-DD (default: today, UTC); not in the future.")
    @click.option("--personal-email", default=None,
                  help="The personal address they will use at /former (kept sealed, with a keyed index).")
    def people_leave(email: str, left_on: Any, personal_email: str | None) -> None:
        """Mark an employee as having left: their portal sessions end at once, SSO refuses them, their
        data stays under its retention rules and their open requests go on."""
        from portal.audit.services import Actor
        from portal.db import utcnow
        from portal.people import services as people

        employee = people.find_by_email(email)
        if employee is None:
            raise click.ClickException("No employee has this e-mail address; nothing was changed.")
        try:
            ended = people.mark_leaver(employee, left_on.date() if left_on else utcnow().date(),
                                       actor=Actor("staff", "shell"), personal_email=personal_email)
        except people.PeopleError as exc:
            db.session.rollback()
            raise click.ClickException(f"{str(exc).capitalize()}; nothing was changed.") from None
        db.session.commit()
        click.echo(f"Marked as former employee (left {employee.left_at:%Y-%m-%d}); {ended} session(s) ended.")

    @people_group.command("return")
    @click.option("--email", "email", required=True, help="The employee's work e-mail address.")
    def people_return(email: str) -> None:
        """A former employee is employed again (re-hired, or a leave recorded by mistake): SSO admits
        them again, as SCIM's active=true does. Their personal e-mail stays on record."""
        from portal.audit.services import Actor
        from portal.people import services as people

        employee = people.find_by_email(email)
        if employee is None:
            raise click.ClickException("No employee has this e-mail address; nothing was changed.")
        if not people.reinstate(employee, actor=Actor("staff", "shell")):
            click.echo("A current employee already; nothing was changed.")
            return
        db.session.commit()
        click.echo("A current employee again: company sign-in admits them.")

    @app.cli.group("requests")
    def requests_group() -> None:
        """Data-subject requests."""

    @requests_group.command("remind")
    @click.option("--today", type=click.DateTime(["%Y-%m-%d"]), default=None,
                  help="The day to remind for (default: today, UTC).")
    def requests_remind(today: Any) -> None:
        """Queue the deadline reminders due to DPOs (safe from cron, any number of times)."""
        from portal.rights.reminders import remind

        count = remind(today.date() if today else None)
        db.session.commit()
        click.echo(f"Queued {count} reminder(s).")

    @requests_group.command("deadline")
    @click.option("--jurisdiction", required=True, help="A jurisdiction code: ES, US-CA, CO, BR, DE, ...")
    @click.option("--type", "kind", required=True, type=click.Choice([t.value for t in RequestType]),
                  help="The kind of request.")
    @click.option("--received", required=True, type=click.DateTime(["%Y-%m-%d"]), help="The day of receipt.")
    def requests_deadline(jurisdiction: str, kind: str, received: Any) -> None:
        """Print the lawful dates of a request as the portal shows them, as one JSON object:
        due, extended_due (null without an extension), acknowledge_by (null when none is due), basis."""
        from portal.rights.deadlines import deadline_for

        found = deadline_for(jurisdiction, kind, received.date())
        click.echo(json.dumps({
            "due": found.due.isoformat(),
            "extended_due": found.extended_due.isoformat() if found.extended_due else None,
            "acknowledge_by": found.acknowledge_by.isoformat() if found.acknowledge_by else None,
            "basis": found.basis,
        }, ensure_ascii=False))

    @app.cli.group("retention")
    def retention_group() -> None:
        """Deleting monitoring data whose retention period has passed."""

    @retention_group.command("run")
    @click.option("--dry-run", is_flag=True, help="Count what is due, delete nothing and record nothing.")
    def retention_run(dry_run: bool) -> None:
        """Delete every item whose retention period has passed (legal holds apply), as the daily run does."""
        from portal.rights.retention import run_retention

        run = run_retention(dry_run=dry_run)
        verb = "would delete" if dry_run else "deleted"
        for category, cutoff in run.cutoffs.items():
            click.echo(f"{category}: {verb} {run.deleted[category]:,} item(s) from {cutoff:%Y-%m-%d %H:%M} UTC or "
                       f"earlier; {run.held[category]:,} kept under a legal hold")
        if run.evidence:
            click.echo(f"ai_training_use: {run.evidence:,} record(s) past their period kept as evidence "
                       "(marked \"removal required\")")
        click.echo("Dry run: nothing was changed or recorded." if dry_run else
                    f"Done: {run.people} person(s) affected"
                   + ("; the run is recorded in the audit log." if any(run.deleted.values()) or any(run.held.values())
                      else "; nothing was due, so nothing was recorded."))

    @app.cli.group("audit")
    def audit_group() -> None:
        """The audit log."""

    @audit_group.command("verify")
    @click.option("--witness-key", "witness_key", default=None, metavar="VKEY",
                  help="A co-signer's verifier key (as `audit witness-key` prints it): also check the "
                       "checkpoints it co-signed.")
    @click.option("--cosigned", type=click.Path(dir_okay=False, path_type=Path), default=None,
                  help="The co-signer's file (default: cosigned in PORTAL_AUDIT_WITNESS_DIR).")
    def audit_verify(witness_key: str | None, cosigned: Path | None) -> None:
        """Recompute every audit entry and the Merkle root, check the signed heads and the witness
        file; name the first problem (exit 1) if any."""
        from portal.audit.verify import verify_log
        from portal.audit.witness import WitnessError, parse_verifier_key

        try:
            cosigner = parse_verifier_key(witness_key) if witness_key else None
        except WitnessError as exc:
            raise click.BadParameter(str(exc), param_hint="--witness-key") from None
        result = verify_log(cosigned=cosigned, cosigner=cosigner)
        if result.ok:
            heads = f"; {result.heads} signed tree heads match" if result.heads else ""
            witness = f"; the witness file agrees ({result.checkpoints} checkpoints)" if result.checkpoints else ""
            click.echo(f"OK: {result.entries} entries, root {result.root.hex()}{heads}{witness}")
            return
        click.echo(f"FAILED: {result.first_bad}", err=True)
        for line in result.problems[1:]:
            click.echo(f"  also: {line}", err=True)
        for line in result.head_problems + result.witness_problems + result.unpublished:
            if line not in result.problems and line != result.first_bad:
                click.echo(f"  also: {line}", err=True)
        click.echo(f"({result.entries} entries read, root {result.root.hex()})", err=True)
        raise SystemExit(1)

    @audit_group.command("head")
    def audit_head() -> None:
        """Sign a tree head over the whole audit log now, store it and print it."""
        import base64

        from portal.audit.heads import HeadError, make_head, stamp

        try:
            head = make_head()
        except HeadError as exc:
            db.session.rollback()
            raise click.ClickException(str(exc)) from None
        db.session.commit()
        click.echo(f"tree head {head.id}")
        click.echo(f"size:      {head.tree_size}")
        click.echo(f"root:      {head.root_hash.hex()}")
        click.echo(f"signed at: {stamp(head.signed_at)}")
        click.echo(f"key id:    {head.key_id}")
        click.echo(f"signature: {base64.b64encode(head.signature).decode()}")

    @audit_group.command("witness-key")
    @click.option("--name", required=True, help="The co-signer's name, e.g. works-council.example.com/witness.")
    @click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path),
                  help="Where to write the secret key (never replaced; keep it away from the portal's admins).")
    def audit_witness_key(name: str, out: Path) -> None:
        """Make a co-signing key for a second party and print its verifier key."""
        from portal.audit.witness import WitnessError, new_signer_key
        from portal.files import write_file

        try:
            secret, vkey = new_signer_key(name)
        except WitnessError as exc:
            raise click.BadParameter(str(exc), param_hint="--name") from None
        try:
            placed = write_file(out, f"{secret}\n".encode(), exclusive=True, mode=0o600)
        except OSError as exc:
            raise click.ClickException(f"{out} cannot be written: {exc.strerror}") from None
        if not placed:
            raise click.ClickException(f"{out} exists already; a key is never replaced")
        click.echo(f"secret key written to {out}; the verifier key:")
        click.echo(vkey)

    @audit_group.command("witness")
    @click.option("--key-file", required=True, envvar="PORTAL_AUDIT_WITNESS_KEY_FILE",
                  type=click.Path(dir_okay=False, path_type=Path),
                  help="The co-signer's secret key (from `audit witness-key`; or PORTAL_AUDIT_WITNESS_KEY_FILE).")
    @click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
                  help="The co-signer's file to append to (default: cosigned in PORTAL_AUDIT_WITNESS_DIR).")
    @click.option("--log-key", default=None, metavar="BASE64",
                  help="The audit log's public key as the co-signer pinned it (public_key of "
                       "/.well-known/audit-log-key); by default the portal's own.")
    def audit_witness(key_file: Path, out: Path | None, log_key: str | None) -> None:
        """Co-sign the newest checkpoint of the witness file, once the portal's signature and its
        consistency with the checkpoint co-signed before are checked."""
        import base64
        import binascii

        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

        from portal.audit.heads import existing_public_key
        from portal.audit.witness import COSIGNED, WitnessError, cosign_latest, load_signer_key, witness_path

        try:
            name, private = load_signer_key(key_file)
        except WitnessError as exc:
            raise click.BadParameter(str(exc), param_hint="--key-file") from None
        if log_key:
            try:
                public = Ed25519PublicKey.from_public_bytes(base64.b64decode(log_key, validate=True))
            except (ValueError, binascii.Error):
                raise click.BadParameter("the audit log's public key is 32 bytes in base64", param_hint="--log-key") from None
        else:
            found = existing_public_key()
            if found is None:
                raise click.ClickException("the portal has no audit signing key yet: nothing to co-sign")
            public = found
        target = out or witness_path(current_settings()).with_name(COSIGNED)
        try:
            done = cosign_latest(name, private, target, public, int(time.time()))
        except WitnessError as exc:
            db.session.rollback()
            raise click.ClickException(str(exc)) from None
        db.session.rollback()
        checkpoint = done.checkpoint
        if not done.added:
            click.echo(f"already co-signed: size {checkpoint.size}, root {checkpoint.root.hex()}")
            return
        since = f", consistent with size {done.previous.size}" if done.previous else " (the first)"
        click.echo(f"co-signed as {name}: size {checkpoint.size}, root {checkpoint.root.hex()}{since}; "
                   f"appended to {target}")

    @audit_group.command("public-key")
    def audit_public_key() -> None:
        """Print the audit log's public key (as served at /.well-known/audit-log-key), as JSON."""
        import json

        from portal.audit.heads import public_key_document

        click.echo(json.dumps(public_key_document(), indent=2))

    @app.cli.group("keys")
    def keys_group() -> None:
        """The subject-key store."""

    @keys_group.command("reapply-erasures")
    def keys_reapply_erasures() -> None:
        """After restoring the key store from a backup: destroy again every key that the audit log
        says was destroyed since (keys made later for the same person are kept)."""
        from portal.audit.services import Actor
        from portal.crypto.services import reapply_erasures

        result = reapply_erasures(Actor.system())
        db.session.commit()
        click.echo(f"{result.checked} destroyed key(s) looked up in {current_settings().key_dir}; "
                   f"{len(result.destroyed)} had come back and were destroyed again"
                   + (f"; {result.scrubbed} unfinished destruction(s) finished" if result.scrubbed else "") + ".")
        for subject_id in result.destroyed:
            click.echo(f"  destroyed again: subject {subject_id}")

    @keys_group.command("sweep-orphans")
    def keys_sweep_orphans() -> None:
        """Destroy keys made for people never committed to the database (a process died between
        making the key and the commit), once 30 minutes old; the hourly sweep does the same."""
        from portal.audit.services import Actor
        from portal.crypto.services import sweep_orphan_keys

        result = sweep_orphan_keys(Actor.system())
        db.session.commit()
        click.echo(f"{result.looked_at} key(s) looked at; {len(result.destroyed)} orphan(s) destroyed, "
                   f"{result.too_recent} too recent to tell, {result.with_history} without an employee row but in "
                   f"the audit log (kept), {result.not_ours} not opening with this master key (kept).")


    @app.cli.group("api")
    def api_group() -> None:
        """The integrations API."""

    @api_group.group("token")
    def token_group() -> None:
        """Service tokens."""

    @token_group.command("create")
    @click.option("--name", required=True, help="Who uses it, e.g. 'collector eu-west'.")
    @click.option("--scope", "scopes", required=True, multiple=True,
                  help="ingest, exclusions:read, recipient, training, requests:read, scim (comma-separated or repeated).")
    @click.option("--days", type=int, default=90, show_default=True, help="Days until it expires (1-365).")
    def token_create(name: str, scopes: tuple[str, ...], days: int) -> None:
        """Make a service token; the token is printed alone on the last line, once."""
        from portal.api.tokens import TokenError, create_token
        from portal.audit.services import Actor

        try:
            token, secret = create_token(name, scopes, days, actor=Actor.system())
        except TokenError as exc:
            raise click.ClickException(str(exc)) from None
        db.session.commit()
        click.echo(f"Token {token.id} '{token.name}' with scopes {', '.join(token.scopes)}, expires "
                   f"{token.expires_at:%Y-%m-%d %H:%M} UTC. It is shown only now; keep it in your secret store:", err=True)
        click.echo(secret)

    from portal.evidence.cli import register_evidence_commands

    register_evidence_commands(app)
