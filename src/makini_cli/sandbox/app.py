"""`create_app`: the sandbox as a FastAPI application.

All errors, including FastAPI's and Starlette's own (unknown route, wrong method,
validation, malformed JSON), are answered with the contract's error envelope; bad
input never causes a 500.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from makini_cli import __version__
from makini_cli.sandbox import delivery, openapi_doc, records, scheduler
from makini_cli.sandbox.clock import SandboxClock
from makini_cli.sandbox.errors import ApiError, default_code, envelope
from makini_cli.sandbox.hosts import host_policy
from makini_cli.sandbox.middleware import Activity, SandboxMiddleware, request_id_of
from makini_cli.sandbox.routes import (
    auth,
    connections,
    control,
    custom_fields,
    data,
    events,
    integrations,
    raw,
    syncs,
    system,
    webhooks,
)
from makini_cli.sandbox.runtime import Runtime
from makini_cli.sandbox.settings import SandboxSettings

logger = logging.getLogger("makini_cli.sandbox")

SCHEDULER_WAKE_SECONDS = 1.0


def _error_response(
    request: Request,
    status: int,
    code: str,
    message: str,
    details: dict[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    return JSONResponse(
        envelope(code, message, request_id_of(request.scope), details),
        status_code=status,
        headers=headers,
    )


def _field_name(loc: Sequence[Any]) -> str:
    # ("body", "credentials", "api") → "credentials.api"; ("query", "per_page") → "per_page"
    parts = [str(part) for part in loc]
    if len(parts) > 1 and parts[0] in ("body", "query", "path", "header"):
        parts = parts[1:]
    return ".".join(parts) or "body"


async def _on_api_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return _error_response(request, exc.status, exc.code, exc.message, exc.details, exc.headers)


async def _on_http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    status = exc.status_code
    if status == 404:
        message = f"No such resource: {request.method} {request.url.path}."
    elif status == 405:
        message = f"{request.method} is not allowed on {request.url.path}."
        headers = {**(exc.headers or {}), "Allow": _allowed_methods(request)}
        return _error_response(request, status, default_code(status), message, headers=headers)
    else:
        message = str(exc.detail)
    return _error_response(request, status, default_code(status), message, headers=exc.headers)


def _allowed_methods(request: Request) -> str:
    # Starlette names only the first route whose path matched; ask every route instead.
    allowed = []
    for method in ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"):
        scope = {**request.scope, "method": method}
        if any(route.matches(scope)[0] == Match.FULL for route in request.app.router.routes):
            allowed.append(method)
    return ", ".join(allowed)


async def _on_validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    if any(error.get("type") == "json_invalid" for error in errors):
        return _error_response(
            request, 400, "INVALID_REQUEST", "The request body is not valid JSON."
        )
    if any(
        tuple(e.get("loc", ())) == ("body",) and isinstance(e.get("input"), bytes) for e in errors
    ):
        # FastAPI hands over raw bytes when the body was not sent as JSON.
        return _error_response(
            request,
            400,
            "INVALID_REQUEST",
            "The request body must be JSON, sent with Content-Type: application/json.",
        )
    fields: dict[str, list[str]] = {}
    for error in errors:
        fields.setdefault(_field_name(error.get("loc", ())), []).append(str(error.get("msg")))
    return _error_response(
        request,
        422,
        "VALIDATION_FAILED",
        "The request has invalid fields: " + ", ".join(fields) + ".",
        {"fields": fields},
    )


def create_app(
    settings: SandboxSettings,
    *,
    clock: SandboxClock | None = None,
    embedded: bool = False,
    activity: Activity | None = None,
    bound_host: str | None = None,
) -> FastAPI:
    """The sandbox app on the data dir of `settings` (opened, migrated, seeded now).

    `embedded=True` runs the scheduler step at the start of each request instead of in
    a background task: an embedded sandbox lives only as long as one CLI command.
    `activity` is shared with the server that idles out on it (see `server.serve`).
    `bound_host`: the address the server listens on, whose name `Host` may then carry
    (None: the loopback only; see `hosts.py`).
    """
    runtime = Runtime.open(settings, clock)
    with runtime.store.transaction() as conn:
        # Where the scheduler's syncs, which see only the database, learn the tables' size.
        records.remember_table_rows(conn, settings.table_rows)
    # Webhook deliveries go out wherever the sandbox runs, embedded too: while the CLI
    # run lives (delivery.py); what is left pending waits for the next process.
    sender = delivery.Sender(runtime)

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        tasks = [asyncio.create_task(sender.run())]
        if not embedded:
            tasks.append(asyncio.create_task(_run_scheduler(runtime)))
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            runtime.store.close()

    app = FastAPI(
        title="makini sandbox",
        version=__version__,
        description="A local, stateful stand-in for the Makini API (makini-cli's sandbox).",
        lifespan=lifespan,
        # Makini serves no OpenAPI document or docs pages at these paths: a
        # documented-only sandbox serves none either.
        openapi_url="/openapi.json" if settings.extensions else None,
        docs_url="/docs" if settings.extensions else None,
        redoc_url="/redoc" if settings.extensions else None,
    )
    app.state.runtime = runtime
    app.state.sender = sender
    openapi_doc.install(app, extensions=settings.extensions)
    app.state.activity = activity = activity or Activity()
    app.add_exception_handler(ApiError, _on_api_error)
    app.add_exception_handler(StarletteHTTPException, _on_http_error)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.include_router(auth.build_router())
    app.include_router(system.build_router(extensions=settings.extensions))
    app.include_router(connections.build_router(extensions=settings.extensions))
    if settings.extensions:
        app.include_router(syncs.build_router())
        app.include_router(events.build_router())
        app.include_router(webhooks.build_router())
    app.include_router(integrations.build_router(extensions=settings.extensions))
    app.include_router(control.build_router())
    app.include_router(raw.build_router(extensions=settings.extensions))
    # Before the records: their /{key} routes would take `custom-fields` for a key.
    app.include_router(custom_fields.build_router(extensions=settings.extensions))
    # Last: its /api/eam|erp|wms/{path} patterns must not shadow anything above.
    app.include_router(data.build_router())
    app.add_middleware(
        SandboxMiddleware,
        runtime=runtime,
        embedded=embedded,
        activity=activity,
        hosts=host_policy(bound_host, settings.allowed_hosts),
    )
    return app


async def _run_scheduler(runtime: Runtime) -> None:
    while True:
        try:
            await run_in_threadpool(scheduler.advance, runtime.store, runtime.now())
        except asyncio.CancelledError:
            raise
        except Exception:
            # A busy database or a bug in one step must not stop the loop for good.
            logger.exception("sandbox scheduler step failed")
        await asyncio.sleep(SCHEDULER_WAKE_SECONDS)
