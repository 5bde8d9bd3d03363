"""An aiohttp.web service that shares one TallyfyClient across all handlers.

The client is created in ``cleanup_ctx`` (so it lives in the app's event loop and is closed
when the app stops) and kept in ``app[CLIENT]``. Every handler uses that one client: one
connection pool, one rate limiter, one retry budget, whatever the number of concurrent
requests. A handler cancelled mid-request (the caller went away) leaves the client healthy:
the cancelled call releases its connection slot and the next calls go on.

Run it::

    TALLYFY_API_TOKEN=... TALLYFY_ORG_ID=... python examples/aiohttp_app.py

Routes: ``GET /tasks/{task_id}``, ``GET /my-tasks`` (count of my open tasks),
``POST /launch/{checklist_id}`` (launch once per ``Idempotency-Key`` header), and
``POST /hooks/{secret}`` (Tallyfy webhooks for the org).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web

from aiotallyfy import InvalidArgument, NotFoundError, TallyfyClient, ValidationError
from aiotallyfy.webhooks import WebhookEvent, webhook_handler

CLIENT = web.AppKey("tallyfy_client", TallyfyClient)
ORG = web.AppKey("tallyfy_org", str)
EVENTS = web.AppKey("webhook_events", list)


def create_app(
    *,
    token: str,
    org_id: str,
    base_url: str = "https://go.tallyfy.com/api",
    webhook_secret: str = "change-me",
    client_options: dict[str, Any] | None = None,
) -> web.Application:
    app = web.Application()
    app[ORG] = org_id
    app[EVENTS] = []

    async def tallyfy_client(app: web.Application) -> AsyncIterator[None]:
        async with TallyfyClient(token, base_url=base_url, **(client_options or {})) as client:
            app[CLIENT] = client
            yield  # the app serves requests here; the client closes on shutdown

    app.cleanup_ctx.append(tallyfy_client)

    async def on_event(event: WebhookEvent) -> None:
        app[EVENTS].append(event)  # hand real work to a queue: Tallyfy waits for the answer

    app.router.add_get("/tasks/{task_id}", get_task)
    app.router.add_get("/my-tasks", my_tasks)
    app.router.add_post("/launch/{checklist_id}", launch)
    app.router.add_post(
        f"/hooks/{webhook_secret}", webhook_handler(on_event, trusted_orgs={org_id})
    )
    return app


async def get_task(request: web.Request) -> web.Response:
    client, org = request.app[CLIENT], request.app[ORG]
    try:
        task = await client.tasks.get(org, request.match_info["task_id"])
    except NotFoundError:
        raise web.HTTPNotFound() from None
    except InvalidArgument as exc:  # not a Tallyfy id: refused before sending
        raise web.HTTPBadRequest(text=exc.message) from None
    return web.json_response({"id": task["id"], "title": task["title"], "status": task["status"]})


async def my_tasks(request: web.Request) -> web.Response:
    client, org = request.app[CLIENT], request.app[ORG]
    count = 0
    async for _ in client.tasks.list_mine(org, status="active"):
        count += 1
    return web.json_response({"active": count})


async def launch(request: web.Request) -> web.Response:
    client, org = request.app[CLIENT], request.app[ORG]
    body = await request.json()
    try:
        run = await client.runs.launch(
            org,
            request.match_info["checklist_id"],
            name=body.get("name"),
            prerun=body.get("prerun"),
            launch_marker=request.headers.get("Idempotency-Key"),
        )
    except (InvalidArgument, ValidationError) as exc:  # refused here, or by Tallyfy (422)
        return web.json_response({"errors": exc.errors, "message": exc.message}, status=422)
    return web.json_response({"id": run["id"], "name": run["name"]}, status=201)


if __name__ == "__main__":
    web.run_app(
        create_app(token=os.environ["TALLYFY_API_TOKEN"], org_id=os.environ["TALLYFY_ORG_ID"])
    )
