"""sd_notify over a real unix datagram socket, the watchdog's cadence, and journal log lines."""

from __future__ import annotations

import logging
import os
import socket
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import trio
import trio.testing

from edgebox.core import config
from edgebox.runtime import wiring
from edgebox.runtime.box import Box
from edgebox.runtime.systemd import JournalFormatter, Notifier, journal_stream, watchdog


@pytest.fixture
def notify_socket(tmp_path: Path) -> Iterator[tuple[str, socket.socket]]:
    """The service manager's end: a bound datagram socket and the address to give the box."""
    path = tmp_path / "notify"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.setblocking(False)
    yield str(path), sock
    sock.close()


def received(sock: socket.socket) -> list[str]:
    messages = []
    while True:
        try:
            messages.append(sock.recv(4096).decode())
        except BlockingIOError:
            return messages


def test_ready_and_status_arrive_as_one_datagram_of_key_value_lines(
    notify_socket: tuple[str, socket.socket],
) -> None:
    address, sock = notify_socket
    notifier = Notifier(address)
    assert notifier.ready("serving on http://127.0.0.1:8080")
    assert notifier.stopping()
    assert received(sock) == [
        "READY=1\nSTATUS=serving on http://127.0.0.1:8080",
        "STOPPING=1\nSTATUS=shutting down",
    ]
    notifier.close()


def test_abstract_namespace_address_is_reached() -> None:
    name = f"edgebox-test-{os.getpid()}"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(b"\0" + name.encode())
    sock.setblocking(False)
    try:
        assert Notifier(f"@{name}").ping()
        assert received(sock) == ["WATCHDOG=1"]
    finally:
        sock.close()


def test_missing_manager_is_not_an_error(tmp_path: Path) -> None:
    assert not Notifier(str(tmp_path / "nobody-listens")).ready()


def test_environment_decides_whether_and_how_often_to_ping() -> None:
    assert Notifier.from_environ({}) is None
    plain = Notifier.from_environ({"NOTIFY_SOCKET": "/run/systemd/notify"})
    assert plain is not None and plain.watchdog_interval is None
    env = {"NOTIFY_SOCKET": "@x", "WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "42"}
    mine = Notifier.from_environ(env, pid=42)
    assert mine is not None and mine.watchdog_interval == 15.0
    inherited = Notifier.from_environ(env, pid=43)
    assert inherited is not None and inherited.watchdog_interval is None


@pytest.fixture
async def quiet_box(make_config: Callable[..., config.VenueConfig]) -> Box:
    return await wiring.open_box(make_config())


async def test_watchdog_pings_at_half_the_timeout_only_while_healthy(
    autojump_clock: trio.testing.MockClock,
    notify_socket: tuple[str, socket.socket],
    quiet_box: Box,
) -> None:
    address, sock = notify_socket
    notifier = Notifier(address, watchdog_usec=10_000_000)
    healthy = True
    pings: list[tuple[float, str]] = []

    async def manager() -> None:
        tsock = trio.socket.from_stdlib_socket(sock)
        while True:
            data = await tsock.recv(4096)
            pings.append((trio.current_time(), data.decode()))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(manager)
        await nursery.start(watchdog(quiet_box.supervisor, notifier, lambda: healthy))
        await trio.sleep(21)
        healthy = False
        await trio.sleep(20)
        healthy = True
        await trio.sleep(6)
        nursery.cancel_scope.cancel()

    wd = [round(t) for t, msg in pings if msg == "WATCHDOG=1"]
    assert wd == [0, 5, 10, 15, 20, 45]
    statuses = [msg for _, msg in pings if msg.startswith("STATUS=")]
    assert statuses[0].startswith("STATUS=degraded")
    assert statuses[-1] == "STATUS=serving"


async def test_a_service_in_backoff_stops_the_pings(
    autojump_clock: trio.testing.MockClock,
    notify_socket: tuple[str, socket.socket],
    quiet_box: Box,
) -> None:
    address, sock = notify_socket
    notifier = Notifier(address, watchdog_usec=2_000_000)

    async def unplugged_at_3_5(
        *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> None:
        if trio.current_time() >= 3.5:
            raise RuntimeError("panel unplugged")
        task_status.started()
        await trio.sleep(3.5 - trio.current_time())
        raise RuntimeError("panel unplugged")

    async with trio.open_nursery() as nursery:
        nursery.start_soon(quiet_box.supervisor.supervise, "panel", unplugged_at_3_5)
        await trio.testing.wait_all_tasks_blocked()
        await nursery.start(watchdog(quiet_box.supervisor, notifier))
        await trio.sleep(10)
        nursery.cancel_scope.cancel()

    messages = received(sock)
    assert messages.count("WATCHDOG=1") == 4  # t = 0, 1, 2, 3; the panel fails at 3.5
    assert messages[-1] == "STATUS=degraded: panel"


async def test_box_reports_ready_once_the_lan_server_listens(
    notify_socket: tuple[str, socket.socket], quiet_box: Box
) -> None:
    address, sock = notify_socket
    quiet_box.notifier = Notifier(address, watchdog_usec=60_000_000)
    assert "systemd-watchdog" in dict(wiring.services(quiet_box))
    tsock = trio.socket.from_stdlib_socket(sock)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(wiring.run_until_signal, quiet_box)
        with trio.fail_after(10):
            first = (await tsock.recv(4096)).decode()
            assert first.startswith("READY=1\nSTATUS=serving on http://127.0.0.1:")
            assert quiet_box.lan_urls
        nursery.cancel_scope.cancel()


async def test_without_notify_socket_there_is_no_watchdog_service(quiet_box: Box) -> None:
    assert "systemd-watchdog" not in dict(wiring.services(quiet_box))


def _record(level: int, msg: str, exc: bool = False) -> logging.LogRecord:
    exc_info = None
    if exc:
        try:
            raise ValueError("bad frame")
        except ValueError:
            exc_info = sys.exc_info()
    return logging.LogRecord("edgebox.panel", level, __file__, 1, msg, None, exc_info)


def test_journal_lines_carry_syslog_levels_and_no_timestamps() -> None:
    fmt = JournalFormatter()
    assert fmt.format(_record(logging.INFO, "serving")) == "<6>edgebox.panel: serving"
    assert fmt.format(_record(logging.WARNING, "slow")) == "<4>edgebox.panel: slow"
    lines = fmt.format(_record(logging.ERROR, "panel failed", exc=True)).splitlines()
    assert lines[0] == "<3>edgebox.panel: panel failed"
    assert len(lines) > 2 and all(line.startswith("<3>") for line in lines)


def test_journal_stream_is_recognised_by_device_and_inode(tmp_path: Path) -> None:
    with (tmp_path / "stderr").open("w") as stream:
        st = os.fstat(stream.fileno())
        assert journal_stream({"JOURNAL_STREAM": f"{st.st_dev}:{st.st_ino}"}, stream)
        assert not journal_stream({"JOURNAL_STREAM": f"{st.st_dev}:1"}, stream)
        assert not journal_stream({}, stream)
