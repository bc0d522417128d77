"""A sealed column shown as a clear attribute: the one way a model reads and writes a sealed field.

On a model, next to the column that holds the sealed bytes::

    email_sealed: Mapped[bytes] = mapped_column(LargeBinary)
    email = Sealed(email_sealed, "email", TEXT)

``employee.email`` opens ``email_sealed``; ``employee.email = "..."`` seals into it. Each value is
bound to its record (``record``, the row's ``id`` unless said otherwise) and to its label, exactly as
the ciphers' own ``seal_*`` methods bind it, so the stored bytes are the same whichever way they were
written. The key is the directory key unless ``key`` names another: the webhook key, or the
subject's own data key (:func:`subject_key`), which crypto-shredding destroys.

An opened value is kept on the object with the sealed bytes it came from, so reading it twice opens
it once, and a new value (assigned, or reloaded from the database) is opened again. The attribute
is ``None`` when its column is: its type follows the column's (``Mapped[bytes | None]`` gives
``str | None``).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, Generic, Protocol, Self, TypeVar, overload

from sqlalchemy.orm import Mapped

from portal.crypto.keys import directory_cipher, join_names, keystore, split_names, webhook_cipher

B = TypeVar("B", bytes, bytes | None)
V = TypeVar("V")

Names = tuple[str, str | None]


class Codec(Generic[V]):
    """How a value becomes the plaintext that is sealed, and back."""

    def __init__(self, encode: Callable[[V], bytes], decode: Callable[[bytes], V]) -> None:
        self.encode = encode
        self.decode = decode


TEXT: Codec[str] = Codec(str.encode, bytes.decode)
JSON_OBJECT: Codec[dict[str, Any]] = Codec(lambda value: json.dumps(value).encode(), json.loads)
NAMES: Codec[Names] = Codec(lambda names: join_names(*names), split_names)  # an application and a site


class Cipher(Protocol):
    def seal_bytes(self, label: str, record_id: str, data: bytes) -> bytes: ...

    def open_bytes(self, label: str, record_id: str, blob: bytes) -> bytes: ...


def directory_key(obj: object) -> Cipher:
    """The directory key: what must outlive an erasure (a person's name, a request's reasons)."""
    return directory_cipher()


def webhook_key(obj: object) -> Cipher:
    """The key of recipients' webhook signing secrets."""
    return webhook_cipher()


def subject_key(obj: Any) -> Cipher:
    """The data key of the row's subject (``obj.subject_id``); raises
    :class:`~portal.crypto.keys.KeyDestroyed` once it is gone."""
    return keystore().cipher(obj.subject_id)


class Sealed(Generic[B, V]):
    """A clear attribute over the sealed ``column`` of the same class; see the module docstring."""

    def __init__(self, column: Mapped[B], label: str, codec: Codec[V], *,
                 key: Callable[[Any], Cipher] = directory_key, record: str = "id") -> None:
        self._column_object: object = column
        self.label = label
        self.codec = codec
        self.key = key
        self.record = record
        self.column = ""
        self._cache = ""

    def __set_name__(self, owner: type, name: str) -> None:
        found = [attr for attr, value in vars(owner).items() if value is self._column_object]
        if len(found) != 1:
            raise TypeError(f"{owner.__name__}.{name}: Sealed needs a column declared in the same class")
        self.column = found[0]
        self._cache = f"_sealed_{name}"

    @overload
    def __get__(self, obj: None, owner: type) -> Self: ...

    @overload
    def __get__(self: Sealed[bytes, V], obj: object, owner: type) -> V: ...

    @overload
    def __get__(self: Sealed[bytes | None, V], obj: object, owner: type) -> V | None: ...

    def __get__(self, obj: object | None, owner: type) -> Any:
        if obj is None:
            return self
        blob = getattr(obj, self.column)
        if blob is None:
            return None
        cached = obj.__dict__.get(self._cache)
        if cached is not None and cached[0] is blob:
            plain = cached[1]
        else:
            plain = self.key(obj).open_bytes(self.label, self._record_id(obj), blob)
            obj.__dict__[self._cache] = (blob, plain)
        return None if plain is None else self.codec.decode(plain)

    @overload
    def __set__(self: Sealed[bytes, V], obj: object, value: V) -> None: ...

    @overload
    def __set__(self: Sealed[bytes | None, V], obj: object, value: V | None) -> None: ...

    def __set__(self, obj: object, value: Any) -> None:
        if value is None:
            setattr(obj, self.column, None)
            return
        plain = self.codec.encode(value)
        blob = self.key(obj).seal_bytes(self.label, self._record_id(obj), plain)
        setattr(obj, self.column, blob)
        obj.__dict__[self._cache] = (blob, plain)

    def seal(self, obj: object, value: V) -> bytes:
        """The sealed bytes of ``value`` for ``obj``, not assigned: for an UPDATE statement."""
        return self.key(obj).seal_bytes(self.label, self._record_id(obj), self.codec.encode(value))

    def open_with(self, obj: object, cipher: Cipher | None) -> V | None:
        """Open with a cipher already at hand (a reader of many rows of one subject), or remember that
        the key is gone (``cipher`` None: the attribute reads ``None`` until the column changes)."""
        blob = getattr(obj, self.column)
        if blob is None:
            return None
        plain = None if cipher is None else cipher.open_bytes(self.label, self._record_id(obj), blob)
        obj.__dict__[self._cache] = (blob, plain)
        return None if plain is None else self.codec.decode(plain)

    def _record_id(self, obj: object) -> str:
        record_id = getattr(obj, self.record)
        if record_id is None:
            raise ValueError(f"{type(obj).__name__}.{self.record} must be set before its sealed values: "
                             "they are bound to it")
        return str(record_id)
