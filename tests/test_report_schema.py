"""Issue 20: the report's JSON Schema is versioned, published in the package, up to date with the report's
dataclasses, and real reports (with the engine's incidents and the flagged-window list) validate against it."""

from __future__ import annotations

import copy
import json
from importlib import resources
from pathlib import Path

import pytest

from detectors.report import REPORT_VERSION
from detectors.schema import load_report_schema, report_schema, schema_path

jsonschema = pytest.importorskip("jsonschema", reason="jsonschema not installed (it comes with mcp); CI installs it")


def write_log(path: Path) -> Path:
    rows = []
    for i in range(600):
        m, s = divmod(i, 60)
        rows.append(f"2024-05-01T10:{m:02d}:{s:02d}Z web1 api[311]: INFO GET /orders/{i % 37} 200 in {20 + i % 7} ms")
    rows.append("2024-05-01T10:09:58Z web1 systemd[1]: Started deploy of api version 2.4.1")
    for i in range(40):
        rows.append(f"2024-05-01T10:10:{i:02d}Z web1 api[311]: ERROR db connection refused to 10.0.0.5:5432 "
                    f"(attempt {i})")
    path.write_text("\n".join(rows) + "\n")
    return path


def test_published_schema_is_in_the_package_and_up_to_date():
    published = resources.files("detectors").joinpath(f"schemas/report.v{REPORT_VERSION}.schema.json")
    assert published.is_file()
    # Within a version, fields may be added (readers ignore what they do not know) but none removed or renamed:
    # every property the published schema promises is still written, under the same name.
    current, promised = report_schema(), json.loads(published.read_text())
    objects = [("report", promised, current), *((name, d, current["$defs"].get(name, {}))
                                               for name, d in promised["$defs"].items())]
    gone = [f"{name}.{prop}" for name, old, new in objects for prop in old.get("properties", {})
            if prop not in new.get("properties", {})]
    assert not gone, (f"the report no longer writes {', '.join(gone)}, which {schema_path()} promises: that is a "
                      f"breaking change; raise REPORT_VERSION and run `python -m detectors.schema`")
    schema = load_report_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["properties"]["version"] == {"const": REPORT_VERSION}


def test_real_reports_validate(tmp_path):
    from detectors.pipeline import AuditOptions, audit
    from detectors.render import render_json

    log = write_log(tmp_path / "api.log")
    report = json.loads(render_json(audit([str(log)], AuditOptions()).report))  # what `--format json` prints
    assert report["incidents"]["incidents"], "the engine's incidents section should be filled for this log"
    assert report["windows"], "the flagged windows should be listed"
    validator = jsonschema.Draft202012Validator(load_report_schema())
    errors = sorted(validator.iter_errors(report), key=lambda e: list(e.path))
    assert not errors, [f"{list(e.path)}: {e.message}" for e in errors[:5]]

    broken = copy.deepcopy(report)
    del broken["totals"]
    broken["incidents"]["incidents"][0]["confidence"] = 3
    broken["version"] = REPORT_VERSION + 1
    messages = " ".join(e.message for e in validator.iter_errors(broken))
    assert "'totals' is a required property" in messages
    assert "is not valid under any of the given schemas" in messages  # the incidents section, its confidence
    assert f"{REPORT_VERSION} was expected" in messages
