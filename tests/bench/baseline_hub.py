"""The bare chain hub: the least a websocket notifier chain can do (the benchmarks' baseline).

A minimal uvicorn + FastAPI server. Subscribers connect to ``/ws`` (it sends
one ``hello`` frame so that clients know they are in); ``POST /event?walks=N``
then walks the chain N times: for each connected client in turn, in
connection order, it sends one notify frame (the same ~260-byte shape as
hotplugd's, so the ``clients/`` library can answer it too) and awaits that
client's reply before the next. Nothing else: no storage, no records, no
event stream, no timeouts, no task per call. Walks are serialised (like
hotplugd's transitions).

    python -m tests.bench.baseline_hub --port 8100 [--no-deflate]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools

import orjson
import uvicorn
from fastapi import FastAPI, WebSocket, WebSocketDisconnect

ACTIONS = (("MEM_GOING_ONLINE", 8), ("MEM_ONLINE", 1), ("MEM_GOING_OFFLINE", 2), ("MEM_OFFLINE", 4))
ARG = {
    "start_pfn": 393216,
    "nr_pages": 32768,
    "status_change_nid_normal": 1,
    "status_change_nid_high": -1,
    "status_change_nid": 1,
}


def notify_frame(notify_id: int, transition: str, action: str, value: int) -> bytes:
    """A ~200-byte notify frame shaped like hotplugd's (SPEC §6)."""
    frame = {
        "type": "notify",
        "id": notify_id,
        "transition": transition,
        "action": action,
        "action_value": value,
        "arg": ARG,
        "block": 12,
        "node": 1,
        "timeout_ms": 5000,
    }
    return orjson.dumps(frame)


HELLO = orjson.dumps({"type": "hello", "subscriber": {}, "protocol": 1}).decode()


def create_app() -> FastAPI:
    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
    clients: list[WebSocket] = []
    gone: dict[WebSocket, asyncio.Event] = {}
    lock = asyncio.Lock()
    ids = itertools.count(1)
    events = itertools.count(1)

    @app.websocket("/ws")
    async def subscriber(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_text(HELLO)
        closed = asyncio.Event()
        gone[websocket] = closed
        clients.append(websocket)
        try:
            await closed.wait()  # replies are read by the walk itself
        finally:
            if websocket in clients:
                clients.remove(websocket)
            gone.pop(websocket, None)

    @app.post("/event")
    async def event(walks: int = 2) -> dict[str, int]:
        hops = 0
        async with lock:
            transition = f"ev-{next(events)}"
            for walk in range(walks):
                action, value = ACTIONS[walk % len(ACTIONS)]
                for websocket in list(clients):
                    notify_id = next(ids)
                    frame = notify_frame(notify_id, transition, action, value)
                    try:
                        await websocket.send_text(frame.decode())
                        reply = orjson.loads(await websocket.receive_text())
                    except (WebSocketDisconnect, RuntimeError):
                        if websocket in clients:
                            clients.remove(websocket)
                        gone.get(websocket, asyncio.Event()).set()
                        continue
                    if reply.get("id") != notify_id:
                        raise RuntimeError(f"reply {reply.get('id')} for {notify_id}")
                    hops += 1
        return {"hops": hops}

    @app.delete("/clients")
    async def forget() -> dict[str, int]:
        """Forget every client (nobody reads an idle connection, so a gone one lingers)."""
        count = len(clients)
        for websocket in list(clients):
            gone.get(websocket, asyncio.Event()).set()
        clients.clear()
        return {"forgotten": count}

    @app.get("/count")
    async def count() -> dict[str, int]:
        return {"connected": len(clients)}

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--no-deflate", action="store_true", help="refuse permessage-deflate")
    args = parser.parse_args()
    # The same uvicorn set-up as hotplugd's (python -m app): auto loop and
    # HTTP implementation (uvloop, httptools when installed), default websocket
    # implementation and permessage-deflate, no access log.
    uvicorn.run(
        create_app(),
        host="127.0.0.1",
        port=args.port,
        log_level="warning",
        ws_max_size=65536,
        ws_per_message_deflate=not args.no_deflate,
        access_log=False,
        server_header=False,
    )


if __name__ == "__main__":
    main()
