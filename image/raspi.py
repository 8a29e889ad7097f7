"""The Raspberry Pi 4 disk: the arm64 image's own root slots and data partition, booted by the
Pi's firmware (Debian's raspi-firmware) instead of UEFI.

The Pi's boot ROM and EEPROM bootloader read `autoboot.txt` from the first FAT partition. It
names the boot partition of the committed slot (`[all] boot_partition`) and, with
`tryboot_a_b=1`, the one to boot once when the firmware's one-shot tryboot flag is set
(`[tryboot] boot_partition`). Each slot has its own FAT boot partition: the firmware, config.txt,
the Debian kernel, its initramfs, the Pi 4 device trees and a cmdline.txt naming that slot's root
by PARTUUID. `boot-a` is partition 1: were autoboot.txt ever lost, the firmware boots it.

The slot switch on the box is `edgebox-raspi-slot` (image/raspi_slot.py). The tree is generated
from the root tree alone, so the tests lay out a root and check the partition without debootstrap.
"""

from __future__ import annotations

import re
import shutil
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

from edgebox.core.config import VenueConfig
from image import raspi_slot, rootfs, update

if TYPE_CHECKING:
    from image import build

# GPT order; a slot's boot partition number is what autoboot.txt names.
PARTITIONS = ("boot-a", "boot-b", "root-a", "root-b", "data")
BOOT_MIB = 256
GPT_TYPES = {
    "boot-a": "EBD0A0A2-B9E5-4433-87C0-68B6B72699C7",  # Microsoft basic data: the Pi boots FAT
    "boot-b": "EBD0A0A2-B9E5-4433-87C0-68B6B72699C7",
    "root-a": "B921B045-1DF0-41C3-AF44-4C6F280D3FAE",  # Linux root (ARM 64-bit)
    "root-b": "B921B045-1DF0-41C3-AF44-4C6F280D3FAE",
    "data": "0FC63DAF-8483-4772-8E79-3D69D8477DE4",
}
FIRMWARE = "usr/lib/raspi-firmware"
# The Pi 4's GPU firmware and its memory split table; the others are the Pi 4's variants
# (cut-down, extended, debug) that config.txt options select.
FIRMWARE_NEEDED = ("start4.elf", "fixup4.dat")
FIRMWARE_GLOBS = ("start4*.elf", "fixup4*.dat", "LICENCE.broadcom")
# Pi 4 B, Pi 400, Compute Module 4: the BCM2711 boards. The firmware picks the one it runs on.
DTB_NEEDED = "bcm2711-rpi-4-b.dtb"
DTB_GLOB = "bcm2711-*.dtb"
# With Debian's kernel and the upstream device tree the GPIO header's UART (the mini UART,
# pins 8 and 10) is ttyS1; ttyAMA0 is the PL011 wired to Bluetooth.
SERIAL = "ttyS1"
SCRIPT = "usr/local/sbin/edgebox-raspi-slot"
BLESS_UNIT = "edgebox-raspi-bless.service"  # in image/rootfs-arm64/
CONFIG_NAME = "config.txt"
CMDLINE_NAME = "cmdline.txt"


def boot_partuuids(identity: rootfs.Identity) -> dict[str, str]:
    """boot-a takes the ESP's PARTUUID, so the root's fstab mounts it at /efi on a Pi too (the
    same root for both flavours); boot-b's derives from it."""
    esp = identity.partuuids["esp"]
    return {"boot-a": esp, "boot-b": str(uuid.uuid5(uuid.UUID(esp), "boot-b"))}


def partuuids(identity: rootfs.Identity) -> dict[str, str]:
    return {**boot_partuuids(identity), **{k: identity.partuuids[k] for k in PARTITIONS[2:]}}


def config_txt(venue: str, slot: str) -> str:
    return (
        f"# edgebox {venue}, slot {slot}: read by the Raspberry Pi firmware.\n"
        "[all]\n"
        "arm_64bit=1\n"
        "# Debian's kernel and the upstream device trees, not Raspberry Pi's own\n"
        "upstream_kernel=1\n"
        "kernel=vmlinuz\n"
        "initramfs initrd.img followkernel\n"
        "# The UART on GPIO 14/15 (pins 8 and 10), at a fixed clock: the serial console\n"
        "enable_uart=1\n"
        "disable_splash=1\n"
        "disable_overscan=1\n"
    )


def cmdline_txt(root_partuuid: str) -> str:
    """One line, as the firmware wants it."""
    options = update.KERNEL_OPTIONS_FOR.format(serial=SERIAL)
    return f"root=PARTUUID={root_partuuid} {options}\n"


def stage(root: Path) -> None:
    """The slot switch, in every arm64 root: the same root boots a UEFI board or a Pi. The
    copies raspi-firmware's kernel hook made in /boot/firmware go: the boot partitions are
    generated from the root's own files, and the root would carry the kernel twice."""
    source = Path(raspi_slot.__file__).read_bytes()
    rootfs.install_file(root / SCRIPT, source, 0o755)
    firmware = root / "boot/firmware"
    if firmware.is_dir():
        shutil.rmtree(firmware)
        firmware.mkdir(mode=0o755)


def kernel_release(root: Path) -> str:
    kernel, _ = update.boot_files(root)
    return kernel.name.removeprefix("vmlinuz-")


def boot_tree(boot: Path, root: Path, identity: rootfs.Identity, venue: str, slot: str) -> None:
    """A slot's boot partition, from the root tree it boots: firmware, device trees, the kernel
    and initramfs, config.txt and cmdline.txt; slot a's also holds autoboot.txt."""
    firmware = root / FIRMWARE
    for name in FIRMWARE_NEEDED:
        if not (firmware / name).is_file():
            raise FileNotFoundError(f"no {name} in {firmware}: is raspi-firmware installed?")
    for pattern in FIRMWARE_GLOBS:
        for path in sorted(firmware.glob(pattern)):
            rootfs.install_file(boot / path.name, path.read_bytes())
    release = kernel_release(root)
    dtbs = root / "usr/lib" / f"linux-image-{release}" / "broadcom"
    if not (dtbs / DTB_NEEDED).is_file():
        raise FileNotFoundError(f"no {DTB_NEEDED} in {dtbs}: the kernel has no Pi 4 device tree")
    for path in sorted(dtbs.glob(DTB_GLOB)):
        rootfs.install_file(boot / path.name, path.read_bytes())
    kernel, initrd = update.boot_files(root)
    rootfs.install_file(boot / "vmlinuz", kernel.read_bytes())
    rootfs.install_file(boot / "initrd.img", initrd.read_bytes())
    rootfs.install_file(boot / CONFIG_NAME, config_txt(venue, slot).encode())
    root_uuid = identity.partuuids[f"root-{slot}"]
    rootfs.install_file(boot / CMDLINE_NAME, cmdline_txt(root_uuid).encode())
    if slot == "a":
        autoboot = raspi_slot.autoboot_txt(primary="a")
        rootfs.install_file(boot / raspi_slot.AUTOBOOT, autoboot.encode())


def _settings(text: str) -> dict[str, str]:
    found = {}
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if "=" in line:
            key, value = line.split("=", 1)
            found[key.strip()] = value.strip()
        elif line.startswith("initramfs "):
            found["initramfs"] = line.split()[1]
    return found


def boot_problems(boot: Path, identity: rootfs.Identity, slot: str) -> list[str]:
    """What keeps a slot's boot partition from booting that slot's root on a Pi 4 (empty: none).
    Run by the build on what it wrote, and by the tests."""
    problems = []
    for name in (*FIRMWARE_NEEDED, DTB_NEEDED, CONFIG_NAME, CMDLINE_NAME):
        if not (boot / name).is_file():
            problems.append(f"{name}: missing")
    if problems:
        return problems
    config = _settings((boot / CONFIG_NAME).read_text())
    if config.get("arm_64bit") != "1":
        problems.append("config.txt: arm_64bit=1 is missing (the kernel is arm64)")
    for key in ("kernel", "initramfs"):
        name = config.get(key)
        if name is None:
            problems.append(f"config.txt: no {key}")
        elif not (boot / name).is_file() or (boot / name).stat().st_size == 0:
            problems.append(f"config.txt: {key} {name} is not on the partition")
    if config.get("enable_uart") != "1":
        problems.append("config.txt: enable_uart=1 is missing (no serial console)")
    cmdline = (boot / CMDLINE_NAME).read_text()
    if cmdline.count("\n") != 1 or not cmdline.endswith("\n"):
        problems.append("cmdline.txt: must be exactly one line")
    roots = re.findall(r"(?:^|\s)root=PARTUUID=(\S+)", cmdline)
    expected = identity.partuuids[f"root-{slot}"]
    if roots != [expected]:
        problems.append(f"cmdline.txt: root {roots}, expected slot {slot}'s PARTUUID {expected}")
    autoboot = boot / raspi_slot.AUTOBOOT
    if slot == "a":
        if not autoboot.is_file():
            problems.append(f"{raspi_slot.AUTOBOOT}: missing on partition 1")
        else:
            try:
                primary, trial = raspi_slot.parse_autoboot(autoboot.read_text())
            except raspi_slot.SlotError as exc:
                problems.append(str(exc))
            else:
                if (primary, trial) != ("a", "b"):
                    problems.append(f"autoboot.txt: boots {primary}, tries {trial}; want a, b")
    elif autoboot.exists():
        problems.append(f"{raspi_slot.AUTOBOOT}: only partition 1's is read; found on slot {slot}")
    return problems


def check_order() -> None:
    """autoboot.txt names boot partitions by number: the GPT order must agree with it."""
    for slot, number in raspi_slot.BOOT_PARTITIONS.items():
        if PARTITIONS[number - 1] != f"boot-{slot}":
            raise AssertionError(f"boot-{slot} is not partition {number}")


def build_disk(
    disk: Path,
    work: Path,
    root: Path,
    images: dict[str, Path],
    cfg: VenueConfig,
    layout: build.Layout,
) -> Path:
    """out/<venue>.raspi.img: boot-a and an empty boot-b, then the UEFI image's own root-a and
    data partition images, byte for byte."""
    # Imported here: the build drives this module, and its disk tools are shared.
    from image import build

    check_order()
    identity = rootfs.Identity.of(cfg.device.sn_number)
    trees = {slot: work / f"raspi-boot-{slot}" for slot in raspi_slot.SLOTS}
    for tree in trees.values():
        build.remove_tree(tree)
        tree.mkdir(parents=True)
    boot_tree(trees["a"], root, identity, cfg.venue, "a")
    problems = boot_problems(trees["a"], identity, "a")
    if problems:
        raise build.ImageError("the Pi boot partition is inconsistent:\n  " + "\n  ".join(problems))
    images = {**images}
    for slot, tree in trees.items():
        images[f"boot-{slot}"] = work / f"raspi-boot-{slot}.img"
        build.make_esp(images[f"boot-{slot}"], tree, BOOT_MIB, label=f"BOOT-{slot.upper()}")
        shutil.rmtree(tree)
    sizes = {"boot-a": BOOT_MIB, "boot-b": BOOT_MIB, **layout.sizes()}
    uuids = partuuids(identity)
    table = [
        build.Partition(label, sizes[label], GPT_TYPES[label], uuids[label], images.get(label))
        for label in PARTITIONS
    ]
    partial = disk.with_name(f".{disk.name}.part")
    build.write_gpt(partial, table, identity.disk_guid)
    partial.replace(disk)
    return disk
