// The REST client (/api/v1) and the event-stream websocket (/api/v1/events).

/** An error reply from the API, carrying its problem details (RFC 9457). */
export class ApiError extends Error {
  constructor(status, problem) {
    super(problem.title || `HTTP ${status}`);
    this.status = status;
    this.problem = problem;
  }

  /** One line for people: "Title: detail (EBUSY)". */
  describe() {
    const { title, detail, errno_name: errnoName } = this.problem;
    const text = [title || `HTTP ${this.status}`, detailText(detail)].filter(Boolean).join(': ');
    return errnoName ? `${text} (${errnoName})` : text;
  }
}

// FastAPI's own validation errors put a list in `detail`.
function detailText(detail) {
  if (Array.isArray(detail)) {
    return detail.map((d) => (d && d.msg ? `${(d.loc ?? []).join('.')}: ${d.msg}` : String(d))).join('; ');
  }
  return detail ? String(detail) : '';
}

export class Api {
  /**
   * @param {() => string|null} getToken
   * @param {(error: ApiError) => void} onUnauthorized  called on every 401
   */
  constructor(getToken, onUnauthorized) {
    this.getToken = getToken;
    this.onUnauthorized = onUnauthorized;
  }

  /** Resolves to {status, data, headers}; rejects with ApiError on any failure. */
  async request(method, path, { body, query } = {}) {
    const url = new URL(`/api/v1${path}`, window.location.origin);
    for (const [key, value] of Object.entries(query ?? {})) {
      if (value !== undefined && value !== null) url.searchParams.set(key, String(value));
    }
    const headers = {
      Accept: 'application/json, application/problem+json',
      Authorization: `Bearer ${this.getToken() ?? ''}`,
    };
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    let response;
    try {
      response = await fetch(url, {
        method, headers, cache: 'no-store', body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (error) {
      throw new ApiError(0, { title: 'Cannot reach hotplugd', detail: error.message });
    }
    const data = await readBody(response);
    if (!response.ok) {
      const problem = data && typeof data === 'object' && !Array.isArray(data)
        ? data : { title: response.statusText || `HTTP ${response.status}`, detail: data ?? '' };
      const error = new ApiError(response.status, problem);
      if (response.status === 401) this.onUnauthorized(error);
      throw error;
    }
    return { status: response.status, data, headers: response.headers };
  }

  async get(path, query) {
    return (await this.request('GET', path, { query })).data;
  }
}

async function readBody(response) {
  const text = await response.text().catch(() => '');
  if (!text) return null;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** The list inside a reply that may be a bare array or an object wrapping one. */
export function listOf(data, ...keys) {
  if (Array.isArray(data)) return data;
  for (const key of [...keys, 'items', 'data', 'results']) {
    if (data && Array.isArray(data[key])) return data[key];
  }
  return [];
}

/**
 * The dashboard event stream: a websocket that reconnects with exponential
 * backoff (0.5 s doubling to 30 s, with jitter) and resumes with ?since=<the
 * last event id seen>, so nothing the service still retains is missed.
 */
export class EventStream {
  /**
   * @param {(since: string|null) => string} urlFor  the websocket URL
   * @param {{onOpen(resumed: boolean): void, onEvent(event: object): void,
   *          onDown(info: {code: number, reason: string, opened: boolean,
   *                        delay: number, attempt: number}): Promise<boolean>}} handlers
   *   onDown says whether to try again (false after a refused token).
   */
  constructor(urlFor, handlers) {
    this.urlFor = urlFor;
    this.handlers = handlers;
    this.lastId = null;
    this.attempt = 0;
    this.socket = null;
    this.timer = null;
    this.stopped = true;
    this.generation = 0; // bumped by start/stop so a pending retry of an old run gives up
  }

  start() {
    this.stop();
    this.stopped = false;
    this.lastId = null;
    this.attempt = 0;
    this.#open();
  }

  stop() {
    this.stopped = true;
    this.generation += 1;
    clearTimeout(this.timer);
    this.timer = null;
    if (this.socket) {
      const socket = this.socket;
      this.socket = null;
      socket.close(1000, 'dashboard closed the stream');
    }
  }

  #open() {
    const resumed = this.lastId !== null;
    const socket = new WebSocket(this.urlFor(this.lastId));
    let opened = false;
    this.socket = socket;
    socket.addEventListener('open', () => {
      if (socket !== this.socket) return;
      opened = true;
      this.attempt = 0;
      this.handlers.onOpen(resumed);
    });
    socket.addEventListener('message', (message) => {
      if (socket !== this.socket) return;
      let event;
      try {
        event = JSON.parse(message.data);
      } catch {
        return; // not a CloudEvent; nothing to do with it
      }
      if (event && event.id !== undefined && event.id !== null) this.lastId = String(event.id);
      this.handlers.onEvent(event);
    });
    socket.addEventListener('close', (close) => {
      if (socket !== this.socket || this.stopped) return;
      this.socket = null;
      this.#retry(close, opened);
    });
  }

  async #retry(close, opened) {
    const generation = this.generation;
    const base = Math.min(30000, 500 * 2 ** this.attempt);
    const delay = Math.round(base / 2 + Math.random() * (base / 2));
    this.attempt += 1;
    const again = await this.handlers.onDown({
      code: close.code, reason: close.reason, opened, delay, attempt: this.attempt,
    });
    if (!again || this.stopped || generation !== this.generation) return;
    this.timer = setTimeout(() => this.#open(), delay);
  }
}
