// curl reads its whole configuration, headers and credentials included, from stdin (-K -):
// nothing secret ever appears in its argument list. Response headers come first on stdout
// (-D -), then the body; a small splitter separates them. `-q` first keeps a ~/.curlrc out
// (it could turn on `location`: curl never follows a redirect itself, the caller does).

import { pipeline, Transform, type TransformCallback } from "node:stream";
import { DownloadError } from "../../errors.ts";
import { redactText } from "../../redact.ts";
import { curlCause, TransferFailure } from "../failure.ts";
import { errorLine } from "../../util/error-line.ts";
import { finalHeaderBlock, onPath, spawnStreaming } from "./subprocess.ts";
import type { Transport, TransportResponse } from "./types.ts";

const quote = (s: string) => `"${s.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n")}"`;

/** Passes the body through once the final response's header block has been read off the front. */
class HeaderSplitter extends Transform {
  private head: Buffer | undefined = Buffer.alloc(0);
  private readonly onHeaders: (h: { status: number; headers: Record<string, string> }) => void;
  constructor(onHeaders: (h: { status: number; headers: Record<string, string> }) => void) {
    super({ highWaterMark: 256 * 1024 });
    this.onHeaders = onHeaders;
  }
  override _transform(chunk: Buffer, _e: BufferEncoding, cb: TransformCallback) {
    if (!this.head) return cb(null, chunk);
    this.head = Buffer.concat([this.head, chunk]);
    // Walk complete blocks; the first that is a final response ends the header part.
    let from = 0;
    for (;;) {
      const end = this.head.indexOf("\r\n\r\n", from);
      if (end < 0) break;
      const block = this.head.subarray(from, end + 4).toString("latin1");
      const final = finalHeaderBlock(block);
      from = end + 4;
      if (final) {
        const rest = this.head.subarray(from);
        this.head = undefined;
        this.onHeaders(final);
        return cb(null, rest.length ? rest : undefined);
      }
    }
    if (this.head.length > 1024 * 1024) return cb(new DownloadError("curl: response headers larger than 1 MiB"));
    cb();
  }
}

function curlFailure(code: number, stderr: string): TransferFailure {
  const line = errorLine(stderr, /^curl: \(\d+\)/);
  const cause = /proxy|CONNECT tunnel/i.test(line) ? "proxy" : curlCause(code);
  return new TransferFailure(cause, `curl failed (exit ${code}): ${redactText(line)}`);
}

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
        'dump-header = "-"',
        ...Object.entries(req.headers).map(([k, v]) => `header = ${quote(`${k}: ${v}`)}`),
      ];
      if (req.proxy) lines.push(`proxy = ${quote(req.proxy.href)}`);
      else lines.push('noproxy = "*"');
      if (req.tls.caFile) lines.push(`cacert = ${quote(req.tls.caFile)}`);
      if (req.tls.certFile) lines.push(`cert = ${quote(req.tls.certFile)}`, `key = ${quote(req.tls.keyFile!)}`);
      if (req.tls.insecure) lines.push("insecure");
      const p = spawnStreaming(bin!, ["-q", "-K", "-"], req.signal, { failure: curlFailure });
      p.child.stdin!.on("error", () => {});
      p.child.stdin!.end(lines.join("\n") + "\n");
      return new Promise((resolve, reject) => {
        let settled = false;
        const body = new HeaderSplitter((h) => {
          settled = true;
          resolve({ ...h, body });
        });
        body.on("error", () => {});
        pipeline(p.body, body, () => {});
        // Empty bodies: the header block may be all there is.
        p.exited.then(async (code) => {
          await new Promise((r) => setImmediate(r));
          if (!settled) {
            settled = true;
            reject(curlFailure(code, p.stderr()));
          }
        });
      });
    },
  };
}
