"""`edgebox status`: the status page's summary in a terminal, read from the running box."""

from __future__ import annotations

import json
import sys
from typing import Any

import httpx

from edgebox.core.config import VenueConfig


def box_url(cfg: VenueConfig) -> str:
    host = cfg.lan.host
    if host in ("0.0.0.0", "::", ""):
        host = "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{cfg.lan.port}"


def fetch_status(cfg: VenueConfig) -> dict[str, Any]:
    token = cfg.lan.admin_token.reveal()
    response = httpx.get(
        box_url(cfg) + "/api/status",
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    response.raise_for_status()
    result: dict[str, Any] = response.json()
    return result


def _value(value: Any) -> str:
    if isinstance(value, dict | list):
        return json.dumps(value, separators=(", ", ": "))
    return "—" if value is None else str(value)


def format_status(s: dict[str, Any]) -> str:
    lines = [
        f"edgebox {s['version']}  venue {s['venue']}  device {s['sn_number']}"
        f"  up {s['uptime_s']:.0f} s",
        "ready" if s["ready"] else "NOT READY: " + "; ".join(s["not_ready"]),
        "",
        "services:",
    ]
    for name, service in s["services"].items():
        extra = f"  restarts {service['restarts']}" if service["restarts"] else ""
        error = f"  last error: {service['last_error']}" if service["last_error"] else ""
        lines.append(f"  {name:<16} {service['status']}{extra}{error}")
    lines.append(f"brightness {s['brightness']}  volume {s['volume']}")
    if s.get("overlay"):
        lines.append(f"overlay: {s['overlay']['text']!r}")
    for section in ("cloud", "cache", "iptv"):
        if isinstance(s.get(section), dict):
            lines.append(f"{section}:")
            lines.extend(f"  {k:<16} {_value(v)}" for k, v in s[section].items())
    for section in ("playlists", "panels"):
        rows = s.get(section) or []
        if rows:
            lines.append(f"{section}:")
            lines.extend("  " + "  ".join(f"{k}={_value(v)}" for k, v in r.items()) for r in rows)
    if s.get("recent_problems"):
        lines.append("recent problems:")
        lines.extend(
            f"  {p['level']} {p['logger']}: {p['message']}" for p in s["recent_problems"][-10:]
        )
    return "\n".join(lines)


def print_status(cfg: VenueConfig, *, as_json: bool) -> int:
    try:
        summary = fetch_status(cfg)
    except httpx.HTTPStatusError as exc:
        code = exc.response.status_code
        print(f"the box answered {code}: check lan.admin_token", file=sys.stderr)
        return 1
    except httpx.HTTPError as exc:
        print(f"cannot reach the box at {box_url(cfg)}: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(summary, indent=2) if as_json else format_status(summary))
    return 0
