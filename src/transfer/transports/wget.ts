// wget as a last resort, in the two kinds found in images: GNU wget (Debian, RHEL) and
// busybox wget (Alpine, busybox), told apart at run time by `wget --version`.
//
// Neither can take a secret off its command line: GNU wget reads the URL from stdin
// (`-i -`), so a signed URL's query stays off `ps`, but headers only come from argv or a
// config file it insists be a regular file on disk. So wget is skipped (one log line) for a
// request carrying credentials or user headers, or proxy credentials. Neither can accept a
// 206 it did not ask for itself, and GNU's own --start-pos silently drops the first bytes of
// a 200, so wget never resumes: the transfer skips it for a resumed request, or starts over
// on it when no other transport can resume. Busybox wget also cannot read the URL from
// stdin and does not verify TLS certificates: it is used for plain http:// URLs without a
// query string only. It follows redirects by itself and cannot be told not to: it is
// stopped as soon as it prints the first redirect, and whatever it fetched after one is
// thrown away; the transfer follows the redirect itself (nothing secret was given to it).

import { spawnSync } from "node:child_process";
import { redactText } from "../../redact.ts";
import { TransferFailure, wgetCause } from "../failure.ts";
import { PROTOCOL_HEADERS } from "../origin-headers.ts";
import { onPath, spawnStreaming } from "./subprocess.ts";
import type { Transport, TransportRequest, TransportResponse } from "./types.ts";

export type WgetKind = "gnu" | "busybox";

/** Headers that carry nothing secret: a wget command line may show them. */
const PUBLIC = new Set([...Object.keys(PROTOCOL_HEADERS), "if-none-match", "if-modified-since"]);

export function detectWget(bin: string): WgetKind | undefined {
  const r = spawnSync(bin, ["--version"], { encoding: "utf8", timeout: 5000, env: { ...process.env, LC_ALL: "C" } });
  const out = `${r.stdout ?? ""}${r.stderr ?? ""}`;
  if (/GNU Wget/i.test(out)) return "gnu";
  if (/busybox/i.test(out)) return "busybox";
  return undefined;
}

/** Why wget must not take this request, or undefined. */
export function wgetUnsuitable(kind: WgetKind, req: TransportRequest): string | undefined {
  const secret = Object.keys(req.headers).filter((h) => !PUBLIC.has(h) && h !== "range" && h !== "if-range");
  if (secret.length) return `the request carries credentials or user headers (${secret.join(", ")}), which wget could only take on its command line`;
  if (req.proxy?.username || req.proxy?.password) return "the proxy URL carries credentials, which wget could only take on its command line";
  if (req.tls.certFile) return "wget is not used for mutual TLS";
  if (kind === "gnu") return undefined;
  if (req.url.protocol !== "http:") return "busybox wget does not verify TLS certificates: it is used for http:// URLs only";
  if (req.url.search) return "busybox wget cannot read the URL from stdin, and a query string may be a secret (signed URL)";
  return undefined;
}

function gnuArgs(req: TransportRequest): string[] {
  const args = ["-nv", "-S", "-O", "-", "--max-redirect=0", `--connect-timeout=${Math.max(1, Math.ceil(req.connectTimeoutMs / 1000))}`, "--tries=1", "--no-config"];
  for (const [k, v] of Object.entries(req.headers)) args.push(`--header=${k}: ${v}`);
  if (req.tls.caFile) args.push(`--ca-certificate=${req.tls.caFile}`);
  if (req.tls.insecure) args.push("--no-check-certificate");
  if (!req.proxy) args.push("--no-proxy");
  return [...args, "-i", "-"];
}

function busyboxArgs(req: TransportRequest): string[] {
  // -q drops the progress meter only: -S headers and error messages still come.
  const args = ["-q", "-S", "-O", "-", "-Y", req.proxy ? "on" : "off"];
  for (const [k, v] of Object.entries(req.headers)) {
    if (k === "user-agent") args.push("-U", v);
    else if (k !== "accept-encoding") args.push("--header", `${k}: ${v}`);
  }
  return [...args, req.url.href];
}

type Head = { status: number; headers: Record<string, string> };

/** The response header blocks in wget's -S output (both kinds print them indented). */
export function wgetBlocks(stderr: string): Head[] {
  const blocks: Head[] = [];
  let current: Head | undefined;
  for (const line of stderr.split(/\r?\n/)) {
    const status = /^\s+HTTP\/[\d.]+\s+(\d{3})(.*)$/.exec(line);
    if (status) {
      current = { status: Number(status[1]), headers: {} };
      if (current.status >= 200 && !/connection established/i.test(status[2])) blocks.push(current);
      continue;
    }
    const h = /^\s+([!#$%&'*+.^_`|~0-9A-Za-z-]+):\s?(.*)$/.exec(line);
    if (current && h) {
      const k = h[1].toLowerCase();
      current.headers[k] = current.headers[k] ? `${current.headers[k]}, ${h[2].trim()}` : h[2].trim();
    } else current = undefined;
  }
  return blocks;
}

/** The final response's status and headers. */
export function wgetResponse(stderr: string): Head | undefined {
  let final = wgetBlocks(stderr).pop();
  // Busybox prints no headers for an error status, only "server returned error: HTTP/1.1 404 ...".
  const err = /server returned error: HTTP\/[\d.]+ (\d{3})/.exec(stderr);
  if (err && (!final || final.status !== Number(err[1]))) final = { status: Number(err[1]), headers: {} };
  return final;
}

/** Busybox wget follows redirects itself: its first answer, when that is a redirect, is all we take. */
export function busyboxRedirect(stderr: string): Head | undefined {
  const first = wgetBlocks(stderr)[0];
  return first && first.status >= 300 && first.status < 400 && first.headers.location ? first : undefined;
}

function wgetFailure(code: number, stderr: string): TransferFailure {
  const lines = stderr.split(/\r?\n/).filter((l) => l.trim() && !/^\s/.test(l) && !/^(Connecting to|--\d|\d{4}-\d\d-\d\d .*URL:|writing to|written to|-\s+\d+%)/.test(l));
  return new TransferFailure(wgetCause(code, stderr), `wget failed (exit ${code}): ${redactText(lines.pop()?.trim() ?? "no message")}`);
}

export function wgetTransport(env = process.env): Transport {
  const bin = onPath("wget", env);
  let kind: WgetKind | undefined;
  const kindOf = (): WgetKind => (kind ??= (bin && detectWget(bin)) || "busybox");
  return {
    name: "wget",
    resumes: false,
    variant: () => (kindOf() === "gnu" ? "GNU wget" : "busybox wget"),
    available: () => bin !== undefined,
    unsuitable: (req) => wgetUnsuitable(kindOf(), req),
    request(req): Promise<TransportResponse> {
      const gnu = kindOf() === "gnu";
      const proxyEnv = req.proxy ? { [req.url.protocol === "https:" ? "https_proxy" : "http_proxy"]: req.proxy.href } : {};
      const p = spawnStreaming(bin!, gnu ? gnuArgs(req) : busyboxArgs(req), req.signal, { env: proxyEnv, failure: wgetFailure });
      p.child.stdin!.on("error", () => {});
      p.child.stdin!.end(gnu ? `${req.url.href}\n` : "");
      return new Promise((resolve, reject) => {
        let settled = false;
        let bodyStarted = false;
        const tryResolve = (done: boolean) => {
          if (settled || !(done || bodyStarted)) return;
          const final = (!gnu && busyboxRedirect(p.stderr())) || wgetResponse(p.stderr());
          if (final) {
            settled = true;
            resolve({ ...final, body: p.body });
          }
        };
        if (!gnu) {
          // Stop busybox at the first redirect (the transfer follows redirects itself: origin
          // rule, loop detection, PACKAGE_MAX_REDIRECTS, http:// only).
          p.child.stderr!.on("data", () => {
            const redirect = settled ? undefined : busyboxRedirect(p.stderr());
            if (!redirect) return;
            settled = true;
            p.child.kill("SIGKILL");
            resolve({ ...redirect, body: p.body });
          });
        }
        p.child.stdout!.once("data", () => {
          bodyStarted = true;
          setImmediate(() => tryResolve(false));
        });
        p.exited.then((code) => {
          tryResolve(true);
          if (!settled) {
            settled = true;
            reject(wgetFailure(code, p.stderr()));
          }
        });
      });
    },
  };
}
