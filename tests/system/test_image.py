"""The venue image: its units verify, the venue file lands 0600 for the service user, a bad venue
file stops the build, and the A/B updater writes the other slot before the entry that boots it.

The slow test at the end (`make image-test`) builds the image and boots it in qemu.
"""

from __future__ import annotations

import dataclasses
import io
import itertools
import json
import os
import random
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from PIL import Image

from edgebox.cache import media
from edgebox.core import config
from edgebox.sim.cloud import SimCloud
from edgebox.update import channel
from image import build, release, rootfs, update
from tests.support import bundles, vm

T = TypeVar("T")

VENUE = """\
venue = "Test Lobby"

[cloud]
base_url = "http://10.0.2.100/api/v1"
ws_url = "ws://10.0.2.100/ws/cloud/tb_device/"
username = "box"
password = "s3cret-password"

[device]
sn_number = "{sn}"

[cache]
directory = "{directory}"

[lan]
host = "0.0.0.0"
port = {port}
admin_token = "image-test-token"

[update]
# The test channel on the host, which the guest finds at 10.0.2.101 (plain http only here).
channel = "http://10.0.2.101/"
allow_http = true
poll_interval = 10
poll_jitter = 0
"""


def write_venue(
    path: Path, *, sn: str = "SN-IMAGE-1", directory: str = "/var/lib/edgebox", port: int = 8080
) -> Path:
    path.write_text(VENUE.format(sn=sn, directory=directory, port=port))
    return path


@pytest.fixture
def venue_file(tmp_path: Path) -> Path:
    return write_venue(tmp_path / "venue.toml")


@pytest.fixture
def staged(tmp_path: Path, venue_file: Path) -> Path:
    """The box's own files laid out on an empty root, beside this host's systemd units and a
    stand-in for the venv's entry point, so that `systemd-analyze verify` can resolve them."""
    root = tmp_path / "root"
    rootfs.stage(root, venue_file, config.load(venue_file), version="20260101.000000")
    shutil.copytree("/lib/systemd/system", root / "usr/lib/systemd/system", symlinks=True)
    entry_point = root / str(rootfs.VENV).lstrip("/") / "bin/edgebox"
    entry_point.parent.mkdir(parents=True)
    entry_point.write_text("#!/bin/sh\n")
    entry_point.chmod(0o755)
    return root


def test_units_pass_systemd_analyze_verify(staged: Path) -> None:
    assert rootfs.verify_units(staged) == []


def test_a_misspelt_key_in_a_unit_fails_verification(staged: Path) -> None:
    unit = staged / "etc/systemd/system/edgebox.service"
    unit.write_text(unit.read_text().replace("ProtectSystem=strict", "ProtectSystm=strict"))
    problems = rootfs.verify_units(staged)
    assert any("ProtectSystm" in p for p in problems)


def test_service_hardening_keeps_exposure_at_or_below_2(staged: Path) -> None:
    for unit in ("edgebox.service", "edgebox-healthy.service"):
        result = subprocess.run(
            [
                *("systemd-analyze", "security", "--offline=true", f"--root={staged}"),
                *("--threshold=20", unit),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        assert result.returncode == 0, result.stdout[-400:]


def test_service_runs_unprivileged_with_serial_ports_only(staged: Path) -> None:
    unit = (staged / "etc/systemd/system/edgebox.service").read_text().splitlines()
    assert "User=edgebox" in unit
    assert "SupplementaryGroups=dialout" in unit
    assert "DevicePolicy=closed" in unit
    assert sorted(line for line in unit if line.startswith("DeviceAllow=")) == [
        "DeviceAllow=char-ttyACM rw",
        "DeviceAllow=char-ttyS rw",
        "DeviceAllow=char-ttyUSB rw",
    ]
    assert "ExecStart=/opt/edgebox/bin/edgebox run --config /etc/edgebox/venue.toml" in unit
    assert not (staged / "etc/systemd/system/edgebox.service.d/low-port.conf").exists()


def test_venue_file_lands_0600_owned_by_the_service_user(staged: Path, venue_file: Path) -> None:
    landed = staged / "etc/edgebox/venue.toml"
    st = landed.stat()
    assert st.st_mode & 0o7777 == 0o600
    assert (st.st_uid, st.st_gid) == (rootfs.UID, rootfs.GID)
    assert landed.read_bytes() == venue_file.read_bytes()
    assert (staged / "etc/edgebox").stat().st_mode & 0o7777 == 0o755


def test_stage_names_the_box_after_its_serial(staged: Path, tmp_path: Path) -> None:
    identity = rootfs.Identity.of("SN-IMAGE-1")
    assert (staged / "etc/machine-id").read_text() == identity.machine_id + "\n"
    fstab = (staged / "etc/fstab").read_text()
    assert f"PARTUUID={identity.partuuids['data']} /data ext4" in fstab
    assert "/data/edgebox /var/lib/edgebox none bind" in fstab
    assert (staged / "etc/hostname").read_text() == "edgebox-test-lobby\n"
    assert "IMAGE_VERSION=20260101.000000" in (staged / "etc/os-release").read_text()
    other = rootfs.Identity.of("SN-IMAGE-2")
    assert other.machine_id != identity.machine_id
    assert set(other.partuuids.values()).isdisjoint(identity.partuuids.values())
    assert rootfs.Identity.of("SN-IMAGE-1") == identity


def test_a_port_below_1024_gets_just_the_capability_to_bind_it(tmp_path: Path) -> None:
    venue = write_venue(tmp_path / "venue.toml", port=80)
    root = tmp_path / "root"
    rootfs.stage(root, venue, config.load(venue), version="1")
    dropin = (root / "etc/systemd/system/edgebox.service.d/low-port.conf").read_text()
    assert "AmbientCapabilities=CAP_NET_BIND_SERVICE" in dropin


def test_build_refuses_an_invalid_venue_file_and_names_the_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = write_venue(tmp_path / "venue.toml", port=8080)
    bad.write_text(bad.read_text().replace('base_url = "http://', 'base_url = "ftp://'))
    out, work = tmp_path / "out", tmp_path / "work"
    assert build.main(["build", str(bad), "--out", str(out), "--work", str(work)]) == 1
    err = capsys.readouterr().err
    assert "cloud.base_url: must be an absolute http or https URL" in err
    assert "s3cret-password" not in err
    assert not out.exists() and not work.exists()


def test_build_refuses_state_outside_var_lib_edgebox(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    venue = write_venue(tmp_path / "venue.toml", directory="/srv/edgebox")
    out, work = tmp_path / "out", tmp_path / "work"
    assert build.main(["build", str(venue), "--out", str(out), "--work", str(work)]) == 1
    assert "cache.directory: must be /var/lib/edgebox or below it" in capsys.readouterr().err
    assert not out.exists() and not work.exists()


# The updater, on files standing in for the ESP and the slot partitions.


def test_entry_names_carry_the_try_counter() -> None:
    assert update.parse_entry("edgebox-b+3.conf", "version 2\n") == update.Entry(
        "b", "edgebox-b+3.conf", "2", 3, 0
    )
    tried = update.parse_entry("edgebox-b+0-3.conf", "version 2\n")
    assert tried is not None and tried.state == "bad"
    blessed = update.parse_entry("edgebox-a.conf", "title x\nversion 1\n")
    assert blessed is not None and blessed.state == "good" and blessed.version == "1"
    assert update.parse_entry("other.conf", "") is None


LSBLK = {
    "blockdevices": [
        {"path": "/dev/vda", "pkname": None, "partlabel": None, "partuuid": None, "children": [
            {"path": "/dev/vda1", "pkname": "vda", "partlabel": "esp", "partuuid": "e-1"},
            {"path": "/dev/vda2", "pkname": "vda", "partlabel": "root-a", "partuuid": "A-1"},
            {"path": "/dev/vda3", "pkname": "vda", "partlabel": "root-b", "partuuid": "b-1"},
            {"path": "/dev/vda4", "pkname": "vda", "partlabel": "data", "partuuid": "d-1"},
        ]},
        {"path": "/dev/sda", "pkname": None, "partlabel": None, "partuuid": None, "children": [
            {"path": "/dev/sda2", "pkname": "sda", "partlabel": "root-a", "partuuid": "f-1"},
        ]},
    ]
}  # fmt: skip


def test_slots_are_found_on_the_disk_the_box_booted_from() -> None:
    slots = update.find_slots("BOOT_IMAGE=/x root=PARTUUID=a-1 ro quiet", LSBLK)
    assert slots == update.Slots(
        "a", {"a": "/dev/vda2", "b": "/dev/vda3"}, {"a": "a-1", "b": "b-1"}
    )
    with pytest.raises(update.UpdateError, match="no root-a and root-b pair"):
        update.find_slots("root=PARTUUID=f-1", LSBLK)


def slot_root(tmp_path: Path, version: str) -> Path:
    """A written slot's file system, as set-primary finds it mounted."""
    root = tmp_path / f"slot-root-{version}"
    (root / "boot").mkdir(parents=True)
    (root / "etc").mkdir()
    (root / "boot/vmlinuz-6.1.0-1-amd64").write_bytes(b"kernel " + version.encode())
    (root / "boot/initrd.img-6.1.0-1-amd64").write_bytes(b"initrd " * 1000)
    (root / "etc/os-release").write_text(f"ID=debian\nIMAGE_VERSION={version}\n")
    return root


@pytest.fixture
def boot(tmp_path: Path) -> update.SystemdBoot:
    """An ESP with slot a's blessed entry and slot b's entry from a release that failed."""
    esp = tmp_path / "esp"
    entries = esp / "loader/entries"
    entries.mkdir(parents=True)
    (entries / "edgebox-a.conf").write_text(
        update.entry_text(slot="a", version="20260101.000000", root_partuuid="a-1", title="t")
    )
    (entries / "edgebox-b+0-3.conf").write_text("version 20250101.000000\n")
    slots = update.Slots("a", {"a": "/dev/vda2", "b": "/dev/vda3"}, {"a": "a-1", "b": "b-1"})
    return update.SystemdBoot(esp, slots, title="edgebox Test Lobby")


def entry_names(boot: update.SystemdBoot) -> list[str]:
    return sorted(p.name for p in (boot.esp / "loader/entries").iterdir())


def test_the_boot_backend_answers_rauc_from_the_boot_entries(boot: update.SystemdBoot) -> None:
    assert boot.current() == "a" and boot.primary() == "a"
    assert boot.state("a") == "good" and boot.state("b") == "bad"
    assert boot.failed_versions() == {"20250101.000000"}


def test_set_primary_puts_the_slots_kernel_on_the_esp_and_its_entry_last_with_three_tries(
    tmp_path: Path, boot: update.SystemdBoot
) -> None:
    boot.set_state("b", good=False)  # what RAUC does before it writes the slot
    assert entry_names(boot) == ["edgebox-a.conf"]
    entry = boot.set_primary("b", slot_root(tmp_path, "20260202.000000"))
    assert entry == update.Entry("b", "edgebox-b+3.conf", "20260202.000000", 3, 0)
    assert entry_names(boot) == ["edgebox-a.conf", "edgebox-b+3.conf"]
    assert (boot.esp / "edgebox/b/vmlinuz").read_bytes() == b"kernel 20260202.000000"
    text = (boot.esp / "loader/entries/edgebox-b+3.conf").read_text()
    assert "options root=PARTUUID=b-1 rauc.slot=b ro " in text
    assert "version 20260202.000000" in text and "linux /edgebox/b/vmlinuz" in text
    assert boot.primary() == "b" and boot.state("b") == "good"
    boot.set_state("b", good=True)  # `rauc status mark-good`, as systemd-bless-boot does
    assert entry_names(boot) == ["edgebox-a.conf", "edgebox-b.conf"]


def test_a_slot_that_used_its_tries_is_bad_and_the_previous_one_is_primary_again(
    tmp_path: Path, boot: update.SystemdBoot
) -> None:
    boot.set_primary("b", slot_root(tmp_path, "20260202.000000"))
    entries = boot.esp / "loader/entries"
    (entries / "edgebox-b+3.conf").rename(entries / "edgebox-b+0-3.conf")  # systemd-boot's count
    assert boot.primary() == "a" and boot.state("b") == "bad"
    assert boot.failed_versions() == {"20260202.000000"}


def test_set_primary_of_a_slot_without_a_kernel_leaves_no_entry_pointing_at_it(
    tmp_path: Path, boot: update.SystemdBoot
) -> None:
    broken = slot_root(tmp_path, "20260202.000000")
    (broken / "boot/initrd.img-6.1.0-1-amd64").unlink()
    boot.set_state("b", good=False)
    with pytest.raises(update.UpdateError, match="no initramfs"):
        boot.set_primary("b", broken)
    assert entry_names(boot) == ["edgebox-a.conf"]


def test_system_conf_names_both_slots_the_backend_and_the_keyring() -> None:
    identity = rootfs.Identity.of("SN-IMAGE-1")
    text = update.system_conf(
        compatible="edgebox-x", partuuids=identity.partuuids, store=channel.LOCAL_STORE
    )
    assert "compatible=edgebox-x\nbootloader=custom\nbundle-formats=-plain\n" in text
    assert f"device=/dev/disk/by-partuuid/{identity.partuuids['root-b']}\n" in text
    assert "bootname=b" in text and "path=/etc/rauc/keyring.pem" in text
    assert "bootloader-custom-backend=/usr/local/sbin/edgebox-update" in text
    assert update.read_compatible(text) == "edgebox-x"
    assert "\n[casync]\nstorepath=http://127.0.0.1:7781/\n" in text


def test_a_root_image_follows_from_its_tree_so_a_one_module_release_differs_in_a_few_blocks(
    tmp_path: Path,
) -> None:
    """What keeps a chunked update small: the same tree gives the same bytes, and one changed
    file changes a few blocks, not every block group's metadata."""
    tree = tmp_path / "root"
    for i in range(300):
        path = tree / f"usr/lib/d{i % 12}/f{i}"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(random.Random(i).randbytes(4096 * (1 + i % 9)))
    module = tree / "usr/lib/d3/f3"
    identity = rootfs.Identity.of("SN-IMAGE-1")
    images = [tmp_path / f"root-{n}.img" for n in range(3)]
    build.make_root_ext4(images[0], tree, 64, identity)
    os.utime(tree, (1, 1))  # a later build of the same tree: other times on the host
    build.make_root_ext4(images[1], tree, 64, identity)
    module.write_bytes(module.read_bytes() + b"# a code-only change\n")
    build.make_root_ext4(images[2], tree, 64, identity)

    def chunks(image: Path) -> set[str]:
        """casync's chunks of the image, as a chunked release would be cut."""
        store = image.with_suffix(".castr")
        subprocess.run(
            ["casync", "make", f"--store={store}", str(image.with_suffix(".caibx")), str(image)],
            check=True,
            capture_output=True,
        )
        return {p.name for p in store.rglob("*.cacnk")}

    assert images[0].read_bytes() == images[1].read_bytes()
    first, changed = chunks(images[0]), chunks(images[2])
    assert 0 < len(changed - first) <= 0.1 * len(changed), f"{len(changed - first)} new chunks"
    other = rootfs.Identity.of("SN-IMAGE-2")  # another box: its own file system UUID
    build.make_root_ext4(images[1], tree, 64, other)
    assert images[1].read_bytes() != images[0].read_bytes()


def test_the_build_clamps_the_mtimes_it_made_and_keeps_those_of_packages(tmp_path: Path) -> None:
    """A package's files keep their mtimes (Python's timestamp .pyc files check them); what the
    build wrote gets the release time, so two builds of one tree stamp the same inodes."""
    since = time.time() - 1
    root = tmp_path / "root"
    (root / "usr/lib").mkdir(parents=True)
    packaged, made = root / "usr/lib/packaged.py", root / "usr/lib/made.conf"
    packaged.write_text("x = 1\n")
    os.utime(packaged, (1_600_000_000, 1_600_000_000))  # as dpkg unpacks it
    made.write_text("made\n")
    (root / "usr/lib/link").symlink_to("/nowhere")  # a dangling link: its own mtime changes
    assert build.clamp_mtimes(root, since, int(build.ROOT_FS_TIME)) == 5  # + root, usr, lib
    assert packaged.stat().st_mtime == 1_600_000_000
    assert made.stat().st_mtime == root.stat().st_mtime == int(build.ROOT_FS_TIME)
    assert os.lstat(root / "usr/lib/link").st_mtime == int(build.ROOT_FS_TIME)
    assert build.CHROOT_ENV["SOURCE_DATE_EPOCH"] == build.ROOT_FS_TIME


# Bundles: real RAUC bundles signed with keys made for the test, checked as the box checks them.


@pytest.fixture(scope="module")
def signing(tmp_path_factory: pytest.TempPathFactory) -> release.Signing:
    return bundles.keys(tmp_path_factory.mktemp("keys"))


def check_on_box(bundle: Path, box: dict[str, Path], **kw: Any) -> update.BundleInfo:
    return update.check(
        bundle,
        keyring=box["keyring"],
        system_conf_path=box["system_conf"],
        os_release=box["os_release"],
        **kw,
    )


def test_a_bundle_signed_for_this_box_and_newer_passes_the_check(
    tmp_path: Path, signing: release.Signing
) -> None:
    box = bundles.box_files(tmp_path / "box", signing)
    bundle = bundles.make_bundle(tmp_path, signing)
    assert bundle.stat().st_mode & 0o777 == 0o600  # it carries the venue file
    info = check_on_box(bundle, box)
    assert (info.compatible, info.version, info.format) == (
        bundles.COMPATIBLE,
        "20260202.000000",
        "verity",
    )


def test_every_bad_bundle_is_refused_by_the_check_with_its_reason(
    tmp_path: Path, signing: release.Signing, tmp_path_factory: pytest.TempPathFactory
) -> None:
    box = bundles.box_files(tmp_path / "box", signing)
    stranger = bundles.keys(tmp_path_factory.mktemp("stranger"))
    good = bundles.make_bundle(tmp_path, signing)
    cases = {
        "unsigned": (bundles.unsigned_bundle(tmp_path), "refused"),
        "stranger": (bundles.make_bundle(tmp_path, stranger, seed=2), "refused, signature"),
        "tampered": (bundles.tamper(good), "payload does not match its signature"),
        "other box": (
            bundles.make_bundle(tmp_path, signing, compatible=release.compatible("n" * 32)),
            "this box is",
        ),
        "older": (
            bundles.make_bundle(tmp_path, signing, version="20251231.000000"),
            "older than 20260101.000000",
        ),
        "running": (
            bundles.make_bundle(tmp_path, signing, version=bundles.RUNNING),
            "which is running",
        ),
    }
    for name, (bundle, reason) in cases.items():
        with pytest.raises(update.UpdateError, match=reason):
            check_on_box(bundle, box)
        assert name
    with pytest.raises(update.NothingToDo, match="failed to boot here before"):
        check_on_box(good, box, failed=["20260202.000000"])


def test_the_keyring_in_the_image_holds_certificates_only(
    tmp_path: Path, venue_file: Path, signing: release.Signing
) -> None:
    root = tmp_path / "root"
    rootfs.stage(root, venue_file, config.load(venue_file), version="1", keyring=signing.keyring)
    keyring = (root / "etc/rauc/keyring.pem").read_text()
    assert "BEGIN CERTIFICATE" in keyring and "PRIVATE KEY" not in keyring
    conf = (root / "etc/rauc/system.conf").read_text()
    identity = rootfs.Identity.of("SN-IMAGE-1")
    assert f"compatible=edgebox-{identity.machine_id}\n" in conf
    assert (root / "usr/local/libexec/edgebox-rauc-pre-install").stat().st_mode & 0o111


# The image itself, built and booted in qemu: `make image-test` (minutes, and root).

CONSOLE_TREE = Path(__file__).with_name("image") / "console"
BOOT_TIMEOUT = 600  # software emulation on a busy 2-core machine is slow; KVM takes seconds


@dataclasses.dataclass(frozen=True)
class Built:
    outputs: build.Outputs
    work: Path
    identity: rootfs.Identity
    signing: release.Signing


def report(figure: str) -> None:
    """Figures for the record (printed with -s, as `make image-test` runs it)."""
    print(f"\n[image] {figure}", flush=True)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    assert os.geteuid() == 0, "the image build needs root (debootstrap, chroot)"
    reuse = os.environ.get("EDGEBOX_IMAGE_TEST_REUSE")  # an earlier run's basetemp: tests only
    if reuse:
        return reused_build(Path(reuse) / "image0")
    top = tmp_path_factory.mktemp("image")
    venue = write_venue(top / "venue.toml")
    signing = bundles.keys(top / "keys")  # made for this run, never kept
    outputs = build.build(
        venue, out=top / "out", work=top / "work", extra_trees=[CONSOLE_TREE], signing=signing
    )
    image = outputs.image.stat()
    report(
        f"build {outputs.seconds:.0f} s; image {image.st_size / build.MIB:.0f} MiB"
        f" ({image.st_blocks * 512 / build.MIB:.0f} MiB allocated);"
        f" bundle {outputs.bundle.stat().st_size / build.MIB:.0f} MiB"
    )
    name = rootfs.image_name(config.load(venue))
    return Built(outputs, top / "work" / name, rootfs.Identity.of("SN-IMAGE-1"), signing)


def reused_build(top: Path) -> Built:
    """What an earlier run built, to iterate on the qemu tests without building again."""
    work = top / "work" / "Test-Lobby"
    version = update.image_version((work / "root/etc/os-release").read_text())
    keys = top / "keys"
    outputs = build.Outputs(top / "out/Test-Lobby.img", top / "out/Test-Lobby.raucb", version, 0.0)
    signing = release.Signing(
        keys / "release.cert.pem", keys / "release.key.pem", keys / "keyring.pem"
    )
    return Built(outputs, work, rootfs.Identity.of("SN-IMAGE-1"), signing)


@pytest.fixture
def host_cloud() -> Iterator[vm.HostCloud]:
    """The venue's cloud, empty until a test publishes something; the box finds it at
    10.0.2.100, the address baked into the image's venue file."""
    with vm.HostCloud() as cloud:
        yield cloud


@pytest.fixture
def machine(built: Built, host_cloud: vm.HostCloud, tmp_path: Path) -> Iterator[vm.Machine]:
    disk = vm.overlay(built.outputs.image, tmp_path / "disk.qcow2")
    guest = vm.Machine(disk, tmp_path, cloud_port=host_cloud.port)
    yield guest
    guest.power_cut()


def main_pid(shell: vm.Shell) -> int:
    return int(shell.check("systemctl show -p MainPID --value edgebox"))


def kill_9_until_serving(machine: vm.Machine, shell: vm.Shell, timeout: float) -> float:
    """SIGKILL the gateway; seconds until systemd has a new one and it answers on the LAN."""
    before = main_pid(shell)
    shell.check(f"kill -9 {before}")
    killed_at = time.monotonic()
    deadline = killed_at + timeout
    while main_pid(shell) in (before, 0):
        assert time.monotonic() < deadline, shell.check("systemctl status edgebox --no-pager")
        time.sleep(0.5)
    machine.wait_lan(timeout)
    return time.monotonic() - killed_at


@pytest.mark.image
def test_image_boots_read_only_and_serves_the_lan_api(machine: vm.Machine) -> None:
    machine.power_on()
    first = machine.wait_lan(BOOT_TIMEOUT)
    report(f"power-on to first LAN answer: {first:.1f} s ({machine.accel})")
    items = httpx.get(machine.url + "/api/playlist/items", timeout=10)
    assert items.status_code == 200 and items.json() == []
    shell = machine.shell()
    state = shell.run("systemctl is-system-running --wait", timeout=BOOT_TIMEOUT)
    assert state == (0, "running"), shell.check("systemctl --failed --no-legend")
    assert shell.check("findmnt -no OPTIONS /").split(",")[0] == "ro"
    assert shell.run("touch /usr/written")[0] != 0
    assert shell.check("stat -c '%a %U %G' /etc/edgebox/venue.toml") == "600 edgebox edgebox"
    pid = main_pid(shell)
    uids = shell.check(f"grep '^Uid:' /proc/{pid}/status").split()[1:]
    groups = shell.check(f"grep '^Groups:' /proc/{pid}/status").split()[1:]
    assert uids == [str(rootfs.UID)] * 4
    assert sorted(groups) == sorted(["20", str(rootfs.GID)])  # dialout and its own, no other
    assert shell.check("findmnt -no SOURCE,TARGET /var/lib/edgebox").endswith("/var/lib/edgebox")
    assert "SystemMaxUse=64M" in shell.check("systemd-analyze cat-config systemd/journald.conf")
    assert shell.check("ls /efi/loader/entries") == "edgebox-a.conf"
    rauc = json.loads(shell.check("rauc status --output-format=json"))
    assert (rauc["booted"], rauc["boot_primary"]) == ("a", "rootfs.0"), rauc


@pytest.mark.image
def test_service_is_restarted_after_kill_9(machine: vm.Machine) -> None:
    machine.power_on()
    machine.wait_lan(BOOT_TIMEOUT)
    shell = machine.shell()
    report(f"kill -9 to serving again: {kill_9_until_serving(machine, shell, 120):.1f} s")
    assert shell.check("systemctl show -p NRestarts --value edgebox") == "1"
    assert shell.check("systemctl is-active edgebox") == "active"


def png(i: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 32), (i % 256, 255 - i % 256, 80)).save(out, "PNG")
    return out.getvalue()


@pytest.mark.image
def test_acknowledged_writes_survive_a_power_cut_in_the_middle_of_writing(
    machine: vm.Machine, built: Built
) -> None:
    machine.power_on()
    machine.wait_lan(BOOT_TIMEOUT)
    items: list[str] = []
    images: dict[str, int] = {}
    stop = threading.Event()

    def write() -> None:
        with httpx.Client(base_url=machine.url, timeout=10) as client:
            for i in itertools.count():
                if stop.is_set():
                    return
                try:
                    if i % 3 == 0:
                        r = client.post(
                            "/api/images", content=png(i), headers={"Content-Type": "image/png"}
                        )
                        if r.status_code == 201:
                            images[r.json()["id"]] = r.json()["size"]
                    else:
                        item = {
                            "content": {"type": "Text", "data": {"text": f"{i}"}},
                            "duration": 5,
                        }
                        r = client.post("/api/playlist/items", json=item)
                        if r.status_code == 201:
                            items.append(r.json()["id"])
                except httpx.HTTPError:
                    return

    writer = threading.Thread(target=write)
    writer.start()
    deadline = time.monotonic() + 300
    while len(items) + len(images) < 60 and writer.is_alive():
        assert time.monotonic() < deadline
        time.sleep(0.05)
    machine.power_cut()  # while the writer has a request in flight
    stop.set()
    writer.join()
    assert len(items) >= 30 and len(images) >= 10

    machine.power_on()
    machine.wait_lan(BOOT_TIMEOUT)
    kept = [i["id"] for i in httpx.get(machine.url + "/api/playlist/items", timeout=10).json()]
    assert kept[: len(items)] == items
    for image_id, size in images.items():
        r = httpx.get(f"{machine.url}/api/images/{image_id}", timeout=10)
        assert r.status_code == 200 and len(r.content) == size
    shell = machine.shell()
    data = built.identity.partuuids["data"]
    fsck = f'"systemd-fsck@$(systemd-escape -p /dev/disk/by-partuuid/{data}).service"'
    assert shell.check(f"systemctl show -p ActiveState --value {fsck}") == "active"
    assert shell.check(f"systemctl show -p Result --value {fsck}") == "success"
    boots = shell.check("journalctl --list-boots --no-pager").splitlines()[1:]  # a header first
    assert len(boots) == 2  # the journal on the data partition kept the boot that was cut


MEDIA = Path("/var/lib/edgebox/media")
BIG_MIB = 32
MEDIA_DRIP = 250_000  # bytes per second per response until the cut: the big file takes 134 s
CUT_AFTER_MIB = 14  # past the first 8 MiB the cache fsyncs and vouches for, short of the next


def cached(shell: vm.Shell) -> dict[str, str]:
    """Every file in the box's media cache, `.part` files included, and its MD5."""
    out = shell.check(f"find {MEDIA} -maxdepth 1 -type f -exec md5sum {{}} +")
    return {
        Path(path).name: md5
        for md5, path in (line.split(maxsplit=1) for line in out.split("\n") if line)
    }


def poll(condition: Callable[[], T | None], shell: vm.Shell, timeout: float = BOOT_TIMEOUT) -> T:
    """`condition()` every second until it gives something; the box's log if it never does."""
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        assert time.monotonic() < deadline, shell.check("journalctl -u edgebox --no-pager -n 40")
        time.sleep(1)
    return value


def at_final_names(files: dict[str, str]) -> dict[str, str]:
    return {name: md5 for name, md5 in files.items() if not name.endswith(".part")}


@pytest.mark.image
def test_the_media_cache_survives_a_power_cut_in_the_middle_of_a_download(
    machine: vm.Machine, host_cloud: vm.HostCloud
) -> None:
    """The cut lands while the box downloads the largest file of its playlist. After power-on the
    files it had finished are there and not fetched again, no file at a final name has a wrong
    MD5, and the download goes on from the last bytes the box had fsynced and vouched for."""
    big = random.Random(8).randbytes(BIG_MIB * build.MIB)

    def publish(cloud: SimCloud) -> dict[str, dict[str, Any]]:
        items = [cloud.add_media(f"slide{i}.png", png(i)) for i in range(3)]
        items.append(cloud.add_media("intro.mp4", big))
        cloud.set_playlists("front", [cloud.playlist(301, "Lobby", items)])
        cloud.slow_bytes_per_s = MEDIA_DRIP
        return {media.safe_name(i["media_id"], i["media_name"]): i for i in items}

    items = host_cloud.call(publish)
    expected = {name: item["checksum"] for name, item in items.items()}
    small = {name for name, item in items.items() if item["file_size"] < build.MIB}
    (big_name,) = set(items) - small
    big_url = items[big_name]["media_url"]

    def requests_for(cloud: SimCloud) -> list[tuple[str, str | None]]:
        return [(r.path, r.headers.get("range")) for r in cloud.requests_to("/media/")]

    machine.power_on()
    machine.wait_lan(BOOT_TIMEOUT)
    shell = machine.shell()

    def due() -> dict[str, str] | None:
        files = cached(shell)
        sent = host_cloud.call(lambda cloud: cloud.media_bytes_sent)
        return files if small <= files.keys() and sent > CUT_AFTER_MIB * build.MIB else None

    files = poll(due, shell)
    assert big_name + ".part" in files, files
    assert at_final_names(files) == {name: expected[name] for name in small}
    machine.power_cut()
    sent = host_cloud.call(lambda cloud: cloud.media_bytes_sent)
    asked_before = host_cloud.call(requests_for)
    heard_before = host_cloud.call(lambda cloud: len(cloud.received))

    machine.power_on()
    machine.wait_lan(BOOT_TIMEOUT)
    shell = machine.shell()
    asked_after = poll(lambda: host_cloud.call(requests_for)[len(asked_before) :], shell)
    resumed_from = int((asked_after[0][1] or "bytes=0-").removeprefix("bytes=").rstrip("-"))
    files = cached(shell)
    assert at_final_names(files) == {name: expected[name] for name in small}

    host_cloud.call(lambda cloud: setattr(cloud, "slow_bytes_per_s", None))
    undripped_at = time.monotonic()

    def ready(cloud: SimCloud) -> bool:
        return any(
            m.get("type") == "playlist_status"
            and m["playlist_id"] == 301
            and m["status"] == "ready"
            for m in cloud.received[heard_before:]
        )

    poll(lambda: host_cloud.call(ready), shell)
    ready_after = machine.uptime()  # since the power came back
    rest = (BIG_MIB * build.MIB - resumed_from) / build.MIB
    # One request: the finished files stay finished, and the bytes resumed were the right ones.
    assert host_cloud.call(requests_for)[len(asked_before) :] == [
        (big_url, f"bytes={resumed_from}-")
    ]
    assert cached(shell) == expected
    report(
        f"power cut with {sent / build.MIB:.1f} MiB of the {BIG_MIB} MiB file sent; after"
        f" power-on the box resumed from byte {resumed_from} ({resumed_from / build.MIB:.1f} MiB"
        f" kept), fetched none of its {len(small)} finished files again, and reported the"
        f" playlist ready {ready_after:.0f} s after the power came back (the last"
        f" {rest:.1f} MiB, undripped, in {time.monotonic() - undripped_at:.0f} s)"
    )
    assert media.RECORD_PART_AFTER <= resumed_from <= sent


@dataclasses.dataclass(frozen=True)
class Releases:
    """Bundles of later releases of the built system, signed with the run's key."""

    next: Path  # the same system with one module of the gateway changed
    bad: Path  # a root without an init: the initramfs panics and reboots, on every try


NEXT, BAD = "29990101.000000", "29990202.000000"


def release_root(
    built: Built, path: Path, version: str, *, code: str = "", no_init: bool = False
) -> Path:
    """The built root tree with another IMAGE_VERSION (and a change), as a shrunk ext4 image;
    the tree is put back as it was."""
    root = built.work / "root"
    os_release = root / "etc/os-release"
    (module,) = root.glob("opt/edgebox/lib/python3*/site-packages/edgebox/__init__.py")
    inits = [root / "usr/sbin/init", root / "usr/bin/sh"]
    saved = {p: p.read_bytes() for p in (os_release, module)}
    stat = os_release.stat()
    try:
        text = os_release.read_text().replace(
            f"IMAGE_VERSION={built.outputs.version}", f"IMAGE_VERSION={version}"
        )
        os_release.write_text(text)
        os.utime(os_release, ns=(stat.st_atime_ns, stat.st_mtime_ns))
        if code:
            module.write_text(module.read_text() + code)
        if no_init:
            for link in inits:
                link.rename(link.with_name(link.name + ".gone"))
        build.make_root_ext4(path, root, build.Layout().slot, built.identity)
    finally:
        for file, data in saved.items():
            file.write_bytes(data)
        for link in inits:
            gone = link.with_name(link.name + ".gone")
            if gone.is_symlink() or gone.exists():
                gone.rename(link)
    return path


@pytest.fixture(scope="module")
def releases(built: Built, tmp_path_factory: pytest.TempPathFactory) -> Releases:
    reuse = os.environ.get("EDGEBOX_IMAGE_TEST_REUSE")
    if reuse:
        top = Path(reuse) / "releases0"
        made = {v: top / f"{v}.raucb" for v in (NEXT, BAD)}
        return Releases(made[NEXT], made[BAD])
    started = time.monotonic()
    top = tmp_path_factory.mktemp("releases")
    compatible = release.compatible(built.identity.machine_id)
    made = {}
    for version, change in ((NEXT, {"code": "\n# a code-only change\n"}), (BAD, {"no_init": True})):
        root = release_root(built, top / f"root-{version}.img", version, **change)
        made[version] = release.write_bundle(
            top / f"{version}.raucb",
            root_img=root,
            compatible=compatible,
            version=version,
            venue="Test Lobby",
            signing=built.signing,
        )
        root.unlink()
    report(f"the release bundles for the update tests: {time.monotonic() - started:.0f} s")
    return Releases(made[NEXT], made[BAD])


def offer(directory: Path, bundle: Path, built: Built, version: str, rollout: float = 100) -> None:
    """A manifest signed with the run's key that offers `bundle` as it is (bad ones too)."""
    name = f"offered-{version}-{bundle.name}"
    shutil.copyfile(bundle, directory / name)
    manifest = channel.Manifest(
        published="now",
        rollout_percent=rollout,
        releases=(
            channel.Release(
                release.compatible(built.identity.machine_id),
                version,
                name,
                bundle.stat().st_size,
                release.sha256(bundle),
            ),
        ),
    )
    (directory / channel.MANIFEST).write_bytes(channel.render_manifest(manifest))
    release.sign_detached(
        directory / channel.MANIFEST, directory / channel.SIGNATURE, built.signing
    )


def fat_stick(path: Path, bundle: Path) -> Path:
    """A USB stick as anyone would make one: a FAT file system with the bundle at its top."""
    size_kib = bundle.stat().st_size // 1024 + 64 * 1024
    subprocess.run(
        ["mkfs.vfat", "-F", "32", "-n", "UPDATE", "-C", str(path), str(size_kib)],
        check=True,
        capture_output=True,
    )
    env = {**os.environ, "MTOOLS_SKIP_CHECK": "1"}
    subprocess.run(["mcopy", "-i", str(path), str(bundle), "::/update.raucb"], check=True, env=env)
    return path


def update_status(machine: vm.Machine) -> dict[str, Any]:
    try:
        response = httpx.get(
            machine.url + "/api/status",
            headers={"Authorization": "Bearer image-test-token"},
            timeout=5,
        )
    except httpx.HTTPError:
        return {}
    return response.json().get("update", {}) if response.status_code == 200 else {}


def wait_update(
    machine: vm.Machine, condition: Callable[[dict[str, Any]], bool], timeout: float
) -> dict[str, Any]:
    """The box's update status, across its reboots, until `condition` holds."""
    deadline = time.monotonic() + timeout
    last: dict[str, Any] = {}
    while time.monotonic() < deadline:
        status = update_status(machine)
        last = status or last
        if status and condition(status):
            return status
        time.sleep(1)
    raise AssertionError(
        f"the update status never got there; last: {last}\n{machine.console_tail()}"
    )


def until(
    machine: vm.Machine, command: str, expected: Callable[[str], bool], timeout: float
) -> tuple[vm.Shell, str]:
    """Run `command` in the guest, across its reboots, until its output is what is expected."""
    deadline = time.monotonic() + timeout
    output = ""
    while time.monotonic() < deadline:
        try:
            shell = machine.shell(timeout=30)
            status, output = shell.run(command, timeout=30)
        except (TimeoutError, ConnectionError):
            continue
        if status == 0 and expected(output):
            return shell, output
        time.sleep(3)
    raise AssertionError(f"`{command}` never gave what was expected; last: {output!r}")


def entries_are(*names: str) -> Callable[[str], bool]:
    return lambda out: out.split() == list(names)


CHUNKS_BEFORE_CUT = 2  # chunks fetched before the power cut
CHUNK_DRIP = 8 << 10  # bytes per second for each chunk until then: a few seconds each


@pytest.mark.image
def test_updates_from_the_channel(
    built: Built, releases: Releases, host_cloud: vm.HostCloud, tmp_path: Path
) -> None:
    """One box, one channel on the host: a tampered stick, an unsigned and a tampered bundle are
    refused while it keeps serving; rollout 0 % leaves it alone; at 100 % it takes the release
    in chunks, loses power in the middle, resumes after power-on with the chunks it had, installs
    into slot b, reboots and is blessed, having fetched a small part of the whole bundle; then a
    release that cannot boot (the whole bundle this time) is installed and rolls back to slot b
    after three tries."""
    directory = tmp_path / "channel"
    directory.mkdir()
    unsigned = bundles.unsigned_bundle(tmp_path)
    tampered = bundles.tamper(releases.next, at=1 << 20)
    stick = fat_stick(tmp_path / "stick.img", tampered)
    a, b = built.identity.partuuids["root-a"], built.identity.partuuids["root-b"]
    with vm.HostChannel(directory) as host:
        disk = vm.overlay(built.outputs.image, tmp_path / "disk.qcow2")
        machine = vm.Machine(disk, tmp_path, cloud_port=host_cloud.port, channel_port=host.port)
        machine.usb_sticks.append(stick)
        try:
            offer(directory, unsigned, built, NEXT)
            machine.power_on()
            machine.wait_lan(BOOT_TIMEOUT)
            status = wait_update(
                machine, lambda u: u["state"] == "refused" and "refused" in u["last_error"], 300
            )
            report(f"unsigned bundle: {status['last_error']}")
            shell, _ = until(
                machine,
                "journalctl -b -u edgebox-update@sda.service --no-pager",
                lambda out: "does not match its signature" in out,
                BOOT_TIMEOUT,
            )
            offer(directory, tampered, built, NEXT)
            status = wait_update(
                machine, lambda u: "does not match its signature" in (u["last_error"] or ""), 600
            )
            report(f"tampered bundle: {status['last_error']}")
            assert f"root=PARTUUID={a} " in shell.check("cat /proc/cmdline")
            assert httpx.get(machine.url + "/healthz", timeout=10).status_code == 200
            assert shell.check("ls /efi/loader/entries") == "edgebox-a.conf"

            release.publish(releases.next, directory, built.signing, rollout=0)
            asked = len(host.call(lambda c: c.requests_for(".raucb")))
            wait_update(machine, lambda u: "not rolled out" in u["state"], 120)
            time.sleep(25)  # two more polls
            assert "not rolled out" in update_status(machine)["state"]
            assert len(host.call(lambda c: c.requests_for(".raucb"))) == asked

            host.call(lambda c: setattr(c, "slow_suffix", ".cacnk"))
            host.call(lambda c: setattr(c, "slow_bytes_per_s", CHUNK_DRIP))
            sent_before = host.call(lambda c: c.bytes_sent)
            (offered,) = release.publish(
                releases.next, directory, built.signing, rollout=100
            ).releases
            assert offered.chunked is not None
            wait_update(
                machine,
                lambda u: u["transfer"] == "chunks" and u["chunks_fetched"] >= CHUNKS_BEFORE_CUT,
                900,
            )
            machine.power_cut()
            before = {path for path, _ in host.call(lambda c: c.requests_for(".cacnk"))}
            asked = len(host.call(lambda c: c.requests_for(".cacnk")))
            host.call(lambda c: setattr(c, "slow_bytes_per_s", None))

            machine.power_on()
            deadline = time.monotonic() + 2 * BOOT_TIMEOUT
            while len(host.call(lambda c: c.requests_for(".cacnk"))) == asked:
                assert time.monotonic() < deadline, machine.console_tail()
                time.sleep(0.5)
            polled_at = time.monotonic()
            deadline = time.monotonic() + 1800
            while update_status(machine).get("state") == "installing":  # then down to reboot
                assert time.monotonic() < deadline, machine.console_tail()
                time.sleep(1)
            installed_at = time.monotonic()
            machine.wait_down(BOOT_TIMEOUT)
            shell, _ = until(
                machine,
                "cat /proc/cmdline",
                lambda out: f"root=PARTUUID={b} " in out,
                3 * BOOT_TIMEOUT,
            )
            status = wait_update(machine, lambda u: u["blessed"] == NEXT, BOOT_TIMEOUT)
            blessed_at = time.monotonic()
            assert status["running"] == NEXT
            after = [path for path, _ in host.call(lambda c: c.requests_for(".cacnk"))[asked:]]
            # Only chunks it lacked after the power came back: at most those in flight again.
            assert len(after) == len(set(after)) and len(before & set(after)) <= 2
            assert host.call(lambda c: c.requests_for(offered.bundle)) == []
            sent = host.call(lambda c: c.bytes_sent) - sent_before
            full = releases.next.stat().st_size
            assert shell.check("ls /efi/loader/entries").split() == [
                "edgebox-a.conf",
                "edgebox-b.conf",
            ]
            assert shell.check("systemctl is-active systemd-bless-boot.service") == "active"
            metrics = httpx.get(machine.url + "/metrics", timeout=10).text
            assert f'edgebox_update_state{{offered="",running="{NEXT}",state="' in metrics
            report(
                f"code-only release in chunks: {sent} bytes sent by the channel"
                f" ({sent / build.MIB:.1f} MiB: the chunked bundle {offered.chunked.size} bytes,"
                f" {len(before) + len(after)} chunks) = {100 * sent / full:.1f} % of the whole"
                f" bundle ({full} bytes, {full / build.MIB:.0f} MiB); power cut after"
                f" {len(before)} chunks, {len(after)} fetched after it; from the first chunk"
                f" after power-on to blessed on slot b: {blessed_at - polled_at:.0f} s"
                f" (`rauc install` {installed_at - polled_at:.0f} s, reboot to blessed"
                f" {blessed_at - installed_at:.0f} s)"
            )
            assert sent <= 0.10 * full

            release.publish(releases.bad, directory, built.signing, chunks=False)
            offered_at = time.monotonic()
            status = wait_update(machine, lambda u: u["state"] == "installing", 900)
            assert status["transfer"] == "bundle"
            assert status["bytes_done"] == releases.bad.stat().st_size
            machine.wait_down(1800)
            shell, _ = until(
                machine,
                "ls /efi/loader/entries",
                entries_are("edgebox-a+0-3.conf", "edgebox-b.conf"),
                8 * BOOT_TIMEOUT,
            )
            status = wait_update(machine, lambda u: u["rolled_back"] == BAD, BOOT_TIMEOUT)
            report(
                f"a release that cannot boot: offered to serving again from slot b,"
                f" rolled back: {time.monotonic() - offered_at:.0f} s"
            )
            assert f"root=PARTUUID={b} " in shell.check("cat /proc/cmdline")
            assert status["running"] == NEXT and BAD in status["last_error"]
            # The tampered stick is still in. Its signed manifest says the version that runs now,
            # so it is judged before a byte of its payload is read, and nothing fails.
            assert shell.run("systemctl is-system-running --wait", timeout=BOOT_TIMEOUT) == (
                0,
                "running",
            )
            assert "which is running; nothing to do" in shell.check(
                "journalctl -b -u edgebox-update@sda.service --no-pager"
            )
            assert "slot a  29990202.000000  bad" in shell.check("edgebox-update status")
            time.sleep(25)  # it is not taken again
            assert "rolled back here before" in update_status(machine)["state"]
        finally:
            machine.power_cut()


@pytest.mark.image
def test_a_usb_stick_with_a_signed_bundle_updates_the_other_slot_which_is_blessed_once_healthy(
    machine: vm.Machine, built: Built, releases: Releases, tmp_path: Path
) -> None:
    """The venue's way without a channel: the same checks, then RAUC, then the same blessing."""
    machine.usb_sticks.append(fat_stick(tmp_path / "stick.img", releases.next))
    machine.power_on()
    machine.wait_lan(BOOT_TIMEOUT)
    machine.wait_down(30 * 60)  # RAUC writes slot b, then the stick's unit reboots
    b = built.identity.partuuids["root-b"]
    shell, _ = until(
        machine, "cat /proc/cmdline", lambda out: f"root=PARTUUID={b} " in out, 3 * BOOT_TIMEOUT
    )
    assert shell.run("systemctl is-system-running --wait", timeout=BOOT_TIMEOUT) == (0, "running")
    report(f"power-on with a signed stick to blessed on slot b: {machine.uptime():.0f} s")
    assert shell.check("systemctl is-active systemd-bless-boot.service") == "active"
    assert shell.check("ls /efi/loader/entries").split() == ["edgebox-a.conf", "edgebox-b.conf"]
    assert f"IMAGE_VERSION={NEXT}" in shell.check("cat /etc/os-release")
    # The stick is still in: the bundle is what runs now, so nothing happens.
    log = shell.check("journalctl -b -u edgebox-update@sda.service --no-pager")
    assert "which is running; nothing to do" in log


def test_the_pre_install_handler_reads_the_mounted_manifest_and_refuses_an_older_version() -> None:
    """RAUC runs it with the bundle mounted; the version is judged before the slot is written."""
    text = release.manifest_raucm(compatible="edgebox-x", version="20251231.000000", venue="v")
    info = update.parse_raucm(text)
    assert (info.compatible, info.version) == ("edgebox-x", "20251231.000000")
    assert info.format == "verity"
    with pytest.raises(update.UpdateError, match=r"older than 20260101\.000000"):
        update.judge(info, compatible="edgebox-x", running="20260101.000000")
    with pytest.raises(update.UpdateError, match="unreadable"):
        update.parse_raucm("[update]\nversion=1\n")
    result = subprocess.run(
        [sys.executable, str(Path(update.__file__)), "pre-install"],
        env={**os.environ, "RAUC_BUNDLE_MOUNT_POINT": ""},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1 and "RAUC_BUNDLE_MOUNT_POINT" in result.stderr
