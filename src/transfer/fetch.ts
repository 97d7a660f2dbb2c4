// The transfer: mirrors × transports, retries with backoff, redirects, timeouts and resume.
// Bytes are pushed, in order and exactly once, into a sink; when the stream has to start
// over (Range ignored, content changed) the sink is dropped and a fresh one opened.

import fs from "node:fs";
import type { Writable } from "node:stream";
import { backoffDelay, isRetryableStatus, parseRetryAfter } from "./backoff.ts";
import type { Config } from "../cli/config.ts";
import { AppError, DownloadError, UsageError } from "../errors.ts";
import type { Logger } from "../log.ts";
import { proxyFor } from "./proxy.ts";
import { redactText, redactUrl } from "../redact.ts";
import { discard, type TlsSettings, type Transport, type TransportResponse } from "./transports/types.ts";
import { formatBytes } from "../units.ts";

export interface TransferStats {
  attempts: number;
  transports: string[];
  bytesTransferred: number;
  size?: number;
  restarts: number;
  resumes: number;
  etag?: string;
  lastModified?: string;
}

export interface TransferPlan {
  urls: string[];
  config: Pick<Config, "retries" | "backoffBase" | "backoffMax" | "connectTimeout" | "idleTimeout" | "maxRedirects" | "tokenFile" | "basicAuthFile" | "headers">;
  transports: Transport[];
  tls: TlsSettings;
  env: NodeJS.ProcessEnv;
  log: Logger;
  /** Aborted on signals and on the total deadline. */
  signal: AbortSignal;
  /** What is being fetched, for messages ("package", "checksum file"). */
  what: string;
  /** Filled in as the transfer goes, for progress lines. */
  stats?: TransferStats;
  /** Validators of the installed copy: a first request to that URL is made conditional. */
  installed?: { url: string; etag?: string; lastModified?: string };
}

/** The server answered 304 to the conditional request: the installed copy is current. */
export class NotModified extends Error {}

export const newStats = (): TransferStats => ({ attempts: 0, transports: [], bytesTransferred: 0, restarts: 0, resumes: 0 });

export interface SinkFactory<S extends Writable> {
  open(): S;
  drop(sink: S): Promise<void>;
}

interface Mirror {
  url: URL;
  /** Authorization from the URL's user-info, kept off the wire URL. */
  auth?: string;
}

class IdleTimeout extends DownloadError {}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);

function parseMirror(text: string): Mirror {
  const url = new URL(text);
  let auth: string | undefined;
  if (url.username || url.password) {
    auth = `Basic ${Buffer.from(`${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`).toString("base64")}`;
    url.username = "";
    url.password = "";
  }
  return { url, auth };
}

function readSecret(file: string, what: string): string {
  try {
    return fs.readFileSync(file, "utf8").trim();
  } catch (e) {
    throw new UsageError(`cannot read the ${what} file ${file}: ${(e as NodeJS.ErrnoException).code ?? e}`, "mount the Secret at that path, or fix the path");
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const t = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(signal.reason);
    };
    signal.addEventListener("abort", onAbort, { once: true });
  });
}

/** Content-Range: bytes START-END/TOTAL */
export function parseContentRange(v: string | undefined): { start: number; total?: number } | undefined {
  const m = /^bytes\s+(\d+)-(\d+)\/(\d+|\*)$/i.exec(v?.trim() ?? "");
  if (!m) return undefined;
  return { start: Number(m[1]), total: m[3] === "*" ? undefined : Number(m[3]) };
}

export async function transfer<S extends Writable>(plan: TransferPlan, sinks: SinkFactory<S>): Promise<{ sink: S; stats: TransferStats }> {
  const { config, log } = plan;
  const mirrors = plan.urls.map(parseMirror);
  const stats: TransferStats = plan.stats ?? newStats();
  const dead = new Set<number>();
  let sink = sinks.open();
  let offset = 0;
  let total: number | undefined;
  let validator: { mirror: number; etag?: string; lastModified?: string } | undefined;
  let lastError: DownloadError | undefined;
  let failedRounds = 0;
  let highWater = 0;
  const skipped = new Set<string>();

  const restart = async (why: string) => {
    log.warn(`starting the ${plan.what} over from byte 0`, { reason: why });
    await sinks.drop(sink);
    sink = sinks.open();
    offset = 0;
    total = undefined;
    validator = undefined;
    stats.restarts++;
  };

  const headersFor = (m: Mirror): Record<string, string> => {
    const h: Record<string, string> = { "user-agent": "download-package", "accept-encoding": "identity" };
    for (const [k, v] of config.headers) h[k.toLowerCase()] = v;
    if (m.auth) h.authorization = m.auth;
    if (config.tokenFile) h.authorization = `Bearer ${readSecret(config.tokenFile, "token")}`;
    if (config.basicAuthFile) h.authorization = `Basic ${Buffer.from(readSecret(config.basicAuthFile, "basic-auth")).toString("base64")}`;
    return h;
  };

  /** One GET, following redirects; returns the final non-redirect response. */
  const request = async (t: Transport, m: Mirror, headers: Record<string, string>, signal: AbortSignal): Promise<TransportResponse> => {
    let url = m.url;
    const seen = [url.href];
    for (;;) {
      const req = { url, headers, signal, connectTimeoutMs: config.connectTimeout, tls: plan.tls, proxy: proxyFor(url, plan.env) };
      const why = t.unsuitable?.(req);
      if (why) throw Object.assign(new DownloadError(`${t.name} skipped: ${why}`), { skip: true });
      const res = await t.request(req);
      if (!REDIRECTS.has(res.status) || !res.headers.location) return res;
      discard(res.body);
      const next = new URL(res.headers.location, url);
      if (next.protocol !== "http:" && next.protocol !== "https:") throw new DownloadError(`redirect to unsupported scheme ${next.protocol}`, { retryable: false });
      if (seen.includes(next.href)) {
        throw new DownloadError(`redirect loop: ${[...seen, next.href].map((u) => redactUrl(u)).join(" -> ")}`, { retryable: false, hint: "fix the server's redirect rules; the URL redirects back to itself" });
      }
      if (seen.length > config.maxRedirects) throw new DownloadError(`more than ${config.maxRedirects} redirects`, { retryable: false, hint: "raise PACKAGE_MAX_REDIRECTS or use the final URL" });
      if (next.origin !== url.origin && next.origin !== m.url.origin) {
        delete headers.authorization; // never hand credentials to another host
      }
      log.info("redirected", { to: redactUrl(next), status: res.status });
      seen.push(next.href);
      url = next;
    }
  };

  /** One attempt; resolves true when the whole body has been written to the sink. */
  const attempt = async (mi: number, t: Transport): Promise<boolean> => {
    const m = mirrors[mi];
    const headers = headersFor(m);
    const resuming = offset > 0;
    if (resuming) {
      headers.range = `bytes=${offset}-`;
      if (validator?.mirror === mi) {
        if (validator.etag && !validator.etag.startsWith("W/")) headers["if-range"] = validator.etag;
        else if (validator.lastModified) headers["if-range"] = validator.lastModified;
      }
    }
    if (plan.signal.aborted) throw plan.signal.reason;
    const conditional = offset === 0 && plan.installed && redactUrl(m.url) === plan.installed.url;
    if (conditional && plan.installed!.etag) headers["if-none-match"] = plan.installed!.etag;
    else if (conditional && plan.installed!.lastModified) headers["if-modified-since"] = plan.installed!.lastModified;
    stats.attempts++;
    if (!stats.transports.includes(t.name)) stats.transports.push(t.name);
    log.info(resuming ? `resuming the ${plan.what}` : `downloading the ${plan.what}`, { url: redactUrl(m.url), transport: t.name, attempt: stats.attempts, from: resuming ? offset : undefined });

    const ac = new AbortController();
    const onOuter = () => ac.abort(plan.signal.reason);
    plan.signal.addEventListener("abort", onOuter, { once: true });
    // One timer per attempt, pushed forward on every chunk (refresh() is far cheaper than a
    // new timer per 64 KiB); while the sink drains, a slow disk is not a stalled network.
    let waitingForDisk = false;
    const idle = setTimeout(function onIdle() {
      if (waitingForDisk) return void idle.refresh();
      ac.abort(new IdleTimeout(`no data for ${config.idleTimeout / 1000}s (PACKAGE_IDLE_TIMEOUT)`, { hint: "the server or network stalled; it will be retried" }));
    }, config.idleTimeout);
    const arm = () => void idle.refresh();
    let res: TransportResponse | undefined;
    try {
      try {
        res = await request(t, m, headers, ac.signal);
      } catch (e) {
        throw ac.signal.aborted ? ac.signal.reason : e;
      }
      const { status } = res;
      if (status === 304 && conditional) throw new NotModified();
      if (status < 200 || status >= 300) {
        discard(res.body);
        throw new DownloadError(`HTTP ${status} from ${redactUrl(m.url)}`, {
          status,
          retryable: isRetryableStatus(status),
          retryAfterMs: parseRetryAfter(res.headers["retry-after"]),
          hint: status === 404 ? "the package is not at that URL; check PACKAGE_URL" : status === 401 || status === 403 ? "check the credentials (PACKAGE_TOKEN_FILE, PACKAGE_BASIC_AUTH_FILE or user-info in the URL)" : isRetryableStatus(status) ? "the server is failing or overloaded; retried with backoff" : "the server refused the request",
        });
      }
      const length = res.headers["content-length"] !== undefined ? Number(res.headers["content-length"]) : undefined;
      if (resuming && status === 200) {
        // Range ignored, or If-Range said the content changed: the full body is here, from 0.
        await restart(validator?.mirror === mi ? "the server ignored the Range request or the content changed" : "the mirror ignored the Range request");
      } else if (resuming && status === 206) {
        const cr = parseContentRange(res.headers["content-range"]);
        if (!cr || cr.start !== offset || (total !== undefined && cr.total !== undefined && cr.total !== total)) {
          discard(res.body);
          await restart(`the server answered a different range (${res.headers["content-range"] ?? "none"})`);
          return false;
        }
        stats.resumes++;
      }
      if (offset === 0) {
        total = status === 206 ? parseContentRange(res.headers["content-range"])?.total : length;
        validator = { mirror: mi, etag: res.headers.etag, lastModified: res.headers["last-modified"] };
        if (!validator.etag && !validator.lastModified) validator = { mirror: mi };
        stats.etag = res.headers.etag;
        stats.lastModified = res.headers["last-modified"];
      }
      stats.size = total;
      let received = 0;
      for await (const chunk of res.body as AsyncIterable<Buffer>) {
        arm();
        received += chunk.length;
        offset += chunk.length;
        stats.bytesTransferred += chunk.length;
        if (sink.errored) throw sink.errored;
        if (!sink.write(chunk)) {
          waitingForDisk = true;
          await drained(sink).finally(() => (waitingForDisk = false));
          arm();
        }
      }
      if (ac.signal.aborted) throw ac.signal.reason;
      if (total !== undefined && offset < total) throw new DownloadError(`connection closed at ${offset} of ${total} bytes`);
      return true;
    } catch (e) {
      if (e instanceof NotModified || (e instanceof AppError && !(e instanceof DownloadError))) throw e; // not modified, or the sink failed
      if (sink.errored) throw sink.errored;
      const err = ac.signal.aborted && ac.signal.reason instanceof Error ? ac.signal.reason : e;
      if (plan.signal.aborted) throw plan.signal.reason;
      if (err instanceof DownloadError) throw err;
      const msg = redactText((err as Error)?.message ?? String(err));
      const cause = (err as { cause?: Error })?.cause?.message;
      throw new DownloadError(`${t.name}: ${msg}${cause ? ` (${redactText(cause)})` : ""}`, { cause: err });
    } finally {
      clearTimeout(idle);
      plan.signal.removeEventListener("abort", onOuter);
      if (res) discard(res.body);
    }
  };

  for (;;) {
    let retryAfter = 0;
    let progressed = false;
    for (let mi = 0; mi < mirrors.length; mi++) {
      if (dead.has(mi)) continue;
      for (let ti = 0; ti < plan.transports.length; ti++) {
        const t = plan.transports[ti];
        try {
          if (await attempt(mi, t)) return { sink, stats };
          ti--; // answered a different range: ask again on the same path
          continue;
        } catch (e) {
          if (plan.signal.aborted) throw plan.signal.reason; // signal or total deadline: stop now
          if (!(e instanceof DownloadError)) throw e;
          if ((e as { skip?: boolean }).skip) {
            if (!skipped.has(t.name)) log.warn(e.message);
            skipped.add(t.name);
            stats.attempts--;
            continue;
          }
          lastError = e;
          // Progress means bytes beyond the furthest point reached so far, not a replay of them.
          const moved = offset > highWater;
          highWater = Math.max(highWater, offset);
          log.warn("attempt failed", { error: e.message, transport: t.name, url: redactUrl(mirrors[mi].url), received: moved ? offset : undefined });
          if (moved) {
            progressed = true;
            ti--; // bytes arrived: resume at once on the same path
            continue;
          }
          if (e.status !== undefined || e instanceof IdleTimeout) {
            // The server answered (or stalled): another transport would hear the same. Next mirror.
            if (!e.retryable) dead.add(mi);
            retryAfter = Math.max(retryAfter, e.retryAfterMs ?? 0);
            break;
          }
          if (!e.retryable) {
            dead.add(mi);
            break;
          }
          // A transport-level failure: try the next transport on the same mirror.
        }
      }
    }
    if (dead.size === mirrors.length) throw lastError ?? new DownloadError("no mirror could be used");
    if (stats.attempts === 0) throw new DownloadError(`no transport could be used for the ${plan.what}`, { retryable: false, hint: "enable another transport with PACKAGE_TRANSPORTS" });
    failedRounds = progressed ? 0 : failedRounds + 1;
    if (failedRounds > config.retries) {
      const e = lastError!;
      throw new DownloadError(`giving up after ${stats.attempts} attempts: ${e.message}`, { hint: e.hint, status: e.status, retryable: false });
    }
    const delay = Math.max(backoffDelay(failedRounds, config.backoffBase, config.backoffMax), retryAfter);
    log.info("retrying", { in: `${(delay / 1000).toFixed(2)}s`, round: failedRounds + 1, received: offset ? formatBytes(offset) : undefined });
    await sleep(delay, plan.signal);
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
