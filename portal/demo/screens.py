"""Synthetic desktop screenshots for demo data.

:func:`draw_screenshot` paints a plausible 960x600 screen (a window with its title bar, browser
chrome for web pages, content that looks like the site or application, and a task bar with a
clock) and returns it as PNG bytes.  Everything is flat colours and Pillow's built-in font, so
nothing is fetched from the network and nothing real is ever shown: people, messages and code
are all made up.

Speed: rendering text with FreeType is slow, so every word is rendered once into an alpha
mask (cached) and pasted afterwards.  The finished RGB canvas is reduced to a palette built
from the colours that were actually used (plus the anti-aliasing blends of text on its
background), which makes the PNG small and quick to encode.
"""

from __future__ import annotations

import io
import math
import random
import unicodedata
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from functools import lru_cache
from urllib.parse import parse_qs, urlsplit

from PIL import Image, ImageDraw, ImageFont

__all__ = ["HEIGHT", "WIDTH", "draw_screenshot"]

WIDTH, HEIGHT = 960, 600
TITLE_H = 28
TASKBAR_H = 30

Color = tuple[int, int, int]
Box = tuple[int, int, int, int]
Font = ImageFont.FreeTypeFont | ImageFont.ImageFont

WHITE: Color = (255, 255, 255)
INK: Color = (32, 33, 36)
GREY_TEXT: Color = (95, 99, 104)
LINE: Color = (222, 225, 230)
BAR: Color = (210, 213, 218)

BROWSER_NAMES = frozenset({"Google Chrome", "Chrome", "Firefox", "Mozilla Firefox", "Microsoft Edge", "Safari"})
BROWSER_SUFFIXES = (" — Google Chrome", " - Google Chrome", " — Mozilla Firefox", " - Mozilla Firefox",
                    " — Firefox", " - Microsoft Edge")

WORDS = ["the", "of", "and", "to", "in", "for", "on", "with", "is", "that", "by", "this", "from", "are", "we", "it", "as", "be", "at", "or", "an", "will", "all", "new", "can", "team", "data", "our", "you", "your", "more", "about", "please", "update", "review", "next", "time", "plan", "report", "project", "meeting", "notes", "week", "today", "draft", "customer", "release", "build", "test", "fix", "change", "issue", "payment", "refund", "service", "access", "request", "policy", "retention", "budget", "quarter", "sprint", "design", "office", "support", "schedule", "summary", "results", "owner", "deadline", "status", "priority", "feedback", "approve", "shared", "doc", "link", "call", "agenda", "follow", "check", "ready", "merge", "deploy", "branch", "config", "log", "error", "timeout", "retry", "cache", "queue", "index", "query", "table", "user", "account", "invoice", "vendor", "contract", "thanks", "sure", "looks", "good", "later", "done", "agreed", "numbers", "slides", "demo", "friday", "monday", "morning", "afternoon", "lunch", "coffee", "hiring", "onboarding", "training", "security", "privacy", "review", "legal", "finance", "sales", "product", "roadmap", "launch", "metrics", "goals"]
FIRST_NAMES = ("Priya", "Jonas", "Amara", "Lukas", "Mei", "Diego", "Sofia", "Tom", "Aisha", "Noah", "Elena",
               "Kenji", "Fatima", "Oliver", "Chloe", "Ravi", "Hannah", "Mateo", "Ingrid", "Samuel")
LAST_NAMES = ("Shah", "Becker", "Okafor", "Novak", "Lin", "Romero", "Rossi", "Berg", "Khan", "Fischer",
              "Petrov", "Tanaka", "Haddad", "Wright", "Dubois", "Iyer", "Schmidt", "Alvarez", "Larsen", "Mensah")
JOB_TITLES = ("Product Manager at Acme", "Senior Software Engineer", "Data Analyst | SQL, Python",
              "Head of People Operations", "Engineering Manager, Payments", "UX Designer", "Recruiter at Northwind",
              "Finance Business Partner", "Privacy Counsel", "Site Reliability Engineer")
AVATAR_COLOURS: tuple[Color, ...] = ((232, 112, 86), (76, 148, 214), (98, 178, 120), (196, 120, 196),
                                     (229, 168, 54), (90, 110, 200), (200, 90, 120), (60, 160, 160))


# --- glyph cache ----------------------------------------------------------------------------------

@lru_cache(maxsize=16)
def _font(size: int) -> Font:
    return ImageFont.load_default(size=size)


# The built-in font covers ASCII and a few symbols: fold the rest so that nothing shows as a box.
_FOLD = str.maketrans({"—": "-", "–": "-", "•": "·", "×": "x", "\u00a0": " ", "→": ">", "←": "<"})


def _plain(text: str) -> str:
    text = text.translate(_FOLD)
    if not text.isascii():
        text = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
    return text


@lru_cache(maxsize=16384)
def _glyph(text: str, size: int) -> tuple[Image.Image, int]:
    """The alpha mask of ``text`` (drawn with its ascender at the top) and its advance width."""
    font = _font(size)
    text = _plain(text)
    _left, _top, right, bottom = font.getbbox(text)
    mask = Image.new("L", (max(1, math.ceil(right)), max(1, math.ceil(bottom))), 0)
    ImageDraw.Draw(mask).text((0, 0), text, font=font, fill=255)
    return mask, round(font.getlength(text))


@lru_cache(maxsize=32)
def _space(size: int) -> int:
    return max(2, round(_font(size).getlength(" ")))


def _measure(text: str, size: int) -> int:
    words = text.split(" ")
    return sum(_glyph(w, size)[1] for w in words if w) + _space(size) * (len(words) - 1)


def _fit(text: str, size: int, max_w: int) -> str:
    width = _measure(text, size)
    while width > max_w and len(text) > 1:
        keep = max(1, min(len(text) - 1, int(len(text) * max_w / width) - 1))
        text = text[:keep].rstrip() + "…"
        width = _measure(text, size)
    return text


def _blend(a: Color, b: Color, t: float) -> Color:
    return (round(a[0] * t + b[0] * (1 - t)), round(a[1] * t + b[1] * (1 - t)), round(a[2] * t + b[2] * (1 - t)))


# --- the canvas -----------------------------------------------------------------------------------

class _Screen:
    """An RGB canvas that remembers the colours drawn, for an exact palette at the end."""

    def __init__(self, rng: random.Random, when: datetime) -> None:
        self.rng = rng
        self.when = when
        self.img = Image.new("RGB", (WIDTH, HEIGHT), WHITE)
        self.draw = ImageDraw.Draw(self.img)
        self.colours: dict[Color, None] = {WHITE: None}
        self.pairs: dict[tuple[Color, Color], None] = {}

    # primitives
    def rect(self, box: Box, fill: Color | None, outline: Color | None = None, radius: int = 0,
             width: int = 1) -> None:
        for colour in (fill, outline):
            if colour is not None:
                self.colours[colour] = None
        if radius:
            self.draw.rounded_rectangle(box, radius=radius, fill=fill, outline=outline, width=width)
        else:
            self.draw.rectangle(box, fill=fill, outline=outline, width=width)

    def ellipse(self, box: Box, fill: Color | None, outline: Color | None = None) -> None:
        for colour in (fill, outline):
            if colour is not None:
                self.colours[colour] = None
        self.draw.ellipse(box, fill=fill, outline=outline)

    def line(self, points: Sequence[tuple[int, int]], fill: Color, width: int = 1) -> None:
        self.colours[fill] = None
        self.draw.line(list(points), fill=fill, width=width)

    def text(self, x: int, y: int, text: str, *, size: int = 13, ink: Color = INK, bg: Color = WHITE,
             bold: bool = False, max_w: int | None = None) -> int:
        """Draw ``text`` with its top-left at (x, y); return the x where it ends."""
        if max_w is not None:
            text = _fit(text, size, max_w)
        self.colours[ink] = None
        self.pairs[(ink, bg)] = None
        space = _space(size)
        paste = self.img.paste
        for word in text.split(" "):
            if word:
                mask, advance = _glyph(word, size)
                paste(ink, (x, y), mask)
                if bold:
                    paste(ink, (x + 1, y), mask)
                    advance += 1
                x += advance
            x += space
        return x - space

    def centered(self, box: Box, text: str, *, size: int = 13, ink: Color = INK, bg: Color = WHITE,
                 bold: bool = False) -> None:
        x0, y0, x1, y1 = box
        text = _fit(text, size, x1 - x0 - 4)
        width = _measure(text, size)
        self.text(x0 + (x1 - x0 - width) // 2, y0 + (y1 - y0 - size) // 2 - 1, text, size=size, ink=ink, bg=bg,
                  bold=bold)

    # made-up content
    def words(self, count: int) -> str:
        choice = self.rng.choice
        return " ".join(choice(WORDS) for _ in range(count))

    def sentence(self, count: int) -> str:
        text = self.words(count)
        return text[:1].upper() + text[1:]

    def name(self) -> str:
        return f"{self.rng.choice(FIRST_NAMES)} {self.rng.choice(LAST_NAMES)}"

    def prose(self, x: int, y: int, width: int, *, size: int = 13, ink: Color = INK, bg: Color = WHITE,
              link: Color | None = None, first: bool = True) -> None:
        """One line of made-up words filling about ``width`` pixels."""
        rng, space, end = self.rng, _space(size), x + width
        self.colours[ink] = None
        self.pairs[(ink, bg)] = None
        if link is not None:
            self.colours[link] = None
            self.pairs[(link, bg)] = None
        paste = self.img.paste
        while True:
            word = rng.choice(WORDS)
            if first:
                word, first = word[:1].upper() + word[1:], False
            mask, advance = _glyph(word, size)
            if x + advance > end:
                break
            paste(link if link is not None and rng.random() < 0.1 else ink, (x, y), mask)
            x += advance + space

    def paragraph(self, x: int, y: int, width: int, lines: int, *, size: int = 13, ink: Color = INK,
                  bg: Color = WHITE, link: Color | None = None, leading: int | None = None) -> int:
        step = leading or size + 7
        for i in range(lines):
            last = i == lines - 1
            self.prose(x, y, int(width * self.rng.uniform(0.35, 0.8)) if last else width, size=size, ink=ink,
                       bg=bg, link=link, first=i == 0)
            y += step
        return y

    def bars(self, x: int, y: int, width: int, lines: int, *, fill: Color = BAR, step: int = 16,
             height: int = 7) -> int:
        for i in range(lines):
            w = int(width * (self.rng.uniform(0.4, 0.8) if i == lines - 1 else self.rng.uniform(0.85, 1.0)))
            self.rect((x, y, x + w, y + height), fill, radius=3)
            y += step
        return y

    def avatar(self, x: int, y: int, d: int, name: str, *, square: bool = False, bg: Color = WHITE) -> None:
        colour = AVATAR_COLOURS[sum(map(ord, name)) % len(AVATAR_COLOURS)]
        if square:
            self.rect((x, y, x + d, y + d), colour, radius=max(3, d // 6))
        else:
            self.ellipse((x, y, x + d, y + d), colour)
        initials = "".join(part[:1] for part in name.split()[:2])
        size = max(9, d * 2 // 5)
        self.centered((x, y, x + d, y + d), initials, size=size, ink=WHITE, bg=colour)

    def clock(self, minutes_ago: int = 0, twelve_hour: bool = False) -> str:
        t = self.when - timedelta(minutes=minutes_ago)
        if twelve_hour:
            return f"{(t.hour - 1) % 12 + 1}:{t.minute:02d} {'AM' if t.hour < 12 else 'PM'}"
        return f"{t.hour:02d}:{t.minute:02d}"

    def png(self) -> bytes:
        palette: list[Color] = list(self.colours)
        seen = set(palette)
        for ink, bg in self.pairs:
            for t in (0.25, 0.5, 0.75):
                colour = _blend(ink, bg, t)
                if colour not in seen:
                    seen.add(colour)
                    palette.append(colour)
        palette = palette[:256]
        holder = Image.new("P", (1, 1))
        flat = [value for colour in palette for value in colour]
        holder.putpalette(flat + flat[:3] * (256 - len(palette)))
        image = self.img.quantize(palette=holder, dither=Image.Dither.NONE)
        out = io.BytesIO()
        image.save(out, "PNG", optimize=False, compress_level=1)
        return out.getvalue()


# --- window frame ---------------------------------------------------------------------------------

DARK_APPS = frozenset({"Visual Studio Code", "Terminal", "Zoom", "Zoom Workplace"})
APP_ICON: dict[str, Color] = {
    "Google Chrome": (66, 133, 244), "Firefox": (255, 113, 57), "Visual Studio Code": (0, 122, 204),
    "Microsoft Excel": (33, 115, 70), "Outlook": (15, 108, 189), "Terminal": (70, 70, 70),
    "Zoom": (45, 140, 255), "Slack": (74, 21, 75),
}


def _title_bar(s: _Screen, application: str, title: str) -> None:
    dark = application in DARK_APPS
    bg: Color = (31, 31, 31) if dark else (236, 236, 238)
    ink: Color = (204, 204, 204) if dark else (40, 40, 40)
    s.rect((0, 0, WIDTH, TITLE_H), bg)
    s.rect((10, 8, 22, 20), APP_ICON.get(application, (120, 120, 120)), radius=3)
    s.text(32, 7, title, size=12, ink=ink, bg=bg, max_w=WIDTH - 180)
    x = WIDTH - 130
    s.line([(x + 12, 14), (x + 24, 14)], ink)
    s.rect((x + 56, 9, x + 66, 19), None, outline=ink)
    s.line([(x + 98, 9), (x + 108, 19)], ink)
    s.line([(x + 98, 19), (x + 108, 9)], ink)


def _browser_chrome(s: _Screen, application: str, url: str, page_title: str, y: int) -> int:
    firefox = "firefox" in application.lower()
    strip: Color = (240, 240, 244) if firefox else (222, 225, 230)
    toolbar: Color = (249, 249, 251) if firefox else WHITE
    field: Color = (240, 240, 244) if firefox else (241, 243, 244)
    s.rect((0, y, WIDTH, y + 32), strip)
    tab = (8, y + 4, 248, y + 32)
    s.rect(tab, toolbar, radius=8)
    s.rect((18, y + 12, 30, y + 24), (66, 133, 244), radius=3)
    s.text(38, y + 10, page_title, size=12, ink=INK, bg=toolbar, max_w=180)
    s.text(230, y + 9, "x", size=12, ink=GREY_TEXT, bg=toolbar)
    for i, other in enumerate(s.rng.sample(("Inbox (3)", "Jira", "Calendar", "Docs", "Confluence"), 2)):
        tx = 256 + i * 170
        s.rect((tx + 8, y + 12, tx + 20, y + 24), (150, 150, 160), radius=3)
        s.text(tx + 28, y + 10, other, size=12, ink=GREY_TEXT, bg=strip, max_w=130)
    s.text(256 + 2 * 170 + 6, y + 7, "+", size=16, ink=GREY_TEXT, bg=strip)
    y += 32
    s.rect((0, y, WIDTH, y + 38), toolbar)
    mid = y + 19
    s.line([(14, mid), (28, mid)], GREY_TEXT, width=2)
    s.line([(14, mid), (20, mid - 6)], GREY_TEXT, width=2)
    s.line([(14, mid), (20, mid + 6)], GREY_TEXT, width=2)
    s.line([(44, mid), (58, mid)], (180, 180, 186), width=2)
    s.line([(58, mid), (52, mid - 6)], (180, 180, 186), width=2)
    s.line([(58, mid), (52, mid + 6)], (180, 180, 186), width=2)
    s.draw.arc((74, mid - 7, 88, mid + 7), 40, 340, fill=GREY_TEXT, width=2)
    s.rect((110, y + 6, WIDTH - 90, y + 32), field, radius=13)
    s.rect((124, y + 13, 132, y + 23), GREY_TEXT, radius=2)
    s.text(142, y + 12, url, size=13, ink=INK, bg=field, max_w=WIDTH - 250)
    s.draw.polygon([(WIDTH - 106, y + 11), (WIDTH - 103, y + 17), (WIDTH - 97, y + 18), (WIDTH - 101, y + 22),
                    (WIDTH - 100, y + 28), (WIDTH - 106, y + 25), (WIDTH - 112, y + 28), (WIDTH - 111, y + 22),
                    (WIDTH - 115, y + 18), (WIDTH - 109, y + 17)], outline=GREY_TEXT)
    s.avatar(WIDTH - 70, y + 7, 24, "A B", bg=toolbar)
    for dot in (12, 18, 24):
        s.rect((WIDTH - 28, y + dot, WIDTH - 26, y + dot + 2), GREY_TEXT)
    s.line([(0, y + 37), (WIDTH, y + 37)], LINE)
    return y + 38


def _taskbar(s: _Screen, application: str) -> None:
    y = HEIGHT - TASKBAR_H
    bg: Color = (32, 32, 36)
    s.rect((0, y, WIDTH, HEIGHT), bg)
    s.rect((12, y + 8, 26, y + 22), (0, 120, 215), radius=2)
    x = WIDTH // 2 - 110
    for app, colour in APP_ICON.items():
        s.rect((x, y + 6, x + 18, y + 24), colour, radius=4)
        if app == application:
            s.line([(x + 4, y + 28), (x + 14, y + 28)], (96, 205, 255), width=2)
        x += 28
    s.text(WIDTH - 118, y + 3, s.clock(), size=11, ink=WHITE, bg=bg)
    s.text(WIDTH - 118, y + 16, s.when.strftime("%Y-%m-%d"), size=10, ink=(200, 200, 200), bg=bg)


def _canary(s: _Screen, canary: str, box: Box) -> None:
    """The canary as a desktop notification above the task bar's right end."""
    _x0, _y0, x1, y1 = box
    fill: Color = (255, 250, 214)
    text = _fit(canary, 16, WIDTH - 120)
    width = max(_measure(text, 16), 150)
    left = x1 - width - 44
    s.rect((left, y1 - 74, x1 - 14, y1 - 10), fill, outline=(214, 180, 40), radius=6)
    s.text(left + 14, y1 - 66, "Reminder", size=11, ink=GREY_TEXT, bg=fill)
    s.text(left + 14, y1 - 46, text, size=16, ink=(20, 20, 20), bg=fill)


# --- sites ----------------------------------------------------------------------------------------

def _google(s: _Screen, box: Box, title: str, url: str | None) -> None:
    x0, y0, x1, y1 = box
    query = title.removesuffix(" - Google Search")
    if url:
        query = parse_qs(urlsplit(url).query).get("q", [query])[0]
    x = x0 + 24
    for letter, colour in zip("Google", ((66, 133, 244), (234, 67, 53), (251, 188, 5), (66, 133, 244),
                                         (52, 168, 83), (234, 67, 53)), strict=True):
        x = s.text(x, y0 + 18, letter, size=26, ink=colour) + 1
    s.rect((x0 + 150, y0 + 14, x0 + 700, y0 + 54), WHITE, outline=LINE, radius=20)
    s.text(x0 + 172, y0 + 26, query, size=15, ink=INK, max_w=470)
    s.text(x0 + 660, y0 + 24, "x", size=16, ink=GREY_TEXT)
    x = x0 + 150
    for i, tab in enumerate(("All", "Images", "News", "Videos", "Maps", "Shopping", "More")):
        end = s.text(x, y0 + 66, tab, size=13, ink=(26, 115, 232) if i == 0 else GREY_TEXT)
        if i == 0:
            s.line([(x, y0 + 86), (end, y0 + 86)], (26, 115, 232), width=3)
        x = end + 24
    s.line([(x0, y0 + 88), (x1, y0 + 88)], (235, 235, 235))
    seconds = s.rng.randint(21, 68) / 100
    count = f"About {s.rng.randint(12, 980)},{s.rng.randint(100, 999)},000 results ({seconds:.2f} seconds)"
    s.text(x0 + 150, y0 + 98, count, size=12, ink=(112, 117, 122))
    sources = (("Wikipedia", "en.wikipedia.org"), ("Stack Overflow", "stackoverflow.com"), ("GitHub", "github.com"),
               ("Microsoft Learn", "learn.microsoft.com"), ("Reddit", "www.reddit.com"),
               ("MDN Web Docs", "developer.mozilla.org"), ("Python documentation", "docs.python.org"),
               ("ICO", "ico.org.uk"))
    y = y0 + 124
    head = query.split()
    while y + 80 < y1:
        name, host = s.rng.choice(sources)
        s.ellipse((x0 + 150, y, x0 + 176, y + 26), (241, 243, 244))
        s.text(x0 + 184, y, name, size=13, ink=INK)
        s.text(x0 + 184, y + 15, f"https://{host} › {s.rng.choice(WORDS)} › {s.rng.choice(WORDS)}", size=11,
               ink=(77, 81, 86))
        heading = " ".join(head[: s.rng.randint(1, max(1, len(head)))]).capitalize() + " - " + s.sentence(3)
        s.text(x0 + 150, y + 32, heading, size=17, ink=(26, 13, 171), max_w=560)
        s.paragraph(x0 + 150, y + 55, 560, 2, size=13, ink=(77, 81, 86), leading=18)
        y += 100
    if s.rng.random() < 0.6:
        px = x0 + 740
        s.rect((px, y0 + 124, x1 - 20, y0 + 380), WHITE, outline=LINE, radius=8)
        s.rect((px + 12, y0 + 136, x1 - 32, y0 + 220), (232, 234, 237), radius=6)
        s.text(px + 12, y0 + 232, query.title(), size=16, ink=INK, max_w=x1 - px - 44)
        s.paragraph(px + 12, y0 + 258, x1 - px - 44, 5, size=12, ink=(77, 81, 86), leading=18)


def _linkedin(s: _Screen, box: Box, title: str, url: str | None) -> None:
    x0, y0, x1, y1 = box
    page: Color = (243, 242, 239)
    blue: Color = (10, 102, 194)
    s.rect(box, page)
    s.rect((x0, y0, x1, y0 + 48), WHITE)
    s.rect((x0 + 40, y0 + 10, x0 + 68, y0 + 38), blue, radius=4)
    s.text(x0 + 46, y0 + 14, "in", size=16, ink=WHITE, bg=blue, bold=True)
    s.rect((x0 + 76, y0 + 10, x0 + 300, y0 + 38), (237, 243, 248), radius=4)
    s.text(x0 + 100, y0 + 17, "Search", size=13, ink=GREY_TEXT, bg=(237, 243, 248))
    x = x0 + 410
    for item in ("Home", "My Network", "Jobs", "Messaging", "Notifications", "Me"):
        width = _measure(item, 11)
        s.rect((x + width // 2 - 9, y0 + 6, x + width // 2 + 9, y0 + 24), GREY_TEXT, radius=3)
        s.text(x, y0 + 29, item, size=11, ink=GREY_TEXT)
        x += width + 26
    s.line([(x0, y0 + 48), (x1, y0 + 48)], LINE)
    top = y0 + 60
    if url and "/in/" in url:
        _linkedin_profile(s, (x0 + 40, top, x1 - 260, y1), title)
        _linkedin_people(s, (x1 - 245, top, x1 - 40, y1), "People also viewed")
        return
    left = (x0 + 40, top, x0 + 250, top + 250)
    s.rect(left, WHITE, outline=LINE, radius=8)
    s.rect((left[0], top, left[2], top + 54), (160, 180, 205), radius=8)
    me = s.name()
    s.avatar(left[0] + 75, top + 24, 60, me)
    s.centered((left[0], top + 92, left[2], top + 112), me, size=15, bold=True)
    s.centered((left[0], top + 114, left[2], top + 130), s.rng.choice(JOB_TITLES), size=11, ink=GREY_TEXT)
    s.line([(left[0], top + 148), (left[2], top + 148)], LINE)
    for i, (label, value) in enumerate((("Profile viewers", s.rng.randint(5, 90)),
                                        ("Post impressions", s.rng.randint(100, 3000)))):
        s.text(left[0] + 14, top + 160 + i * 22, label, size=12, ink=GREY_TEXT)
        s.text(left[2] - 50, top + 160 + i * 22, f"{value:,}", size=12, ink=blue)
    s.text(left[0] + 14, top + 216, "Saved items", size=12, ink=INK, bold=True)
    centre_x0, centre_x1 = x0 + 265, x1 - 265
    s.rect((centre_x0, top, centre_x1, top + 60), WHITE, outline=LINE, radius=8)
    s.avatar(centre_x0 + 14, top + 10, 40, me)
    s.rect((centre_x0 + 64, top + 12, centre_x1 - 14, top + 48), WHITE, outline=(180, 180, 180), radius=18)
    s.text(centre_x0 + 80, top + 22, "Start a post", size=13, ink=GREY_TEXT)
    y = top + 72
    while y + 120 < y1:
        author = s.name()
        s.rect((centre_x0, y, centre_x1, min(y1, y + 330)), WHITE, outline=LINE, radius=8)
        s.avatar(centre_x0 + 14, y + 12, 44, author)
        s.text(centre_x0 + 68, y + 14, author, size=14, bold=True)
        s.text(centre_x0 + 68, y + 32, s.rng.choice(JOB_TITLES), size=11, ink=GREY_TEXT, max_w=300)
        s.text(centre_x0 + 68, y + 46, f"{s.rng.randint(1, 23)}h · Edited", size=11, ink=GREY_TEXT)
        s.text(centre_x1 - 80, y + 14, "+ Follow", size=13, ink=blue, bold=True)
        ty = s.paragraph(centre_x0 + 14, y + 70, centre_x1 - centre_x0 - 28, s.rng.randint(2, 4), size=13,
                         link=blue, leading=19)
        pastel = (s.rng.randint(170, 230), s.rng.randint(170, 230), s.rng.randint(170, 230))
        s.rect((centre_x0 + 1, ty + 4, centre_x1 - 1, ty + 150), pastel)
        ry = ty + 160
        x = centre_x0 + 30
        for action in ("Like", "Comment", "Repost", "Send"):
            x = s.text(x, ry, action, size=13, ink=GREY_TEXT, bold=True) + 60
        y += 342
    _linkedin_people(s, (x1 - 250, top, x1 - 40, y1), "Add to your feed")


def _linkedin_people(s: _Screen, box: Box, heading: str) -> None:
    x0, y0, x1, _y1 = box
    s.rect((x0, y0, x1, y0 + 300), WHITE, outline=LINE, radius=8)
    s.text(x0 + 14, y0 + 14, heading, size=14, bold=True)
    for i in range(3):
        person, y = s.name(), y0 + 44 + i * 84
        s.avatar(x0 + 14, y, 44, person)
        s.text(x0 + 66, y + 2, person, size=13, bold=True, max_w=x1 - x0 - 80)
        s.text(x0 + 66, y + 20, s.rng.choice(JOB_TITLES), size=11, ink=GREY_TEXT, max_w=x1 - x0 - 80)
        s.rect((x0 + 66, y + 42, x0 + 156, y + 70), WHITE, outline=GREY_TEXT, radius=14)
        s.text(x0 + 84, y + 49, "+ Follow", size=13, ink=GREY_TEXT, bold=True)


def _linkedin_profile(s: _Screen, box: Box, title: str) -> None:
    x0, y0, x1, y1 = box
    person = title.split(" | ")[0].split(") ")[-1] or s.name()
    s.rect((x0, y0, x1, y0 + 300), WHITE, outline=LINE, radius=8)
    s.rect((x0, y0, x1, y0 + 110), (120, 150, 190), radius=8)
    s.avatar(x0 + 24, y0 + 50, 120, person)
    s.text(x0 + 24, y0 + 180, person, size=24, bold=True)
    s.text(x0 + 24, y0 + 212, s.rng.choice(JOB_TITLES), size=14)
    s.text(x0 + 24, y0 + 234, f"Berlin, Germany · {s.rng.randint(120, 500)}+ connections", size=12, ink=GREY_TEXT)
    x = x0 + 24
    for label, filled in (("Message", True), ("Follow", False), ("More", False)):
        width = _measure(label, 14) + 32
        fill: Color = (10, 102, 194) if filled else WHITE
        s.rect((x, y0 + 258, x + width, y0 + 288), fill, outline=(10, 102, 194), radius=15)
        s.text(x + 16, y0 + 265, label, size=14, ink=WHITE if filled else (10, 102, 194), bg=fill, bold=True)
        x += width + 10
    y = y0 + 312
    s.rect((x0, y, x1, y1 - 4), WHITE, outline=LINE, radius=8)
    s.text(x0 + 24, y + 16, "About", size=18, bold=True)
    s.paragraph(x0 + 24, y + 46, x1 - x0 - 48, max(1, (y1 - y - 60) // 20), size=13, leading=20)


def _wikipedia(s: _Screen, box: Box, title: str, url: str | None) -> None:
    x0, y0, x1, y1 = box
    article = title.removesuffix(" - Wikipedia")
    link: Color = (51, 102, 204)
    s.ellipse((x0 + 20, y0 + 10, x0 + 52, y0 + 42), (200, 204, 209))
    s.text(x0 + 60, y0 + 10, "W I K I P E D I A", size=14, ink=INK)
    s.text(x0 + 60, y0 + 28, "The Free Encyclopedia", size=11, ink=GREY_TEXT)
    s.rect((x0 + 230, y0 + 12, x0 + 600, y0 + 42), WHITE, outline=(162, 169, 177), radius=2)
    s.text(x0 + 244, y0 + 20, "Search Wikipedia", size=13, ink=(114, 119, 125))
    s.rect((x0 + 600, y0 + 12, x0 + 660, y0 + 42), (248, 249, 250), outline=(162, 169, 177), radius=2)
    s.text(x0 + 610, y0 + 20, "Search", size=13, ink=INK, bg=(248, 249, 250))
    s.text(x1 - 230, y0 + 20, "Donate   Create account   Log in", size=12, ink=link)
    y = y0 + 66
    for item in ("Main page", "Contents", "Current events", "Random article", "About Wikipedia", "Contact us", "",
                 "Contribute", "Help", "Learn to edit", "Community portal", "Recent changes", "Upload file"):
        if item:
            s.text(x0 + 22, y, item, size=12, ink=GREY_TEXT if item == "Contribute" else link)
        y += 22
    mx = x0 + 190
    s.text(mx, y0 + 62, article, size=26, ink=(32, 33, 34), max_w=x1 - mx - 40)
    s.line([(mx, y0 + 98), (x1 - 20, y0 + 98)], (162, 169, 177))
    s.text(mx, y0 + 104, "Article   Talk", size=12, ink=link)
    s.text(x1 - 260, y0 + 104, "Read   Edit   View history   Tools", size=12, ink=link)
    s.line([(mx, y0 + 122), (x1 - 20, y0 + 122)], (234, 236, 240))
    s.text(mx, y0 + 130, "From Wikipedia, the free encyclopedia", size=12, ink=(84, 89, 93))
    infobox = (x1 - 240, y0 + 154, x1 - 20, min(y1 - 10, y0 + 420))
    s.rect(infobox, (248, 249, 250), outline=(162, 169, 177))
    s.centered((infobox[0], infobox[1] + 6, infobox[2], infobox[1] + 26), article, size=13, bold=True,
               bg=(248, 249, 250))
    s.rect((infobox[0] + 20, infobox[1] + 32, infobox[2] - 20, infobox[1] + 140), (214, 218, 224))
    iy = infobox[1] + 152
    while iy + 16 < infobox[3]:
        s.text(infobox[0] + 8, iy, s.rng.choice(("Type", "Scope", "Status", "Introduced", "Related", "Field")),
               size=12, ink=INK, bg=(248, 249, 250), bold=True)
        s.text(infobox[0] + 90, iy, s.words(2), size=12, ink=link, bg=(248, 249, 250), max_w=120)
        iy += 22
    y = s.paragraph(mx, y0 + 156, infobox[0] - mx - 16, 6, size=13, link=link, leading=20) + 10
    s.text(mx, y, s.rng.choice(("History", "Overview", "Background", "Principles")), size=19, ink=(32, 33, 34))
    s.line([(mx, y + 26), (infobox[0] - 16, y + 26)], (162, 169, 177))
    y += 36
    width = infobox[0] - mx - 16
    while y + 20 < y1:
        if y > infobox[3] + 6:
            width = x1 - 20 - mx
        s.prose(mx, y, width, size=13, link=link)
        y += 20


SLACK_CHANNELS = ("general", "engineering", "payments-team", "random", "incidents", "design-review")


def _slack(s: _Screen, box: Box, title: str, url: str | None) -> None:
    x0, y0, x1, y1 = box
    aubergine: Color = (63, 14, 64)
    side_ink: Color = (207, 195, 207)
    header = title.split(" - ")[0]
    channel = header.removesuffix(" (Channel)").removesuffix(" (DM)")
    is_dm = header.endswith("(DM)")
    s.rect((x0, y0, x0 + 220, y1), aubergine)
    s.text(x0 + 16, y0 + 14, "Acme", size=16, ink=WHITE, bg=aubergine, bold=True)
    s.line([(x0, y0 + 46), (x0 + 220, y0 + 46)], (82, 38, 83))
    y = y0 + 58
    for item in ("Threads", "Mentions & reactions", "Drafts & sent"):
        s.text(x0 + 20, y, item, size=13, ink=side_ink, bg=aubergine)
        y += 24
    y += 8
    s.text(x0 + 16, y, "v  Channels", size=13, ink=side_ink, bg=aubergine)
    y += 26
    for name in SLACK_CHANNELS:
        selected = name == channel
        bg = (18, 100, 163) if selected else aubergine
        if selected:
            s.rect((x0 + 8, y - 4, x0 + 212, y + 18), bg, radius=5)
        s.text(x0 + 20, y, f"# {name}", size=13, ink=WHITE if selected else side_ink, bg=bg)
        y += 24
    y += 8
    s.text(x0 + 16, y, "v  Direct messages", size=13, ink=side_ink, bg=aubergine)
    y += 26
    while y + 24 < y1:
        person = channel if is_dm and y < y0 + 380 and s.rng.random() < 0.2 else s.name()
        s.ellipse((x0 + 20, y + 4, x0 + 28, y + 12), (44, 183, 125) if s.rng.random() < 0.6 else side_ink)
        s.text(x0 + 36, y, person, size=13, ink=side_ink, bg=aubergine)
        y += 24
    mx = x0 + 220
    s.text(mx + 20, y0 + 14, channel if is_dm else f"# {channel}", size=16, bold=True)
    s.text(x1 - 110, y0 + 16, f"{s.rng.randint(4, 80)} members", size=12, ink=GREY_TEXT)
    s.line([(mx, y0 + 46), (x1, y0 + 46)], LINE)
    composer_top = y1 - 70
    y = y0 + 60
    s.line([(mx + 20, y + 8), (x1 - 20, y + 8)], LINE)
    s.rect(((mx + x1) // 2 - 34, y, (mx + x1) // 2 + 34, y + 18), WHITE, outline=LINE, radius=9)
    s.centered(((mx + x1) // 2 - 34, y, (mx + x1) // 2 + 34, y + 18), "Today", size=11, bold=True)
    y += 30
    minutes = s.rng.randint(40, 180)
    while True:
        lines = s.rng.randint(1, 3)
        height = 26 + lines * 19 + (28 if s.rng.random() < 0.25 else 0)
        if y + height > composer_top:
            break
        author = channel if is_dm and s.rng.random() < 0.5 else s.name()
        s.avatar(mx + 20, y + 2, 36, author, square=True)
        end = s.text(mx + 66, y, author, size=14, bold=True)
        s.text(end + 8, y + 2, s.clock(minutes, twelve_hour=True), size=11, ink=GREY_TEXT)
        ty = s.paragraph(mx + 66, y + 21, x1 - mx - 110, lines, size=13, ink=(29, 28, 29), link=(18, 100, 163),
                         leading=19)
        if height > 26 + lines * 19:
            s.rect((mx + 66, ty + 2, mx + 116, ty + 22), (239, 245, 251), outline=(29, 155, 209), radius=10)
            s.text(mx + 74, ty + 5, f"+1  {s.rng.randint(1, 9)}", size=11, ink=(18, 100, 163), bg=(239, 245, 251))
        minutes = max(0, minutes - s.rng.randint(1, 25))
        y += height + 8
    s.rect((mx + 20, composer_top + 6, x1 - 20, y1 - 12), WHITE, outline=(180, 180, 180), radius=8)
    s.text(mx + 34, composer_top + 14, "B   I   S   </>   @", size=12, ink=GREY_TEXT)
    s.text(mx + 34, composer_top + 34, f"Message {channel if is_dm else '#' + channel}", size=13, ink=GREY_TEXT)


PY_CODE = (
    "from __future__ import annotations", "", "from dataclasses import dataclass",
    "from decimal import ROUND_HALF_EVEN, Decimal", "", "from payments.ledger import Ledger, Posting",
    "from payments.models import Payment, Receipt, Refund", "", "FEE_RATE = Decimal(\"0.0125\")", "", "",
    "@dataclass(frozen=True)", "class Settlement:", "    payment: Payment", "    fee: Decimal", "    net: Decimal",
    "", "", "def settle(payment: Payment, ledger: Ledger) -> Receipt:",
    "    \"\"\"Post a captured payment to the ledger and return its receipt.\"\"\"",
    "    if payment.amount <= 0:", "        raise ValueError(\"nothing to settle\")",
    "    fee = (payment.amount * FEE_RATE).quantize(Decimal(\"0.01\"), ROUND_HALF_EVEN)",
    "    settlement = Settlement(payment, fee, payment.amount - fee)",
    "    ledger.post(Posting(payment.account, -settlement.net))", "    ledger.post(Posting(\"fees\", fee))",
    "    return Receipt(payment.id, settlement.net, fee)", "", "",
    "def refund(payment: Payment, amount: Decimal, *, key: str) -> Refund:",
    "    # the idempotency key makes a retried request a no-op", "    existing = Refund.find(key)",
    "    if existing is not None:", "        return existing", "    if amount > payment.amount:",
    "        raise ValueError(\"refund exceeds the payment\")", "    return Refund.create(payment, amount, key=key)",
    "", "", "def batch_total(payments: list[Payment]) -> Decimal:",
    "    return sum((p.amount for p in payments), Decimal(0))",
)
KEYWORDS = frozenset({"from", "import", "def", "class", "return", "if", "raise", "for", "in", "is", "not", "None",
                      "else", "with", "as", "and", "or", "lambda", "True", "False"})


def _code_line(s: _Screen, x: int, y: int, line: str, bg: Color, *, dark: bool = True, size: int = 13) -> None:
    indent = len(line) - len(line.lstrip(" "))
    x += indent * _space(size) * 3 // 2
    plain: Color = (212, 212, 212) if dark else INK
    for token in line.strip().split(" "):
        if not token:
            continue
        core = token.strip("():,[]*")
        if token.startswith("#") or line.strip().startswith("#"):
            ink: Color = (106, 153, 85) if dark else (106, 115, 125)
        elif token.startswith(("\"", "'")) or "\"" in token:
            ink = (206, 145, 120) if dark else (10, 48, 105)
        elif core in KEYWORDS:
            ink = (197, 134, 192) if dark else (207, 34, 46)
        elif token.startswith("@") or (core[:1].isupper() and core.isidentifier()):
            ink = (78, 201, 176) if dark else (149, 56, 0)
        elif "(" in token:
            ink = (220, 220, 170) if dark else (130, 80, 223)
        else:
            ink = plain
        x = s.text(x, y, token, size=size, ink=ink, bg=bg) + _space(size)


def _github(s: _Screen, box: Box, title: str, url: str | None) -> None:
    x0, y0, x1, y1 = box
    header: Color = (36, 41, 47)
    path = urlsplit(url).path.strip("/").split("/") if url else ["acme", "payments"]
    owner, repo = (path + ["acme", "payments"])[:2]
    s.rect((x0, y0, x1, y0 + 48), header)
    s.ellipse((x0 + 16, y0 + 9, x0 + 46, y0 + 39), WHITE)
    s.text(x0 + 60, y0 + 15, f"{owner} / {repo}", size=14, ink=WHITE, bg=header, bold=True)
    s.rect((x1 - 380, y0 + 10, x1 - 130, y0 + 38), header, outline=(87, 96, 106), radius=6)
    s.text(x1 - 366, y0 + 17, "Type / to search", size=12, ink=(160, 170, 180), bg=header)
    for i in range(3):
        s.ellipse((x1 - 110 + i * 34, y0 + 12, x1 - 86 + i * 34, y0 + 36), (87, 96, 106))
    y = y0 + 48
    s.rect((x0, y, x1, y + 44), (246, 248, 250))
    x = x0 + 20
    section = path[2] if len(path) > 2 else ""
    for label in ("<> Code", "Issues 23", "Pull requests 7", "Actions", "Projects", "Wiki", "Security", "Insights"):
        end = s.text(x, y + 14, label, size=13, ink=INK, bg=(246, 248, 250))
        chosen = ((label.startswith("Pull") and section == "pull")
                  or (label.startswith("Issues") and section == "issues")
                  or (label == "<> Code" and section in ("", "blob", "tree")))
        if chosen:
            s.line([(x - 4, y + 42), (end + 4, y + 42)], (253, 140, 115), width=2)
        x = end + 26
    s.line([(x0, y + 44), (x1, y + 44)], LINE)
    y += 60
    if section in ("pull", "issues"):
        number = path[3] if len(path) > 3 else str(s.rng.randint(100, 500))
        heading = title.split(" · ")[0]
        end = s.text(x0 + 24, y, heading, size=22, max_w=x1 - x0 - 140)
        s.text(end + 8, y, f"#{number}", size=22, ink=GREY_TEXT)
        y += 38
        green: Color = (31, 136, 61)
        s.rect((x0 + 24, y, x0 + 92, y + 26), green, radius=13)
        s.text(x0 + 40, y + 6, "Open", size=13, ink=WHITE, bg=green, bold=True)
        who = s.rng.choice(("jdoe", "pshah", "lbecker", "mlin", "dromero"))
        what = f"{who} wants to merge 3 commits into main from fix-{s.rng.choice(WORDS)}" if section == "pull" \
            else f"{who} opened this issue {s.rng.randint(2, 20)} days ago · {s.rng.randint(1, 9)} comments"
        s.text(x0 + 104, y + 6, what, size=13, ink=GREY_TEXT)
        y += 44
        if section == "pull":
            x = x0 + 24
            for label in ("Conversation 4", "Commits 3", "Checks 5", "Files changed 6"):
                x = s.text(x, y, label, size=13, ink=INK) + 30
            s.line([(x0 + 24, y + 24), (x1 - 24, y + 24)], LINE)
            y += 36
            s.rect((x0 + 24, y, x1 - 24, y + 30), (246, 248, 250), outline=LINE)
            s.text(x0 + 36, y + 8, "src/payments/settle.py", size=12, ink=INK, bg=(246, 248, 250), bold=True)
            y += 30
            start = s.rng.randrange(0, len(PY_CODE) - 10)
            number_line = start + 1
            while y + 20 < y1 and start < len(PY_CODE):
                code = PY_CODE[start]
                roll = s.rng.random()
                bg: Color = (230, 255, 236) if roll < 0.25 else (255, 235, 233) if roll < 0.35 else WHITE
                s.rect((x0 + 24, y, x1 - 24, y + 20), bg)
                s.text(x0 + 32, y + 3, str(number_line), size=12, ink=GREY_TEXT, bg=bg)
                s.text(x0 + 74, y + 3, "+" if roll < 0.25 else "-" if roll < 0.35 else " ", size=12, bg=bg)
                _code_line(s, x0 + 90, y + 3, code, bg, dark=False, size=12)
                y += 20
                start += 1
                number_line += 1
        else:
            while y + 90 < y1:
                person = s.rng.choice(("jdoe", "pshah", "lbecker", "mlin", "dromero"))
                s.avatar(x0 + 24, y, 40, person.upper())
                s.rect((x0 + 76, y, x1 - 24, y + 30), (246, 248, 250), outline=LINE, radius=6)
                s.text(x0 + 88, y + 8, f"{person} commented {s.rng.randint(1, 12)} days ago", size=13,
                       bg=(246, 248, 250))
                s.rect((x0 + 76, y + 30, x1 - 24, y + 110), WHITE, outline=LINE)
                s.paragraph(x0 + 90, y + 40, x1 - x0 - 140, 3, size=13, leading=20)
                y += 126
        return
    if section == "blob":
        crumbs = " / ".join(path[4:]) or "README.md"
        s.text(x0 + 24, y, f"{repo} / {crumbs}", size=14, bold=True)
        y += 30
        s.rect((x0 + 24, y, x1 - 24, y1 - 8), WHITE, outline=LINE, radius=6)
        s.rect((x0 + 24, y, x1 - 24, y + 36), (246, 248, 250), outline=LINE, radius=6)
        s.text(x0 + 36, y + 11, f"Code    Blame    {len(PY_CODE)} lines · 1.4 KB", size=12, bg=(246, 248, 250))
        y += 44
        for i, code in enumerate(PY_CODE):
            if y + 18 > y1 - 10:
                break
            s.text(x0 + 34, y, f"{i + 1:>3}", size=12, ink=GREY_TEXT)
            _code_line(s, x0 + 76, y, code, WHITE, dark=False, size=12)
            y += 18
        return
    green = (31, 136, 61)
    s.rect((x0 + 24, y, x0 + 104, y + 30), (246, 248, 250), outline=LINE, radius=6)
    s.text(x0 + 36, y + 8, "main  v", size=13, bg=(246, 248, 250), bold=True)
    s.text(x0 + 118, y + 8, f"{s.rng.randint(3, 40)} branches   {s.rng.randint(1, 30)} tags", size=13,
           ink=GREY_TEXT)
    s.rect((x1 - 350, y, x1 - 244, y + 30), WHITE, outline=LINE, radius=6)
    s.text(x1 - 340, y + 8, "Go to file", size=13)
    s.rect((x1 - 350 + 112, y, x1 - 250 + 90, y + 30), green, radius=6)
    s.text(x1 - 228, y + 8, "<> Code", size=13, ink=WHITE, bg=green, bold=True)
    y += 42
    table_x1 = x1 - 250 + 90
    s.rect((x0 + 24, y, table_x1, y1 - 6), WHITE, outline=LINE, radius=6)
    s.rect((x0 + 24, y, table_x1, y + 40), (246, 248, 250), outline=LINE, radius=6)
    s.avatar(x0 + 36, y + 10, 20, "J D")
    s.text(x0 + 64, y + 13, f"jdoe  {s.sentence(4)}", size=13, bg=(246, 248, 250), max_w=360)
    s.text(table_x1 - 200, y + 13, f"{s.rng.getrandbits(28):07x} · {s.rng.randint(2, 9)} hours ago", size=12,
           ink=GREY_TEXT, bg=(246, 248, 250))
    y += 40
    entries = (".github", "docs", "migrations", "src/payments", "tests", ".gitignore", "Dockerfile", "LICENSE",
               "README.md", "pyproject.toml", "uv.lock")
    for entry in entries:
        if y + 34 > y1 - 6:
            break
        folder = "." not in entry or entry == ".github"
        s.rect((x0 + 40, y + 11, x0 + 54, y + 23), (84, 174, 255) if folder else (140, 149, 159), radius=2)
        s.text(x0 + 66, y + 10, entry, size=13, ink=INK)
        s.text(x0 + 250, y + 10, s.sentence(s.rng.randint(3, 6)), size=13, ink=GREY_TEXT, max_w=300)
        s.text(table_x1 - 110, y + 10, f"{s.rng.randint(2, 11)} months ago", size=12, ink=GREY_TEXT)
        s.line([(x0 + 24, y + 34), (table_x1, y + 34)], LINE)
        y += 34
    ax = table_x1 + 24
    s.text(ax, y0 + 108, "About", size=15, bold=True)
    s.paragraph(ax, y0 + 136, x1 - ax - 20, 3, size=13, leading=20)
    for i, label in enumerate(("Readme", "MIT license", "Activity", f"{s.rng.randint(3, 90)} stars",
                               f"{s.rng.randint(2, 20)} watching", f"{s.rng.randint(0, 30)} forks")):
        s.text(ax, y0 + 212 + i * 24, label, size=12, ink=GREY_TEXT)


# --- desktop applications -------------------------------------------------------------------------

def _vscode(s: _Screen, box: Box, title: str, url: str | None) -> None:
    x0, y0, x1, y1 = box
    editor: Color = (30, 30, 30)
    side: Color = (37, 37, 38)
    status: Color = (0, 122, 204)
    filename = title.split(" - ")[0].lstrip("● ")
    s.rect(box, editor)
    s.rect((x0, y0, x0 + 48, y1), (51, 51, 51))
    for i in range(5):
        s.rect((x0 + 14, y0 + 14 + i * 48, x0 + 34, y0 + 34 + i * 48), None, outline=(133, 133, 133), radius=3)
    s.rect((x0 + 48, y0, x0 + 250, y1), side)
    s.text(x0 + 64, y0 + 10, "EXPLORER", size=11, ink=(187, 187, 187), bg=side)
    tree = ("v PAYMENTS", "  > .github", "  > docs", "  v src", "    v payments", "      __init__.py",
            "      ledger.py", "      models.py", "      refunds.py", "      settle.py", "  v tests",
            "      conftest.py", "      test_refunds.py", "      test_settle.py", "    .gitignore",
            "    docker-compose.yml", "    pyproject.toml", "    README.md")
    y = y0 + 34
    for item in tree:
        if y + 20 > y1 - 22:
            break
        selected = item.strip() == filename
        bg = (55, 55, 61) if selected else side
        if selected:
            s.rect((x0 + 48, y - 2, x0 + 250, y + 18), bg)
        s.text(x0 + 58 + (len(item) - len(item.lstrip())) * 5, y, item.strip(), size=13,
               ink=WHITE if selected else (204, 204, 204), bg=bg)
        y += 22
    ex = x0 + 250
    s.rect((ex, y0, x1, y0 + 35), side)
    s.rect((ex, y0, ex + 150, y0 + 35), editor)
    s.text(ex + 14, y0 + 10, filename, size=13, ink=WHITE, bg=editor, max_w=120)
    s.text(ex + 166, y0 + 10, s.rng.choice(("models.py", "ledger.py", "README.md")), size=13,
           ink=(150, 150, 150), bg=side)
    s.text(ex + 14, y0 + 42, f"src › payments › {filename}", size=12, ink=(160, 160, 160), bg=editor)
    visible = (y1 - 24 - (y0 + 64)) // 19
    start = s.rng.randrange(max(1, len(PY_CODE) - visible + 4))
    cursor = s.rng.randint(2, min(14, len(PY_CODE) - start - 1))
    y = y0 + 64
    for i, code in enumerate(PY_CODE[start : start + visible]):
        bg = editor
        if i == cursor:
            bg = (40, 40, 40)
            s.rect((ex, y - 2, x1 - 70, y + 16), bg)
        s.text(ex + 10, y, f"{start + i + 1:>3}", size=13, ink=(198, 198, 198) if i == cursor else (133, 133, 133),
               bg=bg)
        _code_line(s, ex + 54, y, code, bg)
        y += 19
    mini_bg: Color = (35, 35, 35)
    s.rect((x1 - 64, y0 + 35, x1 - 10, y1 - 22), mini_bg)
    for j in range(0, y1 - y0 - 70, 4):
        w = s.rng.randint(5, 40)
        s.rect((x1 - 60, y0 + 40 + j, x1 - 60 + w, y0 + 41 + j), (90, 110, 130))
    s.rect((x0, y1 - 22, x1, y1), status)
    s.text(x0 + 10, y1 - 18, f"main*   0 errors   {s.rng.randint(0, 4)} warnings", size=11, ink=WHITE, bg=status)
    s.text(x1 - 330, y1 - 18, f"Ln {start + cursor + 1}, Col {s.rng.randint(1, 60)}   Spaces: 4   UTF-8   LF   Python",
           size=11, ink=WHITE, bg=status)


AMOUNTS = tuple(f"{(i * 7919) % 97 + 1},{(i * 104729) % 1000:03d}.00" for i in range(240))


def _excel(s: _Screen, box: Box, title: str, url: str | None) -> None:
    x0, y0, x1, y1 = box
    green: Color = (33, 115, 70)
    ribbon: Color = (243, 242, 241)
    s.rect((x0, y0, x1, y0 + 28), green)
    x = x0 + 12
    for i, tab in enumerate(("File", "Home", "Insert", "Draw", "Page Layout", "Formulas", "Data", "Review", "View",
                             "Help")):
        bg = ribbon if i == 1 else green
        if i == 1:
            s.rect((x - 6, y0 + 4, x + _measure(tab, 12) + 6, y0 + 28), ribbon)
        x = s.text(x, y0 + 8, tab, size=12, ink=INK if i == 1 else WHITE, bg=bg) + 18
    s.rect((x0, y0 + 28, x1, y0 + 92), ribbon)
    x = x0 + 12
    for group in ("Paste", "Calibri  11", "Wrap Text", "Merge & Center", "General", "Conditional Formatting",
                  "Format as Table", "Sort & Filter"):
        width = max(60, _measure(group, 11) + 12)
        s.rect((x + width // 2 - 12, y0 + 36, x + width // 2 + 12, y0 + 60), (200, 205, 200), radius=3)
        s.text(x + 6, y0 + 66, group, size=11, ink=INK, bg=ribbon)
        x += width + 10
        s.line([(x - 5, y0 + 36), (x - 5, y0 + 84)], (214, 214, 214))
    s.line([(x0, y0 + 92), (x1, y0 + 92)], (214, 214, 214))
    fy = y0 + 98
    row_sel, col_sel = s.rng.randint(2, 12), s.rng.randint(1, 6)
    s.rect((x0 + 6, fy, x0 + 86, fy + 22), WHITE, outline=(200, 200, 200))
    s.text(x0 + 12, fy + 4, f"{'ABCDEFGHIJ'[col_sel]}{row_sel + 1}", size=12)
    s.text(x0 + 100, fy + 4, "fx", size=12, ink=GREY_TEXT)
    s.rect((x0 + 124, fy, x1 - 6, fy + 22), WHITE, outline=(200, 200, 200))
    s.text(x0 + 132, fy + 4, f"=SUM(B{row_sel - 1}:F{row_sel - 1})", size=12)
    gy, header_bg = fy + 30, (230, 230, 230)
    col_w, row_h, rh_w = 100, 21, 40
    cols = (x1 - x0 - rh_w) // col_w + 1
    s.rect((x0, gy, x1, gy + row_h), header_bg)
    for c in range(cols):
        cx = x0 + rh_w + c * col_w
        s.centered((cx, gy, cx + col_w, gy + row_h), "ABCDEFGHIJKL"[c], size=12, bg=header_bg)
        s.line([(cx, gy), (cx, y1 - 48)], (218, 220, 224))
    headers = ("Cost centre", "Q1", "Q2", "Q3", "Q4", "Total", "Owner", "Notes", "", "")
    rows = (y1 - 48 - gy) // row_h - 1
    for r in range(rows):
        ry = gy + row_h * (r + 1)
        s.rect((x0, ry, x0 + rh_w, ry + row_h), header_bg)
        s.centered((x0, ry, x0 + rh_w, ry + row_h), str(r + 1), size=11, bg=header_bg)
        s.line([(x0 + rh_w, ry + row_h), (x1, ry + row_h)], (218, 220, 224))
        if r >= 16:
            continue
        for c in range(min(cols, 8)):
            cx = x0 + rh_w + c * col_w + 4
            if r == 0:
                s.text(cx, ry + 4, headers[c], size=12, bold=True)
            elif c == 0:
                s.text(cx, ry + 4, s.rng.choice(("Engineering", "Marketing", "Sales", "Finance", "People",
                                                 "Facilities", "Legal", "Support", "Security", "Data")), size=12)
            elif 1 <= c <= 5:
                value = s.rng.choice(AMOUNTS)
                s.text(cx + col_w - 12 - _measure(value, 12), ry + 4, value, size=12)
            elif c == 6:
                s.text(cx, ry + 4, s.rng.choice(FIRST_NAMES), size=12)
            elif s.rng.random() < 0.3:
                s.text(cx, ry + 4, s.words(2), size=12, max_w=col_w - 8)
    sx, sy = x0 + rh_w + col_sel * col_w, gy + row_h * row_sel
    s.rect((sx, sy, sx + col_w, sy + row_h), None, outline=green, width=2)
    s.rect((x0, y1 - 48, x1, y1 - 22), ribbon)
    x = x0 + 50
    for i, sheet in enumerate(("Summary", _fit(title.split(".xlsx")[0], 12, 150) or "Budget", "Data", "+")):
        if i == 1:
            s.rect((x - 8, y1 - 48, x + _measure(sheet, 12) + 8, y1 - 24), WHITE)
            s.line([(x - 8, y1 - 25), (x + _measure(sheet, 12) + 8, y1 - 25)], green, width=2)
        x = s.text(x, y1 - 42, sheet, size=12, ink=green if i == 1 else INK, bg=WHITE if i == 1 else ribbon) + 24
    s.rect((x0, y1 - 22, x1, y1), green)
    s.text(x0 + 10, y1 - 18, "Ready", size=11, ink=WHITE, bg=green)
    summary = f"Average: {s.rng.randint(1000, 90000):,}   Count: 6   Sum: {s.rng.randint(10000, 900000):,}"
    s.text(x1 - 330, y1 - 18, summary, size=11, ink=WHITE, bg=green)


def _outlook(s: _Screen, box: Box, title: str, url: str | None) -> None:
    x0, y0, x1, y1 = box
    blue: Color = (15, 108, 189)
    pane: Color = (243, 242, 241)
    s.rect((x0, y0, x1, y0 + 44), blue)
    s.text(x0 + 18, y0 + 12, "Outlook", size=16, ink=WHITE, bg=blue, bold=True)
    s.rect((x0 + 260, y0 + 8, x0 + 700, y0 + 36), (234, 242, 250), radius=4)
    s.text(x0 + 280, y0 + 15, "Search", size=13, ink=GREY_TEXT, bg=(234, 242, 250))
    s.rect((x0, y0 + 44, x1, y0 + 84), (250, 250, 250))
    s.rect((x0 + 12, y0 + 52, x0 + 106, y0 + 78), blue, radius=4)
    s.text(x0 + 24, y0 + 58, "New mail", size=13, ink=WHITE, bg=blue)
    x = x0 + 126
    for action in ("Delete", "Archive", "Report", "Sweep", "Move to", "Reply", "Reply all", "Forward", "Read"):
        x = s.text(x, y0 + 58, action, size=13, ink=INK, bg=(250, 250, 250)) + 20
    s.line([(x0, y0 + 84), (x1, y0 + 84)], LINE)
    top = y0 + 84
    s.rect((x0, top, x0 + 190, y1), pane)
    y = top + 14
    for folder in ("Favorites", "Inbox", "Sent Items", "Drafts", "Archive", "Deleted Items", "Junk Email",
                   "Conversation History", "Notes", "RSS Feeds"):
        selected = folder == "Inbox"
        bg = (207, 228, 250) if selected else pane
        if selected:
            s.rect((x0 + 6, y - 4, x0 + 184, y + 18), bg, radius=4)
        s.text(x0 + (14 if folder == "Favorites" else 24), y, folder, size=13, ink=INK, bg=bg, bold=selected)
        if folder in ("Inbox", "Drafts"):
            s.text(x0 + 160, y, str(s.rng.randint(1, 30)), size=12, ink=blue, bg=bg)
        y += 28
    lx0, lx1 = x0 + 190, x0 + 520
    s.text(lx0 + 14, top + 12, "Focused", size=14, ink=blue, bold=True)
    s.text(lx0 + 90, top + 12, "Other", size=14, ink=GREY_TEXT)
    s.line([(lx0 + 14, top + 34), (lx0 + 76, top + 34)], blue, width=2)
    y = top + 44
    minutes = s.rng.randint(0, 20)
    selected_index = s.rng.randint(0, 3)
    subject = title.split(" - ")[0] if title.startswith(("Re:", "Fw:", "RE:")) else s.sentence(4)
    i = 0
    chosen = s.name()
    while y + 64 < y1:
        bg = (207, 228, 250) if i == selected_index else WHITE
        s.rect((lx0, y, lx1, y + 64), bg)
        sender = chosen if i == selected_index else s.name()
        unread = s.rng.random() < 0.3
        if unread:
            s.rect((lx0, y, lx0 + 3, y + 64), blue)
        s.avatar(lx0 + 12, y + 10, 32, sender, bg=bg)
        s.text(lx0 + 54, y + 8, sender, size=13, bold=unread, bg=bg)
        s.text(lx1 - 50, y + 8, s.clock(minutes), size=11, ink=GREY_TEXT, bg=bg)
        s.text(lx0 + 54, y + 26, subject if i == selected_index else s.sentence(4), size=13,
               ink=blue if unread else INK, bg=bg, max_w=lx1 - lx0 - 70)
        s.text(lx0 + 54, y + 44, s.words(8), size=12, ink=GREY_TEXT, bg=bg, max_w=lx1 - lx0 - 70)
        s.line([(lx0, y + 64), (lx1, y + 64)], LINE)
        minutes += s.rng.randint(2, 35)
        y += 65
        i += 1
    s.line([(lx1, top), (lx1, y1)], LINE)
    rx = lx1 + 24
    s.text(rx, top + 16, subject, size=18, max_w=x1 - rx - 20)
    s.avatar(rx, top + 52, 40, chosen)
    s.text(rx + 52, top + 54, chosen, size=14, bold=True)
    s.text(rx + 52, top + 74, f"To: Payments team   {s.when:%a %d/%m/%Y} {s.clock(5)}", size=12, ink=GREY_TEXT)
    y = top + 116
    s.text(rx, y, "Hi all,", size=13)
    y += 28
    while y + 60 < y1:
        y = s.paragraph(rx, y, x1 - rx - 30, s.rng.randint(2, 4), size=13, leading=20) + 12
    s.text(rx, y, "Thanks,", size=13)


TERMINAL_SESSIONS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("git status", ("On branch main", "Your branch is up to date with 'origin/main'.", "",
                    "Changes not staged for commit:", "  (use \"git add <file>...\" to update what will be committed)",
                    "\tmodified:   src/payments/settle.py", "\tmodified:   tests/test_settle.py", "")),
    ("pytest -q", ("........................................................ [ 58%]",
                   "........................................                 [100%]", "96 passed in 4.21s")),
    ("ls -la", ("total 48", "drwxr-xr-x  9 dev staff   288 .", "drwxr-xr-x 14 dev staff   448 ..",
                "-rw-r--r--  1 dev staff  1123 README.md", "-rw-r--r--  1 dev staff   684 pyproject.toml",
                "drwxr-xr-x  5 dev staff   160 src", "drwxr-xr-x  7 dev staff   224 tests")),
    ("docker compose ps", ("NAME            IMAGE          STATUS         PORTS",
                           "payments-api    payments:dev   Up 2 hours     0.0.0.0:8000->8000/tcp",
                           "payments-db     postgres:16    Up 2 hours     5432/tcp",
                           "payments-redis  redis:7        Up 2 hours     6379/tcp")),
    ("git log --oneline -5", ("a41c2e9 Add idempotency keys to refunds", "9be013f Round fees half-even",
                              "77d2a10 Retry webhook delivery with backoff", "c03f5b2 Bump pydantic to 2.9",
                              "5e8a0d4 Split ledger postings per account")),
    ("make lint", ("ruff check src tests", "All checks passed!", "mypy src", "Success: no issues found in 14 files")),
)


def _terminal(s: _Screen, box: Box, title: str, url: str | None) -> None:
    x0, y0, x1, y1 = box
    bg: Color = (24, 24, 27)
    s.rect(box, bg)
    s.rect((x0, y0, x1, y0 + 30), (40, 40, 44))
    s.rect((x0 + 8, y0 + 4, x0 + 260, y0 + 30), bg, radius=6)
    s.text(x0 + 20, y0 + 10, title, size=12, ink=(200, 200, 200), bg=bg, max_w=230)
    user: Color = (106, 215, 105)
    cwd: Color = (97, 175, 239)
    plain: Color = (220, 220, 220)
    y = y0 + 40
    sessions = list(TERMINAL_SESSIONS)
    s.rng.shuffle(sessions)
    for command, output in sessions:
        if y + 18 > y1 - 10:
            break
        x = s.text(x0 + 10, y, "dev@laptop", size=13, ink=user, bg=bg)
        x = s.text(x, y, ":", size=13, ink=plain, bg=bg)
        x = s.text(x, y, "~/src/payments", size=13, ink=cwd, bg=bg)
        x = s.text(x + 2, y, "$", size=13, ink=plain, bg=bg)
        s.text(x + 6, y, command, size=13, ink=plain, bg=bg)
        y += 18
        for out in output:
            if y + 18 > y1 - 10:
                break
            ink = (240, 110, 110) if "modified" in out else (106, 215, 105) if "passed" in out or "Success" in out \
                else plain
            s.text(x0 + 10 + (28 if out.startswith("\t") else 0), y, out.strip("\t"), size=13, ink=ink, bg=bg)
            y += 18
    if y + 18 <= y1 - 10:
        x = s.text(x0 + 10, y, "dev@laptop", size=13, ink=user, bg=bg)
        x = s.text(x, y, ":", size=13, ink=plain, bg=bg)
        x = s.text(x, y, "~/src/payments", size=13, ink=cwd, bg=bg)
        x = s.text(x + 2, y, "$", size=13, ink=plain, bg=bg)
        s.rect((x + 6, y, x + 14, y + 15), plain)


def _zoom(s: _Screen, box: Box, title: str, url: str | None) -> None:
    x0, y0, x1, y1 = box
    bg: Color = (26, 26, 26)
    s.rect(box, bg)
    s.centered((x0, y0 + 4, x1, y0 + 26), title if title != "Zoom" else "Zoom Meeting", size=12,
               ink=(200, 200, 200), bg=bg)
    s.text(x1 - 60, y0 + 8, "View", size=12, ink=(200, 200, 200), bg=bg)
    cols, rows = s.rng.choice(((2, 2), (3, 2), (3, 3)))
    gx0, gy0, gx1, gy1 = x0 + 10, y0 + 32, x1 - 10, y1 - 62
    if s.rng.random() < 0.7:
        panel: Color = (36, 36, 38)
        gx1, cols = x1 - 290, min(cols, 2)
        s.rect((x1 - 280, y0 + 32, x1 - 10, y1 - 62), panel, radius=6)
        s.text(x1 - 266, y0 + 42, "Chat", size=14, ink=WHITE, bg=panel, bold=True)
        s.line([(x1 - 280, y0 + 66), (x1 - 10, y0 + 66)], (60, 60, 64))
        cy = y0 + 76
        while cy + 70 < y1 - 110:
            s.text(x1 - 266, cy, f"From {s.name()} to Everyone:", size=11, ink=(160, 160, 166), bg=panel)
            cy = s.paragraph(x1 - 266, cy + 18, 240, s.rng.randint(1, 3), size=12, ink=(230, 230, 230), bg=panel,
                             leading=17) + 8
        s.rect((x1 - 270, y1 - 104, x1 - 20, y1 - 72), (50, 50, 54), radius=5)
        s.text(x1 - 258, y1 - 96, "Type message here...", size=12, ink=(150, 150, 156), bg=(50, 50, 54))
    tw, th = (gx1 - gx0 - (cols - 1) * 8) // cols, (gy1 - gy0 - (rows - 1) * 8) // rows
    speaker = s.rng.randrange(cols * rows)
    for i in range(cols * rows):
        tx, ty = gx0 + (i % cols) * (tw + 8), gy0 + (i // cols) * (th + 8)
        person = s.name()
        camera = s.rng.random() < 0.65
        if camera:
            wall: Color = (s.rng.randint(60, 140), s.rng.randint(60, 130), s.rng.randint(60, 120))
            s.rect((tx, ty, tx + tw, ty + th), wall)
            head = min(tw, th) // 4
            cx = tx + tw // 2 + s.rng.randint(-20, 20)
            skin = s.rng.choice(((241, 194, 160), (198, 134, 94), (141, 85, 54), (224, 172, 130)))
            shirt = s.rng.choice(((40, 60, 110), (120, 40, 50), (50, 90, 60), (70, 70, 70)))
            s.rect((cx - head * 3 // 2, ty + th - head * 3 // 2, cx + head * 3 // 2, ty + th), shirt, radius=head // 2)
            s.ellipse((cx - head // 2, ty + th - head * 5 // 2, cx + head // 2, ty + th - head * 3 // 2), skin)
            label_bg: Color = (20, 20, 20)
        else:
            s.rect((tx, ty, tx + tw, ty + th), (38, 38, 38))
            s.centered((tx, ty, tx + tw, ty + th), person, size=22, ink=WHITE, bg=(38, 38, 38))
            label_bg = (38, 38, 38)
        width = _measure(person, 12) + 16
        s.rect((tx + 6, ty + th - 26, tx + 6 + width, ty + th - 6), label_bg, radius=3)
        s.text(tx + 14, ty + th - 22, person, size=12, ink=WHITE, bg=label_bg)
        if i == speaker:
            s.rect((tx, ty, tx + tw, ty + th), None, outline=(35, 217, 89), width=3)
    s.rect((x0, y1 - 56, x1, y1), (20, 20, 20))
    x = x0 + 24
    for label in ("Mute", "Stop Video", "Participants", "Chat", "Share Screen", "Record", "Reactions", "Apps"):
        width = max(56, _measure(label, 11) + 8)
        s.rect((x + width // 2 - 10, y1 - 48, x + width // 2 + 10, y1 - 28), (150, 150, 150), radius=4)
        s.text(x + (width - _measure(label, 11)) // 2, y1 - 22, label, size=11, ink=(220, 220, 220), bg=(20, 20, 20))
        x += width + 18
    s.rect((x1 - 84, y1 - 44, x1 - 20, y1 - 16), (224, 36, 52), radius=6)
    s.centered((x1 - 84, y1 - 44, x1 - 20, y1 - 16), "End", size=13, ink=WHITE, bg=(224, 36, 52), bold=True)


def _generic(s: _Screen, box: Box, title: str, url: str | None) -> None:
    x0, y0, x1, y1 = box
    s.rect((x0, y0, x1, y0 + 50), (245, 246, 248))
    s.text(x0 + 30, y0 + 16, title.split(" - ")[0], size=16, bg=(245, 246, 248), bold=True, max_w=x1 - x0 - 60)
    y = y0 + 74
    while y + 60 < y1:
        s.text(x0 + 30, y, s.sentence(3), size=17)
        y = s.paragraph(x0 + 30, y + 30, x1 - x0 - 60, s.rng.randint(2, 4), size=13, leading=20) + 16


Renderer = Callable[[_Screen, Box, str, str | None], None]
SITE_RENDERERS: dict[str, Renderer] = {
    "google.com": _google, "linkedin.com": _linkedin, "en.wikipedia.org": _wikipedia, "wikipedia.org": _wikipedia,
    "slack.com": _slack, "github.com": _github,
}
APP_RENDERERS: dict[str, Renderer] = {
    "Visual Studio Code": _vscode, "Microsoft Excel": _excel, "Excel": _excel, "Outlook": _outlook,
    "Microsoft Outlook": _outlook, "Terminal": _terminal, "Zoom": _zoom, "Zoom Workplace": _zoom, "Slack": _slack,
}


def _strip_browser(title: str) -> str:
    for suffix in BROWSER_SUFFIXES:
        if title.endswith(suffix):
            return title[: -len(suffix)]
    return title


def draw_screenshot(rng: random.Random, *, application: str, site_domain: str | None, title: str, url: str | None,
                    when: datetime, canary: str | None = None) -> bytes:
    """A 960x600 PNG of a plausible screen showing ``application`` (and ``site_domain`` in a browser).

    ``title`` is the window title (for a browser, the page title with or without the browser's
    suffix); ``url`` is shown in the address bar and selects the page layout on github.com and
    linkedin.com; ``when`` is shown as-is on the clock (pass local time for a local clock).
    A ``canary`` string, if given, is drawn in a yellow box in the content area."""
    s = _Screen(rng, when)
    browser = application in BROWSER_NAMES or (url is not None and application not in APP_RENDERERS)
    _title_bar(s, application, title)
    page_title = _strip_browser(title)
    top = _browser_chrome(s, application, url or "", page_title, TITLE_H) if browser else TITLE_H
    box: Box = (0, top, WIDTH, HEIGHT - TASKBAR_H)
    domain = (site_domain or "").lower().removeprefix("www.")
    renderer = SITE_RENDERERS.get(domain) or APP_RENDERERS.get(application) or _generic
    renderer(s, box, page_title, url)
    if canary:
        _canary(s, canary, box)
    _taskbar(s, application)
    return s.png()
