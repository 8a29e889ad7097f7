"""Simulated hardware for demos and tests: what the box talks to when nothing is plugged in."""
