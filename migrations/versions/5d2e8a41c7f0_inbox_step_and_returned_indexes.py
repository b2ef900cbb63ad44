"""Inbox "My tasks" at a million on PostgreSQL: the open-step index carries the queue key, and
returned applications have an index by who filed them

"Unassigned at a step I may act on" read every open application at the reader's steps and
sorted them for a page (PostgreSQL underestimates the rows of a (service, version, step) and
builds a bitmap); with the queue key in the index each step is walked in order and cut at a
page. "Returned cases I filed" read every returned case of the municipality to find none of
the reader's; now it seeks them.

Revision ID: 5d2e8a41c7f0
Revises: 3b8f2c6d9e41
Create Date: 2026-12-01 03:00:00

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '5d2e8a41c7f0'
down_revision = '3b8f2c6d9e41'
branch_labels = None
depends_on = None

# Written out here, not imported: a migration must keep meaning what it meant when written.
OPEN = "status IN ('submitted', 'in_review', 'returned_for_correction')"
RETURNED = "status = 'returned_for_correction'"
QUEUE_KEY = "coalesce(due_at, '9999-12-31')"


def _partial_index(name, where, *columns):
    op.create_index(
        name,
        'application',
        list(columns),
        unique=False,
        sqlite_where=sa.text(where),
        postgresql_where=sa.text(where),
    )


def upgrade():
    # Plain index operations (no batch mode): rebuilding the table on SQLite would lose the
    # expression indexes and the name-search triggers (app/models/applications.py).
    op.drop_index('ix_application_open_step', table_name='application')
    _partial_index(
        'ix_application_open_step',
        OPEN,
        'municipality_id',
        'service_key',
        'service_version',
        'current_step',
        sa.text(QUEUE_KEY),
        'id',
    )
    _partial_index('ix_application_returned_creator', RETURNED, 'municipality_id', 'created_by_id', sa.text(QUEUE_KEY), 'id')


def downgrade():
    op.drop_index('ix_application_returned_creator', table_name='application')
    op.drop_index('ix_application_open_step', table_name='application')
    _partial_index('ix_application_open_step', OPEN, 'municipality_id', 'service_key', 'service_version', 'current_step')
