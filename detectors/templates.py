"""Log templates: Drain3, with our masking in front of it and a cache so a repeated line costs a dict lookup.

Two caches stand in front of Drain3. The first is keyed by the line with every token that holds a digit replaced
(one cheap regex pass): lines that differ only in such tokens (ids, counts, addresses, durations) get the template
of the first of them, as Drain3 itself would give them, since it masks or parametrises exactly those tokens. On a
miss, the line is masked properly (IPs, UUIDs, HDFS block ids, hex ids, paths, numbers); that masked text is the
second cache's key and what Drain3's tree sees. Drain3's state is loaded from and saved
to a file per system, so a second run over the same system reuses (and keeps the ids of) its templates.
"""

from __future__ import annotations

import logging
import os
import re
import tempfile
from pathlib import Path

from drain3 import TemplateMiner
from drain3.file_persistence import FilePersistence
from drain3.masking import MaskingInstruction
from drain3.template_miner_config import TemplateMinerConfig

from detectors.recovery import quarantine

logger = logging.getLogger(__name__)

# Order matters: the specific shapes go before the generic number mask.
MASKS: tuple[tuple[str, str], ...] = (
    (r"blk_-?\d+", "BLK"),
    (r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b", "UUID"),
    (r"(?<![\w.])\d{1,3}(?:\.\d{1,3}){3}(?::\d{1,5})?(?![\w.])", "IP"),
    (r"(?<![\w/])(?:/[\w.\-]+){2,}/?", "PATH"),
    (r"\b0[xX][0-9a-fA-F]+\b", "HEX"),
    (r"\b(?=[0-9a-fA-F]*\d)(?=[0-9a-fA-F]*[a-fA-F])[0-9a-fA-F]{8,}\b", "HEX"),
    (r"(?<![A-Za-z_])[-+]?\d+(?:\.\d+)?(?![A-Za-z_])", "NUM"),
)

_COMPILED = tuple((re.compile(pattern), f"<{name}>") for pattern, name in MASKS)
# Any whole token holding a digit. Written so that it never backtracks: a token is only tried from its first
# character (the look-behind), and its non-digit head is taken possessively. The plain `\S*\d\S*` retried every
# start of a digit-free run, quadratic in the run: a 1 MB line of `x` took hours.
_QUICK = re.compile(r"(?<!\S)[^\s\d]*+\d\S*+")

# A bounded cache: BGL-like logs have many distinct masked lines; past this size the cache starts over.
CACHE_LIMIT = 500_000
# A message is templated by its first MAX_TEMPLATE_CHARS characters (a constant `<...>` token stands for the rest):
# a line's shape shows in its head, and the work per line stays bounded up to the reader's 1 MB line cap.
MAX_TEMPLATE_CHARS = 4096
CUT_MARK = " <...>"


def head(text: str) -> str:
    """The part of a message that is templated: all of it, or its head and `CUT_MARK` when it is very long."""
    return text if len(text) <= MAX_TEMPLATE_CHARS else text[:MAX_TEMPLATE_CHARS] + CUT_MARK


def mask(text: str) -> str:
    """The line with its variable parts replaced by `<IP>`, `<NUM>`, ... (the cache key and Drain3's input)."""
    for regex, token in _COMPILED:
        text = regex.sub(token, text)
    return text


def _config(sim_th: float, depth: int) -> TemplateMinerConfig:
    config = TemplateMinerConfig()
    config.drain_sim_th = sim_th
    config.drain_depth = depth
    config.drain_max_children = 100
    config.parametrize_numeric_tokens = True
    config.snapshot_compress_state = True
    config.masking_instructions = [MaskingInstruction(pattern, name) for pattern, name in MASKS]
    config.mask_prefix, config.mask_suffix = "<", ">"
    return config


class TemplateStore:
    """Template ids for log messages, backed by Drain3 and persisted per system.

    Args:
        state_path: Where Drain3's state is loaded from and saved to (None: in memory only).
        sim_th: Drain's similarity threshold (0.4 is Drain3's default).
        depth: Drain's parse-tree depth.
    """

    def __init__(self, state_path: str | Path | None = None, *, sim_th: float = 0.4, depth: int = 4) -> None:
        self.state_path = Path(state_path) if state_path else None
        self.recovered: str | None = None  # the message when a damaged state file was moved aside
        persistence = None
        if self.state_path is not None and self.state_path.exists():
            persistence = FilePersistence(str(self.state_path))
        try:
            self.miner = TemplateMiner(persistence_handler=persistence, config=_config(sim_th, depth))
        except Exception as error:  # noqa: BLE001 - a cut, emptied or foreign file: base64, zlib, JSON, pickle errors
            assert self.state_path is not None
            self.recovered = quarantine(self.state_path, error, "template state",
                                        "templates are mined again from this run (their ids change)", log=False)
            self.miner = TemplateMiner(persistence_handler=None, config=_config(sim_th, depth))
        # Saving after every new cluster (Drain3's behaviour with a handler) is quadratic: we save once, in save().
        self.miner.persistence_handler = None
        self.known_before: frozenset[int] = frozenset(self.miner.drain.id_to_cluster.keys())
        self._quick: dict[str, int] = {}
        self._cache: dict[str, int] = {}
        self.counts: dict[int, int] = {}  # this run's count per template id
        self.cache_hits = 0

    def add(self, text: str) -> int:
        """The template id of `text` (a message without its header), mining a new template when needed."""
        if len(text) > MAX_TEMPLATE_CHARS:
            text = text[:MAX_TEMPLATE_CHARS] + CUT_MARK  # head(text), inline: this runs once per line
        quick = _QUICK.sub("<*>", text)
        tid = self._quick.get(quick)
        if tid is None:
            key = mask(text)
            tid = self._cache.get(key)
            if tid is None:
                cluster, _ = self.miner.drain.add_log_message(key)
                tid = cluster.cluster_id
                if len(self._cache) >= CACHE_LIMIT:
                    self._cache.clear()
                self._cache[key] = tid
            if len(self._quick) >= CACHE_LIMIT:
                self._quick.clear()
            self._quick[quick] = tid
        else:
            self.cache_hits += 1
        self.counts[tid] = self.counts.get(tid, 0) + 1
        return tid

    def match(self, text: str) -> int | None:
        """The id of an existing template that `text` matches, without changing any template."""
        key = mask(head(text))
        tid = self._cache.get(key)
        if tid is not None:
            return tid
        cluster = self.miner.drain.match(key, full_search_strategy="fallback")
        return None if cluster is None else int(cluster.cluster_id)

    def template(self, tid: int) -> str:
        """The template text of id `tid` (`<*>` and `<NAME>` mark the variable parts)."""
        cluster = self.miner.drain.id_to_cluster.get(tid)
        return cluster.get_template() if cluster is not None else f"<unknown template {tid}>"

    def count(self, tid: int) -> int:
        """How many messages of this run had template `tid`."""
        return self.counts.get(tid, 0)

    def is_new(self, tid: int) -> bool:
        """Whether `tid` was first mined in this run (not in the loaded state)."""
        return tid not in self.known_before

    @property
    def size(self) -> int:
        """Number of templates known (loaded plus mined)."""
        return len(self.miner.drain.id_to_cluster)

    def new_templates(self) -> int:
        """Templates this run added to the loaded state."""
        return sum(1 for tid in self.miner.drain.id_to_cluster.keys() if tid not in self.known_before)

    def save(self) -> None:
        """Write Drain3's state atomically to `state_path` (no-op when in memory)."""
        if self.state_path is None:
            return
        self.state_path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.state_path.parent, prefix=".drain3-", suffix=".tmp")
        os.close(fd)
        try:
            self.miner.persistence_handler = FilePersistence(tmp)
            self.miner.save_state("end of run")
            os.replace(tmp, self.state_path)
        finally:
            self.miner.persistence_handler = None
            if os.path.exists(tmp):
                os.unlink(tmp)
        logger.info("saved %d templates to %s", self.size, self.state_path)
