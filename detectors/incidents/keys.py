"""Event keys: template + level + HTTP status class + exception class + source, one integer per event.

A key is what the engine counts over time. Two lines share a key when they say the same thing at the same
severity with the same outcome in the same file: a JSON `request completed` with status 503 and the same line
with 200 are two keys, and so are a `Connection refused` logged at WARN and at ERROR.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from detectors import spill
from detectors.eventtable import EventTable
from detectors.incidents import semantics

if TYPE_CHECKING:
    from detectors.templates import TemplateStore


SLOW_MS = 5000.0  # a key whose operations take this long on average reads as trouble


@dataclass
class Keys:
    """Per-event key ids (`of`) and per-key columns (index = key id)."""

    of: np.ndarray  # int32 per event
    count: np.ndarray  # int64 per key
    first: np.ndarray  # event index of each key's first line
    template: np.ndarray
    level: np.ndarray
    status_class: np.ndarray
    exc: np.ndarray
    source: np.ndarray
    host: np.ndarray  # host of the first line
    service: np.ndarray
    route: np.ndarray  # most common route code of the key's lines (0 none)
    n_hosts: np.ndarray
    text: list[str]  # template text with the key's status class / exception appended
    bad: np.ndarray  # float 0..1
    change: list[str | None]  # change kind (deploy, restart, ...) or None
    background: np.ndarray  # bool: routine host chatter
    slow_ms: np.ndarray | None = None  # mean latency of the key's lines that carry one (0: none)
    says_error: np.ndarray | None = None  # bool: the message's own words name a failure (not just its status)

    def __len__(self) -> int:
        return len(self.count)

    def name(self, k: int) -> str:
        return f"K{k + 1}"


CHUNK = 1 << 16  # events per step when building keys: the temporaries stay a few MB whatever the log's size


def _composite(table: EventTable, lo: int, hi: int) -> np.ndarray:
    """The key value (template, level, status class, exception, source) of events lo..hi-1, as one int64."""
    tpl = table.template[lo:hi].astype(np.int64)
    status = table.status[lo:hi]
    status_class = np.where((status >= 100) & (status <= 599), status // 100, 0).astype(np.int64)
    exc = np.minimum(table.exc[lo:hi].astype(np.int64), 4095)
    return ((((tpl * 8 + table.level[lo:hi].astype(np.int64)) * 8 + status_class) * 4096 + exc) * 4096
            + table.source[lo:hi].astype(np.int64))


def _chunks(n: int, mask: np.ndarray | None) -> Iterator[tuple[int, int, np.ndarray | None]]:
    """(lo, hi, positions of the counted events within lo..hi or None for all) per chunk of events."""
    for lo in range(0, n, CHUNK):
        hi = min(lo + CHUNK, n)
        yield lo, hi, (None if mask is None else np.nonzero(mask[lo:hi])[0])
        if n >= spill.SPILL_MIN:
            spill.release()  # the pages of the spilled columns read so far go back


def build(table: EventTable, store: TemplateStore, mask: np.ndarray | None = None) -> Keys:
    """The keys of every event of `table` (`mask`: events to count; the others get key -1).

    Key ids are the ranks of the sorted key values; the work goes in chunks of events (two passes: the distinct
    values, then each event's id), so the temporaries do not grow with the log.
    """
    n = len(table)
    parts = []
    for lo, hi, pos in _chunks(n, mask):
        comp = _composite(table, lo, hi)
        parts.append(np.unique(comp if pos is None else comp[pos]))
    uniq = np.unique(np.concatenate(parts)) if parts else np.zeros(0, np.int64)
    k_count = len(uniq)
    of = spill.full(n, -1, np.int32)  # a long log's in a temporary file (detectors.spill)
    counts = np.zeros(k_count, dtype=np.int64)
    first = np.full(k_count, -1, dtype=np.int64)
    n_h, n_r = len(table.hosts) + 1, len(table.routes) + 1
    host_pairs, route_pairs, route_counts = [], [], []
    for lo, hi, pos in _chunks(n, mask):
        comp = _composite(table, lo, hi)
        if pos is not None:
            comp = comp[pos]
        inv = np.searchsorted(uniq, comp)
        at = np.arange(lo, hi, dtype=np.int64) if pos is None else pos.astype(np.int64) + lo
        of[at] = inv
        counts += np.bincount(inv, minlength=k_count)
        ks, where = np.unique(inv, return_index=True)
        new = first[ks] < 0
        first[ks[new]] = at[where[new]]
        host_pairs.append(np.unique(inv.astype(np.int64) * n_h + table.host[at]))
        routes = table.route[at]
        has_route = routes > 0
        if has_route.any():
            rp, rc = np.unique(inv[has_route].astype(np.int64) * n_r + routes[has_route], return_counts=True)
            route_pairs.append(rp)
            route_counts.append(rc)
    # Hosts per key, and the most common route (the lowest route code among equally common ones).
    if k_count:
        pair = np.unique(np.concatenate(host_pairs))
        n_hosts = np.bincount((pair // n_h).astype(np.int64), minlength=k_count)
        route = np.zeros(k_count, dtype=np.int32)
        if route_pairs:
            rp, rinv = np.unique(np.concatenate(route_pairs), return_inverse=True)
            rc = np.bincount(rinv, weights=np.concatenate(route_counts), minlength=len(rp)).astype(np.int64)
            rk = rp // n_r
            best = np.lexsort((-rc, rk))
            rk_sorted = rk[best]
            keep = np.concatenate(([True], rk_sorted[1:] != rk_sorted[:-1]))
            route[rk_sorted[keep]] = (rp[best][keep] % n_r).astype(np.int32)
    else:
        n_hosts = np.zeros(0, np.int64)
        route = np.zeros(0, np.int32)
    keys = Keys(
        of=of, count=counts.astype(np.int64), first=first.astype(np.int64),
        template=table.template[first].astype(np.int64), level=table.level[first].astype(np.int64),
        status_class=table.status[first].astype(np.int64) // 100 * (table.status[first] >= 100),
        exc=table.exc[first].astype(np.int64), source=table.source[first].astype(np.int64),
        host=table.host[first].astype(np.int64), service=table.service[first].astype(np.int64), route=route,
        n_hosts=n_hosts, text=[], bad=np.zeros(k_count), change=[], background=np.zeros(k_count, dtype=bool),
    )
    # Keys whose lines say an operation took long (a latency field or "duration: 29509 ms" in the text).
    slow_ms = np.zeros(k_count)
    n_lat = np.zeros(k_count, dtype=np.int64)
    sum_lat = np.zeros(k_count)
    for lo in range(0, n, CHUNK):
        k = of[lo:lo + CHUNK]
        has = (k >= 0) & np.isfinite(table.latency[lo:lo + CHUNK])
        n_lat += np.bincount(k[has], minlength=k_count)
        # Added one by one in event order, as float64: the same sums as one bincount over all events.
        np.add.at(sum_lat, k[has], table.latency[lo:lo + CHUNK][has].astype(np.float64))
        if n >= spill.SPILL_MIN:
            spill.release()
    if n_lat.any():
        with np.errstate(invalid="ignore", divide="ignore"):
            slow_ms = np.where(n_lat >= max(1, 0), sum_lat / np.maximum(n_lat, 1), 0.0)
    keys.slow_ms = slow_ms
    keys.says_error = np.zeros(k_count, dtype=bool)
    excs, services = table.excs, table.services
    for k in range(k_count):
        text = store.template(int(keys.template[k]))
        keys.says_error[k] = semantics.names_failure(text)  # its own words say what failed
        sc = int(keys.status_class[k])
        if sc:
            text += f" [{sc}xx]"
        e = int(keys.exc[k])
        if e and excs[e] not in text:
            text += f" [{excs[e]}]"
        keys.text.append(text)
        keys.bad[k] = semantics.badness(text, int(keys.level[k]), sc, e > 0)
        if slow_ms[k] >= SLOW_MS and sc not in (2, 3):
            keys.bad[k] = max(keys.bad[k], 0.45)  # slow operations (a 30 s query) read as trouble
        svc = services[int(keys.service[k])] or ""
        kind = semantics.change_kind(f"{svc}: {text}" if svc else text)  # CRON[123]: (root) CMD (...)
        # A change announced at error level is a failure first (a failed deploy is still a candidate via words);
        # a failed certificate renewal is both: the certificate expires later, so it is listed among the changes.
        if kind is not None and (keys.level[k] >= 5 or keys.bad[k] >= 0.55) \
                and kind not in ("deploy", "config-management", "certificate"):
            kind = None  # "Main process exited, code=killed" is a failure, not a change someone made
        keys.change.append(kind)
        svc = services[int(keys.service[k])] or None
        # A clock that jumped is a change to the whole system whatever daemon reports it (chronyd, ntpd are
        # background chatter otherwise).
        keys.background[k] = semantics.is_background(svc, text) and kind != "clock"
    # A workstation (a host where a desktop's window server or shell logs): its applications' chatter is background
    # too, but not a death (a kernel panic, a crash, FATAL) nor a change made to it. Other hosts in the same log
    # (the servers beside a desktop in one syslog) keep their own reading.
    desktops = {int(keys.host[k]) for k in range(k_count)
                if int(keys.host[k]) and semantics.is_desktop_shell(services[int(keys.service[k])])}
    for k in range(k_count) if desktops else ():
        if int(keys.host[k]) in desktops and keys.change[k] is None and keys.bad[k] < 1.0 \
                and not semantics.DEATH.search(keys.text[k]):
            keys.background[k] = True
    return keys
