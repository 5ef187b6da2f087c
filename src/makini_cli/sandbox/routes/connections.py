"""Connection management (admin token): documented calls plus (ext) get, status and
metadata removal.

Path parameters are named as in Makini's reference (`{id}`: the connection's key).
Answers follow its schemas: creating answers the token pair (`ConnectionStore`), and
only with extensions the new `key` too (a documented-only client asks
`GET /api/integrations/current` with the new token); deleting answers 200 with a small
object; the metadata calls answer `ConnectionMetadata`, the connection with its
`user_metadata`."""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Request
from pydantic import BaseModel, ConfigDict, Field

from makini_cli.sandbox import connections as repo
from makini_cli.sandbox import schedules, syncs, tokens, transitions
from makini_cli.sandbox.errors import not_found, validation_failed
from makini_cli.sandbox.platforms import Platform, find_platform
from makini_cli.sandbox.routes.common import (
    AdminDep,
    ConnectionId,
    NowDep,
    RuntimeDep,
    list_parameters,
    page_of,
)

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
# `error` is an object: a client filters and sorts on its code.
FILTERABLE_FIELDS = (
    *(f for f in repo.CONNECTION_FIELDS if f not in ("user_metadata", "error")),
    "error.code",
)


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
    value: str = Field(max_length=10_000)


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
            items = repo.list_connections(conn, extensions=extensions)
        # Makini's reference declares no filter for this list: without extensions the
        # sandbox ignores them as Makini would (clients filter on their side).
        return page_of(
            request,
            items,
            fields=FILTERABLE_FIELDS,
            updated_field="updated_at",
            filters=extensions,
        )

    @router.post("", summary="Create a connection from system credentials")
    def create_connection(
        _: AdminDep, runtime: RuntimeDep, now: NowDep, body: CreateConnection
    ) -> dict[str, Any]:
        platform = _checked_platform(body)
        with runtime.store.transaction() as conn:
            key, status, pair = transitions.create_connection(
                conn,
                now,
                name=body.name.strip(),
                email=body.email.strip(),
                platform=platform,
                plan=runtime.settings.plan,
            )
            if status != "inactive":
                # Like Makini, a new connection starts its first (full) sync at once.
                syncs.start_sync(conn, now, key, trigger="initial")
                schedules.create_default(conn, key, now + schedules.DEFAULT_INTERVAL_MINUTES * 60)
        answer: dict[str, Any] = {
            "access_token": pair.access_token,
            "refresh_token": pair.refresh_token,
            # A string, as Makini's `ConnectionStore` types it (one revision of its token
            # endpoint sent it so too): the Unix time the access token expires.
            "expires_in": str(int(pair.access_expires_at)),
        }
        if extensions:
            answer["key"] = key
        return {"data": answer}

    if extensions:

        @router.get("/{id}", summary="Get one connection (ext)")
        def get_connection(_: AdminDep, runtime: RuntimeDep, key: ConnectionId) -> dict[str, Any]:
            with runtime.store.connection() as conn:
                return {"data": repo.get_connection(conn, key, extensions=True)}

    @router.delete("/{id}", summary="Delete (disconnect) a connection")
    def delete_connection(
        _: AdminDep, runtime: RuntimeDep, now: NowDep, key: ConnectionId
    ) -> dict[str, Any]:
        with runtime.store.transaction() as conn:
            transitions.delete_connection(conn, now, key)
        return {"data": {"key": key, "deleted": True}}

    @router.get(
        "/{id}/metadata",
        summary="A connection's metadata (ConnectionMetadata)",
        dependencies=[Depends(list_parameters)],
    )
    def list_metadata(
        _: AdminDep, runtime: RuntimeDep, request: Request, key: ConnectionId
    ) -> dict[str, Any]:
        with runtime.store.connection() as conn:
            items = [repo.metadata_view(conn, key)]
        return page_of(request, items, fields=repo.METADATA_VIEW_FIELDS, filters=False)

    @router.post("/{id}/metadata", summary="Set metadata entries (others are kept)")
    def set_metadata(
        _: AdminDep,
        runtime: RuntimeDep,
        now: NowDep,
        key: ConnectionId,
        items: Annotated[
            list[MetadataItem],
            Body(examples=[[{"key": "uc_first", "value": "UC Value"}]]),
        ],
    ) -> dict[str, Any]:
        with runtime.store.transaction() as conn:
            transitions.set_metadata(conn, now, key, [(item.key, item.value) for item in items])
            return {"data": repo.metadata_view(conn, key)}

    if extensions:

        @router.delete("/{id}/metadata/{name}", summary="Remove one metadata entry (ext)")
        def delete_metadata(
            _: AdminDep,
            runtime: RuntimeDep,
            now: NowDep,
            key: ConnectionId,
            name: str,
        ) -> dict[str, Any]:
            with runtime.store.transaction() as conn:
                if not transitions.remove_metadata(conn, now, key, name):
                    raise not_found(f"Metadata entry {name!r} of connection {key!r}")
                return {"data": repo.metadata_view(conn, key)}

    @router.post("/{id}/token", summary="Issue a connection token")
    def issue_connection_token(
        _: AdminDep, runtime: RuntimeDep, now: NowDep, key: ConnectionId
    ) -> dict[str, Any]:
        with runtime.store.transaction() as conn:
            repo.live_row(conn, key)
            token, ttl = tokens.issue_connection_token(conn, now, key)
        return {"data": {"token": token, "expires_in": int(ttl)}}

    if extensions:

        @router.get("/{id}/status", summary="Connection health and sync state (ext)")
        def get_status(
            _: AdminDep, runtime: RuntimeDep, now: NowDep, key: ConnectionId
        ) -> dict[str, Any]:
            with runtime.store.connection() as conn:
                return {"data": repo.connection_status(conn, now, key)}

    return router
