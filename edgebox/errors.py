"""The one exception hierarchy of the box: callers catch the level they care about."""


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


class UpdateError(EdgeboxError):
    """An over-the-air update could not go on; the box keeps running what it runs."""


class ManifestError(UpdateError):
    """The update channel's manifest is unsigned, signed by a stranger, or malformed."""


class BundleRefused(UpdateError):
    """A downloaded bundle is not the one the manifest promised, or fails its checks."""
