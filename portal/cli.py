"""Commands: ``flask --app wsgi demo seed|generate`` and friends."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import click
from flask import Flask, current_app

from portal.extensions import db
from portal.files import atomic_file


def register_commands(app: Flask) -> None:
    @app.cli.group()
    def demo() -> None:
        """Demo identities and synthetic monitoring data."""

    @demo.command("seed")
    def demo_seed() -> None:
        """Create the demo identities and their data (safe to run again)."""
        from portal.demo.seed import seed

        issuer = current_app.config["PORTAL_SETTINGS"].oidc_issuer
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

    @app.cli.group("export")
    def export_group() -> None:
        """Copies of an employee's data (the same code as the portal's export page)."""

    @export_group.command("run")
    @click.option("--employee", "email", required=True, help="The employee's e-mail address.")
    @click.option("--out", "out_path", required=True, type=click.Path(dir_okay=False, writable=True),
                  help="Where to write the ZIP (must not exist).")
    @click.option("--category", "categories", multiple=True, help="Only these register categories (repeatable).")
    @click.option("--from", "date_from", type=click.DateTime(["%Y-%m-%d"]), default=None, help="First day (UTC).")
    @click.option("--to", "date_to", type=click.DateTime(["%Y-%m-%d"]), default=None, help="Last day (UTC).")
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
        employee = find_by_email(email)
        if employee is None:
            raise click.ClickException("No employee has that e-mail address.")
        try:
            export = exports.request_export(
                employee, categories=list(categories) or None, actor=Actor.system(), origin="shell", dispatch=False,
                date_from=date_from.date() if date_from else None, date_to=date_to.date() if date_to else None)
        except exports.ExportError as exc:
            raise click.ClickException(str(exc)) from None
        export_id, job_id = export.id, export.job_id
        db.session.commit()
        started = time.monotonic()
        while True:
            run_job(job_id)
            db.session.remove()
            job = db.session.get(Job, job_id)
            if job is None or job.state in (JobState.SUCCEEDED, JobState.FAILED):
                break
            wait = (job.not_before - utcnow()).total_seconds() if job.state == JobState.QUEUED else 1.0
            click.echo(f"  attempt {job.attempts} did not finish ({job.error or 'another worker has it'}); "
                       f"trying again in {max(wait, 0):.0f}s", err=True)
            time.sleep(max(0.2, wait))
        done = db.session.get(Export, export_id)
        if done is None or done.state != ExportState.READY:
            reason = done.error if done is not None else "unknown"
            raise click.ClickException(f"The export failed: {reason}")
        export = done
        try:
            with atomic_file(out) as (fh, _placed):
                for chunk in exports.open_download(export):
                    fh.write(chunk)
        except OSError as exc:
            raise click.ClickException(f"{out} could not be written ({exc.strerror or type(exc).__name__}); "
                                       "nothing was delivered, and no access was recorded.") from None
        exports.record_shell_delivery(export)  # delivered: only now is it an access to their data
        db.session.commit()
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

    @app.cli.group("requests")
    def requests_group() -> None:
        """Data-subject requests."""

    @requests_group.command("remind")
    @click.option("--today", type=click.DateTime(["%Y-%m-%d"]), default=None,
                  help="The day to remind for (default: today, UTC).")
    def requests_remind(today: Any) -> None:
        """Queue the deadline reminders due to DPOs (safe from cron, any number of times)."""
        from portal.requests.reminders import remind

        count = remind(today.date() if today else None)
        db.session.commit()
        click.echo(f"Queued {count} reminder(s).")

    @app.cli.group("audit")
    def audit_group() -> None:
        """The audit log."""

    @audit_group.command("verify")
    def audit_verify() -> None:
        """Recompute every audit entry and the Merkle root; name the first bad entry (exit 1) if any."""
        from portal.audit.verify import verify_log

        result = verify_log()
        if result.ok:
            heads = f"; {result.heads} signed tree heads match" if result.heads else ""
            click.echo(f"OK: {result.entries} entries, root {result.root.hex()}{heads}")
            return
        click.echo(f"FAILED: {result.first_bad}", err=True)
        for line in result.problems[1:]:
            click.echo(f"  also: {line}", err=True)
        for line in result.head_problems:
            if line not in result.problems:
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
        click.echo(f"{result.checked} destroyed key(s) looked up in {current_app.config['PORTAL_SETTINGS'].key_dir}; "
                   f"{len(result.destroyed)} had come back and were destroyed again"
                   + (f"; {result.scrubbed} unfinished destruction(s) finished" if result.scrubbed else "") + ".")
        for subject_id in result.destroyed:
            click.echo(f"  destroyed again: subject {subject_id}")

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
