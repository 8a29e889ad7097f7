"""The one exception hierarchy of the box: callers catch the level they care about.

EdgeboxError
├── ConfigError            the venue file
├── UpstreamError          the cloud
│   ├── AuthError
│   └── ProtocolError      a message that breaks the API document
├── CacheError             durable state and media
│   ├── ChecksumMismatch
│   └── StorageFull
├── PanelError             serial LED panels
├── ValidationError        input that breaks a value's rules (LAN, values, config)
├── LedSignError           an LED sign request not allowed now
│   ├── UnknownItem, ItemExists, PreviewBusy, NotPreviewOwner, NotInPreview
├── IptvError              an IPTV request the catalog refuses
│   └── DeviceNotFound, DeviceExists, InvalidActivationCode, AlreadyActivated,
│       DeviceDisabled, NotFound, CatalogFull
└── UpdateError            an over-the-air update that cannot go on
    ├── ManifestError      the channel's manifest
    └── BundleRefused      a downloaded bundle
"""


class EdgeboxError(Exception):
    """Root of every error the box raises on purpose."""


class ConfigError(EdgeboxError):
    """The venue file is unreadable or invalid; `problems` lists each one with its key path."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("; ".join(problems))


class UpstreamError(EdgeboxError):
    """The cloud could not be reached or answered something unusable."""


class AuthError(UpstreamError):
    """The cloud refused our credentials or tokens."""


class ProtocolError(UpstreamError):
    """A message from the cloud does not match the API document."""


class CacheError(EdgeboxError):
    """Durable state or media could not be stored or read."""


class ChecksumMismatch(CacheError):
    """A downloaded file's MD5 or size differs from what the cloud announced."""


class StorageFull(CacheError):
    """The cache budget or the disk's free-space reserve would be exceeded."""


class PanelError(EdgeboxError):
    """A serial LED panel could not be opened or written."""


class ValidationError(EdgeboxError):
    """Input from a LAN client breaks the API's rules; `field` names the offending key."""

    def __init__(self, message: str, field: str | None = None) -> None:
        self.field = field
        super().__init__(f"{field}: {message}" if field else message)
        self.message = message


class LedSignError(EdgeboxError):
    """A playlist or preview request that is well-formed but not allowed now."""


class UnknownItem(LedSignError):
    """No playlist item has this id (404)."""


class ItemExists(LedSignError):
    """A new item reuses the id of an item already in the playlist (409)."""


class PreviewBusy(LedSignError):
    """Another session holds the preview (403)."""


class NotPreviewOwner(LedSignError):
    """The session does not own the preview lock (403)."""


class NotInPreview(LedSignError):
    """The sign is not in preview mode (404)."""


class IptvError(EdgeboxError):
    """A request the catalog refuses; the API maps each kind to a status code."""


class DeviceNotFound(IptvError):
    def __init__(self) -> None:
        super().__init__("Device not found")


class DeviceExists(IptvError):
    def __init__(self) -> None:
        super().__init__("Device already registered")


class InvalidActivationCode(IptvError):
    def __init__(self) -> None:
        super().__init__("Invalid activation code")


class AlreadyActivated(IptvError):
    def __init__(self) -> None:
        super().__init__("Device is already activated")


class DeviceDisabled(IptvError):
    def __init__(self) -> None:
        super().__init__("Device is disabled")


class NotFound(IptvError):
    """A channel or news item id that the catalog does not hold."""


class CatalogFull(IptvError):
    """The catalog holds as many devices, channels or news items as the box allows."""


class UpdateError(EdgeboxError):
    """An over-the-air update could not go on; the box keeps running what it runs."""


class ManifestError(UpdateError):
    """The update channel's manifest is unsigned, signed by a stranger, or malformed."""


class BundleRefused(UpdateError):
    """A downloaded bundle is not the one the manifest promised, or fails its checks."""
