"""Pure: an update channel's manifest, which releases a box takes, and when it may reboot.

A channel is a directory of plain files: `manifest.json`, its detached CMS signature
`manifest.json.sig` (checked by `verify.py` against the box's RAUC keyring), and the bundles.
A release may also come in chunks: a small RAUC casync bundle (the signed index of the slot
image) and a casync chunk store shared by every release, so that a box fetches only the chunks
its running slot lacks. Nothing here touches the network, the disk or the clock; times come in
as arguments.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

import attrs

from edgebox.core.errors import ManifestError

MANIFEST = "manifest.json"
SIGNATURE = "manifest.json.sig"
FORMAT = 1
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_VERSION = re.compile(r"^[0-9A-Za-z._+-]{1,64}$")
_PLAIN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]*")
# RAUC's system.conf on the box names this as its casync store: the update agent serves the
# chunks there, from its cache or fetched from the channel's store.
LOCAL_STORE_PORT = 7781
LOCAL_STORE = f"http://127.0.0.1:{LOCAL_STORE_PORT}/"
CHUNK_NAME = re.compile(r"[0-9a-f]{4}/[0-9a-f]{64}\.cacnk")


@attrs.frozen
class Chunked:
    """The same release as a casync bundle, and where its chunks are."""

    bundle: str  # relative to the channel's URL, or absolute
    size: int
    sha256: str
    store: str = "store/"  # a directory, relative to the channel's URL or absolute


@attrs.frozen
class Release:
    """One box's bundle in the channel (a bundle carries its venue file and fits one box)."""

    compatible: str
    version: str
    bundle: str  # relative to the channel's URL, or absolute
    size: int
    sha256: str
    chunked: Chunked | None = None


@attrs.frozen
class Manifest:
    published: str
    rollout_percent: float
    releases: tuple[Release, ...]
    hold: tuple[str, ...] = ()  # serials that never take this release
    allow: tuple[str, ...] = ()  # serials that take it whatever the rollout

    def release_for(self, compatible: str) -> Release | None:
        return next((r for r in self.releases if r.compatible == compatible), None)


def render_manifest(manifest: Manifest) -> bytes:
    data = {"format": FORMAT, **attrs.asdict(manifest)}
    for release in data["releases"]:
        if release["chunked"] is None:
            del release["chunked"]
    return json.dumps(data, indent=2, sort_keys=True).encode() + b"\n"


def _field(data: dict[str, Any], key: str, kind: type, where: str) -> Any:
    if key not in data:
        raise ManifestError(f"{where}{key}: missing")
    value = data[key]
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, kind) or isinstance(value, bool):
        raise ManifestError(f"{where}{key}: must be {kind.__name__}, got {value!r:.60}")
    return value


def _serials(data: dict[str, Any], key: str) -> tuple[str, ...]:
    value = data.get(key, [])
    if not isinstance(value, list) or not all(isinstance(s, str) and s for s in value):
        raise ManifestError(f"{key}: must be a list of serial numbers")
    return tuple(value)


def _file(data: dict[str, Any], where: str) -> tuple[str, int, str]:
    """A file's name or URL, size and sha256."""
    bundle = _field(data, "bundle", str, where)
    size = _field(data, "size", int, where)
    sha256 = _field(data, "sha256", str, where)
    if not _SHA256.match(sha256):
        raise ManifestError(f"{where}sha256: must be 64 lowercase hex digits")
    if size <= 0:
        raise ManifestError(f"{where}size: must be positive")
    if not _PLAIN_NAME.fullmatch(bundle) and not bundle.startswith(("https://", "http://")):
        raise ManifestError(f"{where}bundle: {bundle!r:.60} is not a file name or URL")
    return bundle, size, sha256


def _chunked(data: Any, where: str) -> Chunked | None:
    if data is None:
        return None
    if not isinstance(data, dict):
        raise ManifestError(f"{where}: must be an object")
    store = data.get("store", "store/")
    plain = isinstance(store, str) and all(_PLAIN_NAME.fullmatch(p) for p in store.split("/")[:-1])
    if (
        not isinstance(store, str)
        or not store.endswith("/")
        or not (plain or store.startswith(("https://", "http://")))
    ):
        raise ManifestError(f"{where}.store: {store!r:.60} is not a directory name or URL")
    return Chunked(*_file(data, f"{where}."), store=store)


def _release(data: Any, i: int) -> Release:
    where = f"releases[{i}]."
    if not isinstance(data, dict):
        raise ManifestError(f"releases[{i}]: must be an object")
    release = Release(
        _field(data, "compatible", str, where),
        _field(data, "version", str, where),
        *_file(data, where),
        chunked=_chunked(data.get("chunked"), f"{where}chunked"),
    )
    if not _VERSION.match(release.version):
        raise ManifestError(f"{where}version: {release.version!r:.60} is not a version")
    return release


def parse_manifest(raw: bytes) -> Manifest:
    """The manifest's JSON, strictly: anything unexpected is a ManifestError naming the key."""
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise ManifestError(f"not JSON ({exc})") from None
    if not isinstance(data, dict):
        raise ManifestError("must be a JSON object")
    if data.get("format") != FORMAT:
        raise ManifestError(f"format: {data.get('format')!r:.20}, this box reads {FORMAT}")
    rollout = _field(data, "rollout_percent", float, "")
    if not 0 <= rollout <= 100:
        raise ManifestError(f"rollout_percent: {rollout} is not between 0 and 100")
    releases = data.get("releases")
    if not isinstance(releases, list):
        raise ManifestError("releases: must be a list")
    return Manifest(
        published=_field(data, "published", str, ""),
        rollout_percent=rollout,
        releases=tuple(_release(r, i) for i, r in enumerate(releases)),
        hold=_serials(data, "hold"),
        allow=_serials(data, "allow"),
    )


def rollout_position(sn_number: str) -> float:
    """Where a box stands in every rollout, in [0, 100): a stable hash of its serial, so a box
    in at 10 % stays in at 20 %, and the same boxes go first each time."""
    digest = hashlib.sha256(f"edgebox-rollout:{sn_number}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 * 100


def in_rollout(manifest: Manifest, sn_number: str) -> bool:
    if sn_number in manifest.hold:
        return False
    if sn_number in manifest.allow:
        return True
    return rollout_position(sn_number) < manifest.rollout_percent


@attrs.frozen
class Decision:
    """What the box does with a manifest: take `release`, or why not (`reason`)."""

    release: Release | None
    reason: str


def decide(
    manifest: Manifest,
    *,
    compatible: str,
    sn_number: str,
    running: str,
    failed: frozenset[str] = frozenset(),
) -> Decision:
    release = manifest.release_for(compatible)
    if release is None:
        return Decision(None, "no release for this box")
    if release.version == running:
        return Decision(None, f"up to date ({running})")
    if not release.version > running:
        return Decision(None, f"the channel's {release.version} is older than {running}")
    if release.version in failed:
        return Decision(None, f"{release.version} rolled back here before")
    if not in_rollout(manifest, sn_number):
        return Decision(None, f"{release.version} is not rolled out to this box yet")
    return Decision(release, f"{release.version} offered")


def resume_offset(vouched: int, on_disk: int, size: int) -> int:
    """Where an interrupted download goes on: from the bytes it fsynced and recorded, never past
    what the file holds or the bundle's size; 0 starts over."""
    return max(0, min(vouched, on_disk, size))
