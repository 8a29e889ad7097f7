"""Prometheus metrics of one box: every counter the operator's dashboards read.

Each box has its own registry rather than prometheus-client's global one, so that several boxes
in one process (the tests, the demo) never mix their numbers.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import attrs
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector


class ReadCounter(Collector):
    """A labelled counter read at scrape time from the part that counts (the supervisor, a
    panel's link), so there is one source of truth and nothing to keep in step."""

    def __init__(
        self, name: str, documentation: str, label: str, read: Callable[[], dict[str, int]]
    ) -> None:
        self._name, self._documentation, self._label, self._read = name, documentation, label, read

    def collect(self) -> Iterator[CounterMetricFamily]:
        family = CounterMetricFamily(self._name, self._documentation, labels=[self._label])
        for key, count in sorted(self._read().items()):
            family.add_metric([key], count)
        yield family


@attrs.define
class Metrics:
    registry: CollectorRegistry
    requests: Counter
    sync_bytes: Counter
    sync_duration: Histogram
    download_failures: Counter
    ws_reconnects: Counter
    outbox_length: Gauge
    cache_bytes: Gauge

    @classmethod
    def create(cls) -> Metrics:
        r = CollectorRegistry(auto_describe=True)
        return cls(
            registry=r,
            requests=Counter(
                "edgebox_lan_requests",
                "LAN API requests answered, by API and HTTP status",
                ["api", "status"],
                registry=r,
            ),
            sync_bytes=Counter(
                "edgebox_sync_bytes", "Media bytes downloaded from the cloud", registry=r
            ),
            sync_duration=Histogram(
                "edgebox_sync_duration_seconds",
                "Duration of one playlist sync",
                buckets=(0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600),
                registry=r,
            ),
            download_failures=Counter(
                "edgebox_download_failures",
                "Media downloads that failed, by reason",
                ["reason"],
                registry=r,
            ),
            ws_reconnects=Counter(
                "edgebox_ws_reconnects", "Control WebSocket (re)connections", registry=r
            ),
            outbox_length=Gauge(
                "edgebox_outbox_length", "Status messages waiting for the cloud", registry=r
            ),
            cache_bytes=Gauge("edgebox_cache_bytes", "Bytes of media in the cache", registry=r),
        )

    def watch(
        self, name: str, documentation: str, label: str, read: Callable[[], dict[str, int]]
    ) -> None:
        self.registry.register(ReadCounter(name, documentation, label, read))

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
