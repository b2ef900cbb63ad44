"""Workspace inbox indexes: keyset paging by due date, search by phone

Revision ID: 7c41e2a9d0b5
Revises: db3c7014aada
Create Date: 2026-05-01 12:00:00

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '7c41e2a9d0b5'
down_revision = 'db3c7014aada'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('application', schema=None) as batch_op:
        batch_op.create_index('ix_application_queue', ['municipality_id', 'due_at', 'id'], unique=False)
        batch_op.create_index('ix_application_applicant_phone', ['municipality_id', 'applicant_phone'], unique=False)


def downgrade():
    with op.batch_alter_table('application', schema=None) as batch_op:
        batch_op.drop_index('ix_application_applicant_phone')
        batch_op.drop_index('ix_application_queue')
