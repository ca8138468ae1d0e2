"""The `sleuth` command line: formats, exit codes, bad input messages."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.main import app
from lab.synth import generate_logs

runner = CliRunner()


@pytest.fixture(scope="module")
def incident(tmp_path_factory: pytest.TempPathFactory):
    return generate_logs(tmp_path_factory.mktemp("cli") / "incident.log", lines=6000, seed=5)


@pytest.fixture(autouse=True)
def _data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLEUTH_DATA_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("SLEUTH_EXPLAIN", "false")  # the model's explanation has its own tests (test_agent*)
    monkeypatch.setenv("HOME", str(tmp_path))  # no user config file leaks in


def test_audit_json_for_scripts_and_exit_code_1(incident) -> None:
    result = runner.invoke(app, ["audit", incident.path, "--format", "json"])
    assert result.exit_code == 1, result.output
    report = json.loads(result.stdout)
    assert report["version"] == 1 and report["anomalies"]
    assert report["anomalies"][0]["where"].startswith(incident.path + ":")


def test_fail_on_never_exits_0(incident) -> None:
    result = runner.invoke(app, ["audit", incident.path, "--fail-on", "never", "--format", "json"])
    assert result.exit_code == 0


def test_html_report_written_to_file(incident, tmp_path: Path) -> None:
    out = tmp_path / "r.html"
    result = runner.invoke(app, ["audit", incident.path, "--format", "html", "--out", str(out)])
    assert result.exit_code == 1
    html = out.read_text()
    assert html.lstrip().lower().startswith("<!doctype html") and "A1" in html


def test_detector_options_with_set(incident) -> None:
    # (without the incident engine: its incident fails the run by itself, whatever the detector's threshold)
    strict = runner.invoke(app, ["audit", incident.path, "--format", "json", "--set", "z_threshold=1000",
                                 "--no-incidents"])
    assert strict.exit_code == 0, strict.output  # nothing reaches a threshold that high
    assert json.loads(strict.stdout)["anomalies"] == []
    bad = runner.invoke(app, ["audit", incident.path, "--set", "z_treshold=1000"])
    assert bad.exit_code == 2 and "no option 'z_treshold'" in bad.output and "z_threshold" in bad.output
    malformed = runner.invoke(app, ["audit", incident.path, "--set", "z_threshold"])
    assert malformed.exit_code == 2 and "KEY=VALUE" in malformed.output


def test_fit_fraction_fits_on_the_earliest_windows(incident) -> None:
    result = runner.invoke(app, ["audit", incident.path, "--format", "json", "--fit-fraction", "0.5"])
    assert result.exit_code == 1, result.output
    report = json.loads(result.stdout)
    assert "earliest 50%" in report["fit"]
    # the injected incident is in the later half: its lines lead the ranking
    truth = set(incident.anomalous_lines)
    assert sum(a["line"] in truth for a in report["anomalies"][:5]) >= 3


def test_markdown_is_the_default(incident) -> None:
    result = runner.invoke(app, ["audit", incident.path, "--top", "3"])
    assert result.exit_code == 1
    assert "A1" in result.stdout and incident.path in result.stdout


def test_stdin_is_read_with_dash(incident) -> None:
    data = Path(incident.path).read_bytes()
    result = runner.invoke(app, ["audit", "-", "--format", "json", "--top", "2"], input=data)
    assert result.exit_code == 1, result.output
    assert json.loads(result.stdout)["anomalies"][0]["source"] == "-"


def test_bad_window_is_a_usage_error() -> None:
    result = runner.invoke(app, ["audit", "x.log", "--window", "hourly"])
    assert result.exit_code == 2
    assert "window" in result.output and "Traceback" not in result.output


def test_missing_file_is_named_and_run_goes_on(incident, tmp_path: Path) -> None:
    result = runner.invoke(app, ["audit", str(tmp_path / "nope.log"), incident.path, "--format", "json"])
    assert result.exit_code == 1
    assert "nope.log" in result.stderr
    assert json.loads(result.stdout)["skipped_by_reason"]


def test_nothing_readable_exits_2(tmp_path: Path) -> None:
    result = runner.invoke(app, ["audit", str(tmp_path / "nope.log")])
    assert result.exit_code == 2
    assert "nope.log" in result.output and "Traceback" not in result.output


def test_generate_writes_labels(tmp_path: Path) -> None:
    out = tmp_path / "gen.log"
    result = runner.invoke(app, ["generate", str(out), "--lines", "1500"])
    assert result.exit_code == 0, result.output
    assert out.exists() and json.loads(Path(str(out) + ".truth.json").read_text())["anomalous_lines"]


def test_generate_too_few_lines_is_a_usage_error(tmp_path: Path) -> None:
    result = runner.invoke(app, ["generate", str(tmp_path / "g.log"), "--lines", "500"])
    assert result.exit_code == 2 and "1000" in result.output


def test_model_down_still_writes_the_report(incident) -> None:
    """An unreachable LLM never costs the run or the explanation: verdicts are reported and the incident engine's
    deterministic explanation stands, with the reason the model's is missing."""
    result = runner.invoke(app, ["audit", incident.path, "--format", "json", "--top", "3",
                                 "--llm-url", "http://127.0.0.1:9/v1", "--model", "nope"], env={"SLEUTH_EXPLAIN": "true"})
    assert result.exit_code == 1, result.output
    report = json.loads(result.stdout)
    assert report["anomalies"]
    explanation = report["explanation"]
    assert explanation["status"] == "deterministic" and explanation["text"], explanation
    assert "127.0.0.1:9" in explanation.get("reason", ""), explanation


def test_a_failed_job_with_an_incident_and_no_anomaly_fails_the_audit(tmp_path: Path) -> None:
    """A short CI job's log read alone: too short for the detector's windows (no anomaly), but its run failed (an
    incident). Before, `sleuth audit job.log` exited 0 in a script, as if nothing were wrong."""
    job = tmp_path / "job.log"
    job.write_text("\n".join([
        "2024-03-05 10:00:00 | + pip install -r requirements.txt",
        "2024-03-05 10:00:04 | Successfully installed 12 packages",
        "2024-03-05 10:00:05 | + python -m pytest -q tests",
        "2024-03-05 10:00:09 | E       AssertionError: assert 41 == 42",
        "2024-03-05 10:00:09 | tests/test_cart.py:17: AssertionError",
        "2024-03-05 10:00:09 | FAILED tests/test_cart.py::test_checkout - AssertionError: assert 41 == 42",
        "2024-03-05 10:00:09 | ========================= 1 failed, 12 passed in 3.21s =========================",
        "2024-03-05 10:00:10 | ERROR: Job failed: exit code 1"]) + "\n")
    result = runner.invoke(app, ["audit", str(job), "--format", "json", "--llm", "none", "--no-state"])
    report = json.loads(result.stdout)
    assert not report["anomalies"] and report["incidents"]["incidents"], report
    assert result.exit_code == 1, result.output
    confidence = report["incidents"]["incidents"][0]["confidence"]
    stricter = {"low": "medium", "medium": "high"}.get(confidence)
    if stricter:  # an incident less confident than --fail-on asks does not fail the run
        assert runner.invoke(app, ["audit", str(job), "--format", "json", "--llm", "none", "--no-state",
                                   "--fail-on", stricter]).exit_code == 0
    assert runner.invoke(app, ["audit", str(job), "--llm", "none", "--no-state", "--fail-on", "never"]).exit_code == 0
