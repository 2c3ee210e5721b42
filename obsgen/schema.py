"""The spec's JSON Schema, exported from the pydantic models (published at specs/obsgen.schema.json).

Every description in it comes from the models (field descriptions and model docstrings), so an editor's
YAML language server explains each key on hover; tests/test_schema_docs.py keeps every one present.
"""

from __future__ import annotations

import json
from typing import Any

SCHEMA_ID = "https://obsgen.dev/schema/obsgen.schema.json"

# Fields a `mode="before"` validator fills in when the spec leaves them out: required by the model, optional
# to a person writing the spec (an SLI's type follows from its `events`, `expr` or `threshold`).
INFERRED = {"Sli": ("type",)}


def schema() -> dict[str, Any]:
    from .spec.models import Spec

    data = Spec.model_json_schema(by_alias=True, mode="validation")
    for model, fields in INFERRED.items():
        definition = data["$defs"][model]
        definition["required"] = [f for f in definition.get("required", []) if f not in fields]
        if not definition["required"]:
            del definition["required"]
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": SCHEMA_ID,
            "title": "obsgen spec", **{k: v for k, v in data.items() if k != "title"}}


def schema_text() -> str:
    return json.dumps(schema(), indent=2, sort_keys=True) + "\n"
