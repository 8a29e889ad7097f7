"""The `edgebox` command and its subcommands: run, demo, status, sync, iptv."""
