"""The venue file (TOML) as typed attrs classes; every problem is reported with its key path."""

from __future__ import annotations

import re
import tomllib
import typing
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import attrs
import cattrs

from edgebox.core.errors import ConfigError
from edgebox.core.values import MaintenanceWindow

Check = Callable[[Any], str | None]


def _check(*checks: Check) -> Callable[[Any, attrs.Attribute[Any], Any], None]:
    """An attrs validator from plain checks that return a problem or None.

    Validators are switched off while structuring and run by `problems()`, so that every
    problem in a file is reported at once instead of the first one per table.
    """

    def validate(_inst: Any, _attr: attrs.Attribute[Any], value: Any) -> None:
        for check in checks:
            problem = check(value)
            if problem:
                raise ValueError(problem)

    return validate


def between(lo: float, hi: float) -> Check:
    return lambda v: None if lo <= v <= hi else f"must be between {lo} and {hi} (got {v!r})"


def one_of(*allowed: Any) -> Check:
    shown = ", ".join(repr(a) for a in allowed)
    return lambda v: None if v in allowed else f"must be one of {shown} (got {v!r})"


def not_empty(v: Any) -> str | None:
    return None if v else "must not be empty"


def url_with_scheme(*schemes: str) -> Check:
    def check(v: str) -> str | None:
        parts = urlsplit(v)
        if parts.scheme not in schemes or not parts.hostname:
            return f"must be an absolute {' or '.join(schemes)} URL (got {v!r})"
        return None

    return check


@attrs.frozen(repr=False)
class Secret:
    """A credential: never shown by repr, str or logging; `reveal()` is the only way out."""

    _value: str

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')" if self._value else "Secret('')"

    __str__ = __repr__


@attrs.frozen
class CloudConfig:
    base_url: str = attrs.field(validator=_check(url_with_scheme("http", "https")))
    ws_url: str = attrs.field(validator=_check(url_with_scheme("ws", "wss")))
    username: str = attrs.field(validator=_check(not_empty))
    password: Secret
    sync_interval: float = attrs.field(default=300.0, validator=_check(between(5, 86_400)))
    heartbeat_interval: float = attrs.field(default=20.0, validator=_check(between(1, 600)))
    request_timeout: float = attrs.field(default=30.0, validator=_check(between(1, 600)))
    screenshot_interval: float = attrs.field(default=0.0, validator=_check(between(0, 86_400)))
    screenshot_on_change: bool = False
    enabled: bool = True


@attrs.frozen
class DeviceConfig:
    """Facts the box reports when it registers; storage, IP and levels are measured live."""

    sn_number: str = attrs.field(validator=_check(not_empty))
    brand: str = "edgebox"
    model: str = "edgebox-1"
    manufacturer: str = "edgebox"
    os_version: str = "Debian GNU/Linux"
    screen_resolution: str = "64x32"
    mac_address: str | None = None


@attrs.frozen
class CacheConfig:
    directory: Path = Path("/var/lib/edgebox")
    max_bytes: int = attrs.field(default=8 * 1024**3, validator=_check(between(1, 2**50)))
    min_free_bytes: int = attrs.field(default=256 * 1024**2, validator=_check(between(0, 2**50)))
    max_concurrent_downloads: int = attrs.field(default=3, validator=_check(between(1, 32)))
    max_file_bytes: int = attrs.field(default=4 * 1024**3, validator=_check(between(1, 2**50)))


@attrs.frozen
class LanConfig:
    host: str = "0.0.0.0"
    port: int = attrs.field(default=8080, validator=_check(between(0, 65_535)))
    admin_token: Secret = Secret("")
    # Empty: the LED API and the /sign editor are open to the LAN, as sign controllers are.
    sign_token: Secret = Secret("")


_SOURCE = re.compile(r"^(led|cloud:(front|back|right|left))$")


@attrs.frozen
class CanvasConfig:
    """One picture that panels tile; its source is the LED sign playlist or a cloud screen."""

    name: str = attrs.field(validator=_check(not_empty))
    width: int = attrs.field(default=64, validator=_check(between(1, 4096)))
    height: int = attrs.field(default=32, validator=_check(between(1, 4096)))
    source: str = attrs.field(
        default="led",
        validator=_check(
            lambda v: (
                None
                if _SOURCE.fullmatch(v)
                else f"must be 'led' or 'cloud:front|back|right|left' (got {v!r})"
            )
        ),
    )
    fps: float = attrs.field(default=30.0, validator=_check(between(1, 240)))


@attrs.frozen
class PanelConfig:
    """One LED panel on a serial port, placed at (x, y) on its canvas."""

    name: str = attrs.field(validator=_check(not_empty))
    port: str = attrs.field(validator=_check(not_empty))
    protocol: str = attrs.field(default="adalight", validator=_check(one_of("adalight", "tpm2")))
    baudrate: int = attrs.field(default=115_200, validator=_check(between(300, 20_000_000)))
    width: int = attrs.field(default=64, validator=_check(between(1, 4096)))
    height: int = attrs.field(default=32, validator=_check(between(1, 4096)))
    canvas: str = "main"
    x: int = attrs.field(default=0, validator=_check(between(0, 65_535)))
    y: int = attrs.field(default=0, validator=_check(between(0, 65_535)))
    wiring: str = attrs.field(
        default="progressive", validator=_check(one_of("progressive", "serpentine"))
    )
    rotation: int = attrs.field(default=0, validator=_check(one_of(0, 90, 180, 270)))
    color_order: str = attrs.field(
        default="RGB", validator=_check(one_of("RGB", "RBG", "GRB", "GBR", "BRG", "BGR"))
    )
    gamma: float = attrs.field(default=2.2, validator=_check(between(1.0, 3.0)))
    current_limit: float = attrs.field(default=1.0, validator=_check(between(0.05, 1.0)))


def _window(text: str) -> str | None:
    try:
        MaintenanceWindow.parse(text)
    except ValueError as exc:
        return str(exc)
    return None


@attrs.frozen
class UpdateConfig:
    """Over-the-air updates from a channel (a directory URL of signed releases); off when empty."""

    channel: str = attrs.field(default="", validator=_check(lambda v: None if not v else
                               url_with_scheme("http", "https")(v)))  # fmt: skip
    # Plain http is refused unless said here (a test channel on the host, never a venue's).
    allow_http: bool = False
    poll_interval: float = attrs.field(default=3600.0, validator=_check(between(10, 7 * 86_400)))
    # Up to this share of poll_interval is added at random, so a fleet does not poll at once.
    poll_jitter: float = attrs.field(default=0.25, validator=_check(between(0, 1)))
    # Local hours in which the box may reboot into an update, "HH:MM-HH:MM"; empty: at once,
    # as soon as nothing plays from the cloud.
    maintenance_window: str = attrs.field(default="", validator=_check(_window))
    max_bundle_bytes: int = attrs.field(default=1536 * 1024**2, validator=_check(between(1, 2**40)))
    # Free space the download leaves on the data partition.
    min_free_bytes: int = attrs.field(default=64 * 1024**2, validator=_check(between(0, 2**40)))
    keyring: Path = Path("/etc/rauc/keyring.pem")
    system_conf: Path = Path("/etc/rauc/system.conf")
    os_release: Path = Path("/etc/os-release")


def _default_canvases() -> list[CanvasConfig]:
    return [CanvasConfig(name="main")]


@attrs.frozen
class VenueConfig:
    cloud: CloudConfig
    device: DeviceConfig
    cache: CacheConfig = attrs.Factory(CacheConfig)
    lan: LanConfig = attrs.Factory(LanConfig)
    canvases: list[CanvasConfig] = attrs.Factory(_default_canvases)
    panels: list[PanelConfig] = attrs.Factory(list)
    update: UpdateConfig = attrs.Factory(UpdateConfig)
    venue: str = "venue"


def _cross_checks(cfg: VenueConfig) -> Iterator[str]:
    canvases = {c.name: c for c in cfg.canvases}
    if len(canvases) != len(cfg.canvases):
        yield "canvases: names must be unique"
    if len({p.name for p in cfg.panels}) != len(cfg.panels):
        yield "panels: names must be unique"
    for i, p in enumerate(cfg.panels):
        canvas = canvases.get(p.canvas)
        if canvas is None:
            yield f"panels[{i}].canvas: no canvas named {p.canvas!r} (have {sorted(canvases)})"
            continue
        w, h = (p.height, p.width) if p.rotation in (90, 270) else (p.width, p.height)
        if p.x + w > canvas.width or p.y + h > canvas.height:
            yield (
                f"panels[{i}]: a {w}x{h} panel at ({p.x}, {p.y}) does not fit"
                f" canvas {canvas.name!r} of {canvas.width}x{canvas.height}"
            )
    if cfg.update.channel.startswith("http://") and not cfg.update.allow_http:
        yield "update.channel: must be https (allow_http = true only for a test channel)"


def _field_problems(obj: Any, path: str) -> Iterator[str]:
    for field in attrs.fields(type(obj)):
        value = getattr(obj, field.name)
        key = f"{path}.{field.name.lstrip('_')}" if path else field.name.lstrip("_")
        if field.validator is not None:
            try:
                field.validator(obj, field, value)
            except ValueError as e:
                yield f"{key}: {e}"
        if attrs.has(type(value)):
            yield from _field_problems(value, key)
        elif isinstance(value, list):
            for i, item in enumerate(value):
                if attrs.has(type(item)):
                    yield from _field_problems(item, f"{key}[{i}]")


def problems(cfg: VenueConfig) -> list[str]:
    """Every rule the structured config breaks, as `key.path: what is wrong`."""
    return [*_field_problems(cfg, ""), *_cross_checks(cfg)]


def _make_converter() -> cattrs.Converter:
    conv = cattrs.Converter(forbid_extra_keys=True)

    def structure_secret(v: Any, _t: type) -> Secret:
        if not isinstance(v, str):
            raise ValueError("must be a string")
        return Secret(v)

    def structure_strict(t: type) -> Callable[[Any, type], Any]:
        def structure(v: Any, _t: type) -> Any:
            # TOML has real types: "8080" for a port or 1 for a flag is a mistake to report.
            if t is float and isinstance(v, int) and not isinstance(v, bool):
                return float(v)
            if not isinstance(v, t) or (t is not bool and isinstance(v, bool)):
                raise ValueError(f"must be {t.__name__} (got {type(v).__name__} {_shown(v)})")
            if t is str and "\x00" in v:
                raise ValueError("must not hold a NUL character")
            return v

        return structure

    conv.register_structure_hook(Secret, structure_secret)
    conv.register_unstructure_hook(Secret, lambda s: s.reveal())
    for t in (int, float, str, bool):
        conv.register_structure_hook(t, structure_strict(t))
    conv.register_structure_hook(Path, lambda v, _t: Path(structure_strict(str)(v, str)))
    return conv


converter = _make_converter()


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _format_cattrs(exc: BaseException, _type: Any) -> str:
    if isinstance(exc, KeyError):
        return "required key is missing"
    if isinstance(exc, cattrs.ForbiddenExtraKeysError):
        return f"unknown keys {sorted(exc.extra_fields)}"
    if isinstance(exc, AttributeError | TypeError) and attrs.has(_type):
        return "must be a table"  # cattrs found a value where it wanted a table's keys
    return str(exc) or type(exc).__name__


def _shape_problems(data: dict[str, Any]) -> list[str]:
    """Top-level tables and arrays of tables of the wrong kind, which cattrs would report
    once per character of a string or per key of a table."""
    found = []
    hints = typing.get_type_hints(VenueConfig)
    for field in attrs.fields(VenueConfig):
        if field.name not in data:
            continue
        value, hint = data[field.name], hints[field.name]
        if typing.get_origin(hint) is list and not isinstance(value, list):
            found.append(f"{field.name}: must be an array of tables ([[{field.name}]])")
        elif attrs.has(hint) and not isinstance(value, dict):
            found.append(f"{field.name}: must be a table ([{field.name}])")
    return found


def _dotted(cattrs_path: str) -> str:
    return cattrs_path.removeprefix("$").removeprefix(".") or "(top level)"


def parse(data: dict[str, Any]) -> VenueConfig:
    """Structure a decoded venue file; raise ConfigError listing every problem."""
    shape = _shape_problems(data)
    if shape:
        raise ConfigError(shape)
    with attrs.validators.disabled():
        try:
            cfg = converter.structure(data, VenueConfig)
        except cattrs.BaseValidationError as exc:
            found = []
            for line in cattrs.transform_error(exc, format_exception=_format_cattrs):
                message, _, where = line.rpartition(" @ ")
                found.append(f"{_dotted(where)}: {message}")
            raise ConfigError(found) from None
    found = problems(cfg)
    if found:
        raise ConfigError(found)
    return cfg


def load(path: Path) -> VenueConfig:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read ({exc.strerror or exc})"]) from None
    except UnicodeDecodeError:
        raise ConfigError([f"{path}: not UTF-8 text"]) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([f"{path}: not valid TOML ({exc})"]) from None
    except RecursionError:
        raise ConfigError([f"{path}: arrays or tables nested too deeply"]) from None
    return parse(data)
