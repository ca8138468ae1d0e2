"""`sleuth watch --metrics-port N`: the watcher's counters in Prometheus' text format, on loopback.

Exposed (read live from the pipeline's sink as events are written):
- `sleuth_watch_events_total{kind=...}`: events written, by kind (point, anomaly, judgment, model, gap, ...);
- `sleuth_watch_judgments_total{decision=keep|remove}`: KEEP / REMOVE judgments;
- `sleuth_watch_model_version`: the CALM model version of the newest event (the store's newest when none yet);
- `sleuth_watch_lag_seconds`: wall time at the newest event minus that event's data time (how far behind the
  stream the watcher runs);
- `sleuth_watch_last_event_timestamp_seconds`: the newest event's data time.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from pathlib import Path
from typing import Any

__all__ = ["WatchCollector", "start_exporter"]


class WatchCollector:
    """A prometheus-client collector over the sink's live counters."""

    def __init__(self, counts: Any, last: dict[str, float], model_dir: Path | None = None) -> None:
        self.counts, self.last, self.model_dir = counts, last, model_dir

    def _store_version(self) -> float | None:
        if self.model_dir is None:
            return None
        try:
            from detectors.calm.store import ModelStore

            versions = ModelStore(Path(self.model_dir)).versions()
        except Exception:  # noqa: BLE001 - a metrics scrape never fails the watch
            return None
        return float(versions[-1]) if versions else None

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        counts = dict(self.counts)
        events = CounterMetricFamily("sleuth_watch_events", "CALM events written, by kind", labels=["kind"])
        judged = CounterMetricFamily("sleuth_watch_judgments", "KEEP/REMOVE judgments", labels=["decision"])
        for key, value in sorted(counts.items()):
            if key.startswith("events_judgment_"):
                judged.add_metric([key.removeprefix("events_judgment_")], value)
            elif key.startswith("events_"):
                events.add_metric([key.removeprefix("events_")], value)
        yield events
        yield judged
        version = self.last.get("model_version", self._store_version())
        if version is not None:
            yield GaugeMetricFamily("sleuth_watch_model_version", "CALM model version serving", value=version)
        if "timestamp" in self.last:
            yield GaugeMetricFamily("sleuth_watch_last_event_timestamp_seconds", "data time of the newest event",
                                    value=self.last["timestamp"])
            yield GaugeMetricFamily("sleuth_watch_lag_seconds", "wall time minus data time at the newest event",
                                    value=max(0.0, self.last.get("written", 0.0) - self.last["timestamp"]))


def start_exporter(port: int, host: str = "127.0.0.1", model_dir: Path | None = None) -> Any:
    """Serve the watcher's metrics at http://HOST:PORT/metrics (loopback only); returns the server.

    Raises:
        ValueError: If `host` is not a loopback address.
        OSError: If the port cannot be bound.
    """
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise ValueError(f"--metrics-host {host}: the metrics endpoint binds to loopback only; use 127.0.0.1")
    from prometheus_client import CollectorRegistry, start_http_server

    from detectors.calm.pipeline import _Sink

    registry = CollectorRegistry()
    registry.register(WatchCollector(_Sink.counts, _Sink.last, model_dir))
    server, _thread = start_http_server(port, addr=host, registry=registry)
    return server
