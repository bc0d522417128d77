"""recipient systems and their tasks; a request waits for its recipients' confirmations

Revision ID: 0029_recipients
Revises: 0028_training_ledger
Create Date: 2026-12-04 17:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0029_recipients'
down_revision = '0028_training_ledger'
branch_labels = None
depends_on = None

STATES = ['received', 'open', 'in_review', 'awaiting_requester', 'approved', 'fulfilling', 'completed',
          'rejected', 'withdrawn', 'failed']
NEW_STATES = STATES[:6] + ['awaiting_recipients'] + STATES[6:]


def _states(values):
    return "state IN (" + ", ".join(f"'{v}'" for v in values) + ")"


def upgrade():
    op.create_table('recipients',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('contact_sealed', sa.LargeBinary(), nullable=False, comment='the contact e-mail, directory key'),
    sa.Column('categories', sa.JSON(), nullable=False, comment='register category keys it receives'),
    sa.Column('uses', sa.JSON(), nullable=False, comment='processing purposes it uses the data for (an objection or a withdrawal reaches it)'),
    sa.Column('purpose', sa.Text(), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('needs_name', sa.Boolean(), server_default=sa.false(), nullable=False, comment="an internal team that needs the person's name to find the data; others get the pseudonym only"),
    sa.Column('delivery', sa.String(length=16), nullable=False),
    sa.Column('webhook_url', sa.String(length=2048), nullable=True),
    sa.Column('secret_sealed', sa.LargeBinary(), nullable=True, comment='whsec_..., webhook key'),
    sa.Column('previous_secret_sealed', sa.LargeBinary(), nullable=True, comment='the secret before a rotation, still signed with until previous_secret_until'),
    sa.Column('previous_secret_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('active', sa.Boolean(), server_default=sa.true(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.CheckConstraint("delivery <> 'webhook' OR (webhook_url IS NOT NULL AND secret_sealed IS NOT NULL)", name=op.f('ck_recipients_webhook_has_url_and_secret')),
    sa.CheckConstraint("delivery IN ('webhook', 'pull', 'manual')", name=op.f('ck_recipients_delivery_valid')),
    sa.CheckConstraint("NOT needs_name OR role = 'internal'", name=op.f('ck_recipients_only_internal_teams_are_named_to')),
    sa.CheckConstraint("role IN ('processor', 'third_party', 'internal')", name=op.f('ck_recipients_role_valid')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_recipients')),
    sa.UniqueConstraint('name', name=op.f('uq_recipients_name'))
    )
    op.create_table('recipient_tasks',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('recipient_id', sa.String(length=32), nullable=False),
    sa.Column('request_id', sa.String(length=32), nullable=True, comment='none for a consent withdrawal'),
    sa.Column('subject_id', sa.String(length=32), nullable=False),
    sa.Column('action', sa.String(length=24), nullable=False),
    sa.Column('categories', sa.JSON(), nullable=False, comment='the affected categories this recipient received'),
    sa.Column('period', sa.JSON(), nullable=True, comment='date_from, date_to (either may be null)'),
    sa.Column('correction_sealed', sa.LargeBinary(), nullable=True, comment='rectification: directory key'),
    sa.Column('due_on', sa.Date(), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('delivery_state', sa.String(length=16), nullable=False),
    sa.Column('delivery_job_id', sa.String(length=32), nullable=True),
    sa.Column('delivered_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('delivery_error', sa.Text(), nullable=True, comment='why the last delivery failed (no secrets)'),
    sa.Column('link_nonce', sa.String(length=32), nullable=True, comment='manual: binds the confirmation link'),
    sa.Column('outcome', sa.String(length=16), nullable=True),
    sa.Column('reason_sealed', sa.LargeBinary(), nullable=True, comment="a refusal's reason: directory key"),
    sa.Column('details', sa.JSON(), nullable=True, comment='rows_deleted, snapshot_id'),
    sa.Column('confirmed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('confirmed_via', sa.String(length=16), nullable=True, comment='api or link'),
    sa.Column('confirm_entry_id', sa.String(length=32), nullable=True, comment='the audit entry of the confirmation'),
    sa.Column('escalated_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.CheckConstraint("(outcome IS NULL) = (confirmed_at IS NULL)", name=op.f('ck_recipient_tasks_confirmed_has_outcome')),
    sa.CheckConstraint("outcome IS NULL OR outcome <> 'refused' OR reason_sealed IS NOT NULL", name=op.f('ck_recipient_tasks_refusal_has_reason')),
    sa.CheckConstraint("outcome IS NULL OR outcome IN ('done', 'not_applicable', 'refused')", name=op.f('ck_recipient_tasks_outcome_valid')),
    sa.CheckConstraint("action IN ('erase', 'rectify', 'restrict', 'lift_restriction', 'stop_processing', 'stop_training')", name=op.f('ck_recipient_tasks_action_valid')),
    sa.CheckConstraint("state IN ('open', 'confirmed', 'escalated')", name=op.f('ck_recipient_tasks_state_valid')),
    sa.CheckConstraint("delivery_state IN ('waiting', 'delivered', 'gone', 'dead')", name=op.f('ck_recipient_tasks_delivery_state_valid')),
    sa.ForeignKeyConstraint(['delivery_job_id'], ['jobs.id'], name=op.f('fk_recipient_tasks_delivery_job_id_jobs'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['recipient_id'], ['recipients.id'], name=op.f('fk_recipient_tasks_recipient_id_recipients'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['request_id'], ['data_requests.id'], name=op.f('fk_recipient_tasks_request_id_data_requests'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['subject_id'], ['employees.id'], name=op.f('fk_recipient_tasks_subject_id_employees'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_recipient_tasks'))
    )
    with op.batch_alter_table('recipient_tasks', schema=None) as batch_op:
        batch_op.create_index('ix_recipient_tasks_recipient_created', ['recipient_id', 'created_at', 'id'], unique=False)
        batch_op.create_index('ix_recipient_tasks_request', ['request_id'], unique=False)
        batch_op.create_index('ix_recipient_tasks_state_due', ['state', 'due_on'], unique=False)

    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.add_column(sa.Column('recipient_id', sa.String(length=32), nullable=True, comment='scope recipient: the one recipient whose tasks the token reads and confirms'))
        batch_op.create_foreign_key(batch_op.f('fk_api_tokens_recipient_id_recipients'), 'recipients', ['recipient_id'], ['id'], ondelete='SET NULL')

    with op.batch_alter_table('data_requests', schema=None) as batch_op:
        batch_op.add_column(sa.Column('carried_out_at', sa.DateTime(timezone=True), nullable=True, comment="when the portal's own work was done (recipients may confirm later)"))
        batch_op.drop_constraint(batch_op.f('ck_data_requests_state_valid'), type_='check')
        batch_op.create_check_constraint(batch_op.f('ck_data_requests_state_valid'), _states(NEW_STATES))
    data_requests = sa.table('data_requests', sa.column('completed_at', sa.DateTime(timezone=True)),
                             sa.column('carried_out_at', sa.DateTime(timezone=True)))
    op.execute(data_requests.update().where(data_requests.c.completed_at.is_not(None))
               .values(carried_out_at=data_requests.c.completed_at))


def downgrade():
    data_requests = sa.table('data_requests', sa.column('state', sa.String), sa.column('completed_at', sa.DateTime(timezone=True)),
                             sa.column('carried_out_at', sa.DateTime(timezone=True)))
    # A request still waiting for its recipients had its own work done: it was "completed" before.
    op.execute(data_requests.update().where(data_requests.c.state == 'awaiting_recipients')
               .values(state='completed', completed_at=data_requests.c.carried_out_at))
    with op.batch_alter_table('data_requests', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('ck_data_requests_state_valid'), type_='check')
        batch_op.create_check_constraint(batch_op.f('ck_data_requests_state_valid'), _states(STATES))
        batch_op.drop_column('carried_out_at')
    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_api_tokens_recipient_id_recipients'), type_='foreignkey')
        batch_op.drop_column('recipient_id')
    with op.batch_alter_table('recipient_tasks', schema=None) as batch_op:
        batch_op.drop_index('ix_recipient_tasks_state_due')
        batch_op.drop_index('ix_recipient_tasks_request')
        batch_op.drop_index('ix_recipient_tasks_recipient_created')
    op.drop_table('recipient_tasks')
    op.drop_table('recipients')
