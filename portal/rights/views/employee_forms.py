"""The employee's request forms: one per type of request, plus the answer and withdraw forms.

Each request form knows which arguments of :func:`portal.rights.services.file_request` it
fills (:meth:`RequestForm.filing`), so the view stays one call. The forms check what a person can
get wrong (a missing field, a category that is not in the register, dates the wrong way round, an
unticked confirmation) and say so next to the field; the service checks the same rules again.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, DateField, HiddenField, RadioField, SubmitField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, InputRequired, Length, Optional, ValidationError

from portal.consent.models import OBJECTION_PURPOSES
from portal.exports.forms import CheckboxesField
from portal.rights.services import MAX_TEXT, OBJECTION_LABELS

SCOPE_ALL = "all"
SCOPE_CHOSEN = "chosen"
STEP_CHOOSE = "choose"
STEP_CONFIRM = "confirm"


def _text(label: Any, *, required: bool, description: Any = "") -> TextAreaField:
    validators: list[Any] = [DataRequired(_l("This field is required."))] if required else [Optional()]
    validators.append(Length(max=MAX_TEXT, message=_l("At most %(n)s characters.", n=MAX_TEXT)))
    return TextAreaField(label, validators=validators, description=description)


class RequestForm(FlaskForm):
    """The base: what each type adds is a few fields and :meth:`filing`."""

    def set_categories(self, choices: Iterable[tuple[str, str]]) -> None:
        """Offer the register's categories (only forms with a category choice have them)."""

    def filing(self) -> dict[str, Any]:
        """Keyword arguments for ``file_request``."""
        return {}


class DescriptionForm(RequestForm):
    """Access and portability: nothing to choose; an optional description helps the DPO."""

    description = _text(_l("Anything the Data Protection Officer should know (optional)"), required=False,
                        description=_l("For example, a period or a kind of data you are most interested in."))

    def filing(self) -> dict[str, Any]:
        return {"description": self.description.data or ""}


class _ScopeMixin:
    """Everything, or some categories of the register."""

    scope = RadioField(_l("What it covers"), choices=[SelectChoice(SCOPE_ALL, _l("All my monitoring data")),
                                                      SelectChoice(SCOPE_CHOSEN, _l("Only the categories I choose"))],
                       default=SCOPE_ALL, validators=[InputRequired(_l("Choose everything or some categories."))])
    # Checked against the register by validate_categories, with a message people understand.
    categories = CheckboxesField(_l("Categories"), validate_choice=False)

    def set_categories(self, choices: Iterable[tuple[str, str]]) -> None:
        self.categories.choices = [SelectChoice(key, label) for key, label in choices]

    def validate_categories(self, field: Any) -> None:
        known = {choice.value for choice in field.choices or []}
        chosen = list(field.data or [])
        if any(key not in known for key in chosen):
            raise ValidationError(_l("Some of the chosen categories do not exist."))
        if self.scope.data == SCOPE_CHOSEN and not chosen:
            raise ValidationError(_l("Choose at least one category, or choose all your data."))

    def chosen_categories(self) -> list[str]:
        """The categories asked for; empty means all of them (as the service reads it)."""
        return [] if self.scope.data == SCOPE_ALL else list(self.categories.data or [])


class ErasureForm(_ScopeMixin, RequestForm):
    """Erasure, in two steps: choose what, then confirm that it cannot be undone."""

    date_from = DateField(_l("From (first day)"), validators=[Optional()])
    date_to = DateField(_l("To (last day)"), validators=[Optional()])
    description = _text(_l("Anything the Data Protection Officer should know (optional)"), required=False)
    step = HiddenField(default=STEP_CHOOSE)
    confirm = BooleanField(_l("I understand this cannot be undone"))
    back = SubmitField(_l("Change what to erase"))

    @property
    def confirming(self) -> bool:
        """Whether this is the confirmation step (the final submission)."""
        return self.step.data == STEP_CONFIRM

    def validate_date_to(self, field: Any) -> None:
        if field.data and self.date_from.data and field.data < self.date_from.data:
            raise ValidationError(_l("The last day comes before the first day."))

    def validate_confirm(self, field: Any) -> None:
        if self.confirming and not self.back.data and not field.data:
            raise ValidationError(_l("Tick the box to confirm that you understand the erasure cannot be undone."))

    def filing(self) -> dict[str, Any]:
        return {"categories": self.chosen_categories(), "date_from": self.date_from.data,
                "date_to": self.date_to.data, "description": self.description.data or ""}


class RectificationForm(RequestForm):
    wrong = _text(_l("What is wrong"), required=True,
                  description=_l("Say which data it is (for example the date and the application) and what is "
                                 "wrong with it."))
    correct = _text(_l("What it should say"), required=True)

    def filing(self) -> dict[str, Any]:
        return {"wrong": self.wrong.data or "", "correct": self.correct.data or ""}


class RestrictionForm(_ScopeMixin, RequestForm):
    description = _text(_l("Why, or anything the Data Protection Officer should know (optional)"), required=False,
                        description=_l("For example: you contest the data's accuracy, or you need it kept for a "
                                       "claim but not used."))

    def filing(self) -> dict[str, Any]:
        return {"categories": self.chosen_categories(), "description": self.description.data or ""}


class ObjectionForm(RequestForm):
    purpose = RadioField(_l("What you object to"), validate_choice=True,
                         choices=[SelectChoice(p.value, OBJECTION_LABELS[p]) for p in OBJECTION_PURPOSES],
                         validators=[DataRequired(_l("Choose what you object to."))])
    grounds = _text(_l("Your grounds"), required=True,
                    description=_l("Why your particular situation means your data should not be used for it."))

    def filing(self) -> dict[str, Any]:
        return {"grounds": self.grounds.data or "", "purpose": self.purpose.data or ""}


class AnswerForm(FlaskForm):
    message = _text(_l("Your answer"), required=True)


class WithdrawForm(FlaskForm):
    confirm = BooleanField(_l("Yes, withdraw this request"),
                           validators=[DataRequired(_l("Tick the box to confirm that you want to withdraw it."))])
