"""The one place that builds the box: its parts, the supervisor, the wiring of services, systemd."""
