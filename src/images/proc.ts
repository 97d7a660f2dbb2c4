// Running docker / ctr: argument lists only (no shell), stdin from a string or a stream.

import { spawn } from "node:child_process";
import type { Readable } from "node:stream";

export interface ProcResult {
  status: number;
  stdout: string;
  stderr: string;
}

export function run(cmd: string, args: string[], opts: { input?: string | Readable; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<ProcResult> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { env: opts.env ?? process.env, stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    const timer = opts.timeoutMs ? setTimeout(() => child.kill("SIGKILL"), opts.timeoutMs) : undefined;
    child.on("error", (e) => resolve({ status: 127, stdout, stderr: `${cmd}: ${e.message}` }));
    child.on("close", (code) => {
      clearTimeout(timer);
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
