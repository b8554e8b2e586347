"""The only code that runs user tasks: runner (one job) and supervisor (the pool)."""
