"""signed tree heads; append-only audit tables on PostgreSQL

Revision ID: 0005_tree_heads
Revises: 0004_requests
Create Date: 2026-11-23 13:50:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0005_tree_heads'
down_revision = '0004_requests'
branch_labels = None
depends_on = None

# Table -> the message its triggers raise.
APPEND_ONLY = {
    'audit_entries': 'audit entries are append-only',
    'tree_heads': 'audit tree heads are append-only',
}


def _postgresql():
    return op.get_bind().dialect.name == 'postgresql'


def upgrade():
    op.create_table('tree_heads',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('tree_size', sa.Integer(), nullable=False, comment='the number of entries (seq 1..tree_size) covered'),
    sa.Column('root_hash', sa.LargeBinary(length=32), nullable=False, comment='RFC 9162 Merkle tree hash'),
    sa.Column('signed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('key_id', sa.String(length=64), nullable=False, comment='first 16 hex digits of SHA-256 of the public key'),
    sa.Column('signature', sa.LargeBinary(length=64), nullable=False, comment='Ed25519 over the canonical head bytes'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_tree_heads'))
    )
    with op.batch_alter_table('tree_heads', schema=None) as batch_op:
        batch_op.create_index('ix_tree_heads_tree_size', ['tree_size'], unique=False)

    if _postgresql():
        # Rows of the audit tables are only ever inserted: anything else is refused by the database.
        op.execute("""
            CREATE FUNCTION portal_refuse_audit_change() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                RAISE EXCEPTION '%', TG_ARGV[0] USING ERRCODE = 'insufficient_privilege';
            END
            $$
        """)
        for table, message in APPEND_ONLY.items():
            op.execute(f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                       f"FOR EACH ROW EXECUTE FUNCTION portal_refuse_audit_change('{message}')")
            op.execute(f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
                       f"FOR EACH STATEMENT EXECUTE FUNCTION portal_refuse_audit_change('{message}')")


def downgrade():
    if _postgresql():
        for table in APPEND_ONLY:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}")
            op.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
        op.execute("DROP FUNCTION IF EXISTS portal_refuse_audit_change()")

    with op.batch_alter_table('tree_heads', schema=None) as batch_op:
        batch_op.drop_index('ix_tree_heads_tree_size')

    op.drop_table('tree_heads')
