"""A qemu virtual machine that boots a venue image as a box would: UEFI firmware (OVMF), the disk
on virtio, a hardware watchdog, the LAN port forwarded to 127.0.0.1, and a root shell on the
second serial port (the image tests' extra unit) for the tests to look inside.

User-mode networking with restrict=on: the guest reaches nothing outside itself but its cloud, a
SimCloud on the host's 127.0.0.1 that it finds at 10.0.2.100:80 (qemu's guestfwd, one socat per
connection); the host reaches the forwarded LAN port only. Software emulation (TCG) unless
EDGEBOX_QEMU_ACCEL=kvm: a /dev/kvm that opens is no proof that KVM runs a guest (nested under
another hypervisor it may hang at once).
"""

from __future__ import annotations

import itertools
import os
import queue
import re
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import TypeVar

import httpx
import trio

from edgebox.sim import channel as sim_channel
from edgebox.sim.channel import SimChannel
from edgebox.sim.cloud import SimCloud, serve
from tests.support.net import free_port

T = TypeVar("T")

QEMU = shutil.which("qemu-system-x86_64")
OVMF_CODE = Path("/usr/share/OVMF/OVMF_CODE_4M.fd")
OVMF_VARS = Path("/usr/share/OVMF/OVMF_VARS_4M.fd")
# The arm64 image on qemu's virt machine with Debian's AAVMF (qemu-efi-aarch64). The machine has a
# single UART, the console; the tests' shell is on a virtio console (hvc0) instead.
QEMU_ARM64 = shutil.which("qemu-system-aarch64")
AAVMF_CODE = Path("/usr/share/AAVMF/AAVMF_CODE.fd")
AAVMF_VARS = Path("/usr/share/AAVMF/AAVMF_VARS.fd")
# The oldest x86-64 the image supports: x86-64-v2 (SSE4.2, POPCNT), which numpy's wheels need.
# qemu's default TCG model (qemu64) predates it, and numpy's import dies there with SIGILL.
TCG_CPU = ("-cpu", "Nehalem")
GUEST_CLOUD = "10.0.2.100"  # the cloud's address inside the guest; see HostCloud
GUEST_CHANNEL = "10.0.2.101"  # the update channel's; see HostChannel


class HostCloud:
    """The venue's cloud: a SimCloud on the host's 127.0.0.1, in a thread with its own trio loop.

    The tests are synchronous, so they reach its state through `call`, which runs in that loop.
    """

    def __init__(self) -> None:
        self.port = 0
        self._cloud: SimCloud | None = None
        self._token: trio.lowlevel.TrioToken | None = None
        self._stop: trio.Event | None = None
        self._failure: BaseException | None = None
        self._thread: threading.Thread | None = None

    def _run(self, started: queue.Queue[int | BaseException]) -> None:
        async def main() -> None:
            self._token = trio.lowlevel.current_trio_token()
            self._stop = trio.Event()
            self._cloud = SimCloud(users={"box": "s3cret-password"})
            async with trio.open_nursery() as nursery:
                urls = await nursery.start(serve, self._cloud)
                started.put(int(urls.origin.rsplit(":", 1)[1]))
                await self._stop.wait()
                nursery.cancel_scope.cancel()

        try:
            trio.run(main)
        except BaseException as exc:  # handed to the test thread, which raises it
            self._failure = exc
            started.put(exc)

    def __enter__(self) -> HostCloud:
        started: queue.Queue[int | BaseException] = queue.Queue()
        self._thread = threading.Thread(
            target=self._run, args=(started,), name="host-cloud", daemon=True
        )
        self._thread.start()
        first = started.get(timeout=30)
        if isinstance(first, BaseException):
            raise first
        self.port = first
        return self

    def call(self, fn: Callable[[SimCloud], T]) -> T:
        """`fn(cloud)` inside the cloud's loop, so that it sees and changes a consistent state."""
        assert self._token is not None and self._cloud is not None, "enter the HostCloud first"
        cloud = self._cloud
        return trio.from_thread.run_sync(lambda: fn(cloud), trio_token=self._token)

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        assert self._thread is not None, "enter the HostCloud first"
        if self._token is not None and self._stop is not None and self._thread.is_alive():
            trio.from_thread.run_sync(self._stop.set, trio_token=self._token)
        self._thread.join(timeout=30)
        if self._failure is not None and kind is None:
            raise self._failure


class HostChannel:
    """An update channel: a directory on the host served by a SimChannel on 127.0.0.1, in a
    thread with its own trio loop; the guest finds it at 10.0.2.101:80."""

    def __init__(self, directory: Path) -> None:
        self.channel = SimChannel(directory)
        self.port = 0
        self._token: trio.lowlevel.TrioToken | None = None
        self._stop: trio.Event | None = None
        self._thread: threading.Thread | None = None

    def _run(self, started: queue.Queue[str | BaseException]) -> None:
        async def main() -> None:
            self._token = trio.lowlevel.current_trio_token()
            self._stop = trio.Event()
            async with trio.open_nursery() as nursery:
                started.put(await nursery.start(sim_channel.serve, self.channel))
                await self._stop.wait()
                nursery.cancel_scope.cancel()

        try:
            trio.run(main)
        except BaseException as exc:
            started.put(exc)

    def __enter__(self) -> HostChannel:
        started: queue.Queue[str | BaseException] = queue.Queue()
        self._thread = threading.Thread(target=self._run, args=(started,), daemon=True)
        self._thread.start()
        first = started.get(timeout=30)
        if isinstance(first, BaseException):
            raise first
        self.port = int(first.rstrip("/").rsplit(":", 1)[1])
        return self

    def call(self, fn: Callable[[SimChannel], T]) -> T:
        assert self._token is not None, "enter the HostChannel first"
        channel = self.channel
        return trio.from_thread.run_sync(lambda: fn(channel), trio_token=self._token)

    def __exit__(self, *exc_info: object) -> None:
        if self._token is not None and self._stop is not None and self._thread is not None:
            if self._thread.is_alive():
                trio.from_thread.run_sync(self._stop.set, trio_token=self._token)
            self._thread.join(timeout=30)


def overlay(base: Path, path: Path) -> Path:
    """A copy-on-write disk over the built image, so each machine starts from the same flash."""
    subprocess.run(
        ["qemu-img", "create", "-q", "-f", "qcow2", "-F", "raw", "-b", str(base), str(path)],
        check=True,
    )
    return path


class Shell:
    """The guest's root shell on its second serial port: a command in, its output and status out."""

    def __init__(self, path: Path, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                self._sock.connect(str(path))
                break
            except OSError:
                self._sock.close()
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        self._tokens = itertools.count(1)

    def _read_until(self, pattern: re.Pattern[str], timeout: float, poke: bytes = b"") -> str:
        buffer = ""
        deadline = time.monotonic() + timeout
        next_poke = 0.0
        while True:
            match = pattern.search(buffer)
            if match:
                return buffer[: match.end()]
            now = time.monotonic()
            if now > deadline:
                raise TimeoutError(f"no {pattern.pattern!r} from the guest; got {buffer[-500:]!r}")
            if poke and now >= next_poke:
                self._sock.sendall(poke)
                next_poke = now + 2
            self._sock.settimeout(max(0.05, min(1.0, deadline - now)))
            try:
                chunk = self._sock.recv(65536)
            except TimeoutError:
                continue
            if not chunk:
                raise ConnectionError("the guest's serial port closed")
            buffer += chunk.decode(errors="replace").replace("\r", "")

    def wait_ready(self, timeout: float) -> None:
        """Until the shell answers; its echo is then turned off so output is only output."""
        token = next(self._tokens)
        # The marker is printed in two halves, so the echoed command line never matches it.
        poke = f"\nstty -echo; PS1=''; printf '%s%s\\n' __ready_ {token}\n".encode()
        self._read_until(re.compile(rf"__ready_{token}\n"), timeout, poke)

    def run(self, command: str, timeout: float = 120) -> tuple[int, str]:
        token = next(self._tokens)
        self._sock.sendall(f"{command}; printf '%s%s:%d\\n' __done_ {token} $?\n".encode())
        text = self._read_until(re.compile(rf"__done_{token}:(\d+)\n"), timeout)
        body, _, status = text.rpartition(f"__done_{token}:")
        return int(status.strip()), body.strip()

    def check(self, command: str, timeout: float = 120) -> str:
        status, output = self.run(command, timeout)
        if status != 0:
            raise AssertionError(f"`{command}` exited {status}: {output}")
        return output

    def close(self) -> None:
        self._sock.close()


class Machine:
    """One box: power on, power cut, and its shell. The firmware's variables persist across
    power cycles, as a real board's NVRAM does."""

    def __init__(
        self,
        disk: Path,
        directory: Path,
        *,
        lan_port: int = 8080,
        cloud_port: int | None = None,
        arch: str = "amd64",
        channel_port: int | None = None,
    ) -> None:
        if (QEMU_ARM64 if arch == "arm64" else QEMU) is None:
            raise FileNotFoundError(f"qemu for {arch}: run `tools/system-deps image`")
        self.arch = arch
        self.disk = disk
        self.directory = directory
        self.lan_port = lan_port
        self.cloud_port = cloud_port
        self.channel_port = channel_port
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.console = directory / "console.log"
        self.vars = directory / "OVMF_VARS.fd"
        shutil.copyfile(AAVMF_VARS if arch == "arm64" else OVMF_VARS, self.vars)
        self.accel = os.environ.get("EDGEBOX_QEMU_ACCEL", "tcg")
        self.usb_sticks: list[Path] = []  # raw images, plugged in at power-on
        self.proc: subprocess.Popen[bytes] | None = None
        self.powered_on_at = 0.0
        self._shell: Shell | None = None

    def argv(self, socket_path: Path) -> list[str]:
        if self.arch == "arm64":
            return self.argv_arm64(socket_path)
        kvm = self.accel == "kvm"
        cpu = ["-accel", "kvm", "-cpu", "host"] if kvm else ["-accel", "tcg", *TCG_CPU]
        forward = f"hostfwd=tcp:127.0.0.1:{self.port}-:{self.lan_port}"
        if self.cloud_port is not None:
            relay = f"socat - TCP:127.0.0.1:{self.cloud_port}"
            forward += f",guestfwd=tcp:{GUEST_CLOUD}:80-cmd:{relay}"
        if self.channel_port is not None:
            relay = f"socat - TCP:127.0.0.1:{self.channel_port}"
            forward += f",guestfwd=tcp:{GUEST_CHANNEL}:80-cmd:{relay}"
        argv = [
            str(QEMU),
            *("-machine", "q35", *cpu, "-smp", "2", "-m", "1024"),
            *("-nodefaults", "-no-user-config", "-display", "none", "-monitor", "none"),
            *("-drive", f"if=pflash,format=raw,unit=0,readonly=on,file={OVMF_CODE}"),
            *("-drive", f"if=pflash,format=raw,unit=1,file={self.vars}"),
            *("-drive", f"if=virtio,file={self.disk},format=qcow2,cache=writeback"),
            *("-netdev", f"user,id=lan,restrict=on,{forward}"),
            *("-device", "virtio-net-pci,netdev=lan"),
            *("-device", "i6300esb"),
            *("-chardev", f"file,id=console,path={self.console},append=on"),
            *("-serial", "chardev:console"),
            *("-chardev", f"socket,id=shell,path={socket_path},server=on,wait=off"),
            *("-serial", "chardev:shell"),
        ]  # fmt: skip
        if self.usb_sticks:
            argv += ["-device", "qemu-xhci,id=usb"]
        for n, stick in enumerate(self.usb_sticks):
            argv += ["-drive", f"if=none,id=stick{n},file={stick},format=raw,readonly=on"]
            argv += ["-device", f"usb-storage,bus=usb.0,drive=stick{n},removable=on"]
        return argv

    def argv_arm64(self, socket_path: Path) -> list[str]:
        """Software emulation only (this host is x86-64). pauth-impdef: the same pointer
        authentication, with qemu's cheaper cipher instead of QARMA, several times faster."""
        forward = f"hostfwd=tcp:127.0.0.1:{self.port}-:{self.lan_port}"
        if self.cloud_port is not None:
            relay = f"socat - TCP:127.0.0.1:{self.cloud_port}"
            forward += f",guestfwd=tcp:{GUEST_CLOUD}:80-cmd:{relay}"
        return [
            str(QEMU_ARM64),
            *("-machine", "virt", "-accel", "tcg", "-cpu", "max,pauth-impdef=on"),
            *("-smp", "2", "-m", "1024"),
            *("-nodefaults", "-no-user-config", "-display", "none", "-monitor", "none"),
            *("-drive", f"if=pflash,format=raw,unit=0,readonly=on,file={AAVMF_CODE}"),
            *("-drive", f"if=pflash,format=raw,unit=1,file={self.vars}"),
            *("-drive", f"if=virtio,file={self.disk},format=qcow2,cache=writeback"),
            *("-netdev", f"user,id=lan,restrict=on,{forward}"),
            *("-device", "virtio-net-pci,netdev=lan"),
            *("-device", "i6300esb"),
            *("-chardev", f"file,id=console,path={self.console},append=on"),
            *("-serial", "chardev:console"),
            *("-device", "virtio-serial-pci"),
            *("-chardev", f"socket,id=shell,path={socket_path},server=on,wait=off"),
            *("-device", "virtconsole,chardev=shell"),
        ]  # fmt: skip

    def power_on(self) -> None:
        assert self.proc is None, "already on"
        socket_path = self.directory / "shell.sock"
        socket_path.unlink(missing_ok=True)
        self.powered_on_at = time.monotonic()
        self.proc = subprocess.Popen(self.argv(socket_path), stdin=subprocess.DEVNULL)
        self._shell = Shell(socket_path, timeout=10)

    def power_cut(self) -> None:
        """SIGKILL to qemu: the guest gets no shutdown, no flush, nothing."""
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None
        if self._shell is not None:
            self._shell.close()
            self._shell = None

    def shell(self, timeout: float = 300) -> Shell:
        """The shell, once the box serves its LAN. Nothing is typed before that: a key that
        reaches the boot loader while the guest reboots opens its menu, which then waits."""
        assert self._shell is not None, "power the machine on first"
        self.wait_lan(timeout)
        self._shell.wait_ready(timeout)
        return self._shell

    def wait_down(self, timeout: float, path: str = "/healthz") -> None:
        """Until the LAN stops answering: the guest has begun to reboot."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                httpx.get(self.url + path, timeout=3).raise_for_status()
            except httpx.HTTPError:
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"{path} still answers\n{self.console_tail()}")
            time.sleep(0.25)

    def uptime(self) -> float:
        """Seconds since this machine was powered on (reboots inside it do not reset it)."""
        return time.monotonic() - self.powered_on_at

    def console_tail(self, lines: int = 40) -> str:
        if not self.console.exists():
            return ""
        return "\n".join(self.console.read_text(errors="replace").splitlines()[-lines:])

    def wait_lan(self, timeout: float, path: str = "/healthz") -> float:
        """Seconds from power-on until `path` answers 200 on the forwarded LAN port."""
        deadline = time.monotonic() + timeout
        while True:
            if self.proc is None or self.proc.poll() is not None:
                raise RuntimeError(f"qemu is not running\n{self.console_tail()}")
            try:
                if httpx.get(self.url + path, timeout=3).status_code == 200:
                    return time.monotonic() - self.powered_on_at
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"{path} never answered\n{self.console_tail()}")
            time.sleep(0.25)
