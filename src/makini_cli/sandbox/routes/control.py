"""`/sandbox/*`: control of the sandbox itself (admin token). Not part of Makini's API.

- `POST /sandbox/reset` restores the seed (admin tokens and the clock are kept).
- `GET /sandbox/clock`; `POST /sandbox/clock` `{"advance_seconds": N, "speed": F}`
  (either or both) jumps sandbox time forward and/or changes its speed.
- `GET|POST|DELETE /sandbox/faults` lists, arms and clears injected faults.
- `POST /sandbox/connections/{key}/break-credentials` and `/fix-credentials` make the
  connected system reject, then accept again, the stored credentials (see `health.py`);
  both answer the connection's status.
- `POST /sandbox/connections/{key}/outage` `{"seconds": N}` takes the connected system
  down for N sandbox seconds; `{"end": true}` ends the outage now. It answers the
  connection's status with an `outage` `{started_at, ends_at}` (null when none).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response
from pydantic import BaseModel, Field, model_validator

from makini_cli.sandbox import faults, health
from makini_cli.sandbox.clock import MAX_SPEED, MIN_SPEED, iso
from makini_cli.sandbox.connections import account_summary
from makini_cli.sandbox.errors import validation_failed
from makini_cli.sandbox.routes.common import AdminDep, NowDep, RuntimeDep
from makini_cli.sandbox.runtime import Runtime
from makini_cli.sandbox.seed import SEED_CONNECTIONS


class ClockChange(BaseModel):
    advance_seconds: float | None = Field(
        default=None, ge=0, le=10 * 365 * 86_400, description="Jump forward this far."
    )
    speed: float | None = Field(
        default=None, ge=MIN_SPEED, le=MAX_SPEED, description="Sandbox seconds per real second."
    )

    @model_validator(mode="after")
    def _something(self) -> ClockChange:
        if self.advance_seconds is None and self.speed is None:
            raise ValueError("give advance_seconds, speed, or both")
        return self


class FaultSpec(BaseModel):
    path_prefix: str = Field(min_length=1, examples=["/api/system/connections"])
    method: str | None = Field(default=None, pattern="^[A-Za-z]+$")
    status: int = Field(ge=400, le=599)
    count: int = Field(default=1, ge=1, le=10_000)
    body: faults.BodyKind = "envelope"
    code: str | None = Field(
        default=None, description="Error code in an envelope body (default: by status)."
    )
    retry_after: float | None = Field(
        default=None,
        ge=0,
        le=86_400,
        description="Real seconds for a Retry-After header; null: none.",
    )
    skip: int = Field(
        default=0, ge=0, le=10_000, description="Let this many matching requests through first."
    )


class OutageChange(BaseModel):
    seconds: float | None = Field(
        default=None, gt=0, le=30 * 86_400, description="Sandbox seconds the system stays down."
    )
    end: bool = Field(default=False, description="End the outage now.")

    @model_validator(mode="after")
    def _one(self) -> OutageChange:
        if (self.seconds is None) == (not self.end):
            raise ValueError("give either seconds or end: true")
        return self


#: 2200-01-01T00:00:00Z: the furthest the control route moves the clock.
CLOCK_HORIZON = 7_258_118_400.0


class CreditsChange(BaseModel):
    credits_total: int = Field(ge=0, le=1_000_000, description="The account's credit pool.")


def _clock_view(runtime: Runtime, now: float) -> dict[str, Any]:
    return {"data": {"now": iso(now), "unix": now, "speed": runtime.clock.speed}}


def build_router() -> APIRouter:
    router = APIRouter(prefix="/sandbox", tags=["sandbox control"])

    @router.post("/reset", summary="Restore the seed data")
    def reset(_: AdminDep, runtime: RuntimeDep, now: NowDep) -> dict[str, Any]:
        runtime.reset(now)
        return {"data": {"reset": True, "connections": len(SEED_CONNECTIONS)}}

    @router.post("/account", summary="Set the account's credit pool (demos, benchmarks)")
    def set_account(_: AdminDep, runtime: RuntimeDep, change: CreditsChange) -> dict[str, Any]:
        with runtime.store.transaction() as conn:
            conn.execute("UPDATE account SET credits_total = ?", (change.credits_total,))
            return {"data": account_summary(conn)}

    @router.get("/clock", summary="The sandbox clock")
    def get_clock(_: AdminDep, runtime: RuntimeDep, now: NowDep) -> dict[str, Any]:
        return _clock_view(runtime, now)

    @router.post("/clock", summary="Jump the clock forward and/or change its speed")
    def change_clock(
        _: AdminDep, runtime: RuntimeDep, now: NowDep, change: ClockChange
    ) -> dict[str, Any]:
        if change.advance_seconds and now + change.advance_seconds > CLOCK_HORIZON:
            # Timestamps past year 9999 cannot be written as ISO-8601; stop well before.
            raise validation_failed(
                {"advance_seconds": ["would move the sandbox clock past the year 2200"]}
            )
        if change.speed is not None:
            runtime.clock.set_speed(change.speed)
        if change.advance_seconds:
            runtime.clock.jump(change.advance_seconds)
        # The one read after the request's own `now`: this request moved the clock.
        return _clock_view(runtime, runtime.now())

    @router.get("/faults", summary="Armed faults")
    def list_faults(_: AdminDep, runtime: RuntimeDep) -> dict[str, Any]:
        with runtime.store.connection() as conn:
            return {"data": [fault.to_api() for fault in faults.list_faults(conn)]}

    @router.post("/faults", summary="Arm a fault for the next matching requests", status_code=201)
    def add_fault(_: AdminDep, runtime: RuntimeDep, now: NowDep, spec: FaultSpec) -> dict[str, Any]:
        with runtime.store.transaction() as conn:
            fault = faults.add_fault(
                conn,
                now,
                path_prefix=spec.path_prefix,
                method=spec.method,
                status=spec.status,
                count=spec.count,
                body=spec.body,
                code=spec.code,
                retry_after=spec.retry_after,
                skip=spec.skip,
            )
        return {"data": fault.to_api()}

    @router.delete("/faults", summary="Clear every fault", status_code=204, response_class=Response)
    def clear_faults(_: AdminDep, runtime: RuntimeDep) -> Response:
        with runtime.store.transaction() as conn:
            faults.clear_faults(conn)
        return Response(status_code=204)

    @router.post(
        "/connections/{key}/break-credentials",
        summary="Make the connected system reject the stored credentials",
    )
    def break_credentials(
        _: AdminDep, runtime: RuntimeDep, now: NowDep, key: str
    ) -> dict[str, Any]:
        with runtime.store.transaction() as conn:
            return {"data": health.break_credentials(conn, now, key)}

    @router.post(
        "/connections/{key}/fix-credentials",
        summary="Accept the credentials again (as after a reconnect)",
    )
    def fix_credentials(_: AdminDep, runtime: RuntimeDep, now: NowDep, key: str) -> dict[str, Any]:
        with runtime.store.transaction() as conn:
            return {"data": health.fix_credentials(conn, now, key)}

    @router.post("/connections/{key}/outage", summary="Start or end an outage of the system")
    def outage(
        _: AdminDep, runtime: RuntimeDep, now: NowDep, key: str, change: OutageChange
    ) -> dict[str, Any]:
        with runtime.store.transaction() as conn:
            if change.seconds is not None:
                return {"data": health.start_outage(conn, now, key, change.seconds)}
            return {"data": health.end_outage(conn, now, key)}

    return router
