"""IPTV for the venue's TVs: devices, channels and news, the durable catalog, request limits."""
