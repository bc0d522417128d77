"""Commands: ``flask --app wsgi demo seed|generate`` and friends."""

from __future__ import annotations

import time

import click
from flask import Flask, current_app

from portal.extensions import db


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
