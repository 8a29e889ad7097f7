"""Tests of edgebox/cli/."""
