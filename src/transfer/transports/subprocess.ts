// Shared plumbing for transports that run an external program (curl, wget): find it on
// PATH, stream its stdout as the body, turn a non-zero exit into an error on that body.

import type { ChildProcess } from "node:child_process";
import { accessSync, constants } from "node:fs";
import path from "node:path";
import { PassThrough } from "node:stream";
import { captureText, startProcess } from "../../util/process.ts";
import type { TransferFailure } from "../failure.ts";

export function onPath(program: string, env = process.env): string | undefined {
  for (const dir of (env.PATH ?? "").split(path.delimiter)) {
    if (!dir) continue;
    const full = path.join(dir, program);
    try {
      accessSync(full, constants.X_OK);
      return full;
    } catch {
      /* next */
    }
  }
  return undefined;
}

export interface Spawned {
  child: ChildProcess;
  body: PassThrough;
  stderr: () => string;
  /** Resolves with the exit code once the process and its pipes are closed. */
  exited: Promise<number>;
}

export interface SpawnOptions {
  /** Pipes beyond stdin/stdout/stderr (fd 3, 4, ...), e.g. to hand over a configuration. */
  extraFds?: number;
  env?: NodeJS.ProcessEnv;
  /** Turns a non-zero exit into the error the body ends with. */
  failure: (code: number, stderr: string) => TransferFailure;
}

export function spawnStreaming(program: string, args: string[], signal: AbortSignal, opts: SpawnOptions): Spawned {
  const { extraFds = 0, env = {} } = opts;
  const started = startProcess(program, args, { extraFds, signal, killSignal: "SIGTERM", env: { ...process.env, ...env, LC_ALL: "C" } });
  const { child } = started;
  const body = new PassThrough({ highWaterMark: 256 * 1024 });
  // The consumer sees errors through its pipeline; this keeps an unread body from crashing us.
  body.on("error", () => {});
  // The head holds the response headers (wget -S), the tail the final error message.
  const stderr = captureText(child.stderr!, { head: 16_384, tail: 4096 });
  child.stdout!.pipe(body, { end: false });
  const exited = started.exited.then((exit) => exit.code ?? -1);
  exited.then((code) => {
    if (code === 0) body.end();
    else body.destroy(opts.failure(code, stderr()));
  });
  return { child, body, stderr, exited };
}

/** Parse raw HTTP header blocks; returns the final response's (not 1xx, not a proxy's CONNECT answer). */
export function finalHeaderBlock(raw: string): { status: number; headers: Record<string, string> } | undefined {
  const blocks = raw.split(/\r?\n\r?\n/);
  let found: { status: number; headers: Record<string, string> } | undefined;
  // Only blocks followed by a blank line are complete.
  for (const block of blocks.slice(0, -1)) {
    const lines = block.split(/\r?\n/).map((l) => l.replace(/^\s+/, "")).filter(Boolean);
    const m = /^HTTP\/[\d.]+\s+(\d{3})(.*)$/.exec(lines[0] ?? "");
    if (!m) continue;
    const status = Number(m[1]);
    if (status < 200 || (status === 200 && /connection established/i.test(m[2]))) continue;
    const headers: Record<string, string> = {};
    for (const l of lines.slice(1)) {
      const i = l.indexOf(":");
      if (i <= 0) continue;
      const k = l.slice(0, i).trim().toLowerCase();
      const v = l.slice(i + 1).trim();
      headers[k] = headers[k] ? `${headers[k]}, ${v}` : v;
    }
    found = { status, headers };
  }
  return found;
}
