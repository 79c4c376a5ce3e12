// One transition record as a card: what was asked, who was called in which
// walk, who vetoed, who got the cancel, and how it ended.

import { errnoText, facts, formatMs, formatTime, h, hex, toDate } from './dom.js';

const STOP_MASK = 0x8000;
const RUNNING = new Set(['pending', 'queued', 'running']);
const TIMESTAMPS = [
  ['queued', ['created_at', 'queued_at', 'requested_at']],
  ['started', ['started_at']],
  ['committed', ['committed_at']],
  ['finished', ['finished_at', 'completed_at', 'ended_at']],
];

export function isFinished(record) {
  return Boolean(record?.outcome) && !RUNNING.has(record.outcome);
}

/**
 * @param {object} record  a transition record (SPEC §5), possibly partial
 * @param {{isAdmin: boolean, expanded: boolean, onAbort(id): void, onToggle(id, open): void,
 *          pending?: Array<{action: string, subscriber: string, name?: string}>}} options
 *   pending: notifications sent and not answered yet (from the event stream); the
 *   record only lists a call once it is answered.
 */
export function renderTransition(record, { isAdmin, expanded, onAbort, onToggle, pending = [] }) {
  const id = String(record.id);
  const outcome = record.outcome ?? 'pending';
  const running = !isFinished(record);
  const walks = Array.isArray(record.walks) ? record.walks : [];
  const callCount = walks.reduce((n, walk) => n + (walk.calls?.length ?? 0), 0);
  // Only the last walk of a running transition can still be waiting for replies
  // (a subscriber is called once per walk: an answered call is no longer waiting).
  const waitingIn = (index) => {
    if (!running || index !== walks.length - 1) return null;
    const answered = new Set((walks[index].calls ?? []).map((call) => call.subscriber));
    return pending.filter((call) => call.action === walks[index].action && !answered.has(call.subscriber));
  };
  const waiting = walks.length ? waitingIn(walks.length - 1)?.length ?? 0 : 0;
  const details = h('details', { class: 'walks', open: expanded },
    h('summary', {}, `${walks.length} walk${walks.length === 1 ? '' : 's'}, ${callCount} call${callCount === 1 ? '' : 's'}`
      + (waiting ? `, ${waiting} awaiting a reply` : '')),
    record.arg && renderArg(record.arg),
    walks.length
      ? walks.map((walk, index) => renderWalk(walk, index, record, waitingIn(index)))
      : h('p', { class: 'hint' }, running ? 'No walk yet.' : 'No notifier events were sent.'));
  details.addEventListener('toggle', () => onToggle(id, details.open));

  return h('article', {
    class: ['transition', `outcome-${outcome}`],
    'data-testid': `transition-${id}`,
    'data-outcome': outcome,
    'data-operation': record.operation ?? '',
    'data-block': record.block ?? '',
    tabindex: '-1',
    'aria-label': `Transition ${id}: ${title(record)}, ${outcome}`,
  },
  h('header', { class: 'transition-head' },
    h('h3', {}, title(record)),
    h('span', { class: ['outcome', `outcome-${outcome}`], 'data-testid': `transition-${id}-outcome` },
      running && h('span', { class: 'spinner', 'aria-hidden': 'true' }), outcome),
    record.errno ? h('span', { class: 'errno', 'data-testid': `transition-${id}-errno` },
      errnoText(record.errno, record.errno_name)) : null,
    isAdmin && running && record.operation === 'offline' && h('button', {
      type: 'button', class: 'danger small', 'data-testid': `abort-transition-${id}`,
      onclick: () => onAbort(id),
    }, 'Abort')),
  h('p', { class: 'transition-meta' }, [`id ${id}`, ...timestamps(record)].join(' · ')),
  record.vetoed_by && renderVeto(record.vetoed_by),
  details);
}

function title(record) {
  const parts = [`${record.operation ?? 'transition'} block ${record.block ?? '?'}`];
  if (record.node !== undefined && record.node !== null) parts.push(`node ${record.node}`);
  if (record.online_type) parts.push(record.online_type);
  if (record.zone) parts.push(`zone ${record.zone}`);
  return parts.join(' · ');
}

function timestamps(record) {
  const out = [];
  for (const [label, keys] of TIMESTAMPS) {
    const key = keys.find((k) => record[k]);
    if (key) out.push(`${label} ${formatTime(record[key])}`);
  }
  const start = toDate(record.started_at);
  const end = toDate(record.finished_at ?? record.completed_at);
  if (start && end) out.push(`took ${formatMs(end - start)}`);
  return out;
}

function renderVeto(veto) {
  const who = veto.name ?? veto.subscriber ?? veto.id ?? 'a subscriber';
  return h('p', { class: 'veto', 'data-testid': 'veto' },
    h('strong', {}, 'Vetoed by '), h('span', { class: 'vetoer-name' }, String(who)),
    veto.errno !== undefined ? ` with ${errnoText(veto.errno, veto.errno_name)}` : '',
    veto.message ? ` — “${veto.message}”` : '');
}

function renderArg(arg) {
  return h('div', { class: 'arg' }, h('span', { class: 'arg-title' }, 'memory_notify'),
    facts(['start_pfn', 'nr_pages', 'status_change_nid_normal', 'status_change_nid_high', 'status_change_nid']
      .filter((key) => arg[key] !== undefined)
      .map((key) => [key, String(arg[key])]), 'facts arg-facts'));
}

/**
 * One walk. `waiting` is null for a finished walk; for the walk in progress (the
 * last one of a running transition) it lists the calls still awaiting a reply:
 * that walk's result so far is provisional and is not shown.
 */
function renderWalk(walk, index, record, waiting) {
  const action = walk.action ?? '?';
  const cancel = action.startsWith('MEM_CANCEL_');
  const going = action.startsWith('MEM_GOING_');
  const live = waiting !== null;
  const calls = Array.isArray(walk.calls) ? walk.calls : [];
  const stopped = live ? -1 : stoppedIndex(walk, calls);
  const vetoer = going && record.vetoed_by ? vetoerIndex(calls, record.vetoed_by) : -1;
  const named = typeof walk.result === 'number' ? hex(walk.result) : walk.result ?? walk.result_name;
  const result = live ? '' : [named, typeof walk.value === 'number' ? hex(walk.value) : null]
    .filter((part) => part !== undefined && part !== null && part !== '').join(' ');
  const awaiting = (waiting ?? []).map((call) => ({ ...call, priority: priorityOf(record, call.subscriber) }));
  return h('section', {
    class: ['walk', cancel && 'cancel', vetoer >= 0 && 'vetoed', live && 'live'],
    'data-testid': 'walk',
    'data-action': action,
    'data-cancel': cancel ? 'true' : null,
    'data-live': live ? 'true' : null,
    'aria-label': `walk ${index + 1}: ${action}${cancel ? ' (cancel)' : ''}${live ? ' (in progress)' : ''}`,
  },
  h('h4', {}, action,
    cancel && h('span', { class: 'tag cancel-tag' }, 'cancel walk'),
    vetoer >= 0 && h('span', { class: 'tag veto-tag' }, 'vetoed'),
    live && h('span', { class: 'tag live-tag' }, 'in progress'),
    result && h('span', { class: 'walk-result' }, `result ${result}`)),
  calls.length || awaiting.length ? renderCalls(calls, action, stopped, vetoer, awaiting)
    : h('p', { class: 'hint' }, live ? 'In progress: no reply yet.'
      : 'Nobody was called (empty walk: NOTIFY_DONE).'));
}

function priorityOf(record, subscriber) {
  const entry = Array.isArray(record.snapshot)
    ? record.snapshot.find((item) => item.id === subscriber) : undefined;
  return entry?.priority;
}

// Which call stopped the walk: as the record says (a flag on the call, or the
// walk's `stopped_by` as a call index or a subscriber), else the last call when
// its value carries the stop bit (a walk ends right after such a reply).
function stoppedIndex(walk, calls) {
  const flagged = calls.findIndex((call) => call.stopped === true);
  if (flagged >= 0) return flagged;
  const by = walk.stopped_by;
  if (Number.isInteger(by) && by >= 0 && by < calls.length) return by;
  const id = walk.stopped_by_subscriber ?? (by && typeof by === 'object' ? by.subscriber ?? by.id : by);
  if (typeof id === 'string') {
    const named = calls.findLastIndex((call) => call.subscriber === id);
    if (named >= 0) return named;
  }
  const last = calls.length - 1;
  return last >= 0 && typeof calls[last].value === 'number' && (calls[last].value & STOP_MASK) ? last : -1;
}

function vetoerIndex(calls, veto) {
  const id = veto.subscriber ?? veto.id;
  const byId = calls.findLastIndex((call) => id !== undefined && call.subscriber === id);
  return byId >= 0 ? byId : calls.findLastIndex((call) => veto.name && call.name === veto.name);
}

function renderCalls(calls, action, stopped, vetoer, awaiting) {
  const head = ['#', 'Subscriber', 'Priority', 'Delivery', 'Result', 'Value', 'Errno', 'Message', 'Latency'];
  return h('table', { class: 'calls' },
    h('thead', {}, h('tr', {}, head.map((text) => h('th', { scope: 'col' }, text)))),
    h('tbody', {}, renderAnswered(calls, action, stopped, vetoer),
      awaiting.map((call, index) => renderAwaiting(call, calls.length + index, action))));
}

/** A call sent and not answered yet: data-delivery="pending", no result. */
function renderAwaiting(call, index, action) {
  return h('tr', {
    class: ['call', 'delivery-pending'],
    'data-testid': 'call',
    'data-action': call.action ?? action,
    'data-subscriber': call.subscriber ?? '',
    'data-delivery': 'pending',
    'data-result': '',
    'data-errno': '',
  },
  h('td', {}, String(index + 1)),
  h('td', { class: 'who' }, call.name ?? call.subscriber ?? '?'),
  h('td', {}, call.priority ?? ''),
  h('td', { class: 'delivery' }, h('span', { class: 'spinner', 'aria-hidden': 'true' }), ' pending'),
  h('td', { colspan: 5, class: 'awaiting' }, 'awaiting a reply…'));
}

function renderAnswered(calls, action, stopped, vetoer) {
  return calls.map((call, index) => h('tr', {
    class: ['call', `delivery-${call.delivery ?? 'unknown'}`, index === vetoer && 'vetoer',
      index === stopped && 'stopper'],
    'data-testid': 'call',
    'data-action': call.action ?? action,
    'data-subscriber': call.subscriber ?? '',
    'data-delivery': call.delivery ?? '',
    'data-result': call.result ?? '',
    'data-errno': call.errno ?? '',
    'data-vetoer': index === vetoer ? 'true' : null,
    'data-stopped': index === stopped ? 'true' : null,
  },
  h('td', {}, String(index + 1)),
  h('td', { class: 'who' }, call.name ?? call.subscriber ?? '?',
    index === vetoer && h('span', { class: 'tag veto-tag' }, 'VETO'),
    index === stopped && h('span', { class: 'tag stop-tag' }, 'stopped the walk')),
  h('td', {}, call.priority ?? ''),
  h('td', { class: 'delivery' }, call.delivery ?? ''),
  h('td', {}, call.result ?? ''),
  h('td', { class: 'mono' }, hex(call.value)),
  h('td', {}, errnoText(call.errno, call.errno_name)),
  h('td', { class: 'message' }, call.message ?? ''),
  h('td', { class: 'num' }, formatMs(call.latency_ms))));
}
