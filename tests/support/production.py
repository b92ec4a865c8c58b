"""Settings production accepts (app/settings.py refuses weak keys and an empty METRICS_TOKEN there)."""
PRODUCTION_SECRET_KEY = "3f9c1e7a5b2d8046" * 4  # 64 characters, 16 distinct: what token_hex(32) looks like
METRICS_TOKEN = "metrics-token-for-tests"
