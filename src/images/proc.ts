// Running docker / ctr: argument lists only (no shell), stdin from a string or a stream.
// An abort (SIGTERM/SIGINT) kills the child at once, so a stop takes seconds, not minutes.

import { spawn } from "node:child_process";
import type { Readable } from "node:stream";

export interface ProcResult {
  status: number;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  input?: string | Readable;
  env?: NodeJS.ProcessEnv;
  timeoutMs?: number;
  signal?: AbortSignal;
}

export function run(cmd: string, args: string[], opts: RunOptions = {}): Promise<ProcResult> {
  return new Promise((resolve) => {
    if (opts.signal?.aborted) return resolve({ status: 130, stdout: "", stderr: "stopped" });
    const child = spawn(cmd, args, { env: opts.env ?? process.env, stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    let timedOut = false;
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    const kill = () => child.kill("SIGKILL");
    const timer = opts.timeoutMs
      ? setTimeout(() => {
          timedOut = true;
          kill();
        }, opts.timeoutMs)
      : undefined;
    opts.signal?.addEventListener("abort", kill, { once: true });
    child.on("error", (e) => resolve({ status: 127, stdout, stderr: `${cmd}: ${e.message}` }));
    child.on("close", (code) => {
      clearTimeout(timer);
      opts.signal?.removeEventListener("abort", kill);
      if (timedOut) stderr += `\ntimed out after ${Math.round((opts.timeoutMs ?? 0) / 1000)}s`;
      resolve({ status: code ?? 128, stdout, stderr });
    });
    child.stdin.on("error", () => {});
    if (typeof opts.input === "string" || opts.input === undefined) child.stdin.end(opts.input ?? "");
    else {
      opts.input.on("error", (e) => child.stdin.destroy(e));
      opts.input.pipe(child.stdin);
    }
  });
}

export const lastLine = (s: string) => s.trim().split("\n").pop()?.trim() ?? "";
