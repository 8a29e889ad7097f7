"""The OpenAPI document of the LAN APIs, built from the app's own routes and models.

Every route the app serves appears, because the document is walked from the URL map. A route
says more with `@documented(...)`: its request and response bodies are JSON Schemas derived from
the attrs models the route validates with, or given by a model module whose JSON shape differs
from its classes.
"""

from __future__ import annotations

import datetime
import enum
import re
import types
import typing
from collections.abc import Callable
from typing import Any, TypeVar

import attrs
from quart import Quart

from edgebox import __version__

F = TypeVar("F", bound=Callable[..., Any])
Schema = dict[str, Any]
BodySpec = type | Schema | None

_PARAM = re.compile(r"<(?:(\w+):)?(\w+)>")


@attrs.frozen
class RouteDoc:
    summary: str
    body: BodySpec = None
    response: BodySpec = None
    status: int = 200
    errors: tuple[int, ...] = ()
    query: tuple[str | tuple[str, Schema], ...] = ()
    auth: bool = False
    content_type: str = "application/json"
    body_types: tuple[str, ...] = ("application/json",)


def documented(
    summary: str,
    *,
    body: BodySpec = None,
    response: BodySpec = None,
    status: int = 200,
    errors: tuple[int, ...] = (),
    query: tuple[str | tuple[str, Schema], ...] = (),
    auth: bool = False,
    content_type: str = "application/json",
    body_types: tuple[str, ...] = ("application/json",),
) -> Callable[[F], F]:
    """Attach what the OpenAPI document says about a route to its view function.

    `response` of an event stream (`content_type="text/event-stream"`) is the schema of each
    event's JSON `data`. `body_types` are the media types the one `body` schema is sent as.
    `query` names required query parameters, as a name (a string) or (name, schema).
    """

    def mark(view: F) -> F:
        view.__openapi__ = RouteDoc(  # type: ignore[attr-defined]
            summary, body, response, status, errors, query, auth, content_type, body_types
        )
        return view

    return mark


def event_stream_paths(app: Quart) -> frozenset[str]:
    """The paths whose GET answers with an event stream, as their routes document it."""
    paths = set()
    for rule in app.url_map.iter_rules():
        doc = getattr(app.view_functions[rule.endpoint], "__openapi__", None)
        if doc is not None and doc.content_type == "text/event-stream" and not rule.arguments:
            paths.add(rule.rule)
    return frozenset(paths)


class SchemaBuilder:
    """JSON Schema (2020-12, as OpenAPI 3.1 uses) of Python types and attrs classes."""

    def __init__(self) -> None:
        self.components: dict[str, Schema] = {}

    def of(self, tp: Any) -> Schema:
        if isinstance(tp, dict):
            return tp
        if isinstance(tp, str):
            raise TypeError(f"unresolved annotation {tp!r}")
        supertype = getattr(tp, "__supertype__", None)
        if supertype is not None:
            return self.of(supertype)
        origin = typing.get_origin(tp)
        args = typing.get_args(tp)
        if tp is type(None) or tp is None:
            return {"type": "null"}
        if tp is bool:
            return {"type": "boolean"}
        if tp is int:
            return {"type": "integer"}
        if tp is float:
            return {"type": "number"}
        if tp is str:
            return {"type": "string"}
        if tp is Any:
            return {}
        if tp in (datetime.datetime, datetime.date):
            return {"type": "string", "format": "date-time" if tp is datetime.datetime else "date"}
        if isinstance(tp, type) and issubclass(tp, enum.Enum):
            return {"enum": [m.value for m in tp]}
        if origin is typing.Literal:
            return {"enum": list(args)}
        if origin in (typing.Union, types.UnionType):
            return {"anyOf": [self.of(a) for a in args]}
        if origin in (list, set, frozenset) or (origin is tuple and args[-1:] == (Ellipsis,)):
            return {"type": "array", "items": self.of(args[0]) if args else {}}
        if origin is tuple:
            items = [self.of(a) for a in args]
            return {
                "type": "array",
                "prefixItems": items,
                "minItems": len(items),
                "maxItems": len(items),
            }
        if origin is dict:
            return {"type": "object", "additionalProperties": self.of(args[1]) if args else {}}
        if attrs.has(tp):
            return self._attrs_class(tp)
        raise TypeError(f"no JSON Schema for {tp!r}")

    def _attrs_class(self, cls: type) -> Schema:
        name = cls.__name__
        if name not in self.components:
            self.components[name] = {}  # placeholder so recursive models terminate
            hints = typing.get_type_hints(cls)
            properties: dict[str, Schema] = {}
            required = []
            for field in attrs.fields(cls):
                key = field.alias or field.name
                properties[key] = self.of(hints[field.name])
                if field.default is attrs.NOTHING:
                    required.append(key)
            schema: Schema = {"type": "object", "properties": properties}
            if required:
                schema["required"] = required
            if cls.__doc__:
                schema["description"] = cls.__doc__.strip().splitlines()[0]
            self.components[name] = schema
        return {"$ref": f"#/components/schemas/{name}"}


ERROR_SCHEMA: Schema = {
    "type": "object",
    "properties": {"error": {"type": "string"}, "field": {"type": "string"}},
    "required": ["error"],
}


def build(app: Quart, title: str = "edgebox LAN APIs") -> Schema:
    """The OpenAPI 3.1 document of every route `app` serves."""
    schemas = SchemaBuilder()
    paths: dict[str, dict[str, Any]] = {}
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static" or rule.websocket:
            continue
        view = app.view_functions[rule.endpoint]
        doc: RouteDoc = getattr(view, "__openapi__", RouteDoc(summary=rule.endpoint))
        path = _PARAM.sub(r"{\2}", rule.rule)
        parameters: list[Schema] = [
            {
                "name": name,
                "in": "path",
                "required": True,
                "schema": {"type": "integer" if conv == "int" else "string"},
            }
            for conv, name in _PARAM.findall(rule.rule)
        ]
        parameters += [
            {"name": name, "in": "query", "required": True, "schema": schema}
            for name, schema in (
                (q, {"type": "string"}) if isinstance(q, str) else q for q in doc.query
            )
        ]
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            operation: Schema = {
                "operationId": f"{rule.endpoint}.{method.lower()}",
                "summary": doc.summary,
                "tags": [rule.endpoint.split(".")[0]],
                "responses": _responses(schemas, doc),
            }
            if parameters:
                operation["parameters"] = parameters
            if doc.body is not None:
                body = schemas.of(doc.body)
                operation["requestBody"] = {
                    "required": True,
                    "content": {media: {"schema": body} for media in doc.body_types},
                }
            if doc.auth:
                operation["security"] = [{"adminToken": []}]
            paths.setdefault(path, {})[method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": __version__},
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": {"Error": ERROR_SCHEMA, **dict(sorted(schemas.components.items()))},
            "securitySchemes": {"adminToken": {"type": "http", "scheme": "bearer"}},
        },
    }


def sse_event(data: Schema | None = None) -> Schema:
    """One Server-Sent Event as OpenAPI 3.1 describes a stream: `data` holds JSON text."""
    payload: Schema = {"type": "string", "contentMediaType": "application/json"}
    if data is not None:
        payload["contentSchema"] = data
    return {
        "type": "object",
        "description": "one event of the stream; comments (keep-alives) are not events",
        "properties": {
            "event": {"type": "string"},
            "data": payload,
            "id": {"type": "string"},
            "retry": {"type": "integer"},
        },
        "required": ["data"],
    }


def _responses(schemas: SchemaBuilder, doc: RouteDoc) -> Schema:
    ok: Schema = {"description": "success"}
    if doc.content_type == "text/event-stream":
        data = None if doc.response is None else schemas.of(doc.response)
        ok["content"] = {doc.content_type: {"schema": sse_event(data)}}
    elif doc.response is not None:
        ok["content"] = {doc.content_type: {"schema": schemas.of(doc.response)}}
    elif doc.content_type != "application/json":
        ok["content"] = {doc.content_type: {"schema": {"type": "string"}}}
    error = {
        "description": "error",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }
    codes = set(doc.errors) | ({400, 413} if doc.body is not None else set())
    codes |= {401} if doc.auth else set()
    return {str(doc.status): ok} | {str(c): error for c in sorted(codes)}
