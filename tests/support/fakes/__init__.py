"""Stand-ins for what lives outside the box: the cloud and the panel hardware."""
