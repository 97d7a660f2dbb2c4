// Retry timing, pure. Full jitter (AWS architecture blog, "Exponential Backoff And Jitter"):
// thousands of Pods restarting together must not retry in lockstep.

export function backoffDelay(failures: number, baseMs: number, maxMs: number, random: () => number = Math.random): number {
  const cap = Math.min(maxMs, baseMs * 2 ** Math.max(0, failures - 1));
  return Math.floor(random() * cap);
}

/** Retry-After as delta-seconds or HTTP date; undefined when absent or unreadable. */
export function parseRetryAfter(value: string | undefined, now = Date.now()): number | undefined {
  if (!value) return undefined;
  const v = value.trim();
  if (/^\d+$/.test(v)) return Number(v) * 1000;
  const t = Date.parse(v);
  if (Number.isNaN(t)) return undefined;
  return Math.max(0, t - now);
}

/** 408, 429 and 5xx are worth another try; any other 4xx will not change by retrying. */
export function isRetryableStatus(status: number): boolean {
  return status === 408 || status === 429 || status >= 500;
}
