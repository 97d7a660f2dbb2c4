// `images export`: pull every image (mirrors in order, then the image's own registry), save
// it, check the saved archive holds exactly the pulled image, and record its image ID and
// registry digest in index.json, every file (index.json too) in SHA256SUMS. A local image is
// never shipped in place of a pull unless --use-local says so; the table names each source's answer.

import fs from "node:fs";
import path from "node:path";
import { pipeline } from "node:stream/promises";
import { spawn } from "node:child_process";
import { createGzip } from "node:zlib";
import { AppError, ExitCode, LocalIOError, SignalError, UsageError, fromFsError } from "../errors.ts";
import { ensureDir } from "../install/tree.ts";
import { pseudoFsOf } from "../install/pseudo-fs.ts";
import { inspectArchive } from "./archive.ts";
import { fileNameFor } from "./filename.ts";
import { writeLayoutArchive } from "./layout.ts";
import { dockerInsecurity, requireSkopeo, skopeoCopy } from "./skopeo.ts";
import { lastLine, run } from "./proc.ts";
import { normalizeRef } from "./refs.ts";
import { count, errorText, rowsTable, type Row } from "./report.ts";
import { RuntimeUnreachable } from "./runtime.ts";
import { FileProblem, INDEX, readIndex, readSums, sha256File, writeIndex, writeSums, type IndexEntry } from "./store.ts";
import type { Io } from "./import.ts";

export interface ExportOptions {
  out: string;
  refs: string[];
  mirrors: string[];
  platform: string;
  pullTimeoutMs: number;
  useLocal: boolean;
}

interface Inspect {
  Id: string;
  RepoDigests?: string[];
  Os?: string;
  Architecture?: string;
}

async function inspect(ref: string, signal: AbortSignal): Promise<Inspect | undefined> {
  const r = await run("docker", ["image", "inspect", ref], { signal });
  if (r.status !== 0) return undefined;
  return (JSON.parse(r.stdout) as Inspect[])[0];
}

/** docker.io/library/nginx:1.25 → library/nginx:1.25 (the path a registry mirror serves it under). */
export function pathInRegistry(ref: string): string {
  return normalizeRef(ref).replace(/^[^/]+\//, "");
}

/** Where to pull from, in order: each mirror, then the reference itself (its own registry). */
export function sources(ref: string, mirrors: string[]): { label: string; ref: string }[] {
  const own = normalizeRef(ref);
  const list = mirrors.map((m) => ({ label: `mirror ${m}`, ref: normalizeRef(`${m.replace(/\/$/, "")}/${pathInRegistry(ref)}`) }));
  return [...list.filter((s) => s.ref !== own), { label: `registry ${own.split("/")[0]}`, ref: own }];
}

const repoOf = (ref: string) => ref.replace(/@.*$/, "").replace(/:[^:/]*$/, "");

interface Pulled {
  /** The local name to save: REF, or for a digest reference the source's own digest reference. */
  name: string;
  digest?: string;
  from: string;
  /** The registry image by digest (what skopeo copies); absent for a local image (--use-local). */
  registryRef?: string;
}

/** Pull REF from the first source that has it; returns the registry's manifest digest. */
async function pull(ref: string, o: ExportOptions, io: Io): Promise<Pulled> {
  const errors: string[] = [];
  for (const s of sources(ref, o.mirrors)) {
    const r = await run("docker", ["pull", "-q", "--platform", o.platform, s.ref], { timeoutMs: o.pullTimeoutMs, signal: io.signal });
    if (io.signal.aborted) throw io.signal.reason;
    if (r.status !== 0) {
      errors.push(`${s.label}: ${lastLine(r.stderr) || `exit ${r.status}`}`);
      continue;
    }
    const got = await inspect(s.ref, io.signal);
    const digest = ref.includes("@") ? ref.split("@")[1] : got?.RepoDigests?.find((d) => normalizeRef(repoOf(d)) === normalizeRef(repoOf(s.ref)))?.split("@")[1];
    // A digest reference cannot be re-tagged: it is saved under the source's digest reference.
    const registryRef = digest ? `${repoOf(s.ref)}@${digest}` : s.ref;
    if (ref.includes("@")) return { name: s.ref, digest, from: s.label, registryRef };
    if (s.ref !== normalizeRef(ref)) {
      // A failed tag would leave the old local image under REF: that must never be saved.
      const tag = await run("docker", ["tag", s.ref, ref], { signal: io.signal });
      if (tag.status !== 0) throw new Error(`docker tag ${s.ref} ${ref} failed: ${lastLine(tag.stderr)}`);
      await run("docker", ["rmi", s.ref], { signal: io.signal });
    }
    return { name: ref, digest, from: s.label, registryRef };
  }
  throw new Error(errors.join("; "));
}

/** docker save REF | gzip > FILE, through FILE.tmp: removed on any failure or signal. */
async function save(ref: string, file: string, signal: AbortSignal): Promise<void> {
  const tmp = `${file}.tmp`;
  const child = spawn("docker", ["save", ref], { stdio: ["ignore", "pipe", "pipe"] });
  const kill = () => child.kill("SIGKILL");
  signal.addEventListener("abort", kill, { once: true });
  let err = "";
  child.stderr.on("data", (d) => (err += d));
  const exited = new Promise<number>((r) => child.on("close", (c) => r(c ?? 1)));
  try {
    await pipeline(child.stdout, createGzip({ level: 6 }), fs.createWriteStream(tmp), { signal });
    if ((await exited) !== 0) throw new Error(`docker save failed: ${lastLine(err)}`);
    fs.renameSync(tmp, file);
  } catch (e) {
    kill();
    fs.rmSync(tmp, { force: true });
    if (signal.aborted) throw signal.reason;
    const code = (e as NodeJS.ErrnoException).code;
    throw code ? fromFsError(e, `writing ${path.basename(file)}`) : e;
  } finally {
    signal.removeEventListener("abort", kill);
  }
}

/**
 * The registry's own image (manifest and blobs byte for byte, every platform of a pinned index)
 * through skopeo into a layout next to FILE, then FILE. Returns the manifest digest it carries.
 */
async function saveLayout(src: string, file: string, ref: string, o: ExportOptions, ctx: Ctx, signal: AbortSignal): Promise<string> {
  const dir = `${file}.layout.tmp`;
  fs.rmSync(dir, { recursive: true, force: true });
  try {
    await skopeoCopy({ src: `docker://${src}`, dest: `dir:${dir}`, all: ref.includes("@"), platform: o.platform, srcInsecure: ctx.insecure(src.split("/")[0]), env: process.env, signal });
    return await writeLayoutArchive(dir, file, ref, o.platform, signal);
  } catch (e) {
    if (signal.aborted) throw signal.reason;
    // skopeo's own "no space left on device" is the same local I/O failure as ours.
    const code = (e as NodeJS.ErrnoException).code ?? (/no space left on device/i.test(String(e)) ? "ENOSPC" : undefined);
    throw code ? fromFsError(Object.assign(e as Error, { code }), `writing ${path.basename(file)}`) : e;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** Two references that would share a file: both refused, each naming the other. */
function collisions(refs: string[], index: Map<string, IndexEntry>): Map<string, string> {
  const owner = new Map<string, string>();
  for (const e of index.values()) owner.set(e.file, e.ref);
  const clash = new Map<string, string>();
  for (const ref of refs) {
    const f = fileNameFor(ref);
    const other = owner.get(f);
    if (other && other !== ref) {
      clash.set(ref, other);
      if (refs.includes(other)) clash.set(other, ref);
    } else owner.set(f, ref);
  }
  return clash;
}

/** --out made (never on /proc, /sys…: mkdir -p loops there) and cleared of a killed run's leftovers. */
function prepareOut(out: string) {
  const pseudo = pseudoFsOf(out);
  if (pseudo) throw new LocalIOError(`--out ${out} is on a ${pseudo} pseudo filesystem`, "export into a directory on a real disk");
  try {
    ensureDir(out);
    removeLeftovers(out);
  } catch (e) {
    throw fromFsError(e, `--out ${out}`);
  }
}

/** Leftovers of a run that was killed: partial archives and half-written lists. */
function removeLeftovers(dir: string) {
  for (const f of fs.readdirSync(dir)) if (/\.tmp$/.test(f)) fs.rmSync(path.join(dir, f), { recursive: true, force: true });
}

interface State {
  sums: Map<string, string>;
  index: Map<string, IndexEntry>;
}

/** What the run learnt once: which registries the local Docker reaches without TLS. */
interface Ctx {
  insecure: (hostPort: string) => boolean;
}

async function exportOne(ref: string, o: ExportOptions, st: State, ctx: Ctx, io: Io): Promise<Row> {
  const fileName = fileNameFor(ref);
  const file = path.join(o.out, fileName);
  const row: Row = { image: ref, file: fileName, result: "failed", detail: "" };
  const prev = st.index.get(ref);
  if (prev && prev.file === fileName && prev.platform === o.platform && fs.existsSync(file) && st.sums.get(fileName) === (await sha256File(file, io.signal))) {
    return { ...row, result: "skipped", detail: `already exported (${prev.id.slice(0, 19)}), checksum valid` };
  }
  const local = await inspect(ref, io.signal);
  let source: Pulled;
  try {
    source = await pull(ref, o, io);
  } catch (e) {
    if (io.signal.aborted) throw e;
    if (!local || !o.useLocal) {
      const note = local ? ` (a local image ${local.Id.slice(0, 19)} has this name; it was not exported unchecked: --use-local ships it)` : "";
      return { ...row, detail: `${errorText(e)}${note}` };
    }
    source = { name: ref, from: "local image (--use-local: not checked against a registry)" };
  }
  const got = await inspect(source.name, io.signal);
  if (!got) return { ...row, detail: "pulled, but docker does not show the image" };
  if (`${got.Os}/${got.Architecture}` !== o.platform) return { ...row, detail: `the image is ${got.Os}/${got.Architecture}, not ${o.platform}` };
  const manifest = source.registryRef ? await saveLayout(source.registryRef, file, ref, o, ctx, io.signal) : await save(source.name, file, io.signal).then(() => undefined);
  const held = await inspectArchive(file, io.signal);
  const pinned = ref.includes("@") ? ref.split("@")[1] : undefined;
  const wrong = held.id !== got.Id ? `the saved archive holds ${held.id}, not the pulled ${got.Id}` : pinned && manifest && manifest !== pinned ? `the registry's manifest is ${manifest}, not the pinned ${pinned}` : "";
  if (wrong) {
    fs.rmSync(file, { force: true });
    return { ...row, detail: wrong };
  }
  const entry: IndexEntry = { ref, file: fileName, size: fs.statSync(file).size, id: got.Id, digest: source.digest, manifest, platform: o.platform };
  st.sums.set(fileName, await sha256File(file, io.signal));
  st.index.set(ref, entry);
  writeIndex(o.out, [...st.index.values()]);
  st.sums.set(INDEX, await sha256File(path.join(o.out, INDEX), io.signal));
  writeSums(o.out, st.sums);
  const stale = local && local.Id !== got.Id ? `, replaced the stale local ${local.Id.slice(0, 19)}` : "";
  return { ...row, result: "exported", detail: `${(entry.size / 1024 / 1024).toFixed(1)} MiB from ${source.from}${stale}` };
}

/** What an earlier run left in --out; unusable lists are a usage error, never silently overwritten. */
function readState(dir: string): State {
  try {
    return { sums: readSums(dir), index: new Map(readIndex(dir).map((e) => [e.ref, e])) };
  } catch (e) {
    if (!(e instanceof FileProblem)) throw e;
    throw new UsageError(`--out ${dir}: ${e.message}`, "export into a new directory, or remove the damaged SHA256SUMS/index.json (and the archives they listed)");
  }
}

export async function exportImages(o: ExportOptions, io: Io): Promise<number> {
  prepareOut(o.out);
  const ping = await run("docker", ["version", "--format", "{{.Server.Version}}"], { signal: io.signal });
  if (ping.status !== 0) throw new RuntimeUnreachable(`Docker does not answer: ${lastLine(ping.stderr) || `exit ${ping.status}`}`, "export needs a running Docker engine (docker info)");
  await requireSkopeo("export copies each image with the registry's own manifest", io.signal);
  const ctx: Ctx = { insecure: await dockerInsecurity(io.signal) };
  const st = readState(o.out);
  const clash = collisions(o.refs, st.index);
  const rows: Row[] = [];
  try {
    for (const ref of o.refs) {
      if (io.signal.aborted) break;
      const other = clash.get(ref);
      if (other) {
        rows.push({ image: ref, file: fileNameFor(ref), result: "failed", detail: `same file name as ${other}: both refused` });
        continue;
      }
      try {
        rows.push(await exportOne(ref, o, st, ctx, io));
      } catch (e) {
        if (io.signal.aborted) break;
        rows.push({ image: ref, file: fileNameFor(ref), result: "failed", detail: errorText(e) });
      }
    }
  } finally {
    io.out(rowsTable(rows));
  }
  if (io.signal.aborted) throw io.signal.reason instanceof SignalError ? io.signal.reason : new SignalError("SIGTERM");
  const failed = count(rows, "failed");
  if (failed) throw new AppError(ExitCode.partial, `${failed} of ${o.refs.length} images could not be exported`, "see the table; fix the mirrors or the references and run export again (exported files are kept)");
  return ExitCode.ok;
}
