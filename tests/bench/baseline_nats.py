"""The NATS baseline: the same sequential chain, hand-built on NATS request-reply.

What a user would build instead of hotplugd: a small FastAPI service that,
for ``POST /event?walks=N``, sends the notify frame to each subscriber's
subject in turn through the local nats-server (127.0.0.1:4222) with
``request()`` and awaits the reply before the next. The subjects (the chain,
in order) are set with ``PUT /chain`` (``{"subjects": [...]}``).

    python -m tests.bench.baseline_nats --port 8200 [--nats nats://127.0.0.1:4222]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator
from typing import Any

import nats
import orjson
import uvicorn
from fastapi import FastAPI

from tests.bench.baseline_hub import ACTIONS, notify_frame


def create_app(nats_url: str) -> FastAPI:
    state: dict[str, Any] = {"subjects": []}
    lock = asyncio.Lock()
    ids = itertools.count(1)
    events = itertools.count(1)

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        state["nc"] = await nats.connect(nats_url, connect_timeout=10)
        try:
            yield
        finally:
            await state["nc"].close()

    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None, lifespan=lifespan)

    @app.put("/chain")
    async def chain(body: dict[str, list[str]]) -> dict[str, int]:
        state["subjects"] = list(body["subjects"])
        return {"subjects": len(state["subjects"])}

    @app.post("/event")
    async def event(walks: int = 2) -> dict[str, int]:
        nc = state["nc"]
        hops = 0
        async with lock:
            transition = f"ev-{next(events)}"
            for walk in range(walks):
                action, value = ACTIONS[walk % len(ACTIONS)]
                for subject in state["subjects"]:
                    notify_id = next(ids)
                    frame = notify_frame(notify_id, transition, action, value)
                    msg = await nc.request(subject, frame, timeout=5)
                    reply = orjson.loads(msg.data)
                    if reply.get("id") != notify_id:
                        raise RuntimeError(f"reply {reply.get('id')} for {notify_id}")
                    hops += 1
        return {"hops": hops}

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--nats", default="nats://127.0.0.1:4222")
    args = parser.parse_args()
    uvicorn.run(
        create_app(args.nats),
        host="127.0.0.1",
        port=args.port,
        log_level="warning",
        access_log=False,
        server_header=False,
    )


if __name__ == "__main__":
    main()
