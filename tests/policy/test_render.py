"""Rendering the policy: Markdown through an allow-list sanitiser (nh3), and the line diff."""

from __future__ import annotations

import pytest

from portal.policy.models import PolicyVersion
from portal.policy.services import diff, render

HOSTILE = {
    "script tag": ("Hello <script>alert('x')</script> there", ["<script", "alert("]),
    "script in markdown block": ("<script src=https://evil.example/x.js></script>\n\ntext", ["<script", "evil.example"]),
    "on* attribute": ('<p onclick="steal()" onmouseover="x()">hi</p>', ["onclick", "onmouseover", "steal"]),
    "on* attribute on a link": ('<a href="https://ok.example" onfocus="x()">x</a>', ["onfocus"]),
    "javascript: link": ("[click](javascript:alert(1))", ["javascript:", "alert"]),
    "javascript: link, mixed case": ("[click](JaVaScRiPt:alert(1))", ["javascript:", "alert"]),
    "javascript: link, entity encoded": ('<a href="jav&#x61;script:alert(1)">x</a>', ["script:", "alert"]),
    "data: link": ("[x](data:text/html;base64,PHNjcmlwdD4=)", ["data:"]),
    "vbscript: link": ('<a href="vbscript:msgbox(1)">x</a>', ["vbscript"]),
    "protocol-relative link": ("[x](//evil.example/phish)", ["evil.example"]),
    "style attribute": ('<p style="position:fixed;top:0">x</p>', ["style=", "position:fixed"]),
    "style element": ("<style>body{display:none}</style>\n\ntext", ["<style", "display:none"]),
    "raw iframe": ('<iframe src="https://evil.example/"></iframe>', ["<iframe", "evil.example"]),
    "image": ("![tracker](https://evil.example/pixel.gif)", ["<img", "evil.example"]),
    "raw img with onerror": ('<img src=x onerror="alert(1)">', ["<img", "onerror"]),
    "svg": ('<svg onload="alert(1)"><circle r="1"/></svg>', ["<svg", "onload"]),
    "form": ('<form action="https://evil.example"><input name="p"></form>', ["<form", "<input", "evil.example"]),
    "object": ('<object data="x.swf"></object><embed src="x">', ["<object", "<embed"]),
    "meta refresh": ('<meta http-equiv="refresh" content="0;url=https://evil.example">', ["<meta", "evil.example"]),
    "class and id": ('<p class="flash-error" id="main">x</p>', ["class=", 'id="main"']),
}


@pytest.mark.parametrize("case", HOSTILE)
def test_hostile_markup_is_removed(case: str) -> None:
    source, forbidden = HOSTILE[case]
    html = str(render(source)).lower()
    for fragment in forbidden:
        assert fragment.lower() not in html, (case, html)


def test_the_allowed_markdown_survives_with_headings_one_level_down() -> None:
    html = str(render(
        "# Why\n\nSome **strong** and *em* text with `code`.\n\n## Details\n\n1. one\n2. two\n\n- a\n- b\n\n"
        "> quoted\n\n| What | Days |\n|:--|--:|\n| Screenshots | 90 |\n\n"
        "[Consent](/me/consent) · [Law](https://eur-lex.europa.eu/eli/reg/2016/679/oj) · [DPO](mailto:dpo@example.com)"
        " · [Top](#why)\n\n    code block\n"))
    for fragment in ("<h2>Why</h2>", "<h3>Details</h3>", "<strong>strong</strong>", "<em>em</em>",
                     "<code>code</code>", "<ol>", "<ul>", "<li>one</li>", "<blockquote>", "<table>",
                     '<th align="left">What</th>', '<td align="right">90</td>', "<pre><code>code block",
                     '<a href="/me/consent" rel="noopener noreferrer">Consent</a>',
                     '<a href="https://eur-lex.europa.eu/eli/reg/2016/679/oj" rel="noopener noreferrer">Law</a>',
                     '<a href="mailto:dpo@example.com" rel="noopener noreferrer">DPO</a>',
                     '<a href="#why" rel="noopener noreferrer">Top</a>'):
        assert fragment in html, fragment
    assert "<h1" not in html, "the page's own h1 is the policy title"


def test_text_that_looks_like_html_in_code_is_shown_not_run() -> None:
    html = str(render("Use `<script>` tags?\n\n    <b>bold</b>\n"))
    assert "<code>&lt;script&gt;</code>" in html and "&lt;b&gt;bold&lt;/b&gt;" in html


def version(number: int, body: str) -> PolicyVersion:
    return PolicyVersion(version=number, title="Policy", body_markdown=body)


def test_diff_pairs_changed_lines_and_marks_the_changed_words() -> None:
    old = version(1, "# Policy\nScreenshots are kept for 180 days.\nRemoved line\nSame end")
    new = version(2, "# Policy\nScreenshots are kept for 90 days.\nSame end\nAdded <b>line</b>")
    result = diff(old, new)
    assert (result.added, result.removed) == (2, 2)
    assert [(r.kind, r.old_number, r.new_number) for r in result.rows] == [
        ("equal", 1, 1), ("change", 2, 2), ("delete", 3, None), ("equal", 4, 3), ("insert", None, 4)]
    change = result.rows[1]
    assert str(change.old) == "Screenshots are kept for <del>180</del> days."
    assert str(change.new) == "Screenshots are kept for <ins>90</ins> days."
    assert str(result.rows[-1].new) == "Added &lt;b&gt;line&lt;/b&gt;", "the source is escaped, never rendered"


def test_diff_folds_long_unchanged_passages() -> None:
    lines = [f"line {n}" for n in range(1, 31)]
    changed = [*lines[:14], "line fifteen", *lines[15:]]
    result = diff(version(1, "\n".join(lines)), version(2, "\n".join(changed)))
    kinds = [r.kind for r in result.rows]
    assert kinds == ["skip", "equal", "equal", "equal", "change", "equal", "equal", "equal", "skip"]
    assert [r.skipped for r in result.rows if r.kind == "skip"] == [11, 12]


def test_diff_of_identical_versions_says_so() -> None:
    result = diff(version(1, "a\nb"), version(2, "a\nb"))
    assert result.identical and [r.kind for r in result.rows] == ["equal", "equal"]
