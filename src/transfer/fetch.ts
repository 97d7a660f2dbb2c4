// The transfer: mirrors × transports, in rounds, with backoff between failed rounds.
// Each attempt (attempt.ts) returns an Outcome; the tables below say what happens next.
// Bytes are pushed, in order and exactly once, into a sink; starting over drops the sink
// (delivery.ts), and the resume rule (resume.ts) decides when that is needed.

import type { Writable } from "node:stream";
import { backoffDelay } from "./backoff.ts";
import { DownloadError } from "../errors.ts";
import { bytesField, type Logger } from "../log.ts";
import { redactUrl } from "../redact.ts";
import { attempt, type AttemptSettings, type Outcome } from "./attempt.ts";
import { Delivery, newStats, type SinkFactory, type TransferStats } from "./delivery.ts";
import { moreInformative, TransferFailure } from "./failure.ts";
import { parseMirror, type AuthProvider, type Mirror } from "./origin-headers.ts";
import { parseContentRange as parseRange } from "./resume.ts";
import type { TlsSettings, Transport } from "./transports/types.ts";

export { newStats, type SinkFactory, type TransferStats } from "./delivery.ts";

/** Content-Range: bytes START-END/TOTAL (start and total only). */
export function parseContentRange(v: string | undefined): { start: number; total?: number } | undefined {
  const r = parseRange(v);
  return r && { start: r.start, total: r.total };
}

/** The settings a transfer takes (a subset of the program's Config; times in ms). */
export interface TransferOptions {
  retries: number;
  backoffBase: number;
  backoffMax: number;
  connectTimeout: number;
  idleTimeout: number;
  maxRedirects: number;
  /** "" or undefined = none. */
  tokenFile?: string;
  basicAuthFile?: string;
  headers: [string, string][];
}

export interface TransferPlan {
  urls: string[];
  config: TransferOptions;
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
  /** Per URL (as listed in `urls`), credentials asked on every attempt and renewed on a 401 (an OCI registry's token). */
  auth?: ReadonlyMap<string, AuthProvider>;
}

/** The server answered 304 to the conditional request: the installed copy is current. */
export class NotModified extends Error {}

type Step = "done" | "not-modified" | "fatal" | "same-transport" | "next-transport" | "next-mirror" | "drop-mirror";

/** What each outcome leads to; a failure is looked up in RETRY_POLICY. */
const NEXT: Record<Exclude<Outcome["kind"], "failed" | "unauthorized">, Step> = {
  delivered: "done",
  "not-modified": "not-modified",
  fatal: "fatal",
  skipped: "next-transport",
  restarted: "same-transport", // the sink was dropped: ask again from byte 0 on the same path
  reauthorized: "same-transport", // fresh credentials: ask again (resuming where the bytes stopped)
};

interface FailureFacts {
  failure: TransferFailure;
  stalled: boolean;
  /** Bytes arrived beyond the furthest point reached before. */
  progressed: boolean;
}

/** The retry policy, first matching row wins. */
export const RETRY_POLICY: readonly { when: string; test: (f: FailureFacts) => boolean; then: Step }[] = [
  { when: "bytes arrived past the furthest point so far: resume at once", test: (f) => f.progressed, then: "same-transport" },
  { when: "the answer will not change (4xx but 408/429, redirect loop, proxy auth)", test: (f) => !f.failure.retryable, then: "drop-mirror" },
  { when: "the server answered (408, 429, 5xx) or stalled: another transport would hear the same", test: (f) => f.failure.status !== undefined || f.stalled, then: "next-mirror" },
  { when: "the transport failed (refused, DNS, TLS, reset, timeout): try the next one", test: () => true, then: "next-transport" },
];

/** Everything one transfer remembers across rounds. */
interface Run<S extends Writable> {
  settings: AttemptSettings;
  mirrors: Mirror[];
  delivery: Delivery<S>;
  dead: Set<number>;
  /** The most informative failure seen (the final line names it). */
  worst?: TransferFailure;
  skipsLogged: Set<string>;
  /** Mirrors whose credentials were renewed and not used since: a second 401 in a row is final. */
  renewed: Set<number>;
}

export async function transfer<S extends Writable>(plan: TransferPlan, sinks: SinkFactory<S>): Promise<{ sink: S; stats: TransferStats }> {
  const { config } = plan;
  const settings: AttemptSettings = { ...config, tls: plan.tls, env: plan.env, log: plan.log, signal: plan.signal, what: plan.what, transports: plan.transports, installed: plan.installed };
  const mirrors = plan.urls.map((u): Mirror => ({ ...parseMirror(u), provider: plan.auth?.get(u) }));
  const run: Run<S> = { settings, mirrors, delivery: new Delivery(sinks, plan.stats ?? newStats(), plan.log, plan.what), dead: new Set(), skipsLogged: new Set(), renewed: new Set() };
  try {
    return await rounds(run, plan);
  } catch (e) {
    // The total deadline cut a transfer that was failing: say why it was failing.
    if (e === plan.signal.reason && e instanceof DownloadError && run.worst) {
      throw new DownloadError(`${e.message}; the attempts failed with: ${run.worst.message}`, { hint: run.worst.hint, retryable: false });
    }
    throw e;
  }
}

async function rounds<S extends Writable>(run: Run<S>, plan: TransferPlan): Promise<{ sink: S; stats: TransferStats }> {
  const { config } = plan;
  for (let failedRounds = 0; ; ) {
    const round = await runRound(run);
    if (round.done) return { sink: run.delivery.sink, stats: run.delivery.stats };
    const { stats, state } = run.delivery;
    if (run.dead.size === run.mirrors.length) throw run.worst ?? new DownloadError("no mirror could be used");
    if (stats.attempts === 0 || !run.worst) throw new DownloadError(`no transport could be used for the ${plan.what}`, { retryable: false, hint: "enable another transport with PACKAGE_TRANSPORTS" });
    failedRounds = round.progressed ? 0 : failedRounds + 1;
    if (failedRounds > config.retries) {
      const e = run.worst;
      const rounds = `${failedRounds} failed round${failedRounds === 1 ? "" : "s"} in a row`;
      throw new DownloadError(`giving up after ${rounds} (${stats.attempts} attempt${stats.attempts === 1 ? "" : "s"}): ${e.message}`, { hint: e.hint, status: e.status, retryable: false });
    }
    const delay = Math.max(backoffDelay(failedRounds, config.backoffBase, config.backoffMax), round.retryAfterMs);
    plan.log.info("retrying", { in: `${(delay / 1000).toFixed(2)}s`, round: failedRounds + 1, received: state.offset ? bytesField(state.offset) : undefined });
    await sleep(delay, plan.signal);
  }
}

/** One round: every live mirror, each through the transports in order, until one delivers. */
async function runRound<S extends Writable>(run: Run<S>): Promise<{ done: boolean; progressed: boolean; retryAfterMs: number }> {
  const { settings, delivery } = run;
  let progressed = false;
  let retryAfterMs = 0;
  for (const [mi, mirror] of run.mirrors.entries()) {
    if (run.dead.has(mi)) continue;
    for (let ti = 0; ti < settings.transports.length; ) {
      const transport = settings.transports[ti];
      const outcome = await reauthorize(run, mi, mirror, await attempt({ settings, mirror, transport, delivery }));
      const step = stepFor(run, outcome, mirror, transport);
      if (outcome.kind === "failed") {
        progressed ||= step === "same-transport";
        retryAfterMs = Math.max(retryAfterMs, outcome.failure.retryAfterMs ?? 0);
      }
      if (outcome.kind === "fatal") throw outcome.error;
      if (step === "not-modified") throw new NotModified();
      if (step === "done") return { done: true, progressed, retryAfterMs };
      if (step === "next-transport") ti++;
      if (step === "drop-mirror") run.dead.add(mi);
      if (step === "next-mirror" || step === "drop-mirror") break;
    }
  }
  return { done: false, progressed, retryAfterMs };
}

/**
 * A 401 from a mirror with an AuthProvider (its token expired during a long download):
 * renew once and ask again; a second 401 in a row, or nothing to renew, is the failure.
 */
async function reauthorize<S extends Writable>(run: Run<S>, mi: number, mirror: Mirror, outcome: Outcome): Promise<Exclude<Outcome, { kind: "unauthorized" }>> {
  if (outcome.kind !== "unauthorized") {
    if (outcome.kind !== "skipped" && outcome.kind !== "reauthorized") run.renewed.delete(mi);
    return outcome;
  }
  const refused = { kind: "failed", failure: outcome.failure, stalled: false } as const;
  if (run.renewed.has(mi) || !mirror.provider) return refused;
  run.renewed.add(mi);
  try {
    if (!(await mirror.provider.refresh(outcome.challenge))) return refused;
  } catch (e) {
    if (run.settings.signal.aborted) return { kind: "fatal", error: run.settings.signal.reason };
    if (!(e instanceof DownloadError)) return { kind: "fatal", error: e };
    return { kind: "failed", failure: new TransferFailure("http", e.message, { status: e.status, retryable: false, hint: e.hint }), stalled: false };
  }
  run.settings.log.info("the credentials were refused (an expired token?): renewed, asking again", { url: redactUrl(mirror.url) });
  return { kind: "reauthorized" };
}

/** Log the outcome, remember the worst failure, and look up the next step. */
function stepFor<S extends Writable>(run: Run<S>, outcome: Exclude<Outcome, { kind: "unauthorized" }>, mirror: Mirror, transport: Transport): Step {
  if (outcome.kind === "skipped") {
    if (!run.skipsLogged.has(outcome.reason)) run.settings.log.warn(outcome.reason);
    run.skipsLogged.add(outcome.reason);
  }
  if (outcome.kind !== "failed") return NEXT[outcome.kind];
  const { failure, stalled } = outcome;
  if (!run.worst || moreInformative(failure.causeKind, run.worst.causeKind)) run.worst = failure;
  const progressed = run.delivery.progressed();
  const { offset } = run.delivery.state;
  run.settings.log.warn("attempt failed", { error: failure.message, transport: transport.name, url: redactUrl(mirror.url), received: progressed ? bytesField(offset) : undefined });
  return RETRY_POLICY.find((row) => row.test({ failure, stalled, progressed }))!.then;
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
