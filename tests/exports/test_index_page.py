"""index.html: standalone (no script, nothing fetched), escapes everything from the data, links
every file of the package by its relative path, and caps the screenshot gallery."""

from __future__ import annotations

import re
from dataclasses import replace
from html.parser import HTMLParser

from flask import Flask

from portal.exports.index_page import href, render_index
from portal.exports.summary import ExportSummary, PackageFile
from tests.exports.test_report import HOSTILE, SCRIPT, empty_summary, sample_summary


class Page(HTMLParser):
    """The tags, their attributes and the text of a page."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    def attrs(self, tag: str, name: str) -> list[str]:
        return [a[name] or "" for t, a in self.tags if t == tag and name in a]

    @property
    def plain(self) -> str:
        return " ".join(" ".join(self.text).split())


def render(app: Flask, summary: ExportSummary) -> str:
    with app.app_context():
        data = render_index(summary)
    assert isinstance(data, bytes)
    return data.decode("utf-8")


def hostile_summary() -> ExportSummary:
    summary = sample_summary(name=SCRIPT)
    summary.categories[0].description = f"{SCRIPT} {HOSTILE}"
    summary.access_log[0].purpose = '"><img src=x onerror=alert(1)>'
    summary.dpo_contact = "dpo@example.com?subject=<script>"
    return summary


def test_index_is_standalone_and_accessible(app: Flask) -> None:
    html = render(app, sample_summary())
    page = Page(html)
    assert "<script" not in html.lower()
    assert not any(t in ("link", "iframe", "object", "embed", "form") for t, _a in page.tags)
    assert not re.search(r"https?://", html)
    assert page.attrs("html", "lang") == ["en"]
    assert [t for t, _a in page.tags].count("h1") == 1
    assert all(a.get("scope") in ("col", "row") for t, a in page.tags if t == "th")
    assert [t for t, _a in page.tags].count("caption") == [t for t, _a in page.tags].count("table")
    for link in page.attrs("a", "href") + page.attrs("img", "src"):
        assert link.startswith(("#", "mailto:")) or not re.match(r"^[a-z][a-z0-9+.-]*:|^/", link, re.I), link


def test_index_says_who_when_and_what(app: Flask) -> None:
    summary = sample_summary()
    page = Page(render(app, summary))
    text = page.plain
    assert "Your monitoring data: a copy for Łukasz José Ő Example" in text
    assert "23 November 2026, 14:05 UTC" in text and "all dates" in text
    for section in summary.categories:
        assert section.name in text
    assert "focus-predictor-v3" in text and "CASE-19" in text and "Use in AI training" in text
    assert "sha256sum data/input_events.jsonl" in text
    assert "dpo@example.com" in text and "mailto:dpo@example.com" in page.attrs("a", "href")


def test_every_file_is_linked_with_its_checksum(app: Flask) -> None:
    summary = sample_summary()
    page = Page(render(app, summary))
    links = set(page.attrs("a", "href"))
    for file in summary.files:
        assert file.path in links, file.path
    assert {"report.pdf", "manifest.json"} <= links
    titles = page.attrs("code", "title")
    for file in summary.files:
        assert file.sha256 in titles
    assert "310.6 kB" in page.plain


def test_hostile_text_is_escaped(app: Flask) -> None:
    html = render(app, hostile_summary())
    assert "<script" not in html.lower()
    assert "<b>Eve" not in html and "onerror=alert(1)>" not in html
    assert "&lt;script&gt;" in html and "&lt;b&gt;Eve &amp; Co&lt;/b&gt;" in html
    page = Page(html)
    assert f"a copy for {SCRIPT}" in page.plain
    assert not [h for h in page.attrs("a", "href") if h.startswith("mailto:")]  # not an address: shown as text
    assert [t for t, _a in page.tags].count("img") == 3  # the screenshots, nothing injected


def test_file_paths_cannot_leave_the_package() -> None:
    assert href("data/input_events.csv") == "data/input_events.csv"
    assert href("javascript:alert(1)") == "javascript%3Aalert%281%29"
    assert href("/etc/../passwd") == "etc/passwd"
    assert href("screenshots/a b#c?.png") == "screenshots/a%20b%23c%3F.png"


def test_the_gallery_shows_200_screenshots_and_says_how_many_more(app: Flask) -> None:
    summary = sample_summary(shots=230)
    page = Page(render(app, summary))
    images = [a for t, a in page.tags if t == "img"]
    assert len(images) == 200
    first = summary.files[7]
    assert images[0] == {"src": first.path, "loading": "lazy", "width": "200", "alt": first.description}
    assert "30 more screenshots are not shown here" in page.plain
    assert "data/screenshots.csv" in page.attrs("a", "href")
    links = set(page.attrs("a", "href"))
    assert all(f.path in links for f in summary.files)  # the file list still names every one


def test_an_empty_package_has_empty_states(app: Flask) -> None:
    summary = replace(empty_summary(), files=[PackageFile("data/input_events.csv", "Input events (CSV)", 0, 120, "9" * 64)])
    text = Page(render(app, summary)).plain
    assert "Erin Example" in text and "1 January 2026 to 31 January 2026" in text
    assert "There are no screenshots in this package" in text
    assert "Your data has not been used in any AI training set" in text
    assert "You have not given or withdrawn consent for any purpose" in text
    assert "No member of staff has viewed or exported your data" in text
    assert "not chosen" in text
