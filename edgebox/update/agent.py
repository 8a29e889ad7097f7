"""The box's update agent: polls the channel, downloads and checks a release, has RAUC install
it into the idle slot, and reboots at the right moment. The decisions are `channel.py`'s; this
module moves bytes and waits.

A release offered in chunks is taken in chunks: the small casync bundle is downloaded like a
whole one, and while RAUC installs it the agent serves casync the chunks the running slot lacks
(`chunks.py`). If that install fails, the next try of the release takes the whole bundle.

What it remembers across reboots lives in `state.json` beside the download: the version it is
installing or installed and is waiting to boot, and the versions that rolled back here (never
taken again).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import random
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import attrs
import httpx
import trio

from edgebox.core.config import UpdateConfig
from edgebox.core.errors import BundleRefused, ManifestError, StorageFull, UpdateError
from edgebox.core.values import MaintenanceWindow
from edgebox.update import channel, chunks, verify

log = logging.getLogger("edgebox.update")

MIB = 1 << 20
MAX_MANIFEST = 1 * MIB
VOUCH_EVERY = 8 * MIB  # bytes between fsyncs of the download and its record
IDLE_RECHECK = 30.0
CHUNKS = "chunks"  # the chunk cache's directory, beside the download


def local_seconds_into_day() -> float:
    now = time.localtime()
    return now.tm_hour * 3600 + now.tm_min * 60 + now.tm_sec


@attrs.define
class UpdateStatus:
    """What `/api/status`, the status page and `/metrics` show of updates."""

    channel: str
    running: str
    state: str = "idle"
    offered: str | None = None
    transfer: str | None = None  # "chunks" or "bundle"
    bytes_done: int = 0
    bytes_total: int = 0
    resumed_from: int = 0
    chunks_fetched: int = 0
    chunk_bytes: int = 0
    installed: str | None = None
    blessed: str | None = None
    rolled_back: str | None = None
    last_check: float | None = None
    last_error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return attrs.asdict(self)


@attrs.define
class Hooks:
    """What the agent asks of the system: check a bundle, install it, reboot, and whether this
    boot is blessed. Blocking callables run in a thread."""

    check: Callable[[Path], str]
    install: Callable[[Path], None]
    reboot: Callable[[], None]
    blessed: Callable[[], bool]
    idle: Callable[[], bool]  # nothing plays from the cloud; in memory, called on the trio thread


class UpdateAgent:
    def __init__(
        self,
        config: UpdateConfig,
        *,
        sn_number: str,
        directory: Path,
        http: httpx.AsyncClient,
        hooks: Hooks,
        seconds_into_day: Callable[[], float] = local_seconds_into_day,
        rng: random.Random | None = None,
        store_port: int = channel.LOCAL_STORE_PORT,
    ) -> None:
        self.config = config
        self.sn_number = sn_number
        self.directory = directory
        self.http = http
        self.hooks = hooks
        self.seconds_into_day = seconds_into_day
        self.rng = rng or random.Random()
        self.window = MaintenanceWindow.parse(config.maintenance_window)
        base = config.channel if config.channel.endswith("/") else config.channel + "/"
        self.base = base
        self.status = UpdateStatus(channel=config.channel, running=self._running())
        self.failed: set[str] = set()
        self.refused: set[str] = set()  # sha256 of bundles refused since this boot
        self.unchunked: set[str] = set()  # versions whose chunked install failed since this boot
        self.pending: str | None = None
        self.installed = False  # whether RAUC finished installing `pending`
        self.store_port = store_port
        self.store_url = ""  # where the chunks are served while RAUC installs

    def _running(self) -> str:
        try:
            text = self.config.os_release.read_text()
        except OSError:
            return ""
        for line in text.splitlines():
            if line.startswith("IMAGE_VERSION="):
                return line.split("=", 1)[1].strip().strip('"')
        return ""

    def _compatible(self) -> str:
        for line in self.config.system_conf.read_text().splitlines():
            if line.startswith("compatible="):
                return line.split("=", 1)[1].strip()
        raise UpdateError(f"{self.config.system_conf} names no compatible")

    # What survives a reboot.

    @property
    def state_file(self) -> Path:
        return self.directory / "state.json"

    def _load(self) -> None:
        try:
            data = json.loads(self.state_file.read_text())
        except (OSError, ValueError):
            return
        pending = data.get("pending")
        self.pending = pending if isinstance(pending, str) else None
        self.installed = data.get("installed", True) is True
        self.failed = {v for v in data.get("failed", []) if isinstance(v, str)}

    def _save(self) -> None:
        partial = self.state_file.with_suffix(".json.part")
        with open(partial, "w") as f:
            state = {"pending": self.pending, "installed": self.installed}
            json.dump({**state, "failed": sorted(self.failed)}, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(partial, self.state_file)

    async def recover(self) -> None:
        """After a boot: the version installed last time runs (wait for its blessing), or it
        does not (it rolled back: remember never to take it again)."""
        await trio.to_thread.run_sync(lambda: self.directory.mkdir(parents=True, exist_ok=True))
        await trio.to_thread.run_sync(self._load)
        if self.pending is None:
            return
        if self.pending == self.status.running:
            self.status.state = "waiting for blessing"
            while True:  # systemd-bless-boot runs once /healthz answers, so after we start
                if await trio.to_thread.run_sync(self.hooks.blessed):
                    break
                await trio.sleep(5)
            self.status.state, self.status.blessed = "blessed", self.pending
            log.info("update %s is blessed", self.pending)
        elif not self.installed:
            self.status.state = "install interrupted"
            self.status.last_error = f"the install of {self.pending} was cut off; it is tried again"
            log.warning("update: %s", self.status.last_error)
        else:
            self.failed.add(self.pending)
            self.status.state, self.status.rolled_back = "rolled back", self.pending
            self.status.last_error = (
                f"{self.pending} did not come up healthy; back on {self.status.running}"
            )
            log.warning("update %s rolled back to %s", self.pending, self.status.running)
        self.pending = None
        await trio.to_thread.run_sync(self._save)

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        await self.recover()
        task_status.started()
        while True:
            await self.poll_once()
            jitter = self.rng.random() * self.config.poll_jitter
            await trio.sleep(self.config.poll_interval * (1 + jitter))

    async def poll_once(self) -> None:
        """One look at the channel; whatever fails is reported and tried again next poll."""
        self.status.last_check = time.time()
        try:
            await self._poll()
        except (UpdateError, StorageFull, httpx.HTTPError, OSError) as exc:
            self.status.state = (
                "refused" if isinstance(exc, ManifestError | BundleRefused) else ("error")
            )
            self.status.last_error = f"{type(exc).__name__}: {exc}"
            log.warning("update: %s", self.status.last_error)

    def _url(self, name: str) -> str:
        url = urljoin(self.base, name)
        if url.startswith("http://") and not self.config.allow_http:
            raise ManifestError(f"{url}: plain http is not allowed for updates")
        if not url.startswith(("https://", "http://")):
            raise ManifestError(f"{url}: not an http(s) URL")
        return url

    async def _fetch_small(self, name: str) -> bytes:
        async with self.http.stream("GET", self._url(name)) as response:
            response.raise_for_status()
            body = b""
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) > MAX_MANIFEST:
                    raise ManifestError(f"{name} is larger than {MAX_MANIFEST} bytes")
        return body

    async def _poll(self) -> None:
        self.status.state = "checking"
        raw = await self._fetch_small(channel.MANIFEST)
        signature = await self._fetch_small(channel.SIGNATURE)
        await trio.to_thread.run_sync(verify.verify_manifest, raw, signature, self.config.keyring)
        manifest = channel.parse_manifest(raw)
        compatible = await trio.to_thread.run_sync(self._compatible)
        decision = channel.decide(
            manifest,
            compatible=compatible,
            sn_number=self.sn_number,
            running=self.status.running,
            failed=frozenset(self.failed),
        )
        if decision.release is None:
            self.status.state, self.status.offered = decision.reason, None
            return
        release = decision.release
        chunked = release.chunked if release.version not in self.unchunked else None
        store = ""
        if chunked is not None:
            store = self._url(chunked.store)  # refused here, before a byte is fetched
            release = attrs.evolve(
                release, bundle=chunked.bundle, size=chunked.size, sha256=chunked.sha256
            )
        if release.sha256 in self.refused:
            self.status.state = "refused"  # the same bytes again: not fetched again
            return
        self.status.state, self.status.offered = "offered", release.version
        self.status.transfer = "bundle" if chunked is None else "chunks"
        self.status.bytes_done, self.status.bytes_total = 0, release.size
        self.status.resumed_from = self.status.chunks_fetched = self.status.chunk_bytes = 0
        log.info("update %s offered by %s", release.version, self.config.channel)
        try:
            bundle = await self.download(release)
            self.status.state = "verifying"
            try:
                said = await trio.to_thread.run_sync(self.hooks.check, bundle)
            except BundleRefused:
                await trio.to_thread.run_sync(lambda: bundle.unlink(missing_ok=True))
                raise
        except BundleRefused:
            self.refused.add(release.sha256)
            raise
        log.info("update: %s", said)
        self.status.state = "installing"
        # Recorded first: a power cut after RAUC made the slot primary still boots it, and the
        # next boot must know what it was waiting for.
        self.pending, self.installed = release.version, False
        await trio.to_thread.run_sync(self._save)
        try:
            if chunked is None:
                await trio.to_thread.run_sync(self.hooks.install, bundle)
            else:
                await self.install_from_chunks(bundle, release.version, store)
        except (UpdateError, OSError):
            self.pending = None  # RAUC refused or failed: the slot it wrote is marked bad
            await trio.to_thread.run_sync(self._save)
            raise
        finally:
            with trio.CancelScope(shield=True):
                await trio.to_thread.run_sync(lambda: bundle.unlink(missing_ok=True))
        self.installed = True
        await trio.to_thread.run_sync(self._save)
        await trio.to_thread.run_sync(shutil.rmtree, self.directory / CHUNKS, True)
        self.status.state, self.status.installed = "installed", release.version
        self.status.last_error = None
        await self.reboot_when_allowed()

    async def reboot_when_allowed(self) -> None:
        """In the maintenance window if there is one; else as soon as nothing plays."""
        while True:
            if self.window is not None:
                wait = self.window.wait(self.seconds_into_day())
                if wait > 0:
                    self.status.state = "waiting for the maintenance window"
                    await trio.sleep(wait)
                    continue
                break
            if self.hooks.idle():
                break
            self.status.state = "waiting until nothing plays"
            await trio.sleep(IDLE_RECHECK)
        self.status.state = "rebooting"
        log.info("update %s installed; rebooting into it", self.pending)
        await trio.to_thread.run_sync(self.hooks.reboot)
        await trio.sleep_forever()

    def _count(self, cache: chunks.ChunkCache) -> None:
        self.status.chunks_fetched, self.status.chunk_bytes = cache.fetched, cache.fetched_bytes

    async def install_from_chunks(self, bundle: Path, version: str, store: str) -> None:
        """RAUC installs the casync bundle while the chunks are served on loopback. The cache
        stays until a release is installed, so that the next try fetches only what is missing."""
        cache = chunks.ChunkCache(
            self.directory / CHUNKS,
            store_url=store,
            http=self.http,
            max_bytes=self.config.max_bundle_bytes,
            min_free_bytes=self.config.min_free_bytes,
        )

        async def report() -> None:
            while True:
                self._count(cache)
                await trio.sleep(0.5)

        failure: UpdateError | OSError | None = None
        async with trio.open_nursery() as nursery:
            try:
                urls = await nursery.start(chunks.serve, cache, self.store_port)
                self.store_url = urls[0].rstrip("/") + "/"
                nursery.start_soon(report)
                await trio.to_thread.run_sync(self.hooks.install, bundle)
            except (UpdateError, OSError) as exc:
                failure = exc
            nursery.cancel_scope.cancel()
        self._count(cache)
        if failure is not None:
            self.unchunked.add(version)  # the next try takes the whole bundle
            detail = f"; the chunks: {cache.error}" if cache.error else ""
            raise UpdateError(f"{failure}{detail}") from failure
        log.info(
            "update %s: %d chunks fetched (%d bytes), %d kept from before",
            version, cache.fetched, cache.fetched_bytes, cache.kept,
        )  # fmt: skip

    # The download: Range-resumed into the data partition, space checked first.

    def _paths(self, release: channel.Release) -> tuple[Path, Path, Path]:
        final = self.directory / f"{release.sha256}.raucb"
        part = final.with_name(final.name + ".part")
        return final, part, part.with_name(part.name + ".json")

    def _prepare(self, release: channel.Release) -> int:
        """Stale downloads go, the space is checked, and the offset to resume from is found."""
        if release.size > self.config.max_bundle_bytes:
            raise StorageFull(
                f"the bundle is {release.size} bytes, update.max_bundle_bytes is"
                f" {self.config.max_bundle_bytes}"
            )
        _, part, record = self._paths(release)
        self.directory.mkdir(parents=True, exist_ok=True)
        for path in self.directory.glob("*.raucb*"):
            if path not in (part, record):
                path.unlink()
        vouched = 0
        try:
            data = json.loads(record.read_text())
            if data.get("sha256") == release.sha256 and isinstance(data.get("vouched"), int):
                vouched = data["vouched"]
        except (OSError, ValueError):
            pass
        on_disk = part.stat().st_size if part.exists() else 0
        offset = channel.resume_offset(vouched, on_disk, release.size)
        usage = os.statvfs(self.directory)
        free = usage.f_bavail * usage.f_frsize + on_disk
        needed = release.size + self.config.min_free_bytes
        if needed > free:
            raise StorageFull(
                f"the bundle needs {release.size} bytes plus {self.config.min_free_bytes} kept"
                f" free; the data partition has {free}"
            )
        with open(part, "ab") as f:
            f.truncate(offset)
        return offset

    def _vouch(self, f: Any, release: channel.Release, size: int) -> None:
        f.flush()
        os.fsync(f.fileno())
        _, _, record = self._paths(release)
        partial = record.with_name(record.name + ".new")
        partial.write_text(json.dumps({"sha256": release.sha256, "vouched": size}))
        with open(partial) as r:
            os.fsync(r.fileno())
        os.replace(partial, record)
        directory = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(directory)  # the rename too: the record must outlive a power cut
        finally:
            os.close(directory)

    async def download(self, release: channel.Release) -> Path:
        final, part, record = self._paths(release)
        offset = await trio.to_thread.run_sync(self._prepare, release)
        self.status.state = "downloading"
        self.status.bytes_total, self.status.bytes_done = release.size, offset
        self.status.resumed_from = offset
        headers = {"Range": f"bytes={offset}-"} if offset else {}
        f = await trio.to_thread.run_sync(open, part, "r+b")
        try:
            async with self.http.stream(
                "GET", self._url(release.bundle), headers=headers
            ) as response:
                if offset and response.status_code == 200:
                    offset = 0  # the server ignored the Range: start over
                    self.status.resumed_from = 0
                elif response.status_code not in (200, 206):
                    response.raise_for_status()
                    raise BundleRefused(f"the bundle answered {response.status_code}")
                await trio.to_thread.run_sync(f.seek, offset)
                await trio.to_thread.run_sync(f.truncate, offset)
                done, vouched, buffer = offset, offset, bytearray()
                async for chunk in response.aiter_bytes():
                    buffer += chunk
                    if done + len(buffer) > release.size:
                        raise BundleRefused(f"the bundle is larger than {release.size} bytes")
                    if len(buffer) >= MIB:
                        await trio.to_thread.run_sync(f.write, bytes(buffer))
                        done += len(buffer)
                        buffer.clear()
                        self.status.bytes_done = done
                        if done - vouched >= VOUCH_EVERY:
                            await trio.to_thread.run_sync(self._vouch, f, release, done)
                            vouched = done
                await trio.to_thread.run_sync(f.write, bytes(buffer))
                done += len(buffer)
                self.status.bytes_done = done
                await trio.to_thread.run_sync(self._vouch, f, release, done)
        finally:
            f.close()  # also when cancelled: a power cut in a test, a shutdown on a box
        if done != release.size:
            raise UpdateError(f"the download ended at {done} of {release.size} bytes")
        self.status.state = "verifying"
        digest = await trio.to_thread.run_sync(_sha256, part)
        if digest != release.sha256:
            await trio.to_thread.run_sync(_remove, part, record)
            raise BundleRefused(
                f"the bundle's sha256 is {digest}, the manifest says {release.sha256}"
            )
        await trio.to_thread.run_sync(os.replace, part, final)
        await trio.to_thread.run_sync(lambda: record.unlink(missing_ok=True))
        return final


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(MIB):
            digest.update(chunk)
    return digest.hexdigest()


def _remove(*paths: Path) -> None:
    for path in paths:
        path.unlink(missing_ok=True)
