"""What every test tier and the benches share: one stack launcher (stack.py), one emulator launcher (emulator.py),
one shopper client (shopper.py), one way to give a run a PostgreSQL database of its own (database.py)."""
