"""Headless Chromium driven over the DevTools protocol, with trio-websocket.

Enough of CDP to open a page, run JavaScript in it and take a screenshot; the box already
depends on trio-websocket, so browser tests need nothing beyond Debian's chromium package.
"""

from __future__ import annotations

import base64
import itertools
import json
import shutil
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import trio
from trio_websocket import WebSocketConnection, open_websocket_url

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--remote-debugging-address=127.0.0.1",
    "--remote-debugging-port=0",
    "--window-size=1024,900",
]


#: What Chromium answers while a page is between two documents; polling again is the cure.
NAVIGATING = ("navigated or closed", "Cannot find context", "Execution context was destroyed")


class Page:
    def __init__(self, ws: WebSocketConnection, session: str) -> None:
        self._ws = ws
        self._session = session
        self._ids = itertools.count(1)

    async def send(self, method: str, **params: Any) -> dict[str, Any]:
        call_id = next(self._ids)
        await self._ws.send_message(
            json.dumps(
                {"id": call_id, "method": method, "params": params, "sessionId": self._session}
            )
        )
        while True:
            reply = json.loads(await self._ws.get_message())
            if reply.get("id") == call_id and reply.get("sessionId") == self._session:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                result: dict[str, Any] = reply["result"]
                return result

    async def evaluate(self, expression: str) -> Any:
        result = await self.send(
            "Runtime.evaluate", expression=expression, awaitPromise=True, returnByValue=True
        )
        if "exceptionDetails" in result:
            raise RuntimeError(f"page script failed: {result['exceptionDetails']}")
        return result["result"].get("value")

    async def wait_for(self, expression: str, timeout: float = 15) -> Any:
        """Poll a JavaScript expression until it is truthy, also across a navigation."""
        with trio.fail_after(timeout):
            while True:
                try:
                    value = await self.evaluate(expression)
                except RuntimeError as error:
                    if not any(text in str(error) for text in NAVIGATING):
                        raise
                    value = None
                if value:
                    return value
                await trio.sleep(0.1)

    async def navigate(self, url: str) -> None:
        await self.send("Page.navigate", url=url)
        await self.wait_for("document.readyState === 'complete' && location.href !== 'about:blank'")

    async def screenshot(self, path: Path) -> None:
        shot = await self.send("Page.captureScreenshot", format="png")
        path.write_bytes(base64.b64decode(shot["data"]))


@asynccontextmanager
async def chromium(profile: Path) -> AsyncIterator[Page]:
    """A fresh headless Chromium with one blank page; gone when the block ends."""
    if CHROMIUM is None:
        raise RuntimeError(
            "chromium is not installed: `make test` installs it as root (apt-get install chromium)"
        )
    profile.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen(
        [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", "about:blank"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        port_file = profile / "DevToolsActivePort"
        with trio.fail_after(30):
            while not port_file.exists() or len(port_file.read_text().split()) < 2:
                await trio.sleep(0.05)
        port, path = port_file.read_text().split()[:2]
        async with open_websocket_url(f"ws://127.0.0.1:{port}{path}", max_message_size=2**26) as ws:
            await ws.send_message(
                json.dumps(
                    {"id": 0, "method": "Target.createTarget", "params": {"url": "about:blank"}}
                )
            )
            target = await _reply(ws, 0)
            await ws.send_message(
                json.dumps(
                    {
                        "id": -1,
                        "method": "Target.attachToTarget",
                        "params": {"targetId": target["targetId"], "flatten": True},
                    }
                )
            )
            attached = await _reply(ws, -1)
            page = Page(ws, attached["sessionId"])
            await page.send("Page.enable")
            yield page
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


async def _reply(ws: WebSocketConnection, call_id: int) -> dict[str, Any]:
    while True:
        reply = json.loads(await ws.get_message())
        if reply.get("id") == call_id:
            if "error" in reply:
                raise RuntimeError(str(reply["error"]))
            result: dict[str, Any] = reply["result"]
            return result
