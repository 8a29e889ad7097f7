"""The update agent on a real system (RAUC, systemd) and what it shows: `update` in /api/status
and on the status page, and `edgebox_update_*` in /metrics. The runtime starts it."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from edgebox.core.config import UpdateConfig
from edgebox.core.errors import UpdateError
from edgebox.update import verify
from edgebox.update.agent import Hooks, UpdateAgent, UpdateStatus

# A root path unit (edgebox-update-reboot.path) reboots when this file appears: the gateway
# itself holds no privilege to reboot.
REBOOT_REQUEST = "reboot-requested"


class UpdateCollector(Collector):
    def __init__(self, status: UpdateStatus) -> None:
        self.status = status

    def collect(self) -> Iterator[GaugeMetricFamily]:
        s = self.status
        state = GaugeMetricFamily(
            "edgebox_update_state",
            "The update agent's state (1 for the current one)",
            labels=["state", "running", "offered"],
        )
        state.add_metric([s.state, s.running, s.offered or ""], 1)
        yield state
        yield GaugeMetricFamily(
            "edgebox_update_download_bytes", "Bytes of the offered bundle on the box", s.bytes_done
        )
        yield GaugeMetricFamily(
            "edgebox_update_bundle_bytes", "Size of the offered bundle", s.bytes_total
        )
        yield GaugeMetricFamily(
            "edgebox_update_chunk_bytes",
            "Bytes of chunks fetched from the channel for a chunked install",
            s.chunk_bytes,
        )
        yield GaugeMetricFamily(
            "edgebox_update_rollbacks",
            "Releases that did not come up healthy here and were rolled back",
            1 if s.rolled_back else 0,
        )


def _run(*argv: str) -> None:
    result = subprocess.run(list(argv), capture_output=True, text=True, check=False)
    if result.returncode != 0:
        said = [line for line in (result.stderr or result.stdout).splitlines() if line.strip()]
        detail = said[-1] if said else f"exit status {result.returncode}"
        raise UpdateError(f"`{' '.join(argv[:2])}` failed: {detail}")


BLESS_UNIT = "systemd-bless-boot.service"


def is_blessed(bless_unit: str, boot_complete: str) -> bool:
    """From `systemctl show -p WantedBy -p ActiveState` of systemd-bless-boot.service and the
    state of boot-complete.target. A boot that counts tries has the unit pulled into
    basic.target by its generator, and is blessed once the unit has renamed the entry, not
    when boot-complete.target is reached just before; a boot that counts none has nothing to
    rename."""
    fields = dict(line.split("=", 1) for line in bless_unit.splitlines() if "=" in line)
    if "basic.target" in fields.get("WantedBy", "").split():
        return fields.get("ActiveState") == "active"
    return boot_complete == "active"


def system_hooks(directory: Path, idle: Callable[[], bool]) -> Hooks:
    """RAUC over D-Bus (allowed to the edgebox user by the image's policy), systemd for the
    blessing, and a file that the root path unit turns into a reboot."""

    def reboot() -> None:
        (directory / REBOOT_REQUEST).write_text("update\n")

    def blessed() -> bool:
        shown = subprocess.run(
            ["systemctl", "show", "-p", "WantedBy", "-p", "ActiveState", BLESS_UNIT],
            capture_output=True,
            text=True,
            check=False,
        )
        complete = subprocess.run(
            ["systemctl", "is-active", "boot-complete.target"],
            capture_output=True,
            text=True,
            check=False,
        )
        return is_blessed(shown.stdout, complete.stdout.strip())

    return Hooks(
        check=verify.check_bundle,
        install=lambda bundle: _run("rauc", "install", str(bundle)),
        reboot=reboot,
        blessed=blessed,
        idle=idle,
    )


def open_agent(
    config: UpdateConfig, sn_number: str, cache_directory: Path, idle: Callable[[], bool]
) -> UpdateAgent:
    """The agent with the system's hooks, its files under the cache's `update/`; a reboot request
    left by an earlier run is dropped, since this start is that reboot or came after it."""
    directory = cache_directory / "update"
    (directory / REBOOT_REQUEST).unlink(missing_ok=True)
    return UpdateAgent(
        config,
        sn_number=sn_number,
        directory=directory,
        http=httpx.AsyncClient(timeout=httpx.Timeout(30.0), follow_redirects=True),
        hooks=system_hooks(directory, idle),
    )
