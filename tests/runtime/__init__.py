"""Tests of edgebox/runtime/."""
