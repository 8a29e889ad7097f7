#!/opt/edgebox/bin/python
"""`edgebox-healthy`: succeeds once the box answers /healthz on its LAN port, within a deadline.

Run by edgebox-healthy.service before boot-complete.target, so that a boot on trial is blessed
only when the gateway actually serves. Installed with the venv's Python, so it reads the venue
file with edgebox's own loader and asks the address `edgebox status` would.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import httpx

from edgebox.cli.status_cmd import box_url
from edgebox.core import config
from edgebox.core.errors import ConfigError


def wait_healthy(url: str, deadline: float, interval: float = 2.0) -> str | None:
    """None once `url` answers 200 {"status": "ok"}; else what the last attempt saw."""
    give_up = time.monotonic() + deadline
    last = "no attempt"
    while True:
        try:
            response = httpx.get(url, timeout=5)
            if response.status_code == 200 and response.json().get("status") == "ok":
                return None
            last = f"answered {response.status_code}"
        except (httpx.HTTPError, ValueError) as exc:
            last = str(exc) or type(exc).__name__
        if time.monotonic() + interval > give_up:
            return last
        time.sleep(interval)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="edgebox-healthy", description=__doc__.split("\n")[0])
    parser.add_argument("--config", type=Path, default=Path("/etc/edgebox/venue.toml"))
    parser.add_argument("--deadline", type=float, default=180.0, help="seconds to wait")
    args = parser.parse_args(argv)
    try:
        cfg = config.load(args.config)
    except ConfigError as exc:
        print(f"{args.config}: {'; '.join(exc.problems)}", file=sys.stderr)
        return 1
    url = box_url(cfg) + "/healthz"
    problem = wait_healthy(url, args.deadline)
    if problem is not None:
        print(f"{url}: not healthy within {args.deadline:.0f} s ({problem})", file=sys.stderr)
        return 1
    print(f"{url}: healthy")
    return 0


if __name__ == "__main__":
    sys.exit(main())
