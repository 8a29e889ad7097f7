"""`python -m image build VENUE`: the project and one venue file become `out/<venue>.img`, a disk
to flash, and `out/<venue>.raucb`, the same system as a signed RAUC bundle for the idle slot.

Debian comes from Debian's mirror only (debootstrap, then apt inside the new root, with the
security updates); the project's wheel is built in the same run, and its Python dependencies are
wheels that pip fetches from PyPI at the versions pinned by the project's .venv (Debian 12's own
python3-trio, -httpx and -hypercorn are older than the project needs, and quart-trio and cattrs
are not packaged). The build runs as root: debootstrap and chroot need it. The disk is assembled
from file system images (`mkfs.ext4 -d`, mtools), with no loop device and no mount on the host.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import attrs

from edgebox.cli import main as cli
from edgebox.core import config
from edgebox.core.config import VenueConfig
from edgebox.core.errors import EdgeboxError
from image import arch, raspi, release, rootfs
from image.arch import Arch

PROJECT = rootfs.HERE.parent
SUITE = "bookworm"
DEBIAN_PYTHON = "3.11"  # bookworm's python3, whose ABI a foreign image's wheels must match
MIRROR = "http://deb.debian.org/debian"
SECURITY = "http://deb.debian.org/debian-security"
DEB_CACHE = Path("/var/cache/edgebox-debootstrap")
# debootstrap's minbase plus what the box runs; the kernel comes after the security sources.
BASE_PACKAGES = (
    "systemd",
    "systemd-sysv",
    "udev",
    "dbus",
    "systemd-boot",
    "systemd-resolved",
    "systemd-timesyncd",
    "initramfs-tools",
    "zstd",
    "e2fsprogs",
    "python3",
    "python3-venv",
    # The A/B updates: RAUC and its D-Bus service, veritysetup to check a bundle's every byte
    # before it is installed, openssl to check the update channel's signed manifest.
    "rauc",
    "rauc-service",
    "cryptsetup-bin",
    "openssl",
    # RAUC's chunked installs: casync fetches only the chunks the running slot lacks.
    "casync",
)
# Kernel modules no box uses (graphics, sound, cameras, radios, exotic buses): 170 MB less to
# flash and to send with every update. USB serial, storage, wired network and file systems stay.
PRUNED_MODULES = (
    "drivers/gpu",
    "drivers/media",
    "drivers/net/wireless",
    "drivers/infiniband",
    "drivers/staging",
    "drivers/iio",
    "drivers/comedi",
    "drivers/isdn",
    "drivers/bluetooth",
    "net/bluetooth",
    "net/wireless",
    "net/mac80211",
    "sound",
)
# Units that would write to the read-only root, or change it behind the image's back.
MASKED = (
    "apt-daily.timer",
    "apt-daily-upgrade.timer",
    "dpkg-db-backup.timer",
    "e2scrub_all.timer",
    "e2scrub_reap.service",
    "systemd-update-utmp.service",
    "systemd-update-utmp-runlevel.service",
    "systemd-boot-update.service",
)
ENABLED = ("systemd-networkd.service", "systemd-resolved.service", "systemd-timesyncd.service")
HOST_TOOLS = {
    "debootstrap": "debootstrap",
    "unshare": "util-linux",
    "mkfs.ext4": "e2fsprogs",
    "mkfs.vfat": "dosfstools",
    "mcopy": "mtools",
    "sfdisk": "fdisk",
    "systemd-analyze": "systemd",
    "rauc": "rauc",
    "mksquashfs": "squashfs-tools",
    "openssl": "openssl",
}
GPT_TYPES = {
    "esp": "C12A7328-F81F-11D2-BA4B-00A0C93EC93B",
    "data": "0FC63DAF-8483-4772-8E79-3D69D8477DE4",  # Linux file system data
}
# The one time every release's root carries (2024-01-01 UTC): e2fsprogs' clock for the root
# image, SOURCE_DATE_EPOCH in the chroot (Python then byte-compiles with source hashes, not
# mtimes, and mkinitramfs writes a reproducible initramfs), and the mtime of every file the
# build itself made. Two builds of one system then differ only where their files do.
ROOT_FS_TIME = "1704067200"
CHROOT_ENV = {
    "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
    "HOME": "/root",
    "LC_ALL": "C.UTF-8",
    "DEBIAN_FRONTEND": "noninteractive",
    "SOURCE_DATE_EPOCH": ROOT_FS_TIME,
}
MIB = 1 << 20


class ImageError(EdgeboxError):
    """The image cannot be built; the message says what to fix."""


@attrs.frozen
class Layout:
    """Partition sizes (MiB). A slot is sized for the updates to come, not for today's root."""

    esp: int = 256
    slot: int = 1536
    data: int = 1024

    def sizes(self) -> dict[str, int]:
        return {"esp": self.esp, "root-a": self.slot, "root-b": self.slot, "data": self.data}


@attrs.frozen
class Outputs:
    image: Path
    bundle: Path
    version: str
    seconds: float
    raspi: Path | None = None  # arm64: the same system for a Raspberry Pi 4


def log(message: str) -> None:
    print(f"image: {message}", file=sys.stderr, flush=True)


def run(
    argv: Sequence[str | Path],
    *,
    input: str | None = None,
    env: dict[str, str] | None = None,
    capture: bool = False,
    quiet: bool = False,
) -> str:
    """Run a build step; its output goes to the terminal unless captured, or silenced (then
    what it said on stderr is shown only if it fails)."""
    stdout = subprocess.PIPE if capture else subprocess.DEVNULL if quiet else None
    try:
        result = subprocess.run(
            [str(a) for a in argv],
            check=True,
            text=True,
            input=input,
            env=env,
            stdout=stdout,
            stderr=subprocess.PIPE if quiet else None,
        )
    except subprocess.CalledProcessError as exc:
        if exc.stderr:
            print(exc.stderr.rstrip(), file=sys.stderr)
        raise
    return result.stdout or ""


def in_root(root: Path, *argv: str | Path) -> None:
    """Run a command chrooted into `root`, with /proc mounted in a private mount namespace:
    whatever happens, nothing stays mounted inside the build tree."""
    run(
        [
            *("unshare", "--mount", "--pid", "--fork", f"--mount-proc={root / 'proc'}"),
            *("chroot", root, *argv),
        ],
        env=CHROOT_ENV,
    )


def check_venue(venue_file: Path) -> VenueConfig:
    """`edgebox check-config`, then what the image itself needs; refuses with every problem."""
    if cli.cmd_check_config(argparse.Namespace(file=venue_file)) != 0:
        raise ImageError(f"{venue_file}: fix the venue file; the image was not built")
    cfg = config.load(venue_file)
    problems = rootfs.image_problems(cfg)
    if problems:
        for problem in problems:
            print(f"  {problem}", file=sys.stderr)
        raise ImageError(f"{venue_file}: {len(problems)} problem(s) for an image; not built")
    return cfg


def check_signing(signing: release.Signing | None) -> release.Signing:
    if signing is None:
        raise ImageError(
            "no signing key: set EDGEBOX_SIGNING_CERT, EDGEBOX_SIGNING_KEY and EDGEBOX_KEYRING"
            " (make a pair with `python -m image keygen DIR`; see the README)"
        )
    problems = signing.problems()
    if problems:
        raise ImageError("the signing files: " + "; ".join(problems))
    return signing


def check_host(target: Arch = arch.AMD64) -> None:
    missing = sorted({pkg for tool, pkg in HOST_TOOLS.items() if shutil.which(tool) is None})
    if missing:
        raise ImageError(
            f"missing build tools from Debian packages {missing}: run `tools/system-deps image`"
        )
    if os.geteuid() != 0:
        raise ImageError("debootstrap and chroot need root: run the build as root")
    problem = target.binfmt_problem()
    if problem is not None:
        raise ImageError(f"cannot build for {target.name} here: {problem}")


def remove_tree(path: Path) -> None:
    """rmtree, after making sure no file system is mounted under `path`."""
    if not path.exists():
        return
    prefix = str(path.resolve()) + "/"
    with open("/proc/self/mountinfo") as mounts:
        inside = [line.split()[4] for line in mounts if line.split()[4].startswith(prefix)]
    if inside:
        raise ImageError(f"file systems are mounted under {path}: {inside}; unmount them first")
    shutil.rmtree(path)


def build_wheels(work: Path, target: Arch = arch.AMD64) -> Path:
    """The project's wheel and its dependencies at the versions the project's .venv runs; for a
    foreign architecture, PyPI's binary wheels for it (pip refuses a dependency that has none)."""
    wheels = work / "wheels"
    remove_tree(wheels)
    wheels.mkdir(parents=True)
    python = sys.executable
    quiet = "--quiet"
    run([python, "-m", "pip", "wheel", quiet, "--no-deps", "--wheel-dir", wheels, PROJECT])
    (own,) = wheels.glob("edgebox-*.whl")
    freeze = run([python, "-m", "pip", "freeze", "--exclude-editable"], capture=True)
    constraints = work / "constraints.txt"
    constraints.write_text(freeze)
    if target.foreign:
        fetch = ["download", quiet, *arch.wheel_argv(target, DEBIAN_PYTHON), "--dest", wheels]
        run([python, "-m", "pip", *fetch, "-c", constraints, own])
    else:
        run([python, "-m", "pip", "wheel", quiet, "--wheel-dir", wheels, "-c", constraints, own])
    return wheels


def debootstrap(root: Path, target: Arch = arch.AMD64) -> None:
    """A foreign root is unpacked on the host, then configured inside it under qemu-user."""
    DEB_CACHE.mkdir(parents=True, exist_ok=True)
    run(
        [
            *("unshare", "--mount", "--fork", "debootstrap", "--variant=minbase"),
            f"--arch={target.name}",
            *(["--foreign"] if target.foreign else []),
            *(f"--cache-dir={DEB_CACHE}", "--include=" + ",".join(BASE_PACKAGES)),
            *(SUITE, root, MIRROR),
        ],
        quiet=True,
    )
    if target.foreign:
        in_root(root, "/debootstrap/debootstrap", "--second-stage")


@contextlib.contextmanager
def host_dns(root: Path) -> Iterator[None]:
    """The host's resolv.conf while apt runs inside the root; the image keeps resolved's link."""
    resolv = root / "etc/resolv.conf"
    link = os.readlink(resolv) if resolv.is_symlink() else None
    resolv.unlink(missing_ok=True)
    shutil.copyfile("/etc/resolv.conf", resolv)
    try:
        yield
    finally:
        resolv.unlink()
        if link is not None:
            resolv.symlink_to(link)


def keep(source: Path, dest: Path) -> None:
    """A hard link where both sides share a file system, else a copy; never over a file."""
    if dest.exists():
        return
    try:
        os.link(source, dest)
    except OSError:
        shutil.copy2(source, dest)


def install_packages(root: Path, target: Arch = arch.AMD64) -> None:
    """Security and point-release updates, then the kernel; the .debs are kept for next time
    (one cache for every architecture: a .deb's name ends in its own)."""
    components = " ".join(target.components)
    (root / "etc/apt/sources.list").write_text(
        f"deb {MIRROR} {SUITE} {components}\n"
        f"deb {MIRROR} {SUITE}-updates {components}\n"
        f"deb {SECURITY} {SUITE}-security {components}\n"
    )
    archives = root / "var/cache/apt/archives"
    for deb in DEB_CACHE.glob("*.deb"):
        if deb.name.endswith((f"_{target.name}.deb", "_all.deb")):
            keep(deb, archives / deb.name)
    apt = ["apt-get", "-q", "-y", "-o", "Dpkg::Options::=--force-confold"]
    if target.foreign:
        exclude_pruned_modules(root)
    with host_dns(root), initramfs_built_once(root, target):
        in_root(root, "apt-get", "-q", "update")
        in_root(root, *apt, "dist-upgrade")
        install = [*apt, "install", "--no-install-recommends", *target.packages]
        in_root(root, *scratch_mounts(root, target), *install)
    for deb in archives.glob("*.deb"):
        keep(deb, DEB_CACHE / deb.name)
    in_root(root, "apt-get", "clean")


def exclude_pruned_modules(root: Path) -> None:
    """dpkg never unpacks the modules prune_kernel would delete, so the initramfs the kernel's
    installation builds is already the final one: under emulation each build of it takes
    minutes."""
    lines = [
        f"path-exclude={top}/modules/*/kernel/{subtree}{files}"
        for top in ("/lib", "/usr/lib")  # dpkg matches the package's own paths: bookworm's /lib
        for subtree in PRUNED_MODULES
        for files in ("", "/*")
    ]
    (root / "etc/dpkg/dpkg.cfg.d/edgebox-pruned-modules").write_text("\n".join(lines) + "\n")


def scratch_mounts(root: Path, target: Arch) -> list[str]:
    """A prefix for a chroot command that mounts a tmpfs on each of the architecture's scratch
    mount points first (raspi-firmware's scripts refuse to run unless /boot/firmware is a mount
    point, then copy the kernel there): what they write stays out of the root."""
    if not target.scratch_mounts:
        return []
    for directory in target.scratch_mounts:
        (root / directory.lstrip("/")).mkdir(parents=True, exist_ok=True)
    script = 'for d in {}; do mount -t tmpfs scratch "$d" || exit 1; done; exec "$@"'
    return ["sh", "-c", script.format(" ".join(target.scratch_mounts)), "sh"]


@contextlib.contextmanager
def initramfs_built_once(root: Path, target: Arch) -> Iterator[None]:
    """For a foreign root, only the kernel's installation builds the initramfs: the updates
    that packages' triggers ask for (`update-initramfs -u`) are off while apt runs."""
    conf = root / "etc/initramfs-tools/update-initramfs.conf"
    original = conf.read_text() if target.foreign and conf.exists() else None
    if original is not None:
        conf.write_text(original.replace("update_initramfs=yes", "update_initramfs=no"))
    try:
        yield
    finally:
        if original is not None:
            conf.write_text(original)


def prune_kernel(root: Path, target: Arch = arch.AMD64) -> None:
    pruned = False
    for modules in (root / "usr/lib/modules").iterdir():
        for subtree in PRUNED_MODULES:
            tree = modules / "kernel" / subtree
            if tree.exists():
                pruned = pruned or any(path.is_file() for path in tree.rglob("*"))
                shutil.rmtree(tree)
        in_root(root, "depmod", modules.name)
    if pruned:  # raspi-firmware's initramfs hook wants its mount point here too
        in_root(root, *scratch_mounts(root, target), "update-initramfs", "-u", "-k", "all")


def install_venv(root: Path, wheels: Path) -> None:
    """The project and its wheels in /opt/edgebox, byte-compiled; pip itself is not kept."""
    inbox = root / "tmp/wheels"
    shutil.copytree(wheels, inbox)
    venv = str(rootfs.VENV)
    in_root(root, "python3", "-m", "venv", venv)
    pip = [f"{venv}/bin/python", "-m", "pip", "--quiet", "--disable-pip-version-check"]
    in_root(
        root, *pip, "install", "--no-index", "--no-cache-dir", "--find-links=/tmp/wheels", "edgebox"
    )
    in_root(root, *pip, "uninstall", "--yes", "setuptools", "pip")
    shutil.rmtree(inbox)


def add_user(root: Path) -> None:
    uid, gid = str(rootfs.UID), str(rootfs.GID)
    in_root(root, "groupadd", "--system", "--gid", gid, rootfs.USER)
    in_root(
        root,
        *("useradd", "--system", "--uid", uid, "--gid", gid, "--no-create-home"),
        *("--home-dir", str(rootfs.STATE_DIRECTORY), "--shell", "/usr/sbin/nologin", rootfs.USER),
    )


def configure(root: Path) -> None:
    """Services on and off, and every cache a first boot would build, built now: the root is
    read-only once flashed."""
    in_root(root, "systemctl", "enable", *ENABLED)
    in_root(root, "systemctl", "mask", *MASKED)
    in_root(root, "systemd-hwdb", "update")
    in_root(root, "ldconfig")
    excluded = ("/dev", "/proc", "/sys", "/run", "/tmp", "/var/tmp")
    in_root(root, "systemd-tmpfiles", "--create", *(f"--exclude-prefix={p}" for p in excluded))


def slim(root: Path) -> None:
    """Documentation and translations go; each package's copyright file stays."""
    for doc in (root / "usr/share/doc").iterdir():
        if doc.is_dir() and not doc.is_symlink():
            for item in doc.iterdir():
                if item.name == "copyright":
                    continue
                if item.is_dir() and not item.is_symlink():
                    shutil.rmtree(item)
                else:
                    item.unlink()
    for gone in ("usr/share/man", "usr/share/info", "usr/share/locale", "var/lib/apt/lists"):
        shutil.rmtree(root / gone, ignore_errors=True)
        (root / gone).mkdir()
    for log_file in (root / "var/log").rglob("*"):
        if log_file.is_file():
            log_file.unlink()
    for cache in (root / "var/cache/apt").glob("*.bin"):
        cache.unlink()


def clamp_mtimes(root: Path, since: float, to: int) -> int:
    """Every file, directory and link changed at or after `since` (made by this build, not
    unpacked from a package) gets the mtime `to`; returns how many."""
    clamped = 0
    for directory, names, files in os.walk(root):
        for name in [*names, *files, ""]:
            path = os.path.join(directory, name) if name else directory
            stat = os.lstat(path)
            if stat.st_mtime >= since:
                os.utime(path, (to, to), follow_symlinks=False)
                clamped += 1
    return clamped


def finish(root: Path, since: float) -> None:
    """Clamp the mtimes the build made, stamp /etc and /var as up to date with this /usr, as
    systemd-update-done would (Debian does not ship it), so that no ConditionNeedsUpdate= unit
    tries to write the read-only root; then the units must verify."""
    clamp_mtimes(root, since, int(ROOT_FS_TIME))
    usr = (root / "usr").stat()
    for directory in ("etc", "var"):
        stamp = root / directory / ".updated"
        stamp.write_text(f"TIMESTAMP_NSEC={usr.st_mtime_ns}\n")
        os.utime(stamp, ns=(usr.st_atime_ns, usr.st_mtime_ns))
    problems = rootfs.verify_units(root)
    if problems:
        raise ImageError("the units do not verify:\n  " + "\n  ".join(problems))


def group_id(root: Path, name: str) -> int:
    for line in (root / "etc/group").read_text().splitlines():
        fields = line.split(":")
        if fields[0] == name:
            return int(fields[2])
    raise ImageError(f"no group {name!r} in {root / 'etc/group'}")


def make_ext4(
    path: Path,
    tree: Path,
    mib: int,
    label: str,
    *,
    journal: bool,
    fs_uuid: str | None = None,
    hash_seed: str | None = None,
    env: dict[str, str] | None = None,
) -> None:
    path.unlink(missing_ok=True)
    options = "root_owner=0:0" + (f",hash_seed={hash_seed}" if hash_seed else "")
    argv: list[str | Path] = ["mkfs.ext4", "-q", "-F", "-L", label, "-d", tree]
    argv += ["-E", options, "-m", "1" if journal else "0"]
    if not journal:
        argv += ["-O", "^has_journal"]
    if fs_uuid is not None:
        argv += ["-U", fs_uuid]
    run([*argv, path, f"{mib}M"], quiet=True, env=env)


def shrink_ext4(path: Path, env: dict[str, str] | None = None) -> None:
    """Down to what the file system holds: an update then writes and checks only that."""
    run(["e2fsck", "-f", "-y", path], quiet=True, env=env)
    run(["resize2fs", "-M", path], quiet=True, env=env)
    header = run(["dumpe2fs", "-h", path], capture=True, quiet=True)
    fields = dict(line.split(":", 1) for line in header.splitlines() if ":" in line)
    os.truncate(path, int(fields["Block count"]) * int(fields["Block size"]))


def make_root_ext4(path: Path, tree: Path, mib: int, identity: rootfs.Identity) -> None:
    """A root slot image whose bytes follow from its tree alone: the box's own file system UUID
    and directory hash seed, and a fixed clock. With random ones every block group's metadata
    differs between two builds (the checksums are seeded by the UUID): a release that changed
    one module cost a chunked update 9.7 % of the whole bundle, against 0.5 % now."""
    env = {**os.environ, "E2FSPROGS_FAKE_TIME": ROOT_FS_TIME}
    make_ext4(
        path,
        tree,
        mib,
        "root",
        journal=False,
        fs_uuid=identity.root_fs_uuid,
        hash_seed=identity.root_hash_seed,
        env=env,
    )
    shrink_ext4(path, env)


def make_esp(path: Path, tree: Path, mib: int, label: str = "ESP") -> None:
    path.unlink(missing_ok=True)
    run(["mkfs.vfat", "-F", "32", "-n", label, "-C", path, str(mib * 1024)], quiet=True)
    env = {**os.environ, "MTOOLS_SKIP_CHECK": "1"}
    for item in sorted(tree.iterdir()):
        run(["mcopy", "-i", path, "-s", "-p", "-Q", item, "::/"], env=env)


def sparse_copy(source: Path, dest_fd: int, offset: int) -> None:
    """Copy the data extents of `source` into `dest_fd` at `offset`; holes stay holes."""
    with open(source, "rb") as src:
        fd = src.fileno()
        end = os.fstat(fd).st_size
        pos = 0
        while pos < end:
            try:
                data = os.lseek(fd, pos, os.SEEK_DATA)
            except OSError:  # ENXIO: only a hole is left
                break
            hole = os.lseek(fd, data, os.SEEK_HOLE)
            at = data
            while at < hole:
                copied = os.copy_file_range(fd, dest_fd, hole - at, at, offset + at)
                if copied == 0:
                    raise ImageError(f"short copy from {source}")
                at += copied
            pos = hole


def assemble(
    disk: Path,
    parts: dict[str, Path | None],
    layout: Layout,
    identity: rootfs.Identity,
    target: Arch = arch.AMD64,
) -> None:
    """A GPT disk: 1 MiB for the table, the partitions in order, and the backup table at the end."""
    types = {**GPT_TYPES, "root-a": target.root_type, "root-b": target.root_type}
    sizes = layout.sizes()
    table = [
        Partition(label, sizes[label], types[label], identity.partuuids[label], parts.get(label))
        for label in rootfs.PARTITIONS
    ]
    write_gpt(disk, table, identity.disk_guid)


@attrs.frozen
class Partition:
    label: str
    mib: int
    type: str
    uuid: str
    image: Path | None  # its contents; None leaves it unwritten


def write_gpt(disk: Path, table: Sequence[Partition], disk_guid: str) -> None:
    total = MIB + sum(p.mib for p in table) * MIB + MIB
    disk.unlink(missing_ok=True)
    with os.fdopen(os.open(disk, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as f:
        f.truncate(total)  # 0600: the disk holds the venue file
    lines = ["label: gpt", f"label-id: {disk_guid}", "unit: sectors", "first-lba: 2048"]
    start = MIB
    offsets = {}
    for part in table:
        size = part.mib * MIB
        lines.append(
            f"start={start // 512}, size={size // 512}, type={part.type},"
            f" uuid={part.uuid}, name={part.label}"
        )
        offsets[part.label] = start
        start += size
    run(
        ["sfdisk", "--quiet", "--no-reread", "--no-tell-kernel", disk],
        input="\n".join(lines) + "\n",
    )
    fd = os.open(disk, os.O_WRONLY)
    try:
        for part in table:
            if part.image is not None:
                if part.image.stat().st_size > part.mib * MIB:
                    raise ImageError(f"{part.label}: {part.image} is larger than its partition")
                sparse_copy(part.image, fd, offsets[part.label])
        os.fsync(fd)
    finally:
        os.close(fd)


def build(
    venue_file: Path,
    *,
    out: Path,
    work: Path,
    version: str | None = None,
    layout: Layout = Layout(),
    extra_trees: Sequence[Path] = (),
    target: Arch = arch.AMD64,
    signing: release.Signing | None = None,
) -> Outputs:
    started = time.monotonic()
    since = time.time() - 1  # mtimes are wall-clock, and may be rounded down
    cfg = check_venue(venue_file)
    signing = check_signing(signing)
    check_host(target)
    version = version or time.strftime("%Y%m%d.%H%M%S", time.gmtime())
    name = rootfs.image_name(cfg)
    identity = rootfs.Identity.of(cfg.device.sn_number)
    work = work / name
    root, esp, data = work / "root", work / "esp", work / "data"
    for tree in (root, esp, data):
        remove_tree(tree)
    work.mkdir(parents=True, exist_ok=True)
    work.chmod(0o700)  # its trees and file system images hold the venue file

    log(f"wheels for edgebox and its dependencies -> {work / 'wheels'}")
    wheels = build_wheels(work, target)
    log(f"debootstrap {SUITE} {target.name} -> {root}")
    debootstrap(root, target)
    log("security updates and the kernel")
    install_packages(root, target)
    prune_kernel(root, target)
    log("the venv, the user, the box's files")
    add_user(root)
    install_venv(root, wheels)
    rootfs.stage(
        root,
        venue_file,
        cfg,
        version=version,
        extra_trees=[*target.trees, *extra_trees],
        keyring=signing.keyring,
    )
    if target.raspi:
        raspi.stage(root)
    slim(root)
    configure(root)
    finish(root, since)

    log("partitions")
    rootfs.esp_tree(esp, root, cfg, version=version, target=target)
    rootfs.data_tree(data, group_id(root, "systemd-journal"))
    images = {label: work / f"{label}.img" for label in ("esp", "root-a", "data")}
    sizes = layout.sizes()
    make_esp(images["esp"], esp, sizes["esp"])
    make_root_ext4(images["root-a"], root, sizes["root-a"], identity)
    make_ext4(images["data"], data, sizes["data"], "data", journal=True)

    out.mkdir(parents=True, exist_ok=True)
    image = out / f"{name}.img"
    partial = out / f".{name}.img.part"
    assemble(partial, {**images, "root-b": None}, layout, identity, target)
    os.replace(partial, image)
    pi_image = None
    if target.raspi:
        log("the Raspberry Pi disk, from the same root")
        pi_image = raspi.build_disk(out / f"{name}.raspi.img", work, root, images, cfg, layout)
    log(f"the signed bundle -> {out / f'{name}.raucb'}")
    bundle = release.write_bundle(
        out / f"{name}.raucb",
        root_img=images["root-a"],
        compatible=release.compatible(identity.machine_id),
        version=version,
        venue=cfg.venue,
        signing=signing,
    )
    return Outputs(image, bundle, version, time.monotonic() - started, pi_image)


def describe(path: Path) -> str:
    size = path.stat().st_size
    used = path.stat().st_blocks * 512
    digest = release.sha256(path)
    return f"{path}: {size / MIB:.0f} MiB ({used / MIB:.0f} MiB allocated), sha256 {digest}"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m image", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("build", help="build out/<venue>.img and out/<venue>.raucb")
    p.add_argument("venue", type=Path, help="the venue file (TOML)")
    p.add_argument("--out", type=Path, default=PROJECT / "out")
    p.add_argument("--work", type=Path, default=PROJECT / "build" / "image")
    p.add_argument("--version", default=None, help="image version (default: the UTC build time)")
    p.add_argument("--slot-mib", type=int, default=Layout().slot)
    p.add_argument("--data-mib", type=int, default=Layout().data)
    p.add_argument("--arch", choices=sorted(arch.ARCHES), default=arch.AMD64.name)
    p.add_argument(
        "--extra-tree", type=Path, action="append", default=[], help="copied over the root last"
    )
    p = sub.add_parser("keygen", help="a CA (the images' keyring) and a release signing key")
    p.add_argument("directory", type=Path, help="where the keys go: outside the repository")
    p = sub.add_parser("publish", help="add a bundle to an update channel (a directory)")
    p.add_argument("bundle", type=Path, help="out/<venue>.raucb, or the venue file that made it")
    p.add_argument("--out", type=Path, default=PROJECT / "out")
    p.add_argument("channel", type=Path, help="the channel's directory, served as it is")
    p.add_argument("--rollout", type=float, default=100.0, help="percent of boxes (default 100)")
    p.add_argument("--hold", action="append", default=[], help="a serial that never takes it")
    p.add_argument("--allow", action="append", default=[], help="a serial that always takes it")
    p.add_argument(
        "--no-chunks", action="store_true", help="the whole bundle only, no casync chunks"
    )
    args = parser.parse_args(argv)
    if args.command == "keygen":
        signing = release.keygen(args.directory)
        print(f"keyring (goes into images): {signing.keyring}")
        print(f"release certificate: {signing.cert}\nrelease key (keep it safe): {signing.key}")
        print(f"CA key (keep it offline): {args.directory / 'ca.key.pem'}")
        return 0
    if args.command == "publish":
        bundle = args.bundle
        try:
            if bundle.suffix == ".toml":
                bundle = args.out / f"{rootfs.image_name(config.load(bundle))}.raucb"
            signing = check_signing(release.Signing.from_environment())
            manifest = release.publish(
                bundle,
                args.channel,
                signing,
                rollout=args.rollout,
                hold=tuple(args.hold),
                allow=tuple(args.allow),
                chunks=not args.no_chunks,
            )
        except (ImageError, EdgeboxError, OSError, subprocess.CalledProcessError) as exc:
            print(f"image: {exc}", file=sys.stderr)
            return 1
        for item in manifest.releases:
            chunked = f", in chunks {item.chunked.bundle}" if item.chunked else ""
            print(f"{args.channel}: {item.compatible} {item.version} ({item.size} bytes{chunked})")
        print(f"rollout {manifest.rollout_percent:g} %")
        return 0
    try:
        result = build(
            args.venue,
            out=args.out,
            work=args.work,
            version=args.version,
            layout=Layout(slot=args.slot_mib, data=args.data_mib),
            extra_trees=args.extra_tree,
            target=arch.by_name(args.arch),
            signing=release.Signing.from_environment(),
        )
    except ImageError as exc:
        print(f"image: {exc}", file=sys.stderr)
        return 1
    except subprocess.CalledProcessError as exc:
        argv_text = " ".join(str(a) for a in exc.cmd)
        print(f"image: `{argv_text}` failed with exit status {exc.returncode}", file=sys.stderr)
        return 1
    print(f"version {result.version}, built in {result.seconds:.0f} s")
    print(describe(result.image))
    print(describe(result.bundle))
    if result.raspi is not None:
        print(describe(result.raspi))
    return 0
