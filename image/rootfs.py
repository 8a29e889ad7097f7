"""What the image holds beyond Debian's packages: the overlay tree `image/rootfs/`, the files
rendered from the venue, the venue file itself, and the trees of the ESP and the data partition.

Everything here writes into a directory and needs no chroot, so the tests lay out a root tree in
a temporary directory and check it without debootstrap.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import uuid
from collections.abc import Iterable, Sequence
from pathlib import Path, PurePosixPath

import attrs

from edgebox.core.config import VenueConfig
from edgebox.update import channel
from image import release, update
from image.arch import AMD64, Arch

HERE = Path(__file__).parent
OVERLAY = HERE / "rootfs"
VENV = PurePosixPath("/opt/edgebox")
VENUE_FILE = PurePosixPath("/etc/edgebox/venue.toml")
STATE_DIRECTORY = PurePosixPath("/var/lib/edgebox")
USER = "edgebox"
# Fixed, so that what is laid out before the user exists (the venue file, the data partition)
# already belongs to it.
UID = GID = 900
# The box's own programs beside the venv: the A/B updater and the boot health gate.
SCRIPTS = {
    "update.py": PurePosixPath("/usr/local/sbin/edgebox-update"),
    "healthy.py": PurePosixPath("/usr/local/libexec/edgebox-healthy"),
}
UNITS = (
    "edgebox.service",
    "edgebox-healthy.service",
    "edgebox-update@sda1.service",
    "edgebox-update-reboot.path",
    "edgebox-update-reboot.service",
)
RAUC_CONF = PurePosixPath("/etc/rauc/system.conf")
KEYRING = PurePosixPath("/etc/rauc/keyring.pem")

PARTITIONS = ("esp", "root-a", "root-b", "data")
# What lives on the data partition, bind-mounted where it is used: it survives updates.
DATA_MOUNTS = {
    "edgebox": PurePosixPath("/var/lib/edgebox"),
    "journal": PurePosixPath("/var/log/journal"),
    "systemd": PurePosixPath("/var/lib/systemd"),
}
_NAMESPACE = uuid.UUID("6b1f7c52-4d0e-4a59-9a43-3c9f5d1e2a80")


@attrs.frozen
class Identity:
    """The box's names, derived from its serial number: a rebuild for the same venue (an update
    bundle) keeps its machine id, so its journal and its bundles recognise each other."""

    machine_id: str
    disk_guid: str
    partuuids: dict[str, str]
    root_fs_uuid: str  # every release's root file system: see build.make_root_ext4
    root_hash_seed: str

    @classmethod
    def of(cls, sn_number: str) -> Identity:
        def derived(what: str) -> str:
            return str(uuid.uuid5(_NAMESPACE, f"{sn_number}/{what}"))

        return cls(
            machine_id=uuid.uuid5(_NAMESPACE, f"{sn_number}/machine-id").hex,
            disk_guid=derived("disk"),
            partuuids={label: derived(label) for label in PARTITIONS},
            root_fs_uuid=derived("root-fs"),
            root_hash_seed=derived("root-fs-hash-seed"),
        )


def image_problems(cfg: VenueConfig) -> list[str]:
    """What a venue file that `edgebox check-config` accepts still needs to run in the image."""
    problems = []
    directory = PurePosixPath(cfg.cache.directory)
    if directory != STATE_DIRECTORY and STATE_DIRECTORY not in directory.parents:
        problems.append(
            f"cache.directory: must be {STATE_DIRECTORY} or below it in an image, the only"
            f" place the service may write (got {str(directory)!r})"
        )
    if cfg.lan.port == 0:
        problems.append("lan.port: must be a fixed port in an image (got 0)")
    return problems


def image_name(cfg: VenueConfig) -> str:
    """The venue's name as a file name: `out/<name>.img`."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", cfg.venue).strip("-.") or "venue"


def hostname(cfg: VenueConfig) -> str:
    name = re.sub(r"[^a-z0-9-]+", "-", cfg.venue.lower()).strip("-")
    return f"edgebox-{name}"[:63].rstrip("-") if name else "edgebox"


def fstab(identity: Identity) -> str:
    data = identity.partuuids["data"]
    esp = identity.partuuids["esp"]
    lines = [
        "# The root slot is mounted read-only by the initramfs (root=PARTUUID=… ro).",
        "# The data partition is checked at every boot and repaired without asking.",
        f"PARTUUID={data} /data ext4 rw,noatime,nosuid,nodev,noexec 0 2",
        *(f"/data/{name} {target} none bind 0 0" for name, target in DATA_MOUNTS.items()),
        "# The ESP is mounted only while the updater or systemd-bless-boot use it.",
        f"PARTUUID={esp} /efi vfat umask=0077,x-systemd.automount,x-systemd.idle-timeout=30s 0 0",
        "tmpfs /tmp tmpfs mode=1777,nosuid,nodev,size=20% 0 0",
        "tmpfs /var/tmp tmpfs mode=1777,nosuid,nodev,size=10% 0 0",
    ]
    return "\n".join(lines) + "\n"


def os_release(debian: str, version: str) -> str:
    """Debian's os-release plus the image's own fields (os-release(5) IMAGE_ID/IMAGE_VERSION)."""
    kept = [
        line for line in debian.splitlines() if not line.startswith(("IMAGE_ID=", "IMAGE_VERSION="))
    ]
    return "\n".join([*kept, "IMAGE_ID=edgebox", f"IMAGE_VERSION={version}"]) + "\n"


def low_port_dropin(cfg: VenueConfig) -> str | None:
    """A port below 1024 needs the one capability to bind it; other ports need none."""
    if cfg.lan.port >= 1024:
        return None
    return (
        "[Service]\n"
        "CapabilityBoundingSet=CAP_NET_BIND_SERVICE\n"
        "AmbientCapabilities=CAP_NET_BIND_SERVICE\n"
    )


def _place(root: Path, path: PurePosixPath | str) -> Path:
    return root / str(path).lstrip("/")


def install_file(
    dest: Path, data: bytes, mode: int = 0o644, owner: tuple[int, int] = (0, 0)
) -> None:
    """Written with its final mode from the first byte (a venue file is never readable by all)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    if dest.is_symlink() or dest.exists():
        dest.unlink()
    with os.fdopen(os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode & 0o600), "wb") as f:
        f.write(data)
    shutil.chown(dest, *owner)
    dest.chmod(mode)


def copy_tree(source: Path, root: Path) -> None:
    """Files keep only their executable bit (0755 or 0644, root's), symlinks are copied as
    links, and directories are 0755: the image does not depend on the checkout's umask."""
    for path in sorted(source.rglob("*")):
        dest = root / path.relative_to(source)
        if path.is_symlink():
            dest.parent.mkdir(parents=True, exist_ok=True)
            if dest.is_symlink() or dest.exists():
                dest.unlink()
            dest.symlink_to(path.readlink())
        elif path.is_dir():
            dest.mkdir(parents=True, exist_ok=True)
            dest.chmod(0o755)
        else:
            mode = 0o755 if path.stat().st_mode & 0o100 else 0o644
            install_file(dest, path.read_bytes(), mode)


def stage(
    root: Path,
    venue_file: Path,
    cfg: VenueConfig,
    *,
    version: str,
    extra_trees: Sequence[Path] = (),
    keyring: Path | None = None,
) -> None:
    """Lay out everything of the box's own on top of a root tree (Debian's, or an empty one).
    `keyring` is the public certificate chain bundles are checked against (the key that signs
    them never comes near an image)."""
    identity = Identity.of(cfg.device.sn_number)
    copy_tree(OVERLAY, root)
    for module, target in SCRIPTS.items():
        install_file(_place(root, target), (HERE / module).read_bytes(), 0o755)
    install_file(root / "etc/fstab", fstab(identity).encode())
    rauc_conf = update.system_conf(
        compatible=release.compatible(identity.machine_id),
        partuuids=identity.partuuids,
        store=channel.LOCAL_STORE,
    )
    install_file(_place(root, RAUC_CONF), rauc_conf.encode())
    if keyring is not None:
        install_file(_place(root, KEYRING), keyring.read_bytes())
    install_file(root / "etc/hostname", f"{hostname(cfg)}\n".encode())
    install_file(root / "etc/machine-id", f"{identity.machine_id}\n".encode(), 0o444)
    debian = root / "usr/lib/os-release"
    base = debian.read_text() if debian.exists() else 'NAME="Debian GNU/Linux"\nID=debian\n'
    install_file(root / "etc/os-release", os_release(base, version).encode())
    dropin = low_port_dropin(cfg)
    if dropin is not None:
        install_file(root / "etc/systemd/system/edgebox.service.d/low-port.conf", dropin.encode())
    for mount in DATA_MOUNTS.values():
        _place(root, mount).mkdir(parents=True, exist_ok=True)
    for directory in ("data", "efi"):
        (root / directory).mkdir(exist_ok=True)
    venue = _place(root, VENUE_FILE)
    venue.parent.mkdir(parents=True, exist_ok=True)
    venue.parent.chmod(0o755)
    install_file(venue, venue_file.read_bytes(), 0o600, (UID, GID))
    for tree in extra_trees:
        copy_tree(tree, root)


def esp_tree(
    esp: Path, root: Path, cfg: VenueConfig, *, version: str, target: Arch = AMD64
) -> None:
    """systemd-boot, its configuration, slot A's kernel and the entry that boots slot A.

    The first entry carries no try counter: a freshly flashed box has nothing to fall back to.
    """
    identity = Identity.of(cfg.device.sn_number)
    loader = (root / "usr/lib/systemd/boot/efi" / target.loader).read_bytes()
    install_file(esp / target.removable_loader, loader)
    install_file(esp / "EFI/systemd" / target.loader, loader)
    install_file(esp / "loader/loader.conf", update.LOADER_CONF.encode())
    kernel, initrd = update.boot_files(root)
    install_file(esp / "edgebox/a/vmlinuz", kernel.read_bytes())
    install_file(esp / "edgebox/a/initrd.img", initrd.read_bytes())
    entry = update.entry_text(
        slot="a",
        version=version,
        root_partuuid=identity.partuuids["root-a"],
        title=f"edgebox {cfg.venue}",
        options=target.kernel_options,
    )
    install_file(esp / "loader/entries" / update.entry_name("a"), entry.encode())


def data_tree(data: Path, journal_gid: int) -> None:
    """The data partition's first contents: one directory per bind mount."""
    owners = {
        "edgebox": (UID, GID, 0o700),
        "journal": (0, journal_gid, 0o2755),
        "rauc": (0, 0, 0o700),
        "update": (0, 0, 0o700),
    }
    for name in (*DATA_MOUNTS, "rauc", "update"):  # RAUC's status; a stick's bundle
        uid, gid, mode = owners.get(name, (0, 0, 0o755))
        directory = data / name
        directory.mkdir(parents=True, exist_ok=True)
        shutil.chown(directory, uid, gid)
        directory.chmod(mode)


def verify_units(root: Path, units: Iterable[str] = UNITS) -> list[str]:
    """`systemd-analyze verify` of units in a root tree; anything it prints is a problem (it
    warns about unknown keys and bad values but still exits 0)."""
    result = subprocess.run(
        ["systemd-analyze", "verify", f"--root={root}", *units],
        capture_output=True,
        text=True,
        check=False,
    )
    problems = (result.stdout + result.stderr).strip().splitlines()
    if result.returncode and not problems:
        problems = [f"systemd-analyze verify exited with {result.returncode}"]
    return problems
