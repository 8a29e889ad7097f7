"""The venue file of a box with its cloud switched off, serving on 127.0.0.1: what the power-cut
harness and the benchmarks start `edgebox run` with."""

from __future__ import annotations

from pathlib import Path


def offline_venue(name: str, data: Path, port: int, *, admin_token: str | None = None) -> str:
    """TOML text; append further tables (canvases, panels) to it as needed."""
    token = f'admin_token = "{admin_token}"\n' if admin_token is not None else ""
    return f"""venue = "{name}"
[cloud]
base_url = "http://127.0.0.1:9/api/v1"
ws_url = "ws://127.0.0.1:9/ws/cloud/tb_device/"
username = "box"
password = "x"
enabled = false
[device]
sn_number = "{name.upper()}"
[cache]
directory = "{data}"
[lan]
host = "127.0.0.1"
port = {port}
{token}"""
