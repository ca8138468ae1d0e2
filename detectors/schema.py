"""The JSON Schema of the audit report, versioned with `REPORT_VERSION` and published in the package.

The schema is derived from the report's dataclasses (`detectors.report`, the incident engine's
`detectors.incidents.model` for the `incidents` section, `detectors.base.Evidence`), so it says exactly what
`sleuth audit --format json` writes: every field is present (null where the type allows), and objects may carry
more properties than listed (a reader written against version N keeps working when fields are added; a
breaking change raises `REPORT_VERSION` and publishes a new file).

The published file is `detectors/schemas/report.v{N}.schema.json`; `python -m detectors.schema` rewrites it
from the dataclasses (a test checks that it is up to date and that real reports validate against it).
"""

from __future__ import annotations

import dataclasses
import json
import sys
import types
import typing
from datetime import datetime
from pathlib import Path
from typing import Any, Union

from detectors.report import REPORT_VERSION, Report

__all__ = ["SCHEMA_DIR", "load_report_schema", "report_schema", "schema_path"]

SCHEMA_DIR = Path(__file__).with_name("schemas")


def schema_path(version: int = REPORT_VERSION) -> Path:
    """Where the schema of report version `version` is published."""
    return SCHEMA_DIR / f"report.v{version}.schema.json"


def load_report_schema(version: int = REPORT_VERSION) -> dict[str, Any]:
    """The published schema of report version `version`.

    Raises:
        FileNotFoundError: If this sleuth publishes no schema for that version.
    """
    return json.loads(schema_path(version).read_text(encoding="utf-8"))


def _type(tp: Any, defs: dict[str, Any], owner: type) -> dict[str, Any]:
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if tp is Any or tp is object:
        return {}
    if origin in (Union, types.UnionType):
        parts = [a for a in args if a is not type(None)]
        inner = [_type(a, defs, owner) for a in parts]
        if type(None) in args:
            inner.append({"type": "null"})
        return inner[0] if len(inner) == 1 else {"anyOf": inner}
    if origin in (list, tuple, set, frozenset) or tp in (list, tuple):
        return {"type": "array", "items": _type(args[0], defs, owner) if args else {}}
    if origin is dict or tp is dict:
        return {"type": "object", "additionalProperties": _type(args[1], defs, owner) if len(args) == 2 else {}}
    if dataclasses.is_dataclass(tp):
        _define(tp, defs)
        return {"$ref": f"#/$defs/{tp.__name__}"}
    if tp is bool:
        return {"type": "boolean"}
    if tp is int:
        return {"type": "integer"}
    if tp is float:
        return {"type": ["number", "null"]}  # NaN is written as null by the engine's to_dict
    if tp is str:
        return {"type": "string"}
    if tp is datetime:
        return {"type": "string", "format": "date-time"}
    raise TypeError(f"{owner.__name__}: no JSON schema for the type {tp!r}")


def _define(cls: type, defs: dict[str, Any], extra: dict[str, Any] | None = None) -> None:
    if cls.__name__ in defs:
        return
    defs[cls.__name__] = {}  # placeholder: recursive types
    hints = typing.get_type_hints(cls)
    props = {f.name: _type(hints[f.name], defs, cls) for f in dataclasses.fields(cls)}
    doc = (cls.__doc__ or "").strip().splitlines()
    props.update(extra or {})
    defs[cls.__name__] = {"type": "object", "description": doc[0] if doc else cls.__name__, "properties": props,
                          "required": sorted(props), "additionalProperties": True}


def report_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of the report this sleuth writes."""
    from detectors.incidents.model import Incident, Triage

    defs: dict[str, Any] = {}
    iso = {"type": ["string", "null"], "format": "date-time"}
    # Triage.to_dict adds ISO times next to the epoch fields
    _define(Incident, defs, {"onset_time": iso, "end_time": iso})
    _define(Triage, defs, {"start_time": iso, "end_time": iso})
    _define(Report, defs)
    top = dict(defs.pop("Report"))
    top["properties"] = dict(top["properties"])
    top["properties"]["incidents"] = {"anyOf": [{"$ref": "#/$defs/Triage"}, {"type": "null"}]}
    top["properties"]["version"] = {"const": REPORT_VERSION}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"urn:sleuth:report:v{REPORT_VERSION}",
        "title": f"sleuth audit report, version {REPORT_VERSION}",
        **top,
        "$defs": dict(sorted(defs.items())),
    }


def main() -> int:
    """Write the schema of the current report version to its published place."""
    path = schema_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report_schema(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
