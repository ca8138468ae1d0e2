"""Which field values explain an error spike (in the manner of Elastic's log rate analysis / Datadog Watchdog):
the share of the spike's error lines carrying a value (host=db-2, route=POST /api/pay, status=5xx, user=...) against
its share among all lines of the same sources in the baseline before the onset."""

from __future__ import annotations

import numpy as np

from detectors.eventtable import EventTable
from detectors.incidents.model import FieldShift

MIN_SPIKE_SHARE = 0.25
MIN_LIFT = 2.0
MIN_COUNT = 3


def _shifts(name: str, labels: list[str], spike_codes: np.ndarray, base_codes: np.ndarray, n_spike: int,
            n_base: int) -> list[tuple[float, FieldShift]]:
    out: list[tuple[float, FieldShift]] = []
    if n_spike == 0:
        return out
    size = max(len(labels), int(spike_codes.max(initial=0)) + 1, int(base_codes.max(initial=0)) + 1)
    cs = np.bincount(spike_codes, minlength=size)
    cb = np.bincount(base_codes, minlength=size)
    for code in np.nonzero(cs >= MIN_COUNT)[0]:
        if code == 0:
            continue  # no value
        s_share = cs[code] / n_spike
        b_share = cb[code] / n_base if n_base else 0.0
        lift = s_share / max(b_share, 0.5 / max(n_base, 1))
        if s_share >= MIN_SPIKE_SHARE and lift >= MIN_LIFT:
            label = labels[code] if code < len(labels) else str(code)
            out.append((s_share * np.log(lift), FieldShift(name, label, round(float(s_share), 3),
                                                          round(float(b_share), 3), int(cs[code]))))
    return out


def _status_class(status: np.ndarray) -> np.ndarray:
    """HTTP status -> its class (5 for 5xx), 0 below 100."""
    return np.where(status >= 100, status // 100, 0)


def field_shifts(table: EventTable, spike: np.ndarray, base: np.ndarray, limit: int = 5) -> list[FieldShift]:
    """The field values most over-represented among `spike` events (indices) against `base` events."""
    n_s, n_b = len(spike), len(base)
    if n_s < MIN_COUNT:
        return []
    found: list[tuple[float, FieldShift]] = []
    status_labels = ["none", "1xx", "2xx", "3xx", "4xx", "5xx"]
    columns = (("host", table.hosts, table.host), ("service", table.services, table.service),
               ("route", table.routes, table.route), ("exception", table.excs, table.exc),
               ("status", status_labels, table.status))
    for name, labels, col in columns:
        if len(labels) <= 1 and name != "status":
            continue
        # Only the selected events' values are read (no array as long as the log).
        s_codes, b_codes = col[spike].astype(np.int64), col[base].astype(np.int64)
        if name == "status":
            s_codes, b_codes = _status_class(s_codes), _status_class(b_codes)
        found += _shifts(name, list(labels), s_codes, b_codes, n_s, n_b)
    if len(table.attr_event):
        # One byte per event: bit 1 marks the spike's events, bit 2 the baseline's.
        mark = np.zeros(len(table), dtype=np.int8)
        mark[spike] |= 1
        mark[base] |= 2
        m = mark[table.attr_event]
        del mark
        codes = table.attr_code
        labels = table.attrs
        s_codes = codes[(m & 1) > 0].astype(np.int64)
        b_codes = codes[(m & 2) > 0].astype(np.int64)
        del m
        for score, shift in _shifts("attr", list(labels), s_codes, b_codes, n_s, n_b):
            field, _, value = shift.value.partition("=")
            shift.field, shift.value = field, value
            found.append((score, shift))
    found.sort(key=lambda x: -x[0])
    out: list[FieldShift] = []
    seen: set[tuple[str, str]] = set()
    for _, shift in found:
        if (shift.field, shift.value) in seen:
            continue
        seen.add((shift.field, shift.value))
        out.append(shift)
        if len(out) >= limit:
            break
    return out
