"""Babel extraction for the jurisdiction registry (babel.cfg): its Python ``gettext`` calls, plus
the sentences a person reads that the registry keeps as plain strings in its regimes: the law's
name, who to complain to when no one authority is named, the sentence about complaining, each
refusal ground's text (``Ground(code, citation, text)``), and the legal basis of each register
category and the law's own name for it (the values of a mapping keyed by category), and the legal
basis for keeping data under a legal hold (``citations["legal_hold_reason"]``). They are translated where they are shown,
through :func:`portal.i18n.wording`."""

from __future__ import annotations

import ast
from collections.abc import Collection, Iterator, Mapping
from typing import IO, Any

from babel.messages.extract import extract_python

WORDING_FIELDS = frozenset({"law", "authority_fallback", "complain_text"})
CATEGORY_KEYS = frozenset({"input_events", "app_activity", "screenshots", "ai_training_use"})


def registry_wording(fileobj: IO[bytes], keywords: Mapping[str, Any], comment_tags: Collection[str],
                     options: Any) -> Iterator[Any]:
    yield from extract_python(fileobj, keywords, comment_tags, options)
    fileobj.seek(0)
    tree = ast.parse(fileobj.read())
    constants = {target.id: node.value.value for node in tree.body if isinstance(node, ast.Assign)
                 for target in node.targets if isinstance(target, ast.Name)
                 and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)}
    law_names: set[int] = set()  # the dicts of category_names=...: the law's names of categories
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            for keyword in node.keywords:
                if keyword.arg == "category_names":
                    law_names.update(id(inner) for inner in ast.walk(keyword.value) if isinstance(inner, ast.Dict))
                text = _text(keyword.value, constants) if keyword.arg in WORDING_FIELDS else None
                if text:
                    yield keyword.value.lineno, None, text, [f"the jurisdiction registry's {keyword.arg}"]
            name = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", "")
            if name == "Ground" and len(node.args) >= 3:
                text = _text(node.args[2], constants)
                if text:
                    yield node.args[2].lineno, None, text, ["a refusal ground"]
            if name == "fromkeys" and len(node.args) == 2:  # dict.fromkeys(categories, basis)
                text = _text(node.args[1], constants)
                if text:
                    yield node.args[1].lineno, None, text, ["a category's legal basis"]
        elif isinstance(node, ast.Dict):
            for key, value in zip(node.keys, node.values, strict=True):
                if isinstance(key, ast.Constant) and key.value == "legal_hold_reason":
                    text = _text(value, constants)
                    if text:
                        yield value.lineno, None, text, ["the legal basis for keeping data under a legal hold"]
                if isinstance(key, ast.Constant) and key.value in CATEGORY_KEYS:
                    text = _text(value, constants)
                    if text:
                        yield value.lineno, None, text, [
                            "the law's name of a register category" if id(node) in law_names
                            else "a category's legal basis"]


def _text(value: ast.expr, constants: Mapping[str, str]) -> str | None:
    """A string literal, or an f-string made of literals and module-level string constants."""
    if isinstance(value, ast.Constant) and isinstance(value.value, str):
        return value.value
    if isinstance(value, ast.JoinedStr):
        parts: list[str] = []
        for part in value.values:
            if isinstance(part, ast.Constant) and isinstance(part.value, str):
                parts.append(part.value)
            elif (isinstance(part, ast.FormattedValue) and isinstance(part.value, ast.Name)
                  and part.value.id in constants and part.format_spec is None and part.conversion == -1):
                parts.append(constants[part.value.id])
            else:
                return None
        return "".join(parts)
    return None
