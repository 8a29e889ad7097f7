"""`edgebox run | demo | check-config | …`: the box's command line."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import trio

from edgebox import __version__
from edgebox.core import config
from edgebox.core.errors import ConfigError
from edgebox.runtime import wiring


def _setup_logging(verbose: bool) -> None:
    from edgebox.runtime.systemd import JournalFormatter, journal_stream

    handler = logging.StreamHandler(sys.stderr)
    if journal_stream(os.environ, sys.stderr):
        handler.setFormatter(JournalFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, handlers=[handler])
    for noisy in ("httpx", "httpcore", "trio-websocket", "hypercorn.error"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def _load_or_report(path: Path) -> config.VenueConfig | None:
    try:
        return config.load(path)
    except ConfigError as exc:
        print(f"{path}: {len(exc.problems)} problem(s)", file=sys.stderr)
        for problem in exc.problems:
            print(f"  {problem}", file=sys.stderr)
        return None


def cmd_check_config(args: argparse.Namespace) -> int:
    cfg = _load_or_report(args.file)
    if cfg is None:
        return 1
    print(
        f"{args.file}: ok (venue {cfg.venue!r}, device {cfg.device.sn_number!r},"
        f" {len(cfg.canvases)} canvas(es), {len(cfg.panels)} panel(s))"
    )
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    cfg = _load_or_report(args.config)
    if cfg is None:
        return 1
    os.umask(0o077)

    async def main() -> None:
        from edgebox.runtime.systemd import Notifier

        box = await wiring.open_box(cfg)
        box.notifier = Notifier.from_environ(os.environ)

        def ready(box: wiring.Box) -> None:
            logging.getLogger("edgebox").info("serving on %s", ", ".join(box.lan_urls))

        await wiring.run_until_signal(box, ready)

    trio.run(main)
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from edgebox.cli.demo import run_demo

    trio.run(run_demo, args.host, args.port, args.data)
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    from edgebox.cli.status_cmd import print_status

    cfg = _load_or_report(args.config)
    if cfg is None:
        return 1
    return print_status(cfg, as_json=args.json)


def cmd_sync(args: argparse.Namespace) -> int:
    from edgebox.cli import sync_cmd

    cfg = _load_or_report(args.config)
    if cfg is None:
        return 1
    return sync_cmd.run(cfg, as_json=args.json)


def cmd_iptv(args: argparse.Namespace) -> int:
    from edgebox.cli import iptv_cmd

    cfg = _load_or_report(args.config)
    if cfg is None:
        return 1
    return iptv_cmd.run(cfg, args)


def cmd_panel_sim(args: argparse.Namespace) -> int:
    from edgebox.sim.panel import VirtualPanel, run_panel_sim

    panel = VirtualPanel(
        args.width,
        args.height,
        args.protocol,
        path=args.path,
        wiring=args.wiring,
        color_order=args.color_order,
    )
    trio.run(run_panel_sim, panel, args.png)
    return 0


def cmd_cloud_sim(args: argparse.Namespace) -> int:
    from edgebox.sim.cloud import run_cloud_sim

    trio.run(run_cloud_sim, args.host, args.port)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="edgebox", description=__doc__)
    parser.add_argument("--version", action="version", version=f"edgebox {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("run", help="run the box from a venue file")
    p.add_argument("--config", type=Path, required=True, help="the venue file (TOML)")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("check-config", help="check a venue file and list every problem")
    p.add_argument("file", type=Path)
    p.set_defaults(func=cmd_check_config)

    p = sub.add_parser("status", help="print the running box's status summary")
    p.add_argument("--config", type=Path, required=True, help="the venue file (TOML)")
    p.add_argument("--json", action="store_true", help="print the raw JSON summary")
    p.set_defaults(func=cmd_status)

    p = sub.add_parser("sync", help="sync the playlists now, with a progress bar per file")
    p.add_argument("--config", type=Path, required=True, help="the venue file (TOML)")
    p.add_argument("--json", action="store_true", help="print each progress event as JSON")
    p.set_defaults(func=cmd_sync)

    p = sub.add_parser("demo", help="run the box against a simulated cloud on this machine")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8080)
    p.add_argument("--data", type=Path, default=None, help="state directory (default: a temp dir)")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("panel-sim", help="a virtual LED panel on a pty, for a venue file's port")
    p.add_argument("--width", type=int, default=64)
    p.add_argument("--height", type=int, default=32)
    p.add_argument("--protocol", choices=("adalight", "tpm2"), default="adalight")
    p.add_argument("--wiring", choices=("progressive", "serpentine"), default="progressive")
    p.add_argument("--color-order", default="RGB")
    p.add_argument("--path", type=Path, default=None, help="a stable symlink to the pty")
    p.add_argument("--png", type=Path, default=None, help="save what the panel shows here")
    p.set_defaults(func=cmd_panel_sim)

    p = sub.add_parser("cloud-sim", help="a simulated cloud with a demo playlist, on loopback")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.set_defaults(func=cmd_cloud_sim)

    p = sub.add_parser("iptv", help="the IPTV catalog: import an M3U playlist, list devices")
    p.add_argument("--config", type=Path, required=True, help="the venue file (TOML)")
    p.set_defaults(func=cmd_iptv)
    iptv_sub = p.add_subparsers(dest="iptv_command", required=True)
    q = iptv_sub.add_parser("import", help="add or update channels from an M3U/M3U8 file")
    q.add_argument("file", type=Path)
    q.add_argument("--type", choices=("FTA", "Local", "Premium"), required=True)
    q = iptv_sub.add_parser("devices", help="list the venue's TVs")
    q.add_argument("--status", choices=("active", "expired", "disabled"), default=None)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    _setup_logging(args.verbose)
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        return 130
