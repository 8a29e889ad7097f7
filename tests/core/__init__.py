"""Tests of edgebox/core/."""
