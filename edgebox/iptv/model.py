"""The IPTV catalog's models and rules (seed 003): devices, channels, news, visibility, M3U.

Pure: every rule takes the current time as an argument, so tests pass plain values.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
from collections.abc import Iterable, Mapping
from typing import Any, Literal

import attrs

from edgebox.core.errors import (
    ValidationError,
)

TYPES = ("FTA", "Local", "Premium")
FREE_TYPES = frozenset({"FTA", "Local"})
STATUSES = ("active", "expired", "disabled")
Status = Literal["active", "expired", "disabled"]
DEFAULT_ALLOWED = ("FTA", "Local")
DEFAULT_CATEGORY = "Uncategorized"
STREAM_SCHEMES = ("http", "https", "rtmp", "rtmps", "rtsp", "rtp", "udp", "mms", "srt")
MAX_NAME = 200
MAX_URL = 2048
MAX_TEXT = 20_000
MAX_DEVICES = 20_000
MAX_CHANNELS = 5_000
MAX_NEWS = 1_000
_DUID = re.compile(r"[A-Za-z0-9._:-]{1,64}")
_LEAP_SECOND = re.compile(r"([T ]\d\d:\d\d):60")


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def iso(moment: dt.datetime) -> str:
    """ISO 8601 in UTC with a `Z`, to the second, as the document's examples; always a
    four-digit year (strftime writes year 267 as `267`, which no parser reads back)."""
    return moment.astimezone(dt.UTC).replace(microsecond=0, tzinfo=None).isoformat() + "Z"


def parse_iso(text: str) -> dt.datetime:
    """ISO 8601 or RFC 3339 (whose `t`, `z` may be lower case, and whose leap second 60 is
    read as 59)."""
    text = _LEAP_SECOND.sub(r"\1:59", text.upper()).replace("Z", "+00:00")
    return dt.datetime.fromisoformat(text).astimezone(dt.UTC)


def new_duid() -> str:
    return secrets.token_hex(8).upper()


def new_activation_code() -> str:
    return f"{secrets.randbelow(10_000):04d}"


# Field checks shared by the client and admin APIs: each names the offending key.


def text_field(body: Mapping[str, Any], key: str, *, limit: int = MAX_NAME) -> str:
    value = body.get(key)
    if not isinstance(value, str) or not value.strip():
        raise ValidationError("must be a non-empty string", key)
    if len(value) > limit:
        raise ValidationError(f"must be at most {limit} characters", key)
    return value.strip()


def check_duid(value: Any, key: str = "duid") -> str:
    if not isinstance(value, str) or not _DUID.fullmatch(value):
        raise ValidationError("must be 1-64 letters, digits or . _ : -", key)
    return value


def check_type(value: Any, key: str = "type") -> str:
    if value not in TYPES:
        raise ValidationError(f"must be one of {', '.join(TYPES)} (got {value!r})", key)
    return str(value)


def parse_allowed_types(value: Any, key: str = "allowed_types") -> tuple[str, ...]:
    """`"FTA,Local"` as the document writes it, or a list; kept in the document's order."""
    if isinstance(value, str):
        parts = [p.strip() for p in value.split(",") if p.strip()]
    elif isinstance(value, list) and all(isinstance(p, str) for p in value):
        parts = value
    else:
        raise ValidationError("must be a comma-separated string or a list of types", key)
    for part in parts:
        check_type(part, key)
    return tuple(t for t in TYPES if t in parts)


def parse_expiry(value: Any, key: str = "expiry_date") -> dt.date | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValidationError("must be a date YYYY-MM-DD or null", key)
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise ValidationError(f"must be a date YYYY-MM-DD (got {value!r})", key) from None


def check_url(value: Any, key: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValidationError("must be a non-empty URL", key)
    value = value.strip()
    if len(value) > MAX_URL:
        raise ValidationError(f"must be at most {MAX_URL} characters", key)
    scheme = value.split(":", 1)[0].lower() if ":" in value else ""
    if scheme not in STREAM_SCHEMES:
        raise ValidationError(f"must be a {'/'.join(STREAM_SCHEMES)} URL", key)
    return value


def check_bool(value: Any, key: str) -> bool:
    if not isinstance(value, bool):
        raise ValidationError("must be true or false", key)
    return value


# Models


@attrs.frozen
class Device:
    """A venue TV; its status follows from the operator's switch, activation and expiry."""

    id: int
    duid: str
    owner_name: str
    activation_code: str
    created_at: str
    allowed_types: tuple[str, ...] = DEFAULT_ALLOWED
    expiry_date: dt.date | None = None
    activated_at: str | None = None
    disabled: bool = False

    def status(self, now: dt.datetime) -> Status:
        """Disabled until activated or while switched off; expired the day after its expiry."""
        if self.disabled or self.activated_at is None:
            return "disabled"
        if self.expiry_date is not None and now.astimezone(dt.UTC).date() > self.expiry_date:
            return "expired"
        return "active"

    def public(self, now: dt.datetime) -> dict[str, Any]:
        return {
            "id": self.id,
            "duid": self.duid,
            "owner_name": self.owner_name,
            "allowed_types": ",".join(self.allowed_types),
            "expiry_date": self.expiry_date.isoformat() if self.expiry_date else None,
            "status": self.status(now),
        }

    def admin(self, now: dt.datetime) -> dict[str, Any]:
        return self.public(now) | {
            "activation_code": self.activation_code,
            "created_at": self.created_at,
            "activated_at": self.activated_at,
            "disabled": self.disabled,
        }

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "duid": self.duid,
            "owner_name": self.owner_name,
            "activation_code": self.activation_code,
            "created_at": self.created_at,
            "allowed_types": list(self.allowed_types),
            "expiry_date": self.expiry_date.isoformat() if self.expiry_date else None,
            "activated_at": self.activated_at,
            "disabled": self.disabled,
        }

    @classmethod
    def from_json(cls, raw: Any) -> Device:
        """A device as the store keeps it; ValidationError names what is unreadable."""
        obj = _stored(raw, "device")
        code = obj.get("activation_code")
        if not (isinstance(code, str) and len(code) == 4 and code.isascii() and code.isdigit()):
            raise ValidationError("must be 4 digits", "activation_code")
        activated = obj.get("activated_at")
        return cls(
            id=_stored_id(obj),
            duid=check_duid(obj.get("duid")),
            owner_name=text_field(obj, "owner_name"),
            activation_code=code,
            created_at=_stored_stamp(obj.get("created_at"), "created_at"),
            allowed_types=parse_allowed_types(obj.get("allowed_types")),
            expiry_date=parse_expiry(obj.get("expiry_date")),
            activated_at=None if activated is None else _stored_stamp(activated, "activated_at"),
            disabled=check_bool(obj.get("disabled"), "disabled"),
        )


def device_changes(body: Mapping[str, Any]) -> dict[str, Any]:
    """The device fields an operator may set, validated; unknown keys are refused."""
    allowed = {"owner_name", "allowed_types", "expiry_date", "disabled", "status"}
    unknown = sorted(set(body) - allowed - {"duid", "id"})
    if unknown:
        raise ValidationError("is not a device field", unknown[0])
    changes: dict[str, Any] = {}
    if "owner_name" in body:
        changes["owner_name"] = text_field(body, "owner_name")
    if "allowed_types" in body:
        changes["allowed_types"] = parse_allowed_types(body["allowed_types"])
    if "expiry_date" in body:
        changes["expiry_date"] = parse_expiry(body["expiry_date"])
    if "disabled" in body:
        changes["disabled"] = check_bool(body["disabled"], "disabled")
    if "status" in body:
        if body["status"] not in ("active", "disabled"):
            raise ValidationError(
                "must be 'active' or 'disabled' (expiry decides 'expired')", "status"
            )
        changes["disabled"] = body["status"] == "disabled"
    return changes


@attrs.frozen
class Channel:
    """A stream the TVs list, in the server-kept order of the catalog."""

    id: int
    name: str
    url: str
    type: str
    category: str = DEFAULT_CATEGORY
    logo_url: str | None = None
    has_news: bool = False

    def public(self, display_order: int | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "name": self.name,
            "url": self.url,
            "logo_url": self.logo_url,
            "type": self.type,
            "category": self.category,
            "has_news": self.has_news,
        }
        if display_order is not None:
            out["display_order"] = display_order
        return out

    def to_json(self) -> dict[str, Any]:
        return attrs.asdict(self)

    @classmethod
    def from_json(cls, raw: Any) -> Channel:
        """A channel as the store keeps it, checked as the API checks a new one."""
        obj = _stored(raw, "channel")
        fields = channel_fields({k: v for k, v in obj.items() if k != "id"}, partial=False)
        return cls(id=_stored_id(obj), **fields)


CHANNEL_FIELDS = ("name", "url", "type", "category", "logo_url", "has_news")


def channel_fields(body: Mapping[str, Any], *, partial: bool) -> dict[str, Any]:
    """Validated channel fields from a JSON body; all of name, url and type unless `partial`."""
    unknown = sorted(set(body) - set(CHANNEL_FIELDS) - {"id", "display_order"})
    if unknown:
        raise ValidationError("is not a channel field", unknown[0])
    out: dict[str, Any] = {}
    for key in ("name", "url", "type"):
        if key not in body and not partial:
            raise ValidationError("is required", key)
    if "name" in body:
        out["name"] = text_field(body, "name")
    if "url" in body:
        out["url"] = check_url(body["url"], "url")
    if "type" in body:
        out["type"] = check_type(body["type"])
    if "category" in body:
        out["category"] = text_field(body, "category")
    if "logo_url" in body:
        logo = body["logo_url"]
        if logo is not None and (not isinstance(logo, str) or len(logo) > MAX_URL):
            raise ValidationError(
                f"must be a URL of at most {MAX_URL} characters or null", "logo_url"
            )
        out["logo_url"] = logo or None
    if "has_news" in body:
        out["has_news"] = check_bool(body["has_news"], "has_news")
    return out


@attrs.frozen
class News:
    id: int
    title: str
    body: str
    created_at: str

    def public(self) -> dict[str, Any]:
        return attrs.asdict(self)

    to_json = public

    @classmethod
    def from_json(cls, raw: Any) -> News:
        """A news item as the store keeps it; its date must parse, or sorting the news fails."""
        obj = _stored(raw, "news")
        return cls(
            id=_stored_id(obj),
            title=text_field(obj, "title"),
            body=text_field(obj, "body", limit=MAX_TEXT),
            created_at=_stored_stamp(obj.get("created_at"), "created_at"),
        )


def _stored(raw: Any, kind: str) -> Mapping[str, Any]:
    if not isinstance(raw, Mapping):
        raise ValidationError(f"a stored {kind} must be a JSON object", kind)
    return raw


def _stored_id(obj: Mapping[str, Any]) -> int:
    value = obj.get("id")
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValidationError("must be a positive integer", "id")
    return value


def _stored_stamp(value: Any, key: str) -> str:
    if not isinstance(value, str):
        raise ValidationError("must be an ISO 8601 timestamp", key)
    try:
        parse_iso(value)
    except (ValueError, OverflowError):
        raise ValidationError("must be an ISO 8601 timestamp", key) from None
    return value


def news_fields(body: Mapping[str, Any], *, partial: bool) -> dict[str, Any]:
    unknown = sorted(set(body) - {"title", "body", "created_at", "id"})
    if unknown:
        raise ValidationError("is not a news field", unknown[0])
    out: dict[str, Any] = {}
    for key, limit in (("title", MAX_NAME), ("body", MAX_TEXT)):
        if key in body or not partial:
            out[key] = text_field(body, key, limit=limit)
    if "created_at" in body:
        value = body["created_at"]
        try:
            out["created_at"] = iso(parse_iso(value))
        except (TypeError, ValueError, AttributeError, OverflowError):
            raise ValidationError("must be an ISO 8601 timestamp", "created_at") from None
    return out


def visible_types(device: Device, now: dt.datetime) -> frozenset[str]:
    """Only the device's allowed types; Premium only while active; nothing when disabled."""
    status = device.status(now)
    if status == "disabled":
        return frozenset()
    allowed = frozenset(device.allowed_types)
    return allowed & FREE_TYPES if status == "expired" else allowed


def visible_channels(
    device: Device, channels: Iterable[Channel], now: dt.datetime
) -> list[Channel]:
    types = visible_types(device, now)
    return [c for c in channels if c.type in types]


def newest_first(news: Iterable[News]) -> list[News]:
    return sorted(news, key=lambda n: (parse_iso(n.created_at), n.id), reverse=True)


def name_key(name: str) -> str:
    """Channel identity across imports: the name, case and spacing ignored."""
    return " ".join(name.split()).casefold()


# M3U


@attrs.frozen
class M3uEntry:
    """One `#EXTINF` + URL pair, with the line number of its `#EXTINF`."""

    line: int
    name: str
    url: str
    logo_url: str | None
    category: str | None


@attrs.frozen
class M3uProblem:
    line: int
    reason: str
    text: str


_ATTR = re.compile(r"""\s*([A-Za-z0-9_-]+)=(?:"([^"]*)"|'([^']*)'|([^\s,"']*))""")
_DURATION = re.compile(r"\s*-?\d+(?:\.\d+)?")


def _extinf(rest: str) -> tuple[dict[str, str], str] | None:
    """Attributes and title of `#EXTINF:<duration> k="v" …,<title>`; quoted values may hold
    commas, so the title starts at the first comma after the last attribute."""
    match = _DURATION.match(rest)
    if match is None:
        return None
    pos = match.end()
    attributes: dict[str, str] = {}
    while (attr := _ATTR.match(rest, pos)) is not None:
        key, *values = attr.groups()
        attributes[key.lower()] = next((v for v in values if v is not None), "")
        pos = attr.end()
    tail = rest[pos:].lstrip()
    if not tail.startswith(","):
        return None
    return attributes, tail[1:].strip()


def parse_m3u(text: str) -> tuple[list[M3uEntry], list[M3uProblem]]:
    """Entries and the lines that could not become one, each with its reason."""
    entries: list[M3uEntry] = []
    problems: list[M3uProblem] = []
    pending: tuple[int, dict[str, str], str] | None = None
    group: str | None = None
    for number, raw in enumerate(text.lstrip("\ufeff").splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        upper = line.upper()
        if upper.startswith("#EXTINF"):
            if pending is not None:
                problems.append(M3uProblem(pending[0], "#EXTINF without a stream URL", pending[2]))
            parsed = _extinf(line[8:]) if line[7:8] == ":" else None
            if parsed is None:
                problems.append(M3uProblem(number, "unreadable #EXTINF line", line[:200]))
                pending = None
            else:
                pending = (number, *parsed)
            group = None
        elif upper.startswith("#EXTGRP:"):
            group = line[8:].strip() or None
        elif line.startswith("#"):
            continue
        elif pending is None:
            problems.append(M3uProblem(number, "stream URL without #EXTINF", line[:200]))
        else:
            at, attributes, title = pending
            pending = None
            name = title or attributes.get("tvg-name", "").strip()
            if not name:
                problems.append(M3uProblem(at, "no channel name", line[:200]))
                continue
            if len(name) > MAX_NAME:
                problems.append(
                    M3uProblem(at, f"name longer than {MAX_NAME} characters", name[:200])
                )
                continue
            try:
                url = check_url(line, "url")
            except ValidationError as exc:
                problems.append(M3uProblem(number, f"not a stream URL: {exc.message}", line[:200]))
                continue
            logo = attributes.get("tvg-logo", "").strip() or None
            if logo is not None and len(logo) > MAX_URL:
                logo = None
            category = attributes.get("group-title", "").strip() or group or None
            entries.append(M3uEntry(at, name, url, logo, category and category[:MAX_NAME]))
    if pending is not None:
        problems.append(M3uProblem(pending[0], "#EXTINF without a stream URL", pending[2]))
    return entries, problems


ImportAction = Literal["added", "updated", "unchanged", "skipped"]


@attrs.frozen
class ImportLine:
    line: int
    action: ImportAction
    name: str | None = None
    channel_id: int | None = None
    reason: str | None = None


@attrs.frozen
class ImportReport:
    """What an M3U import did with each entry and each unusable line, in file order."""

    lines: tuple[ImportLine, ...]

    def count(self, action: ImportAction) -> int:
        return sum(1 for line in self.lines if line.action == action)

    def to_json(self) -> dict[str, Any]:
        return {
            "added": self.count("added"),
            "updated": self.count("updated"),
            "unchanged": self.count("unchanged"),
            "skipped": self.count("skipped"),
            "lines": [
                {k: v for k, v in attrs.asdict(line).items() if v is not None}
                for line in self.lines
            ],
        }


def plan_import(
    text: str, channel_type: str, channels: list[Channel], next_id: int
) -> tuple[list[Channel], ImportReport, int]:
    """The catalog's channels after importing `text`: same-named channels are updated in place,
    new ones appended, a name repeated in the file is skipped after its first entry."""
    check_type(channel_type)
    entries, problems = parse_m3u(text)
    if not entries and not problems:
        raise ValidationError("holds no #EXTINF entries", "playlist")
    result = list(channels)
    index = {name_key(c.name): i for i, c in enumerate(result)}
    seen: dict[str, int] = {}
    lines = [ImportLine(p.line, "skipped", reason=f"{p.reason}: {p.text}") for p in problems]
    for entry in entries:
        key = name_key(entry.name)
        if key in seen:
            lines.append(
                ImportLine(
                    entry.line,
                    "skipped",
                    entry.name,
                    reason=f"same name as line {seen[key]}",
                )
            )
            continue
        seen[key] = entry.line
        if key in index:
            old = result[index[key]]
            new = attrs.evolve(
                old,
                name=entry.name,
                url=entry.url,
                type=channel_type,
                logo_url=entry.logo_url,
                category=entry.category or old.category,
            )
            result[index[key]] = new
            lines.append(
                ImportLine(entry.line, "unchanged" if new == old else "updated", entry.name, old.id)
            )
        elif len(result) >= MAX_CHANNELS:
            lines.append(
                ImportLine(
                    entry.line,
                    "skipped",
                    entry.name,
                    reason=f"catalog holds {MAX_CHANNELS} channels",
                )
            )
        else:
            channel = Channel(
                next_id,
                entry.name,
                entry.url,
                channel_type,
                entry.category or DEFAULT_CATEGORY,
                entry.logo_url,
            )
            index[key] = len(result)
            result.append(channel)
            lines.append(ImportLine(entry.line, "added", entry.name, next_id))
            next_id += 1
    lines.sort(key=lambda line: line.line)
    return result, ImportReport(tuple(lines)), next_id
