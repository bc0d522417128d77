"""the exclusions feed as a change log: every start and end of an exclusion, in order

Revision ID: 0018_exclusion_log
Revises: 0017_scim
Create Date: 2026-12-04 15:20:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0018_exclusion_log'
down_revision = '0017_scim'
branch_labels = None
depends_on = None


def upgrade():
    changes = op.create_table(
        'exclusion_changes',
        sa.Column('id', sa.Integer(), nullable=False, comment='the feed\'s order; never shown'),
        sa.Column('subject_id', sa.String(length=32), nullable=False),
        sa.Column('purpose', sa.String(length=40), nullable=False, comment='ai_training, screenshot_capture, analytics'),
        sa.Column('excluded', sa.Boolean(), nullable=False, comment='true: the exclusion starts; false: it is lifted'),
        sa.Column('reason', sa.String(length=32), nullable=False, comment='consent-withdrawn, objection, restriction, erasure'),
        sa.Column('categories', sa.JSON(), nullable=True, comment="a restriction's categories; empty: all"),
        sa.Column('at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['subject_id'], ['employees.id'], name=op.f('fk_exclusion_changes_subject_id_employees'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_exclusion_changes')),
    )
    with op.batch_alter_table('exclusion_changes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_exclusion_changes_subject_id'), ['subject_id'], unique=False)
    # The exclusions in force become the log's first entries, in the order they began.
    bind = op.get_bind()
    suppressions = sa.table('suppressions', sa.column('subject_id'), sa.column('purpose'), sa.column('reason'),
                            sa.column('since', sa.DateTime(timezone=True)))
    restrictions = sa.table('restrictions', sa.column('id'), sa.column('subject_id'), sa.column('categories', sa.JSON),
                            sa.column('since', sa.DateTime(timezone=True)), sa.column('lifted_at'))
    rows = [{'subject_id': r.subject_id, 'purpose': r.purpose, 'excluded': True, 'reason': r.reason,
             'categories': None, 'at': r.since} for r in bind.execute(sa.select(suppressions))]
    rows += [{'subject_id': r.subject_id, 'purpose': 'analytics', 'excluded': True, 'reason': 'restriction',
              'categories': list(r.categories or []), 'at': r.since}
             for r in bind.execute(sa.select(restrictions).where(restrictions.c.lifted_at.is_(None)))]
    rows.sort(key=lambda row: (row['at'], row['subject_id'], row['purpose']))
    if rows:
        op.bulk_insert(changes, rows)


def downgrade():
    with op.batch_alter_table('exclusion_changes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_exclusion_changes_subject_id'))
    op.drop_table('exclusion_changes')
