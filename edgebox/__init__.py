"""edgebox: the on-site gateway between a cloud signage backend and a venue's displays."""

__version__ = "0.1.0"
