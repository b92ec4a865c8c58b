"""orders record the cart and client address that placed them, so unpaid stock holds can be capped per each

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30 15:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('order', schema=None) as batch_op:
        batch_op.add_column(sa.Column('cart_id', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('client_address', sa.String(length=45), nullable=True))
        batch_op.create_index(batch_op.f('ix_order_cart_id'), ['cart_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_order_client_address'), ['client_address'], unique=False)


def downgrade():
    with op.batch_alter_table('order', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_order_client_address'))
        batch_op.drop_index(batch_op.f('ix_order_cart_id'))
        batch_op.drop_column('client_address')
        batch_op.drop_column('cart_id')
