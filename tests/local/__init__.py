"""Tests of edgebox/local/."""
