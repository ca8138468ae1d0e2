"""ICAD-LLM (issue 4): behaviour on tiny synthetic data with a tiny random backbone, plus one shipped-checkpoint test.

The tiny backbone (2 layers, width 64) is trained once per session for a few dozen steps on synthetic pools of
the three modalities; every test then fits the detector on normal samples and checks what it does with injected
anomalies.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("peft")

from detectors.base import DetectorError, LogWindow, NotFitted, SeriesWindow, TableRow, get_detector  # noqa: E402
from detectors.icad.calibrate import conformal_threshold  # noqa: E402
from detectors.icad.detector import SHIPPED, ICADDetector  # noqa: E402
from detectors.icad.model import ICADConfig, ICADModel  # noqa: E402
from detectors.icad.references import k_center, nearest, select_sets  # noqa: E402
from lab.icad.data import Split  # noqa: E402
from lab.icad.train import TrainOptions, train  # noqa: E402

NORMAL_TEMPLATES = [
    "worker <NUM> heartbeat ok", "request served in <NUM> ms", "cache hit for key <*>", "user <*> logged in",
    "user <*> logged out", "flushing <NUM> records to disk", "connection from <IP> accepted",
    "scheduled job <*> finished", "gc pause <NUM> ms", "config reloaded",
]
BAD = "kernel panic: disk /dev/sda unreadable, filesystem remounted read-only"
TINY = ICADConfig(backbone="tiny", n_layers=2, width=32, m=4, series_len=32, series_patch=8, table_features=8,
                  log_window=16, lora_r=4, margin=0.2, seed=0)


def log_windows(n: int, rng: np.random.Generator, shift: int = 0) -> np.ndarray:
    """Windows of 12 template ids drawn from a periodic pattern with a little noise."""
    out = np.zeros((n, 12), np.int32)
    for i in range(n):
        base = (np.arange(12) + rng.integers(0, 10)) % 6 + shift
        noise = rng.random(12) < 0.2
        base[noise] = rng.integers(shift, shift + 6, noise.sum())
        out[i] = base
    return out


def series_windows(n: int, rng: np.random.Generator, c: int = 3, freq: float = 0.2) -> np.ndarray:
    t = np.arange(32)[None, :, None] + rng.integers(0, 100, (n, 1, 1))
    return (np.sin(freq * t * (1 + np.arange(c)[None, None, :] * 0.3)) + 0.1 * rng.normal(size=(n, 32, c))).astype(np.float32)


def table_rows(n: int, rng: np.random.Generator, f: int = 5) -> np.ndarray:
    z = rng.normal(size=(n, 1))
    return (z * np.linspace(1, 2, f)[None] + 0.3 * rng.normal(size=(n, f))).astype(np.float32)


def spike(x: np.ndarray, channel: int) -> np.ndarray:
    x = x.copy()
    x[20:23, channel] += 6.0
    return x


def bad_row(x: np.ndarray, feature: int) -> np.ndarray:
    x = x.copy()
    x[feature] += 8.0
    return x


@pytest.fixture(scope="session")
def trained(tmp_path_factory: pytest.TempPathFactory) -> ICADModel:
    """A tiny model trained for a few steps on synthetic pools of each modality (two data sets each)."""
    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    templates = NORMAL_TEMPLATES + ["other system boot", "other system idle", "other job queued",
                                    "other job done", "other disk ok", "other net ok", BAD]
    splits = [
        Split("a", "logs", log_windows(200, rng), np.zeros((0, 12), np.int32), np.zeros(0), templates),
        Split("b", "logs", log_windows(200, rng, shift=10) % 16, np.zeros((0, 12), np.int32), np.zeros(0), templates),
        Split("s1", "series", series_windows(200, rng), np.zeros(0), np.zeros(0)),
        Split("s2", "series", series_windows(200, rng, c=1, freq=0.5), np.zeros(0), np.zeros(0)),
        Split("t1", "table", table_rows(200, rng), np.zeros(0), np.zeros(0)),
        Split("t2", "table", table_rows(200, rng, f=3) * 3 + 1, np.zeros(0), np.zeros(0)),
    ]
    opts = TrainOptions(out=tmp_path_factory.mktemp("icad"), steps=60, batch=8, lr=3e-3, save_every=1000,
                        hard_ratio=0.5)
    return train(opts, TINY, splits=splits, progress=False)


def test_injected_log_template_scores_above_normal_windows(trained: ICADModel) -> None:
    rng = np.random.default_rng(1)
    templates = NORMAL_TEMPLATES + [BAD]
    det = ICADDetector(model=trained, groups=2).fit_arrays("logs", log_windows(120, rng), templates)
    normal = log_windows(40, rng)
    bad = normal.copy()
    bad[:, 5:8] = len(NORMAL_TEMPLATES)  # the BAD template, three times
    s_norm, s_bad = det.score_arrays(normal, templates), det.score_arrays(bad, templates)
    assert np.median(s_bad) > np.percentile(s_norm, 90)


@pytest.mark.parametrize("modality", ["series", "table"], ids=["series-spike", "table-outlier"])
def test_injected_series_and_table_anomalies_score_above_normals(trained: ICADModel, modality: str) -> None:
    rng = np.random.default_rng(2)
    if modality == "series":
        pool, normal = series_windows(150, rng), series_windows(40, rng)
        bad = np.stack([spike(x, 1) for x in normal])
    else:
        pool, normal = table_rows(150, rng), table_rows(40, rng)
        bad = np.stack([bad_row(x, 2) for x in normal])
    det = ICADDetector(model=trained, groups=2).fit_arrays(modality, pool)
    s_norm, s_bad = det.score_arrays(normal), det.score_arrays(bad)
    assert np.mean(s_bad > np.median(s_norm)) > 0.9


def test_threshold_flags_about_alpha_of_fresh_normals(trained: ICADModel) -> None:
    rng = np.random.default_rng(3)
    det = ICADDetector(model=trained, groups=2, alpha=0.1, max_calibration=300).fit_arrays("table", table_rows(400, rng))
    rate = float(np.mean(det.score_arrays(table_rows(400, rng)) >= det.threshold))
    assert 0.02 <= rate <= 0.25, rate


def test_log_threshold_flags_about_alpha_of_fresh_normals(trained: ICADModel) -> None:
    # Calibration leaves each held-out window out of the residual's pool, so its own templates do not make it look
    # normal: fresh normal windows are flagged at about the chosen rate.
    rng = np.random.default_rng(13)
    det = ICADDetector(model=trained, groups=2, alpha=0.1, max_calibration=200).fit_arrays(
        "logs", log_windows(300, rng), NORMAL_TEMPLATES)
    rate = float(np.mean(det.score_arrays(log_windows(300, rng), NORMAL_TEMPLATES) >= det.threshold))
    assert 0.02 <= rate <= 0.25, rate


def test_score_modes_delta_residual_and_their_sum(trained: ICADModel) -> None:
    rng = np.random.default_rng(14)
    pool, x = table_rows(120, rng), table_rows(20, rng)
    x[3] = bad_row(x[3], 1)
    combined = ICADDetector(model=trained, groups=2, score="combined").fit_arrays("table", pool)
    parts = combined.score_parts(x)
    (md, sd), (mr, sr) = combined._norm["delta"], combined._norm["residual"]
    np.testing.assert_allclose(parts["score"], (parts["delta"] - md) / sd + (parts["residual"] - mr) / sr)
    residual = ICADDetector(model=trained, groups=2, score="residual").fit_arrays("table", pool)
    s = residual.score_arrays(x)
    assert s.argmax() == 3 and s[3] >= residual.threshold
    assert "nearest-normal residual" in residual.threshold_rule()
    delta = ICADDetector(model=trained, groups=2, score="delta").fit_arrays("table", pool)
    np.testing.assert_allclose(delta.score_arrays(x), parts["delta"], atol=1e-6)
    with pytest.raises(DetectorError, match="unknown score"):
        ICADDetector(model=trained, score="mean")


def test_auto_score_leans_on_the_part_that_tells_synthetic_anomalies_apart(trained: ICADModel) -> None:
    # A δ that is pure noise (as from a checkpoint that never saw data like these): the fit-time self-check sees
    # that on synthetic anomalies made from held-out normals and gives (nearly) all the weight to the
    # nearest-normal residual — no label involved.
    rng = np.random.default_rng(15)
    pool, x = table_rows(150, rng), table_rows(40, rng)
    x[5], x[17] = bad_row(x[5], 0), bad_row(x[17], 2)
    det = ICADDetector(model=trained, groups=2, score="auto")
    noise = np.random.default_rng(0)
    det._score_sets = lambda tok: noise.random(len(tok))  # type: ignore[method-assign]
    det.fit_arrays("table", pool)
    assert det.self_check["residual"] > 0.9 and abs(det.self_check["delta"] - 0.5) < 0.1
    assert det.weights["residual"] > 1.6 and det.weights["delta"] < 0.4
    s = det.score_arrays(x)
    assert set(np.argsort(-s)[:2]) == {5, 17} and (s[[5, 17]] >= det.threshold).all()
    parts = det.score_parts(x)
    (md, sd), (mr, sr) = det._norm["delta"], det._norm["residual"]
    w = det.weights
    np.testing.assert_allclose(parts["score"], w["delta"] * (parts["delta"] - md) / sd
                               + w["residual"] * (parts["residual"] - mr) / sr)
    assert "self-check" in det.threshold_rule() and f"{w['residual']:.2f}·z(nearest-normal residual)" in \
        det.threshold_rule()
    # The trained model's own δ does tell them apart: it keeps a real share of the weight.
    trained_det = ICADDetector(model=trained, groups=2, score="auto").fit_arrays("table", pool)
    assert trained_det.self_check["delta"] > 0.7 and trained_det.weights["delta"] > 0.5


def test_self_check_can_report_without_weighting_the_score(trained: ICADModel) -> None:
    # self_check=True runs the synthetic self-check for a report (benchmarks compare the modes in one fit) without
    # letting its weights into a plain-sum score.
    rng = np.random.default_rng(16)
    pool, x = table_rows(150, rng), table_rows(30, rng)
    x[4] = bad_row(x[4], 1)
    plain = ICADDetector(model=trained, groups=2, score="combined").fit_arrays("table", pool)
    assert plain.self_check == {}
    checked = ICADDetector(model=trained, groups=2, score="combined", self_check=True).fit_arrays("table", pool)
    np.testing.assert_allclose(checked.score_arrays(x), plain.score_arrays(x))
    assert checked.threshold == plain.threshold and "self-check" not in checked.threshold_rule()
    assert checked.self_check["n"] > 0 and sum(checked.auto_weights.values()) == pytest.approx(2.0)
    assert checked.weights == {"delta": 1.0, "residual": 1.0}
    auto = ICADDetector(model=trained, groups=2).fit_arrays("table", pool)  # the default
    assert auto.score_mode == "auto" and auto.weights == checked.auto_weights


def test_self_check_counts_a_repeated_window_once(trained: ICADModel) -> None:
    # The newest part of a log often repeats one window for a long run (BGL: hundreds of identical lines). Held out
    # for the self-check, those copies made it one window scored a hundred times over, and its few synthetic
    # variants decided the weights. The check now compares distinct normals against synthetic anomalies made from
    # each of them in turn, and says how many distinct normals it had.
    rng = np.random.default_rng(23)
    pool = log_windows(300, rng)
    pool[200:] = pool[np.repeat(np.arange(200, 205), 20)]  # the newest third: 5 windows, 20 copies each
    det = ICADDetector(model=trained, groups=2).fit_arrays("logs", pool, NORMAL_TEMPLATES)
    assert det.holdout_used == "latest" and len(det.calibration_scores) == 100  # the threshold keeps every copy
    assert det.self_check["normals"] == 5 and det.self_check["n"] == 100
    assert "100 synthetic anomalies made from the 5 distinct ones" in det.threshold_rule()
    varied = log_windows(300, rng)
    fresh = ICADDetector(model=trained, groups=2).fit_arrays("logs", varied, NORMAL_TEMPLATES)
    assert fresh.self_check["normals"] == len(np.unique(varied[200:], axis=0)) > 80


def test_a_part_whose_normals_mostly_score_alike_is_measured_by_its_tail() -> None:
    # Held-out log windows that mostly repeat known templates give most of them the same residual: MAD = 0. The
    # unit must then come from the spread that exists (the upper tail), or a fresh window with one new template sits
    # hundreds of "z" above the rest and swamps δ.
    from detectors.icad.detector import _robust

    x = np.r_[np.full(80, 0.07), np.linspace(0.1, 0.8, 20)]
    med, unit = _robust(x)
    assert med == pytest.approx(0.07) and unit == pytest.approx((np.quantile(x, 0.99) - 0.07) / 2.326)
    assert (1.1 - med) / unit < 5  # a typical new-template residual, in these units
    normal = np.random.default_rng(0).normal(size=5000)  # well-spread scores keep the MAD unit (σ)
    assert _robust(normal)[1] == pytest.approx(1.0, rel=0.05)


def test_conformal_threshold_is_the_right_order_statistic() -> None:
    scores = np.arange(1, 100, dtype=float)  # 99 scores
    assert conformal_threshold(scores, 0.1) == 90.0  # ceil(100 * 0.9) = 90th smallest
    assert conformal_threshold(scores, 0.001) > 99.0  # past the sample: above the max


def test_evidence_names_the_injected_template_channel_and_feature(trained: ICADModel) -> None:
    rng = np.random.default_rng(4)
    templates = NORMAL_TEMPLATES + [BAD]
    det = ICADDetector(model=trained, groups=2).fit_arrays("logs", log_windows(100, rng), templates)
    w = log_windows(1, rng)[0]
    w[7] = len(NORMAL_TEMPLATES)
    ev = det.explain_array(w, 0.5, templates)
    assert ev[0].kind == "reference"
    assert ev[1].kind == "residual" and ev[1].data["template"] == BAD and "unseen" in ev[1].summary

    det = ICADDetector(model=trained, groups=2).fit_arrays("series", series_windows(100, rng))
    ev = det.explain_array(spike(series_windows(1, rng)[0], 2), 0.5, names=("cpu", "mem", "disk"))
    assert ev[1].data["name"] == "disk"

    det = ICADDetector(model=trained, groups=2).fit_arrays("table", table_rows(100, rng))
    ev = det.explain_array(bad_row(table_rows(1, rng)[0], 3), 0.5)
    assert ev[1].data["index"] == 3


def test_detector_interface_on_samples_and_registry(trained: ICADModel) -> None:
    rng = np.random.default_rng(5)
    det = get_detector("icad", model=trained, groups=2, template_text=lambda t: NORMAL_TEMPLATES[t]
                       if t < len(NORMAL_TEMPLATES) else BAD)
    with pytest.raises(NotFitted):
        det.score([LogWindow(0, "w0", np.arange(12), log_windows(1, rng)[0])])
    windows = [LogWindow(i, f"w{i}", np.arange(12), w) for i, w in enumerate(log_windows(60, rng))]
    det.fit(windows)
    bad = LogWindow(99, "bad", np.arange(100, 112), np.array([0, 1, 2, 3, 4, 10, 0, 1, 2, 3, 4, 5]))
    s = det.score(windows[:5] + [bad])
    assert s.shape == (6,) and s[-1] == s.max()
    v = det.verdict(bad, float(s[-1]))
    assert v.detector == "icad" and v.evidence[1].data["event"] == 105

    series = [SeriesWindow(i, f"s{i}", 0, x, channels=("a", "b", "c")) for i, x in enumerate(series_windows(50, rng))]
    det2 = ICADDetector(model=trained, groups=2).fit(series)
    assert det2.element_scores(series[0]) is not None and det2.score(series[:3]).shape == (3,)
    rows = [TableRow(i, f"r{i}", x) for i, x in enumerate(table_rows(50, rng))]
    assert ICADDetector(model=trained).fit(rows).score(rows[:4]).shape == (4,)


def test_prefix_cache_gives_the_same_scores_as_full_sequences(trained: ICADModel) -> None:
    rng = np.random.default_rng(6)
    pool, x = table_rows(80, rng), table_rows(20, rng)
    a = ICADDetector(model=trained, groups=2, cache=True).fit_arrays("table", pool).score_arrays(x)
    b = ICADDetector(model=trained, groups=2, cache=False).fit_arrays("table", pool).score_arrays(x)
    # float32 attention over a cached prefix sums in another order than over the full sequence: the scores (about 3)
    # agree to float32 rounding (seen: 1.9e-5 absolute, 6e-6 relative), not to a fixed 1e-5.
    np.testing.assert_allclose(a, b, rtol=2e-5, atol=1e-5)


def test_checkpoint_round_trip_gives_identical_scores(trained: ICADModel, tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    pool, x = series_windows(60, rng), series_windows(10, rng)
    trained.save(tmp_path, {"steps": 60}, half=False)
    loaded = ICADModel.load(tmp_path)
    assert loaded.meta == {"steps": 60}
    a = ICADDetector(model=trained, groups=2).fit_arrays("series", pool).score_arrays(x)
    b = ICADDetector(model=loaded, groups=2).fit_arrays("series", pool).score_arrays(x)
    np.testing.assert_array_equal(a, b)


def test_reference_selection_strategies() -> None:
    rng = np.random.default_rng(8)
    emb = np.concatenate([rng.normal(size=(50, 4)) + 5, rng.normal(size=(50, 4)) - 5])
    sets = select_sets(emb, 5, 2, "coreset")
    assert len(sets) == 2 and all(len(s) == 5 for s in sets)
    assert {int(s[0] < 50) for s in sets} == {0, 1}  # one set per cluster
    assert len(set(k_center(emb, 10).tolist())) == 10
    idx = nearest(emb[:3], emb, 4, exclude=np.arange(3))
    assert idx.shape == (3, 4) and not any(i in row for i, row in enumerate(idx))


def test_training_resumes_from_its_state(tmp_path: Path) -> None:
    rng = np.random.default_rng(9)
    splits = [Split("t1", "table", table_rows(50, rng), np.zeros(0), np.zeros(0)),
              Split("t2", "table", table_rows(50, rng, f=3), np.zeros(0), np.zeros(0))]
    cfg = replace(TINY, seed=1)
    opts = TrainOptions(out=tmp_path, steps=2, batch=2, save_every=1)
    train(opts, cfg, splits=splits, progress=False)
    resumed = train(replace(opts, steps=3, resume=True), cfg, splits=splits, progress=False)
    assert resumed.meta["steps"] == 3


def test_training_continues_from_a_checkpoints_weights(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # `--init DIR` starts from a saved checkpoint (a fresh optimizer and schedule) rather than from a new model,
    # and its metadata keeps the earlier run's command, so the chain can be rebuilt.
    from lab.icad.train import train_command

    rng = np.random.default_rng(10)
    splits = [Split("t1", "table", table_rows(50, rng), np.zeros(0), np.zeros(0)),
              Split("t2", "table", table_rows(50, rng, f=3), np.zeros(0), np.zeros(0))]
    cfg = replace(TINY, seed=1)
    first = train(TrainOptions(out=tmp_path / "a", steps=3, batch=2, lr=3e-3), cfg, splits=splits, progress=False)
    frozen = TrainOptions(out=tmp_path / "b", steps=2, batch=2, lr=0.0)  # lr 0: the weights stay where they start
    cont = train(replace(frozen, init=tmp_path / "a"), cfg, splits=splits, progress=False)
    fresh = train(replace(frozen, out=tmp_path / "c"), cfg, splits=splits, progress=False)
    saved = ICADModel.load(tmp_path / "a").trainable_state()
    for name, value in cont.trainable_state().items():
        torch.testing.assert_close(value, saved[name])
    assert any(not torch.equal(v, saved[k]) for k, v in fresh.trainable_state().items())
    assert cont.meta["init"]["steps"] == 3 and cont.meta["steps_total"] == 5
    assert cont.meta["init"]["rebuild"] == first.meta["rebuild"] and f"--init {tmp_path / 'a'}" in cont.meta["rebuild"]
    assert train_command(init=tmp_path / "missing", data=tmp_path) == 2
    assert "no ICAD checkpoint in" in capsys.readouterr().err


def test_real_hard_negatives_come_from_the_labelled_fit_side_only() -> None:
    from lab.icad.train import _draw, _Pool

    rng = np.random.default_rng(12)
    normal_a, normal_b = table_rows(30, rng), table_rows(30, rng, f=5) + 10
    bad_a = table_rows(4, rng) + 100  # the labelled fit-side anomalies of data set "a"
    pools = [_Pool("a", "table", normal_a, anomalies=bad_a), _Pool("b", "table", normal_b)]

    def negatives(real_hard: float, hard_ratio: float = 1.0) -> np.ndarray:
        return np.stack(_draw(pools, 400, 3, hard_ratio, 0, np.random.default_rng(0), real_hard)[2])

    def is_real(neg: np.ndarray) -> np.ndarray:
        return (neg[:, None, :] == bad_a[None]).all(-1).any(1)

    # Every hard negative is a real anomaly when asked for, and never one when not (synthetic ones instead).
    assert is_real(negatives(1.0)).all()
    assert not is_real(negatives(0.0)).any()
    mixed = is_real(negatives(0.5))
    assert 0.35 < mixed.mean() < 0.65
    # Simple negatives (hard_ratio 0) are normals of the other data set, whatever real_hard says.
    assert not is_real(negatives(1.0, hard_ratio=0.0)).any()


@pytest.mark.data
def test_labelled_hard_negatives_are_fit_side_windows_of_bgl(shared_data: Path) -> None:
    from lab.icad.data import bgl

    split = bgl(shared_data)
    assert split.anomalies is not None and len(split.anomalies) > 50
    fit = split.extra["fit_all"]
    as_rows = {tuple(r) for r in fit[split.extra["fit_y"] == 1].tolist()}
    assert all(tuple(r) in as_rows for r in split.anomalies.tolist())  # only labelled windows of the fit half
    test_rows = {tuple(r) for r in split.test.tolist()}
    assert not any(tuple(r) in test_rows for r in split.anomalies.tolist())


@pytest.mark.slow
def test_shipped_checkpoint_scores_with_the_smollm2_backbone() -> None:
    if not (SHIPPED / "icad.json").exists():
        pytest.skip("no shipped checkpoint")
    pytest.importorskip("gguf")
    torch.set_num_threads(1)
    rng = np.random.default_rng(10)
    model = ICADModel.load(SHIPPED)
    assert model.cfg.backbone == "smollm2" and model.meta["steps"] > 0
    det = ICADDetector(model=model, groups=1).fit_arrays("table", table_rows(40, rng))
    s = det.score_arrays(np.stack([table_rows(1, rng)[0], bad_row(table_rows(1, rng)[0], 1) * 3]))
    assert np.all(np.isfinite(s)) and s[1] > s[0]


def test_agent_tool_flags_the_bad_rows_of_a_table(trained: ICADModel, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    from detectors.icad import detector as icad_detector
    from tools.base import ToolInputError
    from tools.icad import TOOLS
    from tools.workspace import Workspace

    monkeypatch.setitem(icad_detector._MODELS, str(SHIPPED.resolve()), trained)
    rng = np.random.default_rng(11)
    rows = table_rows(300, rng)
    rows[250] = bad_row(rows[250], 4)
    path = tmp_path / "t.csv"
    path.write_text("id,a,b,c,d,e\n" + "\n".join(f"r{i}," + ",".join(f"{v:.4f}" for v in r) for i, r in enumerate(rows)))
    tool = TOOLS[0]
    out = tool(Workspace(), {"path": str(path), "kind": "table", "limit": 3})
    assert out.data["top"][0]["sample"] == "row 251" and out.data["top"][0]["drivers"][0] == "e"
    with pytest.raises(ToolInputError):
        tool(Workspace(), {"path": str(tmp_path / "missing.csv"), "kind": "table"})


ROUTINE = ["disk quota checked for <*>", "session <*> renewed", "metrics pushed to <IP>", "backup of <*> started",
           "backup of <*> finished", "index <*> compacted", "lease <*> extended", "queue <*> drained",
           "certificate cache refreshed", "health probe <*> passed", "replica <*> in sync", "token cache pruned",
           "snapshot <*> written", "rotating log file <PATH>", "dns cache flushed", "peer <IP> joined"]


def test_latest_holdout_expects_the_drift_the_pool_shows(trained: ICADModel) -> None:
    # A log whose normal vocabulary keeps growing: every 20 windows a new routine template joins (and stays), and
    # fresh windows bring one more. Calibrated on random held-out windows — each template then also occurs
    # elsewhere in the pool — nothing in the calibration looks new, and every fresh window is flagged. Calibrated
    # on the newest third against the older part, the threshold has seen templates arrive, and the next routine
    # one is not an alarm. Table rows are not time-ordered: they keep random hold-outs.
    rng = np.random.default_rng(21)
    templates = NORMAL_TEMPLATES + ROUTINE
    pool = log_windows(300, rng)
    for j in range(1, 15):
        pool[20 * j:, j % 12] = len(NORMAL_TEMPLATES) + j - 1  # template j-1 of ROUTINE from window 20 j on
    fresh = pool[-100:].copy()
    fresh[:, 2] = len(templates) - 1  # the next routine template
    random = ICADDetector(model=trained, groups=2, holdout="random").fit_arrays("logs", pool, templates)
    latest = ICADDetector(model=trained, groups=2).fit_arrays("logs", pool, templates)
    assert latest.holdout_used == "latest" and "the newest 100 normal samples" in latest.threshold_rule()
    rate = {name: float(np.mean(d.score_arrays(fresh, templates) >= d.threshold))
            for name, d in (("random", random), ("latest", latest))}
    assert rate["random"] > 0.8 and rate["latest"] < 0.2, rate
    table = ICADDetector(model=trained, groups=2).fit_arrays("table", table_rows(120, rng))
    assert table.holdout_used == "random"
    with pytest.raises(DetectorError, match="unknown holdout"):
        ICADDetector(model=trained, holdout="newest")


def test_audit_gives_icad_each_lines_level(trained: ICADModel, tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    # The checkpoint learnt from template text that carries the line's level ("KERNEL FATAL …", "ERROR …"), but
    # the audit mines templates from the message alone. A message that always logs at INFO and once logs at ERROR
    # is the same template; icad must still see that line as something the normal pool never had.
    from detectors.icad import detector as icad_detector
    from detectors.pipeline import AuditOptions, audit

    monkeypatch.setitem(icad_detector._MODELS, str(SHIPPED.resolve()), trained)
    rng = np.random.default_rng(22)
    messages = ["worker 7 heartbeat ok", "request served in 12 ms", "cache hit for key k9", "user bob logged in",
                "user bob logged out", "flushing 40 records to disk", "gc pause 3 ms", "config reloaded"]
    lines = []
    for i in range(1200):
        level, msg = "INFO", messages[int(rng.integers(len(messages)))]
        if i in (1000, 1001, 1002):
            level, msg = "ERROR", "flushing 40 records to disk"  # a routine message, at an unusual level
        lines.append(f"2026-01-01T{i // 3600:02d}:{i // 60 % 60:02d}:{i % 60:02d}Z {level} {msg}")
    path = tmp_path / "app.log"
    path.write_text("\n".join(lines) + "\n")
    result = audit([str(path)], AuditOptions(detector="icad", fit_fraction=0.5, state_dir=None,
                                             detector_options={"groups": 2}))
    top = result.report.anomalies[0]
    assert top.level == "ERROR" and 1000 < top.line <= 1003
    assert any("ERROR" in e.summary and "unseen in the normal pool" in e.summary for e in top.evidence)
