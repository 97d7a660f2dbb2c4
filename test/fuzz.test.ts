// Property suite for the extractor, in process: thousands of valid tar streams from a seeded
// PRNG, mutated (header fields, type flags, sizes, checksums, link targets and chains,
// truncation, PAX and GNU long-name records, hostile names), as .tar, .tar.gz or .tar.zst.
// Per case: nothing outside the staging directory is created or changed, a failure is an
// AppError with exit code 5 or 6 (never a plain Error, which would be exit 1), the case ends
// within seconds, and a success extracts the tree GNU tar extracts from the same bytes (less
// the documented differences: setuid/setgid/sticky bits, ownership, timestamps).
//
//   FUZZ_CASES=50000 FUZZ_SEED=7 node --test test/fuzz.test.ts     # a longer run
//   FUZZ_SEED=7 FUZZ_CASE=1234 node --test test/fuzz.test.ts       # replay one case

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import zlib from "node:zlib";
import { after, before, describe, it } from "node:test";
import { ArchiveSink } from "../src/archive/sink.ts";
import { findEscapingSymlink } from "../src/archive/link-audit.ts";
import { AppError } from "../src/errors.ts";
import { caseSeed, mutate, randomEntries, Rng } from "./helpers/tar-mutate.ts";
import { tar } from "./helpers/tar-writer.ts";
import { tmpdir } from "./helpers/run.ts";

const CASES = Number(process.env.FUZZ_CASES ?? 3000);
const SEED = Number(process.env.FUZZ_SEED ?? 13);
const ONLY = process.env.FUZZ_CASE === undefined ? undefined : Number(process.env.FUZZ_CASE);
/** GNU tar is a child process per case: compared on successes only, at most this many per run. */
const GNU_COMPARISONS = Number(process.env.FUZZ_GNU_COMPARISONS ?? 600);
/** A hang, by the wall clock (generous: CI machines are shared); the cost check below uses CPU time. */
const CASE_TIMEOUT_MS = 30_000;
const CASE_CPU_MS = 3_000;
const ZIP_SLIP = path.resolve(import.meta.dirname, "../../shared/corpus/zip-slip.tar");

/** Outside every staging directory, named by absolute entry names and link targets the mutator writes (same length every run). */
const OUTSIDE = fs.mkdtempSync(path.join(os.tmpdir(), "dp-fuzz-outside-"));

interface Tree {
  [rel: string]: string;
}

/** Type, permission bits (no setuid/setgid/sticky), content digest or link target of everything under dir. */
function tree(dir: string): Tree {
  const out: Tree = {};
  const walk = (rel: string) => {
    for (const name of fs.readdirSync(path.join(dir, rel)).sort()) {
      const r = rel ? `${rel}/${name}` : name;
      const full = path.join(dir, r);
      const st = fs.lstatSync(full);
      const mode = (st.mode & 0o777).toString(8);
      if (st.isSymbolicLink()) out[r] = `link -> ${fs.readlinkSync(full)}`;
      else if (st.isDirectory()) {
        out[r] = `dir ${mode}`;
        walk(r);
      } else if (st.isFile()) out[r] = `file ${mode} ${crypto.createHash("sha1").update(fs.readFileSync(full)).digest("hex").slice(0, 12)}`;
      else out[r] = `other ${st.mode.toString(8)}`;
    }
  };
  walk("");
  return out;
}

function makeOutside() {
  fs.rmSync(OUTSIDE, { recursive: true, force: true });
  fs.mkdirSync(path.join(OUTSIDE, "sub"), { recursive: true });
  fs.writeFileSync(path.join(OUTSIDE, "sentinel-file"), "do not touch");
  fs.writeFileSync(path.join(OUTSIDE, "sub", "inner"), "inner");
  fs.symlinkSync("sentinel-file", path.join(OUTSIDE, "alias"));
}

interface Case {
  i: number;
  seed: number;
  tarBytes: Buffer;
  bytes: Buffer;
  format: "tar" | "gzip" | "zstd";
  /** The compressed stream was cut: GNU tar cannot be given the same bytes. */
  cut: boolean;
  strip: number;
  what: string[];
}

function makeCase(i: number, seeds: Buffer[]): Case {
  const seed = caseSeed(SEED, i);
  const rng = new Rng(seed);
  let tarBytes = seeds.length && rng.chance(0.1) ? rng.pick(seeds) : tar(randomEntries(rng), { endBlocks: rng.pick([2, 2, 2, 1]) });
  const what: string[] = [];
  const mutations = rng.pick([0, 1, 1, 1, 2, 2, 3]);
  for (let m = 0; m < mutations; m++) {
    const r = mutate(rng, tarBytes, OUTSIDE);
    tarBytes = r.bytes;
    what.push(r.what);
  }
  const format = rng.pick(["tar", "tar", "gzip", "zstd"] as const);
  let bytes = format === "gzip" ? zlib.gzipSync(tarBytes) : format === "zstd" ? zlib.zstdCompressSync(tarBytes) : tarBytes;
  const cut = format !== "tar" && rng.chance(0.05);
  if (cut) bytes = bytes.subarray(0, rng.int(bytes.length));
  return { i, seed, tarBytes, bytes, format, cut, strip: rng.chance(0.15) ? 1 : 0, what };
}

/** Feed the bytes in uneven chunks, as a network would; resolve with the failure, if any. */
async function extract(staging: string, c: Case): Promise<unknown> {
  const sink = new ArchiveSink(staging, { stripComponents: c.strip, uid: -1, gid: -1, fileMode: -1, dirMode: -1, maxBytes: 1 << 26, maxEntries: 10_000, maxEntryBytes: 1 << 26, maxPathLength: 4096, maxRatio: 1000 });
  const rng = new Rng(c.seed ^ 0x5bd1e995);
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<unknown>((resolve) => (timer = setTimeout(() => resolve(new Error(`case did not finish within ${CASE_TIMEOUT_MS} ms`)), CASE_TIMEOUT_MS)));
  const run = (async () => {
    for (let off = 0; off < c.bytes.length && !sink.errored; ) {
      const n = 1 + rng.int(rng.chance(0.5) ? 700 : 70_000);
      const ok = sink.write(c.bytes.subarray(off, off + n));
      off += n;
      if (!ok && !sink.errored) await new Promise<void>((r) => { sink.once("drain", r); sink.once("close", r); });
    }
    return new Promise<unknown>((resolve) => {
      if (sink.errored) return resolve(sink.errored);
      sink.end((err?: Error | null) => resolve(err ?? sink.errored ?? undefined));
    });
  })();
  const result = await Promise.race([run, timeout]);
  clearTimeout(timer);
  return result;
}

/**
 * GNU tar on the same bytes, as an unprivileged user: it has escapes of its own (1.34 turns
 * `d//x` with --strip-components=1 into `/x`), and these bytes are hostile.
 */
function gnuExtract(c: Case, out: string): { status: number | null; stderr: string } {
  fs.chownSync(out, 65534, 65534);
  // umask 022: the directories the archive implies get 755 with GNU tar, as with the extractor.
  const args = ["--reuid", "65534", "--regid", "65534", "--clear-groups", "sh", "-c", 'umask 022 && exec tar "$@"', "sh", "-x", "-f", "-", "-C", out, "--same-permissions", "--delay-directory-restore"];
  const r = spawnSync("setpriv", args, { input: c.tarBytes, encoding: "buffer", maxBuffer: 1 << 26 });
  return { status: r.status, stderr: r.stderr.toString() };
}

function describeCase(c: Case): string {
  return `case ${c.i} (reproduce: FUZZ_SEED=${SEED} FUZZ_CASE=${c.i} node --test test/fuzz.test.ts): ${c.format}${c.cut ? " cut" : ""}, strip ${c.strip}, mutations: ${c.what.join("; ") || "none"}`;
}

describe("extractor property suite", () => {
  let work: string;
  const seeds: Buffer[] = [];
  before(() => {
    process.umask(0); // as src/cli/main.ts does: modes come from the archive exactly
    makeOutside();
    work = tmpdir("dp-fuzz-");
    fs.chmodSync(work, 0o755); // GNU tar runs as nobody below it
    // A few archives as GNU tar writes them (gnu, posix, ustar; long names, links), and the zip-slip one.
    const src = tmpdir("dp-fuzz-src-");
    fs.mkdirSync(path.join(src, "d", "e".repeat(120)), { recursive: true });
    fs.writeFileSync(path.join(src, "d", "e".repeat(120), "f".repeat(110)), "long");
    fs.writeFileSync(path.join(src, "d", "plain.txt"), "plain\n".repeat(200));
    fs.symlinkSync("plain.txt", path.join(src, "d", "sl"));
    fs.linkSync(path.join(src, "d", "plain.txt"), path.join(src, "d", "hl"));
    for (const format of ["gnu", "posix", "ustar"]) seeds.push(spawnSync("tar", ["-C", src, `--format=${format}`, "-cf", "-", "d"]).stdout);
    fs.rmSync(src, { recursive: true, force: true });
    if (fs.existsSync(ZIP_SLIP)) seeds.push(fs.readFileSync(ZIP_SLIP));
  });
  after(() => {
    fs.rmSync(work, { recursive: true, force: true });
    fs.rmSync(OUTSIDE, { recursive: true, force: true });
  });

  it(`${ONLY === undefined ? CASES : 1} mutated archives, seed ${SEED}: contained, exit 5/6 only, as GNU tar on success`, async () => {
    const outsideBefore = tree(OUTSIDE);
    const stats = { ok: 0, refused: 0, compared: 0 };
    const first = ONLY ?? 0;
    const last = ONLY ?? CASES - 1;
    for (let i = first; i <= last; i++) {
      const c = makeCase(i, seeds);
      const root = path.join(work, `c${i}`);
      const staging = path.join(root, "stage");
      fs.mkdirSync(staging, { recursive: true });
      const cpu = process.cpuUsage();
      const err = await extract(staging, c);
      const used = process.cpuUsage(cpu);
      const ms = (used.user + used.system) / 1000;
      const fail = (msg: string) => assert.fail(`${msg}\n${describeCase(c)}`);
      if (err !== undefined) {
        if (!(err instanceof AppError) || (err.exitCode !== 5 && err.exitCode !== 6)) fail(`not an archive/local error (exit 5/6): ${(err as Error)?.stack ?? err}`);
        stats.refused++;
      } else stats.ok++;
      if (ms > CASE_CPU_MS) fail(`took ${Math.round(ms)} ms of CPU`);
      assert.deepEqual(fs.readdirSync(root), ["stage"], `something was created beside the staging directory\n${describeCase(c)}`);
      assert.deepEqual(tree(OUTSIDE), outsideBefore, `the directory outside changed\n${describeCase(c)}`);
      // Stripped cases are checked for containment only: GNU tar's --strip-components is not safe to compare with.
      if (err === undefined && !c.cut && c.strip === 0 && stats.compared < GNU_COMPARISONS) {
        stats.compared++;
        const out = path.join(root, "gnu");
        fs.mkdirSync(out);
        const g = gnuExtract(c, out);
        if (g.status !== 0) fail(`extracted, but GNU tar fails on the same bytes (exit ${g.status}): ${g.stderr.trim()}`);
        assert.deepEqual(tree(staging), tree(out), `the tree differs from GNU tar's\n${describeCase(c)}`);
      }
      fs.rmSync(root, { recursive: true, force: true });
    }
    if (ONLY === undefined) {
      // The suite must exercise both sides, or it proves nothing.
      assert.ok(stats.ok > CASES / 10 && stats.refused > CASES / 10, JSON.stringify(stats));
    }
    console.log(`fuzz seed ${SEED}: ${JSON.stringify(stats)}`);
  });
});

describe("the realpath audit (second line of defence) finds what the model would miss", () => {
  const dir = () => {
    const root = tmpdir("dp-audit-");
    fs.mkdirSync(path.join(root, "stage", "sub", "deep"), { recursive: true });
    return { root, stage: path.join(root, "stage") };
  };
  it("accepts links that stay inside, dangling ones included", () => {
    const { stage } = dir();
    fs.symlinkSync(".", path.join(stage, "self"));
    fs.symlinkSync("sub/deep", path.join(stage, "d"));
    fs.symlinkSync("../..", path.join(stage, "sub", "deep", "top"));
    fs.symlinkSync("d/top/sub", path.join(stage, "via"));
    fs.symlinkSync("missing/later", path.join(stage, "dangling"));
    assert.equal(findEscapingSymlink(stage), undefined);
  });
  for (const [name, target, reason] of [
    ["up", "..", /resolves to .*, outside the destination/],
    ["chain", "self/../x", /outside the destination/],
    ["abs", "/etc/passwd", /outside the destination/],
    ["missing-then-up", "missing/../../x", /goes through a name that does not exist, then '\.\.'/],
    ["loop", "loop", /symlink loop/],
    ["state", ".download-package/installed.json", /into \.download-package/],
  ] as const) {
    it(`refuses ${name} -> ${target}`, () => {
      const { stage } = dir();
      fs.symlinkSync(".", path.join(stage, "self"));
      fs.symlinkSync(target, path.join(stage, name));
      const found = findEscapingSymlink(stage);
      assert.ok(found, "nothing found");
      assert.match(found.reason, reason);
    });
  }
});
