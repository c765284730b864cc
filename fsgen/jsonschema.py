"""JSON Schema (draft-07) of the flow language, generated from the same schema objects
the validator uses. Wire it into VS Code's YAML extension (see flows/README.md)."""

from __future__ import annotations

from typing import Any

from .schema import FLOW, NODE_TYPES


def flow_schema() -> dict[str, Any]:
    schema = FLOW.json()
    schema["properties"]["nodes"]["additionalProperties"] = {"$ref": "#/definitions/node"}
    defs: dict[str, Any] = {"node": NODE_TYPES and _node_dispatch()}
    for kind, record in NODE_TYPES.items():
        defs[kind] = record.json()
    return {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "$id": "https://hotline.invalid/schema/flow.json",
        "title": "hotline flow",
        "description": "A hotline call flow, compiled by fsgen to FreeSWITCH XML (see flows/README.md)",
        **schema,
        "definitions": defs,
    }


def _node_dispatch() -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["type"],
        "properties": {"type": {"enum": list(NODE_TYPES)}},
        "allOf": [{"if": {"properties": {"type": {"const": k}}}, "then": {"$ref": f"#/definitions/{k}"}}
                  for k in NODE_TYPES],
    }
