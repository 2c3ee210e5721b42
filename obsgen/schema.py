"""The spec's JSON Schema, exported from the pydantic models (published at specs/obsgen.schema.json)."""

from __future__ import annotations

import json
from typing import Any

SCHEMA_ID = "https://obsgen.dev/schema/obsgen.schema.json"


def schema() -> dict[str, Any]:
    from .spec.models import Spec

    data = Spec.model_json_schema(by_alias=True, mode="validation")
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": SCHEMA_ID,
            "title": "obsgen spec", **{k: v for k, v in data.items() if k != "title"}}


def schema_text() -> str:
    return json.dumps(schema(), indent=2, sort_keys=True) + "\n"
