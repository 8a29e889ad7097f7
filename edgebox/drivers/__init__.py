"""Serial LED panels: pure frame encoders, the panel model, the serial link."""
