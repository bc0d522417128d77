"""on PostgreSQL, the monitoring tables are partitioned by subject, so that an erasure drops the
person's tables instead of leaving their deleted rows' bytes in the files

Revision ID: 0025_subject_partitions
Revises: 0024_erasure_ground
Create Date: 2026-12-04 17:10:00.000000

Each table is rebuilt as ``PARTITION BY LIST (subject_id)`` with the same columns, defaults,
checks, keys and indexes (read from the catalogue, so that columns added by earlier migrations
come along), a partition per subject that has rows, and its rows copied. A primary key that does
not hold subject_id gets it added (a partitioned table's keys must hold its partition key); the
models keep naming only ``id``. SQLite is left as it is: its deletes overwrite in place.
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0025_subject_partitions'
down_revision = '0024_erasure_ground'
branch_labels = None
depends_on = None

TABLES = ("activity_events", "activity_daily", "activity_hourly", "activity_targets", "screenshots",
          "subject_category_stats")


def _definition(conn, table):
    """The table's constraints (but NOT NULL) and its other indexes, as SQL to run again."""
    oid = conn.execute(sa.text("SELECT to_regclass(:t)::oid"), {"t": table}).scalar()
    constraints = conn.execute(sa.text(
        "SELECT conname, contype, pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = :oid "
        "AND contype IN ('p', 'u', 'f') ORDER BY contype, conname"), {"oid": oid}).all()
    indexes = conn.execute(sa.text(
        "SELECT i.relname, pg_get_indexdef(i.oid) FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid "
        "WHERE x.indrelid = :oid AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid) "
        "ORDER BY i.relname"), {"oid": oid}).all()
    return constraints, indexes


def _sequences(conn, table):
    return conn.execute(sa.text(
        "SELECT s.relname, a.attname FROM pg_depend d JOIN pg_class s ON s.oid = d.objid AND s.relkind = 'S' "
        "JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid "
        "WHERE d.refobjid = to_regclass(:t) AND d.deptype = 'a'"), {"t": table}).all()


def _rebuild(conn, table, partitioned):
    constraints, indexes = _definition(conn, table)
    sequences = _sequences(conn, table)
    old = f"{table}__old"
    subjects = [row[0] for row in conn.execute(sa.text(f'SELECT DISTINCT subject_id FROM "{table}"'))]
    partitions = [row[0] for row in conn.execute(sa.text(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "WHERE i.inhparent = to_regclass(:t)"), {"t": table})]
    conn.exec_driver_sql(f'ALTER TABLE "{table}" RENAME TO "{old}"')
    for name, _type, _definition_sql in constraints:
        conn.exec_driver_sql(f'ALTER TABLE "{old}" DROP CONSTRAINT "{name}"')
    for name, _sql in indexes:
        conn.exec_driver_sql(f'DROP INDEX "{name}"')
    like = f'(LIKE "{old}" INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING STORAGE INCLUDING COMMENTS)'
    conn.exec_driver_sql(f'CREATE TABLE "{table}" {like}' + (" PARTITION BY LIST (subject_id)" if partitioned else ""))
    for sequence, column in sequences:
        conn.exec_driver_sql(f'ALTER SEQUENCE "{sequence}" OWNED BY "{table}"."{column}"')
    if partitioned:
        for subject in subjects:
            name = f"{table}_{subject}"
            conn.exec_driver_sql(f'CREATE TABLE "{name}" (LIKE "{table}" INCLUDING DEFAULTS INCLUDING CONSTRAINTS '
                                 "INCLUDING STORAGE)")
            conn.exec_driver_sql(f"ALTER TABLE \"{table}\" ATTACH PARTITION \"{name}\" FOR VALUES IN ('{subject}')")
    conn.exec_driver_sql(f'INSERT INTO "{table}" SELECT * FROM "{old}"')
    conn.exec_driver_sql(f'DROP TABLE "{old}" CASCADE')
    for partition in partitions:  # the old partitions, now empty standalone tables
        conn.exec_driver_sql(f'DROP TABLE IF EXISTS "{partition}"')
    for name, contype, definition in constraints:
        if partitioned and contype == "p" and "subject_id" not in definition:
            definition = definition.replace(")", ", subject_id)", 1)
        if not partitioned and contype == "p" and definition.endswith(", subject_id)"):
            definition = definition[: -len(", subject_id)")] + ")"
        conn.exec_driver_sql(f'ALTER TABLE "{table}" ADD CONSTRAINT "{name}" {definition}')
    for _name, sql in indexes:
        conn.exec_driver_sql(sql.replace(f" ON public.{old} ", f" ON public.{table} "))
    conn.exec_driver_sql(f'ANALYZE "{table}"')


def upgrade():
    conn = op.get_bind()
    if conn.dialect.name != "postgresql":
        return
    for table in TABLES:
        _rebuild(conn, table, partitioned=True)


def downgrade():
    conn = op.get_bind()
    if conn.dialect.name != "postgresql":
        return
    for table in TABLES:
        _rebuild(conn, table, partitioned=False)
