// The HTTPS server of the admission webhook: POST /mutate answers AdmissionReviews,
// GET /healthz says it is up. The certificate and key are read from files (a mounted
// Secret) and read again every reload interval: a renewed certificate (cert-manager,
// a rotated Secret) is served without a restart, and a half-written pair is ignored until
// it is whole.

import fs from "node:fs";
import https from "node:https";
import type { AddressInfo } from "node:net";
import tls from "node:tls";
import { LocalIOError, UsageError } from "../errors.ts";
import type { Logger } from "../log.ts";
import { BadReviewError, review, type WebhookInjectSettings } from "./review.ts";

export interface ServerSettings {
  host: string;
  port: number;
  certFile: string;
  keyFile: string;
  reloadIntervalMs: number;
  inject: WebhookInjectSettings;
}

/** The API server sends at most ~3 MiB; anything larger is not an AdmissionReview. */
const MAX_BODY = 4 * 1024 * 1024;

interface KeyPair {
  cert: string;
  key: string;
}

function readPair(s: ServerSettings): KeyPair {
  const read = (f: string, what: string) => {
    try {
      return fs.readFileSync(f, "utf8");
    } catch (e) {
      throw new UsageError(`cannot read the TLS ${what} ${f}: ${(e as NodeJS.ErrnoException).code ?? e}`, "mount the webhook's certificate Secret (tls.crt, tls.key) and point --tls-cert-file/--tls-key-file at it");
    }
  };
  const pair = { cert: read(s.certFile, "certificate"), key: read(s.keyFile, "key") };
  try {
    tls.createSecureContext(pair); // a key that does not match the certificate fails here
  } catch (e) {
    throw new UsageError(`the TLS certificate ${s.certFile} and key ${s.keyFile} are not a usable pair: ${(e as Error).message}`, "give a PEM certificate and its PEM private key");
  }
  return pair;
}

function send(res: import("node:http").ServerResponse, status: number, body: unknown) {
  const text = typeof body === "string" ? body : JSON.stringify(body);
  res.writeHead(status, { "content-type": typeof body === "string" ? "text/plain; charset=utf-8" : "application/json" });
  res.end(text);
}

function handle(s: ServerSettings, log: Logger, req: import("node:http").IncomingMessage, res: import("node:http").ServerResponse) {
  const path = (req.url ?? "/").split("?")[0];
  if (path === "/healthz" && (req.method === "GET" || req.method === "HEAD")) return send(res, 200, "ok\n");
  if (path !== "/mutate") return send(res, 404, "not found: POST AdmissionReviews to /mutate, GET /healthz\n");
  if (req.method !== "POST") return send(res, 405, "POST an AdmissionReview\n");
  const chunks: Buffer[] = [];
  let size = 0;
  req.on("data", (c: Buffer) => {
    size += c.length;
    if (size > MAX_BODY) {
      send(res, 413, "an AdmissionReview is never this large\n");
      req.destroy();
    } else chunks.push(c);
  });
  req.on("end", () => {
    if (res.headersSent) return;
    let body: unknown;
    try {
      body = JSON.parse(Buffer.concat(chunks).toString("utf8"));
    } catch {
      return send(res, 400, "the body is not JSON\n");
    }
    try {
      const out = review(body, s.inject);
      const r = (body as { request: Record<string, any> }).request;
      const fields = { uid: r.uid, namespace: r.namespace, pod: r.object?.metadata?.name ?? r.object?.metadata?.generateName ?? r.name, dryRun: r.dryRun === true, result: out.result, reason: out.reason };
      if (out.result === "denied") log.warn("admission review", fields);
      else log.info("admission review", fields);
      send(res, 200, out.body);
    } catch (e) {
      if (e instanceof BadReviewError) return send(res, 400, `${e.message}\n`);
      // A bug must not take the server (and every Pod creation) down: answer 500, log it.
      log.error(`internal error answering an admission review: ${(e as Error)?.stack ?? e}`, { hint: "please report this with the log" });
      send(res, 500, "internal error\n");
    }
  });
}

/** Serve until `signal` aborts; throws the signal's reason then. */
export async function serveWebhook(s: ServerSettings, log: Logger, signal: AbortSignal): Promise<never> {
  let pair = readPair(s);
  const server = https.createServer({ ...pair, minVersion: "TLSv1.2" }, (req, res) => handle(s, log, req, res));
  server.requestTimeout = 10_000;
  server.headersTimeout = 5_000;
  const reload = setInterval(() => {
    let next: KeyPair;
    try {
      next = readPair(s);
    } catch (e) {
      return log.warn(`keeping the current TLS certificate: ${(e as Error).message}`);
    }
    if (next.cert === pair.cert && next.key === pair.key) return;
    server.setSecureContext({ ...next, minVersion: "TLSv1.2" });
    pair = next;
    log.info("reloaded the TLS certificate", { cert: s.certFile });
  }, s.reloadIntervalMs);
  try {
    await new Promise<void>((resolve, reject) => {
      server.once("error", (e: NodeJS.ErrnoException) => reject(new LocalIOError(`cannot listen on ${s.host}:${s.port}: ${e.code ?? e.message}`, "choose a free port with --listen")));
      server.listen(s.port, s.host, resolve);
    });
    const addr = server.address() as AddressInfo;
    log.info(`webhook listening on https://${addr.address}:${addr.port}/mutate`, { image: s.inject.image });
    await new Promise((_, reject) => {
      if (signal.aborted) reject(signal.reason);
      signal.addEventListener("abort", () => reject(signal.reason), { once: true });
    });
    throw new Error("unreachable");
  } finally {
    clearInterval(reload);
    server.close();
    server.closeAllConnections();
  }
}
