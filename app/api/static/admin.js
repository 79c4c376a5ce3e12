// Admin-only forms: hot-add (probe) and error injection. Built only for an
// admin token; a viewer's page never contains them.

import { errnoText, h } from './dom.js';

const INJECT_ACTIONS = [
  ['MEM_GOING_ONLINE', 'inject-going-online', 'errno for MEM_GOING_ONLINE'],
  ['MEM_GOING_OFFLINE', 'inject-going-offline', 'errno for MEM_GOING_OFFLINE'],
];

/**
 * @param {{probe(node: number, count: number): void, inject(settings: object): void}} actions
 * @returns {{element: HTMLElement, setInject(settings: object|null): void}}
 */
export function buildAdminControls(actions) {
  const inject = buildInjectForm(actions);
  const element = h('div', { class: 'admin-forms' }, buildProbeForm(actions), inject.element);
  return { element, setInject: inject.set };
}

function field(id, label, input, hint) {
  return h('div', { class: 'field' }, h('label', { for: id }, label), input,
    hint && h('span', { class: 'hint', id: `${id}-hint` }, hint));
}

function buildProbeForm(actions) {
  const node = h('input', { type: 'number', id: 'probe-node', 'data-testid': 'probe-node',
    min: 0, max: 1023, step: 1, value: '1', required: true });
  const count = h('input', { type: 'number', id: 'probe-count', 'data-testid': 'probe-count',
    min: 1, step: 1, value: '1', required: true });
  return h('form', { class: 'probe-form', 'aria-labelledby': 'probe-title',
    onsubmit: (event) => {
      event.preventDefault();
      actions.probe(Number(node.value), Number(count.value));
    } },
  h('fieldset', {}, h('legend', { id: 'probe-title' }, 'Hot-add memory (probe)'),
    h('div', { class: 'row' },
      field('probe-node', 'Node', node),
      field('probe-count', 'Blocks', count),
      h('button', { type: 'submit', 'data-testid': 'probe-submit' }, 'Add blocks')),
    h('p', { class: 'hint' }, 'New offline blocks after the highest block id; a new node is created if needed.')));
}

function buildInjectForm(actions) {
  const enabled = h('input', { type: 'checkbox', id: 'inject-enabled', 'data-testid': 'inject-enabled' });
  const priority = h('input', { type: 'number', id: 'inject-priority', 'data-testid': 'inject-priority',
    step: 1, value: '0', required: true });
  const errnos = INJECT_ACTIONS.map(([action, id, label]) => [action, h('input', {
    type: 'number', id, 'data-testid': id, min: -4095, max: 0, step: 1, value: '0', required: true,
    'aria-describedby': 'inject-errno-hint',
  }), id, label]);
  const status = h('p', { class: 'inject-status', 'data-testid': 'inject-status', role: 'status' });

  const element = h('form', { class: 'inject-form', 'aria-labelledby': 'inject-title',
    onsubmit: (event) => {
      event.preventDefault();
      actions.inject({
        enabled: enabled.checked,
        priority: Number(priority.value),
        actions: Object.fromEntries(errnos.map(([action, input]) => [action, Number(input.value)])),
      });
    } },
  h('fieldset', {}, h('legend', { id: 'inject-title' }, 'Error injection (notifier-error-inject)'),
    h('div', { class: 'check' }, enabled, h('label', { for: 'inject-enabled' }, 'enabled')),
    h('div', { class: 'row' },
      field('inject-priority', 'Priority', priority),
      errnos.map(([, input, id, label]) => field(id, label, input))),
    h('p', { class: 'hint', id: 'inject-errno-hint' },
      'An errno in [-4095, 0]: 0 lets the event through, e.g. -16 (EBUSY) or -12 (ENOMEM) vetoes it.'),
    h('button', { type: 'submit', 'data-testid': 'inject-submit' }, 'Apply'),
    status));

  function set(settings) {
    if (!settings) {
      status.textContent = 'Current setting unknown.';
      return;
    }
    enabled.checked = Boolean(settings.enabled);
    priority.value = String(settings.priority ?? 0);
    for (const [action, input] of errnos) input.value = String(settings.actions?.[action] ?? 0);
    const parts = INJECT_ACTIONS.map(([action]) => `${action} ${errnoText(settings.actions?.[action] ?? 0) || '0'}`);
    status.textContent = settings.enabled
      ? `Enabled at priority ${settings.priority ?? 0}: ${parts.join(', ')}.`
      : 'Disabled: not in the chain.';
  }
  return { element, set };
}
