"""Helpers shared by the monitoring and crypto tests: small images, batches and a snapshot of
everything an ingestion could change (rows of every table, the totals, the artifact files)."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path
from typing import Any

from flask import Flask
from PIL import Image, ImageDraw
from PIL.PngImagePlugin import PngInfo
from sqlalchemy import func, select

from portal.extensions import db
from portal.monitoring.models import SubjectCategoryStats


def png(text: str | None = None, *, size: tuple[int, int] = (160, 32), comment: str | None = None) -> bytes:
    """A small PNG, optionally with ``text`` drawn into it and ``comment`` as a tEXt chunk
    (which, unlike drawn pixels, appears verbatim in the file's bytes)."""
    image = Image.new("RGB", size, "white")
    if text:
        ImageDraw.Draw(image).text((4, 10), text, fill="black")
    info = PngInfo()
    if comment:
        info.add_text("Comment", comment)
    buffer = io.BytesIO()
    image.save(buffer, "PNG", pnginfo=info)
    return buffer.getvalue()


def shot(n: int, image: bytes | None = None, **overrides: Any) -> dict[str, Any]:
    from tests.helpers import event

    base: dict[str, Any] = {
        "screenshot_id": f"shot-{n}",
        "captured_at": event(n)["occurred_at"],
        "application": "Google Chrome",
        "site_domain": "github.com",
        "image": image if image is not None else png(f"screen {n}"),
    }
    base.update(overrides)
    return base


def artifact_files(app: Flask) -> dict[str, str]:
    """Every file under the artifact directory (relative path -> SHA-256 of its content)."""
    root: Path = app.config["PORTAL_SETTINGS"].artifact_dir
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def row_counts() -> dict[str, int]:
    return {table.name: db.session.execute(select(func.count()).select_from(table)).scalar_one()
            for table in db.metadata.sorted_tables}


def stats() -> list[dict[str, Any]]:
    return [s.as_row() for s in db.session.scalars(
        select(SubjectCategoryStats).order_by(SubjectCategoryStats.subject_id, SubjectCategoryStats.category))]


def snapshot(app: Flask) -> dict[str, Any]:
    """What a refused batch must leave exactly as it was (queries autoflush, so anything a
    refusal left pending in the session would show up here)."""
    return {"rows": row_counts(), "stats": stats(), "files": artifact_files(app)}
