"""The forms of the DPO's case page, the legal holds and the admin's queue pages.

Text limits mirror the services' (they refuse too; the forms give the clearer message). Buttons
with nothing to fill in use :class:`portal.forms.ButtonForm`.
"""

from __future__ import annotations

from flask_babel import LazyString
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, Optional, Regexp

from portal.exports.forms import CheckboxesField
from portal.i18n import wording
from portal.jurisdictions import Ground
from portal.people.services import EMAIL
from portal.rights.models import RequestType
from portal.rights.services import MAX_TEXT

TEXT = Length(max=MAX_TEXT, message=_l("At most %(max)d characters."))


def _strip(value: str | None) -> str | None:
    return value.strip() if isinstance(value, str) else value


def _required(message: LazyString) -> DataRequired:
    """Required, with ``message`` (marked with ``_l`` where it is written, so it is extracted)."""
    return DataRequired(message=message)


# -- the case ---------------------------------------------------------------------------------------

class AssignForm(FlaskForm):
    assignee = SelectField(_l("Give the case to"), validate_choice=True,
                           validators=[_required(_l("Choose a DPO of this queue."))])


class BulkAssignForm(FlaskForm):
    """The queue's bulk assignment: the cases are the rows' checkboxes (``cases``), read by the view."""

    assignee = SelectField(_l("Give the chosen cases to"), validate_choice=True,
                           validators=[DataRequired(message=_l("Choose a DPO to give the cases to."))])


class AskForm(FlaskForm):
    message = TextAreaField(_l("Your question to the requester"),
                            validators=[_required(_l("Write the question to the requester.")), TEXT],
                            description=_l("Sent to the requester; the case waits for their answer."))


class MessageForm(FlaskForm):
    message = TextAreaField(_l("Message to the requester"),
                            validators=[_required(_l("Write the message to the requester.")), TEXT],
                            description=_l("Sent to the requester and shown on their request's page."))


class NoteForm(FlaskForm):
    note = TextAreaField(_l("Internal note"), validators=[_required(_l("Write the note.")), TEXT],
                         description=_l("Staff only: never shown to the requester."))


class ApproveForm(FlaskForm):
    # An erasure's first approval chooses what it rests on; the service refuses one without it.
    erasure_ground = SelectField(_l("Ground for the erasure"), validate_choice=True, validators=[Optional()],
                                 description=_l("Only the grounds of this request's law. Shown on the deletion "
                                                "certificate and in the evidence pack."))
    note = TextAreaField(_l("Note on the approval (optional, internal)"), validators=[Optional(), TEXT])

    def set_erasure_grounds(self, grounds: tuple[Ground, ...]) -> None:
        self.erasure_ground.choices = [SelectChoice("", _l("Choose…"))] + [
            SelectChoice(g.code, f"{g.citation}: {wording(g.text)}" if g.citation else wording(g.text))
            for g in grounds]


class RejectForm(FlaskForm):
    legal_basis = SelectField(_l("Legal basis for refusing"), validate_choice=True,
                              validators=[_required(_l("Choose the legal basis for refusing."))],
                              description=_l("Only the grounds of this request's law, for its kind of request."))
    def set_grounds(self, grounds: tuple[Ground, ...]) -> None:
        """The case's own grounds: its regime's, for its kind (the service refuses any other)."""
        self.legal_basis.choices = [SelectChoice("", _l("Choose…"))] + [SelectChoice(g.code, f"{g.citation}: {wording(g.text)}" if g.citation else wording(g.text))
                                                                         for g in grounds]

    reasons = TextAreaField(_l("Reasons, as the requester will read them"),
                            validators=[_required(_l("Write the reasons for the requester.")), TEXT],
                            description=_l("Shown to the requester with the legal basis, together with their "
                                           "right to complain to the supervisory authority."))


class ExtendForm(FlaskForm):
    reason = TextAreaField(_l("Reasons for the extension"),
                           validators=[_required(_l("Give the reasons for the extension.")), TEXT],
                           description=_l("Sent to the requester with the new date."))


# -- legal holds ------------------------------------------------------------------------------------

class HoldForm(FlaskForm):
    email = StringField(_l("Employee's e-mail address"), filters=[_strip],
                        validators=[_required(_l("Give the employee's e-mail address.")), Length(max=320),
                                    Regexp(EMAIL, message=_l("That is not an e-mail address."))])
    categories = CheckboxesField(_l("Categories to keep"), validate_choice=True,
                                 description=_l("Choose none to keep every category."))
    matter_reference = StringField(_l("Matter reference"), filters=[_strip],
                                   validators=[_required(_l("Give the matter's reference.")),
                                               Length(max=80, message=_l("At most %(max)d characters."))],
                                   description=_l("The legal matter or claim the data is kept for."))
    reason = TextAreaField(_l("Reason"), validators=[_required(_l("Give the reason for the hold.")), TEXT])


class LiftHoldForm(FlaskForm):
    confirm = BooleanField(_l("I confirm that this data no longer needs to be kept for the matter"),
                           validators=[_required(_l("Tick the box to confirm lifting the hold."))])


class DataPurposeForm(FlaskForm):
    """Why the subject's data is opened: for the case, or for legal claims (the only purpose a
    restriction of processing leaves open, GDPR Art. 18(2))."""

    purpose = SelectField(_l("Purpose of this access"), validate_choice=True, default="case",
                          choices=[SelectChoice("case", _l("Handling this request")),
                                   SelectChoice("legal-claims",
                                                _l("The establishment, exercise or defence of legal claims"))],
                          validators=[_required(_l("Choose the purpose of this access."))])
    matter = StringField(_l("Legal claim (matter or case reference)"), filters=[_strip],
                         validators=[Optional(), Length(max=80, message=_l("At most %(max)d characters."))],
                         description=_l("Required for legal claims; the employee sees it with the access."))


# -- queues and routing -----------------------------------------------------------------------------

class QueueForm(FlaskForm):
    name = StringField(_l("Name"), filters=[_strip], validators=[_required(_l("Give the queue a name.")),
                                               Length(max=80, message=_l("At most %(max)d characters."))])
    description = TextAreaField(_l("Description (optional)"),
                                validators=[Optional(), Length(max=1000, message=_l("At most %(max)d characters."))])


class MemberForm(FlaskForm):
    email = StringField(_l("DPO's e-mail address"), filters=[_strip],
                        validators=[_required(_l("Give the DPO's e-mail address.")), Length(max=320),
                                    Regexp(EMAIL, message=_l("That is not an e-mail address."))])


class RuleForm(FlaskForm):
    jurisdiction = StringField(_l("Jurisdiction"), filters=[_strip], validators=[_required(_l("Give a jurisdiction, or * for any.")),
                                                               Length(max=8)],
                               description=_l("A country code with an optional subdivision (ES, US-CA), or * for "
                                              "any."))
    request_type = SelectField(_l("Request type"), validate_choice=True,
                               choices=[SelectChoice("*", _l("* (any type)"))] + [SelectChoice(t.value) for t in RequestType])
    queue = SelectField(_l("Queue"), validate_choice=True, validators=[_required(_l("Choose a queue."))])


class ConfirmForm(FlaskForm):
    confirm = BooleanField(_l("I confirm"), validators=[_required(_l("Tick the box to confirm."))])
