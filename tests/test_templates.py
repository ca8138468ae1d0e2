"""Drain3 templates: masking, the cache, persisted state reused by a second run."""

from __future__ import annotations

from pathlib import Path

import pytest

from detectors.templates import TemplateStore, mask


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("Connection from 10.0.0.12:5432 closed", "Connection from <IP> closed"),
        ("Receiving block blk_-1608999687919862906 src", "Receiving block <BLK> src"),
        ("instance 11760334-ac63-4cc8-9086-578422af8c99 spawned", "instance <UUID> spawned"),
        ("open /var/lib/data/file.db failed", "open <PATH> failed"),
        ("pointer 0x7ffe12ab bad", "pointer <HEX> bad"),
        ("took 35.2 ms for 12 rows", "took <NUM> ms for <NUM> rows"),
    ],
    ids=["ip-port", "hdfs-block", "uuid", "path", "hex", "numbers"],
)
def test_variable_parts_are_masked(line: str, expected: str) -> None:
    assert mask(line) == expected


def test_lines_differing_only_in_variables_share_a_template() -> None:
    store = TemplateStore()
    a = store.add("user 17 logged in from 10.1.2.3")
    b = store.add("user 4242 logged in from 192.168.0.9")
    c = store.add("disk /dev/sda1 is full")
    assert a == b != c
    assert store.count(a) == 2
    assert "logged in from <IP>" in store.template(a)


def test_repeated_lines_hit_the_cache() -> None:
    store = TemplateStore()
    for i in range(100):
        store.add(f"request {i} served in {i % 7} ms")
    assert store.cache_hits >= 90


def test_second_run_reuses_persisted_templates(tmp_path: Path) -> None:
    state = tmp_path / "drain3" / "app.bin"
    first = TemplateStore(state)
    tid = first.add("job 1 finished with status ok")
    first.add("worker 3 restarted")
    first.save()
    assert state.exists()

    second = TemplateStore(state)
    assert second.size == 2
    assert second.add("job 99 finished with status ok") == tid
    assert second.new_templates() == 0
    assert not second.is_new(tid)
    second.add("a completely new kind of message here")
    assert second.new_templates() == 1
