"""Durable state and media files of the box."""
