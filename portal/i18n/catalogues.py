"""The translation catalogues, checked and compiled: ``python -m portal.i18n.catalogues CMD``.

* ``check``: every message of ``portal/translations/messages.pot`` is translated in every
  catalogue, none fuzzy, none empty, each with exactly the placeholders of its source
  (``%(name)s``); lists what is not, with a key per message, and exits 1.
* ``todo LANG``: the messages ``LANG`` still lacks, one per line: ``KEY<TAB>source`` (line breaks
  written ``\\n``; a plural's two forms ``singular || plural``).
* ``fill FILE``: apply translations written as ``KEY<TAB>es<TAB>pt_BR`` lines (the same notation;
  ``-`` leaves one language as it is), to the catalogues; placeholders are checked first.
* ``compile``: the ``.mo`` files next to each ``.po`` (what ``make translations`` does).

``make messages`` extracts the sources and updates both catalogues (new messages come in empty,
never fuzzy-guessed); then ``make messages-check`` lists what is left to translate.
"""

from __future__ import annotations

import hashlib
import logging
import re
import sys
from collections.abc import Iterable
from pathlib import Path

from babel.messages.catalog import Catalog, Message
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[1] / "translations"
TEMPLATE = ROOT / "messages.pot"
LANGUAGES = ("es", "pt_BR")
PLACEHOLDER = re.compile(r"%(?:\((\w+)\))?[-#0 +]*\d*(?:\.\d+)?[sdifr%]")
PLURAL_SEP = " || "


def po_path(language: str) -> Path:
    return ROOT / language / "LC_MESSAGES" / "messages.po"


def load(path: Path, language: str | None = None) -> Catalog:
    with path.open("rb") as f:
        return read_po(f, locale=language)


def save(catalog: Catalog, path: Path) -> None:
    with path.open("wb") as f:
        write_po(f, catalog, width=100, sort_output=False)


def key(message: Message) -> str:
    source = message.id if isinstance(message.id, str) else "\x00".join(message.id)
    return hashlib.sha1(source.encode(), usedforsecurity=False).hexdigest()[:8]


def placeholders(text: str) -> list[str]:
    """The named placeholders of ``text`` (and unnamed ones by their conversion), sorted."""
    return sorted(m.group(1) or m.group(0) for m in PLACEHOLDER.finditer(text) if m.group(0) != "%%")


def placeholder_mismatch(sources: list[str], translations: list[str]) -> str | None:
    """Why ``translations`` do not carry the placeholders of ``sources``, or None. Form i of a
    plural goes with source form i (the last for further forms); a singular may leave out the
    count (``un día`` for ``%(num)s day``), nothing else."""
    for index, text in enumerate(translations):
        source = sources[min(index, len(sources) - 1)]
        wanted, have = set(placeholders(source)), set(placeholders(text))
        if len(sources) > 1 and index == 0:
            have |= {"num", "%d"} & (set(placeholders(sources[-1])) - have)
            wanted |= {"num", "%d"} & have
        if have != wanted:
            return f"placeholders {sorted(have)} instead of {sorted(wanted)}"
    return None


def _forms(value: str | tuple[str, ...] | list[str] | None) -> list[str]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)


def problems(catalog: Catalog) -> list[tuple[str, str, str]]:
    """(key, what is wrong, source) for each message that is not properly translated."""
    found: list[tuple[str, str, str]] = []
    for message in catalog:
        if not message.id:
            continue
        sources = _forms(message.id)
        translations = _forms(message.string)
        shown = sources[0]
        if message.fuzzy:
            found.append((key(message), "fuzzy", shown))
        elif not translations or any(not t.strip() for t in translations):
            found.append((key(message), "untranslated", shown))
        else:
            mismatch = placeholder_mismatch(sources, translations)
            if mismatch:
                found.append((key(message), mismatch, shown))
    return found


def check(languages: Iterable[str] = LANGUAGES) -> int:
    template = load(TEMPLATE)
    bad = 0
    for language in languages:
        catalog = load(po_path(language), language)
        missing = [m for m in template if m.id and m.id not in catalog]
        for message in missing:
            log.error("%s\t%s\tnot in the catalogue (run make messages)\t%s", language, key(message), _flat(message.id))
        wrong = problems(catalog)
        for k, what, source in wrong:
            log.error("%s\t%s\t%s\t%s", language, k, what, _flat(source))
        total = sum(1 for m in catalog if m.id)
        bad += len(missing) + len(wrong)
        log.info("%s: %d of %d messages translated%s", language, total - len(wrong), total,
                 f", {len(missing)} missing (run make messages)" if missing else "")
    return 1 if bad else 0


def _flat(source: str | tuple[str, ...] | list[str]) -> str:
    forms = _forms(source)
    return PLURAL_SEP.join(f.replace("\\", "\\\\").replace("\n", "\\n").replace("\t", "\\t") for f in forms)


def _unflat(text: str) -> list[str]:
    out = []
    for form in text.split(PLURAL_SEP):
        out.append(re.sub(r"\\(.)", lambda m: {"n": "\n", "t": "\t", "\\": "\\"}.get(m.group(1), m.group(0)), form))
    return out


def todo(language: str) -> int:
    catalog = load(po_path(language), language)
    todo_keys = {k for k, _what, _source in problems(catalog)}
    for message in catalog:
        if message.id and key(message) in todo_keys:
            sys.stdout.write(f"{key(message)}\t{_flat(message.id)}\n")  # the command's output: a work list
    return 0


def fill(path: Path) -> int:
    rows: dict[str, list[str]] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        parts = line.split("\t")
        if len(parts) != 1 + len(LANGUAGES):
            log.error("%s:%d: want KEY and %d translations separated by tabs", path, number, len(LANGUAGES))
            return 1
        rows[parts[0].strip()] = parts[1:]
    errors = 0
    for index, language in enumerate(LANGUAGES):
        catalog = load(po_path(language), language)
        by_key = {key(m): m for m in catalog if m.id}
        for k, texts in rows.items():
            text = texts[index].strip()
            message = by_key.get(k)
            if message is None:
                log.error("%s: no message %s", language, k)
                errors += 1
                continue
            if text == "-":
                continue
            forms = _unflat(text)
            sources = _forms(message.id)
            if len(sources) > 1:
                if len(forms) == 1:
                    forms = forms * catalog.num_plurals
                message.string = tuple(forms[: catalog.num_plurals])
            else:
                message.string = forms[0]
            if placeholder_mismatch(sources, forms):
                log.error("%s: %s: placeholders differ from %r: %r", language, k, sources[0], text)
                errors += 1
                message.string = "" if len(sources) == 1 else ("",) * catalog.num_plurals
                continue
            message.flags.discard("fuzzy")
        save(catalog, po_path(language))
    return 1 if errors else 0


def compile_all(languages: Iterable[str] = LANGUAGES) -> int:
    """Write each catalogue's ``.mo`` (fuzzy entries left out); 1 if a catalogue has errors."""
    status = 0
    for language in languages:
        source = po_path(language)
        catalog = load(source, language)
        for message, errors in catalog.check():
            for error in errors:
                log.error("%s: %r: %s", source, message.id, error)
                status = 1
        target = source.with_suffix(".mo")
        temporary = target.with_suffix(".mo.tmp")
        with temporary.open("wb") as f:
            write_mo(f, catalog, use_fuzzy=False)
        temporary.replace(target)
    return status


def main(argv: list[str]) -> int:
    if argv[:1] == ["check"]:
        return check(argv[1:] or LANGUAGES)
    if argv[:1] == ["todo"] and len(argv) == 2:
        return todo(argv[1])
    if argv[:1] == ["fill"] and len(argv) == 2:
        return fill(Path(argv[1]))
    if argv[:1] == ["compile"]:
        return compile_all(argv[1:] or LANGUAGES)
    log.error("%s", __doc__)
    return 2


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(message)s")  # the reports go to stderr, as before
    sys.exit(main(sys.argv[1:]))
