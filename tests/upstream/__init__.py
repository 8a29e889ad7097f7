"""Tests of edgebox/upstream/."""
