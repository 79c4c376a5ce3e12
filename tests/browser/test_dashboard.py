"""The dashboard end to end: a real hotplugd, real subscribers, real headless Chromium.

Issue 5, "what must be shown": the page loads with a token from the start-up
link and shows the built-in layout; a click onlines a block and the transition
appears with its calls; a subscriber's veto shows with its errno and the
cancel walk; a subscriber's connection state changes live; a viewer token gets
no controls. Each main state is saved as tests/browser/artifacts/<name>.png.

Every wait is one of Playwright's auto-waiting ``expect`` assertions (or a
subscriber's next frame); nothing sleeps.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.browser.harness import Locator, OpenDashboard, Page, blocks, expect, screenshot
from tests.support.hotplug import (
    ADMIN_TOKEN,
    VIEWER_TOKEN,
    Service,
    answer_by_action,
    get_json,
    next_notify,
)

# One event loop for the module: its Chromium (see conftest.py) lives in it.
pytestmark = pytest.mark.asyncio(loop_scope="module")

EBUSY = -16
ANY = re.compile(r".+")
# The buttons a viewer may see (by data-testid): none of them changes anything.
ALLOWED_FOR_VIEWER = r"block-\d+|block-transition-link|token-forget|load-older|error-dismiss"

# Everything an admin can act with; a viewer's page must have none of them.
ADMIN_CONTROLS = (
    "online-type",
    "online-button",
    "offline-button",
    "remove-button",
    "abort-button",
    "block-controls",
    "flag-isolation-fails",
    "flag-unmovable-pages",
    "flag-migration-ms",
    "flags-submit",
    "probe-node",
    "probe-count",
    "probe-submit",
    "inject-enabled",
    "inject-priority",
    "inject-going-online",
    "inject-going-offline",
    "inject-submit",
    "inject-status",
)


def card(page: Page, operation: str, block: int) -> Locator:
    """The timeline card of the (one) transition of ``operation`` on ``block``."""
    return page.locator(
        f"article[data-testid^='transition-'][data-operation='{operation}'][data-block='{block}']"
    )


async def calls_of(walk: Locator) -> list[dict[str, Any]]:
    """The rows of a walk's call table, as their data attributes say."""
    rows: list[dict[str, Any]] = await walk.get_by_test_id("call").evaluate_all(
        "rows => rows.map((row) => ({...row.dataset}))"
    )
    return rows


async def connected_page(page: Page, role: str) -> None:
    """Wait until the page is live on the stream with the role it was given."""
    await expect(page.get_by_test_id("status")).to_have_attribute("data-state", "connected")
    await expect(page.get_by_test_id("role")).to_have_text(role)
    await expect(blocks(page)).to_have_count(28)


async def test_page_loads_with_token_and_shows_the_built_in_layout(
    service: Service, dashboard: OpenDashboard
) -> None:
    """The start-up link's token connects; the 28 blocks of nodes 0-2 show as the API says."""
    async with dashboard(ADMIN_TOKEN) as page:
        await connected_page(page, "admin")
        # The token left the address bar and lives in this tab's session storage.
        assert "#" not in page.url, page.url
        stored = await page.evaluate("sessionStorage.getItem('hotplugd.token')")
        assert stored == ADMIN_TOKEN
        await expect(page.get_by_test_id("token-input")).to_be_hidden()

        nodes = page.locator("#memory-nodes [data-testid^='node-']")
        await expect(nodes).to_have_count(3)
        for node, count in ((0, 12), (1, 8), (2, 8)):
            in_node = page.get_by_test_id(f"node-{node}").locator("button[data-testid^='block-']")
            await expect(in_node).to_have_count(count)
        # Node 0 has memory; nodes 1 and 2 are memoryless until a block is onlined there.
        await expect(page.get_by_test_id("node-0")).to_have_attribute(
            "data-states", re.compile(r"\bN_MEMORY\b.*\bN_NORMAL_MEMORY\b")
        )
        for node in (1, 2):
            await expect(page.get_by_test_id(f"node-{node}")).to_have_attribute("data-states", "")
        await expect(page.get_by_test_id("block-count")).to_have_text("28")
        await expect(page.get_by_test_id("block-size")).to_have_text("128M")
        await expect(page.get_by_test_id("total-online")).to_have_text("1.5G")
        await expect(page.get_by_test_id("total-offline")).to_have_text("2G")
        await expect(page.get_by_test_id("chain-empty")).to_be_visible()

        # Every block's state and zone, as the page shows them, is what the API reports.
        shown = await blocks(page).evaluate_all(
            "buttons => buttons.map((b) => [b.dataset.testid, b.dataset.state, b.dataset.zone])"
        )
        listed = await get_json(service, "/api/v1/memory/blocks")
        listed = listed["blocks"] if isinstance(listed, dict) else listed
        expected = [[f"block-{b['id']}", b["state"], b["zone"] or ""] for b in listed]
        assert sorted(shown) == sorted(expected)
        assert ["block-0", "online", "Normal"] in shown
        assert ["block-8", "online", "Movable"] in shown
        assert ["block-12", "offline", ""] in shown
        await screenshot(page, "01-admin-loaded")


async def test_online_a_block_by_clicking_shows_the_transition_and_its_calls(
    service: Service, dashboard: OpenDashboard
) -> None:
    """Select block 12, choose online_movable, click Online: in flight, then online in Movable."""
    # A subscriber answered by hand, so the page can be seen with the transition in flight.
    cache = await service.subscriber("page-cache", answer=None, priority=10)
    async with dashboard(ADMIN_TOKEN) as page:
        await connected_page(page, "admin")
        await expect(page.get_by_test_id(f"subscriber-{cache.id}")).to_have_attribute(
            "data-connected", "true"
        )
        block = page.get_by_test_id("block-12")
        await block.click()
        await expect(block).to_have_attribute("aria-pressed", "true")
        await expect(page.get_by_test_id("block-details")).to_have_attribute("data-block", "12")
        await page.get_by_test_id("online-type").select_option("online_movable")
        await page.get_by_test_id("online-button").click()

        going = await next_notify(cache, "MEM_GOING_ONLINE")
        online = card(page, "online", 12)
        await expect(online).to_have_attribute("data-outcome", "running")
        await expect(block).to_have_attribute("data-transition", ANY)
        await expect(block).to_have_class(re.compile(r"\bbusy\b"))
        await expect(page.get_by_test_id("info-message")).to_contain_text("queued")
        # The walk in progress shows who was asked and is still awaited.
        live = online.locator("[data-testid='walk'][data-live='true']")
        await expect(live).to_have_attribute("data-action", "MEM_GOING_ONLINE")
        awaited = live.get_by_test_id("call")
        await expect(awaited).to_have_count(1)
        await expect(awaited).to_have_attribute("data-delivery", "pending")
        await expect(awaited).to_have_attribute("data-subscriber", cache.id)
        await expect(awaited).to_contain_text("awaiting a reply")
        await expect(live).not_to_contain_text("Nobody was called")
        await screenshot(page, "02-online-in-flight")

        await cache.reply(going)
        await cache.reply(await next_notify(cache, "MEM_ONLINE"))
        await expect(online).to_have_attribute("data-outcome", "completed")
        await expect(block).to_have_attribute("data-state", "online")
        await expect(block).to_have_attribute("data-zone", "Movable")
        await expect(block).to_have_attribute("data-transition", "")
        await expect(page.get_by_test_id("node-1")).to_have_attribute(
            "data-states", re.compile(r"\bN_MEMORY\b")
        )
        await expect(page.get_by_test_id("total-online")).to_have_text("1.6G")

        walks = online.get_by_test_id("walk")
        await expect(walks).to_have_count(2)
        await expect(online.locator("[data-live], [data-delivery='pending']")).to_have_count(0)
        await expect(walks.nth(0)).to_have_attribute("data-action", "MEM_GOING_ONLINE")
        await expect(walks.nth(1)).to_have_attribute("data-action", "MEM_ONLINE")
        await expect(online.get_by_test_id("call").first).to_be_visible()
        for index, action in enumerate(("MEM_GOING_ONLINE", "MEM_ONLINE")):
            [call] = await calls_of(walks.nth(index))
            assert call["action"] == action
            assert call["subscriber"] == cache.id
            assert call["delivery"] == "replied"
            assert call["result"] == "NOTIFY_OK"
            assert call["errno"] == ""
            assert "vetoer" not in call
        await expect(online).to_contain_text("page-cache")
        await expect(page.get_by_test_id("error-message")).to_have_text("")

        # The card is the service's record of that transition.
        transition_id = (await online.get_attribute("data-testid") or "").removeprefix(
            "transition-"
        )
        record = await get_json(service, f"/api/v1/transitions/{transition_id}")
        assert (record["operation"], record["block"], record["outcome"]) == (
            "online",
            12,
            "completed",
        )
        assert cache.actions() == ["MEM_GOING_ONLINE", "MEM_ONLINE"]
        await screenshot(page, "03-online-completed")


async def test_a_veto_shows_its_errno_and_the_cancel_walk(
    service: Service, dashboard: OpenDashboard
) -> None:
    """balloon answers -EBUSY to MEM_GOING_ONLINE: the card names it, the cancel walk is marked."""
    cache = await service.subscriber("page-cache", priority=10)
    balloon = await service.subscriber(
        "balloon",
        answer_by_action(
            {
                "MEM_GOING_ONLINE": {
                    "result": "NOTIFY_BAD",
                    "errno": EBUSY,
                    "message": "balloon is pinned",
                }
            }
        ),
        priority=5,
    )
    audit = await service.subscriber("audit", priority=0)
    async with dashboard(ADMIN_TOKEN) as page:
        await connected_page(page, "admin")
        chain = page.get_by_test_id("chain").locator("li[data-testid^='subscriber-']")
        await expect(chain).to_have_count(3)
        await page.get_by_test_id("block-13").click()
        await page.get_by_test_id("online-button").click()

        vetoed = card(page, "online", 13)
        await expect(vetoed).to_have_attribute("data-outcome", "cancelled")
        transition_id = (await vetoed.get_attribute("data-testid") or "").removeprefix(
            "transition-"
        )
        await expect(page.get_by_test_id(f"transition-{transition_id}-errno")).to_have_text(
            "-16 EBUSY"
        )
        veto = vetoed.get_by_test_id("veto")
        await expect(veto).to_be_visible()
        await expect(veto).to_contain_text("Vetoed by balloon with -16 EBUSY")
        await expect(veto).to_contain_text("balloon is pinned")

        # The going walk stopped at balloon, flagged as the vetoer with its errno.
        going = vetoed.locator("[data-testid='walk'][data-action='MEM_GOING_ONLINE']")
        vetoer = going.locator("[data-testid='call'][data-vetoer='true']")
        await expect(vetoer).to_be_visible()
        await expect(vetoer).to_have_attribute("data-subscriber", balloon.id)
        await expect(vetoer).to_have_attribute("data-errno", str(EBUSY))
        # notifier_from_errno(-16): the stop bit with the errno, as the service names it.
        await expect(vetoer).to_have_attribute("data-result", "NOTIFY_STOP_MASK|EBUSY")
        await expect(vetoer).to_have_attribute("data-stopped", "true")
        await expect(vetoer).to_contain_text("VETO")
        assert [c["subscriber"] for c in await calls_of(going)] == [cache.id, balloon.id]

        # The cancel walk is marked as such and went to the whole chain.
        cancel = vetoed.locator("[data-testid='walk'][data-cancel='true']")
        await expect(cancel).to_have_count(1)
        await expect(cancel).to_have_attribute("data-action", "MEM_CANCEL_ONLINE")
        await expect(cancel).to_contain_text("cancel walk")
        await expect(cancel).to_have_class(re.compile(r"\bcancel\b"))
        cancelled = await calls_of(cancel)
        assert [c["subscriber"] for c in cancelled] == [cache.id, balloon.id, audit.id]
        assert {c["action"] for c in cancelled} == {"MEM_CANCEL_ONLINE"}
        assert not any("vetoer" in c for c in cancelled)
        await expect(vetoed.get_by_test_id("walk")).to_have_count(2)

        # The admin who clicked is told; the block stays offline.
        alert = page.get_by_test_id("error-message")
        await expect(alert).to_contain_text("cancelled")
        await expect(alert).to_contain_text("vetoed by balloon")
        await expect(page.get_by_test_id("block-13")).to_have_attribute("data-state", "offline")
        await expect(page.get_by_test_id("block-13")).to_have_attribute("data-transition", "")
        assert audit.actions() == ["MEM_CANCEL_ONLINE"]
        await screenshot(page, "04-veto-and-cancel-walk")


async def test_a_subscribers_connection_state_changes_live(
    service: Service, dashboard: OpenDashboard
) -> None:
    """Registered, connected, disconnected: the chain entry follows without a reload."""
    async with dashboard(ADMIN_TOKEN) as page:
        await connected_page(page, "admin")
        await expect(page.get_by_test_id("chain-empty")).to_be_visible()

        balloon = await service.subscriber("balloon", connect=False, priority=5)
        entry = page.get_by_test_id(f"subscriber-{balloon.id}")
        connection = page.get_by_test_id(f"subscriber-{balloon.id}-connection")
        await expect(entry).to_have_attribute("data-connected", "false")
        await expect(entry).to_have_attribute("data-priority", "5")
        await expect(connection).to_have_text("○ disconnected")
        await screenshot(page, "05-subscriber-registered")

        await balloon.connect()
        await expect(entry).to_have_attribute("data-connected", "true")
        await expect(connection).to_have_text("● connected")
        await screenshot(page, "06-subscriber-connected")

        await balloon.close()
        await expect(entry).to_have_attribute("data-connected", "false")
        await expect(connection).to_have_text("○ disconnected")

        # And back: a reconnect is seen too, still on the same page.
        await balloon.connect()
        await expect(entry).to_have_attribute("data-connected", "true")
        await expect(page.get_by_test_id("status")).to_have_attribute("data-state", "connected")


async def test_a_viewer_token_sees_everything_and_has_no_controls(
    service: Service, dashboard: OpenDashboard
) -> None:
    """Side by side with an admin page: same running offline, the viewer has no control at all."""
    mover = await service.subscriber("mover", answer=None, priority=1)
    async with dashboard(ADMIN_TOKEN) as admin, dashboard(VIEWER_TOKEN) as viewer:
        await connected_page(admin, "admin")
        await connected_page(viewer, "viewer")
        for page in (admin, viewer):
            await expect(page.get_by_test_id(f"subscriber-{mover.id}")).to_have_attribute(
                "data-connected", "true"
            )

        # An offline of block 9 held in MEM_GOING_OFFLINE: the admin may abort it.
        response = await service.admin.post("/api/v1/memory/blocks/9/offline?wait=false", json={})
        assert response.status_code == 202, response.text
        transition_id = response.json()["id"]
        going = await next_notify(mover, "MEM_GOING_OFFLINE")
        for page in (admin, viewer):
            await expect(page.get_by_test_id(f"transition-{transition_id}")).to_have_attribute(
                "data-outcome", "running"
            )
            await expect(page.get_by_test_id("block-9")).to_have_attribute(
                "data-transition", str(transition_id)
            )
        await expect(admin.get_by_test_id(f"abort-transition-{transition_id}")).to_be_visible()
        await admin.get_by_test_id("block-9").click()
        await expect(admin.get_by_test_id("abort-button")).to_be_visible()

        await viewer.get_by_test_id("block-9").click()
        await expect(viewer.get_by_test_id("block-details")).to_have_attribute("data-block", "9")
        await expect(viewer.locator("#admin-panel")).to_be_hidden()
        for testid in ADMIN_CONTROLS:
            await expect(viewer.get_by_test_id(testid)).to_have_count(0)
        await expect(viewer.locator("[data-testid^='abort-']")).to_have_count(0)
        await expect(viewer.locator("#admin-controls, #block-controls")).to_have_text(["", ""])
        # No form field at all; the only visible buttons select a block, show its running
        # transition, or manage the session.
        await expect(
            viewer.locator("input:visible, select:visible, textarea:visible")
        ).to_have_count(0)
        buttons = await viewer.locator("button:visible").evaluate_all(
            "buttons => buttons.map((b) => b.dataset.testid ?? b.textContent)"
        )
        assert all(re.fullmatch(ALLOWED_FOR_VIEWER, b) for b in buttons), [
            b for b in buttons if not re.fullmatch(r"block-\d+", b)
        ]
        await screenshot(viewer, "07-viewer-no-controls")

        # The viewer still sees the transition finish, live.
        await mover.reply(going)
        await mover.reply(await next_notify(mover, "MEM_OFFLINE"))
        await expect(viewer.get_by_test_id(f"transition-{transition_id}")).to_have_attribute(
            "data-outcome", "completed"
        )
        await expect(viewer.get_by_test_id("block-9")).to_have_attribute("data-state", "offline")
        await expect(viewer.get_by_test_id("role")).to_have_text("viewer")


async def test_a_refused_token_asks_for_another(service: Service, dashboard: OpenDashboard) -> None:
    """A bad token: the form comes back with a clear message; a viewer token then connects."""
    # The browser itself logs each refused request ("Failed to load resource: ... 401").
    async with dashboard("not-a-token", allowed_console=[r"status of 401"]) as page:
        await expect(page.get_by_test_id("status")).to_have_attribute("data-state", "unauthorized")
        await expect(page.get_by_test_id("error-message")).to_contain_text("refused (401)")
        await expect(page.get_by_test_id("token-input")).to_be_visible()
        await expect(page.locator("#dashboard")).to_be_hidden()
        assert await page.evaluate("sessionStorage.getItem('hotplugd.token')") is None
        await screenshot(page, "08-token-refused")

        await page.get_by_test_id("token-input").fill(VIEWER_TOKEN)
        await page.get_by_test_id("token-submit").click()
        await connected_page(page, "viewer")
        await expect(page.get_by_test_id("error-message")).to_have_text("")
