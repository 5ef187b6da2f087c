"""Connection management (admin token): documented calls plus (ext) get and status."""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from makini_cli.sandbox import connections as repo
from makini_cli.sandbox import schedules, syncs, tokens
from makini_cli.sandbox.errors import validation_failed
from makini_cli.sandbox.platforms import Platform, find_platform
from makini_cli.sandbox.routes.common import AdminDep, RuntimeDep, list_parameters, page_of

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
FILTERABLE_FIELDS = tuple(f for f in repo.CONNECTION_FIELDS if f != "user_metadata")
METADATA_FIELDS = ("key", "value", "created_at", "updated_at")


class CreateConnection(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "name": "Inextia",
                "email": "hey@makini.io",
                "provider": "inextia",
                "credentials": {
                    "api": "https://sample.inextia.dk",
                    "login": "login",
                    "password": "password",
                },
            }
        }
    )

    name: str = Field(max_length=255)
    email: str = Field(max_length=255)
    provider: str = Field(description="A platform key from GET /api/system/platforms.")
    credentials: dict[str, Any] = Field(
        description="What the platform needs: see `credentials` in its platform entry."
    )


class MetadataItem(BaseModel):
    key: str = Field(min_length=1, max_length=255)
    value: str | None = Field(description="null removes the entry.")


def _checked_platform(body: CreateConnection) -> Platform:
    """The platform to connect, once every field of `body` is known to be usable."""
    fields: dict[str, list[str]] = {}
    if not body.name.strip():
        fields["name"] = ["The name field is required."]
    if not _EMAIL.match(body.email.strip()):
        fields["email"] = ["The email must be a valid email address."]
    platform = find_platform(body.provider)
    if platform is None:
        fields["provider"] = [
            f"Unknown provider {body.provider!r}; see GET /api/system/platforms for the keys."
        ]
    else:
        for name in platform.credential_fields:
            value = body.credentials.get(name)
            if not isinstance(value, str) or not value.strip():
                fields[f"credentials.{name}"] = [f"{platform.name} needs credentials.{name}."]
    if fields or platform is None:
        raise validation_failed(fields)
    return platform


def build_router(*, extensions: bool) -> APIRouter:
    router = APIRouter(prefix="/api/system/connections", tags=["connections"])

    @router.get("", summary="List connections", dependencies=[Depends(list_parameters)])
    def list_connections(_: AdminDep, runtime: RuntimeDep, request: Request) -> dict[str, Any]:
        with runtime.store.connection() as conn:
            items = repo.list_connections(conn)
        return page_of(request, items, fields=FILTERABLE_FIELDS, updated_field="updated_at")

    @router.post("", summary="Create a connection from system credentials")
    def create_connection(
        _: AdminDep, runtime: RuntimeDep, body: CreateConnection
    ) -> dict[str, Any]:
        platform = _checked_platform(body)
        with runtime.store.transaction() as conn:
            key, pair = repo.create_connection(
                conn,
                runtime.now(),
                name=body.name.strip(),
                email=body.email.strip(),
                platform=platform,
            )
            # Like Makini, a new connection starts its first (full) sync at once.
            syncs.start_sync(conn, runtime.now(), key, trigger="initial")
            schedules.create_default(
                conn, key, runtime.now() + schedules.DEFAULT_INTERVAL_MINUTES * 60
            )
        return {
            "data": {
                "access_token": pair.access_token,
                "refresh_token": pair.refresh_token,
                "expires_in": int(pair.access_expires_at),
                "key": key,
            }
        }

    if extensions:

        @router.get("/{key}", summary="Get one connection (ext)")
        def get_connection(_: AdminDep, runtime: RuntimeDep, key: str) -> dict[str, Any]:
            with runtime.store.connection() as conn:
                return {"data": repo.get_connection(conn, key)}

    @router.delete(
        "/{key}",
        summary="Delete (disconnect) a connection",
        status_code=204,
        response_class=Response,
    )
    def delete_connection(_: AdminDep, runtime: RuntimeDep, key: str) -> Response:
        with runtime.store.transaction() as conn:
            repo.delete_connection(conn, runtime.now(), key)
        return Response(status_code=204)

    @router.get(
        "/{key}/metadata",
        summary="List a connection's metadata",
        dependencies=[Depends(list_parameters)],
    )
    def list_metadata(
        _: AdminDep, runtime: RuntimeDep, request: Request, key: str
    ) -> dict[str, Any]:
        with runtime.store.connection() as conn:
            items = repo.list_metadata(conn, key)
        return page_of(request, items, fields=METADATA_FIELDS, updated_field="updated_at")

    @router.post("/{key}/metadata", summary="Set metadata entries (null value removes one)")
    def set_metadata(
        _: AdminDep,
        runtime: RuntimeDep,
        key: str,
        items: Annotated[
            list[MetadataItem],
            Body(examples=[[{"key": "uc_first", "value": "UC Value"}]]),
        ],
    ) -> dict[str, Any]:
        with runtime.store.transaction() as conn:
            entries = repo.upsert_metadata(
                conn, runtime.now(), key, [(item.key, item.value) for item in items]
            )
        return {"data": entries}

    @router.post("/{key}/token", summary="Issue a connection token")
    def issue_connection_token(_: AdminDep, runtime: RuntimeDep, key: str) -> dict[str, Any]:
        with runtime.store.transaction() as conn:
            repo.get_connection(conn, key)
            token, ttl = tokens.issue_connection_token(conn, runtime.now(), key)
        return {"data": {"token": token, "expires_in": int(ttl)}}

    if extensions:

        @router.get("/{key}/status", summary="Connection health and sync state (ext)")
        def get_status(_: AdminDep, runtime: RuntimeDep, key: str) -> dict[str, Any]:
            with runtime.store.connection() as conn:
                return {"data": repo.connection_status(conn, runtime.now(), key)}

    return router
