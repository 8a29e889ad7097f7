"""Tests of edgebox/screens/."""
