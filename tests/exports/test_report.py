"""report.pdf: made from an ExportSummary alone; names every category and file, prints hostile
text literally, survives names its font cannot draw, and says so when there is nothing to show."""

from __future__ import annotations

import io
import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from flask import Flask
from pypdf import PdfReader

from portal.exports.report import daily_buckets, write_report
from portal.exports.summary import (
    AccessLine,
    CategorySection,
    ConsentLine,
    ExportSummary,
    PackageFile,
    TrainingUse,
)
from portal.pdf import fonts

HOSTILE = "<b>Eve & Co</b>"
SCRIPT = "<script>alert('x')</script>"
GENERATED = datetime(2026, 11, 23, 14, 5, 30, tzinfo=UTC)
DPO = "dpo@example.com"


def category(key: str, name: str, *, count: int = 0, consent: str | None = None,
             files: list[str] | None = None) -> CategorySection:
    first = datetime(2025, 10, 20, 8, 0, tzinfo=UTC) if count else None
    last = datetime(2026, 11, 22, 17, 30, tzinfo=UTC) if count else None
    return CategorySection(
        key=key, name=name, description=f"What {name.lower()} are, in plain words.",
        purposes=["Security of the company's systems", "Working-time records"], legal_basis="Legitimate interest",
        retention_days=365, recipients=["IT security team", "Payroll provider"], source_system="Endpoint agent",
        consent_purpose=consent, count=count, first_at=first, last_at=last, files=files or [])


def shot_file(i: int, where: str = "github.com") -> PackageFile:
    when = GENERATED - timedelta(days=i)
    return PackageFile(f"screenshots/{when:%Y%m%dT%H%M%SZ}-{i:08x}.png",
                       f"Screenshot of {where} at {when.isoformat()}", None, 48_213 + i, f"{i:064x}")


def sample_summary(name: str = "Łukasz José Ő Example", shots: int = 3) -> ExportSummary:
    """A realistic package: four categories, data files, screenshots, consent, access, 400 days."""
    images = [shot_file(i, HOSTILE if i == 1 else "github.com") for i in range(shots)]
    files = [
        PackageFile("data/input_events.jsonl", "Input events (JSON Lines: one JSON object per line)", 1_204, 310_555, "a" * 64),
        PackageFile("data/input_events.csv", "Input events (CSV, UTF-8, header row: id, occurred_at)", 1_204, 150_002, "b" * 64),
        PackageFile("data/app_activity.csv", "Application and web-site activity (CSV)", 877, 90_000, "c" * 64),
        PackageFile("data/screenshots.csv", "Screenshots: when, where and which file (CSV)", shots, 2_000, "d" * 64),
        PackageFile("data/ai_training_use.csv", "Use in AI training sets (CSV)", 2, 300, "e" * 64),
        PackageFile("data/consent_history.csv", "Your consent decisions (CSV)", 3, 400, "f" * 64),
        PackageFile("data/access_log.csv", "Who accessed your data (CSV)", 2, 300, "0" * 64),
        *images,
    ]
    start = date(2025, 10, 20)
    return ExportSummary(
        export_id="exp-7f3a9c",
        subject_name=name,
        subject_email="lukasz@example.com",
        employee_number="E-1042",
        jurisdiction="ES",
        generated_at=GENERATED,
        categories_in_scope=["input_events", "app_activity", "screenshots", "ai_training_use"],
        date_from=None,
        date_to=None,
        categories=[
            category("input_events", "Input events", count=1_204,
                     files=["data/input_events.jsonl", "data/input_events.csv"]),
            category("app_activity", "Application and web-site activity", count=877, files=["data/app_activity.csv"]),
            category("screenshots", "Screenshots", count=shots, consent="screenshot_capture",
                     files=["data/screenshots.csv", *(f.path for f in images)]),
            category("ai_training_use", "Use in AI training sets", count=2, consent="ai_training",
                     files=["data/ai_training_use.csv"]),
        ],
        training_uses=[
            TrainingUse("activity-2025q3", "snap-0007", 41_234, date(2025, 9, 30), "focus-predictor-v3"),
            TrainingUse(HOSTILE, "snap-0002", 12, date(2025, 11, 4), "screen-parser-v1"),
        ],
        consent_history=[
            ConsentLine(datetime(2025, 10, 1, 9, 0, tzinfo=UTC), "screenshot_capture", "Screenshots of your screen",
                        "granted", 3, "portal", "Firefox on Linux"),
            ConsentLine(datetime(2025, 10, 1, 9, 1, tzinfo=UTC), "ai_training", "Use in AI training",
                        "granted", 3, "portal", "Firefox on Linux"),
            ConsentLine(datetime(2026, 2, 2, 10, 0, tzinfo=UTC), "ai_training", "Use in AI training",
                        "withdrawn", 4, "portal", SCRIPT),
        ],
        access_log=[
            AccessLine(datetime(2026, 6, 1, 12, 0, tzinfo=UTC), "exported", "dpo",
                       "Investigation of a complaint", "CASE-19"),
            AccessLine(datetime(2026, 3, 4, 8, 30, tzinfo=UTC), "viewed", "system", "Malware alert", None),
        ],
        daily_counts=[(start + timedelta(days=i), (i * 37) % 90) for i in range(400) if i % 7 not in (5, 6)],
        hourly_counts=[0, 0, 0, 0, 0, 0, 2, 15, 80, 120, 130, 110, 60, 100, 125, 118, 90, 40, 10, 3, 1, 0, 0, 0],
        top_targets=[("site", "github.com", 40 * 3_600_000, 900), ("app", "Visual Studio Code", 35 * 3_600_000, 700),
                     ("site", HOSTILE, 5 * 3_600_000, 50)]
                    + [("app", f"App {i}", (12 - i) * 600_000, 10) for i in range(10)],
        files=files,
        dpo_contact=DPO,
        controller="Example Iberia S.L.",
    )


def empty_summary() -> ExportSummary:
    return ExportSummary(
        export_id="exp-empty", subject_name="Erin Example", subject_email="erin@example.com", employee_number=None,
        jurisdiction="ES", generated_at=GENERATED, categories_in_scope=["input_events"],
        date_from=date(2026, 1, 1), date_to=date(2026, 1, 31),
        categories=[category("input_events", "Input events"), category("screenshots", "Screenshots")],
        training_uses=[], consent_history=[], access_log=[], daily_counts=[], hourly_counts=[0] * 24,
        top_targets=[], files=[], dpo_contact=DPO)


def pdf_text(summary: ExportSummary) -> tuple[str, PdfReader]:
    out = io.BytesIO()
    write_report(summary, out)
    data = out.getvalue()
    assert data.startswith(b"%PDF-")
    reader = PdfReader(io.BytesIO(data))
    text = "\n".join(page.extract_text() or "" for page in reader.pages)
    return " ".join(text.split()), reader


def test_report_names_the_person_every_category_every_file_and_the_dpo(app: Flask) -> None:
    summary = sample_summary()
    with app.app_context():
        text, reader = pdf_text(summary)
    assert "Your monitoring data: a copy for Łukasz José Ő Example" in text
    for section in summary.categories:
        assert section.name in text
    compact = text.replace(" ", "")  # a long path wraps inside its table cell
    for path in [*(f.path for f in summary.files), "report.pdf", "index.html", "manifest.json"]:
        assert path in compact, path
    assert DPO in text
    assert "23 November 2026, 14:05 UTC" in text
    assert "all dates" in text
    assert "SHA-256" in text
    assert "CASE-19" in text and "Data Protection Officer" in text and "Automated process" in text
    assert "focus-predictor-v3" in text
    assert f"page 1 of {len(reader.pages)}" in text
    assert reader.metadata is not None and (reader.metadata.title or "").endswith("Łukasz José Ő Example")


def test_hostile_text_prints_literally(app: Flask) -> None:
    with app.app_context():
        text, _reader = pdf_text(sample_summary(name=HOSTILE))
    assert f"a copy for {HOSTILE}" in text
    assert "<script>alert('x')" in text and "</script>" in text  # a device name, wrapped in its cell


def test_an_empty_package_still_makes_a_report_that_says_so(app: Flask) -> None:
    with app.app_context():
        text, reader = pdf_text(empty_summary())
    assert len(reader.pages) >= 1
    assert "Erin Example" in text and "1 January 2026 to 31 January 2026" in text
    assert "No events are recorded in this package" in text
    assert "No time in focus on a web site or application is recorded in this package" in text
    assert "Your data has not been used in any AI training set" in text
    assert "You have not given or withdrawn consent for any purpose" in text
    assert "No member of staff has viewed or exported your data" in text
    assert "not chosen" in text  # screenshots were not in the scope


def test_without_dejavu_helvetica_replaces_what_it_cannot_draw(app: Flask, monkeypatch: pytest.MonkeyPatch,
                                                                 tmp_path: Path) -> None:
    monkeypatch.setattr(fonts, "FONT_DIR", tmp_path)  # no font files there
    with app.app_context():
        text, _reader = pdf_text(sample_summary(name="Łukasz José Őrs 李"))
    # José is Latin-1; Ő loses its accent; Ł and 李 have no Latin-1 form.
    assert "a copy for ?ukasz José Ors ?" in text


def test_many_screenshot_images_are_summed_up_in_the_file_list(app: Flask) -> None:
    summary = sample_summary(shots=260)
    with app.app_context():
        text, _reader = pdf_text(summary)
    assert "260 screenshot images, each listed by name in data/screenshots.csv" in text
    assert "data/input_events.jsonl" in text


def test_long_histories_are_drawn_per_week_or_month() -> None:
    start = date(2024, 1, 3)  # a Wednesday
    unit, buckets = daily_buckets([(start + timedelta(days=i), 1) for i in range(400)])
    assert unit == "week" and buckets[0] == ("2024-01-01", 5) and sum(n for _l, n in buckets) == 400
    unit, buckets = daily_buckets([(start, 2), (start + timedelta(days=1000), 3)])
    assert unit == "month" and buckets[0] == ("2024-01", 2) and buckets[-1] == ("2026-09", 3)
    assert len(buckets) == 33
    unit, buckets = daily_buckets([(start, 2), (start + timedelta(days=2), 3)])
    assert unit == "day" and [n for _l, n in buckets] == [2, 0, 3]


def test_no_register_key_or_stored_value_is_shown_in_the_report_or_the_index(app: Flask) -> None:
    """The person reads words: category names, roles, actions; never ``app_activity``, ``dpo`` or
    ``system``, which are how the portal stores them."""
    from tests.exports.test_index_page import render

    summary = sample_summary()
    text, _reader = pdf_text(summary)
    page = render(app, summary)
    shown = " ".join(re.sub(r"<[^>]+>", " ", re.sub(r"<(style|script)\b.*?</\1>", " ", page, flags=re.S)).split())
    # Keys that are not also ordinary words ("screenshots" is both), and the stored roles.
    keys = [c.key for c in summary.categories if "_" in c.key] + ["dpo"]
    assert len(keys) >= 3
    for where, words in (("report.pdf", text), ("index.html", shown)):
        for key in keys:
            assert not re.search(rf"(?<![\w/.-]){re.escape(key)}(?![\w/.@-])", words), (where, key)


def test_the_derived_data_and_the_registers_profiling_are_said_in_the_readers_language(app: Flask) -> None:
    """The report and the index name the derived files, say that the portal computes no score, and
    say what the register states about profiling and automated decisions, in English or Spanish."""
    from portal.exports.index_page import render_index
    from portal.exports.summary import ProfilingLine

    derived = ["derived/activity_per_day.csv", "derived/time_per_application_and_site.csv"]
    summary = sample_summary()
    summary.derived_files = derived
    summary.profiling = [ProfilingLine("Input events", True, False, "Weekly productivity reports.",
                                       "A manager reads them.", ["HR analytics team"])]
    with app.app_context():
        text, _reader = pdf_text(summary)
        index = " ".join(render_index(summary).decode().split())
    for said in (text, index):
        assert "Data derived from your activity" in said and all(path in said for path in derived)
        assert "The portal itself computes no score, rating or ranking of you" in said
        assert "totals over all time" in said
        assert "Input events: used for profiling: evaluating how you work." in said
        assert "Weekly productivity reports." in said and "A manager reads them." in said
        assert "Who receives it: HR analytics team" in said
        assert "No decision about you is taken by automated means alone" in said
        assert "None of this data is used to evaluate you" not in said

    summary.profiling = []
    summary.language = "es"
    with app.app_context():
        text, _reader = pdf_text(summary)
        index = " ".join(render_index(summary).decode().split())
    for said in (text, index):
        assert "Datos derivados de su actividad" in said and all(path in said for path in derived)
        assert "El propio portal no calcula ninguna puntuación" in said
        assert "Data derived from your activity" not in said
        assert "Ninguno de estos datos se utiliza para evaluarle (elaboración de perfiles)." in said
        assert "No se toma ninguna decisión sobre usted basada únicamente en medios automatizados" in said
