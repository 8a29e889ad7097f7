"""Tests of edgebox/hub/."""
