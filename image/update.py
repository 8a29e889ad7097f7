#!/usr/bin/python3
"""`edgebox-update`: A/B root slots on the box, rolled back by systemd-boot's boot counting.

An update writes a bundle's root image into the slot that is not running, puts its kernel on the
ESP and, last of all, adds a boot entry with three tries. systemd-boot boots the newest entry that
has tries left and counts each try down; systemd-bless-boot makes the entry permanent once
boot-complete.target is reached, which edgebox-healthy.service holds back until the box answers
/healthz. After three failed tries the entry sorts last and the slot that ran before boots again.
Until the new entry exists nothing points at the slot being written, so a power cut at any moment
leaves the box booting what it booted before.

Installed as /usr/local/sbin/edgebox-update and run as root by the system Python: standard library
only (and util-linux's lsblk). The build host imports the same module to write bundles and the
first boot entry, so both ends agree on names and formats.
"""

from __future__ import annotations

import argparse
import dataclasses
import gzip
import hashlib
import io
import json
import os
import platform
import re
import subprocess
import sys
import tarfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any

SLOTS = ("a", "b")
TRIES = 3
ESP = Path("/efi")
BUNDLE_FORMAT = 1
BUNDLE_FILES = ("vmlinuz", "initrd.img", "root.img")
CHUNK = 1 << 20

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
    version, newest first, so the newest slot with tries left is the one that boots."""
    return (
        f"title {title} ({version}, slot {slot})\n"
        "sort-key edgebox\n"
        f"version {version}\n"
        f"linux /edgebox/{slot}/vmlinuz\n"
        f"initrd /edgebox/{slot}/initrd.img\n"
        f"options root=PARTUUID={root_partuuid} {options}\n"
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


def _sha256_file(path: Path) -> tuple[int, str]:
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return size, digest.hexdigest()


@dataclasses.dataclass(frozen=True)
class Manifest:
    version: str
    venue: str
    machine_id: str
    files: dict[str, dict[str, Any]]  # name -> {"size": bytes, "sha256": hex}

    def to_json(self) -> bytes:
        fields = {"format": BUNDLE_FORMAT, **dataclasses.asdict(self)}
        return json.dumps(fields, indent=2, sort_keys=True).encode()

    @classmethod
    def from_json(cls, raw: bytes) -> Manifest:
        try:
            data = json.loads(raw)
            if data.get("format") != BUNDLE_FORMAT:
                raise UpdateError(f"bundle format {data.get('format')!r}, expected {BUNDLE_FORMAT}")
            manifest = cls(data["version"], data["venue"], data["machine_id"], data["files"])
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise UpdateError(f"the bundle's manifest is unreadable ({exc})") from None
        missing = [name for name in BUNDLE_FILES if name not in manifest.files]
        if missing:
            raise UpdateError(f"the bundle's manifest lacks {missing}")
        return manifest


def private(path: Path) -> IO[bytes]:
    """A new file only its owner can read: a bundle holds the venue file and its credentials."""
    path.unlink(missing_ok=True)
    return os.fdopen(
        os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600), "wb"
    )


def write_bundle(
    path: Path,
    *,
    version: str,
    venue: str,
    machine_id: str,
    vmlinuz: Path,
    initrd: Path,
    root_img: Path,
) -> Manifest:
    """A tar of manifest.json, vmlinuz, initrd.img and root.img.gz, in the order `install` reads
    them; sizes and checksums are of the uncompressed files."""
    sources = {"vmlinuz": vmlinuz, "initrd.img": initrd, "root.img": root_img}
    files = {}
    for name, source in sources.items():
        size, sha = _sha256_file(source)
        files[name] = {"size": size, "sha256": sha}
    manifest = Manifest(version, venue, machine_id, files)
    packed = path.with_name(path.name + ".root.img.gz")
    try:
        with open(root_img, "rb") as src, gzip.open(private(packed), "wb", compresslevel=1) as dst:
            while chunk := src.read(CHUNK):
                dst.write(chunk)
        partial = path.with_name(path.name + ".part")
        with (
            private(partial) as out,
            tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar,
        ):
            info = tarfile.TarInfo("manifest.json")
            raw = manifest.to_json()
            info.size = len(raw)
            tar.addfile(info, io.BytesIO(raw))
            tar.add(vmlinuz, "vmlinuz")
            tar.add(initrd, "initrd.img")
            tar.add(packed, "root.img.gz")
        os.replace(partial, path)
    finally:
        packed.unlink(missing_ok=True)
    return manifest


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _check(name: str, size: int, sha: str, expected: dict[str, Any]) -> None:
    if size != expected["size"] or sha != expected["sha256"]:
        raise UpdateError(
            f"{name}: {size} bytes with sha256 {sha}, the manifest says"
            f" {expected['size']} bytes with sha256 {expected['sha256']}"
        )


def write_file(src: IO[bytes], dest: Path, expected: dict[str, Any]) -> None:
    """Stream `src` to `dest` through a temporary name, checked against the manifest."""
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
    _check(dest.name, size, digest.hexdigest(), expected)
    os.replace(partial, dest)
    _fsync_dir(dest.parent)


def write_device(src: IO[bytes], device: str, expected: dict[str, Any]) -> None:
    """Stream the root image onto a slot's partition, then read it back from the disk itself."""
    fd = os.open(device, os.O_RDWR | os.O_CLOEXEC)
    try:
        capacity = os.lseek(fd, 0, os.SEEK_END)
        if expected["size"] > capacity:
            raise UpdateError(
                f"the root image ({expected['size']} bytes) does not fit {device} ({capacity})"
            )
        os.lseek(fd, 0, os.SEEK_SET)
        digest = hashlib.sha256()
        size = 0
        while chunk := src.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
            view = memoryview(chunk)
            while view:
                view = view[os.write(fd, view) :]
        _check("root.img", size, digest.hexdigest(), expected)
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        os.lseek(fd, 0, os.SEEK_SET)
        digest = hashlib.sha256()
        left = size
        while left:
            chunk = os.read(fd, min(CHUNK, left))
            if not chunk:
                break
            digest.update(chunk)
            left -= len(chunk)
        _check(f"{device} read back", size - left, digest.hexdigest(), expected)
    finally:
        os.close(fd)


def install(bundle: Path, slots: Slots, esp: Path, machine_id: str) -> Entry:
    """Write `bundle` into the slot that is not running; return its new boot entry."""
    entries = read_entries(esp)
    current = next((e for e in entries if e.slot == slots.running), None)
    if current is None:
        raise UpdateError(f"slot {slots.running} is running but has no boot entry on {esp}")
    if current.left is not None:
        raise UpdateError(
            f"this boot ({current.name}) is still on trial; update once it is blessed"
            " (systemctl status systemd-bless-boot)"
        )
    target = other_slot(slots.running)
    entries_dir = esp / "loader" / "entries"
    seen: set[str] = set()
    with tarfile.open(bundle, mode="r|") as tar:
        members = iter(tar)
        first = next(members, None)
        if first is None or first.name != "manifest.json":
            raise UpdateError(f"{bundle}: not an edgebox bundle (no manifest.json first)")
        manifest = Manifest.from_json(_member(tar, first).read())
        if manifest.machine_id != machine_id:
            raise UpdateError(f"{bundle} was built for another box (venue {manifest.venue!r})")
        if manifest.version == current.version:
            raise NothingToDo(f"{bundle} is version {manifest.version}, which is running")
        if not manifest.version > current.version:
            raise UpdateError(
                f"{bundle} is version {manifest.version}; the running slot is {current.version}"
            )
        if any(e.version == manifest.version and e.left == 0 for e in entries):
            raise NothingToDo(f"{bundle} (version {manifest.version}) failed to boot here before")
        # Nothing may point at the target slot while it is being written.
        for entry in entries:
            if entry.slot == target:
                (entries_dir / entry.name).unlink()
        _fsync_dir(entries_dir)
        for member in members:
            if member.name in ("vmlinuz", "initrd.img"):
                write_file(
                    _member(tar, member),
                    esp / "edgebox" / target / member.name,
                    manifest.files[member.name],
                )
            elif member.name == "root.img.gz":
                with gzip.GzipFile(fileobj=_member(tar, member)) as image:
                    write_device(image, slots.devices[target], manifest.files["root.img"])
            else:
                continue
            seen.add(member.name)
    missing = {"vmlinuz", "initrd.img", "root.img.gz"} - seen
    if missing:
        raise UpdateError(f"{bundle} is incomplete: no {sorted(missing)}")
    name = entry_name(target, TRIES)
    text = entry_text(
        slot=target,
        version=manifest.version,
        root_partuuid=slots.partuuids[target],
        title=f"edgebox {manifest.venue}",
    )
    raw = text.encode()
    expected = {"size": len(raw), "sha256": hashlib.sha256(raw).hexdigest()}
    write_file(io.BytesIO(raw), entries_dir / name, expected)
    return Entry(target, name, manifest.version, TRIES, 0)


def _member(tar: tarfile.TarFile, member: tarfile.TarInfo) -> IO[bytes]:
    f = tar.extractfile(member)
    if f is None:
        raise UpdateError(f"bundle member {member.name} is not a file")
    return f


def _this_box() -> tuple[Slots, str]:
    lsblk = subprocess.run(
        ["lsblk", "--json", "-o", "PATH,PKNAME,PARTLABEL,PARTUUID"],
        check=True,
        capture_output=True,
        text=True,
    )
    slots = find_slots(Path("/proc/cmdline").read_text(), json.loads(lsblk.stdout))
    return slots, Path("/etc/machine-id").read_text().strip()


def cmd_status(_args: argparse.Namespace) -> int:
    slots, _ = _this_box()
    print(f"running slot {slots.running} ({slots.devices[slots.running]})")
    for entry in read_entries(ESP):
        mark = "*" if entry.slot == slots.running else " "
        print(f"{mark} slot {entry.slot}  {entry.version}  {entry.state}  ({entry.name})")
    return 0


def holds_bundle(path: Path) -> bool:
    """Whether `path` (a file, or a USB stick written raw) starts with an edgebox bundle."""
    try:
        with tarfile.open(path, mode="r|") as tar:
            first = next(iter(tar), None)
    except (tarfile.TarError, OSError):
        return False
    return first is not None and first.name == "manifest.json"


def cmd_install(args: argparse.Namespace) -> int:
    if args.if_bundle and not holds_bundle(args.bundle):
        print(f"{args.bundle}: no edgebox bundle; nothing to do")
        return 0
    slots, machine_id = _this_box()
    try:
        entry = install(args.bundle, slots, ESP, machine_id)
    except NothingToDo as exc:
        print(f"edgebox-update: {exc}; nothing to do")
        return 0 if args.if_bundle else 1
    print(f"slot {entry.slot} holds {entry.version}, {TRIES} tries; it boots next")
    if args.reboot:
        subprocess.run(["systemctl", "reboot"], check=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="edgebox-update", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("status", help="the slots and their boot entries")
    p.set_defaults(func=cmd_status)
    p = sub.add_parser("install", help="write a bundle into the other slot and boot it next")
    p.add_argument("bundle", type=Path, help="an update bundle (a file or a block device)")
    p.add_argument("--reboot", action="store_true", help="reboot into it once written")
    p.add_argument(
        "--if-bundle",
        action="store_true",
        help="succeed quietly when the device holds no bundle, or one with nothing to do",
    )
    p.set_defaults(func=cmd_install)
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except (UpdateError, OSError, subprocess.CalledProcessError, tarfile.TarError) as exc:
        print(f"edgebox-update: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
