"""Tests of edgebox/sim/: the simulated cloud keeps to the documents."""
