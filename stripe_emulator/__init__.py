"""A local, stateful, Stripe-compatible server for development and tests.

Run it with ``stripe-emulator`` or ``python -m stripe_emulator``; see docs/emulator.md.
"""

API_VERSION = "2026-10-28.endive"
