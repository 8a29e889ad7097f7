#!/usr/bin/python3
"""`edgebox-update`: A/B root slots on systemd-boot's boot counting, driven by RAUC.

RAUC (Debian's `rauc`, `rauc-service`) checks a bundle's signature against the keyring, its
compatible string against the box and writes the idle slot; this script is the rest:

- RAUC's `custom` bootloader backend (`get-primary`, `set-primary`, `get-state`, `set-state`,
  `get-current`). The slot logic lives in `SystemdBoot`: marking a slot bad deletes its boot
  entry (RAUC does it before it writes the slot, so nothing points at a half-written slot);
  making it primary copies the kernel and initramfs out of the written slot onto the ESP and
  adds, last of all, a boot entry with three tries. systemd-boot boots the newest entry that has
  tries left and counts each try down; systemd-bless-boot makes the entry permanent once
  boot-complete.target is reached, which edgebox-healthy.service holds back until the box
  answers /healthz. After three failed tries the entry sorts last and the previous slot boots.
  Another boot loader (a Raspberry Pi's tryboot) implements the same five methods.
- `check`: what every bundle passes before `rauc install` is asked: signed by the keyring,
  for this box, newer than what runs, and its payload intact (dm-verity's hash tree checked
  in user space by veritysetup, so a tampered byte is found before any byte is written).
- `pre-install`: RAUC's system handler; refuses an older or failed version even when someone
  calls `rauc install` by hand.
- `install` and `stick`: a bundle file, or the `*.raucb` on a USB stick, through `check` and
  RAUC, then a reboot.

Installed as /usr/local/sbin/edgebox-update and run as root by the system Python: standard library
only. The build host imports the same module to write the first boot entry and system.conf, so
both ends agree on names and formats.
"""

from __future__ import annotations

import argparse
import configparser
import dataclasses
import hashlib
import io
import json
import os
import platform
import re
import shutil
import struct
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import IO, Any

SLOTS = ("a", "b")
TRIES = 3
ESP = Path("/efi")
SYSTEM_CONF = Path("/etc/rauc/system.conf")
KEYRING = Path("/etc/rauc/keyring.pem")
OS_RELEASE = Path("/etc/os-release")
SPOOL = Path("/data/update")  # the data partition: bundles from a stick are copied here first
CHUNK = 1 << 20
VERITY_BLOCK = 4096

# Read-only root; console on screen and serial; any failure, in the kernel or the initramfs (which
# honours panic= too), ends in a reboot, and a reboot is what counts down a try.
KERNEL_OPTIONS_FOR = (
    "ro quiet console=tty0 console={serial},115200 panic=10 systemd.gpt_auto=0 fsck.repair=yes"
)
# The first serial port: an 8250 on a PC, a PL011 on arm64 (qemu's virt machine, many boards).
KERNEL_OPTIONS = KERNEL_OPTIONS_FOR.format(
    serial="ttyAMA0" if platform.machine() == "aarch64" else "ttyS0"
)
# No menu (a key held at power-on still shows it) and no editing of the command line.
LOADER_CONF = "timeout 0\neditor no\nauto-entries no\nauto-firmware no\nconsole-mode keep\n"

_ENTRY_NAME = re.compile(r"^edgebox-(?P<slot>[ab])(?:\+(?P<left>\d+)(?:-(?P<done>\d+))?)?\.conf$")
_ROOT_ARG = re.compile(r"(?:^|\s)root=PARTUUID=(?P<uuid>[0-9A-Fa-f-]+)(?:\s|$)")


class UpdateError(Exception):
    """What stopped an update, worded for the operator. (The box's own EdgeboxError lives in the
    venv; this runs with the system Python.)"""


class NothingToDo(UpdateError):
    """The bundle is what runs already, or it already failed to boot on this box."""


def other_slot(slot: str) -> str:
    return SLOTS[1 - SLOTS.index(slot)]


def entry_name(slot: str, tries: int | None = None) -> str:
    """`edgebox-b+3.conf` is on trial with 3 tries; `edgebox-b.conf` is blessed."""
    return f"edgebox-{slot}.conf" if tries is None else f"edgebox-{slot}+{tries}.conf"


def entry_text(
    *, slot: str, version: str, root_partuuid: str, title: str, options: str = KERNEL_OPTIONS
) -> str:
    """A Boot Loader Specification entry. systemd-boot sorts entries that share a sort-key by
    version, newest first, so the newest slot with tries left is the one that boots. RAUC finds
    the booted slot by `rauc.slot=`."""
    return (
        f"title {title} ({version}, slot {slot})\n"
        "sort-key edgebox\n"
        f"version {version}\n"
        f"linux /edgebox/{slot}/vmlinuz\n"
        f"initrd /edgebox/{slot}/initrd.img\n"
        f"options root=PARTUUID={root_partuuid} rauc.slot={slot} {options}\n"
    )


@dataclasses.dataclass(frozen=True)
class Entry:
    slot: str
    name: str
    version: str
    left: int | None  # tries left; None when blessed
    done: int

    @property
    def state(self) -> str:
        if self.left is None:
            return "good"
        return "bad" if self.left == 0 else f"on trial ({self.left} tries left)"

    @property
    def bootable(self) -> bool:
        return self.left is None or self.left > 0


def parse_entry(name: str, text: str) -> Entry | None:
    match = _ENTRY_NAME.match(name)
    if match is None:
        return None
    version = next(
        (
            line.split(None, 1)[1].strip()
            for line in text.splitlines()
            if line.startswith("version ")
        ),
        "",
    )
    left = match["left"]
    return Entry(
        match["slot"], name, version, None if left is None else int(left), int(match["done"] or 0)
    )


def read_entries(esp: Path) -> list[Entry]:
    directory = esp / "loader" / "entries"
    found = []
    for path in sorted(directory.glob("edgebox-*.conf")):
        entry = parse_entry(path.name, path.read_text())
        if entry is not None:
            found.append(entry)
    return found


@dataclasses.dataclass(frozen=True)
class Slots:
    """The running slot and, for each slot, its partition on the disk the box booted from."""

    running: str
    devices: dict[str, str]
    partuuids: dict[str, str]


def _partitions(devices: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for device in devices:
        yield device
        yield from _partitions(device.get("children") or ())


def find_slots(cmdline: str, lsblk: dict[str, Any]) -> Slots:
    """From /proc/cmdline and `lsblk --json -o PATH,PKNAME,PARTLABEL,PARTUUID`."""
    match = _ROOT_ARG.search(cmdline)
    if match is None:
        raise UpdateError("the kernel command line has no root=PARTUUID=…: not booted from a slot")
    root_uuid = match["uuid"].lower()
    parts = list(_partitions(lsblk.get("blockdevices") or ()))
    root = next((p for p in parts if (p.get("partuuid") or "").lower() == root_uuid), None)
    if root is None:
        raise UpdateError(f"no partition has the root PARTUUID {root_uuid}")
    devices: dict[str, str] = {}
    partuuids: dict[str, str] = {}
    for part in parts:
        label = part.get("partlabel") or ""
        if part.get("pkname") == root.get("pkname") and label in (f"root-{s}" for s in SLOTS):
            devices[label[-1]] = part["path"]
            partuuids[label[-1]] = part["partuuid"].lower()
    running = next((s for s, u in partuuids.items() if u == root_uuid), None)
    if running is None or set(devices) != set(SLOTS):
        raise UpdateError(f"the boot disk has no root-a and root-b pair (found {sorted(devices)})")
    return Slots(running, devices, partuuids)


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_file(src: IO[bytes], dest: Path, expected: dict[str, Any]) -> None:
    """Stream `src` to `dest` through a temporary name, checked against size and sha256."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    partial = dest.with_name(dest.name + ".new")
    digest = hashlib.sha256()
    size = 0
    with open(partial, "wb") as out:
        while chunk := src.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
            out.write(chunk)
        out.flush()
        os.fsync(out.fileno())
    if size != expected["size"] or digest.hexdigest() != expected["sha256"]:
        partial.unlink()
        raise UpdateError(
            f"{dest.name}: {size} bytes with sha256 {digest.hexdigest()}, expected"
            f" {expected['size']} bytes with sha256 {expected['sha256']}"
        )
    os.replace(partial, dest)
    _fsync_dir(dest.parent)


def copy_checked(source: Path, dest: Path) -> None:
    digest = hashlib.sha256()
    with open(source, "rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
    with open(source, "rb") as f:
        write_file(f, dest, {"size": source.stat().st_size, "sha256": digest.hexdigest()})


def boot_files(root: Path) -> tuple[Path, Path]:
    """The one kernel and initramfs a root tree's Debian installed in /boot."""
    kernels = sorted((root / "boot").glob("vmlinuz-*"))
    if len(kernels) != 1:
        raise UpdateError(f"expected one kernel in {root / 'boot'}, found {kernels}")
    release = kernels[0].name.removeprefix("vmlinuz-")
    initrd = root / "boot" / f"initrd.img-{release}"
    if not initrd.exists():
        raise UpdateError(f"no initramfs {initrd} for kernel {release}")
    return kernels[0], initrd


def image_version(os_release: str) -> str:
    for line in os_release.splitlines():
        if line.startswith("IMAGE_VERSION="):
            return line.split("=", 1)[1].strip().strip('"')
    raise UpdateError("os-release has no IMAGE_VERSION: not an edgebox system")


@dataclasses.dataclass
class SystemdBoot:
    """The boot side of the A/B slots on systemd-boot, in the words of RAUC's custom backend.

    A slot is `bad` when it has no boot entry or one without tries left, else `good`; the primary
    slot is the one systemd-boot boots next: the newest entry with tries left."""

    esp: Path
    slots: Slots
    title: str = "edgebox"

    def entries(self) -> list[Entry]:
        return read_entries(self.esp)

    def current(self) -> str:
        return self.slots.running

    def primary(self) -> str:
        bootable = [e for e in self.entries() if e.bootable]
        if not bootable:
            raise UpdateError(f"no bootable entry on {self.esp}")
        return max(bootable, key=lambda e: e.version).slot

    def state(self, slot: str) -> str:
        found = [e for e in self.entries() if e.slot == slot]
        return "good" if any(e.bootable for e in found) else "bad"

    def set_state(self, slot: str, good: bool) -> None:
        """Bad: no entry points at the slot any more. Good: its entry on trial is blessed."""
        directory = self.esp / "loader" / "entries"
        for entry in self.entries():
            if entry.slot != slot:
                continue
            if not good:
                (directory / entry.name).unlink()
            elif entry.left is not None:
                os.replace(directory / entry.name, directory / entry_name(slot))
        _fsync_dir(directory)

    def set_primary(self, slot: str, root: Path) -> Entry:
        """`root` is the slot's file system, mounted: its kernel goes to the ESP, and then the
        entry that boots it, with three tries, under a temporary name first."""
        version = image_version((root / "etc/os-release").read_text())
        kernel, initrd = boot_files(root)
        self.set_state(slot, good=False)
        copy_checked(kernel, self.esp / "edgebox" / slot / "vmlinuz")
        copy_checked(initrd, self.esp / "edgebox" / slot / "initrd.img")
        text = entry_text(
            slot=slot,
            version=version,
            root_partuuid=self.slots.partuuids[slot],
            title=self.title,
        )
        raw = text.encode()
        name = entry_name(slot, TRIES)
        write_file(
            io.BytesIO(raw),
            self.esp / "loader" / "entries" / name,
            {"size": len(raw), "sha256": hashlib.sha256(raw).hexdigest()},
        )
        return Entry(slot, name, version, TRIES, 0)

    def failed_versions(self) -> set[str]:
        return {e.version for e in self.entries() if e.left == 0}


def system_conf(*, compatible: str, partuuids: dict[str, str], store: str) -> str:
    """RAUC's view of the box: two root slots, this script as the boot loader, the keyring, and
    `store` (the update agent, on loopback) as where casync finds the chunks of a chunked
    bundle that the running slot lacks."""
    slots = "".join(
        f"\n[slot.rootfs.{n}]\n"
        f"device=/dev/disk/by-partuuid/{partuuids[f'root-{slot}']}\n"
        "type=ext4\n"
        f"bootname={slot}\n"
        for n, slot in enumerate(SLOTS)
    )
    return (
        "[system]\n"
        f"compatible={compatible}\n"
        "bootloader=custom\n"
        "bundle-formats=-plain\n"
        "data-directory=/data/rauc\n"
        "\n[keyring]\n"
        f"path={KEYRING}\n"
        "\n[handlers]\n"
        "bootloader-custom-backend=/usr/local/sbin/edgebox-update\n"
        "pre-install=/usr/local/libexec/edgebox-rauc-pre-install\n"
        "\n[casync]\n"
        f"storepath={store}\n" + slots
    )


def read_compatible(conf_text: str) -> str:
    for line in conf_text.splitlines():
        if line.startswith("compatible="):
            return line.split("=", 1)[1].strip()
    raise UpdateError("the RAUC system.conf names no compatible")


@dataclasses.dataclass(frozen=True)
class BundleInfo:
    """What `rauc info --keyring` says of a bundle whose signature it verified."""

    compatible: str
    version: str
    format: str
    verity_salt: str = ""
    verity_hash: str = ""
    verity_size: int = 0


def parse_rauc_info(text: str) -> BundleInfo:
    fields: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            fields.setdefault(key.strip(), value.strip().strip("'"))
    try:
        return BundleInfo(
            compatible=fields["Compatible"],
            version=fields["Version"],
            format=fields["Bundle Format"],
            verity_salt=fields.get("Verity Salt", ""),
            verity_hash=fields.get("Verity Hash", ""),
            verity_size=int(fields.get("Verity Size", "0")),
        )
    except (KeyError, ValueError) as exc:
        raise UpdateError(f"`rauc info` said something unexpected ({exc})") from None


def judge(info: BundleInfo, *, compatible: str, running: str, failed: Iterable[str] = ()) -> None:
    """Whether a verified bundle may be installed on this box; raises with the reason if not."""
    if info.compatible != compatible:
        raise UpdateError(
            f"the bundle is for {info.compatible!r}, this box is {compatible!r}: refused"
        )
    if info.format != "verity":
        raise UpdateError(f"the bundle format is {info.format!r}; only 'verity' is accepted")
    if info.version == running:
        raise NothingToDo(f"the bundle is version {info.version}, which is running")
    if not info.version > running:
        raise UpdateError(f"the bundle is version {info.version}, older than {running}: refused")
    if info.version in set(failed):
        raise NothingToDo(f"version {info.version} failed to boot here before")


def payload_size(bundle: Path, info: BundleInfo) -> int:
    """A verity bundle is payload, hash tree, CMS signature, and the signature's size (u64)."""
    total = bundle.stat().st_size
    with open(bundle, "rb") as f:
        f.seek(total - 8)
        (signature,) = struct.unpack(">Q", f.read(8))
    size = total - 8 - signature - info.verity_size
    if size <= 0 or size % VERITY_BLOCK:
        raise UpdateError(f"{bundle}: the sizes inside do not add up; refused")
    return size


def verify_payload(bundle: Path, info: BundleInfo) -> None:
    """Every block of the payload against the signed root hash, before RAUC opens it."""
    size = payload_size(bundle, info)
    result = subprocess.run(
        [
            *("veritysetup", "verify", "--no-superblock", f"--hash-offset={size}"),
            *(f"--data-blocks={size // VERITY_BLOCK}", f"--salt={info.verity_salt}"),
            *(str(bundle), str(bundle), info.verity_hash),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        said = (result.stderr or result.stdout).strip().splitlines()
        raise UpdateError(f"{bundle}: its payload does not match its signature ({said[-1:]})")


def rauc_info(bundle: Path, keyring: Path) -> BundleInfo:
    result = subprocess.run(
        ["rauc", f"--keyring={keyring}", "info", str(bundle)],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        said = [line for line in result.stderr.splitlines() if line.strip()]
        raise UpdateError(f"{bundle}: refused, {said[-1] if said else 'not a RAUC bundle'}")
    return parse_rauc_info(result.stdout)


def check(
    bundle: Path,
    *,
    keyring: Path = KEYRING,
    system_conf_path: Path = SYSTEM_CONF,
    os_release: Path = OS_RELEASE,
    failed: Iterable[str] = (),
) -> BundleInfo:
    """Signature, box, version, then every payload byte; the same for channel and stick."""
    info = rauc_info(bundle, keyring)
    judge(
        info,
        compatible=read_compatible(system_conf_path.read_text()),
        running=image_version(os_release.read_text()),
        failed=failed,
    )
    verify_payload(bundle, info)
    return info


def _this_box() -> Slots:
    lsblk = subprocess.run(
        ["lsblk", "--json", "-o", "PATH,PKNAME,PARTLABEL,PARTUUID"],
        check=True,
        capture_output=True,
        text=True,
    )
    return find_slots(Path("/proc/cmdline").read_text(), json.loads(lsblk.stdout))


def _boot() -> SystemdBoot:
    return SystemdBoot(ESP, _this_box())


def _mounted_slot(device: str) -> tuple[Path, list[str]]:
    target = Path(tempfile.mkdtemp(prefix="edgebox-slot-", dir="/run"))
    subprocess.run(
        ["mount", "-o", "ro,nodev,nosuid,noexec", "-t", "ext4", device, str(target)], check=True
    )
    return target, ["umount", str(target)]


def backend(command: str, args: Sequence[str]) -> int:
    """RAUC's custom bootloader backend: bootnames are the slot letters."""
    boot = _boot()

    def slot_arg() -> str:
        if not args or args[0] not in SLOTS:
            raise UpdateError(f"{command}: expected a slot ({'/'.join(SLOTS)}), got {list(args)}")
        return args[0]

    if command == "get-primary":
        print(boot.primary())
    elif command == "get-current":
        print(boot.current())
    elif command == "get-state":
        print(boot.state(slot_arg()))
    elif command == "set-state":
        if len(args) != 2 or args[1] not in ("good", "bad"):
            raise UpdateError(f"set-state: expected SLOT good|bad, got {list(args)}")
        boot.set_state(slot_arg(), good=args[1] == "good")
    elif command == "set-primary":
        slot = slot_arg()
        root, unmount = _mounted_slot(boot.slots.devices[slot])
        try:
            entry = boot.set_primary(slot, root)
        finally:
            subprocess.run(unmount, check=False)
            root.rmdir()
        print(f"slot {slot} holds {entry.version}, {TRIES} tries; it boots next", file=sys.stderr)
    return 0


def cmd_status(_args: argparse.Namespace) -> int:
    boot = _boot()
    print(f"running slot {boot.current()} ({boot.slots.devices[boot.current()]})")
    for entry in boot.entries():
        mark = "*" if entry.slot == boot.current() else " "
        print(f"{mark} slot {entry.slot}  {entry.version}  {entry.state}  ({entry.name})")
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    info = check(
        args.bundle,
        keyring=args.keyring,
        system_conf_path=args.system_conf,
        os_release=args.os_release,
    )
    print(f"{args.bundle}: version {info.version} for {info.compatible}, signed and intact")
    return 0


def parse_raucm(text: str) -> BundleInfo:
    """A bundle's manifest.raucm (an ini file) as RAUC mounted it."""
    manifest = configparser.ConfigParser(interpolation=None)
    try:
        manifest.read_string(text)
        return BundleInfo(
            compatible=manifest.get("update", "compatible"),
            version=manifest.get("update", "version"),
            format=manifest.get("bundle", "format", fallback="plain"),
        )
    except (configparser.Error, ValueError) as exc:
        raise UpdateError(f"the bundle's manifest is unreadable ({exc})") from None


def cmd_pre_install(_args: argparse.Namespace) -> int:
    """RAUC's pre-install handler: the manifest's version against what runs and what failed.
    Read from the mounted bundle: RAUC 1.8 leaves RAUC_MF_COMPATIBLE empty for this handler."""
    mount = os.environ.get("RAUC_BUNDLE_MOUNT_POINT", "")
    if not mount:
        raise UpdateError("no RAUC_BUNDLE_MOUNT_POINT: run by RAUC as its pre-install handler")
    info = parse_raucm((Path(mount) / "manifest.raucm").read_text())
    judge(
        info,
        compatible=read_compatible(SYSTEM_CONF.read_text()),
        running=image_version(OS_RELEASE.read_text()),
        failed=_boot().failed_versions(),
    )
    return 0


def install(bundle: Path, *, reboot: bool) -> int:
    info = check(bundle, failed=_boot().failed_versions())
    subprocess.run(["rauc", "install", str(bundle)], check=True)
    print(f"version {info.version} installed into the idle slot; it boots next")
    if reboot:
        subprocess.run(["systemctl", "reboot"], check=True)
    return 0


def cmd_install(args: argparse.Namespace) -> int:
    try:
        return install(args.bundle, reboot=args.reboot)
    except NothingToDo as exc:
        print(f"edgebox-update: {exc}; nothing to do")
        return 1


def cmd_stick(args: argparse.Namespace) -> int:
    """The one `*.raucb` at the top of a USB stick's file system, copied to the data partition
    (the stick may go before RAUC is done) and installed; a stick without one is left alone."""
    mount = Path(tempfile.mkdtemp(prefix="edgebox-stick-", dir="/run"))
    copy = SPOOL / "stick.raucb"
    try:
        subprocess.run(
            ["mount", "-o", "ro,nodev,nosuid,noexec", str(args.device), str(mount)], check=True
        )
        try:
            found = sorted(mount.glob("*.raucb"))
            if len(found) != 1:
                print(f"{args.device}: {len(found)} *.raucb files at the top; nothing to do")
                return 0
            SPOOL.mkdir(parents=True, exist_ok=True)
            free = shutil.disk_usage(SPOOL).free
            if found[0].stat().st_size > free - 64 * CHUNK:
                raise UpdateError(f"{found[0].name} does not fit the data partition ({free} free)")
            copy_checked(found[0], copy)
        finally:
            subprocess.run(["umount", str(mount)], check=False)
        try:
            return install(copy, reboot=args.reboot)
        except NothingToDo as exc:
            print(f"edgebox-update: {exc}; nothing to do")
            return 0
    finally:
        copy.unlink(missing_ok=True)
        mount.rmdir()


def cmd_reboot(args: argparse.Namespace) -> int:
    """The gateway's request for a reboot into an installed update: gone first, then reboot."""
    args.request.unlink(missing_ok=True)
    _fsync_dir(args.request.parent)
    subprocess.run(["systemctl", "reboot"], check=True)
    return 0


BACKEND = ("get-primary", "set-primary", "get-state", "set-state", "get-current")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    try:
        if argv and argv[0] in BACKEND:
            return backend(argv[0], argv[1:])
        parser = argparse.ArgumentParser(prog="edgebox-update", description=__doc__.split("\n")[0])
        sub = parser.add_subparsers(dest="command", required=True)
        p = sub.add_parser("status", help="the slots and their boot entries")
        p.set_defaults(func=cmd_status)
        p = sub.add_parser("check", help="whether a bundle would be installed, and why not")
        p.add_argument("bundle", type=Path)
        p.add_argument("--keyring", type=Path, default=KEYRING)
        p.add_argument("--system-conf", type=Path, default=SYSTEM_CONF)
        p.add_argument("--os-release", type=Path, default=OS_RELEASE)
        p.set_defaults(func=cmd_check)
        p = sub.add_parser("pre-install", help="RAUC's pre-install handler")
        p.set_defaults(func=cmd_pre_install)
        p = sub.add_parser("install", help="check a bundle, install it into the idle slot")
        p.add_argument("bundle", type=Path, help="a RAUC bundle (.raucb)")
        p.add_argument("--reboot", action="store_true", help="reboot into it once written")
        p.set_defaults(func=cmd_install)
        p = sub.add_parser("stick", help="install the bundle on a USB stick's file system")
        p.add_argument("device", type=Path, help="the stick's partition, e.g. /dev/sda1")
        p.add_argument("--reboot", action="store_true")
        p.set_defaults(func=cmd_stick)
        p = sub.add_parser("reboot", help="remove the update agent's request, then reboot")
        p.add_argument("request", type=Path)
        p.set_defaults(func=cmd_reboot)
        args = parser.parse_args(argv)
        return int(args.func(args))
    except (UpdateError, OSError, subprocess.CalledProcessError) as exc:
        print(f"edgebox-update: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
