"""Panel drivers: the encoders and their decoders, the panel geometry, and the serial link."""

from __future__ import annotations

import itertools

import pytest
import trio
import trio.testing
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from edgebox.core.config import PanelConfig
from edgebox.core.errors import PanelError
from edgebox.drivers import adalight, tpm2
from edgebox.drivers.driver import PanelDriver
from edgebox.drivers.framing import Panel, level_table
from edgebox.drivers.serialport import SerialLink
from edgebox.drivers.stream import BadFrame
from edgebox.sim.panel import VirtualPanel
from tests.support.fakes.panel import MakePanel

pixels = st.integers(1, 400).flatmap(lambda n: st.binary(min_size=3 * n, max_size=3 * n))


@given(pixels)
def test_adalight_frames_decode_back_to_their_pixels(data: bytes) -> None:
    frame = adalight.encode(data)
    count = len(data) // 3 - 1
    hi, lo = count >> 8, count & 0xFF
    assert frame[:6] == b"Ada" + bytes((hi, lo, hi ^ lo ^ 0x55))
    assert adalight.decode(frame) == data


@given(pixels)
def test_tpm2_frames_decode_back_to_their_pixels(data: bytes) -> None:
    frame = tpm2.encode(data)
    assert frame[:4] == bytes((0xC9, 0xDA, len(data) >> 8, len(data) & 0xFF))
    assert frame[-1] == 0x36
    assert tpm2.decode(frame) == data


@settings(deadline=None)  # any chunking is right; feeding one byte at a time is slow when busy
@given(st.lists(pixels, min_size=1, max_size=4), st.binary(max_size=20), st.integers(1, 50))
def test_stream_decoders_find_every_frame_behind_garbage_in_any_chunking(
    frames: list[bytes], garbage: bytes, chunk: int
) -> None:
    for module in (adalight, tpm2):
        stream = garbage.replace(b"A", b"").replace(b"\xc9", b"") + b"".join(
            module.encode(f) for f in frames
        )
        decoder = module.Decoder()
        found = []
        for i in range(0, len(stream), chunk):
            found += decoder.feed(stream[i : i + chunk])
        assert found == frames


def test_adalight_decoder_reports_a_bad_checksum_and_recovers() -> None:
    good = adalight.encode(b"\x01\x02\x03")
    broken = bytearray(good)
    broken[5] ^= 0xFF
    found = adalight.Decoder().feed(bytes(broken) + good)
    assert isinstance(found[0], BadFrame)
    assert found[-1] == b"\x01\x02\x03"


def test_tpm2_decoder_reports_a_missing_end_byte() -> None:
    broken = tpm2.encode(b"\x01\x02\x03")[:-1] + b"\x00"
    assert isinstance(tpm2.Decoder().feed(broken)[0], BadFrame)
    with pytest.raises(PanelError):
        tpm2.decode(broken)


def test_encoders_refuse_what_their_protocol_cannot_carry() -> None:
    with pytest.raises(PanelError):
        adalight.encode(b"\x00\x00")
    with pytest.raises(PanelError):
        adalight.encode(b"")
    with pytest.raises(PanelError):
        tpm2.encode(bytes(3 * 21846))


def _canvas(width: int, height: int) -> Image.Image:
    """Every pixel distinct: red = x, green = y, blue = 7."""
    image = Image.new("RGB", (width, height))
    image.putdata([(x, y, 7) for y in range(height) for x in range(width)])
    return image


def _triples(data: bytes) -> list[tuple[int, ...]]:
    return [tuple(data[i : i + 3]) for i in range(0, len(data), 3)]


LINEAR = {"gamma": 1.0}


def test_a_panel_shows_its_region_of_the_canvas_row_by_row() -> None:
    panel = Panel("p", width=3, height=2, x=2, y=1, **LINEAR)
    assert _triples(panel.pixels(_canvas(6, 4), 100)) == [
        (2, 1, 7), (3, 1, 7), (4, 1, 7),
        (2, 2, 7), (3, 2, 7), (4, 2, 7),
    ]  # fmt: skip


def test_serpentine_wiring_runs_every_other_row_backwards() -> None:
    panel = Panel("p", width=3, height=3, wiring="serpentine", **LINEAR)
    assert _triples(panel.pixels(_canvas(3, 3), 100)) == [
        (0, 0, 7), (1, 0, 7), (2, 0, 7),
        (2, 1, 7), (1, 1, 7), (0, 1, 7),
        (0, 2, 7), (1, 2, 7), (2, 2, 7),
    ]  # fmt: skip


def test_a_panel_turned_clockwise_takes_its_first_row_from_the_right_column() -> None:
    # A 3x2 panel hung turned 90° clockwise covers a 2x3 box; its LED 0 is at the top right.
    panel = Panel("p", width=3, height=2, rotation=90, **LINEAR)
    assert panel.footprint == (0, 0, 2, 3)
    assert _triples(panel.pixels(_canvas(2, 3), 100)) == [
        (1, 0, 7), (1, 1, 7), (1, 2, 7),
        (0, 0, 7), (0, 1, 7), (0, 2, 7),
    ]  # fmt: skip


def test_upside_down_and_counter_clockwise_panels_start_at_the_far_corners() -> None:
    upside_down = Panel("p", width=2, height=2, rotation=180, **LINEAR)
    assert _triples(upside_down.pixels(_canvas(2, 2), 100))[0] == (1, 1, 7)
    ccw = Panel("p", width=3, height=2, rotation=270, **LINEAR)
    assert _triples(ccw.pixels(_canvas(2, 3), 100))[0] == (0, 2, 7)


def test_colour_order_sends_channels_in_the_order_the_leds_take_them() -> None:
    image = Image.new("RGB", (1, 1), (10, 20, 30))
    assert Panel("p", 1, 1, color_order="GRB", **LINEAR).pixels(image, 100) == bytes((20, 10, 30))
    assert Panel("p", 1, 1, color_order="BGR", **LINEAR).pixels(image, 100) == bytes((30, 20, 10))


def test_gamma_darkens_mid_tones_and_keeps_the_ends() -> None:
    image = Image.new("RGB", (3, 1))
    image.putdata([(0, 0, 0), (128, 128, 128), (255, 255, 255)])
    out = Panel("p", 3, 1, gamma=2.2).pixels(image, 100)
    assert out[0] == 0 and out[6] == 255
    assert out[3] == round(255 * (128 / 255) ** 2.2) == 56


def test_brightness_is_a_perceived_level_applied_before_gamma() -> None:
    white = Image.new("RGB", (1, 1), (255, 255, 255))
    panel = Panel("p", 1, 1, gamma=2.2)
    assert panel.pixels(white, 100) == bytes((255, 255, 255))
    assert panel.pixels(white, 50) == bytes([round(255 * 0.5**2.2)] * 3) == bytes((55, 55, 55))
    assert panel.pixels(white, 0) == bytes(3)
    assert level_table(1.0, 50)[200] == 100


def test_current_limit_caps_the_total_drive_of_a_white_panel() -> None:
    white = Image.new("RGB", (4, 4), (255, 255, 255))
    out = Panel("p", 4, 4, current_limit=0.5).pixels(white, 100)
    assert sum(out) <= 0.5 * 255 * 3 * 16
    assert sum(out) >= 0.49 * 255 * 3 * 16
    dim = Image.new("RGB", (4, 4), (40, 40, 40))
    panel = Panel("p", 4, 4, current_limit=0.5)
    assert panel.pixels(dim, 100) == Panel("p", 4, 4).pixels(dim, 100)


def test_a_panel_frame_is_its_protocol_encoding() -> None:
    image = _canvas(4, 2)
    for protocol, module in (("adalight", adalight), ("tpm2", tpm2)):
        panel = Panel("p", 4, 2, protocol=protocol)
        frame = panel.frame(image, 80)
        assert len(frame) == panel.frame_size()
        assert module.decode(frame) == panel.pixels(image, 80)


def test_a_panel_is_built_from_its_venue_entry() -> None:
    cfg = PanelConfig(name="left", port="/dev/null", width=8, height=4, x=8, rotation=180)
    panel = Panel.from_config(cfg)
    assert (panel.name, panel.led_count, panel.footprint) == ("left", 32, (8, 0, 16, 4))


async def _frames_arrive(panel: VirtualPanel, n: int) -> None:
    with trio.fail_after(5):
        await panel.wait_for(frames=n)


async def test_a_link_delivers_whole_checked_frames_to_a_pty(
    panel: VirtualPanel, nursery: trio.Nursery
) -> None:
    link = SerialLink(str(panel.path), 2_000_000)
    await nursery.start(link.run)
    data = bytes(range(256)) * 24
    link.offer(adalight.encode(data))
    await _frames_arrive(panel, 1)
    assert panel.last_frame == data
    assert (panel.counts.good, panel.counts.bad) == (1, 0)
    assert link.stats.connected and link.stats.frames_sent == 1


async def test_a_link_paces_frames_to_the_baud_rate_and_keeps_only_the_newest(
    panels: MakePanel, nursery: trio.Nursery
) -> None:
    panel = await panels(8, 8)
    link = SerialLink(str(panel.path), 19_200)
    await nursery.start(link.run)
    size = adalight.frame_size(64)  # 198 bytes = 103 ms at 19200 baud
    began = trio.current_time()
    for n in range(12):
        link.offer(adalight.encode(bytes([n]) * 192))
        await trio.sleep(0.01)
    await _frames_arrive(panel, 1)
    while panel.last_frame != bytes([11]) * 192:
        await _frames_arrive(panel, 1)
    elapsed = trio.current_time() - began
    assert link.stats.frames_sent == panel.counts.good
    assert link.stats.frames_sent + link.stats.frames_dropped == 12
    assert link.stats.frames_dropped >= 9
    # The last frame could only start once the ones before it had had their wire time.
    assert elapsed >= (link.stats.frames_sent - 1) * size * 10 / 19_200


async def test_a_link_to_a_port_without_a_file_descriptor_writes_from_a_thread(
    nursery: trio.Nursery,
) -> None:
    opened = []

    def open_loop(url: str, baudrate: int) -> object:
        from edgebox.drivers.serialport import open_serial

        port = open_serial(url, baudrate)
        opened.append(port)
        return port

    link = SerialLink("loop://", 1_000_000, open_port=open_loop)
    await nursery.start(link.run)
    frame = tpm2.encode(b"\x10\x20\x30")
    link.offer(frame)
    with trio.fail_after(5):
        while link.stats.frames_sent == 0:
            await trio.sleep(0.01)
    assert await trio.to_thread.run_sync(opened[0].read, len(frame)) == frame


@pytest.fixture
def thread_patient_clock() -> trio.testing.MockClock:
    """Autojumps only once the loop idles for 50 ms, so a port opening in a thread finishes."""
    return trio.testing.MockClock(autojump_threshold=0.05)


async def test_an_unopenable_port_is_retried_every_two_seconds_without_raising(
    thread_patient_clock: trio.testing.MockClock, nursery: trio.Nursery
) -> None:
    tries: list[float] = []

    def refuse(url: str, baudrate: int) -> object:
        tries.append(trio.from_thread.run_sync(trio.current_time))
        raise OSError(2, "No such file or directory")

    link = SerialLink("/dev/ttyUSB9", 115_200, open_port=refuse)
    nursery.start_soon(link.run)
    await trio.sleep(7)
    assert [round(b - a, 1) for a, b in itertools.pairwise(tries)] == [2.0, 2.0, 2.0]
    assert not link.stats.connected
    assert "cannot open /dev/ttyUSB9" in (link.stats.last_error or "")


async def test_a_pulled_pty_is_reopened_and_frames_flow_again(
    panel: VirtualPanel, nursery: trio.Nursery
) -> None:
    link = SerialLink(str(panel.path), 2_000_000, reopen_interval=0.05)
    await nursery.start(link.run)

    async def keep_offering() -> None:
        while True:
            link.offer(adalight.encode(bytes(6144)))
            await trio.sleep(0.01)

    nursery.start_soon(keep_offering)
    await _frames_arrive(panel, 3)
    panel.unplug()
    with trio.fail_after(5):
        while link.stats.connected:
            await trio.sleep(0.01)
    assert "write failed" in (link.stats.last_error or "")
    panel.plug()
    await _frames_arrive(panel, 3)
    assert link.stats.connected and link.stats.opens == 2
    assert panel.counts.bad == 0


async def test_a_driver_shows_its_region_through_the_virtual_panel(
    panels: MakePanel, nursery: trio.Nursery
) -> None:
    virtual = await panels(4, 2, protocol="tpm2", wiring="serpentine", color_order="GRB")
    cfg = PanelConfig(
        name="p", port=str(virtual.path), protocol="tpm2", baudrate=1_000_000, width=4,
        height=2, x=1, y=1, wiring="serpentine", color_order="GRB", gamma=1.0,
    )  # fmt: skip
    driver = PanelDriver.from_config(cfg)
    await nursery.start(driver.run)
    driver.show(_canvas(6, 4), 100)
    await _frames_arrive(virtual, 1)
    assert virtual.image().getpixel((0, 0)) == (1, 1, 7)
    assert virtual.image().getpixel((3, 1)) == (4, 2, 7)


async def test_a_loop_port_takes_frames_bigger_than_pyserials_loop_and_keeps_the_newest(
    nursery: trio.Nursery,
) -> None:
    opened = []

    def open_loop(url: str, baudrate: int) -> object:
        from edgebox.drivers.serialport import open_serial

        opened.append(open_serial(url, baudrate))
        return opened[-1]

    link = SerialLink("loop://", 2_000_000, open_port=open_loop)
    await nursery.start(link.run)
    frames = [adalight.encode(bytes([n]) * 6144) for n in range(12)]  # 6 KiB each
    with trio.fail_after(5):
        for frame in frames:
            link.offer(frame)
            while link.stats.frames_sent + link.stats.frames_dropped < frames.index(frame) + 1:
                await trio.sleep(0.005)
    assert link.stats.last_error is None and link.stats.opens == 1
    port = opened[0]
    kept = await trio.to_thread.run_sync(port.read, port.capacity)
    assert kept.endswith(frames[-1]) and len(frames[-1]) < len(kept) <= port.capacity


def test_a_loop_url_with_anything_after_it_is_refused() -> None:
    from edgebox.drivers.loopback import LoopbackPort

    with pytest.raises(ValueError, match="nothing after loop://"):
        LoopbackPort("loop://?logging=debug")
