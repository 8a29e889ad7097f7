"""The LED sign: its playlist model, the renderer, the player and the preview lock."""
