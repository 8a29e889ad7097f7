"""The I/O edge of trust: a channel manifest's CMS signature, checked by openssl against the
same keyring RAUC checks bundles with, and a bundle checked by `edgebox-update check`."""

from __future__ import annotations

import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

from edgebox.core.errors import BundleRefused, ManifestError

CHECK_COMMAND = ("/usr/local/sbin/edgebox-update", "check")


def verify_manifest(raw: bytes, signature: bytes, keyring: Path) -> None:
    """Raise ManifestError unless `signature` is a CMS signature of `raw` by a certificate that
    chains to the keyring. Blocking: call it from a thread."""
    if not keyring.is_file():
        raise ManifestError(f"no keyring at {keyring}: cannot check the channel's signature")
    with tempfile.TemporaryDirectory(prefix="edgebox-manifest-") as tmp:
        content, sig = Path(tmp) / "manifest.json", Path(tmp) / "manifest.json.sig"
        content.write_bytes(raw)
        sig.write_bytes(signature)
        result = subprocess.run(
            [
                *("openssl", "cms", "-verify", "-binary", "-inform", "DER"),
                *("-in", str(sig), "-content", str(content), "-CAfile", str(keyring)),
                *("-purpose", "any", "-out", "/dev/null"),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
    if result.returncode != 0:
        said = [line for line in result.stderr.splitlines() if line.strip()]
        detail = said[0] if said else f"openssl exited {result.returncode}"
        raise ManifestError(f"the manifest's signature does not verify ({detail})")


def check_bundle(path: Path, command: Sequence[str] = CHECK_COMMAND) -> str:
    """`edgebox-update check`: signature, this box's compatible, newer version, intact payload.
    Returns what it said; raises BundleRefused with its reason. Blocking: call it from a thread."""
    result = subprocess.run([*command, str(path)], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        said = [line for line in result.stderr.splitlines() if line.strip()]
        raise BundleRefused(said[-1] if said else f"the check exited {result.returncode}")
    return result.stdout.strip()
