"""File sessions on a disk that is full (a real tmpfs of 256 KiB, filled to the last byte): sign-in
answers 503 and says why, instead of sending the person to the IdP and then calling the lost
session an "old sign-in link"; nothing is audited as a forged state; with space again, it works."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from flask import Flask

from portal import create_app
from portal.audit.models import AuditEntry
from portal.extensions import db
from tests.conftest import app_config
from tests.helpers import fill_disk


def test_sign_in_on_a_full_session_disk_answers_503_and_works_again_with_space(
        full_disk: Path, tmp_path: Path, idp_url: str, sqlite_template: Path) -> None:
    database = tmp_path / "portal.db"
    database.write_bytes(sqlite_template.read_bytes())
    app: Flask = create_app(app_config(tmp_path, idp_url, f"sqlite:///{database}", session_dir=full_disk / "s"))
    app.config["TESTING"] = True
    client = app.test_client()
    filler = fill_disk(full_disk)

    page = client.get("/auth/login")
    assert page.status_code == 503 and int(page.headers["Retry-After"]) > 0
    assert "cannot save sign-in sessions" in page.get_data(as_text=True)
    # The IdP's redirect came back to a session that was never stored: said the same way.
    back = client.get("/auth/callback?code=x&state=y")
    assert back.status_code == 503
    with app.app_context():
        refused = db.session.scalars(sa.select(AuditEntry).where(AuditEntry.tag == "auth:sign-in:refused")).all()
        assert refused == []

    filler.unlink()
    again = client.get("/auth/login")
    assert again.status_code == 302 and again.headers["Location"].startswith(idp_url)
    with app.app_context():
        db.session.remove()
        db.engine.dispose()
