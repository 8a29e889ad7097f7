"""`edgebox demo` as a newcomer runs it: a subprocess that prints where to look."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from edgebox.cli.demo import ADMIN_TOKEN


def test_demo_serves_the_led_sign_a_virtual_panel_and_syncs_the_embedded_cloud(
    tmp_path: Path,
) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "edgebox", "demo", "--port", "0", "--data", str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stdout is not None
        base = None
        for line in proc.stdout:
            found = re.search(r"(http://127\.0\.0\.1:\d+)/\s+status page", line)
            if found:
                base = found.group(1)
                break
        assert base is not None, "the demo printed no status page URL"
        with httpx.Client(base_url=base, timeout=10) as client:
            items = client.get("/api/playlist/items").json()
            assert [i["id"] for i in items] == ["welcome"]
            auth = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline:
                panels = client.get("/api/status", headers=auth).json()["panels"]
                if panels[0]["connected"] and panels[0]["frames_sent"] > 0:
                    break
                time.sleep(0.1)
            assert panels[0]["connected"] and panels[0]["frames_sent"] > 0, panels
            while time.monotonic() < deadline:
                summary = client.get("/api/status", headers=auth).json()
                if summary.get("playback", {}).get("front", {}).get("playlist_id") == 101:
                    break
                time.sleep(0.1)
            assert [(p["playlist_id"], p["status"]) for p in summary["playlists"]] == [
                (101, "ready")
            ]
            assert summary["cloud"]["registered"] is True
            assert len(summary["playback"]["front"]["media_ids"]) == 4
            while time.monotonic() < deadline:
                rows = client.get("/api/status", headers=auth).json()["panels"]
                front = next(p for p in rows if p["panel"] == "front-screen")
                if front["frames_sent"] > 0:
                    break
                time.sleep(0.1)
            assert front["connected"] and front["frames_sent"] > 0, rows
        os.kill(proc.pid, signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        proc.kill()
        proc.wait()
