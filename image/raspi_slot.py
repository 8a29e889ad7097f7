#!/usr/bin/python3
"""`edgebox-raspi-slot`: the A/B slot switch of a Raspberry Pi 4 box, through the firmware's own
`autoboot.txt` and its one-shot `tryboot` flag.

The five operations of a RAUC custom bootloader backend (RAUC's `bootloader=custom`, with this
script as `bootloader-custom-backend`), slots named `a` and `b`:

    get-primary            the slot the next boot tries (a trial pending, else the committed one)
    set-primary SLOT       the committed slot stays; SLOT becomes the trial of the next
                           `reboot "0 tryboot"` (setting the committed slot cancels a trial)
    get-state SLOT         good or bad
    set-state SLOT STATE   good on the slot on trial that runs commits it (autoboot.txt's [all]);
                           bad drops its trial
    get-current            the slot that runs, from the kernel's root=PARTUUID

autoboot.txt is the only file the firmware reads to choose, and only two things write it: a
trial (its `[tryboot]` section) and a commit (its `[all]` section, after the slot on trial booted
and was blessed). The firmware clears the tryboot flag as it boots, so any reset during a trial
(a power cut, a panic, the watchdog, a failed health check's reboot) boots the committed slot.
Each write goes to a temporary name, is synced, then renamed over the old one; were autoboot.txt
ever torn, the firmware boots partition 1, slot a's, which is always a complete boot partition.

Standard library only (and util-linux's lsblk), run as root by the system Python.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

SLOTS = ("a", "b")
BOOT_PARTITIONS = {"a": 1, "b": 2}  # GPT partition numbers: boot-a, boot-b
STATES = ("good", "bad")
AUTOBOOT = "autoboot.txt"
STATE_FILE = "edgebox-slots.json"  # beside autoboot.txt: each slot's state and a pending trial
BOOT = Path("/efi")  # boot-a, mounted where the root's fstab mounts the ESP on a UEFI box

_ROOT_ARG = re.compile(r"(?:^|\s)root=PARTUUID=(?P<uuid>[0-9A-Fa-f-]+)(?:\s|$)")


class SlotError(Exception):
    """Why an operation was refused; nothing was written."""


def other(slot: str) -> str:
    return SLOTS[1 - SLOTS.index(slot)]


def check_slot(slot: str) -> str:
    if slot not in SLOTS:
        raise SlotError(f"slot {slot!r}: one of {', '.join(SLOTS)}")
    return slot


def autoboot_txt(primary: str) -> str:
    """Boot `primary`; with the tryboot flag set, boot the other slot once."""
    check_slot(primary)
    return (
        "# edgebox: the committed slot boots; the other only once, after `reboot '0 tryboot'`.\n"
        "[all]\n"
        "tryboot_a_b=1\n"
        f"boot_partition={BOOT_PARTITIONS[primary]}\n"
        "[tryboot]\n"
        f"boot_partition={BOOT_PARTITIONS[other(primary)]}\n"
    )


def parse_autoboot(text: str) -> tuple[str, str]:
    """(committed slot, slot on tryboot) from autoboot.txt."""
    by_number = {number: slot for slot, number in BOOT_PARTITIONS.items()}
    section = "all"
    found: dict[str, str] = {}
    tryboot_a_b = False
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1]
            continue
        key, _, value = line.partition("=")
        if key.strip() == "tryboot_a_b" and section == "all":
            tryboot_a_b = value.strip() == "1"
        elif key.strip() == "boot_partition" and section in ("all", "tryboot"):
            number = int(value) if value.strip().isdigit() else -1
            if number not in by_number:
                raise SlotError(f"{AUTOBOOT}: boot_partition={value.strip()} is not a boot slot")
            found[section] = by_number[number]
    if not tryboot_a_b or set(found) != {"all", "tryboot"} or found["all"] == found["tryboot"]:
        raise SlotError(f"{AUTOBOOT}: not an edgebox A/B autoboot.txt ({found})")
    return found["all"], found["tryboot"]


def current_slot(cmdline: str, lsblk: dict[str, Any]) -> str:
    """From /proc/cmdline and `lsblk --json -o PARTLABEL,PARTUUID`: the root slot that runs."""
    match = _ROOT_ARG.search(cmdline)
    if match is None:
        raise SlotError("the kernel command line has no root=PARTUUID=…")
    wanted = match["uuid"].lower()
    for part in _partitions(lsblk.get("blockdevices") or ()):
        if (part.get("partuuid") or "").lower() == wanted:
            label = part.get("partlabel") or ""
            if label in (f"root-{s}" for s in SLOTS):
                return label[-1]
            raise SlotError(f"the root partition is {label!r}, not root-a or root-b")
    raise SlotError(f"no partition has the root PARTUUID {wanted}")


def _partitions(devices: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for device in devices:
        yield device
        yield from _partitions(device.get("children") or ())


def _write(path: Path, text: str) -> None:
    """Through a temporary name, synced before and after the rename."""
    partial = path.with_name(path.name + ".new")
    with open(partial, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(partial, path)
    fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Boot:
    """The boot partition that holds autoboot.txt (boot-a) and the slots' states."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def autoboot(self) -> tuple[str, str]:
        path = self.directory / AUTOBOOT
        try:
            return parse_autoboot(path.read_text())
        except FileNotFoundError:
            raise SlotError(f"no {path}: not a Raspberry Pi A/B boot partition") from None

    def states(self) -> dict[str, Any]:
        path = self.directory / STATE_FILE
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            data = {}
        except ValueError:
            data = {}  # a torn file forgets states and a pending trial, never a boot
        slots = data.get("slots") if isinstance(data, dict) else None
        states = {
            s: slots[s] if isinstance(slots, dict) and slots.get(s) in STATES else "good"
            for s in SLOTS
        }
        pending = data.get("pending") if isinstance(data, dict) else None
        return {"slots": states, "pending": pending if pending in SLOTS else None}

    def _save(self, states: dict[str, Any]) -> None:
        _write(self.directory / STATE_FILE, json.dumps(states, sort_keys=True) + "\n")

    def get_primary(self) -> str:
        committed, _ = self.autoboot()
        pending = self.states()["pending"]
        return pending if pending is not None and pending != committed else committed

    def set_primary(self, slot: str) -> None:
        check_slot(slot)
        committed, trial = self.autoboot()
        states = self.states()
        states["pending"] = None if slot == committed else slot
        self._save(states)
        if trial != other(committed):  # never reached by this script's own writes
            _write(self.directory / AUTOBOOT, autoboot_txt(committed))

    def get_state(self, slot: str) -> str:
        return str(self.states()["slots"][check_slot(slot)])

    def set_state(self, slot: str, state: str, current: str) -> None:
        """`good` for the slot on trial, while it runs, is the commit."""
        check_slot(slot)
        if state not in STATES:
            raise SlotError(f"state {state!r}: one of {', '.join(STATES)}")
        committed, _ = self.autoboot()
        states = self.states()
        states["slots"][slot] = state
        if state == "bad" and states["pending"] == slot:
            states["pending"] = None
        commit = state == "good" and slot == current and slot != committed
        if commit and states["pending"] != slot:
            raise SlotError(f"slot {slot} runs but no trial of it is pending; nothing committed")
        if commit:
            states["pending"] = None
        self._save(states)
        if commit:
            _write(self.directory / AUTOBOOT, autoboot_txt(slot))


def _current() -> str:
    lsblk = subprocess.run(
        ["lsblk", "--json", "-o", "PARTLABEL,PARTUUID"], check=True, capture_output=True, text=True
    )
    return current_slot(Path("/proc/cmdline").read_text(), json.loads(lsblk.stdout))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="edgebox-raspi-slot", description=__doc__.split("\n")[0])
    parser.add_argument("--boot", type=Path, default=BOOT, help="where boot-a is mounted")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("get-primary")
    sub.add_parser("set-primary").add_argument("slot")
    sub.add_parser("get-state").add_argument("slot")
    p = sub.add_parser("set-state")
    p.add_argument("slot")
    p.add_argument("state")
    sub.add_parser("get-current")
    args = parser.parse_args(argv)
    boot = Boot(args.boot)
    try:
        if args.command == "get-primary":
            print(boot.get_primary())
        elif args.command == "set-primary":
            boot.set_primary(args.slot)
        elif args.command == "get-state":
            print(boot.get_state(args.slot))
        elif args.command == "set-state":
            boot.set_state(args.slot, args.state, _current())
        else:
            print(_current())
    except (SlotError, OSError, subprocess.CalledProcessError) as exc:
        print(f"edgebox-raspi-slot: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
