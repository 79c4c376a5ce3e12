"""A write that returned survives the process being killed (SIGKILL) right after."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import orjson

from tests.integration.storage.conftest import StorageFactory
from tests.integration.storage.samples import transition
from tests.support.server import seconds

REPOSITORY = Path(__file__).resolve().parents[3]

# Writes a pending transition, says so, then hangs with the storage open:
# nothing is closed or flushed on the way out, as in a crash.
WRITER = """
import asyncio, sys
import orjson
from app.engine.ports import Batch
from app.storage import create_storage

async def main(url, record):
    storage = create_storage(url)
    await storage.open()
    await storage.write(Batch(transitions=[orjson.loads(record)], memory={"journaled": True}))
    print("written", flush=True)
    await asyncio.Event().wait()

asyncio.run(main(sys.argv[1], sys.argv[2]))
"""


async def test_committed_batch_survives_sigkill(
    new_storage: StorageFactory, database_url: str
) -> None:
    record = transition(1, outcome="running")
    writer = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        WRITER,
        database_url,
        orjson.dumps(record).decode(),
        cwd=REPOSITORY,
        stdout=asyncio.subprocess.PIPE,
    )
    assert writer.stdout is not None
    try:
        async with asyncio.timeout(seconds(30)):
            line = await writer.stdout.readline()
    finally:
        writer.kill()
        await writer.communicate()
    assert line == b"written\n"

    state = await new_storage().open()

    assert state.unfinished == [record]
    assert state.memory == {"journaled": True}
