"""append-only audit tables on SQLite too

Revision ID: 0010_sqlite_audit_triggers
Revises: 0009_export_erased_by
Create Date: 2026-12-04 14:00:00.000000

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '0010_sqlite_audit_triggers'
down_revision = '0009_export_erased_by'
branch_labels = None
depends_on = None

# Table -> the message its triggers raise (the same as PostgreSQL's, migrations 0005 and 0006).
APPEND_ONLY = {
    'audit_entries': 'audit entries are append-only',
    'tree_heads': 'audit tree heads are append-only',
    'audit_tree_nodes': 'audit tree nodes are append-only',
}


def _sqlite():
    return op.get_bind().dialect.name == 'sqlite'


def upgrade():
    if not _sqlite():
        return  # PostgreSQL has its own triggers since 0005
    # SQLite has no TRUNCATE: a DELETE without WHERE runs the DELETE trigger for every row.
    for table, message in APPEND_ONLY.items():
        for action in ('UPDATE', 'DELETE'):
            op.execute(f"CREATE TRIGGER {table}_no_{action.lower()} BEFORE {action} ON {table} "
                       f"BEGIN SELECT RAISE(ABORT, '{message}'); END")


def downgrade():
    if not _sqlite():
        return
    for table in APPEND_ONLY:
        for action in ('update', 'delete'):
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_{action}")
