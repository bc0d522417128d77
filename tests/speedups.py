"""What every test app would otherwise redo: each test builds a portal of its own (isolation), and
the costly part of building one and showing its first pages is the same for all of them. Two
caches, for the test processes only (each xdist worker has its own), that change no behaviour:

- werkzeug compiles, for each URL rule of each new app, a Python function that builds the rule's
  URLs (an AST compiled at ``Map.add``): about 1,300 rules, most of an app's creation. The
  function depends on the rule's text, its parsed parts and its defaults only (the rule itself is
  an argument of each call), so one compiled for an equal rule of an earlier app is reused.
- Jinja parses and compiles each template anew in each app's environment. A bytecode cache shared
  by the apps keeps each template's compiled code, keyed (as Jinja keys it) by the template's file
  and checked against a hash of its source, and here also by the environment's compile options.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import flask
import jinja2
from werkzeug.routing import rules


def _rule_builder_cache() -> None:
    original = rules.Rule._compile_builder
    compiled: dict[tuple[Any, ...], Callable[..., tuple[str, str]]] = {}

    def cached(self: rules.Rule, append_unknown: bool = True) -> Callable[..., tuple[str, str]]:
        defaults = self.defaults or {}
        # A default for a value in the rule is resolved to a constant when the function is built.
        resolved = tuple((name, self._converters[name].to_url(value) if name in self._converters else None)
                         for name, value in defaults.items())
        # The function calls the rule's converters, whatever they are; their classes are named in the
        # key by name, as each app makes its own class for <int:...> (portal._database_int_converter).
        key = (append_unknown, self.rule, tuple(self._trace), resolved,
               tuple((name, type(converter).__module__, type(converter).__qualname__)
                     for name, converter in self._converters.items()))
        builder = compiled.get(key)
        if builder is None:
            builder = compiled[key] = original(self, append_unknown)
        return builder

    rules.Rule._compile_builder = cached  # type: ignore[method-assign]


def _named(option: Any) -> Any:
    """An option as a key: a function (Flask's autoescape choice, a bound method of each app) by name."""
    return getattr(option, "__qualname__", option) if callable(option) else option


class SharedBytecodeCache(jinja2.BytecodeCache):
    """Compiled templates kept in memory for every app of the process."""

    def __init__(self) -> None:
        self.store: dict[tuple[Any, ...], bytes] = {}

    @staticmethod
    def _key(bucket: jinja2.bccache.Bucket) -> tuple[Any, ...]:
        env = bucket.environment
        return (bucket.key, tuple(sorted(env.extensions)), getattr(env, "newstyle_gettext", None), env.trim_blocks,
                env.lstrip_blocks, env.keep_trailing_newline, env.optimized, _named(env.autoescape), _named(env.finalize),
                env.block_start_string, env.variable_start_string, env.comment_start_string,
                env.line_statement_prefix, env.line_comment_prefix)

    def load_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        code = self.store.get(self._key(bucket))
        if code is not None:
            bucket.bytecode_from_string(code)

    def dump_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        self.store[self._key(bucket)] = bucket.bytecode_to_string()


def _template_cache() -> None:
    shared = SharedBytecodeCache()
    original = flask.Flask.create_jinja_environment

    def create(self: flask.Flask) -> Any:
        env = original(self)
        env.bytecode_cache = shared
        return env

    flask.Flask.create_jinja_environment = create  # type: ignore[method-assign]


def install() -> None:
    _rule_builder_cache()
    _template_cache()
