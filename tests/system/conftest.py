"""System tier: the shop as separate processes (tests/support/stack.py), on SQLite and an embedded Valkey, or on
TEST_DATABASE_URL's server in a database of the stack's own."""
