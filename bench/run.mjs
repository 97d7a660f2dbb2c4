// npm run bench — download-package against what users run today, side by side:
//   busybox `wget -qO- URL | tar -x`, `curl -s URL | tar -x` (GNU tar), and local `tar -x` of
//   the same file (the physical limit). Packages are served by nginx from Debian when it is
//   installed (apt-get install nginx-light), else by a small Node static server (said in the output).
//
//   node bench/run.mjs [--shapes small,large,modules] [--sizes 256MiB,1GiB] [--formats tar,tar.gz,tar.zst]
//                      [--dests disk,tmpfs] [--rounds 3] [--memory] [--memory-sizes 256MiB,4GiB]
//                      [--quick | --full] [--inline] [--out FILE]
//     --shapes   small = files of 16 KiB; large = 4 equal files; modules = a node_modules-like tree
//                (tens of thousands of files, most under 8 KiB, deep directories)   (default: all three)
//     --sizes    package sizes (default 256MiB)           --formats  (default tar,tar.gz)
//     --dests    disk (.bench/dest or BENCH_DEST) and/or tmpfs (/dev/shm/dp-bench)   (default disk)
//     --rounds   rounds per package (default 3)           --memory   peak RSS at --memory-sizes, per format
//     --quick    --shapes small,large --sizes 16MiB --rounds 1 (CI)
//     --full     the whole matrix: --sizes 256MiB,1GiB --dests disk,tmpfs --memory, tar/gz/zst
//     --inline   also run download-package with DP_SINK=inline (extraction on the main thread,
//                the previous design) in the same rounds, to measure the worker thread's effect
//     --out      also write the markdown report to FILE
//   One figure alone: e.g. `node bench/run.mjs --shapes large --sizes 1GiB --formats tar --dests tmpfs`.
//   BENCH_DIR (packages, default .bench/), BENCH_DEST (disk destination, default .bench/dest),
//   DP_BENCH_TARGET (the executable, default dist/download-package).
import { execFileSync, spawn, spawnSync } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

const root = path.resolve(import.meta.dirname, "..");
const args = process.argv.slice(2);
const flag = (name, def) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : def;
};
const list = (name, def) => flag(name, def).split(",").map((x) => x.trim()).filter(Boolean);
const quick = args.includes("--quick");
const full = args.includes("--full");
const parseSize = (s) => {
  const m = /^(\d+)(KiB|MiB|GiB)?$/.exec(s);
  if (!m) throw new Error(`bad size ${s}`);
  return Number(m[1]) * { undefined: 1, KiB: 1024, MiB: 1024 ** 2, GiB: 1024 ** 3 }[m[2]];
};
const shapes = list("--shapes", quick ? "small,large" : "small,large,modules");
const sizes = list("--sizes", quick ? "16MiB" : full ? "256MiB,1GiB" : "256MiB").map(parseSize);
const formats = list("--formats", full ? "tar,tar.gz,tar.zst" : "tar,tar.gz");
const dests = list("--dests", full ? "disk,tmpfs" : "disk");
const rounds = Number(flag("--rounds", quick ? "1" : "3"));
const memory = args.includes("--memory") || full;
const memorySizes = list("--memory-sizes", "256MiB,4GiB").map(parseSize);
const outFile = flag("--out", undefined);
const inline = args.includes("--inline");
for (const s of shapes) if (!["small", "large", "modules"].includes(s)) throw new Error(`unknown shape ${s}`);
for (const f of formats) if (!["tar", "tar.gz", "tar.zst"].includes(f)) throw new Error(`unknown format ${f}`);
for (const d of dests) if (!["disk", "tmpfs"].includes(d)) throw new Error(`unknown destination ${d}`);
const work = process.env.BENCH_DIR || path.join(root, ".bench");
const www = path.join(work, "www");
const exe = process.env.DP_BENCH_TARGET || path.join(root, "dist/download-package");
if (!fs.existsSync(exe)) throw new Error(`${exe} not found: run npm run build first`);
const busybox = ["/bin/busybox", "/usr/bin/busybox"].find((p) => fs.existsSync(p));
// The Node binary the single executable embeds (the registry's): the floor of any Node program's start.
const embeddedNode = path.join(root, "node_modules/node/bin/node");
fs.mkdirSync(www, { recursive: true });

const mib = (n) => `${(n / 1024 / 1024).toFixed(0)} MiB`;
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const log = (...a) => console.error(...a);

// --- packages -------------------------------------------------------------------------
// Text-like content (compresses about 3:1 with gzip, like configuration and web assets).
const WORDS = Array.from({ length: 4096 }, (_, i) => `${i.toString(36)}${"abcdefghij".slice(0, i % 10)}`);
function textBlock(bytes, seed) {
  const rnd = crypto.createHash("sha256").update(String(seed)).digest();
  let x = rnd.readUInt32LE(0) | 1;
  const parts = [];
  let n = 0;
  while (n < bytes) {
    x ^= x << 13; x ^= x >>> 17; x ^= x << 5;
    const w = WORDS[(x >>> 0) % WORDS.length];
    parts.push(w);
    n += w.length + 1;
  }
  return Buffer.from(parts.join(" ")).subarray(0, bytes);
}

/** Writes `size` bytes of pool content to a new file (scattered offsets, see below). */
function writeContent(file, fileSize, pool, state) {
  const fd = fs.openSync(file, "w");
  const chunk = Math.min(fileSize, 1024 * 1024);
  for (let off = 0; off < fileSize; ) {
    state.x ^= state.x << 13; state.x ^= state.x >>> 17; state.x ^= state.x << 5;
    const n = Math.min(chunk, fileSize - off);
    fs.writeSync(fd, pool, (state.x >>> 0) % (pool.length - n), n);
    off += n;
  }
  fs.closeSync(fd);
}

/** The tree of one shape: [relative path, size] for every file. Deterministic. */
function layout(shape, size) {
  if (shape === "small") return Array.from({ length: Math.max(1, Math.round(size / (16 * 1024))) }, (_, i) => [`d${Math.floor(i / 256)}/f${i}.txt`, 16 * 1024]);
  if (shape === "large") return Array.from({ length: 4 }, (_, i) => [`f${i}.bin`, Math.round(size / 4)]);
  if (shape === "tiny") return [["f0.txt", 1024]];
  // modules: packages of 5–40 files in nested lib/ folders; sizes mostly 200 B–8 KiB, a few up to 256 KiB.
  const out = [];
  let x = 88172645;
  const rnd = (n) => ((x ^= x << 13), (x ^= x >>> 17), (x ^= x << 5), (x >>> 0) % n);
  let total = 0;
  for (let p = 0; total < size; p++) {
    const pkg = p % 7 === 0 ? `node_modules/@scope${p % 13}/pkg${p}` : `node_modules/pkg${p}`;
    const nested = p % 5 === 0 ? `${pkg}/node_modules/dep${p}` : pkg;
    const files = 5 + rnd(36);
    for (let f = 0; f < files && total < size; f++) {
      const depth = rnd(5);
      const dir = [nested, ...Array.from({ length: depth }, (_, i) => ["lib", "src", "dist", "esm", "internal"][(i + f) % 5])].join("/");
      const r = rnd(100);
      const bytes = Math.min(size - total, r < 85 ? 200 + rnd(8 * 1024 - 200) : r < 98 ? 8 * 1024 + rnd(56 * 1024) : 64 * 1024 + rnd(192 * 1024));
      out.push([`${dir}/file${f}.${["js", "json", "md", "d.ts"][f % 4]}`, Math.max(1, bytes)]);
      total += bytes;
    }
  }
  return out;
}

/** Builds name.tar and its compressed forms (each only once; kept in BENCH_DIR between runs). */
function makePackage(name, shape, size, wanted) {
  const tar = path.join(www, `${name}.tar`);
  const missing = wanted.filter((f) => !fs.existsSync(path.join(www, `${name}.${f}`)));
  if (missing.length === 0) return;
  if (!fs.existsSync(tar)) {
    const files = layout(shape, size);
    log(`generating ${name}: ${files.length} files`);
    const src = path.join(work, `src-${name}`);
    fs.rmSync(src, { recursive: true, force: true });
    // Files take slices of a 16 MiB pool at scattered offsets: far apart compared with
    // gzip's 32 KiB window, so files do not compress against each other.
    const pool = textBlock(16 * 1024 * 1024, name);
    const state = { x: 2463534242 };
    const made = new Set();
    for (const [rel, bytes] of files) {
      const dir = path.dirname(path.join(src, rel));
      if (!made.has(dir)) fs.mkdirSync(dir, { recursive: true }), made.add(dir);
      writeContent(path.join(src, rel), bytes, pool, state);
    }
    execFileSync("tar", ["-C", src, "-cf", `${tar}.tmp`, "."]);
    fs.renameSync(`${tar}.tmp`, tar);
    fs.rmSync(src, { recursive: true, force: true });
  }
  for (const f of missing) {
    if (f === "tar.gz") execFileSync("sh", ["-c", `gzip -6 -c '${tar}' > '${tar}.gz.tmp' && mv '${tar}.gz.tmp' '${tar}.gz'`]);
    if (f === "tar.zst") execFileSync("sh", ["-c", `zstd -q -3 -T0 -c '${tar}' > '${tar}.zst.tmp' && mv '${tar}.zst.tmp' '${tar}.zst'`]);
  }
}

const packageName = (shape, size) => `${shape}-${mib(size).replace(" ", "")}`;
for (const size of sizes) for (const shape of shapes) makePackage(packageName(shape, size), shape, size, formats);
makePackage("tiny", "tiny", 1024, ["tar.gz"]);
if (memory) for (const size of memorySizes) makePackage(`mem-${mib(size).replace(" ", "")}`, "large", size, formats);

// --- server ----------------------------------------------------------------------------
let serverKind;
let stopServer;
let base;
async function startServer() {
  const nginx = ["/usr/sbin/nginx", "/usr/bin/nginx"].find((p) => fs.existsSync(p));
  const port = 20000 + Math.floor(Math.random() * 20000);
  if (nginx) {
    const conf = path.join(work, "nginx.conf");
    fs.writeFileSync(conf, `worker_processes 1;\npid ${work}/nginx.pid;\nerror_log ${work}/nginx-error.log;\n${process.getuid?.() === 0 ? "user root;\n" : ""}events { worker_connections 64; }\nhttp {\n  access_log off;\n  sendfile on;\n  tcp_nopush on;\n  client_body_temp_path ${work}/nginx-tmp;\n  server { listen 127.0.0.1:${port}; root ${www}; }\n}\n`);
    const child = spawn(nginx, ["-c", conf, "-g", "daemon off;"], { stdio: "ignore" });
    await new Promise((r) => setTimeout(r, 500));
    serverKind = `nginx (${execFileSync(nginx, ["-v"], { stdio: ["ignore", "pipe", "pipe"] }).toString() || spawnSync(nginx, ["-v"], { encoding: "utf8" }).stderr.trim()})`;
    stopServer = () => child.kill();
  } else {
    // A child process, never this one: the contenders run under spawnSync, which blocks this
    // event loop, so an in-process server would stall every download.
    const script = `const http=require("http"),fs=require("fs"),path=require("path");const www=process.argv[1];http.createServer((req,res)=>{const f=path.join(www,path.basename(new URL(req.url,"http://x").pathname));if(!fs.existsSync(f))return res.writeHead(404).end();res.writeHead(200,{"content-length":fs.statSync(f).size});fs.createReadStream(f,{highWaterMark:1024*1024}).pipe(res)}).listen(Number(process.argv[2]),"127.0.0.1",()=>process.stdout.write("ready\\n"))`;
    const child = spawn(process.execPath, ["-e", script, www, String(port)], { stdio: ["ignore", "pipe", "inherit"] });
    await new Promise((resolve, reject) => {
      child.stdout.once("data", resolve);
      child.once("exit", (code) => reject(new Error(`the bench's static server exited (${code})`)));
    });
    stopServer = () => child.kill();
    serverKind = "the project's own Node static server (nginx is not installed)";
  }
  base = `http://127.0.0.1:${port}`;
}

// --- contenders --------------------------------------------------------------------------
function contenders(file) {
  const url = `${base}/${file}`;
  const z = file.endsWith(".gz") ? "-z" : file.endsWith(".zst") ? "--zstd" : "";
  const list = [
    { name: "download-package", cmd: (d) => [exe, "--url", url, "--dest", d, "--progress-interval", "0"] },
    ...(inline ? [{ name: "download-package (DP_SINK=inline)", cmd: (d) => ["env", "DP_SINK=inline", exe, "--url", url, "--dest", d, "--progress-interval", "0"] }] : []),
    { name: "curl | tar", cmd: (d) => ["sh", "-c", `curl -sS '${url}' | tar -x ${z} -f - -C '${d}'`] },
  ];
  // busybox tar has no zstd.
  if (busybox && !file.endsWith(".zst")) list.push({ name: "busybox wget | tar", cmd: (d) => ["sh", "-c", `${busybox} wget -qO- '${url}' | ${busybox} tar -x${z ? "z" : ""}f - -C '${d}'`] });
  list.push({ name: "local tar -x", cmd: (d) => ["sh", "-c", `tar -x ${z} -f '${path.join(www, file)}' -C '${d}'`] });
  return list;
}

function timed(cmd) {
  const r = spawnSync("/usr/bin/time", ["-f", "%e %M %U %S", ...cmd], { encoding: "utf8", maxBuffer: 1 << 26 });
  if (r.status !== 0) throw new Error(`${cmd.join(" ")} failed: ${r.stderr.slice(-500)}`);
  const [wall, rss, user, sys] = r.stderr.trim().split("\n").pop().split(" ").map(Number);
  return { wall, rss: rss * 1024, cpu: user + sys };
}

const destRoots = { disk: process.env.BENCH_DEST || path.join(work, "dest"), tmpfs: "/dev/shm/dp-bench" };
function freshDest(kind = "disk") {
  const d = destRoots[kind];
  fs.rmSync(d, { recursive: true, force: true });
  fs.mkdirSync(d, { recursive: true });
  // Untimed: flush the previous run's dirty pages so that its writeback does not throttle this one.
  spawnSync("sync");
  return d;
}

function runPackage(file, destKind) {
  const cs = contenders(file);
  const res = Object.fromEntries(cs.map((c) => [c.name, { wall: [], rss: [], cpu: [] }]));
  const dps = cs.filter((c) => c.name.startsWith("download-package")).map((c) => c.name);
  const ratios = Object.fromEntries(dps.map((n) => [n, []]));
  const limits = Object.fromEntries(dps.map((n) => [n, []]));
  for (let r = 0; r < rounds; r++) {
    const order = cs.map((_, i) => cs[(i + r) % cs.length]); // alternate who goes first
    const round = {};
    for (const c of order) {
      const t = timed(c.cmd(freshDest(destKind)));
      res[c.name].wall.push(t.wall);
      res[c.name].rss.push(t.rss);
      res[c.name].cpu.push(t.cpu);
      round[c.name] = t.wall;
    }
    for (const n of dps) {
      ratios[n].push(round[n] / round["curl | tar"]);
      limits[n].push(round[n] / round["local tar -x"]);
    }
    log(`  ${destKind} ${file} round ${r + 1}: ${Object.entries(round).map(([k, v]) => `${k} ${v.toFixed(2)}s`).join(", ")}`);
  }
  return { res, ratios, limits };
}

/** Files download-package opens for writing outside the destination (strace), for one run. */
function writesOutside(file) {
  if (!fs.existsSync("/usr/bin/strace")) return "not measured (strace not installed)";
  const d = freshDest();
  const trace = path.join(work, "strace.log");
  spawnSync("strace", ["-f", "-qq", "-e", "trace=openat,open,creat,rename,renameat,renameat2,mkdir,mkdirat", "-o", trace, exe, "--url", `${base}/${file}`, "--dest", d, "--progress-interval", "0"], { stdio: "ignore" });
  const outside = fs.readFileSync(trace, "utf8").split("\n").filter((l) => /(O_WRONLY|O_RDWR|O_CREAT)|mkdir|rename|creat\(/.test(l) && !/= -1 /.test(l)).map((l) => /"([^"]+)"/.exec(l)?.[1]).filter((p) => p && !path.resolve(p).startsWith(d) && !/^\/(dev|proc|sys)\//.test(p));
  return outside.length === 0 ? "0 files (strace of openat/creat/mkdir/rename)" : `${outside.length} files: ${[...new Set(outside)].slice(0, 5).join(", ")}`;
}

function coldStart(cmd, n = 21) {
  const xs = [];
  for (let i = 0; i < n; i++) {
    const t = process.hrtime.bigint();
    spawnSync(cmd[0], cmd.slice(1), { stdio: "ignore" });
    xs.push(Number(process.hrtime.bigint() - t) / 1e6);
  }
  return median(xs);
}

const fstype = (dir) => execFileSync("df", ["--output=fstype", dir]).toString().split("\n")[1].trim();
const x = (n) => `${n.toFixed(2)}×`;

await startServer();
const lines = [];
const out = (s = "") => lines.push(s);
try {
  out(`Machine: ${os.cpus().length} × ${os.cpus()[0].model}, ${(os.totalmem() / 1024 ** 3).toFixed(0)} GiB RAM, Linux ${os.release()}.`);
  out(`Server: ${serverKind}. Executable: ${execFileSync(exe, ["--version"]).toString().trim()}.`);
  out(`Command: \`node bench/run.mjs ${args.join(" ")}\`; ${rounds} round(s) per package, contenders alternating; wall time and peak RSS from \`/usr/bin/time\`; \`sync\` (untimed) before every run.`);
  for (const destKind of dests) {
    fs.mkdirSync(path.dirname(destRoots[destKind]), { recursive: true });
    out();
    out(`Destination: ${destKind} (${fstype(path.dirname(destRoots[destKind]))}, ${destRoots[destKind]}).`);
    out();
    out("| package | contender | median wall | vs curl \\| tar (per round) | vs local tar -x | peak RSS | median CPU (user+sys, all processes) |");
    out("| --- | --- | --- | --- | --- | --- | --- |");
    for (const size of sizes) {
      for (const shape of shapes) {
        for (const format of formats) {
          const file = `${packageName(shape, size)}.${format}`;
          const { res, ratios, limits } = runPackage(file, destKind);
          const curlMed = median(res["curl | tar"].wall);
          const tarMed = median(res["local tar -x"].wall);
          for (const [name, r] of Object.entries(res)) {
            const dp = name in ratios;
            const ratio = dp ? ratios[name].map(x).join(", ") : x(median(r.wall) / curlMed);
            const limit = dp ? limits[name].map(x).join(", ") : x(median(r.wall) / tarMed);
            out(`| ${file} (${mib(fs.statSync(path.join(www, file)).size)}) | ${name.replace("|", "\\|")} | ${median(r.wall).toFixed(2)} s | ${ratio} | ${limit} | ${mib(Math.max(...r.rss))} | ${median(r.cpu).toFixed(2)} s |`);
          }
        }
      }
    }
  }
  const probe = `${packageName(shapes[0], sizes[0])}.${formats.includes("tar.gz") ? "tar.gz" : formats[0]}`;
  out();
  out(`Files written outside the destination by download-package (${probe}): ${writesOutside(probe)}.`);
  out();
  out("| cold start | median of 21 |");
  out("| --- | --- |");
  out(`| download-package --version | ${coldStart([exe, "--version"]).toFixed(1)} ms |`);
  if (fs.existsSync(embeddedNode)) out(`| node -e 0 (the Node binary the executable embeds: the floor) | ${coldStart([embeddedNode, "-e", "0"]).toFixed(1)} ms |`);
  if (busybox) out(`| busybox wget --help | ${coldStart(["sh", "-c", `${busybox} wget --help 2>/dev/null; true`]).toFixed(1)} ms |`);
  if (inline) out(`| download-package, tiny package, DP_SINK=worker | ${coldStart(["env", "DP_SINK=worker", exe, "--url", `${base}/tiny.tar.gz`, "--dest", freshDest(), "--progress-interval", "0"], 11).toFixed(1)} ms |`);
  out(`| download-package, tiny package (1 KiB .tar.gz) | ${coldStart([exe, "--url", `${base}/tiny.tar.gz`, "--dest", freshDest(), "--progress-interval", "0"], 11).toFixed(1)} ms |`);
  if (busybox) out(`| busybox wget \\| tar, same tiny package | ${coldStart(["sh", "-c", `${busybox} wget -qO- ${base}/tiny.tar.gz | ${busybox} tar -xzf - -C ${freshDest()}`], 11).toFixed(1)} ms |`);
  if (memory) {
    out();
    out(`| peak RSS, download-package | ${memorySizes.map((s) => `${mib(s)} package`).join(" | ")} |`);
    out(`| --- |${memorySizes.map(() => " --- |").join("")}`);
    for (const format of formats) {
      const cells = memorySizes.map((size) => {
        const t = timed([exe, "--url", `${base}/mem-${mib(size).replace(" ", "")}.${format}`, "--dest", freshDest(), "--progress-interval", "0"]);
        return `${mib(t.rss)} (${t.wall.toFixed(1)} s)`;
      });
      out(`| .${format} | ${cells.join(" | ")} |`);
      if (inline) {
        const cellsInline = memorySizes.map((size) => {
          const t = timed(["env", "DP_SINK=inline", exe, "--url", `${base}/mem-${mib(size).replace(" ", "")}.${format}`, "--dest", freshDest(), "--progress-interval", "0"]);
          return `${mib(t.rss)} (${t.wall.toFixed(1)} s)`;
        });
        out(`| .${format}, DP_SINK=inline | ${cellsInline.join(" | ")} |`);
      }
    }
  }
} finally {
  stopServer();
  for (const d of Object.values(destRoots)) fs.rmSync(d, { recursive: true, force: true });
}
const report = lines.join("\n") + "\n";
process.stdout.write(report);
if (outFile) fs.writeFileSync(outFile, report);
