"""Webhooks and their deliveries (ext, admin token); see `sandbox/webhooks.py`,
`outbox.py` and `delivery.py`.

`test` and `retry` answer 202 with the delivery they queued: it is sent moments later,
by the sender, not within the request. Served only with extensions.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field

from makini_cli.sandbox import outbox
from makini_cli.sandbox import webhooks as repo
from makini_cli.sandbox.delivery import Sender
from makini_cli.sandbox.routes.common import AdminDep, RuntimeDep, list_parameters, page_of

_URL_FIELD = Field(
    max_length=repo.MAX_URL_LENGTH,
    description="Where to POST: http or https (loopback and private addresses allowed).",
    examples=["https://example.com/makini/webhooks"],
)
# One SQL parameter each when checked; older SQLite builds allow 999.
MAX_CONNECTION_KEYS = 500
_EVENTS_DESCRIPTION = "Event names to receive; empty: every event."
_KEYS_DESCRIPTION = "Connection keys whose events to receive; empty: every connection."


class CreateWebhook(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "example": {"url": "http://127.0.0.1:9000/hooks", "events": ["sync.completed"]}
        }
    )

    url: str = _URL_FIELD
    events: list[str] = Field(default_factory=list, max_length=100, description=_EVENTS_DESCRIPTION)
    connection_keys: list[str] = Field(
        default_factory=list, max_length=MAX_CONNECTION_KEYS, description=_KEYS_DESCRIPTION
    )
    enabled: bool = True


class UpdateWebhook(BaseModel):
    url: str | None = Field(default=None, max_length=repo.MAX_URL_LENGTH)
    events: list[str] | None = Field(default=None, max_length=100, description=_EVENTS_DESCRIPTION)
    connection_keys: list[str] | None = Field(
        default=None, max_length=MAX_CONNECTION_KEYS, description=_KEYS_DESCRIPTION
    )
    enabled: bool | None = None


class WebhookTest(BaseModel):
    event: str = Field(default="ping", description="The event to send as a test.")


def _wake(request: Request) -> None:
    sender: Sender | None = getattr(request.app.state, "sender", None)
    if sender is not None:
        sender.wake()


def build_router() -> APIRouter:
    router = APIRouter(prefix="/api/system", tags=["webhooks"])

    @router.get("/webhooks", summary="List webhooks (ext)", dependencies=[Depends(list_parameters)])
    def list_webhooks(_: AdminDep, runtime: RuntimeDep, request: Request) -> dict[str, Any]:
        with runtime.store.connection() as conn:
            items = repo.list_webhooks(conn)
        return page_of(request, items, fields=repo.WEBHOOK_FIELDS, updated_field="updated_at")

    @router.post(
        "/webhooks", summary="Create a webhook; its secret is shown once (ext)", status_code=201
    )
    def create_webhook(_: AdminDep, runtime: RuntimeDep, body: CreateWebhook) -> dict[str, Any]:
        with runtime.store.transaction() as conn:
            webhook = repo.create(
                conn,
                runtime.now(),
                url=body.url,
                events=body.events,
                connection_keys=body.connection_keys,
                enabled=body.enabled,
            )
        return {"data": webhook}

    @router.get("/webhooks/{webhook_id}", summary="Get one webhook (ext)")
    def get_webhook(_: AdminDep, runtime: RuntimeDep, webhook_id: str) -> dict[str, Any]:
        with runtime.store.connection() as conn:
            return {"data": repo.get(conn, webhook_id)}

    @router.patch("/webhooks/{webhook_id}", summary="Change a webhook (ext)")
    def update_webhook(
        _: AdminDep, runtime: RuntimeDep, request: Request, webhook_id: str, body: UpdateWebhook
    ) -> dict[str, Any]:
        with runtime.store.transaction() as conn:
            webhook = repo.update(
                conn,
                runtime.now(),
                webhook_id,
                url=body.url,
                events=body.events,
                connection_keys=body.connection_keys,
                enabled=body.enabled,
            )
        if body.enabled:
            _wake(request)  # what waited while it was disabled is due now
        return {"data": webhook}

    @router.delete("/webhooks/{webhook_id}", summary="Delete a webhook (ext)")
    def delete_webhook(_: AdminDep, runtime: RuntimeDep, webhook_id: str) -> dict[str, Any]:
        with runtime.store.transaction() as conn:
            repo.delete(conn, runtime.now(), webhook_id)
        return {"data": {"id": webhook_id, "deleted": True}}

    @router.post(
        "/webhooks/{webhook_id}/rotate-secret",
        summary="Give a webhook a new secret, shown once (ext)",
    )
    def rotate_secret(_: AdminDep, runtime: RuntimeDep, webhook_id: str) -> dict[str, Any]:
        with runtime.store.transaction() as conn:
            return {"data": repo.rotate_secret(conn, runtime.now(), webhook_id)}

    @router.post(
        "/webhooks/{webhook_id}/test",
        summary="Send a test event (default ping) to this webhook alone (ext)",
        status_code=202,
    )
    def test_webhook(
        _: AdminDep,
        runtime: RuntimeDep,
        request: Request,
        webhook_id: str,
        body: WebhookTest | None = None,
    ) -> dict[str, Any]:
        event = (body or WebhookTest()).event
        with runtime.store.transaction() as conn:
            delivery = repo.send_test(conn, runtime.now(), webhook_id, event)
        _wake(request)
        return {"data": delivery}

    @router.get(
        "/webhooks/{webhook_id}/deliveries",
        summary="A webhook's deliveries, newest first (ext)",
        dependencies=[Depends(list_parameters)],
    )
    def list_deliveries(
        _: AdminDep, runtime: RuntimeDep, request: Request, webhook_id: str
    ) -> dict[str, Any]:
        with runtime.store.connection() as conn:
            repo.live_row(conn, webhook_id)
            items = outbox.list_deliveries(conn, webhook_id)
        return page_of(request, items, fields=outbox.DELIVERY_FIELDS)

    @router.get("/deliveries/{delivery_id}", summary="Get one delivery (ext)")
    def get_delivery(_: AdminDep, runtime: RuntimeDep, delivery_id: str) -> dict[str, Any]:
        with runtime.store.connection() as conn:
            return {"data": outbox.get_delivery(conn, delivery_id)}

    @router.post(
        "/deliveries/{delivery_id}/retry",
        summary="Attempt a delivery again now (ext)",
        status_code=202,
    )
    def retry_delivery(
        _: AdminDep, runtime: RuntimeDep, request: Request, delivery_id: str
    ) -> dict[str, Any]:
        with runtime.store.transaction() as conn:
            # A deleted webhook's deliveries cannot be sent again: 404 names it.
            repo.live_row(conn, outbox.delivery_row(conn, delivery_id)["webhook_id"])
            delivery = outbox.retry(conn, runtime.now(), delivery_id)
        _wake(request)
        return {"data": delivery}

    return router
