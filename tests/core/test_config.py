from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from edgebox.core import config
from edgebox.core.errors import ConfigError
from tests.conftest import base_venue

ROOT = Path(__file__).resolve().parents[2]


def test_example_venue_file_is_valid() -> None:
    cfg = config.load(ROOT / "venue.example.toml")
    assert [p.name for p in cfg.panels] == ["left", "right"]
    assert cfg.panels[0].color_order == "GRB"
    assert cfg.canvases[0].width == 128


def test_every_problem_is_reported_with_its_key_path(tmp_path: Path) -> None:
    venue = base_venue(tmp_path)
    venue["panels"] = [
        {"name": "a", "port": "/dev/ttyUSB0"},
        {"name": "b", "port": "/dev/ttyUSB1", "baudrate": 5, "wiring": "zigzag", "canvas": "x"},
    ]
    venue["lan"]["port"] = 70000
    with pytest.raises(ConfigError) as info:
        config.parse(venue)
    assert info.value.problems == [
        "lan.port: must be between 0 and 65535 (got 70000)",
        "panels[1].baudrate: must be between 300 and 20000000 (got 5)",
        "panels[1].wiring: must be one of 'progressive', 'serpentine' (got 'zigzag')",
        "panels[1].canvas: no canvas named 'x' (have ['main'])",
    ]


def test_wrong_types_and_unknown_keys_are_named(tmp_path: Path) -> None:
    venue = base_venue(tmp_path)
    venue["lan"]["port"] = "8080"
    venue["cloud"]["enabled"] = 1
    venue["clod"] = {}
    del venue["device"]["sn_number"]
    with pytest.raises(ConfigError) as info:
        config.parse(venue)
    assert sorted(info.value.problems) == sorted(
        [
            "cloud.enabled: must be bool (got int 1)",
            "device.sn_number: required key is missing",
            "lan.port: must be int (got str '8080')",
            "(top level): unknown keys ['clod']",
        ]
    )


def test_panel_outside_its_canvas_is_refused(tmp_path: Path) -> None:
    venue = base_venue(tmp_path, panels=[{"name": "a", "port": "loop://", "x": 32}])
    with pytest.raises(ConfigError, match=r"panels\[0\]: a 64x32 panel at \(32, 0\) does not fit"):
        config.parse(venue)


def test_secrets_never_show_in_repr(tmp_path: Path) -> None:
    cfg = config.parse(base_venue(tmp_path))
    assert "s3cret-password" not in repr(cfg)
    assert "test-admin-token" not in repr(cfg)
    assert cfg.cloud.password.reveal() == "s3cret-password"


def _check_config(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "edgebox", "check-config", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_check_config_prints_problems_and_exits_1_without_leaking_secrets(tmp_path: Path) -> None:
    bad = tmp_path / "venue.toml"
    bad.write_text(
        (ROOT / "venue.example.toml")
        .read_text()
        .replace('password = "change-me"', "password = 42 # hunter2-secret")
    )
    result = _check_config(bad)
    assert result.returncode == 1
    assert "cloud.password: must be a string" in result.stderr
    assert "hunter2" not in result.stderr + result.stdout
    assert "change-me-too" not in result.stderr + result.stdout


def test_check_config_accepts_the_example(tmp_path: Path) -> None:
    result = _check_config(ROOT / "venue.example.toml")
    assert result.returncode == 0, result.stderr
    assert "ok" in result.stdout


def test_unreadable_and_malformed_files_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        config.load(tmp_path / "missing.toml")
    broken = tmp_path / "broken.toml"
    broken.write_text("[cloud\nbase_url = ")
    with pytest.raises(ConfigError, match="not valid TOML"):
        config.load(broken)
