// Small helpers: build DOM nodes (never innerHTML: API data only ever becomes
// text nodes or attribute values) and format values for people.

/**
 * h('button', {class: 'x', 'data-testid': 'y', onclick: fn}, 'text', child)
 * Attributes that are null, undefined or false are left out; true gives an
 * empty attribute; functions under on* become listeners; `value` and
 * `checked` are set as properties.
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs ?? {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith('on') && typeof value === 'function') {
      el.addEventListener(key.slice(2), value);
    } else if (key === 'class') {
      el.className = Array.isArray(value) ? value.filter(Boolean).join(' ') : value;
    } else if (key === 'value' || key === 'checked') {
      el[key] = value;
    } else {
      el.setAttribute(key, value === true ? '' : String(value));
    }
  }
  appendChildren(el, children);
  return el;
}

function appendChildren(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Replace a container's content; keep keyboard focus on the "same" element. */
export function replaceContent(container, ...children) {
  const active = document.activeElement;
  const key = active && active !== container && container.contains(active)
    ? (active.dataset.testid ? `[data-testid="${CSS.escape(active.dataset.testid)}"]`
      : active.id ? `#${CSS.escape(active.id)}` : null)
    : null;
  container.replaceChildren();
  appendChildren(container, children);
  if (key) container.querySelector(key)?.focus({ preventScroll: true });
}

/** A definition list from [term, value] pairs; pairs with an empty value are left out. */
export function facts(pairs, className = 'facts') {
  return h('dl', { class: className },
    pairs
      .filter(([, value]) => value !== undefined && value !== null && value !== '')
      .map(([term, value]) => h('div', {}, h('dt', {}, term), h('dd', {}, value))));
}

/** Sizes the way lsmem prints them: 128M, 1G, 1.5G. */
export function formatBytes(bytes) {
  if (!Number.isFinite(bytes)) return '?';
  const units = ['B', 'K', 'M', 'G', 'T', 'P', 'E'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  const text = Number.isInteger(value) ? String(value) : value.toFixed(1).replace(/\.0$/, '');
  return text + units[unit];
}

export function hex(value, width = 4) {
  if (typeof value !== 'number' || !Number.isFinite(value)) return '';
  return `0x${value.toString(16).padStart(width, '0')}`;
}

export function formatMs(ms) {
  if (typeof ms !== 'number' || !Number.isFinite(ms)) return '';
  return ms < 10 ? `${ms.toFixed(1)} ms` : `${Math.round(ms)} ms`;
}

/** A timestamp (ISO string, or epoch seconds / milliseconds) as a local time. */
export function formatTime(value) {
  const date = toDate(value);
  if (!date) return '';
  const time = date.toLocaleTimeString([], { hour12: false });
  return `${time}.${String(date.getMilliseconds()).padStart(3, '0')}`;
}

export function toDate(value) {
  if (value === null || value === undefined || value === '') return null;
  const date = typeof value === 'number' ? new Date(value > 1e12 ? value : value * 1000) : new Date(value);
  return Number.isNaN(date.getTime()) ? null : date;
}

// The Linux errno names a hotplug notifier is likely to return.
const ERRNO_NAMES = {
  1: 'EPERM', 2: 'ENOENT', 4: 'EINTR', 5: 'EIO', 11: 'EAGAIN', 12: 'ENOMEM', 13: 'EACCES',
  16: 'EBUSY', 17: 'EEXIST', 19: 'ENODEV', 22: 'EINVAL', 28: 'ENOSPC', 95: 'EOPNOTSUPP',
  107: 'ENOTCONN', 110: 'ETIMEDOUT', 125: 'ECANCELED',
};

/** "-16 EBUSY" from an errno (negative, as the kernel returns them) and an optional name. */
export function errnoText(errno, name) {
  if (errno === null || errno === undefined || errno === 0) return name ?? '';
  const known = name ?? ERRNO_NAMES[Math.abs(errno)];
  return known ? `${errno} ${known}` : String(errno);
}

/** Put `fresh` where `old` is; keep keyboard focus on the "same" element. */
export function swap(old, fresh) {
  const active = document.activeElement;
  const testid = active && old.contains(active) ? active.dataset.testid : null;
  old.replaceWith(fresh);
  if (testid) fresh.querySelector(`[data-testid="${CSS.escape(testid)}"]`)?.focus({ preventScroll: true });
}

/**
 * Wrap an async task so that bursts of triggers run it once: a trigger while
 * it runs makes it run once more afterwards, never twice at the same time.
 */
export function coalesce(task, delay = 50) {
  let timer = null;
  let running = false;
  let again = false;
  async function run() {
    timer = null;
    running = true;
    try {
      await task();
    } finally {
      running = false;
      if (again) {
        again = false;
        trigger();
      }
    }
  }
  function trigger() {
    if (running) again = true;
    else if (!timer) timer = setTimeout(run, delay);
  }
  return trigger;
}
