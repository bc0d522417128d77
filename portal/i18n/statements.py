"""Statements the portal stores and people read later, each in their own language.

An outcome of a request, a message the portal itself writes on a request's timeline, the purpose
of a staff access to someone's data: a person reads them days later, in a page, an e-mail or a
PDF, in their language, which may not be the language of whoever (or whatever job) caused them.
So they are stored as a key and plain parameters (references, counts, register keys, a
jurisdiction; JSON: ``{"key": ..., "params": {...}}``) and worded when read, by the renderer
registered for the key (:func:`renders`), in the current locale. Rows written before keys were
stored keep their English text, shown as it is (``render(None, legacy)``); migration
0026_statement_keys gave keys to the ones whose wording it knew.

Renderers are registered by the domain that writes the statements (``portal.rights.statements``,
``portal.monitoring.access``); both are imported whenever the app is made.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

Renderer = Callable[[Mapping[str, Any]], str]
_RENDERERS: dict[str, Renderer] = {}


def renders(key: str) -> Callable[[Renderer], Renderer]:
    """Register the function that words statement ``key`` from its parameters."""
    def register(function: Renderer) -> Renderer:
        if key in _RENDERERS:
            raise ValueError(f"statement {key!r} registered twice")
        _RENDERERS[key] = function
        return function
    return register


def statement(key: str, **params: Any) -> dict[str, Any]:
    """What is stored: the key (which must have a renderer) and its plain parameters."""
    if key not in _RENDERERS:
        raise KeyError(f"no renderer for statement {key!r}")
    return {"key": key, "params": params}


def render(stored: Mapping[str, Any] | None, legacy: str | None = None) -> str | None:
    """The statement in the current language; a row without a key (or with one no renderer
    knows, after a downgrade and upgrade) shows its legacy text as it was stored."""
    if stored:
        renderer = _RENDERERS.get(str(stored.get("key")))
        if renderer is not None:
            text = renderer(stored.get("params") or {})
            for more in stored.get("also") or ():  # sentences added later (the recipients' tasks)
                worded = render(more)
                if worded:
                    text += " " + worded
            return text
    return legacy


def known() -> frozenset[str]:
    return frozenset(_RENDERERS)
