"""What every router shares: the runtime, the request's time, authentication and list
parameters."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Annotated, Any

from fastapi import Depends, Path, Query, Request

from makini_cli.sandbox import tokens
from makini_cli.sandbox.errors import ApiError
from makini_cli.sandbox.listing import DEFAULT_PER_PAGE, MAX_PER_PAGE, paginate
from makini_cli.sandbox.middleware import bearer_token, now_of
from makini_cli.sandbox.runtime import Runtime


def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


def request_now(request: Request, runtime: RuntimeDep) -> float:
    """The sandbox time of this request: read once by the middleware, so that all it
    does (and every event it records) carries one timestamp."""
    now = now_of(request.scope)
    return runtime.now() if now is None else now


NowDep = Annotated[float, Depends(request_now)]

_WHERE = {
    "admin": "/api/system/* and /sandbox/*",
    "connection": "/api/integrations/*, /api/eam|erp|wms/*, /api/raw/* and /api/passthrough",
}


def _principal(
    request: Request, runtime: Runtime, now: float, audience: tokens.Audience
) -> tokens.Principal:
    with runtime.store.connection() as conn:
        principal = tokens.authenticate(conn, now, bearer_token(request.scope))
    if principal.audience != audience:
        raise ApiError(
            403,
            "PERMISSION_DENIED",
            f"This call needs {'an admin' if audience == 'admin' else 'a connection'} token; "
            f"{principal.audience} tokens are for {_WHERE[principal.audience]}.",
            details={"required_token": audience, "given_token": principal.audience},
        )
    return principal


def require_admin(request: Request, runtime: RuntimeDep, now: NowDep) -> tokens.Principal:
    return _principal(request, runtime, now, "admin")


def require_connection(request: Request, runtime: RuntimeDep, now: NowDep) -> tokens.Principal:
    return _principal(request, runtime, now, "connection")


AdminDep = Annotated[tokens.Principal, Depends(require_admin)]
#: A connection's key in a path, named `{id}` as in Makini's reference.
ConnectionId = Annotated[str, Path(alias="id", description="The connection's key.")]
ConnectionDep = Annotated[tokens.Principal, Depends(require_connection)]


def list_parameters(
    page: Annotated[int, Query(ge=1, description="Page number, from 1.")] = 1,
    per_page: Annotated[
        int, Query(ge=1, le=MAX_PER_PAGE, description="Items per page (at most 500).")
    ] = DEFAULT_PER_PAGE,
    filter_match: Annotated[
        str | None,
        Query(
            alias="filterMatch",
            description="Combine filters with AND (all) or OR (any).",
            # Documented, not validated here: listing.paginate answers a bad value.
            json_schema_extra={"enum": ["all", "any"]},
        ),
    ] = None,
) -> None:
    """Documents the list parameters; `listing.paginate` reads them (and filter[…], sort[…])."""


def page_of(
    request: Request,
    items: Sequence[Mapping[str, Any]],
    *,
    fields: Collection[str],
    updated_field: str | None = None,
    filters: bool = True,
) -> dict[str, Any]:
    """One page of `items`. `filters=False`: a list whose documented form declares no
    filter or sort parameters, where (as a server that does not know them would) they
    are ignored, not refused; only `page` and `per_page` apply."""
    params = request.query_params.multi_items()
    if not filters:
        params = [(name, value) for name, value in params if name in ("page", "per_page")]
    return paginate(
        items,
        params,
        str(request.url),
        fields=fields,
        updated_field=updated_field,
    )
