"""The training-set ledger's state in plain words, for the PDFs (the deletion certificate, the
evidence pack's request.pdf); the pages say the same through templates/macros/training.html."""

from __future__ import annotations

from typing import Any

from flask_babel import gettext as _


def _when(value: str | None) -> str:
    return value.replace("T", " ").replace("Z", " UTC") if value else "—"


def removal_words(item: dict[str, Any], *, third_person: bool = False) -> str:
    """What became of a snapshot that held the person, in plain words, from its ledger facts
    (``third_person``: for a reader other than the person, e.g. a regulator)."""
    removal = item.get("removal")
    if removal is None:
        return _("Not marked: no erasure, upheld objection or withdrawal of consent has reached it.")
    cause = {"erasure": _("an erasure"), "objection": _("an upheld objection")}.get(
        removal["cause"], _("a withdrawal of consent to AI training"))
    words = _("Removal required since %(date)s, after %(cause)s.", date=_when(removal["marked_at"]), cause=cause)
    answer = removal.get("answer")
    if answer is None:
        return words + " " + _("Waiting for the AI-training team's answer.")
    when = _when(removal["answered_at"])
    if answer == "replaced":
        if third_person:
            return words + " " + _("Answered on %(date)s: replaced by snapshot %(new)s, which the portal checked "
                                   "does not contain this person's data.", date=when, new=removal["replacement"])
        return words + " " + _("Answered on %(date)s: replaced by snapshot %(new)s, which the portal checked does "
                               "not contain your data.", date=when, new=removal["replacement"])
    if answer == "deleted":
        return words + " " + _("Answered on %(date)s: the AI-training team reports that the snapshot was deleted.",
                               date=when)
    return words + " " + _("Answered on %(date)s: the snapshot is kept, on this legal basis as the AI-training "
                           "team stated it: %(basis)s", date=when, basis=removal["basis"])


def model_words(model: dict[str, Any], marked: bool) -> str:
    label = f"{model['name']} {model['version']}".strip()
    if model.get("action") == "retrained":
        return label + ": " + _("retrained as version %(version)s without this snapshot", version=model["new_version"])
    if model.get("action") == "unlearned":
        return label + ": " + _("the AI-training team reports that unlearning was applied")
    if model.get("action") == "kept":
        return label + ": " + _("kept, on this legal basis: %(basis)s", basis=model["basis"])
    return label + (": " + _("no answer yet") if marked else "")
