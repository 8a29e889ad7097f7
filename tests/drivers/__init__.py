"""Tests of edgebox/drivers/."""
