"""The export form: which categories, which dates."""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import DateField, SelectMultipleField, widgets
from wtforms.validators import Optional, ValidationError


class CheckboxesField(SelectMultipleField):
    widget = widgets.ListWidget(prefix_label=False)
    option_widget = widgets.CheckboxInput()


class ExportForm(FlaskForm):
    categories = CheckboxesField(_l("Categories"), validate_choice=True)
    date_from = DateField(_l("From (first day)"), validators=[Optional()])
    date_to = DateField(_l("To (last day)"), validators=[Optional()])

    def validate_categories(self, field: Any) -> None:
        if not field.data:
            raise ValidationError(_l("Choose at least one category."))

    def validate_date_to(self, field: Any) -> None:
        if field.data and self.date_from.data and field.data < self.date_from.data:
            raise ValidationError(_l("The last day comes before the first day."))
