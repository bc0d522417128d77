"""The sealed attributes of the models: each writes the bytes the ciphers' own calls write (the same
key, label and record binding), reads what they wrote, and opens a value once."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask

from portal.crypto import directory_cipher, keystore
from portal.crypto.keys import DirectoryCipher, SealError, webhook_cipher
from portal.crypto.sealed import Sealed
from portal.db import Base, new_id
from portal.monitoring.models import ActivityEvent, Screenshot
from portal.people.models import Employee
from portal.recipients.models import Recipient, RecipientTask
from portal.rights.models import DataRequest, LegalHold, RequestEvent

# (model, attribute, the cipher, the label, the attribute the value is bound to, a value)
# - the bindings every stored value already has: changing one makes old rows unreadable.
DIRECTORY = directory_cipher
TEXT_FIELDS: list[tuple[type[Base], str, Callable[[], DirectoryCipher], str, str]] = [
    (Employee, "email", DIRECTORY, "email", "id"),
    (Employee, "display_name", DIRECTORY, "name", "id"),
    (Employee, "employee_number", DIRECTORY, "employee_number", "id"),
    (Employee, "personal_email", DIRECTORY, "personal_email", "id"),
    (Employee, "external_id", DIRECTORY, "external_id", "id"),
    (DataRequest, "decision_text", DIRECTORY, "request-decision", "id"),
    (DataRequest, "extension_reason", DIRECTORY, "request-extension", "id"),
    (RequestEvent, "body_text", DIRECTORY, "request-event", "request_id"),
    (LegalHold, "reason", DIRECTORY, "hold-reason", "id"),
    (Recipient, "contact", DIRECTORY, "recipient-contact", "id"),
    (Recipient, "signing_secret", webhook_cipher, "webhook-secret", "id"),
    (Recipient, "previous_signing_secret", webhook_cipher, "webhook-previous-secret", "id"),
    (RecipientTask, "reason", DIRECTORY, "task-reason", "id"),
]
JSON_FIELDS: list[tuple[type[Base], str, str]] = [
    (DataRequest, "details", "request-details"),
    (RecipientTask, "correction", "task-correction"),
]
SUBJECT_FIELDS: list[tuple[type[Base], str, str, str]] = [
    (ActivityEvent, "names", "event-names", "source_event_id"),
    (Screenshot, "names", "screenshot-names", "id"),
]


def sealed_attributes() -> set[tuple[str, str]]:
    return {(mapper.class_.__name__, name) for mapper in Base.registry.mappers
            for name, value in vars(mapper.class_).items() if isinstance(value, Sealed)}


def test_every_sealed_attribute_has_its_binding_pinned_here(app: Flask) -> None:  # every model loaded
    pinned = {(m.__name__, a) for m, a, *_ in TEXT_FIELDS} | {(m.__name__, a) for m, a, _ in JSON_FIELDS} | {
        (m.__name__, a) for m, a, *_ in SUBJECT_FIELDS}
    assert sealed_attributes() == pinned


def _row(model: type[Base], **given: str) -> Any:
    """A row of ``model`` with the ids its sealed values are bound to (none of them stored)."""
    ids = {"id": new_id(), "request_id": new_id(), "subject_id": new_id(), "source_event_id": "ev-1", **given}
    return model(**{name: value for name, value in ids.items() if hasattr(model, name)})


@pytest.mark.parametrize(("model", "attr", "cipher", "label", "record"), TEXT_FIELDS,
                         ids=[f"{m.__name__}.{a}" for m, a, *_ in TEXT_FIELDS])
def test_a_text_field_is_sealed_as_the_cipher_seals_it(ctx: None, model: type[Base], attr: str,
                                                        cipher: Callable[[], DirectoryCipher], label: str,
                                                        record: str) -> None:
    row = _row(model)
    column = getattr(model, attr).column
    setattr(row, attr, "Élise — a value")
    blob = getattr(row, column)
    assert b"lise" not in blob
    assert cipher().open_text(getattr(row, record), label, blob) == "Élise — a value"

    other = _row(model)
    setattr(other, column, cipher().seal_text(getattr(other, record), label, "written the old way"))
    assert getattr(other, attr) == "written the old way"

    setattr(other, column, blob)  # another record's value does not open here
    with pytest.raises(SealError):
        getattr(other, attr)


@pytest.mark.parametrize(("model", "attr", "label"), JSON_FIELDS, ids=[f"{m.__name__}.{a}" for m, a, _ in JSON_FIELDS])
def test_a_json_field_is_sealed_as_its_json_text(ctx: None, model: type[Base], attr: str, label: str) -> None:
    row = _row(model)
    value = {"wrong": "Ledger", "correct": "Lédger"}
    setattr(row, attr, value)
    blob = getattr(row, getattr(model, attr).column)
    assert directory_cipher().open_text(row.id, label, blob) == json.dumps(value)
    assert getattr(row, attr) == value
    getattr(row, attr)["wrong"] = "changed"  # each read is a value of its own
    assert getattr(row, attr) == value


@pytest.mark.parametrize(("model", "attr", "label", "record"), SUBJECT_FIELDS,
                         ids=[f"{m.__name__}.{a}" for m, a, *_ in SUBJECT_FIELDS])
def test_names_are_sealed_with_the_subjects_key_and_read_empty_once_it_is_gone(
        ctx: None, model: type[Base], attr: str, label: str, record: str) -> None:
    row = _row(model, subject_id="ab" * 16)
    keystore().create(row.subject_id)
    setattr(row, attr, ("Ledger", "payroll.example.com"))
    blob = row.sealed_names
    cipher = keystore().cipher(row.subject_id)
    assert cipher.open_names(label, getattr(row, record), blob) == ("Ledger", "payroll.example.com")
    assert (row.application, row.site_domain) == ("Ledger", "payroll.example.com")

    keystore().destroy(row.subject_id)
    row.sealed_names = bytes(bytearray(blob))  # as read again from the database
    assert (row.application, row.site_domain) == ("", None)


def test_a_value_is_opened_once_and_again_when_its_column_changes(ctx: None, monkeypatch: pytest.MonkeyPatch) -> None:
    employee = _row(Employee)
    employee.display_name = "Erin"
    opened: list[str] = []
    real = DirectoryCipher.open_bytes

    def counting(self: DirectoryCipher, field: str, record_id: str, blob: bytes) -> bytes:
        opened.append(field)
        return real(self, field, record_id, blob)

    monkeypatch.setattr(DirectoryCipher, "open_bytes", counting)
    employee.name_sealed = directory_cipher().seal_text(employee.id, "name", "Erin Example")
    assert employee.display_name == "Erin Example" and employee.display_name == "Erin Example"
    assert opened == ["name"]
    employee.display_name = "Erin E."
    assert employee.display_name == "Erin E." and opened == ["name"]


def test_none_clears_the_column() -> None:
    employee = _row(Employee)
    employee.employee_number_sealed = b"sealed before"
    employee.employee_number = None
    assert employee.employee_number_sealed is None and employee.employee_number is None


def test_a_value_is_refused_before_its_record_has_an_id(ctx: None) -> None:
    hold = LegalHold()
    with pytest.raises(ValueError, match="LegalHold.id must be set"):
        hold.reason = "Litigation"
    assert hold.reason_sealed is None


def test_a_sealed_attribute_needs_its_column_in_the_same_class() -> None:
    stray = Sealed(Employee.email_sealed, "email", Employee.email.codec)
    with pytest.raises(TypeError, match="needs a column declared in the same class"):
        stray.__set_name__(Recipient, "email")
