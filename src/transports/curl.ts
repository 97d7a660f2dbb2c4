// curl reads its whole configuration, headers and credentials included, from stdin (-K -):
// nothing secret ever appears in its argument list. Response headers come back on fd 3.

import { DownloadError } from "../errors.ts";
import { redactText } from "../redact.ts";
import { finalHeaderBlock, lastLine, onPath, spawnStreaming } from "./subprocess.ts";
import type { Transport, TransportResponse } from "./types.ts";

const quote = (s: string) => `"${s.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n")}"`;

export function curlTransport(env = process.env): Transport {
  const bin = onPath("curl", env);
  return {
    name: "curl",
    available: () => bin !== undefined,
    request(req): Promise<TransportResponse> {
      const lines = [
        `url = ${quote(req.url.href)}`,
        `connect-timeout = ${Math.max(1, Math.ceil(req.connectTimeoutMs / 1000))}`,
        "silent",
        "show-error",
        "no-buffer",
        "proto = =http,https",
        'dump-header = "/dev/fd/3"',
        ...Object.entries(req.headers).map(([k, v]) => `header = ${quote(`${k}: ${v}`)}`),
      ];
      if (req.proxy) lines.push(`proxy = ${quote(req.proxy.href)}`);
      else lines.push('noproxy = "*"');
      if (req.tls.caFile) lines.push(`cacert = ${quote(req.tls.caFile)}`);
      if (req.tls.certFile) lines.push(`cert = ${quote(req.tls.certFile)}`, `key = ${quote(req.tls.keyFile!)}`);
      if (req.tls.insecure) lines.push("insecure");
      const p = spawnStreaming(bin!, ["-K", "-"], req.signal, 1);
      p.child.stdin!.end(lines.join("\n") + "\n");
      p.child.stdin!.on("error", () => {});
      return new Promise((resolve, reject) => {
        let raw = "";
        let settled = false;
        let bodyStarted = false;
        const tryResolve = () => {
          if (settled) return;
          const final = finalHeaderBlock(raw);
          if (final && (bodyStarted || raw.endsWith("\n\n") || raw.endsWith("\r\n\r\n"))) {
            settled = true;
            resolve({ ...final, body: p.body });
          }
        };
        p.child.stdio[3]!.on("data", (d: Buffer) => {
          raw += d.toString("latin1");
          tryResolve();
        });
        p.child.stdout!.once("data", () => {
          bodyStarted = true;
          tryResolve();
        });
        p.exited.then((code) => {
          tryResolve();
          if (!settled) {
            settled = true;
            reject(new DownloadError(`curl failed (exit ${code}): ${redactText(lastLine(p.stderr()))}`, { transportLevel: true }));
          }
        });
      });
    },
  };
}
