"""The cloud, as a client: protocol, REST client, control WebSocket and sync."""
