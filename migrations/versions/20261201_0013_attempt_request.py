"""the create-and-confirm request a payment attempt sent, kept until the attempt settles, so that an attempt whose
answer was lost can be sent again with the same key and the same parameters

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-01 12:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('payment_attempt', schema=None) as batch_op:
        batch_op.add_column(sa.Column('request', sa.Text(), nullable=True))


def downgrade():
    with op.batch_alter_table('payment_attempt', schema=None) as batch_op:
        batch_op.drop_column('request')
