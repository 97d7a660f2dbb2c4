// What the main thread and the extraction worker say to each other, and how a typed error
// crosses the thread boundary and comes back as the same class with the same exit code.

import { AppError, ArchiveError, IntegrityError, LocalIOError, UsageError } from "../errors.ts";
import type { ExtractOptions } from "./extract.ts";
import type { ArchiveResult } from "./sink.ts";

/** What the worker needs to build an ArchiveSink: plain data only (structured clone). */
export interface WorkerInit {
  stagingDir: string;
  opts: ExtractOptions & { maxRatio: number };
}

export type ToWorker = { t: "data"; ab: ArrayBuffer } | { t: "end" };

export type FromWorker =
  | { t: "ack"; bytes: number; files: number }
  | { t: "done"; result: Omit<ArchiveResult, "digest" | "rawBytes"> }
  | { t: "error"; error: SerializedError };

export interface SerializedError {
  name: string;
  message: string;
  stack?: string;
  /** Present for AppErrors: the exit code and hint travel with them. */
  exitCode?: number;
  hint?: string;
}

export function serializeError(e: unknown): SerializedError {
  if (e instanceof AppError) return { name: e.name, message: e.message, stack: e.stack, exitCode: e.exitCode, hint: e.hint };
  if (e instanceof Error) return { name: e.name, message: e.message, stack: e.stack };
  return { name: "Error", message: String(e) };
}

const CLASSES: Record<string, (m: string, hint: string) => AppError> = {
  ArchiveError: (m, h) => new ArchiveError(m, h),
  LocalIOError: (m, h) => new LocalIOError(m, h),
  IntegrityError: (m, h) => new IntegrityError(m, h),
  UsageError: (m, h) => new UsageError(m, h),
};

/** The error as the main thread sees it: the same AppError class (exit code, hint) or a plain Error (a bug: exit 1). */
export function deserializeError(s: SerializedError): Error {
  let e: Error;
  if (s.exitCode === undefined) e = new Error(s.message);
  else {
    const made = CLASSES[s.name]?.(s.message, s.hint ?? "");
    e = made && made.exitCode === s.exitCode ? made : new AppError(s.exitCode, s.message, s.hint ?? "");
  }
  e.name = s.name;
  if (s.stack) e.stack = s.stack;
  return e;
}
