/*
 * hotplugd dashboard — entry point (ES module, no build step, no framework).
 *
 * Data comes only from the public API: REST under /api/v1 (Authorization:
 * Bearer) and the /api/v1/events websocket of CloudEvents (?access_token=,
 * resumed with ?since=<last event id> after a reconnect). Every event makes
 * the affected part reload from REST; nothing polls.
 *
 * Test hooks (data-testid) and how an end-to-end test drives the page:
 *
 *   token-input, token-submit   token form (shown when there is no usable token);
 *                               or load "/#token=<token>" (the start-up link).
 *   token-forget                header button: forget the token, show the form.
 *   status                      connection status text; its data-state is one of
 *                               idle | connecting | connected | reconnecting |
 *                               unauthorized | no-token.
 *   role                        "admin" or "viewer" (empty until known; from
 *                               GET /api/v1/whoami, see detectRole).
 *   error-message               role="alert": API problems ("title: detail (EBUSY)"),
 *                               and failures of transitions started from this page.
 *   info-message                role="status": what an admin action just did.
 *   connection-banner           shown while the stream is lost and reconnecting.
 *
 *   summary, block-size, total-online, total-offline, block-count
 *   node-<n>                    one NUMA node, data-states="N_MEMORY N_NORMAL_MEMORY ..."
 *   block-<id>                  a block <button>, data-state (online | offline |
 *                               going-offline), data-zone (Normal | Movable | HighMem,
 *                               "" when offline), data-transition (id or "").
 *                               Clicking it selects it (aria-pressed="true").
 *   block-details               facts of the selected block.
 *
 *   Admin controls act on the selected block (select first, then act):
 *   online-type                 <select>: online | online_kernel | online_movable
 *   online-button, offline-button, remove-button, abort-button
 *   flag-isolation-fails, flag-unmovable-pages, flag-migration-ms, flags-submit
 *   probe-node, probe-count, probe-submit
 *   inject-enabled, inject-priority, inject-going-online, inject-going-offline,
 *   inject-submit, inject-status
 *   abort-transition-<id>       Abort on a running offline transition's card.
 *   A viewer's page has none of these elements.
 *
 *   e.g. online:  click block-5, select online-type "online_movable", click online-button
 *        offline: click block-5, click offline-button
 *        probe:    fill probe-node 2, probe-count 1, click probe-submit
 *        abort:    click abort-transition-<id> (or block-<id> then abort-button)
 *        inject:   check inject-enabled, fill inject-going-online -16, click inject-submit
 *   Online/offline use ?wait=false: the result arrives through the event stream.
 *
 *   subscriber-<id>             chain entry in call order, data-connected="true|false",
 *                               data-priority
 *   transition-<id>             a timeline card, data-outcome (pending | running |
 *                               completed | cancelled | failed | aborted),
 *                               data-operation, data-block
 *     transition-<id>-outcome, transition-<id>-errno, veto (the "Vetoed by" line)
 *     walk                      data-action, data-cancel="true" on MEM_CANCEL_* walks
 *     walk                      (the walk in progress of a running transition also has
 *                               data-live="true"; its provisional result is not shown)
 *     call                      data-action, data-subscriber, data-delivery, data-result,
 *                               data-errno ("" when none), data-vetoer="true" on the
 *                               vetoing call, data-stopped="true" on the call that
 *                               stopped the walk; a call sent and not answered yet is
 *                               data-delivery="pending" (from the event stream)
 *   load-older                  pages in older history (?limit=20&before=<oldest id>)
 */

import { Api, EventStream, listOf } from './api.js';
import { buildAdminControls } from './admin.js';
import { chainEntries, renderChain, subscriberId } from './chain.js';
import { coalesce, errnoText, h, replaceContent, swap } from './dom.js';
import { buildBlockControls, renderBlockDetails, renderMemory } from './memory.js';
import { isFinished, renderTransition } from './timeline.js';

const TOKEN_KEY = 'hotplugd.token';
const HISTORY_PAGE = 20;
const INJECTOR = 'notifier-error-inject';
const EXPANDED_HISTORY = 3; // history cards shown open on load; live ones always are

const $ = (id) => document.getElementById(id);

const state = {
  token: null,
  role: null, // 'admin' | 'viewer' | null while unknown
  memory: null,
  blocks: new Map(),
  selected: null,
  onlineType: 'online',
  blockControls: null, // {id, element, sync} for the selected block (admin only)
  admin: null, // {element, setInject} (admin only)
  chain: [],
  subscribers: new Map(),
  transitions: new Map(),
  // Notifications sent and not answered yet, per transition id: notification id ->
  // {action, subscriber, name}. A record lists a call only once it is answered.
  pending: new Map(),
  order: [], // transition ids, newest first
  expanded: new Map(),
  historyEnd: false,
  mine: new Set(), // transitions started from this tab, reported when they fail
};

const api = new Api(() => state.token, (error) => refuseToken(error));
const stream = new EventStream(streamUrl, { onOpen, onEvent, onDown });

const refresh = {
  memory: coalesce(() => guarded(loadMemory, 'Could not load the memory state')),
  chain: coalesce(() => guarded(loadChain, 'Could not load the chain')),
};
const transitionRefreshers = new Map();

// ---------------------------------------------------------------- token, start

function boot() {
  $('token-form').addEventListener('submit', (event) => {
    event.preventDefault();
    const token = $('token-input').value.trim();
    $('token-input').value = '';
    if (token) start(token);
  });
  $('token-forget').addEventListener('click', () => {
    stop();
    sessionStorage.removeItem(TOKEN_KEY);
    clearError();
    showTokenForm('no-token', 'No token', '');
  });
  $('error-dismiss').addEventListener('click', clearError);
  $('load-older').addEventListener('click', () => loadOlder().catch((error) => {
    if (error.status !== 401) showError(error, 'Could not load older transitions');
  }));
  window.addEventListener('hashchange', () => {
    const token = tokenFromFragment();
    if (token) start(token);
  });
  const token = tokenFromFragment() ?? sessionStorage.getItem(TOKEN_KEY);
  if (token) start(token);
  else showTokenForm('no-token', 'No token', '');
}

/** The token of a "/#token=..." link; removes the fragment from the address bar. */
function tokenFromFragment() {
  const params = new URLSearchParams(window.location.hash.slice(1));
  const token = params.get('token') ?? params.get('access_token');
  if (window.location.hash) {
    window.history.replaceState(null, '', window.location.pathname + window.location.search);
  }
  return token && token.trim() ? token.trim() : null;
}

async function start(token) {
  stop();
  state.token = token;
  sessionStorage.setItem(TOKEN_KEY, token);
  clearError();
  showInfo('');
  setStatus('connecting', 'Connecting…');
  $('token-panel').hidden = true;
  $('token-forget').hidden = false;
  try {
    await detectRole();
  } catch (error) {
    if (state.token !== token) return;
    if (error.status === 403) refuseToken(error);
    else if (error.status !== 401) {
      setStatus('reconnecting', 'Cannot reach hotplugd');
      showError(error);
    }
    if (!state.token) return;
  }
  if (state.token !== token) return;
  $('dashboard').hidden = false;
  refresh.memory();
  refresh.chain();
  guarded(() => loadHistory(false), 'Could not load the transition history');
  stream.start();
}

function stop() {
  stream.stop();
  state.token = null;
  setRole(null);
  state.memory = null;
  state.blocks = new Map();
  state.selected = null;
  state.chain = [];
  state.subscribers = new Map();
  resetTimeline();
  $('dashboard').hidden = true;
}

/** A 401 (or a token that may not read): stop everything and ask for another token. */
function refuseToken(error) {
  if (state.token === null && $('status').dataset.state === 'unauthorized') return;
  stop();
  sessionStorage.removeItem(TOKEN_KEY);
  const why = error?.status === 403
    ? 'This token may not read the dashboard data (403). Use an admin or viewer token.'
    : 'The token was refused (401). Enter a valid admin or viewer token.';
  showTokenForm('unauthorized', 'Token refused', why);
}

function showTokenForm(statusState, statusText, message) {
  setStatus(statusState, statusText);
  $('token-panel').hidden = false;
  $('token-forget').hidden = true;
  if (message) showError(message);
  $('token-input').focus();
}

/**
 * The token's role. hotplugd names it at GET /api/v1/whoami; without that
 * route, a harmless request that needs admin tells: an empty PATCH of a
 * subscriber id that cannot exist (admin: 404 or 422, viewer: 403; nothing
 * changes either way). GET /debug/notifier-error-inject cannot tell: it is a
 * read, open to viewers too.
 */
async function detectRole() {
  const role = (await roleFromWhoami()) ?? (await roleFromAdminProbe());
  if (role !== 'admin') {
    // A token that is neither (e.g. a subscriber's) reads nothing: this 403 refuses it.
    await api.get('/memory');
    setRole('viewer');
    return;
  }
  setRole('admin');
  await guarded(loadInject, 'Could not load the error injection setting');
}

async function roleFromWhoami() {
  try {
    const me = await api.get('/whoami');
    return me && typeof me.role === 'string' ? me.role : null;
  } catch (error) {
    if (error.status === 404 || error.status === 405) return null;
    throw error;
  }
}

async function roleFromAdminProbe() {
  try {
    await api.request('PATCH', '/subscribers/dashboard-role-probe-none', { body: {} });
    return 'admin';
  } catch (error) {
    if (error.status === 403) return 'viewer';
    if (error.status === 401 || error.status === 0 || error.status >= 500) throw error;
    return 'admin'; // 404 / 422: allowed to try, so admin
  }
}

function setRole(role) {
  state.role = role;
  $('role').textContent = role ?? '';
  const isAdmin = role === 'admin';
  $('admin-panel').hidden = !isAdmin;
  state.admin = isAdmin ? buildAdminControls(adminActions) : null;
  replaceContent($('admin-controls'), state.admin?.element ?? null);
  state.blockControls = null;
  renderSelected();
  renderTimeline();
}

// ---------------------------------------------------------------- event stream

function streamUrl(since) {
  const url = new URL('/api/v1/events', window.location.href);
  url.protocol = window.location.protocol === 'https:' ? 'wss:' : 'ws:';
  url.searchParams.set('access_token', state.token ?? '');
  if (since !== null) url.searchParams.set('since', since);
  return url.href;
}

function onOpen(resumed) {
  setStatus('connected', resumed ? 'Connected — live (resumed)' : 'Connected — live');
  if (state.role === null) guarded(detectRole, 'Could not determine the role');
  // Catch up on anything the stream cannot replay (e.g. after a service restart).
  refresh.memory();
  refresh.chain();
  if (resumed) {
    for (const [id, record] of state.transitions) if (!isFinished(record)) refreshTransition(id);
  }
}

async function onDown({ code, opened, delay, attempt }) {
  if (!state.token) return false;
  // A refused handshake looks like any lost connection to a browser: ask REST whether
  // the token still works before trying again.
  if (!opened || code === 1008) {
    try {
      await api.get('/memory');
    } catch (error) {
      if (error.status === 401 || error.status === 403) {
        refuseToken(error);
        return false;
      }
    }
  }
  const seconds = Math.max(1, Math.round(delay / 1000));
  setStatus('reconnecting',
    `Connection lost${code && code !== 1006 ? ` (code ${code})` : ''} — reconnecting in ${seconds} s (attempt ${attempt})`);
  return Boolean(state.token);
}

function onEvent(event) {
  const type = String(event.type ?? '');
  const data = event.data && typeof event.data === 'object' ? event.data : {};
  if (type === 'hotplug.stream.gap') {
    showInfo('Some live events were missed; the dashboard reloaded its state.');
    refresh.memory();
    refresh.chain();
    guarded(() => loadHistory(true), 'Could not reload the transition history');
  } else if (type.startsWith('hotplug.block.')) {
    applyBlockEvent(type, data);
  } else if (type.startsWith('hotplug.subscriber.')) {
    applySubscriberEvent(type, data);
  } else if (type.startsWith('hotplug.transition.') || type.startsWith('hotplug.notification.')) {
    const isTransition = type.startsWith('hotplug.transition.');
    const id = transitionIdOf(event, data, isTransition);
    if (id === null) return;
    if (type === 'hotplug.notification.sent') notePending(id, data, true);
    else if (type === 'hotplug.notification.replied') notePending(id, data, false);
    if (!state.transitions.has(id)) {
      state.expanded.set(id, true);
      upsertTransition({ id, outcome: 'pending', ...(isTransition && data.operation ? data : {}) }, 'top');
    }
    refreshTransition(id);
    // Replies change a subscriber's last reply, latency and counters.
    if (type === 'hotplug.notification.replied' || type === 'hotplug.transition.finished') refresh.chain();
  }
}

/** Track a call in flight: shown as "awaiting a reply" until its reply or the end. */
function notePending(transitionId, data, sent) {
  if (data.notification === undefined || data.notification === null) return;
  const key = String(data.notification);
  if (!sent) {
    state.pending.get(transitionId)?.delete(key);
    return;
  }
  if (!state.pending.has(transitionId)) state.pending.set(transitionId, new Map());
  state.pending.get(transitionId).set(key, {
    action: data.action, subscriber: data.subscriber, name: data.name,
  });
}

function transitionIdOf(event, data, dataIdIsTransition) {
  const ref = data.transition ?? data.transition_id;
  if (typeof ref === 'string' || typeof ref === 'number') return String(ref);
  if (ref && typeof ref === 'object' && ref.id !== undefined) return String(ref.id);
  if (dataIdIsTransition && data.id !== undefined) return String(data.id);
  return dataIdIsTransition && event.subject ? String(event.subject).split('/').pop() : null;
}

function applyBlockEvent(type, data) {
  const items = Array.isArray(data.blocks) ? data.blocks
    : [data.block && typeof data.block === 'object' ? data.block : data];
  for (const item of items) {
    const id = typeof item.id === 'number' ? item.id : typeof item.block === 'number' ? item.block : null;
    if (id === null) continue;
    if (type === 'hotplug.block.removed') state.blocks.delete(id);
    else if (state.blocks.has(id) || item.state) state.blocks.set(id, { ...state.blocks.get(id), ...item, id });
  }
  renderMemoryPanel();
  refresh.memory(); // node states and anything the event did not carry
}

function applySubscriberEvent(type, data) {
  const body = data.subscriber && typeof data.subscriber === 'object' ? data.subscriber : data;
  const raw = typeof data.subscriber === 'string' ? data.subscriber : body.id ?? data.subscriber_id;
  if (raw !== undefined && raw !== null) {
    const id = String(raw);
    if (type === 'hotplug.subscriber.removed') {
      state.subscribers.delete(id);
      state.chain = state.chain.filter((link) => subscriberId(link) !== id);
    } else if (type === 'hotplug.subscriber.connected' || type === 'hotplug.subscriber.disconnected') {
      const connected = type === 'hotplug.subscriber.connected';
      if (state.subscribers.has(id)) state.subscribers.get(id).connected = connected;
      for (const link of state.chain) if (subscriberId(link) === id) link.connected = connected;
    } else if (state.role === 'admin' && (id === INJECTOR || body.name === INJECTOR)) {
      guarded(loadInject, 'Could not load the error injection setting');
    }
    renderChainPanel();
  }
  refresh.chain(); // order, priority and counters come from REST
}

// ---------------------------------------------------------------- loading

async function guarded(task, context) {
  try {
    await task();
  } catch (error) {
    if (error.status === 401 || !state.token) return; // handled by refuseToken
    // Unreachable service: the connection status and banner say so already, and the
    // reload after reconnecting brings the data back.
    if (error.status === 0) return;
    showError(error, context);
  }
}

async function loadInject() {
  const settings = await api.get('/debug/notifier-error-inject');
  state.admin?.setInject(settings);
}

async function loadMemory() {
  const token = state.token;
  const [memory, blocks] = await Promise.all([api.get('/memory'), api.get('/memory/blocks')]);
  if (state.token !== token) return;
  state.memory = memory;
  state.blocks = new Map(listOf(blocks, 'blocks').map((block) => [block.id, block]));
  renderMemoryPanel();
}

async function loadChain() {
  const token = state.token;
  const [chain, subscribers] = await Promise.all([api.get('/chain'), api.get('/subscribers')]);
  if (state.token !== token) return;
  state.chain = listOf(chain, 'chain', 'subscribers');
  state.subscribers = new Map(listOf(subscribers, 'subscribers').map((sub) => [subscriberId(sub), sub]));
  renderChainPanel();
}

function refreshTransition(id) {
  let trigger = transitionRefreshers.get(id);
  if (!trigger) {
    trigger = coalesce(() => guarded(() => loadTransition(id), `Could not load transition ${id}`));
    transitionRefreshers.set(id, trigger);
  }
  trigger();
}

async function loadTransition(id) {
  const token = state.token;
  let record;
  try {
    record = await api.get(`/transitions/${encodeURIComponent(id)}`);
  } catch (error) {
    if (error.status === 404) return; // pruned from history meanwhile
    throw error;
  }
  if (state.token !== token || !record) return;
  upsertTransition(record, 'top');
  if (isFinished(record)) transitionRefreshers.delete(id);
}

async function loadHistory(reset) {
  const token = state.token;
  const page = listOf(await api.get('/transitions', { limit: HISTORY_PAGE }), 'transitions');
  if (state.token !== token) return;
  if (reset) resetTimeline();
  addHistoryPage(page, true);
}

async function loadOlder() {
  const before = state.order.at(-1);
  const page = listOf(await api.get('/transitions', { limit: HISTORY_PAGE, before }), 'transitions');
  addHistoryPage(page, false);
}

function addHistoryPage(page, first) {
  page.forEach((record, index) => {
    const id = String(record.id);
    if (!state.expanded.has(id)) state.expanded.set(id, first && index < EXPANDED_HISTORY);
    upsertTransition(record, 'bottom');
    // A list may carry summaries only: fetch the full record for its walks.
    if (!Array.isArray(record.walks) || !isFinished(record)) refreshTransition(id);
  });
  state.historyEnd = page.length < HISTORY_PAGE;
  $('load-older').hidden = state.historyEnd;
  $('history-end').hidden = !state.historyEnd;
}

function resetTimeline() {
  state.transitions = new Map();
  state.pending = new Map();
  state.order = [];
  state.expanded = new Map();
  state.historyEnd = false;
  transitionRefreshers.clear();
  replaceContent($('transitions'));
  $('load-older').hidden = false;
  $('history-end').hidden = true;
}

// ---------------------------------------------------------------- rendering

function renderMemoryPanel() {
  renderMemory($('memory-nodes'), $('memory-summary'), {
    memory: state.memory, blocks: state.blocks, selected: state.selected, onSelect: selectBlock,
  });
  renderSelected();
}

function selectBlock(id) {
  state.selected = id;
  renderMemoryPanel();
}

function renderSelected() {
  const block = state.selected === null ? null : state.blocks.get(state.selected) ?? null;
  renderBlockDetails($('block-details'), block, {
    blockSize: state.memory?.block_size_bytes, onShowTransition: showTransition,
  });
  if (state.selected !== null && !block && state.blocks.size) {
    replaceContent($('block-details'), h('p', { class: 'hint' }, `Block ${state.selected} no longer exists.`));
  }
  if (state.role !== 'admin' || !block) {
    state.blockControls = null;
    replaceContent($('block-controls'));
    return;
  }
  const record = block.transition ? state.transitions.get(String(block.transition)) : undefined;
  if (state.blockControls?.id !== block.id) {
    state.blockControls = { id: block.id, ...buildBlockControls(block, blockActions, state.onlineType) };
    replaceContent($('block-controls'), state.blockControls.element);
  }
  state.blockControls.sync(block, record);
}

function renderChainPanel() {
  renderChain($('chain'), chainEntries(state.chain, state.subscribers));
}

function cardOptions(id) {
  return {
    isAdmin: state.role === 'admin',
    expanded: state.expanded.get(id) ?? false,
    onAbort: (transitionId) => adminActions.abort(transitionId),
    onToggle: (transitionId, open) => state.expanded.set(transitionId, open),
    pending: [...(state.pending.get(id)?.values() ?? [])],
  };
}

function cardFor(id) {
  return $('transitions').querySelector(`[data-testid="transition-${CSS.escape(id)}"]`);
}

function upsertTransition(record, where) {
  const id = String(record.id);
  state.transitions.set(id, record);
  if (isFinished(record)) state.pending.delete(id);
  const card = renderTransition(record, cardOptions(id));
  const old = cardFor(id);
  if (old) {
    swap(old, card);
  } else if (where === 'top') {
    state.order.unshift(id);
    $('transitions').prepend(card);
  } else {
    state.order.push(id);
    $('transitions').append(card);
  }
  reportIfFailed(record);
  if (state.selected !== null && String(state.blocks.get(state.selected)?.transition) === id) renderSelected();
}

function renderTimeline() {
  const cards = state.order.map((id) => renderTransition(state.transitions.get(id), cardOptions(id)));
  replaceContent($('transitions'), cards);
}

/** A transition started here without waiting: say so when it does not complete. */
function reportIfFailed(record) {
  const id = String(record.id);
  if (!state.mine.has(id) || !isFinished(record)) return;
  state.mine.delete(id);
  if (record.outcome === 'completed') return;
  const veto = record.vetoed_by ? `, vetoed by ${record.vetoed_by.name ?? record.vetoed_by.subscriber}` : '';
  const errno = record.errno ? ` ${errnoText(record.errno, record.errno_name)}` : '';
  showError(`${record.operation ?? 'Transition'} of block ${record.block} ${record.outcome}:${errno}${veto} (transition ${id}).`);
}

function showTransition(id) {
  const card = cardFor(String(id));
  if (!card) {
    state.expanded.set(String(id), true);
    refreshTransition(String(id));
    return;
  }
  card.querySelector('details')?.setAttribute('open', '');
  card.scrollIntoView({ block: 'nearest' });
  card.focus({ preventScroll: true });
}

// ---------------------------------------------------------------- admin actions

/** Run one API call for an admin action: errors go to the alert area. */
async function act(label, method, path, options = {}) {
  clearError();
  try {
    return await api.request(method, path, options);
  } catch (error) {
    if (error.status !== 401) showError(error, `${label} failed`);
    return null;
  }
}

/** The transition id of a 202 reply: from its body, else from its Location. */
function transitionOf(reply) {
  if (reply?.data?.id !== undefined) return String(reply.data.id);
  const location = reply?.headers.get('Location');
  return location ? decodeURIComponent(location.split('/').filter(Boolean).pop()) : null;
}

async function trigger(label, path, body) {
  const reply = await act(label, 'POST', path, { body, query: { wait: 'false' } });
  if (!reply) return;
  const id = transitionOf(reply);
  if (id === null) {
    showInfo(`${label}: accepted.`);
    return;
  }
  state.mine.add(id);
  state.expanded.set(id, true);
  if (!state.transitions.has(id)) upsertTransition({ id, outcome: 'pending', ...(reply.data ?? {}) }, 'top');
  showInfo(`${label}: transition ${id} queued.`);
  refreshTransition(id);
}

const blockActions = {
  setOnlineType(type) {
    state.onlineType = type;
  },
  online(block, onlineType) {
    return trigger(`Online block ${block} (${onlineType})`, `/memory/blocks/${block}/online`,
      { online_type: onlineType });
  },
  offline(block) {
    return trigger(`Offline block ${block}`, `/memory/blocks/${block}/offline`, {});
  },
  async remove(block) {
    const reply = await act(`Remove block ${block}`, 'DELETE', `/memory/blocks/${block}`);
    if (!reply) return;
    showInfo(`Block ${block} removed.`);
    state.blocks.delete(block);
    state.selected = null;
    renderMemoryPanel();
    refresh.memory();
  },
  abort: (id) => adminActions.abort(id),
  async setFlags(block, flags) {
    const reply = await act(`Set flags of block ${block}`, 'PATCH', `/memory/blocks/${block}`, { body: flags });
    if (!reply) return;
    showInfo(`Simulation flags of block ${block} set.`);
    if (reply.data && reply.data.id === block) state.blocks.set(block, reply.data);
    state.blockControls = null; // rebuild the form from the new values
    renderMemoryPanel();
  },
};

const adminActions = {
  async abort(id) {
    const reply = await act(`Abort transition ${id}`, 'POST', `/transitions/${encodeURIComponent(id)}/abort`);
    if (!reply) return;
    showInfo(`Abort of transition ${id} requested.`);
    refreshTransition(String(id));
  },
  async probe(node, count) {
    const reply = await act(`Probe ${count} block(s) on node ${node}`, 'POST', '/memory/probe',
      { body: { node, count } });
    if (!reply) return;
    const added = listOf(reply.data, 'blocks', 'added').map((block) => block.id);
    showInfo(added.length ? `Added block${added.length === 1 ? '' : 's'} ${added.join(', ')} on node ${node}.`
      : `Probe on node ${node} done.`);
    refresh.memory();
  },
  async inject(settings) {
    const reply = await act('Error injection', 'PUT', '/debug/notifier-error-inject', { body: settings });
    if (!reply) return;
    state.admin?.setInject(reply.data ?? settings);
    showInfo(settings.enabled ? 'Error injection enabled.' : 'Error injection disabled.');
    refresh.chain();
  },
};

// ---------------------------------------------------------------- messages

function setStatus(key, text) {
  const el = $('status');
  el.dataset.state = key;
  el.textContent = text;
  $('connection-banner').hidden = key !== 'reconnecting';
}

function showError(error, context) {
  const text = typeof error === 'string' ? error
    : typeof error?.describe === 'function' ? error.describe() : String(error?.message ?? error);
  $('error-message').textContent = context ? `${context}: ${text}` : text;
  $('error-message').dataset.errnoName = error?.problem?.errno_name ?? '';
  $('error-dismiss').hidden = false;
}

function clearError() {
  $('error-message').textContent = '';
  $('error-dismiss').hidden = true;
}

function showInfo(text) {
  $('info-message').textContent = text;
}

boot();
