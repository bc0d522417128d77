"""``flask --app wsgi evidence metrics|ropa``: the reports page's downloads, from the shell.

    flask --app wsgi evidence metrics --year 2026 [--jurisdiction US-CA] --format csv --out metrics.csv
    flask --app wsgi evidence metrics --from 2026-01-01 --to 2026-06-30 --format pdf --out h1.pdf
    flask --app wsgi evidence ropa --format pdf --out record.pdf

An existing file is never overwritten without ``--force``; bad input is refused with a message and
nothing is written. The file is written under a temporary name and renamed into place, so a reader
never sees half of it. Each file written is audited as the page's downloads are (actor: system,
``via: shell``).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import click

from portal.audit.services import Actor, record
from portal.extensions import db
from portal.files import write_file

from . import metrics, ropa

FORMATS = click.Choice(["csv", "pdf"])


def _target(out_path: str, force: bool) -> Path:
    out = Path(out_path)
    if out.exists() and not force:
        raise click.ClickException(f"{out} exists already; choose another name or add --force.")
    if out.is_dir():
        raise click.ClickException(f"{out} is a directory.")
    if not out.parent.is_dir():
        raise click.ClickException(f"The directory {out.parent} does not exist.")
    return out


def _write(out: Path, body: bytes) -> None:
    write_file(out, body)


def register(group: click.Group) -> None:
    """Add this module's commands to ``group``."""

    @group.command("metrics")
    @click.option("--year", type=int, default=None, help="A calendar year (1 January to 31 December).")
    @click.option("--from", "date_from", type=click.DateTime(["%Y-%m-%d"]), default=None,
                  help="First day (UTC), with --to, instead of --year.")
    @click.option("--to", "date_to", type=click.DateTime(["%Y-%m-%d"]), default=None, help="Last day (UTC), included.")
    @click.option("--jurisdiction", default=None, help="Only requests of this jurisdiction (ES, US-CA, ...); "
                                                       "default all.")
    @click.option("--format", "fmt", type=FORMATS, required=True)
    @click.option("--out", "out_path", required=True, type=click.Path(), help="Where to write the file.")
    @click.option("--force", is_flag=True, help="Overwrite --out if it exists.")
    def metrics_command(year: int | None, date_from: datetime | None, date_to: datetime | None,
                        jurisdiction: str | None, fmt: str, out_path: str, force: bool) -> None:
        """Request metrics for a period (CPRA 11 CCR §7102, GDPR timeliness) as CSV or PDF."""
        out = _target(out_path, force)
        try:
            start, end = metrics.resolve_period(year, date_from.date() if date_from else None,
                                                date_to.date() if date_to else None)
            report = metrics.compute(start, end, metrics.clean_jurisdiction(jurisdiction))
        except metrics.MetricsError as error:
            raise click.ClickException(str(error)) from None
        body = metrics.to_csv(report).encode("utf-8") if fmt == "csv" else metrics.to_pdf(report)
        _write(out, body)
        record("evidence:metrics:download", actor=Actor.system(), details=metrics.audit_details(report, fmt,
                                                                                                 via="shell"))
        db.session.commit()
        click.echo(f"Wrote {out} ({len(body):,} bytes): {report.total.received:,} requests received "
                   f"{start.isoformat()} to {end.isoformat()}, {report.jurisdiction_label}.")

    @group.command("ropa")
    @click.option("--format", "fmt", type=FORMATS, required=True)
    @click.option("--out", "out_path", required=True, type=click.Path(), help="Where to write the file.")
    @click.option("--force", is_flag=True, help="Overwrite --out if it exists.")
    def ropa_command(fmt: str, out_path: str, force: bool) -> None:
        """The record of processing activities (GDPR Art. 30(1)) as CSV or PDF."""
        out = _target(out_path, force)
        processing = ropa.build_record()
        body = ropa.to_csv(processing).encode("utf-8") if fmt == "csv" else ropa.to_pdf(processing)
        _write(out, body)
        record("evidence:ropa:download", actor=Actor.system(),
               details={"format": fmt, "via": "shell", "activities": len(processing.activities)})
        db.session.commit()
        click.echo(f"Wrote {out} ({len(body):,} bytes): {len(processing.activities)} processing activities.")
