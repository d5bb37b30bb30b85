/**
 * Batching and delivery. Events wait up to FLUSH_MS (or until BATCH_SIZE are queued) and go out in
 * one `text/plain` POST (a simple request: no CORS preflight). A network error, 429 or 5xx keeps
 * them queued and retries with doubling delays (Retry-After when given); every event carries its
 * `event_id`, so a retry that did arrive the first time is not counted twice. On `pagehide` what is
 * queued goes out with sendBeacon; if the browser refuses it, the events are kept in localStorage
 * and sent on the next page.
 */
export type Payload = Record<string, unknown>;

const FLUSH_MS = 1_000;
const BATCH_SIZE = 20;
const MAX_PER_REQUEST = 100;
const MAX_QUEUED = 500;
const MAX_DELAY_MS = 60_000;
const STORE_KEY = "fa_queue";

export interface Sender {
  push(event: Payload): void;
  flush(): void;
  /** Sends everything now with sendBeacon (page is going away). */
  beacon(): void;
  clear(): void;
}

export function createSender(endpoint: string): Sender {
  let queue: Payload[] = restore();
  let timer: ReturnType<typeof setTimeout> | undefined;
  let inFlight = false;
  let delay = FLUSH_MS;

  const schedule = (ms: number) => {
    if (timer === undefined) timer = setTimeout(flush, ms);
  };

  function flush(): void {
    timer = undefined;
    if (inFlight || queue.length === 0) return;
    const batch = queue.slice(0, MAX_PER_REQUEST);
    inFlight = true;
    fetch(endpoint, { method: "POST", body: JSON.stringify({ events: batch }), keepalive: true })
      .then((res) => {
        if (res.status === 429 || res.status >= 500) throw Number(res.headers.get("retry-after")) * 1000;
        // Delivered (202) or refused as invalid (400, kept by the server): either way not resent.
        queue = queue.filter((e) => !batch.includes(e));
        delay = FLUSH_MS;
      })
      .catch((retryAfter: unknown) => {
        delay = Math.min(MAX_DELAY_MS, Math.max(delay * 2, Number(retryAfter) || 0));
      })
      .finally(() => {
        inFlight = false;
        if (queue.length > 0) schedule(delay);
      });
  }

  function beacon(): void {
    while (queue.length > 0) {
      const batch = queue.slice(0, MAX_PER_REQUEST);
      if (!navigator.sendBeacon(endpoint, JSON.stringify({ events: batch }))) break;
      queue = queue.slice(batch.length);
    }
    save(queue);
  }

  if (queue.length > 0) schedule(0);
  return {
    push(event) {
      queue.push(event);
      if (queue.length > MAX_QUEUED) queue = queue.slice(-MAX_QUEUED);
      if (queue.length >= BATCH_SIZE) flush();
      else schedule(delay);
    },
    flush,
    beacon,
    clear() {
      queue = [];
      save(queue);
    },
  };
}

function restore(): Payload[] {
  try {
    const stored = JSON.parse(localStorage.getItem(STORE_KEY) ?? "[]") as unknown;
    localStorage.removeItem(STORE_KEY);
    return Array.isArray(stored) ? (stored as Payload[]) : [];
  } catch {
    return [];
  }
}

function save(queue: Payload[]): void {
  try {
    if (queue.length > 0) localStorage.setItem(STORE_KEY, JSON.stringify(queue));
    else localStorage.removeItem(STORE_KEY);
  } catch {
    // Storage full or disabled: the events are lost, as they would be without it.
  }
}
