"""Tests of edgebox/ledsign/."""
