"""``flask --app wsgi evidence ...``: packs, metrics and the record of processing."""

from __future__ import annotations

from flask import Flask


def register_evidence_commands(app: Flask) -> None:
    @app.cli.group("evidence")
    def evidence_group() -> None:
        """Evidence for regulators."""

    from portal.evidence import pack_commands
    from portal.reports import commands as report_commands

    pack_commands.register(evidence_group)
    report_commands.register(evidence_group)


__all__ = ["register_evidence_commands"]
