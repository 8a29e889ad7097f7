"""What the tests share: fixtures for the fake cloud and panels, helpers, the power-cut rig."""
