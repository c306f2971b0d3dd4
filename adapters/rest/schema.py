"""OpenAPI helpers for routes that parse their own bodies (to keep a protocol's exact error rules).

Such routes document their body with `json_body(Model)`; `build_openapi` adds every model named
that way to `components.schemas`, next to what FastAPI generates from signatures.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel, TypeAdapter

REF = "#/components/schemas/{model}"
_extra: dict[str, dict[str, Any]] = {}


def _register(name: str, schema: dict[str, Any]) -> None:
    for def_name, definition in schema.pop("$defs", {}).items():
        _extra.setdefault(def_name, definition)
    _extra[name] = schema


def json_body(
    model: type[BaseModel] | tuple[str, TypeAdapter[Any]], *, required: bool = True
) -> dict[str, Any]:
    """`openapi_extra` for a route reading a JSON body of this model (or named TypeAdapter)."""
    if isinstance(model, tuple):
        name, adapter = model
        schema = adapter.json_schema(ref_template=REF)
    else:
        name, schema = model.__name__, model.model_json_schema(ref_template=REF)
    _register(name, schema)
    ref = {"$ref": REF.format(model=name)}
    return {"requestBody": {"required": required, "content": {"application/json": {"schema": ref}}}}


def build_openapi(app: FastAPI, *, title: str, version: str, description: str) -> dict[str, Any]:
    document = get_openapi(
        title=title, version=version, description=description, routes=app.routes, openapi_version="3.1.0"
    )
    components = document.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    for name, schema in sorted(_extra.items()):
        schemas.setdefault(name, schema)
    components["schemas"] = dict(sorted(schemas.items()))
    components["securitySchemes"] = {
        "bearer": {
            "type": "http",
            "scheme": "bearer",
            "description": "A tenant's API key. Without it, the anonymous tenant (when configured).",
        }
    }
    document["security"] = [{"bearer": []}, {}]
    return document
