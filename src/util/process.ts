// Running another program (curl, wget, docker, ctr, skopeo): argument lists only, never a
// shell; pipes for its input and output; one way to stop it (an abort or a timeout kills it).

import { spawn, type ChildProcess } from "node:child_process";
import type { Readable } from "node:stream";

export interface ProcessOptions {
  /** The child's whole environment (default: this process's). */
  env?: NodeJS.ProcessEnv;
  /** "ignore": the child's stdin is /dev/null (default: a pipe). */
  stdin?: "pipe" | "ignore";
  /** Pipes beyond stdin/stdout/stderr (fd 3, 4, ...), e.g. to hand over a configuration. */
  extraFds?: number;
  /** Aborted (or aborted already): the child gets `killSignal` and `exited` resolves at once. */
  signal?: AbortSignal;
  killSignal?: NodeJS.Signals;
  /** Past this, the child gets SIGKILL; `exited` then says timedOut. */
  timeoutMs?: number;
}

export interface Exit {
  /** The exit status; null when the child was killed by a signal, aborted, or never started. */
  code: number | null;
  /** The program could not be started (ENOENT, EACCES...). */
  error?: Error;
  aborted?: boolean;
  timedOut?: boolean;
}

export interface Started {
  child: ChildProcess;
  /** Resolves once: the child closed its pipes, failed to start, or was aborted. */
  exited: Promise<Exit>;
}

export function startProcess(program: string, args: string[], opts: ProcessOptions = {}): Started {
  const stdio: ("pipe" | "ignore")[] = [opts.stdin ?? "pipe", ...Array<"pipe">(2 + (opts.extraFds ?? 0)).fill("pipe")];
  const child = spawn(program, args, { stdio, env: opts.env ?? process.env });
  const kill = (sig: NodeJS.Signals) => {
    try {
      child.kill(sig);
    } catch {
      /* already gone */
    }
  };
  const exited = new Promise<Exit>((resolve) => {
    let timedOut = false;
    const timer = opts.timeoutMs ? setTimeout(() => ((timedOut = true), kill("SIGKILL")), opts.timeoutMs) : undefined;
    const onAbort = () => {
      kill(opts.killSignal ?? "SIGKILL");
      resolve({ code: null, aborted: true });
    };
    const settle = (exit: Exit) => {
      clearTimeout(timer);
      opts.signal?.removeEventListener("abort", onAbort);
      resolve(exit);
    };
    if (opts.signal?.aborted) onAbort();
    else opts.signal?.addEventListener("abort", onAbort, { once: true });
    child.once("error", (error) => settle({ code: null, error }));
    child.once("close", (code) => settle({ code, timedOut }));
  });
  return { child, exited };
}

/**
 * The text a stream carries, kept within bounds when asked: the first `head` characters (a
 * program's headers, its first complaint) and the last `tail` (its final error message).
 */
export function captureText(stream: Readable, bounds?: { head: number; tail: number }): () => string {
  let head = "";
  let tail = "";
  stream.on("data", (d: Buffer) => {
    if (!bounds || head.length < bounds.head) head += d.toString();
    else tail = (tail + d.toString()).slice(-bounds.tail);
  });
  return () => (tail ? `${head}\n${tail}` : head);
}

export interface ProcResult {
  /** The exit status; 127 when the program could not be started, 128 when killed, 130 when aborted before it started. */
  status: number;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  input?: string | Readable;
  env?: NodeJS.ProcessEnv;
  timeoutMs?: number;
  /** Aborted: the child is killed at once (SIGKILL), so a stop takes seconds, not minutes. */
  signal?: AbortSignal;
}

/** Run a program to its end with its input given, and collect its output. Never throws. */
export async function runProcess(cmd: string, args: string[], opts: RunOptions = {}): Promise<ProcResult> {
  if (opts.signal?.aborted) return { status: 130, stdout: "", stderr: "stopped" };
  const { child, exited } = startProcess(cmd, args, { env: opts.env, signal: opts.signal, timeoutMs: opts.timeoutMs });
  const stdout = captureText(child.stdout!);
  const stderr = captureText(child.stderr!);
  child.stdin!.on("error", () => {});
  if (typeof opts.input === "string" || opts.input === undefined) child.stdin!.end(opts.input ?? "");
  else {
    opts.input.on("error", (e) => child.stdin!.destroy(e));
    opts.input.pipe(child.stdin!);
  }
  const exit = await exited;
  if (exit.error) return { status: 127, stdout: stdout(), stderr: `${cmd}: ${exit.error.message}` };
  const timedOut = exit.timedOut ? `\ntimed out after ${Math.round((opts.timeoutMs ?? 0) / 1000)}s` : "";
  return { status: exit.code ?? 128, stdout: stdout(), stderr: stderr() + timedOut };
}
