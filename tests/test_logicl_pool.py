"""The LogICL pool shipped with sleuth (retrieval/shipped.py, lab/logicl_pool.py) and the vote's tuning on windows
(detectors/logicl_tune.py): used when the user has none, extended or replaced by the user's, tuned the way audits
judge (windows at their natural share of anomalies), with a held-out-system figure beside the tuned one."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from detectors.logicl import LogICLDetector
from detectors.logicl_tune import tune_vote
from retrieval.embed import HashEncoder
from retrieval.pool import Demo, InMemoryRetriever


def _system(name: str, n_lines: int = 60, bad_text: str = "ERROR: {name} disk failure fatal error on node {k}",
            ok_text: str = "INFO: {name} job {j} finished ok in <*> ms") -> list[Demo]:
    """A system's line demos and its windows of 20 lines (step 10), anomalous when a line is."""
    from retrieval.pool import session_text

    lines = []
    for i in range(n_lines):
        bad = i in (25, 26, 27, 45)
        text = (bad_text.format(name=name, k=i % 7) if bad else ok_text.format(name=name, j=i % 5))
        lines.append(Demo(f"{name}:{i}", text, "anomaly" if bad else "normal", name, f"{name}.log:{i + 1}"))
    windows = []
    for lo in range(0, n_lines - 19, 10):
        part = lines[lo:lo + 20]
        windows.append(Demo(f"{name}:w{lo}", session_text([d.text for d in part]),
                            "anomaly" if any(d.y for d in part) else "normal", name, part[0].source, "window"))
    return lines + windows


def test_tuning_judges_each_held_out_systems_windows_and_reports_a_held_out_figure() -> None:
    pool = InMemoryRetriever(HashEncoder(128), _system("alpha") + _system("beta") + _system("gamma"))
    tuning = tune_vote(pool)
    assert tuning.query_kind == "window" and tuning.systems == ["alpha", "beta", "gamma"]
    windows = sum(d.kind == "window" for d in pool.demos if d.system == "alpha")
    assert tuning.per_system["alpha"]["n"] == windows  # the windows were judged, not the lines
    # at their own share (4 of 5 windows here), not drawn half anomalous
    assert tuning.per_system["alpha"]["anomalies"] == sum(d.y for d in pool.demos if d.system == "alpha"
                                                          and d.kind == "window")
    assert 0.0 <= tuning.held_out_f1 <= tuning.mean_f1 + 1e-9 and tuning.mean_f1 > 0.8
    assert 0.0 <= tuning.flag_rate <= 1.0
    lines = tune_vote(pool, query_kind="line")
    assert lines.per_system["alpha"]["n"] == sum(d.kind == "line" for d in pool.demos if d.system == "alpha")


def test_file_demos_give_lines_and_windows_as_the_detector_builds_them(tmp_path: Path) -> None:
    from lab.logicl_pool import file_demos

    log = tmp_path / "app.log"
    log.write_text("".join(f"2026-03-05T03:{i // 60:02d}:{i % 60:02d}Z web-1 api[1]: "
                           + ("ERROR upstream connection refused\n" if i == 33 else f"INFO request {i} served\n")
                           for i in range(50)))
    demos = file_demos(log, "app", lambda a, b: int(a <= 34 <= b))
    lines = [d for d in demos if d.kind == "line"]
    windows = [d for d in demos if d.kind == "window"]
    assert len(lines) == 50 and sum(d.y for d in lines) == 1
    assert [d.source.rsplit(":", 1)[1] for d in windows] == ["1", "11", "21", "31"]
    assert [d.y for d in windows] == [0, 0, 1, 1]
    first = windows[2].text.split(" | ")[0]  # salient lines first, as audits do
    assert first.startswith("ERROR:") and "upstream connection refused" in first


@pytest.fixture
def shipped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A small shipped pool (hash vectors) in place of the package's, and an empty user data folder."""
    import retrieval.shipped as shipped_mod
    from lab.logicl_pool import write_pool

    demos = _system("alpha") + _system("beta")
    enc = HashEncoder(64)
    folder = tmp_path / "shipped"
    write_pool(folder, demos, enc.encode([d.text for d in demos]), enc.name, log=lambda _: None)
    monkeypatch.setattr(shipped_mod, "SHIPPED_DIR", folder)
    monkeypatch.setenv("SLEUTH_DATA_DIR", str(tmp_path / "data"))
    return folder


def test_the_shipped_pool_is_used_when_the_user_has_none(shipped: Path) -> None:
    import retrieval  # noqa: F401 - registers the opener, as the CLI, tools and agent do

    det = LogICLDetector(encoder="hash:64").fit([])
    assert det.engine.pool.version.startswith("shipped:") and len(det.engine.pool) > 0
    rule = det.threshold_rule()
    assert "shipped pool" in rule and "held-out systems" in rule
    v = det.engine.judge("ERROR: delta disk failure fatal error on node 3", use_llm=False)
    assert v.label == "anomaly"
    readme = (shipped / "README.md").read_text()
    assert "Apache-2.0" in readme and "Left out" in readme and "sleuth pool build-default" in readme
    with pytest.raises(PermissionError, match="read-only"):
        det.engine.pool.add([Demo("x", "y", "normal", "s", "f:1")])


def _pool_main(argv: list[str]) -> tuple[int, str]:
    from typer.testing import CliRunner

    from cli.main import app

    result = CliRunner().invoke(app, ["pool", *argv])
    return result.exit_code, result.output


def test_a_users_pool_extends_the_shipped_one_or_replaces_it(shipped: Path, tmp_path: Path) -> None:
    code, out = _pool_main(["show", "--encoder", "hash:64"])
    assert code == 0 and json.loads(out)["in_use"] == "shipped"
    log = tmp_path / "mine.log"
    log.write_text("".join(f"- 1117838{570 + i} 2005.06.03 N1 2005-06-03-15.42.{i % 60:02d}.675872 N1 RAS APP INFO "
                           f"job {i % 5} finished ok\n" for i in range(30)))
    code, out = _pool_main(["add", str(log), "--system", "mine", "--encoder", "hash:64"])
    assert code == 0, out
    code, out = _pool_main(["show", "--encoder", "hash:64"])
    shown: dict[str, Any] = json.loads(out)
    assert shown["in_use"] == "user+shipped" and "plus the shipped pool" in shown["description"]
    det = LogICLDetector(encoder="hash:64").fit([])
    systems = {d.system for d in det.engine.pool.demos}
    assert {"mine", "alpha", "beta"} <= systems
    code, out = _pool_main(["add", "--shipped", "replace", "--encoder", "hash:64"])
    assert code == 0, out
    code, out = _pool_main(["show", "--encoder", "hash:64"])
    assert json.loads(out)["in_use"] == "user"
    assert {d.system for d in LogICLDetector(encoder="hash:64").fit([]).engine.pool.demos} == {"mine"}


def test_a_missing_shipped_pool_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import retrieval.shipped as shipped_mod
    from detectors.base import DetectorError

    monkeypatch.setattr(shipped_mod, "SHIPPED_DIR", tmp_path / "nowhere")
    monkeypatch.setenv("SLEUTH_DATA_DIR", str(tmp_path / "data"))
    with pytest.raises(DetectorError, match="build-default"):
        LogICLDetector(encoder="hash:64").fit([])


def test_the_package_ships_a_small_pool_with_its_terms() -> None:
    from retrieval.shipped import SHIPPED_DIR, shipped_info

    info = shipped_info()
    size = sum(p.stat().st_size for p in SHIPPED_DIR.iterdir())
    assert size < 8_000_000 and info["demos"] > 100
    assert set(info["sources"]) == {"logreduce", "generated"}
    assert any("Loghub" in x["source"] for x in info["left_out"])
    with np.load(SHIPPED_DIR / "vectors.npz") as z:
        assert z["vectors"].shape == (info["demos"], info["dim"])


def test_a_logs_recurring_lines_vote_as_its_normal_background_and_a_rare_failure_still_stands_out() -> None:
    # A cross-system pool knows failures elsewhere, not what this log always says: a failure-looking line present in
    # every window of the audited log is its background (the context), the same kind of line once is not.
    from detectors.logicl import LogICL, LogICLSettings

    pool = InMemoryRetriever(HashEncoder(256), _system("alpha") + _system("beta"))
    routine = "ERROR: gamma disk failure fatal error on node 1"
    rare = "ERROR: gamma disk failure fatal error on node 5"
    units = [[routine, f"INFO: gamma job {i % 5} finished ok in <*> ms"] for i in range(40)]
    engine = LogICL(pool, settings=LogICLSettings(min_sim=0.0))
    before = engine.judge_many([routine, rare], use_llm=False)
    assert [v.label for v in before] == ["anomaly", "anomaly"]
    assert engine.set_context(units) == 1 + 5  # the routine line and the five job lines recur; nothing else
    after = engine.judge_many([routine, rare], use_llm=False)
    assert after[0].label == "normal" and after[0].neighbours[0].demo.system == "this log"
    assert after[1].label == "anomaly"
    # No background: the routine line is known (logged before) but logged at ERROR level, so it is judged all the
    # same (`judge_known_errors`); without that rule it is known and not judged.
    assert engine.set_context(units, share=0) == 0 and engine.known_errors == 1
    assert engine.judge(routine, use_llm=False).label == "anomaly" and engine.judge(rare, use_llm=False).label == "anomaly"
    quiet = LogICL(pool, settings=LogICLSettings(min_sim=0.0, judge_known_errors=False))
    assert quiet.set_context(units, share=0) == 0 and quiet.judge(routine, use_llm=False).label == "normal"
    bare = LogICL(pool, settings=LogICLSettings(min_sim=0.0, known_lines=False))
    assert bare.set_context(units, share=0) == 0 and bare.judge(routine, use_llm=False).label == "anomaly"


def test_a_line_the_fit_part_already_logged_is_known_and_only_new_lines_are_judged() -> None:
    # A healthy log's odd-looking line, logged once in its earlier (fit) part, is not news when it comes again: rare
    # there, it is no recurring background, yet it is this log's own behaviour. A failure line the fit part never
    # logged is judged by the pool as before. (The odd line is a warning: one logged at ERROR level is judged all the
    # same, see the next test.)
    from detectors.logicl import LogICL, LogICLSettings

    pool = InMemoryRetriever(HashEncoder(256), _system("alpha") + _system("beta"))
    odd = "WARN: gamma disk failure fatal error on node 1"
    new = "ERROR: gamma disk failure fatal error on node 5"
    units = [[f"INFO: gamma job {i % 5} finished ok in <*> ms"] for i in range(40)]
    units[7].append(odd)  # once: below the recurring share, so not context
    later = [[units[0][0], odd], [units[0][0], new]]
    engine = LogICL(pool, settings=LogICLSettings(min_sim=0.0))
    assert engine.set_context(units) == 5 and engine.known_lines == 6
    seen, fresh = engine.judge_many(["later 1", "later 2"], later, use_llm=False)
    assert seen.label == "normal" and seen.vote == 0.0 and "already logged" in seen.neighbours[0].demo.source
    assert fresh.label == "anomaly" and fresh.focus == new
    assert engine.judge(odd, use_llm=False).label == "normal"  # a bare text too
    off = LogICL(pool, settings=LogICLSettings(min_sim=0.0, plain_min_sim=0.0, known_lines=False))
    off.set_context(units)
    assert off.known_lines == 0 and off.judge_many(["later 1"], later[:1], use_llm=False)[0].label == "anomaly"


def test_a_known_line_at_error_level_is_judged_all_the_same() -> None:
    # A failure that recurs through the log (the same ERROR line in its earlier, fit part and in the part judged)
    # is no habit: the pool judges it. A known warning of the same words stays unjudged. Before, both were known and
    # voted 0 ("already logged"), so a recurring failure was never flagged (OpenStack split at random: F1 0.000).
    from detectors.logicl import LogICL, LogICLSettings

    pool = InMemoryRetriever(HashEncoder(256), _system("alpha") + _system("beta"))
    error = "ERROR: gamma disk failure fatal error on node 1"
    warning = "WARN: gamma disk failure fatal error on node 1"
    units = [[f"INFO: gamma job {i % 5} finished ok in <*> ms"] for i in range(40)]
    units[3].append(error)
    units[9].append(warning)
    engine = LogICL(pool, settings=LogICLSettings(min_sim=0.0, plain_min_sim=0.0))
    assert engine.set_context(units) == 5 and engine.known_lines == 6 and engine.known_errors == 1
    assert not engine.is_known(error) and engine.is_known(warning)
    got = engine.judge_many(["w1", "w2"], [[units[0][0], error], [units[0][0], warning]], use_llm=False)
    assert got[0].label == "anomaly" and got[0].focus == error
    assert got[1].label == "normal" and got[1].vote == 0.0
    old = LogICL(pool, settings=LogICLSettings(min_sim=0.0, plain_min_sim=0.0, judge_known_errors=False))
    old.set_context(units)
    assert old.judge_many(["w1"], [[units[0][0], error]], use_llm=False)[0].label == "normal"


def test_a_new_line_below_error_level_must_beat_how_close_the_pools_failures_came_to_known_lines() -> None:
    # The fit part's odd warning resembles the pool's disk failures closely; the pool would call it an anomaly. That
    # is what the pool's failures look like next to this log's own lines: a later warning that resembles them less
    # is not voted anomalous on that evidence (the label-free calibration); an ERROR line as far from them still is.
    from detectors.logicl import LogICL, LogICLSettings

    enc = HashEncoder(256)
    pool = InMemoryRetriever(enc, _system("alpha") + _system("beta"))
    odd = "WARN: gamma disk failure fatal error on node 1"
    later_warn = "WARN: gamma disk failure seen"
    later_error = "ERROR: gamma disk failure seen"
    failures = enc.encode([d.text for d in pool.demos if d.y])
    closest = (enc.encode([odd, later_warn, later_error]) @ failures.T).max(axis=1)
    assert closest[0] > closest[1] > 0 and closest[0] > closest[2] > 0  # the premise: the new lines are further off
    units = [[f"INFO: gamma job {i % 5} finished ok in <*> ms"] for i in range(40)]
    units[9].append(odd)
    settings = {"min_sim": 0.0, "plain_min_sim": 0.0}
    engine = LogICL(pool, settings=LogICLSettings(fit_floor=True, **settings))
    engine.set_context(units)
    assert engine.fit_floor == pytest.approx(float(closest[0]), abs=1e-5)
    warn, error = engine.judge_many(["a", "b"], [[units[0][0], later_warn], [units[0][0], later_error]], use_llm=False)
    assert warn.label == "normal" and error.label == "anomaly" and error.focus == later_error
    loose = LogICL(pool, settings=LogICLSettings(**settings))  # the default: no calibrated floor
    loose.set_context(units)
    assert loose.fit_floor is None
    assert loose.judge_many(["a"], [[units[0][0], later_warn]], use_llm=False)[0].label == "anomaly"


def test_the_tuning_leaves_a_held_out_systems_whole_family_out() -> None:
    # gen-a and gen-b are one generator's siblings (the same lines): judged with its sibling in the pool, gen-a would
    # look perfectly predictable; an audit of a new system has no sibling, so neither does the fold.
    other = _system("other", bad_text="FATAL: {name} kernel panic in module {k}",
                    ok_text="DEBUG: {name} heartbeat {j} received")  # not gen-a's words: only a sibling matches it
    pool = InMemoryRetriever(HashEncoder(256), [
        Demo(d.id.replace("gen-a", sys_name), d.text, d.label, sys_name, d.source, d.kind, d.templates)
        for sys_name in ("gen-a", "gen-b") for d in _system("gen-a")] + other)
    tuning = tune_vote(pool)
    assert set(tuning.systems) == {"gen-a", "gen-b", "other"}
    assert tuning.per_system["gen-a"]["f1"] < 1.0  # not judged by its identical sibling


def test_a_line_is_voted_by_line_demonstrations_not_by_a_window_that_shares_its_words() -> None:
    # An SSH brute-force window is anomalous as a whole; a lone line of another system close to it shares its words
    # ('user hadoop from <IP> port <NUM>'), not its failure. On Loghub's Hadoop sample a task's FATAL NoRouteToHost
    # was voted by such a window (similarity 0.50, through the user name 'hadoop'), and the report showed it as the
    # evidence. A line is voted by the pool's line demos (`line_demos`); a pool with none votes with what it has.
    from detectors.logicl import LogICL, LogICLSettings
    from retrieval.pool import session_text

    brute = ["Invalid user hadoop from <IP> port <NUM>", "Invalid user steam from <IP> port <NUM>",
             "Failed password for invalid user hadoop from <IP> port <NUM> ssh2"]
    calm = ["Accepted publickey for deploy from <IP> port <NUM> ssh2",
            "pam_unix(sshd:session): session opened for user deploy"]
    windows = [Demo("ssh:w1", session_text(brute), "anomaly", "sshd", "auth.log:1", "window", brute),
               Demo("ssh:w2", session_text(calm), "normal", "sshd", "auth.log:40", "window", calm)]
    lines = [Demo("app:1", "ERROR: connection to database refused: no route to host", "anomaly", "app", "app.log:3"),
             Demo("app:2", "FATAL: worker process died: unhandled exception", "anomaly", "app", "app.log:9"),
             Demo("app:3", "INFO: job wordcount finished for user deploy", "normal", "app", "app.log:1"),
             Demo("app:4", "INFO: container started on node <NUM> for user deploy", "normal", "app", "app.log:2")]
    pool = InMemoryRetriever(HashEncoder(512), windows + lines)
    line = "INFO: container started for user hadoop from <IP> port <NUM>"
    sims = pool.encoder.encode([line]) @ pool.vectors().T
    assert int(np.argmax(sims[0])) == 0 and sims[0, 0] > 0.6  # the premise: the window is its closest demo
    vote: dict[str, Any] = {"k_vote": 3, "tau": 0.05, "min_sim": 0.4, "balance": False}
    window = [line, "INFO: job wordcount finished for user deploy"]
    for line_demos, label in ((True, "normal"), (False, "anomaly")):
        engine = LogICL(pool, settings=LogICLSettings(line_demos=line_demos, **vote))
        in_window = engine.judge_many(["w"], [window], use_llm=False)[0]
        alone = engine.judge(line, [line], use_llm=False)
        for v in (in_window, alone):
            assert v.label == label, (line_demos, v.neighbours)
            assert all(r.demo.kind == "line" for r in v.neighbours) == line_demos
    # A pool of windows only (e.g. sessions a user added): they vote, as before.
    only_windows = LogICL(InMemoryRetriever(HashEncoder(512), windows), settings=LogICLSettings(**vote))
    assert only_windows.judge_many(["w"], [window], use_llm=False)[0].label == "anomaly"


def test_the_quiet_check_names_the_lines_behind_its_flagged_windows(shipped: Path, tmp_path: Path) -> None:
    # Windows of 20 lines step 10 hold each line twice: two failure lines make three or four flagged windows. The
    # bench's quiet check says which lines decided them, so a reader can tell one failure counted twice from many.
    from lab.logicl_bench import format_table, loghub_quiet

    folder = tmp_path / "shared" / "loghub_2k" / "Tiny"
    folder.mkdir(parents=True)
    lines = [f"2024-01-01 00:{i // 60:02d}:{i % 60:02d} INFO worker: gamma job {i % 5} finished ok in {i} ms"
             for i in range(80)]
    for n in (53, 68):
        lines[n - 1] = f"2024-01-01 00:{(n - 1) // 60:02d}:{(n - 1) % 60:02d} ERROR worker: gamma disk failure fatal error"
    (folder / "Tiny_2k.log").write_text("\n".join(lines) + "\n")
    # The toy pool's folds score every grid point F1 1.0: set the vote here rather than take the tie's winner.
    vote = json.loads((shipped / "vote.json").read_text())
    (shipped / "vote.json").write_text(json.dumps(vote | {"settings": {"k_vote": 3, "tau": 0.05, "balance": True,
                                                                       "min_sim": 0.4}}))
    quiet = loghub_quiet(tmp_path / "shared", log=lambda _: None)
    assert quiet["Tiny"]["flagged"] >= 3 and quiet["Tiny"]["focus_lines"] == [53, 68]
    table = format_table({"rows": [], "loghub": quiet})
    assert "| Tiny | 7 | " in table and "| 53, 68 |" in table


ONE_POINT = {"k_vote": (3,), "tau": (0.05,), "balance": (False,), "min_sim": (0.4,)}  # the shipped pool's settings


def test_a_held_out_systems_own_failure_lines_are_not_its_normal_background(monkeypatch: pytest.MonkeyPatch) -> None:
    # The pool keeps a system's anomalies first (a third of its windows; here 4 of 5), so its failure lines recur in
    # its windows. The folds took the lines recurring in all of them as its normal background (context, voting
    # normal at twice a demo's weight), so every failure voted itself normal: on the shipped pool every anomalous
    # line demo of generated-app, -backend, -nginx_error and logreduce-mock-01 was context in its own fold. The
    # background is now its normal windows' lines, as an audit's fit part shows them.
    import detectors.logicl_tune as tune

    monkeypatch.setattr(tune, "VOTE_GRID", ONE_POINT)
    pool = InMemoryRetriever(HashEncoder(256), _system("alpha") + _system("beta"))
    tuning = tune_vote(pool)
    assert tuning.per_system["alpha"]["anomalies"] == 4
    assert tuning.per_system["alpha"]["f1"] > 0.5 and tuning.per_system["beta"]["f1"] > 0.5


def test_the_folds_hold_a_line_below_error_level_to_plain_min_sim_as_the_audit_does(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # The audit votes a line below ERROR level only from demos `plain_min_sim` close (LogICL._line_floor); the folds
    # did not, so they flagged what the audit would not (the shipped settings flagged 12.7 % of the held-out healthy
    # windows in the folds, 0.3 % of the 13 Loghub samples' windows in audits).
    import detectors.logicl_tune as tune
    from detectors.logicl import LogICLSettings

    monkeypatch.setattr(tune, "VOTE_GRID", ONE_POINT)
    warn = "WARN: {name} disk failure fatal error on node {k}"
    pool = InMemoryRetriever(HashEncoder(256), _system("alpha", bad_text=warn) + _system("beta", bad_text=warn))
    assert tune_vote(pool, base=LogICLSettings(plain_min_sim=0.0)).per_system["alpha"]["f1"] > 0.5
    strict = tune_vote(pool, base=LogICLSettings(plain_min_sim=0.99))  # no cross-system demo is that close
    assert strict.per_system["alpha"]["f1"] == 0.0
    errors = InMemoryRetriever(HashEncoder(256), _system("alpha") + _system("beta"))  # ERROR lines: min_sim only
    assert tune_vote(errors, base=LogICLSettings(plain_min_sim=0.99)).per_system["alpha"]["f1"] > 0.5


def test_the_choice_pools_the_folds_windows_so_a_one_window_system_cannot_veto_it(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # logreduce-basic-01 holds one healthy window: averaged over systems, flagging it was a 10 % flag rate on the
    # shipped pool (five times the 2 % bar) and vetoed every point that caught anything; pooled, it is 1 window of 300.
    import detectors.logicl_tune as tune
    from detectors.logicl import LogICLSettings

    monkeypatch.setattr(tune, "VOTE_GRID", {"k_vote": (1, 3), "tau": (0.05,), "balance": (False,), "min_sim": (0.4,)})
    y_big = np.array([1] * 20 + [0] * 300)
    folds = [("big", y_big, np.ones(len(y_big), bool) & (y_big == 0)),
             ("tiny", np.array([1, 0]), np.array([False, True]))]

    def predict(fold: tuple[Any, ...], opts: dict[str, Any]) -> np.ndarray:
        if opts["k_vote"] == 1:  # catches every failure, and flags the tiny system's healthy window
            return np.array([1, 1]) if fold[0] == "tiny" else fold[1].copy()
        return np.zeros(len(fold[1]), np.int64)  # flags nothing

    tuning = tune._choose(folds, predict, LogICLSettings(), 0.02, "window")
    assert tuning.settings["k_vote"] == 1
    assert tuning.flag_rate == pytest.approx(1 / 301) and tuning.mean_f1 == pytest.approx(2 * 21 / (2 * 21 + 1))
    assert tuning.per_system["tiny"]["flag_rate"] == 1.0
