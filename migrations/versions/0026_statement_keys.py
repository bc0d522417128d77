"""outcomes, the portal's own timeline messages and staff access purposes stored as statement keys, worded when read

Revision ID: 0026_statement_keys
Revises: 0025_subject_partitions
Create Date: 2026-12-04 17:20:00.000000

Rows written before keep their English text; those whose wording is known (what the code wrote)
are given the key and parameters that say the same, so Spanish and Portuguese readers read them in
their language. Anything else stays shown as it was stored. The portal's earlier timeline messages
are sealed with the directory key, which a migration does not hold: they stay as written.

The patterns below are copies of the texts the code wrote, kept here as they were: the code's
wording may change later, these must not.
"""
import re

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0026_statement_keys'
down_revision = '0025_subject_partitions'
branch_labels = None
depends_on = None

_AI = (" The records of which AI training sets and models used your data are kept, as evidence, and marked "
       "\u201cremoval required\u201d: the portal does not itself remove data from training sets or from models "
       "already trained on them.")
ERASED = re.compile(
    r"^Your data was erased(?P<key> and its key destroyed)?\.(?P<ai>" + re.escape(_AI) + r")?"
    r"(?: Some of your data is under a legal hold and was not erased: (?P<listed>.+?)\. It is kept blocked \(stored, "
    r"not used for anything else\) until the hold is lifted; the portal then erases it as this request asked and "
    r"tells you\. Legal basis: .+)?$", re.DOTALL)
HELD_ITEM = re.compile(r"^(?P<name>.+) \((?P<count>[\d,]+)\)$")
COPY_READY = re.compile(r"^A complete copy of your data is ready: download it from the request's page or from your "
                        r"exports within (?P<days>\d+) days\.$")
FIXED_OUTCOMES = {
    "A complete copy was made available for download.": ("request.copy-made", {}),
    "Your correction is recorded alongside the original data. The portal does not send it to the teams and "
    "systems that received the data: the Data Protection Officer can tell you which of them hold it.":
        ("request.rectified", {}),
    "Your data is kept but restricted: it is excluded from processing and from AI training.":
        ("request.restricted", {}),
    "Your objection is upheld: your data is no longer used for AI training.":
        ("request.objection-upheld", {"purpose": "ai_training"}),
    "Your objection is upheld: your data is no longer used for productivity analytics or profiling. The exclusion "
    "is on the list that the systems using the data read.":
        ("request.objection-upheld", {"purpose": "analytics"}),
    "Your objection is upheld: your data is no longer used for security monitoring. The exclusion is on the list "
    "that the systems using the data read.":
        ("request.objection-upheld", {"purpose": "security_monitoring"}),
}
FIXED_PURPOSES = {
    "Copy of the data made by an operator from the shell": ("access.shell-copy", {}),
    "Answering your access request": ("access.answering-access-request", {}),
    "Data portability export you asked for": ("access.portability-export", {}),
    "Information security investigation of a suspected data leak": ("access.security-investigation", {}),
    "Reviewing your objection to the use of your data for AI training": ("access.reviewing-objection", {}),
}
HANDLING = re.compile(r"^Handling request (?P<ref>R-[0-9A-F]{8})$")
LEGAL_CLAIMS = re.compile(r"^Legal claims \((?P<matter>.+)\), request (?P<ref>R-[0-9A-F]{8})$", re.DOTALL)


def outcome_statement(text, jurisdiction, names):
    """The statement an outcome's English text says, or None when its wording is not known."""
    if text in FIXED_OUTCOMES:
        key, params = FIXED_OUTCOMES[text]
        return {"key": key, "params": params}
    if found := COPY_READY.match(text):
        return {"key": "request.copy-ready", "params": {"days": int(found["days"])}}
    if found := ERASED.match(text):
        held = {}
        if found["listed"]:
            for item in found["listed"].split(", "):
                part = HELD_ITEM.match(item)
                if part is None or part["name"] not in names:
                    return None  # a category renamed since, or a list we cannot read back: leave it
                held[names[part["name"]]] = int(part["count"].replace(",", ""))
        return {"key": "request.erased", "params": {"key_destroyed": bool(found["key"]),
                                                    "removal_required": bool(found["ai"]),
                                                    "held": held, "jurisdiction": jurisdiction}}
    return None


def purpose_statement(text):
    if text in FIXED_PURPOSES:
        key, params = FIXED_PURPOSES[text]
        return {"key": key, "params": params}
    if found := HANDLING.match(text):
        return {"key": "access.handling-request", "params": {"ref": found["ref"]}}
    if found := LEGAL_CLAIMS.match(text):
        return {"key": "access.legal-claims", "params": {"matter": found["matter"], "ref": found["ref"]}}
    return None


def upgrade():
    with op.batch_alter_table('data_requests', schema=None) as batch_op:
        batch_op.add_column(sa.Column('outcome_statement', sa.JSON(), nullable=True, comment="the outcome as a statement key and parameters, worded in the reader's language"))
    with op.batch_alter_table('request_events', schema=None) as batch_op:
        batch_op.add_column(sa.Column('body_statement', sa.JSON(), nullable=True, comment="the portal's own message as a statement key and parameters, worded when read"))
    with op.batch_alter_table('access_records', schema=None) as batch_op:
        batch_op.add_column(sa.Column('purpose_statement', sa.JSON(), nullable=True, comment="the purpose as a statement key and parameters, worded in the reader's language"))

    conn = op.get_bind()
    categories = sa.table('data_categories', sa.column('key', sa.String), sa.column('name', sa.String))
    names = {row.name: row.key for row in conn.execute(sa.select(categories.c.key, categories.c.name))}
    requests = sa.table('data_requests', sa.column('id', sa.String), sa.column('outcome', sa.Text),
                        sa.column('jurisdiction', sa.String), sa.column('outcome_statement', sa.JSON))
    for row in conn.execute(sa.select(requests.c.id, requests.c.outcome, requests.c.jurisdiction)
                            .where(requests.c.outcome.is_not(None))).all():
        found = outcome_statement(row.outcome, row.jurisdiction, names)
        if found is not None:
            conn.execute(requests.update().where(requests.c.id == row.id)
                         .values(outcome_statement=found, outcome=None))
    accesses = sa.table('access_records', sa.column('id', sa.Integer), sa.column('purpose', sa.String),
                        sa.column('purpose_statement', sa.JSON))
    for row in conn.execute(sa.select(accesses.c.id, accesses.c.purpose)).all():
        found = purpose_statement(row.purpose)
        if found is not None:  # the English stays in the column, as the portal now writes it
            conn.execute(accesses.update().where(accesses.c.id == row.id).values(purpose_statement=found))


def downgrade():
    # Outcomes moved to keys get their English text back, worded as the code wrote it.
    conn = op.get_bind()
    requests = sa.table('data_requests', sa.column('id', sa.String), sa.column('outcome', sa.Text),
                        sa.column('outcome_statement', sa.JSON))
    back = {key: text for text, (key, params) in FIXED_OUTCOMES.items() if not params}
    objections = {params["purpose"]: text for text, (key, params) in FIXED_OUTCOMES.items() if params}
    for row in conn.execute(sa.select(requests.c.id, requests.c.outcome_statement)
                            .where(requests.c.outcome_statement.is_not(None))).all():
        stored = row.outcome_statement or {}
        key, params = stored.get("key"), stored.get("params") or {}
        if key in back:
            text = back[key]
        elif key == "request.objection-upheld":
            text = objections.get(params.get("purpose"), objections["ai_training"])
        elif key == "request.copy-ready":
            text = (f"A complete copy of your data is ready: download it from the request's page or from your "
                    f"exports within {params.get('days')} days.")
        elif key == "request.erased":
            text = "Your data was erased" + (" and its key destroyed." if params.get("key_destroyed") else ".")
            text += _AI if params.get("removal_required") else ""
            if params.get("held"):
                text += " Some of your data is under a legal hold and was not erased."
        else:
            continue
        conn.execute(requests.update().where(requests.c.id == row.id).values(outcome=text))
    with op.batch_alter_table('access_records', schema=None) as batch_op:
        batch_op.drop_column('purpose_statement')
    with op.batch_alter_table('request_events', schema=None) as batch_op:
        batch_op.drop_column('body_statement')
    with op.batch_alter_table('data_requests', schema=None) as batch_op:
        batch_op.drop_column('outcome_statement')
