"""office: receipt codes, staged uploads, substitutes, transition details

Revision ID: 1e32a853a92f
Revises: 7c41e2a9d0b5
Create Date: 2026-11-29 23:06:12.057352

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '1e32a853a92f'
down_revision = '7c41e2a9d0b5'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('staged_upload',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('submission_token', sa.String(length=64), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('requirement_key', sa.String(length=64), nullable=False),
    sa.Column('original_name', sa.String(length=255), nullable=False),
    sa.Column('content_type', sa.String(length=100), nullable=False),
    sa.Column('size', sa.BigInteger(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('storage_key', sa.String(length=255), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('municipality_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['municipality_id'], ['municipality.id'], ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['user_id'], ['ab_user.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('storage_key')
    )
    with op.batch_alter_table('staged_upload', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_staged_upload_created_at'), ['created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_staged_upload_municipality_id'), ['municipality_id'], unique=False)
        batch_op.create_index('ix_staged_upload_token', ['submission_token', 'user_id'], unique=False)

    op.create_table('substitution',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('absent_id', sa.Integer(), nullable=False),
    sa.Column('substitute_id', sa.Integer(), nullable=False),
    sa.Column('starts_on', sa.Date(), nullable=False),
    sa.Column('ends_on', sa.Date(), nullable=False),
    sa.Column('reason', sa.String(length=200), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('cancelled_at', sa.DateTime(), nullable=True),
    sa.Column('municipality_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['absent_id'], ['ab_user.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['created_by_id'], ['ab_user.id'], ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['municipality_id'], ['municipality.id'], ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['substitute_id'], ['ab_user.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('substitution', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_substitution_absent_id'), ['absent_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_substitution_municipality_id'), ['municipality_id'], unique=False)
        batch_op.create_index('ix_substitution_substitute', ['substitute_id', 'starts_on', 'ends_on'], unique=False)

    op.create_table('pending_receipt_code',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('application_id', sa.Integer(), nullable=False),
    sa.Column('sealed_code', sa.String(length=512), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('municipality_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['application_id'], ['application.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['created_by_id'], ['ab_user.id'], ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['municipality_id'], ['municipality.id'], ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('application_id')
    )
    with op.batch_alter_table('pending_receipt_code', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_pending_receipt_code_municipality_id'), ['municipality_id'], unique=False)

    with op.batch_alter_table('transition_record', schema=None) as batch_op:
        # Rows written before this revision changed nothing worth detailing: an empty object.
        batch_op.add_column(sa.Column('details', sa.JSON(), nullable=False, server_default='{}'))
        batch_op.add_column(sa.Column('on_behalf_of_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key('fk_transition_record_on_behalf_of_id', 'ab_user', ['on_behalf_of_id'], ['id'], ondelete='SET NULL')



def downgrade():
    with op.batch_alter_table('transition_record', schema=None) as batch_op:
        batch_op.drop_constraint('fk_transition_record_on_behalf_of_id', type_='foreignkey')
        batch_op.drop_column('on_behalf_of_id')
        batch_op.drop_column('details')

    with op.batch_alter_table('pending_receipt_code', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_pending_receipt_code_municipality_id'))

    op.drop_table('pending_receipt_code')
    with op.batch_alter_table('substitution', schema=None) as batch_op:
        batch_op.drop_index('ix_substitution_substitute')
        batch_op.drop_index(batch_op.f('ix_substitution_municipality_id'))
        batch_op.drop_index(batch_op.f('ix_substitution_absent_id'))

    op.drop_table('substitution')
    with op.batch_alter_table('staged_upload', schema=None) as batch_op:
        batch_op.drop_index('ix_staged_upload_token')
        batch_op.drop_index(batch_op.f('ix_staged_upload_municipality_id'))
        batch_op.drop_index(batch_op.f('ix_staged_upload_created_at'))

    op.drop_table('staged_upload')
