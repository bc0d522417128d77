"""stored Merkle subtree hashes of the audit log (for O(log n) proofs)

Revision ID: 0006_audit_nodes
Revises: 0005_tree_heads
Create Date: 2026-11-23 15:10:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0006_audit_nodes'
down_revision = '0005_tree_heads'
branch_labels = None
depends_on = None

MESSAGE = 'audit tree nodes are append-only'


def _postgresql():
    return op.get_bind().dialect.name == 'postgresql'


def upgrade():
    op.create_table('audit_tree_nodes',
    sa.Column('level', sa.SmallInteger(), autoincrement=False, nullable=False),
    sa.Column('idx', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('hash', sa.LargeBinary(length=32), nullable=False),
    sa.PrimaryKeyConstraint('level', 'idx', name=op.f('pk_audit_tree_nodes'))
    )
    if _postgresql():
        # The function comes from 0005_tree_heads.
        op.execute("CREATE TRIGGER audit_tree_nodes_append_only BEFORE UPDATE OR DELETE ON audit_tree_nodes "
                   f"FOR EACH ROW EXECUTE FUNCTION portal_refuse_audit_change('{MESSAGE}')")
        op.execute("CREATE TRIGGER audit_tree_nodes_no_truncate BEFORE TRUNCATE ON audit_tree_nodes "
                   f"FOR EACH STATEMENT EXECUTE FUNCTION portal_refuse_audit_change('{MESSAGE}')")


def downgrade():
    if _postgresql():
        op.execute("DROP TRIGGER IF EXISTS audit_tree_nodes_no_truncate ON audit_tree_nodes")
        op.execute("DROP TRIGGER IF EXISTS audit_tree_nodes_append_only ON audit_tree_nodes")
    op.drop_table('audit_tree_nodes')
