"""Settings split by environment: base (env-driven), local, test, production."""
