"""The venue image: its units verify, the venue file lands 0600 for the service user, a bad venue
file stops the build, and the A/B updater writes the other slot before the entry that boots it.

The slow test at the end (`make image-test`) builds the image and boots it in qemu.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import itertools
import json
import os
import random
import shutil
import subprocess
import tarfile
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
from image import build, rootfs, update
from tests.support import vm

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


@pytest.fixture
def slotted(tmp_path: Path) -> tuple[update.Slots, Path]:
    """An ESP with slot a's blessed entry and a stale slot b entry, and two slot 'partitions'."""
    esp = tmp_path / "esp"
    entries = esp / "loader/entries"
    entries.mkdir(parents=True)
    (entries / "edgebox-a.conf").write_text(
        update.entry_text(slot="a", version="20260101.000000", root_partuuid="a-1", title="t")
    )
    (entries / "edgebox-b+0-3.conf").write_text("version 20250101.000000\n")
    devices = {}
    for slot in update.SLOTS:
        device = tmp_path / f"slot-{slot}"
        device.write_bytes(b"\xee" * 300_000)
        devices[slot] = str(device)
    return update.Slots("a", devices, {"a": "a-1", "b": "b-1"}), esp


def make_bundle(tmp_path: Path, version: str, machine_id: str = "m" * 32) -> Path:
    (tmp_path / "vmlinuz").write_bytes(b"kernel " + version.encode())
    (tmp_path / "initrd.img").write_bytes(b"initrd " * 1000)
    (tmp_path / "root.img").write_bytes(bytes(range(256)) * 1000)
    bundle = tmp_path / f"{version}.update.tar"
    update.write_bundle(
        bundle,
        version=version,
        venue="Test Lobby",
        machine_id=machine_id,
        vmlinuz=tmp_path / "vmlinuz",
        initrd=tmp_path / "initrd.img",
        root_img=tmp_path / "root.img",
    )
    return bundle


def test_install_writes_the_other_slot_and_adds_its_entry_with_three_tries(
    tmp_path: Path, slotted: tuple[update.Slots, Path]
) -> None:
    slots, esp = slotted
    bundle = make_bundle(tmp_path, "20260202.000000")
    assert bundle.stat().st_mode & 0o777 == 0o600  # it carries the venue file
    entry = update.install(bundle, slots, esp, "m" * 32)
    assert entry.name == "edgebox-b+3.conf"
    root = (tmp_path / "root.img").read_bytes()
    written = Path(slots.devices["b"]).read_bytes()
    assert written[: len(root)] == root and written[len(root) :] == b"\xee" * (300_000 - len(root))
    assert Path(slots.devices["a"]).read_bytes() == b"\xee" * 300_000
    assert (esp / "edgebox/b/vmlinuz").read_bytes() == b"kernel 20260202.000000"
    assert sorted(p.name for p in (esp / "loader/entries").iterdir()) == [
        "edgebox-a.conf",
        "edgebox-b+3.conf",
    ]
    text = (esp / "loader/entries/edgebox-b+3.conf").read_text()
    assert "options root=PARTUUID=b-1 ro " in text
    assert "version 20260202.000000" in text and "linux /edgebox/b/vmlinuz" in text


def test_install_refuses_another_box_an_older_version_and_a_boot_on_trial(
    tmp_path: Path, slotted: tuple[update.Slots, Path]
) -> None:
    slots, esp = slotted
    untouched = Path(slots.devices["b"]).read_bytes()
    with pytest.raises(update.UpdateError, match="built for another box"):
        update.install(make_bundle(tmp_path, "20260202.000000", "n" * 32), slots, esp, "m" * 32)
    with pytest.raises(update.UpdateError, match=r"the running slot is 20260101\.000000"):
        update.install(make_bundle(tmp_path, "20251231.000000"), slots, esp, "m" * 32)
    assert Path(slots.devices["b"]).read_bytes() == untouched
    (esp / "loader/entries/edgebox-a.conf").rename(esp / "loader/entries/edgebox-a+2-1.conf")
    with pytest.raises(update.UpdateError, match="still on trial"):
        update.install(make_bundle(tmp_path, "20260202.000000"), slots, esp, "m" * 32)


def test_a_corrupt_root_image_leaves_no_entry_pointing_at_the_slot(
    tmp_path: Path, slotted: tuple[update.Slots, Path]
) -> None:
    slots, esp = slotted
    bundle = make_bundle(tmp_path, "20260202.000000")
    # The same bundle with a manifest that promises another root image.
    tampered = tmp_path / "tampered.tar"
    with tarfile.open(bundle) as src, tarfile.open(tampered, "w") as dst:
        for member in src.getmembers():
            data = src.extractfile(member)
            assert data is not None
            raw = data.read()
            if member.name == "manifest.json":
                manifest = json.loads(raw)
                manifest["files"]["root.img"]["sha256"] = hashlib.sha256(b"other").hexdigest()
                raw = json.dumps(manifest).encode()
                member.size = len(raw)
            dst.addfile(member, io.BytesIO(raw))
    with pytest.raises(update.UpdateError, match=r"root\.img: .* the manifest says"):
        update.install(tampered, slots, esp, "m" * 32)
    assert [p.name for p in (esp / "loader/entries").iterdir()] == ["edgebox-a.conf"]


# The image itself, built and booted in qemu: `make image-test` (minutes, and root).

CONSOLE_TREE = Path(__file__).with_name("image") / "console"
BOOT_TIMEOUT = 600  # software emulation on a busy 2-core machine is slow; KVM takes seconds


@dataclasses.dataclass(frozen=True)
class Built:
    outputs: build.Outputs
    work: Path
    identity: rootfs.Identity


def report(figure: str) -> None:
    """Figures for the record (printed with -s, as `make image-test` runs it)."""
    print(f"\n[image] {figure}", flush=True)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    assert os.geteuid() == 0, "the image build needs root (debootstrap, chroot)"
    top = tmp_path_factory.mktemp("image")
    venue = write_venue(top / "venue.toml")
    outputs = build.build(venue, out=top / "out", work=top / "work", extra_trees=[CONSOLE_TREE])
    image = outputs.image.stat()
    report(
        f"build {outputs.seconds:.0f} s; image {image.st_size / build.MIB:.0f} MiB"
        f" ({image.st_blocks * 512 / build.MIB:.0f} MiB allocated);"
        f" bundle {outputs.bundle.stat().st_size / build.MIB:.0f} MiB"
    )
    name = rootfs.image_name(config.load(venue))
    return Built(outputs, top / "work" / name, rootfs.Identity.of("SN-IMAGE-1"))


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
DRIP = 250_000  # bytes per second per response until the cut: the big file would take 134 s
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
        cloud.slow_bytes_per_s = DRIP
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


def bundle(built: Built, path: Path, version: str, root_img: Path | None = None) -> Path:
    kernel, initrd = rootfs.boot_files(built.work / "root")
    update.write_bundle(
        path,
        version=version,
        venue="Test Lobby",
        machine_id=built.identity.machine_id,
        vmlinuz=kernel,
        initrd=initrd,
        root_img=root_img or built.work / "root-a.img",
    )
    return path


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
        except TimeoutError:
            continue
        if status == 0 and expected(output):
            return shell, output
        time.sleep(3)
    raise AssertionError(f"`{command}` never gave what was expected; last: {output!r}")


def entries_are(*names: str) -> Callable[[str], bool]:
    return lambda out: out.split() == list(names)


@pytest.mark.image
def test_a_usb_stick_with_a_bundle_updates_the_other_slot_which_is_blessed_once_healthy(
    machine: vm.Machine, built: Built, tmp_path: Path
) -> None:
    machine.usb_sticks.append(bundle(built, tmp_path / "next.tar", "29990101.000000"))
    machine.power_on()
    machine.wait_lan(BOOT_TIMEOUT)
    b = built.identity.partuuids["root-b"]
    shell, _ = until(
        machine, "cat /proc/cmdline", lambda out: f"root=PARTUUID={b} " in out, 3 * BOOT_TIMEOUT
    )
    machine.wait_lan(BOOT_TIMEOUT)
    assert shell.run("systemctl is-system-running --wait", timeout=BOOT_TIMEOUT) == (0, "running")
    report(f"power-on with the stick to blessed on slot b: {machine.uptime():.0f} s")
    assert shell.check("systemctl is-active systemd-bless-boot.service") == "active"
    assert shell.check("ls /efi/loader/entries").split() == ["edgebox-a.conf", "edgebox-b.conf"]
    # The stick is still in: the bundle is what runs now, so nothing happens.
    log = shell.check("journalctl -b -u edgebox-update@sda.service --no-pager")
    assert "which is running; nothing to do" in log


@pytest.mark.image
def test_an_update_that_cannot_boot_rolls_back_to_the_previous_slot(
    machine: vm.Machine, built: Built, tmp_path: Path
) -> None:
    broken = tmp_path / "broken-root.img"
    broken.write_bytes(b"\0" * build.MIB)  # no file system: the initramfs cannot mount it
    machine.usb_sticks.append(bundle(built, tmp_path / "bad.tar", "29990101.000000", broken))
    machine.power_on()
    machine.wait_lan(BOOT_TIMEOUT)
    shell, _ = until(
        machine,
        "ls /efi/loader/entries",
        entries_are("edgebox-a.conf", "edgebox-b+0-3.conf"),
        6 * BOOT_TIMEOUT,
    )
    machine.wait_lan(BOOT_TIMEOUT)
    report(f"power-on with a bad stick to serving again from slot a: {machine.uptime():.0f} s")
    a = built.identity.partuuids["root-a"]
    assert f"root=PARTUUID={a} " in shell.check("cat /proc/cmdline")
    assert shell.run("systemctl is-system-running --wait", timeout=BOOT_TIMEOUT) == (0, "running")
    assert "failed to boot here before; nothing to do" in shell.check(
        "journalctl -b -u edgebox-update@sda.service --no-pager"
    )
    assert "slot b  29990101.000000  bad" in shell.check("edgebox-update status")
