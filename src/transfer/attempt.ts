// One attempt: one mirror, one transport, redirects followed, the answer judged, the body
// pushed into the sink. It never retries and never throws for a network problem: it
// returns an Outcome, and the loop in fetch.ts decides what comes next.

import type { Writable } from "node:stream";
import { isRetryableStatus, parseRetryAfter } from "./backoff.ts";
import { AppError, DownloadError } from "../errors.ts";
import type { Logger } from "../log.ts";
import { redactUrl } from "../redact.ts";
import type { Delivery } from "./delivery.ts";
import { toFailure, TransferFailure } from "./failure.ts";
import { headersForHop, originHeaders, sameOrigin, type CredentialSources, type Mirror } from "./origin-headers.ts";
import { proxyFor } from "./proxy.ts";
import { canResume, judgeAnswer, resumeHeaders } from "./resume.ts";
import { discard, type TlsSettings, type Transport, type TransportRequest, type TransportResponse } from "./transports/types.ts";

export type Outcome =
  | { kind: "delivered" }
  | { kind: "not-modified" }
  /** The transport must not take this request (it would expose a secret, cannot resume...). */
  | { kind: "skipped"; reason: string }
  /** The answer could not be joined to the bytes we hold; the sink was dropped: ask again at once. */
  | { kind: "restarted" }
  | { kind: "failed"; failure: TransferFailure; stalled: boolean }
  /** The mirror's origin answered 401 and the mirror has an AuthProvider: fetch.ts may renew and ask again. */
  | { kind: "unauthorized"; failure: TransferFailure; challenge?: string }
  /** Fresh credentials after "unauthorized": ask again at once. */
  | { kind: "reauthorized" }
  /** Not a network problem (the sink failed, a Secret file is unreadable, a signal): stop. */
  | { kind: "fatal"; error: unknown };

export interface AttemptSettings extends CredentialSources {
  connectTimeout: number;
  idleTimeout: number;
  maxRedirects: number;
  tls: TlsSettings;
  env: NodeJS.ProcessEnv;
  log: Logger;
  signal: AbortSignal;
  what: string;
  transports: Transport[];
  /** Validators of the installed copy: a first request to that URL is made conditional. */
  installed?: { url: string; etag?: string; lastModified?: string };
}

export interface Attempt<S extends Writable> {
  settings: AttemptSettings;
  mirror: Mirror;
  transport: Transport;
  delivery: Delivery<S>;
}

/** The idle timer ran out: no byte (headers or body) for PACKAGE_IDLE_TIMEOUT. */
class Stalled extends TransferFailure {}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);

export async function attempt<S extends Writable>(a: Attempt<S>): Promise<Outcome> {
  const plan = await planRequest(a);
  if ("kind" in plan) return plan;
  const { settings, transport, delivery, mirror } = a;
  let bound: Record<string, string>;
  try {
    bound = originHeaders(mirror, settings); // re-reads the Secret files: a rotated Secret is picked up
  } catch (e) {
    return { kind: "fatal", error: e };
  }
  const hop = { url: mirror.url, proxy: proxyFor(mirror.url, settings.env) };
  const why = transport.unsuitable?.(requestFor(a, hop, bound, plan.perRequest, settings.signal));
  if (why) return { kind: "skipped", reason: `${transport.name} skipped: ${why}` };
  const resuming = plan.perRequest.range !== undefined;
  delivery.stats.attempts++;
  settings.log.info(resuming ? `resuming the ${settings.what}` : `downloading the ${settings.what}`, { url: redactUrl(mirror.url), transport: transport.name, via: transport.variant?.(), attempt: delivery.stats.attempts, from: resuming ? delivery.state.offset : undefined });
  const ac = new AbortController();
  const onOuter = () => ac.abort(settings.signal.reason);
  settings.signal.addEventListener("abort", onOuter, { once: true });
  const idle = new IdleWatch(settings.idleTimeout, () => ac.abort(new Stalled("stall", `no data for ${settings.idleTimeout / 1000}s (PACKAGE_IDLE_TIMEOUT)`)));
  let res: TransportResponse | undefined;
  try {
    const followed = await follow(a, bound, plan.perRequest, ac.signal, hop);
    // Skipped on a redirect hop: another transport asks again from the mirror's URL.
    if (typeof followed === "string") return { kind: "skipped", reason: followed };
    used(delivery, transport);
    res = followed;
    return await receive(a, res, hop, resuming, plan.conditional, idle, ac.signal);
  } catch (e) {
    used(delivery, transport);
    return outcomeOf(e, a, ac.signal, hop);
  } finally {
    idle.stop();
    settings.signal.removeEventListener("abort", onOuter);
    if (res) discard(res.body);
  }
}

type Hop = { url: URL; proxy?: URL };

/** The summary's transports: those that took the request, never one skipped for it. */
function used<S extends Writable>(delivery: Delivery<S>, transport: Transport): void {
  if (!delivery.stats.transports.includes(transport.name)) delivery.stats.transports.push(transport.name);
}

function requestFor<S extends Writable>(a: Attempt<S>, hop: Hop, bound: Record<string, string>, perRequest: Record<string, string>, signal: AbortSignal): TransportRequest {
  const { settings, mirror } = a;
  return { url: hop.url, headers: headersForHop(hop.url, mirror.url, bound, perRequest), signal, connectTimeoutMs: settings.connectTimeout, tls: settings.tls, proxy: hop.proxy };
}

/** The per-request headers (Range/If-Range, or the conditional ones), or why not to ask on this transport. */
async function planRequest<S extends Writable>(a: Attempt<S>): Promise<{ perRequest: Record<string, string>; conditional: boolean } | Outcome> {
  const { delivery, transport, settings, mirror } = a;
  if (settings.signal.aborted) return { kind: "fatal", error: settings.signal.reason };
  if (delivery.state.offset > 0 && !canResume(delivery.state)) await delivery.restart("the first answer had no strong validator (ETag, or a Last-Modified older than its Date) to resume against");
  if (canResume(delivery.state) && transport.resumes === false) {
    if (settings.transports.some((t) => t.resumes !== false)) return { kind: "skipped", reason: `${transport.name} skipped for the resumed request: it cannot ask for a byte range safely` };
    await delivery.restart(`${transport.name} cannot ask for a byte range safely, and no other enabled transport can`);
  }
  const resume = resumeHeaders(delivery.state);
  if (resume) return { perRequest: resume, conditional: false };
  const installed = settings.installed && redactUrl(mirror.url) === settings.installed.url ? settings.installed : undefined;
  if (installed?.etag) return { perRequest: { "if-none-match": installed.etag }, conditional: true };
  if (installed?.lastModified) return { perRequest: { "if-modified-since": installed.lastModified }, conditional: true };
  return { perRequest: {}, conditional: false };
}

/** One GET, following redirects (credentials and user headers only to the mirror's origin); a string = skip reason. */
async function follow<S extends Writable>(a: Attempt<S>, bound: Record<string, string>, perRequest: Record<string, string>, signal: AbortSignal, hop: Hop): Promise<TransportResponse | string> {
  const { settings, mirror, transport } = a;
  const seen = [mirror.url.href];
  for (;;) {
    const req = requestFor(a, hop, bound, perRequest, signal);
    const why = transport.unsuitable?.(req);
    if (why) return `${transport.name} skipped: ${why}`;
    const res = await transport.request(req);
    if (!REDIRECTS.has(res.status) || !res.headers.location) return res;
    discard(res.body);
    const next = new URL(res.headers.location, hop.url);
    const final = (message: string, hint?: string) => new TransferFailure("http", message, { retryable: false, status: res.status, hint });
    if (next.protocol !== "http:" && next.protocol !== "https:") throw final(`redirect to unsupported scheme ${next.protocol}`);
    if (seen.includes(next.href)) throw final(`redirect loop: ${[...seen, next.href].map((u) => redactUrl(u)).join(" -> ")}`, "fix the server's redirect rules; the URL redirects back to itself");
    if (seen.length > settings.maxRedirects) throw final(`more than ${settings.maxRedirects} redirects`, "raise PACKAGE_MAX_REDIRECTS or use the final URL");
    settings.log.info("redirected", { to: redactUrl(next), status: res.status });
    seen.push(next.href);
    hop.url = next;
    hop.proxy = proxyFor(next, settings.env);
  }
}

/** Judge the final answer and stream its body into the sink. */
async function receive<S extends Writable>(a: Attempt<S>, res: TransportResponse, hop: Hop, resuming: boolean, conditional: boolean, idle: IdleWatch, signal: AbortSignal): Promise<Outcome> {
  const { delivery, mirror } = a;
  const { status } = res;
  if (status === 304 && conditional) return { kind: "not-modified" };
  // Only a proxy answers 407 (plain http through a proxy): the proxy's failure, not the server's.
  if (status === 407) throw new TransferFailure("proxy", "the proxy answered HTTP 407 (proxy authentication required)", { status, retryable: false });
  // An expired token: only the mirror's own origin is asked to renew what it issued.
  if (status === 401 && mirror.provider && sameOrigin(hop.url, mirror.url)) return { kind: "unauthorized", failure: httpFailure(status, res.headers, mirror.url), challenge: res.headers["www-authenticate"] };
  if (status < 200 || status >= 300) return { kind: "failed", failure: httpFailure(status, res.headers, mirror.url), stalled: false };
  const verdict = judgeAnswer(delivery.state, resuming, status, res.headers);
  switch (verdict.kind) {
    case "reject":
      return { kind: "failed", failure: new TransferFailure("http", `${verdict.reason} (HTTP ${status} from ${redactUrl(mirror.url)})`, { status }), stalled: false };
    case "restart":
      discard(res.body);
      await delivery.restart(verdict.reason);
      return { kind: "restarted" };
    case "restart-with-body":
      await delivery.restart(verdict.reason);
      delivery.started(res.headers);
      break;
    case "fresh":
      delivery.started(res.headers);
      break;
    case "resume":
      delivery.resumed(res.headers);
      break;
  }
  await pump(res.body, delivery, idle);
  if (signal.aborted) throw signal.reason;
  if (!delivery.complete()) throw new TransferFailure("reset", `connection closed at ${delivery.state.offset} of ${delivery.state.total} bytes`);
  return { kind: "delivered" };
}

function httpFailure(status: number, headers: Record<string, string>, url: URL): TransferFailure {
  const hint =
    status === 404 ? "the package is not at that URL; check PACKAGE_URL"
    : status === 401 || status === 403 ? "check the credentials (PACKAGE_TOKEN_FILE, PACKAGE_BASIC_AUTH_FILE or user-info in the URL)"
    : isRetryableStatus(status) ? "the server is failing or overloaded: check it, or allow more time with PACKAGE_RETRIES and PACKAGE_BACKOFF_MAX"
    : "the server refused the request";
  return new TransferFailure("http", `HTTP ${status} from ${redactUrl(url)}`, { status, retryable: isRetryableStatus(status), retryAfterMs: parseRetryAfter(headers["retry-after"]), hint });
}

async function pump<S extends Writable>(body: AsyncIterable<Buffer>, delivery: Delivery<S>, idle: IdleWatch): Promise<void> {
  for await (const chunk of body) {
    idle.arm();
    if (delivery.sink.errored) throw delivery.sink.errored;
    delivery.delivered(chunk.length);
    if (!delivery.sink.write(chunk)) await idle.whileDiskBusy(drained(delivery.sink));
  }
}

function outcomeOf<S extends Writable>(e: unknown, a: Attempt<S>, signal: AbortSignal, hop: Hop): Outcome {
  const { settings, delivery, transport } = a;
  if (settings.signal.aborted) return { kind: "fatal", error: settings.signal.reason };
  if (delivery.sink.errored) return { kind: "fatal", error: delivery.sink.errored };
  const err = signal.aborted && signal.reason instanceof Error ? signal.reason : e;
  if (err instanceof AppError && !(err instanceof DownloadError)) return { kind: "fatal", error: err };
  return { kind: "failed", failure: toFailure(err, { transport: transport.name, url: hop.url, proxy: hop.proxy }), stalled: err instanceof Stalled };
}

/**
 * One timer per attempt, pushed forward on every chunk (refresh() is far cheaper than a new
 * timer per 64 KiB); while the sink drains, a slow disk is not a stalled network.
 */
class IdleWatch {
  private diskBusy = false;
  private readonly timer: NodeJS.Timeout;
  constructor(ms: number, onIdle: () => void) {
    this.timer = setTimeout(() => (this.diskBusy ? this.arm() : onIdle()), ms);
  }
  arm(): void {
    this.timer.refresh();
  }
  async whileDiskBusy(p: Promise<void>): Promise<void> {
    this.diskBusy = true;
    try {
      await p;
    } finally {
      this.diskBusy = false;
      this.arm();
    }
  }
  stop(): void {
    clearTimeout(this.timer);
  }
}

function drained(w: Writable): Promise<void> {
  return new Promise((resolve, reject) => {
    const done = (err?: Error) => {
      w.off("drain", onDrain);
      w.off("error", onError);
      w.off("close", onClose);
      err ? reject(err) : resolve();
    };
    const onDrain = () => done();
    const onError = (e: Error) => done(e);
    const onClose = () => done(w.errored ?? new Error("sink closed"));
    w.on("drain", onDrain);
    w.on("error", onError);
    w.on("close", onClose);
  });
}
