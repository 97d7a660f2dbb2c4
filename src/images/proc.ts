// Running docker / ctr / skopeo: src/util/process.ts (argument lists only, stdin from a string
// or a stream, killed at once on an abort). Kept so the images modules' imports stay as they are.

export { runProcess as run, type ProcResult, type RunOptions } from "../util/process.ts";
export { lastLine } from "../util/error-line.ts";
