"""the training-set ledger: data sets, snapshots and their members, models, removals and what the pipeline answered

The records of use (training_set_uses) move into it: each data set, snapshot and model they name
becomes a row of its own, each record a member of its snapshot, and a record an erasure marked
a removal caused by that erasure. The old table is then dropped; downgrading rebuilds it.

Revision ID: 0028_training_ledger
Revises: 0027_sealed_names
Create Date: 2026-12-04 17:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0028_training_ledger'
down_revision = '0027_sealed_names'
branch_labels = None
depends_on = None

MIGRATED_PURPOSE = 'recorded before the training-set ledger (from the records of use)'


def upgrade():
    op.create_table('training_datasets',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('purpose', sa.String(length=500), nullable=False),
    sa.Column('source_categories', sa.JSON(), nullable=False, comment='register category keys'),
    sa.Column('registered_at', sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_training_datasets')),
    sa.UniqueConstraint('name', name=op.f('uq_training_datasets_name'))
    )
    op.create_table('training_models',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('version', sa.String(length=60), nullable=False),
    sa.Column('trained_on', sa.Date(), nullable=False),
    sa.Column('registered_at', sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_training_models')),
    sa.UniqueConstraint('name', 'version', name='uq_training_models_name_version')
    )
    op.create_table('training_snapshots',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('dataset_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=120), nullable=False, comment="the pipeline's snapshot id, unique in its data set"),
    sa.Column('created_on', sa.Date(), nullable=False, comment='when the pipeline made the snapshot'),
    sa.Column('source_categories', sa.JSON(), nullable=False),
    sa.Column('member_count', sa.Integer(), nullable=False),
    sa.Column('registered_at', sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
    sa.Column('deleted_at', sa.DateTime(timezone=True), nullable=True, comment='the pipeline declared it deleted'),
    sa.ForeignKeyConstraint(['dataset_id'], ['training_datasets.id'], name=op.f('fk_training_snapshots_dataset_id_training_datasets')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_training_snapshots')),
    sa.UniqueConstraint('dataset_id', 'name', name='uq_training_snapshots_dataset_name')
    )
    op.create_table('training_model_snapshots',
    sa.Column('model_id', sa.Integer(), nullable=False),
    sa.Column('snapshot_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['model_id'], ['training_models.id'], name=op.f('fk_training_model_snapshots_model_id_training_models')),
    sa.ForeignKeyConstraint(['snapshot_id'], ['training_snapshots.id'], name=op.f('fk_training_model_snapshots_snapshot_id_training_snapshots')),
    sa.PrimaryKeyConstraint('model_id', 'snapshot_id', name=op.f('pk_training_model_snapshots'))
    )
    with op.batch_alter_table('training_model_snapshots', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_training_model_snapshots_snapshot_id'), ['snapshot_id'], unique=False)
    op.create_table('training_snapshot_members',
    sa.Column('snapshot_id', sa.Integer(), nullable=False),
    sa.Column('subject_id', sa.String(length=32), nullable=False),
    sa.Column('record_count', sa.Integer(), nullable=True, comment="the subject's records in the snapshot"),
    sa.ForeignKeyConstraint(['snapshot_id'], ['training_snapshots.id'], name=op.f('fk_training_snapshot_members_snapshot_id_training_snapshots')),
    sa.ForeignKeyConstraint(['subject_id'], ['employees.id'], name=op.f('fk_training_snapshot_members_subject_id_employees'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('snapshot_id', 'subject_id', name=op.f('pk_training_snapshot_members'))
    )
    with op.batch_alter_table('training_snapshot_members', schema=None) as batch_op:
        batch_op.create_index('ix_training_snapshot_members_subject', ['subject_id', 'snapshot_id'], unique=False)
    op.create_table('training_removals',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('snapshot_id', sa.Integer(), nullable=False),
    sa.Column('subject_id', sa.String(length=32), nullable=False),
    sa.Column('cause', sa.String(length=24), nullable=False),
    sa.Column('request_id', sa.String(length=32), nullable=True, comment='the erasure or objection that caused it'),
    sa.Column('consent_event_id', sa.Integer(), nullable=True, comment='the withdrawal that caused it'),
    sa.Column('marked_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('answer', sa.String(length=16), nullable=True),
    sa.Column('answered_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('replacement_id', sa.Integer(), nullable=True, comment='the new snapshot, verified without the person'),
    sa.Column('basis', sa.String(length=1000), nullable=True, comment='the legal basis stated to keep it'),
    sa.CheckConstraint("(answer = 'kept') = (basis IS NOT NULL)", name=op.f('ck_training_removals_kept_with_basis')),
    sa.CheckConstraint("(answer = 'replaced') = (replacement_id IS NOT NULL)", name=op.f('ck_training_removals_replacement_named')),
    sa.CheckConstraint('(answer IS NULL) = (answered_at IS NULL)', name=op.f('ck_training_removals_answered_when')),
    sa.CheckConstraint("answer IN ('replaced', 'deleted', 'kept')", name=op.f('ck_training_removals_answer_valid')),
    sa.CheckConstraint("cause IN ('erasure', 'objection', 'consent_withdrawn')", name=op.f('ck_training_removals_cause_valid')),
    sa.ForeignKeyConstraint(['consent_event_id'], ['consent_events.id'], name=op.f('fk_training_removals_consent_event_id_consent_events'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['replacement_id'], ['training_snapshots.id'], name=op.f('fk_training_removals_replacement_id_training_snapshots')),
    sa.ForeignKeyConstraint(['request_id'], ['data_requests.id'], name=op.f('fk_training_removals_request_id_data_requests'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['snapshot_id'], ['training_snapshots.id'], name=op.f('fk_training_removals_snapshot_id_training_snapshots')),
    sa.ForeignKeyConstraint(['subject_id'], ['employees.id'], name=op.f('fk_training_removals_subject_id_employees'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_training_removals')),
    sa.UniqueConstraint('snapshot_id', 'subject_id', name='uq_training_removals_snapshot_subject')
    )
    with op.batch_alter_table('training_removals', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_training_removals_subject_id'), ['subject_id'], unique=False)
    op.create_table('training_model_outcomes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('model_id', sa.Integer(), nullable=False),
    sa.Column('snapshot_id', sa.Integer(), nullable=False),
    sa.Column('action', sa.String(length=16), nullable=False),
    sa.Column('new_model_id', sa.Integer(), nullable=True, comment='the version it was retrained as'),
    sa.Column('basis', sa.String(length=1000), nullable=True),
    sa.Column('recorded_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("(action = 'kept') = (basis IS NOT NULL)", name=op.f('ck_training_model_outcomes_kept_with_basis')),
    sa.CheckConstraint("(action = 'retrained') = (new_model_id IS NOT NULL)", name=op.f('ck_training_model_outcomes_retrained_as')),
    sa.CheckConstraint("action IN ('retrained', 'unlearned', 'kept')", name=op.f('ck_training_model_outcomes_action_valid')),
    sa.ForeignKeyConstraint(['model_id'], ['training_models.id'], name=op.f('fk_training_model_outcomes_model_id_training_models')),
    sa.ForeignKeyConstraint(['new_model_id'], ['training_models.id'], name=op.f('fk_training_model_outcomes_new_model_id_training_models')),
    sa.ForeignKeyConstraint(['snapshot_id'], ['training_snapshots.id'], name=op.f('fk_training_model_outcomes_snapshot_id_training_snapshots')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_training_model_outcomes')),
    sa.UniqueConstraint('model_id', 'snapshot_id', name='uq_training_model_outcomes_model_snapshot')
    )
    _move_uses_into_ledger()
    with op.batch_alter_table('training_set_uses', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_training_set_uses_subject_id'))
    op.drop_table('training_set_uses')


def _tables():
    return dict(
        uses=sa.table('training_set_uses', sa.column('id', sa.Integer), sa.column('subject_id', sa.String),
                      sa.column('dataset', sa.String), sa.column('snapshot', sa.String),
                      sa.column('record_count', sa.Integer), sa.column('used_on', sa.Date),
                      sa.column('model', sa.String), sa.column('removal_required_at', sa.DateTime(timezone=True)),
                      sa.column('removal_request_id', sa.String)),
        datasets=sa.table('training_datasets', sa.column('id', sa.Integer), sa.column('name', sa.String),
                          sa.column('purpose', sa.String), sa.column('source_categories', sa.JSON)),
        snapshots=sa.table('training_snapshots', sa.column('id', sa.Integer), sa.column('dataset_id', sa.Integer),
                           sa.column('name', sa.String), sa.column('created_on', sa.Date),
                           sa.column('source_categories', sa.JSON), sa.column('member_count', sa.Integer)),
        members=sa.table('training_snapshot_members', sa.column('snapshot_id', sa.Integer),
                         sa.column('subject_id', sa.String), sa.column('record_count', sa.Integer)),
        models=sa.table('training_models', sa.column('id', sa.Integer), sa.column('name', sa.String),
                        sa.column('version', sa.String), sa.column('trained_on', sa.Date)),
        links=sa.table('training_model_snapshots', sa.column('model_id', sa.Integer),
                       sa.column('snapshot_id', sa.Integer)),
        removals=sa.table('training_removals', sa.column('snapshot_id', sa.Integer), sa.column('subject_id', sa.String),
                          sa.column('cause', sa.String), sa.column('request_id', sa.String),
                          sa.column('marked_at', sa.DateTime(timezone=True))),
    )


def _move_uses_into_ledger():
    """Each data set, snapshot and model named by the records of use becomes a row; each record a
    member; each record an erasure marked a removal caused by that erasure. Models had no
    version: they get an empty one."""
    t = _tables()
    bind = op.get_bind()
    uses = bind.execute(sa.select(t['uses']).order_by(t['uses'].c.used_on, t['uses'].c.id)).all()
    if not uses:
        return
    dataset_ids, snapshot_ids, model_ids = {}, {}, {}
    for use in uses:
        if use.dataset not in dataset_ids:
            dataset_ids[use.dataset] = len(dataset_ids) + 1
            bind.execute(t['datasets'].insert().values(id=dataset_ids[use.dataset], name=use.dataset,
                                                       purpose=MIGRATED_PURPOSE, source_categories=[]))
        key = (use.dataset, use.snapshot)
        if key not in snapshot_ids:
            snapshot_ids[key] = len(snapshot_ids) + 1
            count = sum(1 for u in uses if (u.dataset, u.snapshot) == key)
            bind.execute(t['snapshots'].insert().values(id=snapshot_ids[key], dataset_id=dataset_ids[use.dataset],
                                                        name=use.snapshot, created_on=use.used_on,
                                                        source_categories=[], member_count=count))
        if use.model not in model_ids:
            model_ids[use.model] = len(model_ids) + 1
            bind.execute(t['models'].insert().values(id=model_ids[use.model], name=use.model, version='',
                                                     trained_on=use.used_on))
    links = {(model_ids[u.model], snapshot_ids[(u.dataset, u.snapshot)]) for u in uses}
    bind.execute(t['links'].insert(), [{'model_id': m, 'snapshot_id': s} for m, s in sorted(links)])
    bind.execute(t['members'].insert(), [{'snapshot_id': snapshot_ids[(u.dataset, u.snapshot)],
                                          'subject_id': u.subject_id, 'record_count': u.record_count} for u in uses])
    marked = [{'snapshot_id': snapshot_ids[(u.dataset, u.snapshot)], 'subject_id': u.subject_id, 'cause': 'erasure',
               'request_id': u.removal_request_id, 'marked_at': u.removal_required_at}
              for u in uses if u.removal_required_at is not None]
    if marked:
        bind.execute(t['removals'].insert(), marked)
    if bind.dialect.name == 'postgresql':  # the ids were given: move the sequences past them
        for table in ('training_datasets', 'training_snapshots', 'training_models'):
            bind.execute(sa.text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                                 f"(SELECT max(id) FROM {table}))"))


def downgrade():
    op.create_table('training_set_uses',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('subject_id', sa.String(length=32), nullable=False),
    sa.Column('dataset', sa.String(length=120), nullable=False),
    sa.Column('snapshot', sa.String(length=120), nullable=False),
    sa.Column('record_count', sa.Integer(), nullable=False),
    sa.Column('used_on', sa.Date(), nullable=False),
    sa.Column('model', sa.String(length=120), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
    sa.Column('removal_required_at', sa.DateTime(timezone=True), nullable=True, comment='an erasure covered this use: its data must be removed from the set and its models'),
    sa.Column('removal_request_id', sa.String(length=32), nullable=True, comment='the erasure that asked for the removal'),
    sa.ForeignKeyConstraint(['subject_id'], ['employees.id'], name=op.f('fk_training_set_uses_subject_id_employees'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['removal_request_id'], ['data_requests.id'], name=op.f('fk_training_set_uses_removal_request_id_data_requests'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_training_set_uses')),
    sa.UniqueConstraint('subject_id', 'dataset', 'snapshot', name='uq_training_set_uses_subject_snapshot')
    )
    with op.batch_alter_table('training_set_uses', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_training_set_uses_subject_id'), ['subject_id'], unique=False)
    op.execute(
        "INSERT INTO training_set_uses (subject_id, dataset, snapshot, record_count, used_on, model, "
        "removal_required_at, removal_request_id) "
        "SELECT m.subject_id, d.name, s.name, COALESCE(m.record_count, 0), s.created_on, "
        "COALESCE((SELECT min(tm.name) FROM training_model_snapshots ms JOIN training_models tm "
        "ON tm.id = ms.model_id WHERE ms.snapshot_id = s.id), ''), r.marked_at, r.request_id "
        "FROM training_snapshot_members m JOIN training_snapshots s ON s.id = m.snapshot_id "
        "JOIN training_datasets d ON d.id = s.dataset_id "
        "LEFT JOIN training_removals r ON r.snapshot_id = m.snapshot_id AND r.subject_id = m.subject_id")
    op.drop_table('training_model_outcomes')
    with op.batch_alter_table('training_removals', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_training_removals_subject_id'))
    op.drop_table('training_removals')
    with op.batch_alter_table('training_snapshot_members', schema=None) as batch_op:
        batch_op.drop_index('ix_training_snapshot_members_subject')
    op.drop_table('training_snapshot_members')
    with op.batch_alter_table('training_model_snapshots', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_training_model_snapshots_snapshot_id'))
    op.drop_table('training_model_snapshots')
    op.drop_table('training_snapshots')
    op.drop_table('training_models')
    op.drop_table('training_datasets')
