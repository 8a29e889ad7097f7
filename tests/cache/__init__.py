"""Tests of edgebox/cache/."""
