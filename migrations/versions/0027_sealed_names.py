"""applications and sites sealed with the subject key, found by blind indexes under it (events, screenshots, aggregates)

Revision ID: 0027_sealed_names
Revises: 0026_statement_keys
Create Date: 2026-12-04 17:00:00.000000

Each row's clear ``application`` and ``site_domain`` become a blind index per name (a keyed HMAC
under a key derived from the subject's data key) and the names sealed with that key; the
aggregate per site and application is keyed by the blind index, its name sealed in ``label``.
Nothing is decrypted: the clear values are read, indexed, sealed, and their columns dropped. Rows
of a subject whose key is already destroyed keep no name at all (their indexes and names are
NULL; their aggregate rows go): the subject was erased.

The dropped columns' old bytes can stay in the database files' free space (and in backups taken
before): ``VACUUM`` (SQLite) or ``VACUUM FULL activity_events, screenshots, activity_targets``
(PostgreSQL) after the upgrade rewrites the files without them (README, "Backups and erasure").
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0027_sealed_names'
down_revision = '0026_statement_keys'
branch_labels = None
depends_on = None

BATCH = 5000
INDEX_COMMENT = 'the application\'s blind index (subject key)'
SITE_COMMENT = 'the site\'s blind index (subject key)'
NAMES_COMMENT = 'AES-GCM: application, site domain'
NAMED = {'activity_events': ('id', 'source_event_id', 'event-names'), 'screenshots': ('id', 'id', 'screenshot-names')}


def _cipher(subject_id):
    """The subject's cipher, or None when their key is destroyed (the migration runs in the app)."""
    from portal.crypto import KeyDestroyed, keystore

    try:
        return keystore().cipher(subject_id)
    except KeyDestroyed:
        return None


def _subjects(conn, table):
    return list(conn.execute(sa.select(table.c.subject_id).distinct().order_by(table.c.subject_id)).scalars())


def _rows(conn, table, columns, subject_id):
    """The subject's rows of ``table``, by id, a batch at a time."""
    after = None
    while True:
        query = sa.select(*columns).where(table.c.subject_id == subject_id)
        if after is not None:
            query = query.where(table.c.id > after)
        rows = conn.execute(query.order_by(table.c.id).limit(BATCH)).all()
        if not rows:
            return
        yield rows
        after = rows[-1][0]


def upgrade():
    for name in NAMED:
        with op.batch_alter_table(name, schema=None) as batch_op:
            batch_op.add_column(sa.Column('app_bidx', sa.LargeBinary(length=16), nullable=True, comment=INDEX_COMMENT))
            batch_op.add_column(sa.Column('site_bidx', sa.LargeBinary(length=16), nullable=True, comment=SITE_COMMENT))
            batch_op.add_column(sa.Column('sealed_names', sa.LargeBinary(), nullable=True, comment=NAMES_COMMENT))
    with op.batch_alter_table('activity_targets', schema=None) as batch_op:
        batch_op.add_column(sa.Column('bidx', sa.LargeBinary(length=16), nullable=True, comment="the name's blind index (subject key)"))
        batch_op.add_column(sa.Column('label', sa.LargeBinary(), nullable=True, comment='AES-GCM: the site or application name'))

    conn = op.get_bind()
    for name, (id_column, record_column, kind) in NAMED.items():
        table = sa.table(name, sa.column('id'), sa.column('subject_id'), sa.column('source_event_id'),
                         sa.column('application'), sa.column('site_domain'), sa.column('app_bidx'),
                         sa.column('site_bidx'), sa.column('sealed_names'))
        update = table.update().where(table.c.id == sa.bindparam('row_id')).values(
            app_bidx=sa.bindparam('b_app'), site_bidx=sa.bindparam('b_site'), sealed_names=sa.bindparam('b_names'))
        for subject_id in _subjects(conn, table):
            cipher = _cipher(subject_id)
            app_index = cipher.name_indexer('app') if cipher else None
            site_index = cipher.name_indexer('site') if cipher else None
            columns = [table.c.id, table.c[record_column], table.c.application, table.c.site_domain]
            for rows in _rows(conn, table, columns, subject_id):
                values = []
                for row_id, record_id, application, site in rows:
                    if cipher is None:
                        values.append({'row_id': row_id, 'b_app': None, 'b_site': None, 'b_names': None})
                        continue
                    values.append({'row_id': row_id, 'b_app': app_index(application or ''),
                                   'b_site': site_index(site) if site is not None else None,
                                   'b_names': cipher.seal_names(kind, str(record_id), application or '', site)})
                conn.execute(update, values)

    targets = sa.table('activity_targets', sa.column('subject_id'), sa.column('target_type'), sa.column('target'),
                       sa.column('bidx'), sa.column('label'))
    for subject_id in _subjects(conn, targets):
        cipher = _cipher(subject_id)
        if cipher is None:
            conn.execute(targets.delete().where(targets.c.subject_id == subject_id))
            continue
        rows = conn.execute(sa.select(targets.c.target_type, targets.c.target)
                            .where(targets.c.subject_id == subject_id)).all()
        values = []
        for target_type, target in rows:
            bidx = cipher.name_index(target_type, target)
            values.append({'s': subject_id, 't': target_type, 'n': target, 'b_bidx': bidx,
                           'b_label': cipher.seal_label(target_type, bidx, target)})
        if values:
            conn.execute(targets.update().where(targets.c.subject_id == sa.bindparam('s'),
                                                targets.c.target_type == sa.bindparam('t'),
                                                targets.c.target == sa.bindparam('n'))
                         .values(bidx=sa.bindparam('b_bidx'), label=sa.bindparam('b_label')), values)

    with op.batch_alter_table('activity_events', schema=None) as batch_op:
        batch_op.drop_index('ix_activity_events_subject_site_time')
        batch_op.drop_column('application')
        batch_op.drop_column('site_domain')
        batch_op.create_index('ix_activity_events_subject_site_time', ['subject_id', 'site_bidx', 'occurred_at', 'id'], unique=False)
    with op.batch_alter_table('screenshots', schema=None) as batch_op:
        batch_op.drop_column('application')
        batch_op.drop_column('site_domain')
    with op.batch_alter_table('activity_targets', schema=None) as batch_op:
        batch_op.drop_constraint('pk_activity_targets', type_='primary')
        batch_op.drop_column('target')
        batch_op.alter_column('bidx', existing_type=sa.LargeBinary(length=16), nullable=False)
        batch_op.create_primary_key('pk_activity_targets', ['subject_id', 'target_type', 'bidx'])


def downgrade():
    for name in NAMED:
        with op.batch_alter_table(name, schema=None) as batch_op:
            batch_op.add_column(sa.Column('application', sa.String(length=120), nullable=True))
            batch_op.add_column(sa.Column('site_domain', sa.String(length=253), nullable=True))
    with op.batch_alter_table('activity_targets', schema=None) as batch_op:
        batch_op.add_column(sa.Column('target', sa.String(length=253), nullable=True))

    conn = op.get_bind()
    for name, (id_column, record_column, kind) in NAMED.items():
        table = sa.table(name, sa.column('id'), sa.column('subject_id'), sa.column('source_event_id'),
                         sa.column('application'), sa.column('site_domain'), sa.column('sealed_names'))
        update = table.update().where(table.c.id == sa.bindparam('row_id')).values(
            application=sa.bindparam('b_app'), site_domain=sa.bindparam('b_site'))
        for subject_id in _subjects(conn, table):
            cipher = _cipher(subject_id)
            for rows in _rows(conn, table, [table.c.id, table.c[record_column], table.c.sealed_names], subject_id):
                values = []
                for row_id, record_id, sealed in rows:
                    application, site = ('', None)
                    if cipher is not None and sealed is not None:
                        application, site = cipher.open_names(kind, str(record_id), sealed)
                    values.append({'row_id': row_id, 'b_app': application, 'b_site': site})
                conn.execute(update, values)

    targets = sa.table('activity_targets', sa.column('subject_id'), sa.column('target_type'), sa.column('target'),
                       sa.column('bidx'), sa.column('label'))
    for subject_id in _subjects(conn, targets):
        cipher = _cipher(subject_id)
        rows = conn.execute(sa.select(targets.c.target_type, targets.c.bidx, targets.c.label)
                            .where(targets.c.subject_id == subject_id)).all()
        for target_type, bidx, label in rows:
            where = (targets.c.subject_id == subject_id, targets.c.target_type == target_type, targets.c.bidx == bidx)
            if cipher is None or label is None:
                conn.execute(targets.delete().where(*where))
            else:
                conn.execute(targets.update().where(*where)
                             .values(target=cipher.open_label(target_type, bytes(bidx), label)))

    with op.batch_alter_table('activity_targets', schema=None) as batch_op:
        batch_op.drop_constraint('pk_activity_targets', type_='primary')
        batch_op.drop_column('label')
        batch_op.drop_column('bidx')
        batch_op.alter_column('target', existing_type=sa.String(length=253), nullable=False)
        batch_op.create_primary_key('pk_activity_targets', ['subject_id', 'target_type', 'target'])
    with op.batch_alter_table('screenshots', schema=None) as batch_op:
        batch_op.alter_column('application', existing_type=sa.String(length=120), nullable=False)
        batch_op.drop_column('sealed_names')
        batch_op.drop_column('site_bidx')
        batch_op.drop_column('app_bidx')
    with op.batch_alter_table('activity_events', schema=None) as batch_op:
        batch_op.drop_index('ix_activity_events_subject_site_time')
        batch_op.alter_column('application', existing_type=sa.String(length=120), nullable=False)
        batch_op.drop_column('sealed_names')
        batch_op.drop_column('site_bidx')
        batch_op.drop_column('app_bidx')
        batch_op.create_index('ix_activity_events_subject_site_time', ['subject_id', 'site_domain', 'occurred_at', 'id'], unique=False)
