// The registry API's small requests (manifests, tokens, uploads): undici with the run's TLS
// settings, proxy rules and timeouts, retried with the run's backoff. Package bytes never go
// through here: the blob is fetched by src/transfer/fetch.ts like any package URL.

import type { Readable } from "node:stream";
import { Agent, ProxyAgent, request, type Dispatcher } from "undici";
import { backoffDelay, isRetryableStatus, parseRetryAfter } from "../backoff.ts";
import { DownloadError } from "../../errors.ts";
import type { Logger } from "../../log.ts";
import { proxyFor } from "../proxy.ts";
import { redactText, redactUrl } from "../../redact.ts";
import { flattenHeaders, type TlsSettings } from "../transports/types.ts";

export interface HttpSettings {
  tls: TlsSettings;
  env: NodeJS.ProcessEnv;
  connectTimeout: number;
  idleTimeout: number;
  retries: number;
  backoffBase: number;
  backoffMax: number;
  signal: AbortSignal;
  log: Logger;
}

export interface HttpAnswer {
  status: number;
  /** Lower-case names. */
  headers: Record<string, string>;
  body: Buffer;
}

export interface HttpRequest {
  method: "GET" | "HEAD" | "POST" | "PUT";
  url: URL;
  headers?: Record<string, string>;
  /** A fresh body per attempt (a stream cannot be replayed). */
  body?: () => Buffer | Readable;
  /** Largest body read into memory; more is an error (manifests are small). */
  maxBody?: number;
}

const MAX_BODY = 4 * 1024 * 1024;

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const onAbort = () => (clearTimeout(t), reject(signal.reason));
    const t = setTimeout(() => (signal.removeEventListener("abort", onAbort), resolve()), ms);
    signal.addEventListener("abort", onAbort, { once: true });
  });
}

async function readBody(body: AsyncIterable<Buffer>, max: number, url: URL): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of body) {
    size += c.length;
    if (size > max) throw new DownloadError(`the registry's answer from ${redactUrl(url)} is larger than ${max} bytes`, { retryable: false, hint: "the reference does not point at a manifest; check it" });
    chunks.push(c);
  }
  return Buffer.concat(chunks);
}

/** What a failed connection most likely means, for the hint. */
function networkHint(message: string, url: URL): string {
  if (/wrong version number|EPROTO|packet length too long|ssl3_get_record/i.test(message) && url.protocol === "https:") return "the registry seems to speak plain HTTP: set PACKAGE_PLAIN_HTTP=true (or --plain-http) if that is intended";
  if (/certificate|self.signed|CERT_|unable to verify/i.test(message)) return "the registry's certificate is not trusted: give its CA with PACKAGE_CA_FILE";
  return `the registry ${url.host} is unreachable: check the host and port in PACKAGE_URL, PACKAGE_PLAIN_HTTP, the proxy settings and the network path`;
}

export class RegistryHttp {
  private readonly dispatchers = new Map<string, Dispatcher>();
  private readonly s: HttpSettings;
  constructor(settings: HttpSettings) {
    this.s = settings;
  }

  private dispatcherFor(url: URL): Dispatcher {
    const proxy = proxyFor(url, this.s.env);
    const key = proxy?.href ?? "";
    let d = this.dispatchers.get(key);
    if (!d) {
      const tls = { ca: this.s.tls.ca, cert: this.s.tls.cert, key: this.s.tls.key, rejectUnauthorized: !this.s.tls.insecure };
      const timeouts = { headersTimeout: this.s.idleTimeout, bodyTimeout: this.s.idleTimeout };
      d = proxy ? new ProxyAgent({ uri: proxy.href, requestTls: tls, proxyTls: tls, ...timeouts }) : new Agent({ connect: { timeout: this.s.connectTimeout, ...tls }, ...timeouts });
      this.dispatchers.set(key, d);
    }
    return d;
  }

  private async once(r: HttpRequest): Promise<HttpAnswer> {
    const res = await request(r.url, { method: r.method, headers: { "user-agent": "download-package", ...r.headers }, body: r.body?.(), signal: this.s.signal, dispatcher: this.dispatcherFor(r.url) });
    const body = r.method === "HEAD" ? (res.body.resume(), Buffer.alloc(0)) : await readBody(res.body as AsyncIterable<Buffer>, r.maxBody ?? MAX_BODY, r.url);
    return { status: res.statusCode, headers: flattenHeaders(res.headers), body };
  }

  /** One request; network failures and 408/429/5xx are retried, any other answer is returned. */
  async send(r: HttpRequest): Promise<HttpAnswer> {
    for (let failures = 1; ; failures++) {
      let why: string;
      let retryAfter: number | undefined;
      try {
        const a = await this.once(r);
        if (!isRetryableStatus(a.status)) return a;
        why = `HTTP ${a.status}`;
        retryAfter = parseRetryAfter(a.headers["retry-after"]);
        if (failures > this.s.retries) throw new DownloadError(`the registry ${r.url.host} answered HTTP ${a.status} to ${r.method} ${redactUrl(r.url)}`, { status: a.status, retryable: false, hint: "the registry is failing or overloaded; try again later or list a mirror" });
      } catch (e) {
        if (this.s.signal.aborted) throw this.s.signal.reason;
        if (e instanceof DownloadError) throw e;
        const err = e as Error & { cause?: Error; code?: string };
        const code = err.code ?? (err.cause as { code?: string } | undefined)?.code;
        why = redactText([err.message, err.cause?.message].filter(Boolean).map((m) => m!.split("\n")[0].replace(/^[0-9A-F]+:error:[0-9A-F]+:SSL routines:/, "").replace(/:\.\.\/deps\/\S*$/, "")).concat(code ?? []).join(": "));
        // A TLS mismatch (plain HTTP registry, untrusted certificate) does not heal by waiting.
        const tlsFailure = /SSL|TLS|CERT|certificate|EPROTO/i.test(`${code} ${why}`);
        if (failures > this.s.retries || tlsFailure) throw new DownloadError(`cannot reach the registry ${r.url.host}: ${why}`, { retryable: false, hint: networkHint(why, r.url), cause: e });
      }
      const delay = Math.max(backoffDelay(failures, this.s.backoffBase, this.s.backoffMax), retryAfter ?? 0);
      this.s.log.warn("registry request failed, retrying", { url: redactUrl(r.url), error: why, in: `${(delay / 1000).toFixed(2)}s` });
      await sleep(delay, this.s.signal);
    }
  }

  async close(): Promise<void> {
    await Promise.all([...this.dispatchers.values()].map((d) => d.close().catch(() => {})));
  }
}
