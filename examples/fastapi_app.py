"""A FastAPI service that shares one TallyfyClient across all requests. Copy what you need.

- **One client per process**, created in the app's ``lifespan`` (in the server's event loop)
  and closed at shutdown: one connection pool, one rate limiter, one retry budget for every
  request, however many arrive at once.
- **A dependency** (``TallyfyCall``) hands each handler the client plus the request's
  cancellation: a Tallyfy call is cancelled when the caller disconnects or the request's
  deadline passes. Starlette does not cancel a handler whose caller went away; without this
  a call queued behind Tallyfy's 600/min would keep its place (and its connection slot) for
  nobody. A cancelled call gives its slot back at once and the client stays healthy.
- **Webhooks** from Tallyfy at ``POST /hooks/<secret>``, through
  ``aiotallyfy.webhooks.asgi_webhook_app`` (sender check, de-duplication, answers).
- **Telemetry**: pass ``client_options={"hooks": [OpenTelemetryHooks()]}`` (``aiotallyfy.otel``)
  and every Tallyfy call is a span under the request's span, if your FastAPI is instrumented.

Run it (``pip install fastapi uvicorn``)::

    TALLYFY_API_TOKEN=... TALLYFY_ORG_ID=... uvicorn examples.fastapi_app:app

Routes: ``GET /tasks/{task_id}``, ``GET /my-tasks`` (count of my open tasks),
``POST /launch/{checklist_id}`` (once per ``Idempotency-Key`` header), ``POST /hooks/<secret>``.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, MutableMapping
from contextlib import asynccontextmanager
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request
from starlette.routing import Route

from aiotallyfy import NotFoundError, TallyfyClient, ValidationError
from aiotallyfy.webhooks import WebhookEvent, asgi_webhook_app

T = TypeVar("T")
Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]

CLIENT_CLOSED_REQUEST = 499  # nginx's code for "the caller went away": nobody reads it


class TallyfyCall:
    """The shared client, and this request's way to run a Tallyfy call cancellably."""

    def __init__(self, client: TallyfyClient, request: Request, deadline: float) -> None:
        self.client = client
        self.org_id: str = request.app.state.org_id
        self._request = request
        self._deadline = deadline

    async def run(self, call: Coroutine[Any, Any, T]) -> T:
        """Await ``call``; cancel it if the caller disconnects (499) or the deadline passes
        (504). Tallyfy's own errors propagate to the handler."""
        work = asyncio.ensure_future(call)
        watch = asyncio.ensure_future(_disconnected(self._request))
        try:
            await asyncio.wait(
                {work, watch}, timeout=self._deadline, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            watch.cancel()
            if not work.done():
                work.cancel()
                await asyncio.gather(work, return_exceptions=True)  # its slot is back now
        if not work.cancelled():
            return work.result()
        if watch.done() and not watch.cancelled():
            raise HTTPException(CLIENT_CLOSED_REQUEST, "client closed the request")
        raise HTTPException(504, "Tallyfy did not answer in time")


async def _disconnected(request: Request) -> None:
    """Returns when the ASGI server reports the caller gone (``http.disconnect``).

    Only once the request body has been read (FastAPI reads it before the handler runs for
    any body parameter; GET handlers have none), so no body message is taken from anyone."""
    while (await request.receive())["type"] != "http.disconnect":
        pass


async def tallyfy_call(request: Request) -> TallyfyCall:
    """The dependency: the app's one client, bound to this request."""
    state = request.app.state
    return TallyfyCall(state.tallyfy, request, state.deadline)


Tallyfy = Annotated[TallyfyCall, Depends(tallyfy_call)]
router = APIRouter()


@router.get("/tasks/{task_id}")
async def get_task(task_id: str, tallyfy: Tallyfy) -> dict[str, Any]:
    try:
        task = await tallyfy.run(tallyfy.client.tasks.get(tallyfy.org_id, task_id))
    except NotFoundError:
        raise HTTPException(404, "no such task") from None
    except ValidationError as exc:
        raise HTTPException(400, exc.message) from None
    return {"id": task["id"], "title": task["title"], "status": task["status"]}


@router.get("/my-tasks")
async def my_tasks(tallyfy: Tallyfy) -> dict[str, int]:
    pager = tallyfy.client.tasks.list_mine(tallyfy.org_id, status="active")
    return {"active": len(await tallyfy.run(pager.to_list()))}


@router.post("/launch/{checklist_id}", status_code=201)
async def launch(
    checklist_id: str, body: dict[str, Any], request: Request, tallyfy: Tallyfy
) -> dict[str, Any]:
    try:
        run = await tallyfy.run(
            tallyfy.client.runs.launch(
                tallyfy.org_id,
                checklist_id,
                name=body.get("name"),
                prerun=body.get("prerun"),
                launch_marker=request.headers.get("Idempotency-Key"),
            )
        )
    except ValidationError as exc:
        raise HTTPException(422, {"errors": exc.errors, "message": exc.message}) from None
    return {"id": run["id"], "name": run["name"]}


def create_app(
    *,
    token: str,
    org_id: str,
    base_url: str = "https://go.tallyfy.com/api",
    webhook_secret: str = "change-me",
    client_options: dict[str, Any] | None = None,
    deadline: float = 30.0,
) -> FastAPI:
    """The app: one client in ``lifespan``, the routes above, the webhook receiver.

    ``deadline`` is the longest a request waits for Tallyfy (seconds), limiter queueing
    included (at 600/min a burst of 300 calls queues ~25 s). A hung answer is first ended by
    the client's own read timeout (30 s by default) and a GET retried; a deadline below
    that ends the request before the retry."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with TallyfyClient(token, base_url=base_url, **(client_options or {})) as client:
            app.state.tallyfy = client
            yield  # the app serves requests here; the client closes on shutdown

    app = FastAPI(lifespan=lifespan)
    app.state.org_id = org_id
    app.state.deadline = deadline
    app.state.events = []
    app.include_router(router)

    async def on_event(event: WebhookEvent) -> None:
        app.state.events.append(event)  # hand real work to a queue: Tallyfy waits for the answer

    hooks = asgi_webhook_app(on_event, trusted_orgs={org_id})
    # An ASGI app on an exact path (a Mount would redirect the path without its trailing slash).
    app.router.routes.append(Route(f"/hooks/{webhook_secret}", endpoint=_ASGIEndpoint(hooks)))
    return app


class _ASGIEndpoint:
    """Starlette treats a plain function endpoint as a request handler; an object with
    ``__call__`` is served as the ASGI app it is."""

    def __init__(self, app: Callable[[Scope, Receive, Send], Awaitable[None]]) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._app(scope, receive, send)


if os.environ.get("TALLYFY_API_TOKEN") and os.environ.get("TALLYFY_ORG_ID"):
    app = create_app(token=os.environ["TALLYFY_API_TOKEN"], org_id=os.environ["TALLYFY_ORG_ID"])
