"""Updates from a channel: the signed manifest, which boxes take a release, the download with
resume into a bounded directory, bundles refused with nothing installed, and the reboot waiting
for the maintenance window (on MockClock). The channel is a real HTTP server on 127.0.0.1, the
bundles real RAUC bundles signed with keys made for the test; only RAUC's install and the
reboot (root's, on a box) are recorded instead of done."""

from __future__ import annotations

import json
import random
import shutil
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio
import trio.testing
from hypothesis import given
from hypothesis import strategies as st

from edgebox.core import config
from edgebox.core.errors import ManifestError, StorageFull, UpdateError
from edgebox.core.values import MaintenanceWindow
from edgebox.sim.channel import SimChannel, serve
from edgebox.update import channel, chunks, verify
from edgebox.update.agent import Hooks, UpdateAgent
from image import release
from tests.support import bundles

UPDATE_PY = Path(__file__).resolve().parents[2] / "image" / "update.py"


@pytest.fixture(scope="module")
def signing(tmp_path_factory: pytest.TempPathFactory) -> release.Signing:
    return bundles.keys(tmp_path_factory.mktemp("keys"))


@pytest.fixture(scope="module")
def stranger(tmp_path_factory: pytest.TempPathFactory) -> release.Signing:
    """Someone else's keys: a valid CA and signing key that this box does not trust."""
    return bundles.keys(tmp_path_factory.mktemp("stranger"))


# The manifest.


def manifest_dict(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "format": 1,
        "published": "2026-12-06T00:00:00Z",
        "rollout_percent": 50,
        "hold": ["SN-HELD"],
        "allow": ["SN-EARLY"],
        "releases": [
            {
                "compatible": bundles.COMPATIBLE,
                "version": "20260202.000000",
                "bundle": "edgebox-x-20260202.000000.raucb",
                "size": 1234,
                "sha256": "ab" * 32,
            }
        ],
    }
    data.update(changes)
    return data


def test_a_manifest_round_trips_through_its_json() -> None:
    manifest = channel.parse_manifest(json.dumps(manifest_dict()).encode())
    assert manifest.rollout_percent == 50.0
    assert manifest.hold == ("SN-HELD",) and manifest.allow == ("SN-EARLY",)
    assert manifest.release_for(bundles.COMPATIBLE) == channel.Release(
        bundles.COMPATIBLE, "20260202.000000", "edgebox-x-20260202.000000.raucb", 1234, "ab" * 32
    )
    assert channel.parse_manifest(channel.render_manifest(manifest)) == manifest


CHUNKED = {"bundle": "x.chunked.raucb", "size": 99, "sha256": "cd" * 32}


def test_a_release_in_chunks_round_trips_and_names_its_store() -> None:
    data = with_release(chunked=CHUNKED)
    manifest = channel.parse_manifest(json.dumps(data).encode())
    (item,) = manifest.releases
    assert item.chunked == channel.Chunked("x.chunked.raucb", 99, "cd" * 32, store="store/")
    assert channel.parse_manifest(channel.render_manifest(manifest)) == manifest
    cdn = with_release(chunked={**CHUNKED, "store": "https://cdn.example/chunks/"})
    assert channel.parse_manifest(json.dumps(cdn).encode()).releases[0].chunked.store == (  # type: ignore[union-attr]
        "https://cdn.example/chunks/"
    )


def with_release(**changes: Any) -> dict[str, Any]:
    data = manifest_dict()
    data["releases"][0].update(changes)
    return data


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (manifest_dict(format=2), "format: 2"),
        (manifest_dict(rollout_percent=101), "rollout_percent: 101"),
        (manifest_dict(rollout_percent="50"), "rollout_percent: must be float"),
        (manifest_dict(hold="SN-1"), "hold: must be a list"),
        (manifest_dict(releases={}), "releases: must be a list"),
        (with_release(sha256="AB" * 32), r"releases\[0\]\.sha256"),
        (with_release(size=0), r"releases\[0\]\.size: must be positive"),
        (with_release(size=True), r"releases\[0\]\.size: must be int"),
        (with_release(version="1 2"), r"releases\[0\]\.version"),
        (with_release(bundle="../../etc/passwd"), r"releases\[0\]\.bundle"),
        (with_release(bundle="/abs"), r"releases\[0\]\.bundle"),
        (with_release(chunked=[]), r"releases\[0\]\.chunked: must be an object"),
        (with_release(chunked={**CHUNKED, "size": -1}), r"releases\[0\]\.chunked\.size"),
        (with_release(chunked={**CHUNKED, "store": "../up/"}), r"chunked\.store"),
        (with_release(chunked={**CHUNKED, "store": "store"}), r"chunked\.store"),
        ({"format": 1}, "rollout_percent: missing"),
        ([], "must be a JSON object"),
    ],
)
def test_a_bad_manifest_is_refused_naming_the_key(data: Any, problem: str) -> None:
    with pytest.raises(ManifestError, match=problem):
        channel.parse_manifest(json.dumps(data).encode())


def test_a_manifest_that_is_not_json_is_refused() -> None:
    with pytest.raises(ManifestError, match="not JSON"):
        channel.parse_manifest(b"\xff{")


def test_the_manifest_signature_verifies_only_for_the_keyring_and_the_exact_bytes(
    tmp_path: Path, signing: release.Signing, stranger: release.Signing
) -> None:
    raw = channel.render_manifest(channel.parse_manifest(json.dumps(manifest_dict()).encode()))
    data = tmp_path / "manifest.json"
    data.write_bytes(raw)
    ours, theirs = tmp_path / "ours.sig", tmp_path / "theirs.sig"
    release.sign_detached(data, ours, signing)
    release.sign_detached(data, theirs, stranger)
    verify.verify_manifest(raw, ours.read_bytes(), signing.keyring)
    with pytest.raises(ManifestError, match="does not verify"):
        verify.verify_manifest(raw, theirs.read_bytes(), signing.keyring)
    with pytest.raises(ManifestError, match="does not verify"):
        verify.verify_manifest(raw.replace(b'"rollout_percent": 50', b'"rollout_percent": 99'),
                               ours.read_bytes(), signing.keyring)  # fmt: skip
    with pytest.raises(ManifestError, match="does not verify"):
        verify.verify_manifest(raw, b"", signing.keyring)


def test_a_keyring_with_the_old_and_the_new_ca_accepts_both_during_a_rotation(
    tmp_path: Path, signing: release.Signing, stranger: release.Signing
) -> None:
    raw = b'{"x": 1}'
    data = tmp_path / "m.json"
    data.write_bytes(raw)
    new_sig = tmp_path / "new.sig"
    release.sign_detached(data, new_sig, stranger)
    both = tmp_path / "keyring.pem"
    both.write_bytes(signing.keyring.read_bytes() + stranger.keyring.read_bytes())
    verify.verify_manifest(raw, new_sig.read_bytes(), both)
    with pytest.raises(ManifestError):
        verify.verify_manifest(raw, new_sig.read_bytes(), signing.keyring)


# Who takes a release.


@given(st.text(min_size=1, max_size=40))
def test_a_serials_rollout_position_is_stable_and_in_range(sn: str) -> None:
    position = channel.rollout_position(sn)
    assert 0 <= position < 100
    assert channel.rollout_position(sn) == position


def test_a_rollout_takes_about_its_share_and_a_wider_one_keeps_the_same_boxes() -> None:
    serials = [f"EDGEBOX-{i:05d}" for i in range(20_000)]
    base = channel.parse_manifest(json.dumps(manifest_dict(hold=[], allow=[])).encode())
    chosen = {}
    for pct in (0, 10, 50, 100):
        manifest = channel.Manifest(base.published, float(pct), base.releases)
        chosen[pct] = {sn for sn in serials if channel.in_rollout(manifest, sn)}
    assert chosen[0] == set() and chosen[100] == set(serials)
    assert abs(len(chosen[10]) - 2000) < 200 and abs(len(chosen[50]) - 10_000) < 400
    assert chosen[10] <= chosen[50]


def test_held_serials_never_take_a_release_and_allowed_ones_always_do() -> None:
    manifest = channel.parse_manifest(json.dumps(manifest_dict(rollout_percent=100)).encode())
    assert not channel.in_rollout(manifest, "SN-HELD")
    zero = channel.parse_manifest(json.dumps(manifest_dict(rollout_percent=0)).encode())
    assert channel.in_rollout(zero, "SN-EARLY")
    assert not channel.in_rollout(zero, "SN-OTHER")


def test_the_decision_names_why_a_release_is_not_taken() -> None:
    manifest = channel.parse_manifest(json.dumps(manifest_dict(rollout_percent=100)).encode())

    def decide(**kw: Any) -> channel.Decision:
        args: dict[str, Any] = {
            "compatible": bundles.COMPATIBLE,
            "sn_number": "SN-1",
            "running": "20260101.000000",
        }
        return channel.decide(manifest, **{**args, **kw})

    assert decide().release is not None
    assert decide(compatible="edgebox-other").reason == "no release for this box"
    assert decide(running="20260202.000000").reason.startswith("up to date")
    assert "older than" in decide(running="20270101.000000").reason
    assert "rolled back here before" in decide(failed=frozenset({"20260202.000000"})).reason
    assert "not rolled out" in decide(sn_number="SN-HELD").reason


def test_the_maintenance_window_opens_at_its_start_and_may_cross_midnight() -> None:
    night = MaintenanceWindow.parse("23:30-02:00")
    assert night is not None
    assert night.wait(23 * 3600 + 45 * 60) == 0
    assert night.wait(3600) == 0
    assert night.wait(2 * 3600) == 21.5 * 3600
    early = MaintenanceWindow.parse("02:00-05:00")
    assert early is not None and early.wait(23 * 3600) == 3 * 3600
    assert MaintenanceWindow.parse("") is None
    for bad in ("2-5", "25:00-26:00", "02:00-02:00", "02:61-03:00"):
        with pytest.raises(ValueError):
            MaintenanceWindow.parse(bad)


def test_the_venue_file_refuses_a_plain_http_channel_unless_told(tmp_path: Path) -> None:
    from tests.conftest import base_venue

    plain = base_venue(tmp_path, update={"channel": "http://127.0.0.1:1/c/"})
    with pytest.raises(Exception, match=r"update\.channel: must be https"):
        config.parse(plain)
    allowed = base_venue(tmp_path, update={"channel": "http://127.0.0.1:1/c/", "allow_http": True})
    assert config.parse(allowed).update.allow_http
    bad_window = base_venue(tmp_path, update={"maintenance_window": "late"})
    with pytest.raises(Exception, match=r"update\.maintenance_window"):
        config.parse(bad_window)


# The agent against a channel on loopback.


@pytest.fixture
async def sim_channel(tmp_path: Path) -> AsyncIterator[SimChannel]:
    sim = SimChannel(tmp_path / "channel")
    sim.directory.mkdir()
    async with trio.open_nursery() as nursery:
        await nursery.start(serve, sim)
        yield sim
        nursery.cancel_scope.cancel()


@pytest.fixture
def box(tmp_path: Path, signing: release.Signing) -> dict[str, Path]:
    return bundles.box_files(tmp_path / "box", signing)


class Recorder:
    """RAUC's install and the reboot, recorded: on a box they are root's."""

    def __init__(self) -> None:
        self.installed: list[bytes] = []
        self.reboots = 0
        self.playing = False

    def install(self, bundle: Path) -> None:
        self.installed.append(bundle.read_bytes())

    def reboot(self) -> None:
        self.reboots += 1


def make_agent(
    sim: SimChannel,
    box: dict[str, Path],
    directory: Path,
    recorder: Recorder,
    *,
    window: str = "",
    seconds_into_day: Callable[[], float] | None = None,
    **update: Any,
) -> UpdateAgent:
    cfg = config.UpdateConfig(
        channel=sim.url,
        allow_http=True,
        maintenance_window=window,
        keyring=box["keyring"],
        system_conf=box["system_conf"],
        os_release=box["os_release"],
        **update,
    )
    command = [
        *(sys.executable, str(UPDATE_PY), "check"),
        *("--keyring", str(box["keyring"]), "--system-conf", str(box["system_conf"])),
        *("--os-release", str(box["os_release"])),
    ]
    hooks = Hooks(
        check=lambda bundle: verify.check_bundle(bundle, command),
        install=recorder.install,
        reboot=recorder.reboot,
        blessed=lambda: True,
        idle=lambda: not recorder.playing,
    )
    extra = {} if seconds_into_day is None else {"seconds_into_day": seconds_into_day}
    return UpdateAgent(
        cfg,
        sn_number="SN-1",
        directory=directory,
        http=httpx.AsyncClient(timeout=10),
        hooks=hooks,
        rng=random.Random(1),
        **extra,
    )


def publish(sim: SimChannel, bundle: Path, signing: release.Signing, **kw: Any) -> None:
    """The whole bundle only, unless told: chunked bundles need larger slot images."""
    release.publish(bundle, sim.directory, signing, **{"chunks": False, **kw})


async def test_the_agent_downloads_checks_installs_and_reboots_once_nothing_plays(
    tmp_path: Path, sim_channel: SimChannel, box: dict[str, Path], signing: release.Signing
) -> None:
    bundle = bundles.make_bundle(tmp_path, signing)
    publish(sim_channel, bundle, signing)
    recorder = Recorder()
    recorder.playing = True
    agent = make_agent(sim_channel, box, tmp_path / "dl", recorder)
    async with trio.open_nursery() as nursery:
        await nursery.start(agent.run)
        with trio.fail_after(30):
            while agent.status.state != "waiting until nothing plays":
                await trio.sleep(0.05)
        assert recorder.installed == [bundle.read_bytes()] and recorder.reboots == 0
        recorder.playing = False
        with trio.fail_after(60):
            while not recorder.reboots:
                await trio.sleep(0.05)
        nursery.cancel_scope.cancel()
    assert agent.status.installed == "20260202.000000"
    assert agent.status.bytes_done == agent.status.bytes_total == bundle.stat().st_size
    assert json.loads((tmp_path / "dl/state.json").read_text())["pending"] == "20260202.000000"
    assert not list((tmp_path / "dl").glob("*.raucb*"))  # the bundle goes once installed


async def test_after_the_reboot_the_agent_reports_blessed_or_rolled_back(
    tmp_path: Path, sim_channel: SimChannel, box: dict[str, Path]
) -> None:
    directory = tmp_path / "dl"
    directory.mkdir()
    (directory / "state.json").write_text(json.dumps({"pending": "20260101.000000"}))
    agent = make_agent(sim_channel, box, directory, Recorder())
    await agent.recover()
    assert agent.status.state == "blessed" and agent.status.blessed == "20260101.000000"
    (directory / "state.json").write_text(json.dumps({"pending": "20260909.000000"}))
    agent = make_agent(sim_channel, box, directory, Recorder())
    await agent.recover()
    assert agent.status.state == "rolled back" and "20260909.000000" in agent.failed
    assert json.loads((directory / "state.json").read_text()) == {
        "pending": None,
        "installed": True,  # a state file from before chunked installs: it was installed
        "failed": ["20260909.000000"],
    }


@pytest.mark.parametrize("kind", ["unsigned", "stranger", "tampered", "other box", "older"])
async def test_a_bad_bundle_is_refused_and_nothing_is_installed_or_kept(
    kind: str,
    tmp_path: Path,
    sim_channel: SimChannel,
    box: dict[str, Path],
    signing: release.Signing,
    stranger: release.Signing,
) -> None:
    if kind == "unsigned":
        bundle = bundles.unsigned_bundle(tmp_path)
    elif kind == "stranger":
        bundle = bundles.make_bundle(tmp_path, stranger)
    elif kind == "tampered":
        bundle = bundles.tamper(bundles.make_bundle(tmp_path, signing))
    elif kind == "other box":
        bundle = bundles.make_bundle(tmp_path, signing, compatible=release.compatible("n" * 32))
    else:
        bundle = bundles.make_bundle(tmp_path, signing, version="20251231.000000")
    # A manifest signed by us that points at the bad bundle: the bundle's own checks refuse it.
    name = "bundle.raucb"
    (sim_channel.directory / name).write_bytes(bundle.read_bytes())
    manifest = channel.Manifest(
        published="now",
        rollout_percent=100.0,
        releases=(
            channel.Release(
                bundles.COMPATIBLE,
                "20260202.000000",
                name,
                bundle.stat().st_size,
                release.sha256(bundle),
            ),
        ),
    )
    (sim_channel.directory / channel.MANIFEST).write_bytes(channel.render_manifest(manifest))
    release.sign_detached(
        sim_channel.directory / channel.MANIFEST,
        sim_channel.directory / channel.SIGNATURE,
        signing,
    )
    recorder = Recorder()
    agent = make_agent(sim_channel, box, tmp_path / "dl", recorder)
    await agent.recover()
    await agent.poll_once()
    assert agent.status.state == "refused", agent.status
    assert agent.status.last_error is not None and agent.status.last_error.startswith(
        "BundleRefused"
    )
    assert recorder.installed == [] and recorder.reboots == 0
    assert not list((tmp_path / "dl").glob("*.raucb*"))
    asked = len(sim_channel.requests_for(".raucb"))
    await agent.poll_once()  # the same bytes offered again are not fetched again
    assert agent.status.state == "refused" and len(sim_channel.requests_for(".raucb")) == asked


async def test_a_manifest_signed_by_a_stranger_or_changed_is_refused_before_any_download(
    tmp_path: Path,
    sim_channel: SimChannel,
    box: dict[str, Path],
    signing: release.Signing,
    stranger: release.Signing,
) -> None:
    bundle = bundles.make_bundle(tmp_path, signing)
    publish(sim_channel, bundle, signing)
    manifest = sim_channel.directory / channel.MANIFEST
    release.sign_detached(manifest, sim_channel.directory / channel.SIGNATURE, stranger)
    recorder = Recorder()
    agent = make_agent(sim_channel, box, tmp_path / "dl", recorder)
    await agent.poll_once()
    assert agent.status.state == "refused" and "does not verify" in str(agent.status.last_error)
    publish(sim_channel, bundle, signing)
    manifest.write_bytes(manifest.read_bytes().replace(b'"size": ', b'"size": 1'))
    await agent.poll_once()
    assert agent.status.state == "refused"
    assert sim_channel.requests_for(".raucb") == [] and recorder.installed == []


async def test_a_bundle_whose_bytes_differ_from_the_manifest_is_deleted(
    tmp_path: Path, sim_channel: SimChannel, box: dict[str, Path], signing: release.Signing
) -> None:
    bundle = bundles.make_bundle(tmp_path, signing)
    publish(sim_channel, bundle, signing)
    (published,) = sim_channel.directory.glob("*.raucb")
    published.write_bytes(bundles.tamper(published).read_bytes())
    recorder = Recorder()
    agent = make_agent(sim_channel, box, tmp_path / "dl", recorder)
    await agent.poll_once()
    assert "sha256" in str(agent.status.last_error) and agent.status.state == "refused"
    assert recorder.installed == [] and not list((tmp_path / "dl").glob("*.raucb*"))


async def test_rollout_zero_leaves_the_box_alone_and_downloads_nothing(
    tmp_path: Path, sim_channel: SimChannel, box: dict[str, Path], signing: release.Signing
) -> None:
    publish(sim_channel, bundles.make_bundle(tmp_path, signing), signing, rollout=0)
    recorder = Recorder()
    agent = make_agent(sim_channel, box, tmp_path / "dl", recorder)
    await agent.poll_once()
    assert "not rolled out" in agent.status.state
    assert sim_channel.requests_for(".raucb") == [] and recorder.installed == []


async def test_plain_http_is_refused_unless_the_venue_file_allows_it(
    tmp_path: Path, sim_channel: SimChannel, box: dict[str, Path]
) -> None:
    agent = make_agent(sim_channel, box, tmp_path / "dl", Recorder())
    agent.config = config.UpdateConfig(
        channel=sim_channel.url, allow_http=False, keyring=box["keyring"]
    )
    await agent.poll_once()
    assert "plain http is not allowed" in str(agent.status.last_error)
    assert sim_channel.requests == []


async def test_a_bundle_larger_than_the_bound_or_the_free_space_is_not_downloaded(
    tmp_path: Path, sim_channel: SimChannel, box: dict[str, Path], signing: release.Signing
) -> None:
    bundle = bundles.make_bundle(tmp_path, signing)
    publish(sim_channel, bundle, signing)
    agent = make_agent(sim_channel, box, tmp_path / "dl", Recorder(), max_bundle_bytes=1000)
    await agent.poll_once()
    assert "max_bundle_bytes" in str(agent.status.last_error)
    agent = make_agent(sim_channel, box, tmp_path / "dl", Recorder(), min_free_bytes=2**40 - 1)
    await agent.poll_once()
    assert "the data partition has" in str(agent.status.last_error)
    assert sim_channel.requests_for(".raucb") == []


async def test_an_interrupted_download_resumes_from_the_bytes_it_vouched_for(
    tmp_path: Path, sim_channel: SimChannel, box: dict[str, Path], signing: release.Signing
) -> None:
    root = tmp_path / "big.ext4"
    root.write_bytes(random.Random(5).randbytes(24 << 20))  # incompressible: a 24 MiB bundle
    bundle = release.write_bundle(
        tmp_path / "big.raucb",
        root_img=root,
        compatible=bundles.COMPATIBLE,
        version="20260202.000000",
        venue="x",
        signing=signing,
    )
    publish(sim_channel, bundle, signing)
    sim_channel.slow_bytes_per_s = 8 << 20
    recorder = Recorder()
    first = make_agent(sim_channel, box, tmp_path / "dl", recorder)
    await first.recover()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(first.poll_once)
        with trio.fail_after(30):
            while first.status.bytes_done < 18 << 20:
                await trio.sleep(0.05)
        nursery.cancel_scope.cancel()  # the power goes
    cut_at = first.status.bytes_done
    sim_channel.slow_bytes_per_s = None
    second = make_agent(sim_channel, box, tmp_path / "dl", recorder)
    await second.recover()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(second.poll_once)
        with trio.fail_after(60):
            while not recorder.reboots:
                await trio.sleep(0.05)
        nursery.cancel_scope.cancel()
    asked = sim_channel.requests_for(".raucb")
    assert asked[0][1] is None and len(asked) == 2
    resumed = int((asked[1][1] or "").removeprefix("bytes=").rstrip("-"))
    assert 16 << 20 <= resumed <= cut_at  # from the last 8 MiB it fsynced and recorded
    assert second.status.resumed_from == resumed
    assert recorder.installed == [bundle.read_bytes()]


def test_with_a_window_the_reboot_waits_for_it_even_when_nothing_plays(
    tmp_path: Path, box: dict[str, Path]
) -> None:
    """Installed at 22:00 with the window 02:00-04:00: the reboot comes four hours later."""
    recorder = Recorder()
    started = 0.0
    agent = make_agent(
        SimChannel(tmp_path, url="https://127.0.0.1:9/channel/"),
        box,
        tmp_path / "dl",
        recorder,
        window="02:00-04:00",
        seconds_into_day=lambda: 22 * 3600 + trio.current_time() - started,
    )
    agent.pending = "20260202.000000"

    async def main() -> float:
        nonlocal started
        started = trio.current_time()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(agent.reboot_when_allowed)
            await trio.sleep(1)
            while agent.status.state != "rebooting":
                assert agent.status.state == "waiting for the maintenance window"
                assert recorder.reboots == 0
                await trio.sleep(60)
            rebooting_at = trio.current_time()
            while not recorder.reboots:  # the reboot hook runs in a thread
                await trio.sleep(1)
            nursery.cancel_scope.cancel()
        return rebooting_at - started

    waited = trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
    assert recorder.reboots == 1
    assert 4 * 3600 <= waited <= 4 * 3600 + 60  # 22:00 to 02:00, looked at every minute


def test_without_a_window_the_reboot_waits_until_nothing_plays(
    tmp_path: Path, box: dict[str, Path]
) -> None:
    recorder = Recorder()
    recorder.playing = True
    agent = make_agent(
        SimChannel(tmp_path, url="https://127.0.0.1:9/channel/"), box, tmp_path / "dl", recorder
    )

    async def main() -> float:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(agent.reboot_when_allowed)
            await trio.sleep(3600)
            assert recorder.reboots == 0 and agent.status.state == "waiting until nothing plays"
            recorder.playing = False
            stopped = trio.current_time()
            while agent.status.state != "rebooting":
                await trio.sleep(1)
            rebooting_at = trio.current_time()
            while not recorder.reboots:
                await trio.sleep(1)
            nursery.cancel_scope.cancel()
        return rebooting_at - stopped

    assert trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0)) <= 31


async def test_the_status_and_metrics_show_the_update_state(
    tmp_path: Path, sim_channel: SimChannel, box: dict[str, Path], signing: release.Signing
) -> None:
    from edgebox.core.metrics import Metrics
    from edgebox.update.service import UpdateCollector

    publish(sim_channel, bundles.make_bundle(tmp_path, signing), signing, rollout=0)
    agent = make_agent(sim_channel, box, tmp_path / "dl", Recorder())
    metrics = Metrics.create()
    metrics.registry.register(UpdateCollector(agent.status))
    await agent.poll_once()
    shown = agent.status.as_dict()
    assert shown["channel"] == sim_channel.url and shown["running"] == bundles.RUNNING
    text = metrics.exposition().decode()
    assert 'edgebox_update_state{offered="",running="20260101.000000",state="' in text
    assert "edgebox_update_download_bytes 0.0" in text


async def test_a_running_box_with_a_channel_shows_its_update_state_on_the_lan(
    tmp_path: Path,
    sim_channel: SimChannel,
    box: dict[str, Path],
    signing: release.Signing,
    make_config: Callable[..., config.VenueConfig],
    nursery: trio.Nursery,
) -> None:
    from edgebox.runtime import wiring
    from tests.conftest import ADMIN_TOKEN

    publish(sim_channel, bundles.make_bundle(tmp_path, signing), signing, rollout=0)
    cfg = make_config(
        update={
            "channel": sim_channel.url,
            "allow_http": True,
            "poll_interval": 10,
            "keyring": str(box["keyring"]),
            "system_conf": str(box["system_conf"]),
            "os_release": str(box["os_release"]),
        }
    )
    running = await wiring.open_box(cfg)
    await nursery.start(wiring.run, running)
    auth = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    async with httpx.AsyncClient(base_url=running.lan_urls[0]) as client:
        with trio.fail_after(30):
            while True:
                shown = (await client.get("/api/status", headers=auth)).json()["update"]
                if "not rolled out" in shown["state"]:
                    break
                await trio.sleep(0.1)
        metrics = (await client.get("/metrics")).text
    assert shown["channel"] == sim_channel.url and shown["running"] == bundles.RUNNING
    assert shown["offered"] is None and shown["last_error"] is None
    assert "edgebox_update_state{" in metrics and "not rolled out" in metrics
    assert sim_channel.requests_for(".raucb") == []
    assert running.supervisor.states["update"].status == "running"


async def test_when_rauc_refuses_the_install_nothing_waits_for_a_reboot(
    tmp_path: Path, sim_channel: SimChannel, box: dict[str, Path], signing: release.Signing
) -> None:
    publish(sim_channel, bundles.make_bundle(tmp_path, signing), signing)
    recorder = Recorder()

    def refuse(bundle: Path) -> None:
        raise UpdateError("`rauc install` failed: pre-install handler refused")

    agent = make_agent(sim_channel, box, tmp_path / "dl", recorder)
    agent.hooks.install = refuse
    await agent.poll_once()
    assert agent.status.state == "error" and "pre-install" in str(agent.status.last_error)
    assert json.loads((tmp_path / "dl/state.json").read_text())["pending"] is None
    assert recorder.reboots == 0 and not list((tmp_path / "dl").glob("*.raucb*"))


@pytest.mark.parametrize(
    ("shown", "complete", "blessed"),
    [
        ("WantedBy=basic.target\nActiveState=active\n", "active", True),
        # boot-complete.target is reached just before systemd-bless-boot renames the entry
        ("WantedBy=basic.target\nActiveState=inactive\n", "active", False),
        ("WantedBy=basic.target\nActiveState=activating\n", "active", False),
        ("WantedBy=basic.target\nActiveState=failed\n", "active", False),
        # no try counter on this boot: nothing to rename, the health gate is the blessing
        ("WantedBy=\nActiveState=inactive\n", "active", True),
        ("WantedBy=\nActiveState=inactive\n", "inactive", False),
        ("", "active", True),
    ],
)
def test_a_boot_on_trial_is_blessed_once_its_entry_is_renamed(
    shown: str, complete: str, blessed: bool
) -> None:
    from edgebox.update.service import is_blessed

    assert is_blessed(shown, complete) is blessed


# Releases in chunks: a real casync bundle from `rauc convert`, installed the way RAUC installs
# one (`casync extract` with the running slot as the seed and the agent's loopback store).

SLOT = 8 << 20


@pytest.fixture
def slots(tmp_path: Path) -> dict[str, Path]:
    """The running slot, the same image with 2 MiB of it changed (the release), and the idle
    slot that the install writes."""
    running = bundles.payload(7, SLOT)
    changed = bytearray(running)
    changed[3 << 20 : 5 << 20] = bundles.payload(8, 2 << 20)
    paths = {name: tmp_path / f"slot-{name}.img" for name in ("running", "release", "idle")}
    paths["running"].write_bytes(running)
    paths["release"].write_bytes(bytes(changed))
    paths["idle"].write_bytes(b"")
    return paths


def release_of(slots: dict[str, Path], signing: release.Signing) -> Path:
    return release.write_bundle(
        slots["release"].with_suffix(".raucb"),
        root_img=slots["release"],
        compatible=bundles.COMPATIBLE,
        version="20260202.000000",
        venue="x",
        signing=signing,
    )


class PowerCut(BaseException):
    """Nothing on the box catches it, as nothing survives the power going."""


def casync_install(
    agent: UpdateAgent, box: dict[str, Path], slots: dict[str, Path], cut_after: int = 0
) -> Callable[[Path], None]:
    """What RAUC does with a casync bundle: verify and open it, then `casync extract` from
    the store in system.conf (here the agent's, on its test port) seeded by the running slot.
    With `cut_after`, the power goes once that many chunks are in the agent's cache."""

    def install(bundle: Path) -> None:
        content = bundle.parent / "rauc-content"
        shutil.rmtree(content, ignore_errors=True)
        subprocess.run(
            ["rauc", f"--keyring={box['keyring']}", "extract", str(bundle), str(content)],
            check=True,
            capture_output=True,
        )
        argv = [
            *("casync", "extract", f"--store={agent.store_url}", f"--seed={slots['running']}"),
            *("--seed-output=no", str(content / "root.ext4.caibx"), str(slots["idle"])),
        ]
        with subprocess.Popen(argv, stderr=subprocess.PIPE, text=True) as casync:
            while cut_after and casync.poll() is None:
                if len(list((agent.directory / "chunks").rglob("*.cacnk"))) >= cut_after:
                    casync.kill()
                    raise PowerCut
                time.sleep(0.01)
            _, stderr = casync.communicate()
        shutil.rmtree(content)
        if casync.returncode:
            raise UpdateError(f"`rauc install` failed: casync extract: {stderr.strip()}")

    return install


def chunked_agent(
    sim: SimChannel, box: dict[str, Path], directory: Path, recorder: Recorder
) -> UpdateAgent:
    agent = make_agent(sim, box, directory, recorder)
    agent.store_port = 0
    return agent


async def install_and_reboot(agent: UpdateAgent, recorder: Recorder) -> None:
    async with trio.open_nursery() as nursery:
        await nursery.start(agent.run)
        with trio.fail_after(60):
            while not recorder.reboots:
                await trio.sleep(0.05)
        nursery.cancel_scope.cancel()


def chunk_requests(sim: SimChannel) -> list[str]:
    return [path for path, _ in sim.requests_for(".cacnk")]


async def test_a_release_in_chunks_fetches_only_what_the_running_slot_lacks(
    tmp_path: Path,
    sim_channel: SimChannel,
    box: dict[str, Path],
    signing: release.Signing,
    slots: dict[str, Path],
) -> None:
    bundle = release_of(slots, signing)
    manifest = release.publish(bundle, sim_channel.directory, signing)
    (item,) = manifest.releases
    assert item.chunked is not None and item.chunked.store == "store/"
    recorder = Recorder()
    agent = chunked_agent(sim_channel, box, tmp_path / "dl", recorder)
    agent.hooks.install = casync_install(agent, box, slots)
    await install_and_reboot(agent, recorder)

    assert slots["idle"].read_bytes() == slots["release"].read_bytes()
    assert sim_channel.requests_for(item.bundle) == []  # the whole bundle was never fetched
    fetched = chunk_requests(sim_channel)
    status = agent.status
    assert status.transfer == "chunks" and status.installed == "20260202.000000"
    assert status.chunks_fetched == len(fetched) == len(set(fetched)) > 0
    assert status.bytes_total == item.chunked.size
    # 2 MiB of 8 changed: about a quarter of the chunks, and none of the rest
    assert status.chunk_bytes < 0.4 * item.size
    assert not (tmp_path / "dl/chunks").exists()  # the cache goes once the slot is written


async def test_a_power_cut_in_the_middle_of_the_chunks_keeps_those_already_fetched(
    tmp_path: Path,
    sim_channel: SimChannel,
    box: dict[str, Path],
    signing: release.Signing,
    slots: dict[str, Path],
) -> None:
    bundle = release_of(slots, signing)
    release.publish(bundle, sim_channel.directory, signing)
    sim_channel.slow_bytes_per_s = 512 << 10
    recorder = Recorder()
    first = chunked_agent(sim_channel, box, tmp_path / "dl", recorder)
    first.hooks.install = casync_install(first, box, slots, cut_after=6)
    await first.recover()
    with pytest.RaisesGroup(PowerCut, flatten_subgroups=True):
        await first.poll_once()
    before = set(chunk_requests(sim_channel))
    state = json.loads((tmp_path / "dl/state.json").read_text())
    assert state["pending"] == "20260202.000000" and state["installed"] is False

    sim_channel.slow_bytes_per_s = None
    second = chunked_agent(sim_channel, box, tmp_path / "dl", recorder)
    second.hooks.install = casync_install(second, box, slots)
    await second.recover()
    assert second.status.state == "install interrupted"
    assert "cut off" in str(second.status.last_error) and second.failed == set()
    await install_and_reboot(second, recorder)

    assert slots["idle"].read_bytes() == slots["release"].read_bytes()
    after = chunk_requests(sim_channel)[len(before) :]
    assert len(before) >= 6 and after
    assert len(before & set(after)) <= 1  # at most the chunk in flight when the power went
    assert second.status.chunks_fetched == len(after)


async def test_a_failed_install_from_chunks_says_why_and_the_next_try_takes_the_whole_bundle(
    tmp_path: Path,
    sim_channel: SimChannel,
    box: dict[str, Path],
    signing: release.Signing,
    slots: dict[str, Path],
) -> None:
    bundle = release_of(slots, signing)
    (item,) = release.publish(bundle, sim_channel.directory, signing).releases
    shutil.rmtree(sim_channel.directory / "store")  # a channel half copied to its CDN
    recorder = Recorder()
    agent = chunked_agent(sim_channel, box, tmp_path / "dl", recorder)
    agent.hooks.install = casync_install(agent, box, slots)
    await agent.poll_once()
    assert agent.status.state == "error" and agent.status.transfer == "chunks"
    assert "answered 404" in str(agent.status.last_error)
    assert json.loads((tmp_path / "dl/state.json").read_text())["pending"] is None

    agent.hooks.install = recorder.install
    await install_and_reboot(agent, recorder)
    assert agent.status.transfer == "bundle"
    assert recorder.installed == [bundle.read_bytes()]
    assert [path for path, _ in sim_channel.requests_for(".raucb")][-1] == "/" + item.bundle


async def test_the_chunk_store_serves_only_chunk_names_and_keeps_to_its_bound(
    tmp_path: Path, sim_channel: SimChannel
) -> None:
    name = "abcd/" + "ab" * 32 + ".cacnk"
    (sim_channel.directory / "store/abcd").mkdir(parents=True)
    (sim_channel.directory / "store" / name).write_bytes(b"c" * 1000)
    async with httpx.AsyncClient() as http:
        cache = chunks.ChunkCache(
            tmp_path / "cache", sim_channel.url + "store/", http, max_bytes=1 << 40,
            min_free_bytes=0,
        )  # fmt: skip
        assert await cache.get(name) == b"c" * 1000
        assert await cache.get(name) == b"c" * 1000
        assert (cache.fetched, cache.kept) == (1, 1)
        with pytest.raises(UpdateError, match="not a chunk's name"):
            await cache.get("../../state.json")
        full = chunks.ChunkCache(
            tmp_path / "full", sim_channel.url + "store/", http, max_bytes=1, min_free_bytes=0
        )
        with pytest.raises(StorageFull, match="max_bundle_bytes"):
            await full.get(name)
        async with trio.open_nursery() as nursery:
            (url, *_) = await nursery.start(chunks.serve, cache, 0)
            assert (await http.get(f"{url}/{name}")).content == b"c" * 1000
            answer = await http.get(f"{url}/abcd/nope.cacnk")
            assert answer.status_code == 502 and "not a chunk's name" in answer.text
            nursery.cancel_scope.cancel()


def test_publish_stops_with_rauc_convert_s_reason_and_leaves_the_manifest_as_it_was(
    tmp_path: Path, signing: release.Signing
) -> None:
    """RAUC 1.8 cannot make a casync bundle whose index fits one 4 KiB squashfs block (a
    256 KiB image): a real root image is hundreds of MiB, and this one says why."""
    first = bundles.make_bundle(tmp_path, signing, version="20260202.000000")
    release.publish(first, tmp_path / "channel", signing, chunks=False)
    before = (tmp_path / "channel" / channel.MANIFEST).read_bytes()
    tiny = bundles.make_bundle(tmp_path, signing, version="20260303.000000")
    with pytest.raises(UpdateError, match=r"`rauc convert` of .*squashfs size"):
        release.publish(tiny, tmp_path / "channel", signing)
    assert (tmp_path / "channel" / channel.MANIFEST).read_bytes() == before
    assert not list((tmp_path / "channel").glob(".*"))  # no work files left behind


async def test_a_refused_chunked_bundle_is_not_fetched_again(
    tmp_path: Path,
    sim_channel: SimChannel,
    box: dict[str, Path],
    signing: release.Signing,
    slots: dict[str, Path],
) -> None:
    (item,) = release.publish(release_of(slots, signing), sim_channel.directory, signing).releases
    assert item.chunked is not None
    served = sim_channel.directory / item.chunked.bundle
    served.write_bytes(bundles.tamper(served, at=1000).read_bytes())
    recorder = Recorder()
    agent = chunked_agent(sim_channel, box, tmp_path / "dl", recorder)
    await agent.poll_once()
    assert agent.status.state == "refused" and "sha256" in str(agent.status.last_error)
    await agent.poll_once()
    assert agent.status.state == "refused"
    assert len(sim_channel.requests_for(item.chunked.bundle)) == 1 and recorder.installed == []
