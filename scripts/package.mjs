// Second half of `npm run build`: turn dist/download-package.cjs into one executable,
// dist/download-package, and lay out dist/rootfs/ with every file the image needs.
//
//   1. pkg (@yao-pkg/pkg), linuxstatic target, when its base binary is in the offline cache
//      (PKG_CACHE_PATH, default base-images/pkg-cache, filled once by ./save-pkg-base.sh);
//   2. otherwise Node's single-executable-application support applied to the npm registry's
//      Node binary (the one running this script: the blob must come from that very binary),
//      plus the glibc loader and libraries it links against, at their usual paths.
//
// PACKAGER=pkg|sea forces one; the default (auto) takes pkg when its cache is there.

import { execFileSync, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import fs from "node:fs";
import path from "node:path";

const root = path.resolve(import.meta.dirname, "..");
const dist = path.join(root, "dist");
const bundle = path.join(dist, "download-package.cjs");
const exe = path.join(dist, "download-package");
const finalRootfs = path.join(dist, "rootfs");
// Laid out beside the old one and swapped in at the end: a reader never sees a half.
const rootfs = path.join(dist, "rootfs.new");
const cache = path.resolve(root, process.env.PKG_CACHE_PATH || "base-images/pkg-cache");
const want = process.env.PACKAGER || "auto";
const nodeMajor = process.versions.node.split(".")[0];

// The built-in chart renderer (scripts/build-chart-engine.mjs), when it was built: carried inside
// the executable (SEA assets, or pkg assets beside the snapshot's bundle), read by `images` only.
const chartEngine = ["chart-engine.wasm.gz", "chart-engine-glue.js"].filter((f) => fs.existsSync(path.join(dist, f)));
const run = (cmd, args, env = {}) => execFileSync(cmd, args, { stdio: ["ignore", "inherit", "inherit"], env: { ...process.env, ...env } });
const sha256 = (f) => createHash("sha256").update(fs.readFileSync(f)).digest("hex");

/** A pkg base binary for this Node major in the offline cache, checked against its .sha256 when present. */
function pkgBase() {
  if (!fs.existsSync(cache)) return undefined;
  const found = fs.readdirSync(cache, { recursive: true }).map(String).filter((f) => new RegExp(`fetched-v${nodeMajor}\\.[\\d.]+-linuxstatic-x64$`).test(f));
  for (const rel of found) {
    const file = path.join(cache, rel);
    const sumFile = `${file}.sha256`;
    if (fs.existsSync(sumFile) && fs.readFileSync(sumFile, "utf8").split(/\s+/)[0] !== sha256(file)) {
      throw new Error(`${file} does not match ${sumFile}: run ./save-pkg-base.sh again`);
    }
    return file;
  }
  return undefined;
}

function withPkg(base) {
  console.log(`packaging with pkg from the offline cache (${path.relative(root, base)})`);
  const pkgBin = path.join(root, "node_modules/@yao-pkg/pkg/lib-es5/bin.js");
  const pkgConfig = path.join(dist, "pkg-config.json");
  fs.writeFileSync(pkgConfig, JSON.stringify({ pkg: { assets: chartEngine } }));
  run(process.execPath, [pkgBin, bundle, "--config", pkgConfig, "--targets", `node${nodeMajor}-linuxstatic-x64`, "--output", `${exe}.new`, "--no-bytecode", "--public"], { PKG_CACHE_PATH: cache });
  fs.rmSync(pkgConfig);
  fs.renameSync(`${exe}.new`, exe);
  install(exe, "usr/local/bin/download-package");
}

function withSea() {
  console.log(`packaging as a Node single-executable application (node ${process.versions.node}: no pkg base binary in ${path.relative(root, cache)})`);
  const blob = path.join(dist, "sea-prep.blob");
  const seaConfig = path.join(dist, "sea-config.json");
  const assets = Object.fromEntries(chartEngine.map((f) => [f, path.join(dist, f)]));
  // A 1 MiB semi-space: package bytes live in Buffers outside the V8 heap, so the default
  // nursery (up to 16 MiB per semi-space) only adds resident memory (see BENCHMARKS.md).
  // SEA_EXEC_ARGV overrides it (JSON array) to measure other settings.
  const execArgv = process.env.SEA_EXEC_ARGV ? JSON.parse(process.env.SEA_EXEC_ARGV) : ["--max-semi-space-size=1"];
  fs.writeFileSync(seaConfig, JSON.stringify({ main: bundle, output: blob, disableExperimentalSEAWarning: true, useCodeCache: true, execArgv, assets }));
  run(process.execPath, ["--experimental-sea-config", seaConfig]);
  const out = `${exe}.new`;
  fs.copyFileSync(process.execPath, out);
  fs.chmodSync(out, 0o755);
  stripSymbols(out);
  quiet(process.execPath, [path.join(root, "node_modules/postject/dist/cli.js"), out, "NODE_SEA_BLOB", blob, "--sentinel-fuse", "NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2"]);
  fs.rmSync(blob);
  fs.rmSync(seaConfig);
  fs.renameSync(out, exe);
  install(exe, "usr/local/bin/download-package");
  // The registry's Node is linked against glibc: bring the loader and libraries along, at
  // the paths the binary asks for. None of them exist on Alpine (musl) or scratch.
  const ldd = execFileSync("ldd", [exe]).toString();
  for (const m of ldd.matchAll(/(?:=>\s*)?(\/\S+)\s+\(0x/g)) install(m[1], m[1].slice(1));
}

/** Debug symbols are most of the registry binary's size. */
function stripSymbols(file) {
  const r = spawnSync("strip", [file], { encoding: "utf8" });
  if (r.error?.code === "ENOENT") return console.log("strip not found: the executable keeps its debug symbols");
  report(r, "strip");
}

/** Runs a tool whose output is noise when it works: postject colours every line with escape
 *  codes, and LIEF warns once per ELF note section it cannot name ("Can't find string offset
 *  for section name '.note…'"), which is harmless. Anything else it says is shown, plain. */
function quiet(cmd, args) {
  report(spawnSync(cmd, args, { encoding: "utf8" }), path.basename(args[0] ?? cmd));
}

function report(r, what) {
  const lines = `${r.stdout ?? ""}\n${r.stderr ?? ""}`
    .replace(/\x1b\[[0-9;]*m/g, "")
    .split("\n")
    .filter((l) => l.trim() && !/Can't find string offset for section name '\.note/.test(l) && !/^(Start injection of|💉 Injection done)/.test(l.trim()));
  if (lines.length) console.log(lines.join("\n"));
  if (r.status !== 0) throw new Error(`${what} failed (exit ${r.status ?? r.signal})`);
}

function install(from, rel) {
  const to = path.join(rootfs, rel);
  fs.mkdirSync(path.dirname(to), { recursive: true });
  fs.copyFileSync(fs.realpathSync(from), to);
  fs.chmodSync(to, 0o755);
}

fs.rmSync(rootfs, { recursive: true, force: true });
const base = want === "sea" ? undefined : pkgBase();
if (want === "pkg" && !base) throw new Error(`PACKAGER=pkg but no pkg base binary for node${nodeMajor} in ${cache}: run ./save-pkg-base.sh where the internet is reachable`);
if (base) withPkg(base);
else withSea();
fs.rmSync(`${finalRootfs}.old`, { recursive: true, force: true });
if (fs.existsSync(finalRootfs)) fs.renameSync(finalRootfs, `${finalRootfs}.old`);
fs.renameSync(rootfs, finalRootfs);
fs.rmSync(`${finalRootfs}.old`, { recursive: true, force: true });
const size = (f) => `${(fs.statSync(f).size / 1024 / 1024).toFixed(1)} MiB`;
console.log(`built ${path.relative(root, exe)} (${size(exe)}${chartEngine.length ? `, with the chart engine: ${size(path.join(dist, chartEngine[0]))}` : ", without the chart engine"}) and ${path.relative(root, finalRootfs)}/:`);
for (const f of fs.readdirSync(finalRootfs, { recursive: true }).map(String).sort()) {
  const full = path.join(finalRootfs, f);
  if (fs.statSync(full).isFile()) console.log(`  /${f} (${size(full)})`);
}
