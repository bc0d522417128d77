"""What every test app would otherwise redo: each test builds a portal of its own (isolation), and
the costly part of building one and showing its first pages is the same for all of them. Two
caches, for the test processes only (each xdist worker has its own), that change no behaviour:

- werkzeug compiles, for each URL rule of each new app, a Python function that builds the rule's
  URLs (an AST compiled at ``Map.add``): about 1,300 rules, most of an app's creation. The
  function depends on the rule's text, its parsed parts and its defaults only (the rule itself is
  an argument of each call), so one compiled for an equal rule of an earlier app is reused.
- werkzeug also parses each rule's text anew for each app (``Rule.compile``: its parts, their
  regular expressions and weights, and a converter for each variable). The parse depends on the
  text, the map's options and its converter classes only, so one made for an equal rule of an
  earlier app is reused; each rule still gets converters of its own, made by its own map.
- SQLAlchemy compiles each statement once per engine: its cache of compiled statements is the
  engine's, keyed by the engine's dialect object, and each app has engines of its own, so every
  test compiled every statement it ran again. Here the engines share one cache, and dialects of
  the same class with the same settings (taken once the first connection has set them: server
  version, parameter style, ...) are equal keys: a statement compiled for one SQLite (or
  PostgreSQL) engine is used by the next, as it is within one engine.
- Jinja parses and compiles each template anew in each app's environment. A bytecode cache shared
  by the apps keeps each template's compiled code, keyed (as Jinja keys it) by the template's file
  and checked against a hash of its source, and here also by the environment's compile options.
"""

from __future__ import annotations

import types
from collections.abc import Callable
from typing import Any

import flask
import jinja2
from sqlalchemy import util as sa_util
from sqlalchemy.engine import base as sa_engine
from sqlalchemy.engine import default as sa_default
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


def _rule_parse_cache() -> None:
    original_compile = rules.Rule.compile
    original_get_converter = rules.Rule.get_converter
    parsed: dict[tuple[Any, ...], tuple[list[Any], list[Any], list[tuple[str, str, Any, Any]]]] = {}

    def get_converter(self: rules.Rule, variable_name: str, converter_name: str, args: tuple[Any, ...],
                      kwargs: Any) -> Any:
        made = self.__dict__.get("_made_converters")
        if made is not None:  # a first parse: what each variable's converter was made from
            made.append((variable_name, converter_name, args, kwargs))
        return original_get_converter(self, variable_name, converter_name, args, kwargs)

    def compile(self: rules.Rule) -> None:
        url_map = self.map
        assert url_map is not None
        key = (self.rule, self.merge_slashes, url_map.host_matching, self.host if url_map.host_matching else self.subdomain,
               tuple(sorted((name, cls.__module__, cls.__qualname__) for name, cls in url_map.converters.items())))
        found = parsed.get(key)
        if found is None:
            self.__dict__["_made_converters"] = []
            original_compile(self)
            parsed[key] = (list(self._parts), list(self._trace), self.__dict__.pop("_made_converters"))
            return
        parts, trace, made = found
        self._parts, self._trace, self._converters = list(parts), list(trace), {}
        for variable_name, converter_name, args, kwargs in made:
            self._converters[variable_name] = self.get_converter(variable_name, converter_name, args, kwargs)
            self.arguments.add(variable_name)
        self._build = self._compile_builder(False).__get__(self, None)
        self._build_unknown = self._compile_builder(True).__get__(self, None)

    rules.Rule.get_converter = get_converter  # type: ignore[method-assign]
    rules.Rule.compile = compile  # type: ignore[method-assign]


def _setting(value: Any) -> Any:
    """A dialect's attribute as part of its key: plain values as they are, modules, classes and
    functions by name, any other object by its class."""
    if value is None or isinstance(value, (str, int, float, bool, bytes)):
        return value
    if isinstance(value, tuple):
        return tuple(_setting(v) for v in value)
    if isinstance(value, types.ModuleType):
        return ("module", value.__name__)
    if isinstance(value, (type, types.FunctionType, types.BuiltinFunctionType, types.MethodType)):
        return ("callable", getattr(value, "__module__", None), getattr(value, "__qualname__", None))
    return ("object", type(value).__module__, type(value).__qualname__)


def _statement_cache() -> None:
    shared: sa_util.LRUCache[Any, Any] = sa_util.LRUCache(20_000)
    original_initialize = sa_default.DefaultDialect.initialize

    # Engine.__init__ sets its own cache, or None when the statement cache is off; create_engine
    # reads that method's signature, so the attribute is replaced rather than the method wrapped.
    def cache(self: sa_engine.Engine) -> Any:
        return shared if self.__dict__.get("_caches_statements") else None

    def set_cache(self: sa_engine.Engine, value: Any) -> None:
        self.__dict__["_caches_statements"] = value is not None

    def initialize(self: sa_default.DefaultDialect, connection: Any) -> None:
        original_initialize(self, connection)
        self.__dict__["_test_key"] = (type(self), tuple(sorted(
            (name, _setting(value)) for name, value in vars(self).items() if name != "_test_key")))

    def key(dialect: Any) -> Any:
        return dialect.__dict__.get("_test_key") or id(dialect)

    sa_engine.Engine._compiled_cache = property(cache, set_cache)  # type: ignore[assignment]
    sa_default.DefaultDialect.initialize = initialize  # type: ignore[method-assign]
    sa_default.DefaultDialect.__hash__ = lambda self: hash(key(self))  # type: ignore[method-assign]
    sa_default.DefaultDialect.__eq__ = (  # type: ignore[method-assign]
        lambda self, other: self is other or (isinstance(other, sa_default.DefaultDialect) and key(self) == key(other)))


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


_installed = False


def install() -> None:
    """Once per process (each wrapper wraps what it finds)."""
    global _installed
    if _installed:
        return
    _installed = True
    _rule_parse_cache()
    _rule_builder_cache()
    _statement_cache()
    _template_cache()
