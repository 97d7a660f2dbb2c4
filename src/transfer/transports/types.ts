// The one interface every transport implements. A transport makes exactly one HTTP GET:
// it does not follow redirects, retry, or judge the status; the caller (src/transfer/attempt.ts)
// does. A transport's own failures are TransferFailures (src/transfer/failure.ts) when it
// knows their cause; plain Node/undici errors are classified by the caller.

import type { Readable } from "node:stream";

export interface TlsSettings {
  /** Full trust list to use (system + extra CAs) when extra CAs were given; undefined = defaults. */
  ca?: string[];
  caFile?: string;
  cert?: string;
  certFile?: string;
  key?: string;
  keyFile?: string;
  insecure: boolean;
}

export interface TransportRequest {
  url: URL;
  headers: Record<string, string>;
  signal: AbortSignal;
  connectTimeoutMs: number;
  tls: TlsSettings;
  /** Proxy to use for this URL (already resolved against NO_PROXY), or undefined. */
  proxy?: URL;
}

export interface TransportResponse {
  status: number;
  /** Lower-case names; repeated headers joined with ", ". */
  headers: Record<string, string>;
  body: Readable;
}

export interface Transport {
  readonly name: string;
  /** false when the transport cannot ask for a byte range safely (the transfer then skips it, or starts over on it). */
  readonly resumes?: boolean;
  /** Which program or variant runs it, for the log (e.g. "busybox" for busybox wget). */
  variant?(): string | undefined;
  /** false when the transport cannot run here (e.g. no curl on PATH). */
  available(): boolean;
  /** Reason this transport must be skipped for this request (e.g. credentials it cannot keep off argv). */
  unsuitable?(req: TransportRequest): string | undefined;
  request(req: TransportRequest): Promise<TransportResponse>;
}

export function flattenHeaders(h: Record<string, string | string[] | undefined>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(h)) if (v !== undefined) out[k.toLowerCase()] = Array.isArray(v) ? v.join(", ") : v;
  return out;
}

/** Throw a response body away without an unhandled 'error' from its destruction. */
export function discard(body: Readable) {
  body.on("error", () => {});
  if (!body.destroyed) body.destroy();
}
