"""Tests of edgebox/iptv/."""
