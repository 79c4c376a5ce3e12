// The notifier chain: subscribers in call order, live connection state.

import { errnoText, facts, formatMs, formatTime, h, hex, replaceContent } from './dom.js';

// Counters a subscriber read may carry, top level or under `counters`.
const COUNTERS = ['calls', 'notifications', 'replies', 'vetoes', 'timeouts', 'absences', 'disconnects'];

/**
 * Merge the chain (order) with the subscriber reads (details, counters); the
 * chain wins on order and priority, anything registered but not in the chain
 * comes last.
 */
export function chainEntries(chain, subscribers) {
  const seen = new Set();
  const entries = chain.map((link) => {
    const id = subscriberId(link);
    seen.add(id);
    return { ...(subscribers.get(id) ?? {}), ...link, id, inChain: true };
  });
  for (const [id, sub] of subscribers) if (!seen.has(id)) entries.push({ ...sub, id, inChain: false });
  return entries;
}

export function subscriberId(entry) {
  if (typeof entry.subscriber === 'string') return entry.subscriber;
  return String(entry.id ?? entry.subscriber?.id ?? entry.name);
}

export function renderChain(container, entries) {
  if (!entries.length) {
    replaceContent(container, h('p', { class: 'hint', 'data-testid': 'chain-empty' },
      'No subscribers: a walk calls nobody and its result is NOTIFY_DONE.'));
    return;
  }
  let position = 0;
  replaceContent(container, h('ol', { class: 'chain', 'data-testid': 'chain' },
    entries.map((entry) => renderSubscriber(entry, entry.inChain ? (position += 1) : null))));
}

function renderSubscriber(entry, position) {
  const builtIn = entry.builtin ?? entry.built_in ?? entry.name === 'notifier-error-inject';
  // The built-in injector answers in-process: it has no connection to lose.
  const connected = entry.connected === true || (builtIn && entry.connected === undefined);
  return h('li', {
    class: ['subscriber', connected ? 'connected' : 'disconnected', builtIn && 'builtin'],
    'data-testid': `subscriber-${entry.id}`,
    'data-connected': String(connected),
    'data-priority': entry.priority ?? '',
  },
  h('div', { class: 'sub-head' },
    h('span', { class: 'position', title: 'position in the call order' },
      position === null ? '–' : String(position)),
    h('span', { class: 'sub-name' }, entry.name ?? entry.id),
    h('span', { class: 'priority', title: 'priority (higher is called first)' },
      `prio ${entry.priority ?? 0}`),
    h('span', { class: ['conn', connected ? 'yes' : 'no'], 'data-testid': `subscriber-${entry.id}-connection` },
      connected ? '● connected' : '○ disconnected'),
    builtIn && h('span', { class: 'tag builtin-tag' }, 'built-in')),
  facts([
    ['id', entry.id],
    ['actions', filterText(filterOf(entry, 'actions'))],
    ['nodes', filterText(filterOf(entry, 'nodes'))],
    ['timeout', entry.timeout_ms !== undefined ? `${entry.timeout_ms} ms` : ''],
    ['on failure', entry.failure_policy ?? ''],
    ['last reply', lastReply(entry)],
    ['latency', formatMs(entry.last_latency_ms ?? entry.last_reply?.latency_ms ?? entry.latency_ms)],
    ...counters(entry),
    !entry.inChain && ['note', 'not in the chain'],
  ].filter(Boolean), 'facts sub-facts'));
}

// A filter may sit at the top level or under `filters`; null or [] means "all".
function filterOf(entry, key) {
  if (key in entry) return entry[key];
  return entry.filters && key in entry.filters ? entry.filters[key] : undefined;
}

function filterText(list) {
  if (list === undefined) return '';
  if (list === null || (Array.isArray(list) && list.length === 0)) return 'all';
  return Array.isArray(list) ? list.join(', ') : String(list);
}

function lastReply(entry) {
  const reply = entry.last_reply ?? entry.last_result;
  if (reply === undefined || reply === null) return entry.last_reply === null ? 'none yet' : '';
  if (typeof reply !== 'object') return String(reply);
  const result = reply.result ?? reply.delivery ?? '';
  const value = typeof reply.value === 'number' ? hex(reply.value) : '';
  const when = formatTime(reply.at ?? reply.time ?? reply.received_at ?? reply.replied_at);
  return [reply.action, result, value, errnoText(reply.errno, reply.errno_name),
    reply.message && `“${reply.message}”`, when && `at ${when}`].filter(Boolean).join(' · ');
}

function counters(entry) {
  const source = { ...entry, ...(entry.counters ?? entry.stats ?? {}) };
  return COUNTERS
    .filter((name) => typeof source[name] === 'number')
    .map((name) => [name, String(source[name])]);
}
