"""an event's category is checked against its kind (a CHECK constraint) instead of by a foreign key to data_categories

The foreign key made PostgreSQL look up and share-lock the category's row for every event stored
(a third of a COPY's work); the category is the kind's, fixed in code, and the CHECK says so for
every row at no cost, where the foreign key only said the category existed.

Revision ID: 0030_event_category_check
Revises: 0029_recipients
Create Date: 2026-12-04 23:00:00.000000

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '0030_event_category_check'
down_revision = '0029_recipients'
branch_labels = None
depends_on = None

CATEGORY_OF_KIND = ("(kind IN ('app_focus', 'site_visit') AND category = 'app_activity') OR "
                    "(kind IN ('mouse_move', 'click', 'scroll', 'key_timing') AND category = 'input_events')")


def upgrade():
    with op.batch_alter_table('activity_events', schema=None) as batch_op:
        batch_op.drop_constraint('fk_activity_events_category_data_categories', type_='foreignkey')
        batch_op.create_check_constraint('category_of_kind', CATEGORY_OF_KIND)


def downgrade():
    with op.batch_alter_table('activity_events', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_activity_events_category_of_kind'), type_='check')
        batch_op.create_foreign_key('fk_activity_events_category_data_categories', 'data_categories',
                                    ['category'], ['key'])
