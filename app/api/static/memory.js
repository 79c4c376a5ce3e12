// The memory map (summary, nodes, blocks) and the selected block's panel.

import { facts, formatBytes, h, replaceContent } from './dom.js';

const NODE_STATES = ['N_MEMORY', 'N_NORMAL_MEMORY', 'N_HIGH_MEMORY'];
const STATE_SHORT = { online: 'online', offline: 'offline', 'going-offline': 'going off' };
const ONLINE_TYPES = [
  ['online', 'online — the default zone'],
  ['online_kernel', 'online_kernel — Normal'],
  ['online_movable', 'online_movable — Movable'],
];

/** Totals the way lsmem sums them: a block counts as online only when its state is "online". */
export function memoryTotals(blocks, blockSize) {
  let online = 0;
  let offline = 0;
  for (const block of blocks) {
    if (block.state === 'online') online += blockSize;
    else offline += blockSize;
  }
  return { online, offline };
}

export function renderMemory(container, summaryContainer, { memory, blocks, selected, onSelect }) {
  const blockSize = memory?.block_size_bytes;
  const list = [...blocks.values()].sort((a, b) => a.id - b.id);
  const totals = memoryTotals(list, blockSize);
  replaceContent(summaryContainer,
    h('dl', { class: 'summary', 'data-testid': 'summary' },
      summaryItem('Memory block size', formatBytes(blockSize), 'block-size'),
      summaryItem('Total online memory', formatBytes(totals.online), 'total-online'),
      summaryItem('Total offline memory', formatBytes(totals.offline), 'total-offline'),
      summaryItem('Blocks', String(list.length), 'block-count'),
      memory?.auto_online_blocks !== undefined
        && summaryItem('Auto-online new blocks', String(memory.auto_online_blocks), 'auto-online')),
    legend());

  const nodes = new Map((memory?.nodes ?? []).map((node) => [node.id, node]));
  for (const block of list) if (!nodes.has(block.node)) nodes.set(block.node, { id: block.node });
  const sorted = [...nodes.values()].sort((a, b) => a.id - b.id);
  replaceContent(container, sorted.map((node) => renderNode(
    node, list.filter((block) => block.node === node.id), blockSize, selected, onSelect)));
}

function summaryItem(term, value, testid) {
  return h('div', {}, h('dt', {}, term), h('dd', { 'data-testid': testid }, value));
}

function legend() {
  const sample = (cls, text) => h('li', {}, h('span', { class: `swatch ${cls}`, 'aria-hidden': 'true' }), text);
  return h('ul', { class: 'legend', 'aria-label': 'Legend' },
    sample('state-online zone-normal', 'online, Normal'),
    sample('state-online zone-movable', 'online, Movable'),
    sample('state-online zone-highmem', 'online, HighMem'),
    sample('state-offline', 'offline'),
    sample('state-going-offline', 'going offline'),
    sample('state-offline busy', 'transition running (⟳)'));
}

function renderNode(node, blocks, blockSize, selected, onSelect) {
  const states = node.states ?? [];
  const online = blocks.filter((b) => b.state === 'online').length;
  return h('section', {
    class: 'node', 'data-testid': `node-${node.id}`, 'data-states': states.join(' '),
    'aria-label': `Node ${node.id}`,
  },
  h('header', { class: 'node-head' },
    h('h3', {}, `Node ${node.id}`),
    h('span', { class: 'node-count' },
      `${blocks.length} block${blocks.length === 1 ? '' : 's'}, ${online} online`,
      blockSize ? ` (${formatBytes(online * blockSize)})` : ''),
    h('ul', { class: 'node-states', 'aria-label': `Node ${node.id} states` },
      NODE_STATES.map((name) => {
        const has = states.includes(name);
        return h('li', {
          class: has ? 'has' : 'lacks',
          title: `${has ? 'in' : 'not in'} ${name}`,
          'aria-label': `${has ? 'in' : 'not in'} ${name}`,
        }, has ? '✓ ' : '✗ ', name);
      })),
    zonePages(node)),
  blocks.length
    ? h('div', { class: 'blocks' }, blocks.map((block) => renderBlock(block, block.id === selected, onSelect)))
    : h('p', { class: 'hint' }, 'No memory blocks (memoryless node).'));
}

// Present pages per zone, in whatever shape the API gives them.
function zonePages(node) {
  const raw = node.present_pages ?? node.zones ?? node.present;
  let pairs = [];
  if (Array.isArray(raw)) {
    pairs = raw.map((z) => [z.zone ?? z.name, z.present_pages ?? z.pages ?? z.present]);
  } else if (raw && typeof raw === 'object') {
    pairs = Object.entries(raw).map(([zone, v]) => [zone, typeof v === 'object' ? v?.present_pages : v]);
  }
  pairs = pairs.filter(([zone, pages]) => zone && typeof pages === 'number');
  if (!pairs.length) return null;
  return h('p', { class: 'zone-pages' }, 'Present pages: ',
    pairs.map(([zone, pages]) => `${zone} ${pages}`).join(' · '));
}

export function blockLabel(block) {
  const parts = [`block ${block.id}`, block.state];
  if (block.zone) parts.push(block.zone);
  if (block.transition) parts.push('transition running');
  return parts.join(', ');
}

function renderBlock(block, isSelected, onSelect) {
  const zone = block.state === 'offline' ? null : block.zone;
  const label = blockLabel(block);
  return h('button', {
    type: 'button',
    class: ['block', `state-${block.state}`, zone && `zone-${String(zone).toLowerCase()}`,
      block.transition && 'busy', isSelected && 'selected'],
    'data-testid': `block-${block.id}`,
    'data-state': block.state,
    'data-zone': zone ?? '',
    'data-transition': block.transition ?? '',
    'aria-pressed': String(isSelected),
    'aria-label': label,
    title: label,
    onclick: () => onSelect(block.id),
  },
  h('span', { class: 'block-id' }, `#${block.id}`),
  h('span', { class: 'block-state' }, STATE_SHORT[block.state] ?? block.state),
  h('span', { class: 'block-zone' }, zone ?? '—'),
  block.transition && h('span', { class: 'busy-mark', 'aria-hidden': 'true' }, '⟳'));
}

/** The facts about the selected block (re-rendered on every change). */
export function renderBlockDetails(container, block, { blockSize, onShowTransition }) {
  if (!block) {
    replaceContent(container, h('p', { class: 'hint' }, 'Select a block in the memory map.'));
    return;
  }
  const size = blockSize;
  const start = Number.isFinite(size) ? block.id * size : null;
  const flags = block.flags ?? block.simulation ?? block;
  replaceContent(container, h('div', { 'data-testid': 'block-details', 'data-block': block.id },
    h('h3', {}, `Block ${block.id}`),
    facts([
      ['State', block.state],
      ['Zone', block.zone ?? '—'],
      ['Node', String(block.node)],
      ['Valid zones', (block.valid_zones ?? []).join(', ')],
      ['Physical range', start === null ? '' : `0x${start.toString(16)}–0x${(start + size - 1).toString(16)}`],
      ['Start PFN', block.start_pfn !== undefined ? `${block.start_pfn} (0x${Number(block.start_pfn).toString(16)})` : ''],
      ['Pages', block.nr_pages !== undefined ? String(block.nr_pages) : ''],
      ['Removable', block.removable === undefined ? '' : block.removable ? 'yes' : 'no'],
      ['Simulation', simulationText(flags)],
      ['Transition', block.transition
        ? h('button', { type: 'button', class: 'link', 'data-testid': 'block-transition-link',
          onclick: () => onShowTransition(block.transition) }, `${block.transition} (show)`)
        : 'none'],
    ])));
}

function simulationText(flags) {
  const parts = [];
  if (flags.isolation_fails) parts.push('isolation fails (-EBUSY before any event)');
  if (flags.unmovable_pages) parts.push('unmovable pages (-EBUSY after MEM_GOING_OFFLINE)');
  if (flags.migration_ms) parts.push(`migration ${flags.migration_ms} ms`);
  return parts.length ? parts.join('; ') : 'none';
}

/**
 * Admin controls for the selected block, built once per selection so that a
 * half-filled form survives live updates; sync() refreshes what is enabled.
 */
export function buildBlockControls(block, actions, onlineType) {
  let current = block;
  const select = h('select', { id: 'online-type', 'data-testid': 'online-type',
    onchange: () => actions.setOnlineType(select.value) },
  ONLINE_TYPES.map(([value, text]) => h('option', { value }, text)));
  select.value = onlineType;
  const online = actionButton('online-button', 'Online', () => actions.online(block.id, select.value));
  const offline = actionButton('offline-button', 'Offline', () => actions.offline(block.id));
  const remove = actionButton('remove-button', 'Remove block', () => actions.remove(block.id), 'danger');
  const abort = actionButton('abort-button', 'Abort offline', () => actions.abort(current.transition), 'danger');
  const hint = h('p', { class: 'hint', 'data-testid': 'block-controls-hint' });

  const flags = block.flags ?? block.simulation ?? block;
  const isolation = h('input', { type: 'checkbox', id: 'flag-isolation-fails',
    'data-testid': 'flag-isolation-fails', checked: Boolean(flags.isolation_fails) });
  const unmovable = h('input', { type: 'checkbox', id: 'flag-unmovable-pages',
    'data-testid': 'flag-unmovable-pages', checked: Boolean(flags.unmovable_pages) });
  const migration = h('input', { type: 'number', id: 'flag-migration-ms', min: 0, step: 1,
    'data-testid': 'flag-migration-ms', value: String(flags.migration_ms ?? 0) });
  const flagsForm = h('form', { class: 'flags-form', 'aria-label': `Simulation flags of block ${block.id}`,
    onsubmit: (event) => {
      event.preventDefault();
      actions.setFlags(block.id, {
        isolation_fails: isolation.checked,
        unmovable_pages: unmovable.checked,
        migration_ms: Number(migration.value) || 0,
      });
    } },
  h('fieldset', {}, h('legend', {}, 'Simulation flags'),
    h('div', { class: 'check' }, isolation, h('label', { for: 'flag-isolation-fails' }, 'isolation fails')),
    h('div', { class: 'check' }, unmovable, h('label', { for: 'flag-unmovable-pages' }, 'unmovable pages')),
    h('div', { class: 'field' }, h('label', { for: 'flag-migration-ms' }, 'migration (ms)'), migration),
    h('button', { type: 'submit', class: 'secondary', 'data-testid': 'flags-submit' }, 'Apply flags')));

  const element = h('div', { class: 'block-controls', 'data-testid': 'block-controls' },
    h('fieldset', {}, h('legend', {}, `Change block ${block.id}`),
      h('div', { class: 'row' },
        h('div', { class: 'field' }, h('label', { for: 'online-type' }, 'Online type'), select),
        h('div', { class: 'buttons' }, online, offline, abort, remove)),
      hint),
    flagsForm);

  function sync(next, record) {
    current = next;
    const idle = !next.transition;
    const offlining = next.state === 'going-offline' || record?.operation === 'offline';
    setEnabled(online, next.state === 'offline' && idle);
    setEnabled(offline, next.state === 'online' && idle);
    setEnabled(remove, next.state === 'offline' && idle);
    setEnabled(abort, Boolean(next.transition) && offlining);
    hint.textContent = next.transition
      ? `Transition ${next.transition} is in flight on this block.`
      : next.state === 'offline' ? 'Offline: it can be onlined or removed.' : 'Online: it can be offlined.';
    if (record?.outcome && ['pending', 'running'].includes(record.outcome)) {
      hint.textContent += ` (${record.operation ?? 'transition'} ${record.outcome})`;
    }
  }
  sync(block);
  return { element, sync };
}

// aria-disabled rather than `disabled`: a disabled button drops keyboard focus
// the moment a transition starts, and the user would lose their place.
function actionButton(testid, text, onPress, className) {
  const button = h('button', { type: 'button', class: className, 'data-testid': testid }, text);
  button.addEventListener('click', () => {
    if (button.getAttribute('aria-disabled') !== 'true') onPress();
  });
  return button;
}

function setEnabled(button, enabled) {
  button.setAttribute('aria-disabled', String(!enabled));
}
