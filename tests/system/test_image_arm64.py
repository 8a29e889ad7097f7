"""The venue image on 64-bit ARM: the Raspberry Pi 4 boot partition is complete and names the
right root, the Pi's slot switch keeps a committed slot until a trial is blessed, and the arm64
parts of the UEFI image (loader, console, root type, wheels, binfmt) are the arm64 ones.

The slow tests at the end (`make image-test ARCH=arm64`) build the arm64 image and boot it in
`qemu-system-aarch64 -M virt` under software emulation.
"""

from __future__ import annotations

import fnmatch
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from edgebox.core import config
from image import arch, build, raspi, raspi_slot, rootfs, update
from tests.support import bundles, vm
from tests.system.test_image import (
    BOOT_TIMEOUT,
    kill_9_until_serving,
    report,
    write_venue,
)

RELEASE = "6.1.0-41-arm64"
SN = "SN-IMAGE-1"
IDENTITY = rootfs.Identity.of(SN)


def pi_root(root: Path) -> Path:
    """What raspi-firmware and Debian's arm64 kernel put in a root tree, with recognisable bytes."""
    files = {
        "usr/lib/raspi-firmware/start4.elf": b"gpu firmware",
        "usr/lib/raspi-firmware/fixup4.dat": b"fixup",
        "usr/lib/raspi-firmware/start4x.elf": b"gpu firmware, extended",
        "usr/lib/raspi-firmware/fixup4x.dat": b"fixup, extended",
        "usr/lib/raspi-firmware/start.elf": b"a Pi 3's firmware",
        "usr/lib/raspi-firmware/LICENCE.broadcom": b"licence",
        f"boot/vmlinuz-{RELEASE}": b"kernel " * 100,
        f"boot/initrd.img-{RELEASE}": b"initramfs " * 100,
        f"usr/lib/linux-image-{RELEASE}/broadcom/bcm2711-rpi-4-b.dtb": b"pi 4 b",
        f"usr/lib/linux-image-{RELEASE}/broadcom/bcm2711-rpi-400.dtb": b"pi 400",
        f"usr/lib/linux-image-{RELEASE}/broadcom/bcm2837-rpi-3-b.dtb": b"pi 3 b",
        "usr/lib/systemd/boot/efi/systemd-bootaa64.efi": b"systemd-boot for arm64",
    }
    for name, data in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    return root


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return pi_root(tmp_path / "root")


def boot(tmp_path: Path, root: Path, slot: str) -> Path:
    tree = tmp_path / f"boot-{slot}"
    raspi.boot_tree(tree, root, IDENTITY, "Test Lobby", slot)
    return tree


def test_the_pi_boot_partition_holds_firmware_kernel_device_trees_and_the_slot_s_root(
    tmp_path: Path, root: Path
) -> None:
    tree = boot(tmp_path, root, "a")
    assert raspi.boot_problems(tree, IDENTITY, "a") == []
    assert sorted(p.name for p in tree.iterdir()) == [
        "LICENCE.broadcom",
        "autoboot.txt",
        "bcm2711-rpi-4-b.dtb",
        "bcm2711-rpi-400.dtb",
        "cmdline.txt",
        "config.txt",
        "fixup4.dat",
        "fixup4x.dat",
        "initrd.img",
        "start4.elf",
        "start4x.elf",
        "vmlinuz",
    ]
    assert (tree / "vmlinuz").read_bytes() == (root / f"boot/vmlinuz-{RELEASE}").read_bytes()
    assert (tree / "initrd.img").read_bytes() == (root / f"boot/initrd.img-{RELEASE}").read_bytes()
    assert (tree / "bcm2711-rpi-4-b.dtb").read_bytes() == b"pi 4 b"
    config_lines = (tree / "config.txt").read_text().splitlines()
    for line in ("arm_64bit=1", "kernel=vmlinuz", "initramfs initrd.img followkernel"):
        assert line in config_lines
    assert "enable_uart=1" in config_lines
    cmdline = (tree / "cmdline.txt").read_text()
    assert cmdline.startswith(f"root=PARTUUID={IDENTITY.partuuids['root-a']} ro ")
    assert cmdline.count("\n") == 1 and "console=ttyS1,115200" in cmdline
    assert raspi_slot.parse_autoboot((tree / "autoboot.txt").read_text()) == ("a", "b")


def test_slot_b_s_partition_boots_root_b_and_leaves_autoboot_to_partition_1(
    tmp_path: Path, root: Path
) -> None:
    tree = boot(tmp_path, root, "b")
    assert raspi.boot_problems(tree, IDENTITY, "b") == []
    assert f"root=PARTUUID={IDENTITY.partuuids['root-b']} " in (tree / "cmdline.txt").read_text()
    assert not (tree / "autoboot.txt").exists()
    # The same partition checked as slot a's is wrong twice over.
    problems = raspi.boot_problems(tree, IDENTITY, "a")
    assert any("cmdline.txt: root" in p for p in problems)
    assert any("autoboot.txt: missing" in p for p in problems)


def test_the_check_catches_a_missing_device_tree_kernel_or_a_bad_autoboot(
    tmp_path: Path, root: Path
) -> None:
    tree = boot(tmp_path, root, "a")
    (tree / "initrd.img").unlink()
    assert raspi.boot_problems(tree, IDENTITY, "a") == [
        "config.txt: initramfs initrd.img is not on the partition"
    ]
    (tree / "bcm2711-rpi-4-b.dtb").unlink()
    assert raspi.boot_problems(tree, IDENTITY, "a") == ["bcm2711-rpi-4-b.dtb: missing"]
    tree = boot(tmp_path / "again", root, "a")
    (tree / "autoboot.txt").write_text("[all]\ntryboot_a_b=1\nboot_partition=3\n")
    assert raspi.boot_problems(tree, IDENTITY, "a") == [
        "autoboot.txt: boot_partition=3 is not a boot slot"
    ]
    (root / f"usr/lib/linux-image-{RELEASE}/broadcom/bcm2711-rpi-4-b.dtb").unlink()
    with pytest.raises(FileNotFoundError, match="no Pi 4 device tree"):
        boot(tmp_path / "third", root, "a")


def partitions(disk: Path) -> list[dict[str, object]]:
    table = subprocess.run(
        ["sfdisk", "--json", disk], check=True, capture_output=True, text=True
    ).stdout
    return list(json.loads(table)["partitiontable"]["partitions"])


def test_a_built_pi_disk_boots_partition_1_with_autoboot_and_the_uefi_image_s_own_root(
    tmp_path: Path, root: Path
) -> None:
    """The whole disk from a laid-out root: mkfs.vfat and mtools as in the build, then the boot
    partition read back out of the disk image and checked again."""
    venue = write_venue(tmp_path / "venue.toml", sn=SN)
    images = {"root-a": tmp_path / "root-a.img", "data": tmp_path / "data.img"}
    images["root-a"].write_bytes(b"root slot a" * 1000)
    images["data"].write_bytes(b"data" * 1000)
    work = tmp_path / "work"
    work.mkdir()
    disk = raspi.build_disk(
        tmp_path / "pi.img", work, root, images, config.load(venue), build.Layout(slot=8, data=8)
    )
    parts = partitions(disk)
    assert [p["name"] for p in parts] == list(raspi.PARTITIONS)
    uuids = raspi.partuuids(IDENTITY)
    assert [str(p["uuid"]).lower() for p in parts] == [uuids[n] for n in raspi.PARTITIONS]
    assert uuids["boot-a"] == IDENTITY.partuuids["esp"]  # the root's fstab mounts it at /efi
    assert [str(p["type"]).upper() for p in parts] == [raspi.GPT_TYPES[n] for n in raspi.PARTITIONS]
    with open(disk, "rb") as f:
        f.seek(int(str(parts[2]["start"])) * 512)
        assert f.read(len(b"root slot a" * 1000)) == b"root slot a" * 1000
    out = tmp_path / "read-back"
    out.mkdir()
    offset = int(str(parts[0]["start"])) * 512
    env = {**os.environ, "MTOOLS_SKIP_CHECK": "1"}
    subprocess.run(
        ["mcopy", "-i", f"{disk}@@{offset}", "-s", "-n", "::/*", out], check=True, env=env
    )
    assert raspi.boot_problems(out, IDENTITY, "a") == []
    label = subprocess.run(
        ["mlabel", "-i", f"{disk}@@{offset}", "-s", "::"], capture_output=True, text=True, env=env
    )
    assert "BOOT-A" in label.stdout
    assert not (work / "raspi-boot-a").exists()


# The slot switch (RAUC's custom backend operations), on a directory standing in for boot-a.


@pytest.fixture
def pi_boot(tmp_path: Path) -> raspi_slot.Boot:
    directory = tmp_path / "efi"
    directory.mkdir()
    (directory / "autoboot.txt").write_text(raspi_slot.autoboot_txt("a"))
    return raspi_slot.Boot(directory)


def autoboot(pi_boot: raspi_slot.Boot) -> tuple[str, str]:
    return raspi_slot.parse_autoboot((pi_boot.directory / "autoboot.txt").read_text())


def test_a_trial_is_committed_only_when_the_slot_on_trial_runs_and_is_good(
    pi_boot: raspi_slot.Boot,
) -> None:
    assert (pi_boot.get_primary(), pi_boot.get_state("a"), pi_boot.get_state("b")) == (
        "a",
        "good",
        "good",
    )
    pi_boot.set_primary("b")  # an update wrote slot b; its boot is a trial
    assert pi_boot.get_primary() == "b"
    assert autoboot(pi_boot) == ("a", "b")  # any reset without the tryboot flag boots a
    pi_boot.set_state("a", "good", current="a")  # the old slot blessed again: no commit
    assert autoboot(pi_boot) == ("a", "b") and pi_boot.get_primary() == "b"
    pi_boot.set_state("b", "good", current="b")  # booted once through tryboot, and healthy
    assert autoboot(pi_boot) == ("b", "a")
    assert pi_boot.get_primary() == "b" and pi_boot.states()["pending"] is None
    assert not list(pi_boot.directory.glob("*.new"))


def test_a_bad_trial_is_dropped_and_the_committed_slot_stays(pi_boot: raspi_slot.Boot) -> None:
    pi_boot.set_primary("b")
    pi_boot.set_state("b", "bad", current="a")
    assert (pi_boot.get_primary(), pi_boot.get_state("b")) == ("a", "bad")
    assert autoboot(pi_boot) == ("a", "b")
    pi_boot.set_primary("b")
    pi_boot.set_primary("a")  # setting the committed slot cancels the trial
    assert pi_boot.get_primary() == "a"


def test_the_slot_switch_refuses_what_it_cannot_do_and_writes_nothing(
    pi_boot: raspi_slot.Boot,
) -> None:
    before = {p.name: p.read_bytes() for p in pi_boot.directory.iterdir()}
    with pytest.raises(raspi_slot.SlotError, match="slot 'c'"):
        pi_boot.set_primary("c")
    with pytest.raises(raspi_slot.SlotError, match="state 'fine'"):
        pi_boot.set_state("a", "fine", current="a")
    with pytest.raises(raspi_slot.SlotError, match="no trial of it is pending"):
        pi_boot.set_state("b", "good", current="b")
    assert {p.name: p.read_bytes() for p in pi_boot.directory.iterdir()} == before
    (pi_boot.directory / "edgebox-slots.json").write_text('{"pending": "b", "slo')  # torn
    assert pi_boot.get_primary() == "a" and pi_boot.get_state("b") == "good"
    (pi_boot.directory / "autoboot.txt").unlink()
    with pytest.raises(raspi_slot.SlotError, match="not a Raspberry Pi A/B boot partition"):
        pi_boot.get_primary()


def test_the_running_slot_is_the_root_partition_the_kernel_was_given(
    capsys: pytest.CaptureFixture[str], pi_boot: raspi_slot.Boot
) -> None:
    lsblk = {
        "blockdevices": [
            {"partlabel": None, "partuuid": None, "children": [
                {"partlabel": "boot-a", "partuuid": "E-1"},
                {"partlabel": "root-a", "partuuid": "a-1"},
                {"partlabel": "root-b", "partuuid": "B-1"},
            ]},
        ]
    }  # fmt: skip
    assert raspi_slot.current_slot("console=ttyS1 root=PARTUUID=b-1 ro", lsblk) == "b"
    with pytest.raises(raspi_slot.SlotError, match="not root-a or root-b"):
        raspi_slot.current_slot("root=PARTUUID=e-1", lsblk)
    assert raspi_slot.main(["--boot", str(pi_boot.directory), "get-primary"]) == 0
    assert raspi_slot.main(["--boot", str(pi_boot.directory), "set-primary", "b"]) == 0
    assert raspi_slot.main(["--boot", str(pi_boot.directory), "get-state", "b"]) == 0
    assert raspi_slot.main(["--boot", str(pi_boot.directory), "get-state", "x"]) == 1
    out, err = capsys.readouterr()
    assert out.split() == ["a", "good"] and "slot 'x'" in err


# The arm64 parts of the UEFI image and of the build host.


def test_the_arm64_esp_boots_systemd_boot_for_arm64_with_the_pl011_console(
    tmp_path: Path, root: Path
) -> None:
    venue = write_venue(tmp_path / "venue.toml", sn=SN)
    esp = tmp_path / "esp"
    rootfs.esp_tree(esp, root, config.load(venue), version="1", target=arch.ARM64)
    assert (esp / "EFI/BOOT/BOOTAA64.EFI").read_bytes() == b"systemd-boot for arm64"
    assert (esp / "EFI/systemd/systemd-bootaa64.efi").exists()
    entry = (esp / "loader/entries/edgebox-a.conf").read_text()
    assert "console=ttyAMA0,115200" in entry and "ttyS0" not in entry
    assert f"root=PARTUUID={IDENTITY.partuuids['root-a']} rauc.slot=a ro " in entry
    assert arch.AMD64.kernel_options == update.KERNEL_OPTIONS  # this host is x86-64


def test_arm64_wheels_are_aarch64_manylinux_for_debian_s_python() -> None:
    argv = arch.wheel_argv(arch.ARM64, build.DEBIAN_PYTHON)
    assert argv[:2] == ["--only-binary", ":all:"]
    assert argv[argv.index("--python-version") :][:2] == ["--python-version", "3.11"]
    platforms = [argv[i + 1] for i, a in enumerate(argv) if a == "--platform"]
    assert "manylinux2014_aarch64" in platforms and "manylinux_2_36_aarch64" in platforms
    assert not any("x86_64" in p or "2_38" in p for p in platforms)  # bookworm has glibc 2.36


def test_a_foreign_build_needs_qemu_user_registered_with_binfmt_misc(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(arch, "BINFMT", tmp_path)
    assert "tools/system-deps image" in str(arch.ARM64.binfmt_problem())
    entry = tmp_path / "qemu-aarch64"
    entry.write_text("disabled\ninterpreter /usr/libexec/qemu-binfmt/aarch64-binfmt-P\n")
    assert "is disabled" in str(arch.ARM64.binfmt_problem())
    entry.write_text("enabled\ninterpreter x\nflags: P\n")
    assert "lacks the F flag" in str(arch.ARM64.binfmt_problem())
    entry.write_text("enabled\ninterpreter x\nflags: PF\n")
    assert arch.ARM64.binfmt_problem() is None
    assert arch.AMD64.binfmt_problem() is None  # native: nothing to emulate


def test_arm64_units_verify_and_the_service_may_open_pl011_ports(
    tmp_path: Path, root: Path
) -> None:
    venue = write_venue(tmp_path / "venue.toml", sn=SN)
    (root / "boot/firmware").mkdir()
    (root / "boot/firmware/vmlinuz").write_bytes(b"raspi-firmware's hook copied the kernel")
    rootfs.stage(root, venue, config.load(venue), version="1", extra_trees=arch.ARM64.trees)
    raspi.stage(root)
    assert list((root / "boot/firmware").iterdir()) == []
    shutil.copytree("/lib/systemd/system", root / "usr/lib/systemd/system", symlinks=True)
    entry_point = root / str(rootfs.VENV).lstrip("/") / "bin/edgebox"
    entry_point.parent.mkdir(parents=True)
    entry_point.write_text("#!/bin/sh\n")
    entry_point.chmod(0o755)
    (root / "bin").mkdir()
    shutil.copy2(entry_point, root / "bin/sh")
    assert rootfs.verify_units(root, [*rootfs.UNITS, raspi.BLESS_UNIT]) == []
    dropin = root / "etc/systemd/system/edgebox.service.d/pl011.conf"
    assert "DeviceAllow=char-ttyAMA rw" in dropin.read_text().splitlines()
    wants = root / "etc/systemd/system/multi-user.target.wants" / raspi.BLESS_UNIT
    assert wants.is_symlink()
    assert (root / raspi.SCRIPT).stat().st_mode & 0o777 == 0o755


# The arm64 image, built and booted in qemu-system-aarch64 (`make image-test ARCH=arm64`).

CONSOLE_TREE = Path(__file__).with_name("image") / "console-arm64"


@pytest.fixture(scope="module")
def arm64_image(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The arm64 UEFI disk, built here; or, with EDGEBOX_ARM64_IMAGE, one built before with the
    test shell (`python -m image build --arch arm64 --extra-tree tests/system/image/console-arm64`):
    the build alone takes the better part of an hour under emulation."""
    prebuilt = os.environ.get("EDGEBOX_ARM64_IMAGE")
    if prebuilt:
        return Path(prebuilt)
    assert os.geteuid() == 0, "the image build needs root (debootstrap, chroot)"
    top = tmp_path_factory.mktemp("image-arm64")
    venue = write_venue(top / "venue.toml", sn=SN)
    outputs = build.build(
        venue,
        out=top / "out",
        work=top / "work",
        extra_trees=[CONSOLE_TREE],
        target=arch.ARM64,
        signing=bundles.keys(top / "keys"),  # made for this run, never kept
    )
    assert outputs.raspi is not None
    sizes = ", ".join(
        f"{p.name} {p.stat().st_size / build.MIB:.0f} MiB"
        f" ({p.stat().st_blocks * 512 / build.MIB:.0f} MiB allocated)"
        for p in (outputs.image, outputs.raspi, outputs.bundle)
    )
    report(f"arm64 build {outputs.seconds:.0f} s; {sizes}")
    return outputs.image


@pytest.fixture
def arm64_machine(arm64_image: Path, tmp_path: Path) -> Iterator[vm.Machine]:
    with vm.HostCloud() as cloud:
        disk = vm.overlay(arm64_image, tmp_path / "disk.qcow2")
        guest = vm.Machine(disk, tmp_path, cloud_port=cloud.port, arch="arm64")
        yield guest
        guest.power_cut()


@pytest.mark.image
def test_the_arm64_image_boots_on_qemu_virt_serves_and_survives_kill_9(
    arm64_machine: vm.Machine,
) -> None:
    machine = arm64_machine
    machine.power_on()
    first = machine.wait_lan(2 * BOOT_TIMEOUT)
    report(f"arm64 power-on to first LAN answer: {first:.1f} s (qemu-system-aarch64 -M virt, TCG)")
    items = httpx.get(machine.url + "/api/playlist/items", timeout=10)
    assert items.status_code == 200 and items.json() == []
    shell = machine.shell()
    assert shell.check("uname -m") == "aarch64"
    state = shell.run("systemctl is-system-running --wait", timeout=2 * BOOT_TIMEOUT)
    assert state == (0, "running"), shell.check("systemctl --failed --no-legend")
    assert shell.check("findmnt -no OPTIONS /").split(",")[0] == "ro"
    assert shell.run("touch /usr/written")[0] != 0
    assert shell.check("stat -c '%a %U %G' /etc/edgebox/venue.toml") == "600 edgebox edgebox"
    assert "SystemMaxUse=64M" in shell.check("systemd-analyze cat-config systemd/journald.conf")
    assert shell.check("ls /efi/loader/entries") == "edgebox-a.conf"
    assert "console=ttyAMA0" in shell.check("cat /proc/cmdline")
    # The Pi's bless unit is in the root, and skips itself off a Pi.
    assert shell.check("systemctl show -p ConditionResult --value edgebox-raspi-bless") == "no"
    started = shell.check(
        "systemctl show -p ExecMainStartTimestampMonotonic -p ActiveEnterTimestampMonotonic"
        " --value edgebox"
    ).split()
    report(
        "arm64 gateway process start (exec to READY=1, in the guest):"
        f" {(int(started[1]) - int(started[0])) / 1e6:.1f} s"
    )

    back = kill_9_until_serving(machine, shell, 300)
    report(f"arm64 kill -9 to serving again: {back:.1f} s")
    assert shell.check("systemctl show -p NRestarts --value edgebox") == "1"
    assert httpx.get(machine.url + "/api/playlist/items", timeout=10).status_code == 200


def test_a_foreign_root_builds_its_initramfs_once_without_the_pruned_modules(
    tmp_path: Path,
) -> None:
    root = tmp_path / "root"
    (root / "etc/dpkg/dpkg.cfg.d").mkdir(parents=True)
    build.exclude_pruned_modules(root)
    patterns = [
        line.removeprefix("path-exclude=")
        for line in (root / "etc/dpkg/dpkg.cfg.d/edgebox-pruned-modules").read_text().split()
    ]
    modules = f"/lib/modules/{RELEASE}/kernel"  # as linux-image-* ships them in bookworm

    def excluded(path: str) -> bool:
        return any(fnmatch.fnmatch(path, pattern) for pattern in patterns)  # as dpkg matches

    assert excluded(f"{modules}/drivers/gpu/drm/vc4/vc4.ko.xz")
    assert excluded(f"{modules}/drivers/gpu") and excluded(f"{modules}/sound/core/snd.ko.xz")
    assert not excluded(f"{modules}/drivers/gpio/gpio-raspberrypi-exp.ko.xz")
    assert not excluded(f"{modules}/drivers/usb/serial/ftdi_sio.ko.xz")
    assert excluded(f"/usr/lib/modules/{RELEASE}/kernel/net/wireless/cfg80211.ko.xz")

    conf = root / "etc/initramfs-tools/update-initramfs.conf"
    conf.parent.mkdir(parents=True)
    conf.write_text("update_initramfs=yes\nbackup_initramfs=no\n")
    with build.initramfs_built_once(root, arch.ARM64):
        assert conf.read_text() == "update_initramfs=no\nbackup_initramfs=no\n"
    assert conf.read_text() == "update_initramfs=yes\nbackup_initramfs=no\n"
    with build.initramfs_built_once(root, arch.AMD64):  # this host's own: as it always was
        assert conf.read_text() == "update_initramfs=yes\nbackup_initramfs=no\n"


def test_raspi_firmware_s_scripts_get_a_scratch_boot_firmware_not_the_root(tmp_path: Path) -> None:
    """The command runs only once /boot/firmware is mounted; `mount` is a stand-in here (the
    real one runs in the chroot's own mount namespace)."""
    root = tmp_path / "root"
    prefix = build.scratch_mounts(root, arch.ARM64)
    assert (root / "boot/firmware").is_dir()
    stubs = tmp_path / "bin"
    stubs.mkdir()
    mount = stubs / "mount"
    for status in (1, 0):
        mount.write_text(f'#!/bin/sh\necho "mount $*" >> {tmp_path}/mounts\nexit {status}\n')
        mount.chmod(0o755)
        result = subprocess.run(
            [*prefix, "echo", "ran"],
            capture_output=True,
            text=True,
            env={"PATH": f"{stubs}:/usr/bin:/bin"},
            check=False,
        )
        assert (result.returncode, result.stdout) == ((1, "") if status else (0, "ran\n"))
    assert (tmp_path / "mounts").read_text().splitlines() == [
        "mount -t tmpfs scratch /boot/firmware"
    ] * 2
    assert build.scratch_mounts(root, arch.AMD64) == []


def test_the_test_shell_tree_the_qemu_test_copies_in_is_there() -> None:
    """A build given a missing --extra-tree boots without the tests' shell, and the qemu test
    then waits out its timeout on a console nobody answers."""
    assert (CONSOLE_TREE / "etc/systemd/system/edgebox-test-console.service").is_file()
