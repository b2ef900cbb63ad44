"""account e-mails: notifications may belong to no municipality

Its own revision (it was first part of f5ce1c098834), so databases that applied that
revision before the change get it too.

Revision ID: 9c1d4e7a2b30
Revises: f5ce1c098834
Create Date: 2026-11-30 04:35:00

"""
from alembic import op
import sqlalchemy as sa


revision = '9c1d4e7a2b30'
down_revision = 'f5ce1c098834'
branch_labels = None
depends_on = None


def upgrade():
    # Account e-mails (verification, password reset) belong to no municipality.
    with op.batch_alter_table('notification', schema=None) as batch_op:
        batch_op.alter_column('municipality_id', existing_type=sa.Integer(), nullable=True)


def downgrade():
    op.execute("DELETE FROM notification WHERE municipality_id IS NULL")
    with op.batch_alter_table('notification', schema=None) as batch_op:
        batch_op.alter_column('municipality_id', existing_type=sa.Integer(), nullable=False)
