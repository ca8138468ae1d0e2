"""retrieval/: encoders, the FAISS index with metadata (persisted, incremental), MMR, the demo pool."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from retrieval.embed import CachedEncoder, HashEncoder, ProjectedEncoder, normalise
from retrieval.index import VectorIndex
from retrieval.mmr import mmr
from retrieval.pool import Demo, DemoPool, InMemoryRetriever, Retriever, read_bgl, sample_demos, session_text


def _demo(i: int, text: str, label: str = "normal", system: str = "bgl") -> Demo:
    return Demo(f"{system}:{i}", text, label, system, f"{system}.log:{i}")


def test_mmr_picks_diverse_demos_over_near_duplicates() -> None:
    query = normalise(np.array([[1.0, 0.0, 0.5]]))[0]
    vecs = normalise(np.array([[1.0, 0.01, 0], [1.0, 0.02, 0], [1.0, 0.03, 0], [0.3, 0.0, 1.0]]))
    relevance = vecs @ query
    assert mmr(relevance, vecs, 2, lam=0.0) == [0, 1]  # plain top-k: two near-duplicates
    assert mmr(relevance, vecs, 2, lam=0.5) == [0, 3]  # MMR: the second pick is the different one


def test_mmr_handles_fewer_candidates_than_k() -> None:
    vecs = normalise(np.eye(2))
    assert sorted(mmr(np.array([0.2, 0.9]), vecs, 5, lam=0.5)) == [0, 1]
    assert mmr(np.zeros(0), np.zeros((0, 2)), 3) == []


def test_index_persists_and_grows_incrementally(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    a = normalise(rng.standard_normal((5, 8)))
    b = normalise(rng.standard_normal((3, 8)))
    index = VectorIndex(8, "hash:8")
    index.add(a, [{"id": i} for i in range(5)])
    index.save(tmp_path)
    v1 = index.version

    again = VectorIndex.load(tmp_path, encoder="hash:8")
    assert len(again) == 5 and again.version == v1
    again.add(b, [{"id": i} for i in range(5, 8)])
    again.save(tmp_path)
    assert again.version != v1

    third = VectorIndex.load(tmp_path)
    assert [m["id"] for m in third.meta] == list(range(8))  # metadata appended, in index order
    scores, ids = third.search(b[1], 3)
    assert ids[0, 0] == 6 and scores[0, 0] == pytest.approx(1.0, abs=1e-5)
    with pytest.raises(Exception, match="built with encoder"):
        VectorIndex.load(tmp_path, encoder="minilm:other")


def test_index_switches_to_hnsw_past_its_size_and_keeps_answers() -> None:
    rng = np.random.default_rng(1)
    x = normalise(rng.standard_normal((60, 16)))
    index = VectorIndex(16, "hash:16", hnsw_min=50)
    index.add(x[:40], [{"i": i} for i in range(40)])
    assert index.kind == "flat"
    index.add(x[40:], [{"i": i} for i in range(40, 60)])
    assert index.kind == "hnsw"
    _, ids = index.search(x[55], 1)
    assert ids[0, 0] == 55


def test_demo_pool_persists_skips_known_ids_and_retrieves(tmp_path: Path) -> None:
    enc = HashEncoder(64)
    pool = DemoPool(tmp_path / "pool", enc)
    added = pool.add([_demo(1, "KERNEL FATAL data TLB error interrupt", "anomaly"),
                      _demo(2, "KERNEL INFO instruction cache parity error corrected")])
    assert added == 2 and isinstance(pool, Retriever)
    v = pool.version
    reopened = DemoPool(tmp_path / "pool", enc)
    assert len(reopened) == 2 and reopened.version == v
    assert reopened.add([_demo(1, "duplicate id is skipped"), _demo(3, "ciod: Message code 0 is not 51 or 4294967295")]) == 1
    assert reopened.version != v
    got = reopened.retrieve("KERNEL FATAL data TLB error interrupt", 1)
    assert got[0].demo.id == "bgl:1" and got[0].similarity == pytest.approx(1.0, abs=1e-5)
    reopened.set_deltas({"bgl:2": 0.5})
    assert DemoPool(tmp_path / "pool", enc).get("bgl:2").delta == 0.5  # type: ignore[union-attr]


def test_in_memory_retriever_matches_the_faiss_pool(tmp_path: Path) -> None:
    enc = HashEncoder(64)
    demos = [_demo(i, f"node {w} failed with error {w}", "anomaly" if i % 3 == 0 else "normal")
             for i, w in enumerate(["disk", "network", "kernel", "memory", "cache", "fan", "power"])]
    mem, disk = InMemoryRetriever(enc, demos), DemoPool(tmp_path / "p", enc)
    disk.add(demos)
    for q in ("disk failed", "cache error", "power"):
        a = [round(r.similarity, 5) for r in mem.retrieve(q, 3, lam=0.3)]
        b = [round(r.similarity, 5) for r in disk.retrieve(q, 3, lam=0.3)]
        assert a == b  # the same picks, up to ties


def test_delta_scores_change_the_ranking() -> None:
    enc = HashEncoder(64)
    pool = InMemoryRetriever(enc, [_demo(1, "link error on port 3"), _demo(2, "link error on port 3 detected")])
    assert pool.retrieve("link error on port 3", 1, lam=0)[0].demo.id == "bgl:1"
    pool.set_deltas({"bgl:2": 1.0})
    assert pool.retrieve("link error on port 3", 1, lam=0, delta_weight=0.5)[0].demo.id == "bgl:2"


def test_cached_encoder_encodes_each_text_once(tmp_path: Path) -> None:
    calls: list[int] = []

    class Counting(HashEncoder):
        def encode(self, texts):  # type: ignore[no-untyped-def]
            calls.append(len(texts))
            return super().encode(texts)

    enc = CachedEncoder(Counting(32), tmp_path / "cache.npz")
    first = enc.encode(["a b", "c d", "a b"])
    assert calls == [2]
    enc.save()
    again = CachedEncoder(Counting(32), tmp_path / "cache.npz")
    assert np.allclose(again.encode(["c d"]), first[1:2]) and calls == [2]


def test_projected_encoder_with_identity_head_keeps_similarities() -> None:
    base = HashEncoder(16)
    enc = ProjectedEncoder(base, np.zeros((16, 16)), np.zeros(16), residual=True, name="t")
    assert np.allclose(enc.encode(["x y z"]), base.encode(["x y z"]), atol=1e-6)


def test_session_text_puts_errors_first() -> None:
    text = session_text(["INFO: claim ok", "INFO: spawned", "ERROR: build aborted", "INFO: claim ok"])
    assert text.startswith("ERROR: build aborted") and text.count("claim ok") == 1


def test_sample_demos_keeps_anomalies_and_dedupes() -> None:
    demos = [_demo(i, f"ok {i % 50}") for i in range(500)] + [_demo(1000 + i, f"bad {i}", "anomaly") for i in range(20)]
    picked = sample_demos(demos, 40)
    assert len(picked) == 40 and sum(d.y for d in picked) == 12
    assert len({d.text for d in picked}) == 40


@pytest.mark.data
def test_bgl_reader_labels_alert_lines(shared_data: Path) -> None:
    lines = read_bgl(shared_data / "loghub_bgl" / "BGL_2k.log")
    assert len(lines) == 2000 and sum(x.y for x in lines) == 143


@pytest.mark.slow
def test_real_minilm_puts_paraphrases_closer_than_unrelated_lines() -> None:
    """The one real-model test: all-MiniLM-L6-v2 loads offline from its package."""
    from retrieval.embed import MiniLMEncoder

    v = MiniLMEncoder().encode(["disk is full, write failed", "no space left on device", "user logged in"])
    assert v.shape == (3, 384)
    assert float(v[0] @ v[1]) > float(v[0] @ v[2])


@pytest.mark.parametrize("name", ["logicl-bgl2openstack", "logicl-openstack2bgl"], ids=["bgl2os", "os2bgl"])
def test_shipped_distilled_checkpoints_load_with_their_metadata(name: str) -> None:
    import json

    from retrieval.embed import CHECKPOINTS, load_distilled

    meta = json.loads((CHECKPOINTS / name / "meta.json").read_text())
    assert meta["rebuild"].startswith("sleuth train logicl") and meta["delta_entries"] > 0
    enc = load_distilled(name, HashEncoder(384))  # the head is 384 -> 384 over MiniLM; any 384-d base loads it
    v = enc.encode(["KERNEL FATAL data TLB error interrupt"])
    assert v.shape == (1, 384) and abs(float(np.linalg.norm(v)) - 1.0) < 1e-5
