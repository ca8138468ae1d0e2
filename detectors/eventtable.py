"""A compact, columnar record of every event of an audit: a few bytes per event, never the text.

The text stays in the files; `file:line` brings it back (`detectors.readers.context_lines`). This keeps memory flat
whatever the size of the logs, and gives the tools, the TUI and the detectors numpy columns to work on.
"""

from __future__ import annotations

from array import array
from dataclasses import dataclass, field

import numpy as np

from detectors.events import Event
from detectors.spill import Appender

LEVELS: tuple[str, ...] = ("", "TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL")
MAX_ATTR_VALUES = 200  # distinct values kept per structured field
_LEVEL_CODE = {name: i for i, name in enumerate(LEVELS)}


@dataclass
class _Interner:
    names: list[str] = field(default_factory=lambda: [""])
    index: dict[str, int] = field(default_factory=lambda: {"": 0})

    def code(self, name: str | None) -> int:
        if not name:
            return 0
        i = self.index.get(name)
        if i is None:
            i = self.index[name] = len(self.names)
            self.names.append(name)
        return i


class EventTable:
    """Columns over events, appended while reading and frozen into numpy arrays by `freeze`.

    Columns: `ts` (float64, NaN when unknown), `template` (int32), `source` (int16 index into `sources`), `line`
    (int32, 1-based), `level` (int8 index into LEVELS), `host` and `service` (indices into `hosts` /
    `services`), `label` (int8: -1 unknown, 0 normal, 1 anomalous — only when the format carries labels),
    `status` (int16 HTTP status, 0 none), `latency` (float32 ms, NaN none), `route` and `exc` (indices into
    `routes` ("GET /api/orders/{id}") / `excs` (exception classes), 0 none). The index columns (host, service,
    route, exc) are int16 when their names fit in it, else int32: cast before arithmetic that could overflow. Other fields of structured lines are
    pairs (`attr_event`, `attr_code`) with `attr_code` indexing `attrs` ("field=value"); a field stops gaining
    values past MAX_ATTR_VALUES distinct ones (ids and trace ids are not attributes that explain anything).
    """

    def __init__(self) -> None:
        # Growing columns; past spill.SPILL_MIN events they go to a temporary file a chunk at a time.
        self._ts = Appender("d")
        self._template = Appender("i")
        self._source = Appender("h")
        self._line = Appender("i")
        self._level = Appender("b")
        self._host = Appender("i")
        self._service = Appender("i")
        self._label = Appender("b")
        self._status = Appender("h")
        self._latency = Appender("f")
        self._route = Appender("i")
        self._exc = Appender("i")
        self._attr_event = Appender("i")
        self._attr_code = Appender("i")
        self._routes = _Interner()
        self._excs = _Interner()
        self._attrs = _Interner()
        self._attr_values: dict[str, int] = {}  # field -> distinct values interned
        self._sources = _Interner(names=[], index={})
        self._hosts = _Interner()
        self._services = _Interner()
        self.frozen = False

    def append(self, event: Event, template: int) -> None:
        """Record one event and its template id."""
        sources = self._sources
        src = sources.index.get(event.source)
        if src is None:
            src = sources.index[event.source] = len(sources.names)
            sources.names.append(event.source)
        self._ts.append(event.ts if event.ts is not None else float("nan"))
        self._template.append(template)
        self._source.append(src)
        self._line.append(event.line)
        self._level.append(_LEVEL_CODE.get(event.level or "", 0))
        self._host.append(self._hosts.code(event.host))
        self._service.append(self._services.code(event.service))
        label = event.label
        self._label.append(-1 if label is None else (0 if label == "-" else 1))
        self._add_fields(len(self._template) - 1, event)

    def _add_fields(self, i: int, event: Event) -> None:
        f = event.fields
        if f is None:
            self._status.append(0)
            self._latency.append(float("nan"))
            self._route.append(0)
            self._exc.append(0)
            return
        self._status.append(f.status)
        self._latency.append(float("nan") if f.latency_ms is None else f.latency_ms)
        self._route.append(self._routes.code(f.route))
        self._exc.append(self._excs.code(f.exc))
        if f.attrs:
            self._add_attrs(i, f.attrs)

    def _add_attrs(self, i: int, pairs: dict[str, str]) -> None:
        attrs = self._attrs
        for k, v in pairs.items():
            kv = f"{k}={v}"
            code = attrs.index.get(kv)
            if code is None:
                n = self._attr_values.get(k, 0)
                if n >= MAX_ATTR_VALUES:
                    continue
                self._attr_values[k] = n + 1
                code = attrs.code(kv)
            self._attr_event.append(i)
            self._attr_code.append(code)

    def extend(self, events: list[Event], templates: list[int]) -> None:
        """Record a batch of events and their template ids (faster than `append` one by one: a column at a time)."""
        sources = self._sources
        src_codes = []
        for e in events:
            src = sources.index.get(e.source)
            if src is None:
                src = sources.index[e.source] = len(sources.names)
                sources.names.append(e.source)
            src_codes.append(src)
        nan = float("nan")
        self._ts.extend([nan if e.ts is None else e.ts for e in events])
        self._template.extend(templates)
        self._source.extend(src_codes)
        self._line.extend([e.line for e in events])
        level = _LEVEL_CODE.get
        self._level.extend([level(e.level or "", 0) for e in events])
        # `index.get(x) or code(x)`: the interned code, or a new one ("" and None are 0 either way).
        hget, hcode = self._hosts.index.get, self._hosts.code
        sget, scode = self._services.index.get, self._services.code
        self._host.extend([hget(e.host) or hcode(e.host) for e in events])  # type: ignore[arg-type]
        self._service.extend([sget(e.service) or scode(e.service) for e in events])  # type: ignore[arg-type]
        self._label.extend([-1 if e.label is None else (0 if e.label == "-" else 1) for e in events])
        start = len(self._template) - len(events)
        fs = [e.fields for e in events]
        if not any(fs):
            n = len(fs)
            self._status.frombytes(bytes(2 * n))
            self._latency.extend(array("f", [nan]) * n)
            self._route.frombytes(bytes(4 * n))
            self._exc.frombytes(bytes(4 * n))
            self._flush()
            return
        rget, rcode = self._routes.index.get, self._routes.code
        xget, xcode = self._excs.index.get, self._excs.code
        self._status.extend([0 if f is None else f.status for f in fs])
        self._latency.extend([nan if f is None or f.latency_ms is None else f.latency_ms for f in fs])
        self._route.extend([0 if f is None else (rget(f.route) or rcode(f.route)) for f in fs])  # type: ignore[arg-type]
        self._exc.extend([0 if f is None else (xget(f.exc) or xcode(f.exc)) for f in fs])  # type: ignore[arg-type]
        for k, f in enumerate(fs):
            if f is not None and f.attrs:
                self._add_attrs(start + k, f.attrs)
        self._flush()

    def _flush(self) -> None:
        for col in (self._ts, self._template, self._source, self._line, self._level, self._host, self._service,
                    self._label, self._status, self._latency, self._route, self._exc, self._attr_event,
                    self._attr_code):
            col.maybe_flush()

    def freeze(self) -> EventTable:
        """Turn the appended columns into numpy arrays.

        Float columns and the template and line columns are zero-copy views. The code columns (host, service,
        route, exception) become int16 when their codes fit (they nearly always do: a few hundred names), and their
        growable arrays are let go one at a time, so a long log keeps 34 bytes per event instead of 42. A long log's
        columns were written to temporary files while it was read (`detectors.spill`): they come back mapped, and
        use memory only while in use.
        """
        if self.frozen:
            return self

        def codes(col: Appender, names: list[str]) -> np.ndarray:
            return col.freeze(np.int16 if len(names) <= np.iinfo(np.int16).max else np.int32)

        self.ts = self._ts.freeze(np.float64)
        self.template = self._template.freeze(np.int32)
        self.source = self._source.freeze(np.int16)
        self.line = self._line.freeze(np.int32)
        self.level = self._level.freeze(np.int8)
        self.host = codes(self._host, self._hosts.names)
        self.service = codes(self._service, self._services.names)
        self.label = self._label.freeze(np.int8)
        self.status = self._status.freeze(np.int16)
        self.latency = self._latency.freeze(np.float32)
        self.route = codes(self._route, self._routes.names)
        self.exc = codes(self._exc, self._excs.names)
        self.attr_event = self._attr_event.freeze(np.int32)
        self.attr_code = self._attr_code.freeze(np.int32)
        self.frozen = True
        return self

    def __len__(self) -> int:
        return len(self._template)

    @property
    def sources(self) -> list[str]:
        """Source paths, indexed by the `source` column."""
        return self._sources.names

    @property
    def hosts(self) -> list[str]:
        """Host names, indexed by the `host` column ("" = none)."""
        return self._hosts.names

    @property
    def services(self) -> list[str]:
        """Service names, indexed by the `service` column ("" = none)."""
        return self._services.names

    @property
    def routes(self) -> list[str]:
        """HTTP method and route ("GET /api/orders/{id}"), indexed by the `route` column ("" = none)."""
        return self._routes.names

    @property
    def excs(self) -> list[str]:
        """Exception class names, indexed by the `exc` column ("" = none)."""
        return self._excs.names

    @property
    def attrs(self) -> list[str]:
        """"field=value" texts, indexed by `attr_code`."""
        return self._attrs.names

    def where(self, i: int) -> str:
        """`file:line` of event `i`."""
        return f"{self.sources[int(self.source[i])]}:{int(self.line[i])}"

    def level_name(self, i: int) -> str | None:
        """The normalised level of event `i`, or None."""
        return LEVELS[int(self.level[i])] or None

    def host_name(self, i: int) -> str | None:
        """The host of event `i`, or None."""
        return self.hosts[int(self.host[i])] or None

    def has_labels(self) -> bool:
        """Whether every event carries a ground-truth label (e.g. BGL)."""
        return len(self) > 0 and bool((self.label >= 0).all())
