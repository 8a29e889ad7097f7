"""Tiny signed RAUC bundles for the fast tests, with keys made at test time (never committed)."""

from __future__ import annotations

import random
import subprocess
from pathlib import Path

from edgebox.update import channel
from image import release, update

COMPATIBLE = release.compatible("m" * 32)
RUNNING = "20260101.000000"


def keys(directory: Path) -> release.Signing:
    return release.keygen(directory)


def payload(seed: int, size: int = 256 * 1024) -> bytes:
    return random.Random(seed).randbytes(size)


def make_bundle(
    directory: Path,
    signing: release.Signing,
    *,
    version: str = "20260202.000000",
    compatible: str = COMPATIBLE,
    seed: int = 1,
) -> Path:
    root = directory / f"root-{version}-{seed}.ext4"
    root.write_bytes(payload(seed))
    return release.write_bundle(
        directory / f"{compatible}-{version}-{seed}.raucb",
        root_img=root,
        compatible=compatible,
        version=version,
        venue="Test Lobby",
        signing=signing,
    )


def unsigned_bundle(directory: Path) -> Path:
    """A squashfs with a RAUC manifest in it and no signature at all."""
    content = directory / "unsigned-content"
    content.mkdir()
    (content / "manifest.raucm").write_text(
        release.manifest_raucm(compatible=COMPATIBLE, version="20260303.000000", venue="x")
    )
    (content / "root.ext4").write_bytes(payload(3))
    bundle = directory / "unsigned.raucb"
    subprocess.run(
        ["mksquashfs", str(content), str(bundle), "-quiet", "-no-progress", "-noappend"],
        check=True,
        capture_output=True,
    )
    return bundle


def tamper(bundle: Path, at: int = 100_000) -> Path:
    """One payload byte flipped: the signature over the manifest and root hash still verifies."""
    data = bytearray(bundle.read_bytes())
    data[at] ^= 0xFF
    out = bundle.with_name("tampered-" + bundle.name)
    out.write_bytes(bytes(data))
    return out


def box_files(directory: Path, signing: release.Signing, running: str = RUNNING) -> dict[str, Path]:
    """The files `edgebox-update check` reads on a box: system.conf, keyring, os-release."""
    directory.mkdir(parents=True, exist_ok=True)
    conf = directory / "system.conf"
    partuuids = {"root-a": "a-1", "root-b": "b-1"}
    conf.write_text(
        update.system_conf(compatible=COMPATIBLE, partuuids=partuuids, store=channel.LOCAL_STORE)
    )
    os_release = directory / "os-release"
    os_release.write_text(f"ID=debian\nIMAGE_ID=edgebox\nIMAGE_VERSION={running}\n")
    return {"system_conf": conf, "keyring": signing.keyring, "os_release": os_release}
