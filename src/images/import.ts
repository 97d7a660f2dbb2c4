// `images import`: every verified file into the node's runtime. An image is skipped only when
// the runtime already holds the very same image ID under the reference, and an import counts
// only when the runtime then names that ID. One failure never stops the rest; the table
// always prints. An unusable runtime fails the whole run (exit 8).

import os from "node:os";
import path from "node:path";
import { AppError, ExitCode, SignalError } from "../errors.ts";
import { count, errorText, rowsTable, type Row } from "./report.ts";
import { chooseRuntime, containerd, docker, isSocket, RuntimeUnreachable, CONTAINERD_SOCKETS, DOCKER_SOCKET, type Runtime } from "./runtime.ts";
import { readDirectory, verifyFile, type Candidate } from "./verify.ts";

export interface ImportOptions {
  from: string;
  runtime: string;
  address?: string;
  namespace: string;
  ctr: string;
  policy: string;
  platform: string;
}

export interface Io {
  out: (s: string) => void;
  log: (s: string) => void;
  signal: AbortSignal;
}

export function openRuntime(o: ImportOptions, signal: AbortSignal): { rt: Runtime; why: string } {
  const c = chooseRuntime(o.runtime, o.address, isSocket);
  if (!c) throw new RuntimeUnreachable(o.runtime === "containerd" ? "no containerd socket found" : "no container runtime socket found", `mount the containerd socket (${CONTAINERD_SOCKETS.join(" or ")}) or ${DOCKER_SOCKET}, or pass --runtime and --address`);
  const rt = c.kind === "docker" ? docker(c.address, signal) : containerd({ address: c.address, namespace: o.namespace, ctr: o.ctr, platform: o.platform, signal });
  return { rt, why: c.why };
}

async function importOne(rt: Runtime, dir: string, c: Candidate, sums: Map<string, string>, signal: AbortSignal): Promise<Row> {
  const row: Row = { image: c.entry?.ref ?? "(unknown)", file: c.file, result: "failed", detail: "" };
  try {
    const problem = await verifyFile(dir, c, sums, signal);
    if (problem || !c.entry) return { ...row, detail: problem ?? "" };
    const { ref, id } = c.entry;
    const before = await rt.idOf(ref);
    if (before === id) return { ...row, result: "skipped", detail: `already present, same image ID ${short(id)}` };
    await rt.load(path.join(dir, c.file), ref, id);
    const after = await rt.idOf(ref);
    if (after !== id) return { ...row, detail: `after loading, the runtime names ${after ? short(after) : "nothing"} under this reference, not ${short(id)}` };
    return { ...row, result: "imported", detail: before ? `replaced ${short(before)} by ${short(id)}` : short(id) };
  } catch (e) {
    if (signal.aborted) throw e;
    return { ...row, detail: errorText(e) };
  }
}

/** One line: per image, and the unusable list files apart (they are not images). */
function summary(rows: Row[]): string {
  const images = rows.filter((r) => r.image !== "");
  const lists = rows.filter((r) => r.image === "").map((r) => r.file);
  const tail = lists.length ? `; ${lists.join(" and ")} unusable` : "";
  return `imported ${count(images, "imported")}, skipped ${count(images, "skipped")}, failed ${count(images, "failed")} of ${images.length} on ${os.hostname()}${tail}\n`;
}

const short = (id: string) => id.replace(/^sha256:/, "sha256:").slice(0, 19);

export async function importImages(o: ImportOptions, io: Io): Promise<number> {
  const { rt, why } = openRuntime(o, io.signal);
  await rt.ping();
  io.out(`runtime: ${rt.name} (${why})\n`);
  const d = await readDirectory(o.from, io.signal);
  const rows: Row[] = [...d.problems];
  try {
    for (const c of d.candidates) {
      if (io.signal.aborted) break;
      rows.push(await importOne(rt, o.from, c, d.sums, io.signal));
    }
  } finally {
    io.out(rowsTable(rows));
    io.out(summary(rows));
  }
  if (io.signal.aborted) throw io.signal.reason instanceof SignalError ? io.signal.reason : new SignalError("SIGTERM");
  const failed = count(rows, "failed");
  const images = rows.filter((r) => r.image !== "");
  const lists = failed - count(images, "failed") ? " (and the lists of the directory are unusable)" : "";
  if (failed && o.policy === "fail") throw new AppError(ExitCode.partial, `${count(images, "failed")} of ${images.length} images failed to import${lists} (policy fail)`, "see the table above");
  return ExitCode.ok;
}
