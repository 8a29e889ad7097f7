"""The floor every other layer stands on: errors, values, config, backoff, metrics, JSON limits."""
