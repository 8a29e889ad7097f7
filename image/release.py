"""Signed releases, on the build host: the signing key pair, the RAUC bundle, the update channel.

- `python -m image keygen DIR`: a CA (its certificate is the keyring every image carries) and a
  release signing key with a certificate from that CA. DIR is outside the repository and the
  images; the CA key belongs offline.
- the bundle: `make image` writes `out/<venue>.raucb`, RAUC's `verity` format, signed with the
  release key, compatible with this one box only.
- `python -m image publish`: copies a bundle into a channel directory and writes its signed
  manifest (`manifest.json` and its detached CMS signature `manifest.json.sig`), the plain files
  any web server, object store or CDN can host. Beside the bundle it puts the same release in
  chunks (`rauc convert`: a casync bundle, and its chunks added to the channel's `store/`), so
  a box fetches only what its running slot lacks.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import attrs

from edgebox.core.errors import UpdateError
from edgebox.update import channel

MIB = 1 << 20
BUNDLE_FORMAT = "verity"


@attrs.frozen
class Signing:
    """The release key and its certificate (never in an image), and the keyring that goes in."""

    cert: Path
    key: Path
    keyring: Path

    @classmethod
    def from_environment(cls, env: dict[str, str] | None = None) -> Signing | None:
        env = dict(os.environ) if env is None else env
        names = ("EDGEBOX_SIGNING_CERT", "EDGEBOX_SIGNING_KEY", "EDGEBOX_KEYRING")
        if not all(env.get(name) for name in names):
            return None
        return cls(*(Path(env[name]) for name in names))

    def problems(self) -> list[str]:
        return [f"{path}: no such file" for path in (self.cert, self.key, self.keyring)
                if not path.is_file()]  # fmt: skip


def _openssl(*argv: str | Path) -> None:
    subprocess.run(["openssl", *map(str, argv)], check=True, capture_output=True)


def keygen(directory: Path, *, name: str = "edgebox", days: int = 1825) -> Signing:
    """A CA and a release signing key under it, both P-256. The keyring is the CA certificate."""
    directory.mkdir(parents=True, exist_ok=True)
    directory.chmod(0o700)
    ca_key, ca_cert = directory / "ca.key.pem", directory / "ca.cert.pem"
    key, cert = directory / "release.key.pem", directory / "release.cert.pem"
    curve = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")
    _openssl(
        *("req", "-x509", *curve, "-keyout", ca_key, "-out", ca_cert, "-days", str(days * 2)),
        *("-subj", f"/CN={name} update CA"),
        *("-addext", "basicConstraints=critical,CA:TRUE"),
        *("-addext", "keyUsage=critical,keyCertSign,cRLSign"),
    )
    request = directory / "release.csr.pem"
    _openssl("req", *curve, "-keyout", key, "-out", request, "-subj", f"/CN={name} release")
    extensions = directory / "release.ext"
    extensions.write_text("basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n")
    _openssl(
        *("x509", "-req", "-in", request, "-CA", ca_cert, "-CAkey", ca_key),
        *("-CAcreateserial", "-out", cert, "-days", str(days), "-extfile", extensions),
    )
    request.unlink()
    extensions.unlink()
    keyring = directory / "keyring.pem"
    shutil.copyfile(ca_cert, keyring)
    for path in directory.iterdir():
        path.chmod(0o600 if path.name.endswith(".key.pem") else 0o644)
    return Signing(cert, key, keyring)


def compatible(machine_id: str) -> str:
    """One box's compatible string: its bundle holds its venue file and fits no other box."""
    return f"edgebox-{machine_id}"


def manifest_raucm(*, compatible: str, version: str, venue: str) -> str:
    return (
        "[update]\n"
        f"compatible={compatible}\n"
        f"version={version}\n"
        f"description=edgebox {venue}\n"
        "\n[bundle]\n"
        f"format={BUNDLE_FORMAT}\n"
        "\n[image.rootfs]\n"
        "filename=root.ext4\n"
    )


def write_bundle(
    path: Path, *, root_img: Path, compatible: str, version: str, venue: str, signing: Signing
) -> Path:
    """`rauc bundle` over the root image, then `rauc info` with the keyring as a check."""
    content = path.with_name(f".{path.name}.content")
    shutil.rmtree(content, ignore_errors=True)
    content.mkdir(mode=0o700, parents=True)
    try:
        (content / "manifest.raucm").write_text(
            manifest_raucm(compatible=compatible, version=version, venue=venue)
        )
        try:
            os.link(root_img, content / "root.ext4")
        except OSError:
            shutil.copyfile(root_img, content / "root.ext4")
        partial = path.with_name(f".{path.name}.part")
        partial.unlink(missing_ok=True)
        subprocess.run(
            [
                *("rauc", "bundle", f"--cert={signing.cert}", f"--key={signing.key}"),
                *(f"--keyring={signing.keyring}", str(content), str(partial)),
            ],
            check=True,
            capture_output=True,
        )
        partial.chmod(0o600)  # it carries the venue file
        os.replace(partial, path)
    finally:
        shutil.rmtree(content, ignore_errors=True)
    return path


def sign_detached(data: Path, signature: Path, signing: Signing) -> None:
    """A CMS signature of `data`, as RAUC signs its manifests, checked by the box with openssl."""
    _openssl(
        *("cms", "-sign", "-binary", "-noattr", "-outform", "DER", "-in", data),
        *("-signer", signing.cert, "-inkey", signing.key, "-out", signature),
    )


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(MIB):
            digest.update(chunk)
    return digest.hexdigest()


def bundle_info(bundle: Path, keyring: Path) -> tuple[str, str]:
    """(compatible, version) of a bundle the keyring verifies."""
    result = subprocess.run(
        ["rauc", f"--keyring={keyring}", "--output-format=json", "info", str(bundle)],
        capture_output=True,
        text=True,
        check=True,
    )
    info = json.loads(result.stdout)
    return info["compatible"], info["version"]


STORE = "store"


def write_chunked(bundle: Path, channel_dir: Path, name: str, signing: Signing) -> channel.Chunked:
    """`rauc convert` of `bundle` into `name` (a casync bundle: the signed index of the slot
    image), its chunks moved into the channel's store. Chunks are named by their digest, so
    one that is there already is the same bytes and stays."""
    work = channel_dir / f".{name}.convert"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(mode=0o700)
    try:
        converted = work / "chunked.raucb"
        result = subprocess.run(
            [
                *("rauc", "convert", f"--cert={signing.cert}", f"--key={signing.key}"),
                *(f"--keyring={signing.keyring}", str(bundle), str(converted)),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            said = [line for line in result.stderr.splitlines() if line.strip()]
            raise UpdateError(f"`rauc convert` of {bundle}: {said[-1] if said else 'failed'}")
        store = channel_dir / STORE
        for chunk in sorted((work / "chunked.castr").rglob("*.cacnk")):
            target = store / chunk.parent.name / chunk.name
            if not target.exists():
                target.parent.mkdir(parents=True, exist_ok=True)
                os.replace(chunk, target)
        os.replace(converted, channel_dir / name)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    path = channel_dir / name
    return channel.Chunked(name, path.stat().st_size, sha256(path), store=f"{STORE}/")


def publish(
    bundle: Path,
    channel_dir: Path,
    signing: Signing,
    *,
    rollout: float = 100.0,
    hold: tuple[str, ...] = (),
    allow: tuple[str, ...] = (),
    bundle_url: str | None = None,
    chunks: bool = True,
) -> channel.Manifest:
    """Put `bundle` (and, with `chunks`, the same release in chunks) into the channel beside
    the releases of other boxes, and re-sign the manifest. The files land under temporary names
    and are renamed, the manifest last, so a box polling meanwhile sees the old release or the
    new one, never half of one."""
    found_compatible, version = bundle_info(bundle, signing.keyring)
    channel_dir.mkdir(parents=True, exist_ok=True)
    name = f"{found_compatible}-{version}.raucb"
    partial = channel_dir / f".{name}.part"
    shutil.copyfile(bundle, partial)
    os.replace(partial, channel_dir / name)
    chunked = None
    if chunks:
        chunked_name = f"{found_compatible}-{version}.chunked.raucb"
        chunked = write_chunked(bundle, channel_dir, chunked_name, signing)
    release = channel.Release(
        compatible=found_compatible,
        version=version,
        bundle=bundle_url or name,
        size=bundle.stat().st_size,
        sha256=sha256(bundle),
        chunked=chunked,
    )
    previous: list[channel.Release] = []
    manifest_path = channel_dir / channel.MANIFEST
    if manifest_path.exists():
        previous = list(channel.parse_manifest(manifest_path.read_bytes()).releases)
    manifest = channel.Manifest(
        published=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        rollout_percent=rollout,
        hold=hold,
        allow=allow,
        releases=(*(r for r in previous if r.compatible != found_compatible), release),
    )
    raw = channel.render_manifest(manifest)
    staged = channel_dir / f".{channel.MANIFEST}.part"
    staged.write_bytes(raw)
    staged_sig = channel_dir / f".{channel.SIGNATURE}.part"
    sign_detached(staged, staged_sig, signing)
    os.replace(staged_sig, channel_dir / channel.SIGNATURE)
    os.replace(staged, manifest_path)
    return manifest
