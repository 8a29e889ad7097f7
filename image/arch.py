"""What differs between the image's CPU architectures: Debian's name for it, its kernel package,
the GPT type of its root partition, systemd-boot's file name, the serial console, and the wheel
tags pip may fetch for it.

An image for the build host's own architecture builds as it always has; a foreign one is
debootstrapped in two stages, the second running under qemu-user-static through binfmt_misc, and
gets its Python wheels by `pip download --platform` instead of `pip wheel`.
"""

from __future__ import annotations

import platform
from pathlib import Path

import attrs

from image import update

BINFMT = Path("/proc/sys/fs/binfmt_misc")
HERE = Path(__file__).parent


@attrs.frozen
class Arch:
    name: str  # Debian's: dpkg --print-architecture
    machine: str  # the kernel's: uname -m
    kernel: str
    root_type: str  # GPT partition type of a root file system for this architecture
    efi: str  # systemd-boot's suffix, as in systemd-boot<efi>.efi and BOOT<EFI>.EFI
    serial: str  # the first serial port's device name
    # glibc-based wheel tags for this CPU that Debian 12 (glibc 2.36) runs, newest last.
    wheel_platforms: tuple[str, ...]
    # Debian packages beyond the common ones, and the archive components they come from.
    extra_packages: tuple[str, ...] = ()
    components: tuple[str, ...] = ("main",)
    trees: tuple[Path, ...] = ()  # copied over the root after image/rootfs/
    raspi: bool = False  # also a Raspberry Pi disk from the same root
    # Mount points that packages' scripts insist on while they are installed (a tmpfs then).
    scratch_mounts: tuple[str, ...] = ()

    @property
    def packages(self) -> tuple[str, ...]:
        return (self.kernel, *self.extra_packages)

    @property
    def kernel_options(self) -> str:
        return update.KERNEL_OPTIONS_FOR.format(serial=self.serial)

    @property
    def foreign(self) -> bool:
        return self.machine != platform.machine()

    @property
    def loader(self) -> str:
        return f"systemd-boot{self.efi}.efi"

    @property
    def removable_loader(self) -> str:
        """Where UEFI firmware looks on removable media and on a disk without boot variables."""
        return f"EFI/BOOT/BOOT{self.efi.upper()}.EFI"

    def binfmt_problem(self) -> str | None:
        """Why this host cannot run the architecture's programs in a chroot, or None."""
        if not self.foreign:
            return None
        entry = BINFMT / f"qemu-{self.machine}"
        if not entry.exists():
            return (
                f"no binfmt_misc entry for {self.machine} ({entry}): run `tools/system-deps"
                " image`, which installs qemu-user-static and binfmt-support and enables it"
            )
        lines = entry.read_text().splitlines()
        if "enabled" not in lines:
            return f"{entry} is disabled: run `update-binfmts --enable qemu-{self.machine}`"
        flags = next((line.split(":", 1)[1] for line in lines if line.startswith("flags:")), "")
        if "F" not in flags:
            return f"{entry} lacks the F flag: its interpreter would be looked up in the chroot"
        return None


def _manylinux(machine: str) -> tuple[str, ...]:
    return tuple(f"manylinux_2_{minor}_{machine}" for minor in range(17, 37))


AMD64 = Arch(
    name="amd64",
    machine="x86_64",
    kernel="linux-image-amd64",
    root_type="4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709",  # Linux root (x86-64)
    efi="x64",
    serial="ttyS0",
    wheel_platforms=("manylinux2014_x86_64", *_manylinux("x86_64")),
)
ARM64 = Arch(
    name="arm64",
    machine="aarch64",
    kernel="linux-image-arm64",
    root_type="B921B045-1DF0-41C3-AF44-4C6F280D3FAE",  # Linux root (ARM 64-bit)
    efi="aa64",
    serial="ttyAMA0",  # the PL011: qemu's virt machine, a Pi's GPIO header (serial0)
    wheel_platforms=("manylinux2014_aarch64", *_manylinux("aarch64")),
    # The Pi's boot firmware (start4.elf and friends) is non-free firmware in Debian's archive.
    extra_packages=("raspi-firmware",),
    components=("main", "non-free-firmware"),
    trees=(HERE / "rootfs-arm64",),
    raspi=True,
    scratch_mounts=("/boot/firmware",),
)
ARCHES = {arch.name: arch for arch in (AMD64, ARM64)}


def by_name(name: str) -> Arch:
    try:
        return ARCHES[name]
    except KeyError:
        raise ValueError(f"architecture {name!r}: one of {', '.join(ARCHES)}") from None


def wheel_argv(arch: Arch, python_version: str) -> list[str]:
    """pip's options to fetch binary wheels for `arch` and Debian's CPython `python_version`."""
    major, minor = python_version.split(".")[:2]
    argv = ["--only-binary", ":all:", "--implementation", "cp"]
    argv += ["--python-version", f"{major}.{minor}"]
    for abi in (f"cp{major}{minor}", "abi3", "none"):
        argv += ["--abi", abi]
    for tag in arch.wheel_platforms:
        argv += ["--platform", tag]
    return argv
