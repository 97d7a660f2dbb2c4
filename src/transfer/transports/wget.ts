// GNU wget as a last resort. wget has no way to read headers from stdin, so it is skipped
// for any request that carries credentials (they would show in `ps`): documented in README.

import { DownloadError } from "../../errors.ts";
import { redactText } from "../../redact.ts";
import { finalHeaderBlock, lastLine, onPath, spawnStreaming } from "./subprocess.ts";
import type { Transport, TransportRequest, TransportResponse } from "./types.ts";

const SECRET = /^(authorization|proxy-authorization|cookie)$/i;

export function wgetTransport(env = process.env): Transport {
  const bin = onPath("wget", env);
  return {
    name: "wget",
    available: () => bin !== undefined,
    unsuitable(req: TransportRequest) {
      if (Object.keys(req.headers).some((h) => SECRET.test(h)) || req.proxy?.username) return "the request carries credentials, which wget could only take on its command line";
      if (req.tls.certFile) return "wget is not used for mutual TLS";
      return undefined;
    },
    request(req): Promise<TransportResponse> {
      const args = ["-q", "-S", "-O", "-", "--max-redirect=0", `--connect-timeout=${Math.max(1, Math.ceil(req.connectTimeoutMs / 1000))}`, "--tries=1", "--no-config"];
      for (const [k, v] of Object.entries(req.headers)) {
        // wget refuses a 206 to a Range it did not ask for itself: let it ask.
        const range = k === "range" ? /^bytes=(\d+)-$/.exec(v) : null;
        if (range) args.push(`--start-pos=${range[1]}`);
        else args.push(`--header=${k}: ${v}`);
      }
      if (req.tls.caFile) args.push(`--ca-certificate=${req.tls.caFile}`);
      if (req.tls.insecure) args.push("--no-check-certificate");
      if (!req.proxy) args.push("--no-proxy");
      args.push(req.url.href);
      const proxyEnv = req.proxy ? { [req.url.protocol === "https:" ? "https_proxy" : "http_proxy"]: req.proxy.href } : {};
      const p = spawnStreaming(bin!, args, req.signal, 0, proxyEnv);
      return new Promise((resolve, reject) => {
        let settled = false;
        let bodyStarted = false;
        const tryResolve = (done: boolean) => {
          if (settled || !(done || bodyStarted)) return;
          // wget -S prints each response header block to stderr, indented, before the body.
          const blocks = p.stderr().replace(/\r/g, "").replace(/\n(?! {2})/g, "\n\n").replace(/\n\n+/g, "\n\n") + "\n\n";
          const final = finalHeaderBlock(blocks);
          if (final) {
            settled = true;
            resolve({ ...final, body: p.body });
          }
        };
        p.child.stderr!.on("data", () => tryResolve(false));
        p.child.stdout!.once("data", () => {
          bodyStarted = true;
          setImmediate(() => tryResolve(false));
        });
        p.exited.then((code) => {
          tryResolve(true);
          if (!settled) {
            settled = true;
            reject(new DownloadError(`wget failed (exit ${code}): ${redactText(lastLine(p.stderr()))}`));
          }
        });
      });
    },
  };
}
