// npm run bench — download-package against what users run today, side by side:
//   busybox `wget -qO- URL | tar -x`, `curl -s URL | tar -x` (GNU tar), and local `tar -x` of
//   the same file (the physical limit). Packages are served by nginx from Debian when it is
//   installed (apt-get install nginx-light), else by a small Node static server (said in the output).
//
//   node bench/run.mjs [--size 1GiB] [--rounds 3] [--memory] [--quick] [--out FILE]
//     --size    size of each package (default 1GiB)     --rounds  rounds per package (default 3)
//     --memory  also peak RSS at 256 MiB vs 2 GiB       --quick   --size 16MiB --rounds 1 (CI)
//     --out     also write the markdown report to FILE
//   BENCH_DIR (packages, default .bench/), BENCH_DEST (destination, default .bench/dest; /dev/shm/... for tmpfs)
import { execFileSync, spawn, spawnSync } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";

const root = path.resolve(import.meta.dirname, "..");
const args = process.argv.slice(2);
const flag = (name, def) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : def;
};
const quick = args.includes("--quick");
const parseSize = (s) => {
  const m = /^(\d+)(KiB|MiB|GiB)?$/.exec(s);
  if (!m) throw new Error(`bad size ${s}`);
  return Number(m[1]) * { undefined: 1, KiB: 1024, MiB: 1024 ** 2, GiB: 1024 ** 3 }[m[2]];
};
const size = parseSize(flag("--size", quick ? "16MiB" : "1GiB"));
const rounds = Number(flag("--rounds", quick ? "1" : "3"));
const memory = args.includes("--memory");
const outFile = flag("--out", undefined);
const work = process.env.BENCH_DIR || path.join(root, ".bench");
const www = path.join(work, "www");
const exe = process.env.DP_BENCH_TARGET || path.join(root, "dist/download-package");
if (!fs.existsSync(exe)) throw new Error(`${exe} not found: run npm run build first`);
const busybox = ["/bin/busybox", "/usr/bin/busybox"].find((p) => fs.existsSync(p));
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

function makePackage(name, fileCount, fileSize) {
  const tar = path.join(www, `${name}.tar`);
  const tgz = `${tar}.gz`;
  if (fs.existsSync(tar) && fs.existsSync(tgz)) return;
  log(`generating ${name}: ${fileCount} files of ${fileSize} bytes`);
  const src = path.join(work, `src-${name}`);
  fs.rmSync(src, { recursive: true, force: true });
  // Files take slices of a 16 MiB pool at scattered offsets: far apart compared with
  // gzip's 32 KiB window, so files do not compress against each other.
  const pool = textBlock(16 * 1024 * 1024, name);
  const chunk = Math.min(fileSize, 1024 * 1024);
  let x = 2463534242;
  for (let i = 0; i < fileCount; i++) {
    const dir = path.join(src, `d${Math.floor(i / 256)}`);
    if (i % 256 === 0) fs.mkdirSync(dir, { recursive: true });
    const fd = fs.openSync(path.join(dir, `f${i}.txt`), "w");
    for (let off = 0; off < fileSize; ) {
      x ^= x << 13; x ^= x >>> 17; x ^= x << 5;
      const n = Math.min(chunk, fileSize - off);
      fs.writeSync(fd, pool, (x >>> 0) % (pool.length - n), n);
      off += n;
    }
    fs.closeSync(fd);
  }
  execFileSync("tar", ["-C", src, "-cf", tar, "."]);
  execFileSync("sh", ["-c", `gzip -6 -c '${tar}' > '${tgz}.tmp' && mv '${tgz}.tmp' '${tgz}'`]);
  fs.rmSync(src, { recursive: true, force: true });
}

const small = `small-${mib(size).replace(" ", "")}`;
const large = `large-${mib(size).replace(" ", "")}`;
makePackage(small, Math.max(1, Math.round(size / (16 * 1024))), 16 * 1024);
makePackage(large, 4, Math.round(size / 4));
makePackage("tiny", 1, 1024);
if (memory) {
  makePackage("mem-256MiB", 2, 128 * 1024 * 1024);
  makePackage("mem-2GiB", 4, 512 * 1024 * 1024);
}

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
  const z = file.endsWith(".gz") ? "z" : "";
  const list = [
    { name: "download-package", cmd: (d) => [exe, "--url", url, "--dest", d, "--progress-interval", "0"] },
    { name: "curl | tar", cmd: (d) => ["sh", "-c", `curl -sS '${url}' | tar -x${z}f - -C '${d}'`] },
  ];
  if (busybox) list.push({ name: "busybox wget | tar", cmd: (d) => ["sh", "-c", `${busybox} wget -qO- '${url}' | ${busybox} tar -x${z}f - -C '${d}'`] });
  list.push({ name: "local tar -x", cmd: (d) => ["tar", `-x${z}f`, path.join(www, file), "-C", d] });
  return list;
}

function timed(cmd) {
  const r = spawnSync("/usr/bin/time", ["-f", "%e %M", ...cmd], { encoding: "utf8", maxBuffer: 1 << 26 });
  if (r.status !== 0) throw new Error(`${cmd.join(" ")} failed: ${r.stderr.slice(-500)}`);
  const [wall, rss] = r.stderr.trim().split("\n").pop().split(" ").map(Number);
  return { wall, rss: rss * 1024 };
}

// BENCH_DEST=/dev/shm/dp-bench puts the destination on tmpfs: our own cost, without the disk's.
const destRoot = process.env.BENCH_DEST || path.join(work, "dest");
function freshDest() {
  fs.rmSync(destRoot, { recursive: true, force: true });
  fs.mkdirSync(destRoot, { recursive: true });
  // Untimed: flush the previous run's dirty pages so that its writeback does not throttle this one.
  spawnSync("sync");
  return destRoot;
}

function runPackage(file) {
  const cs = contenders(file);
  const res = Object.fromEntries(cs.map((c) => [c.name, { wall: [], rss: [] }]));
  const ratios = [];
  for (let r = 0; r < rounds; r++) {
    const order = cs.map((_, i) => cs[(i + r) % cs.length]); // alternate who goes first
    const round = {};
    for (const c of order) {
      const t = timed(c.cmd(freshDest()));
      res[c.name].wall.push(t.wall);
      res[c.name].rss.push(t.rss);
      round[c.name] = t.wall;
    }
    ratios.push(round["download-package"] / round["curl | tar"]);
    log(`  ${file} round ${r + 1}: ${Object.entries(round).map(([k, v]) => `${k} ${v.toFixed(2)}s`).join(", ")}`);
  }
  return { res, ratios };
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

await startServer();
const lines = [];
const out = (s = "") => lines.push(s);
try {
  out(`Machine: ${os.cpus().length} × ${os.cpus()[0].model}, ${(os.totalmem() / 1024 ** 3).toFixed(0)} GiB RAM, Linux ${os.release()}; destination on ${execFileSync("df", ["--output=fstype", path.dirname(destRoot)]).toString().split("\n")[1].trim()} (${destRoot}).`);
  out(`Server: ${serverKind}. Executable: ${execFileSync(exe, ["--version"]).toString().trim()}.`);
  out(`Command: \`node bench/run.mjs ${args.join(" ")}\`; ${rounds} round(s) per package, contenders alternating; wall time and peak RSS from \`/usr/bin/time\`; \`sync\` (untimed) before every run.`);
  out();
  out("| package | contender | median wall | vs curl \\| tar (per round) | peak RSS |");
  out("| --- | --- | --- | --- | --- |");
  for (const pkg of [small, large]) {
    for (const ext of [".tar", ".tar.gz"]) {
      const file = `${pkg}${ext}`;
      const { res, ratios } = runPackage(file);
      const curlMed = median(res["curl | tar"].wall);
      for (const [name, r] of Object.entries(res)) {
        const ratio = name === "download-package" ? ratios.map((x) => `${x.toFixed(2)}×`).join(", ") : `${(median(r.wall) / curlMed).toFixed(2)}×`;
        out(`| ${file} (${mib(fs.statSync(path.join(www, file)).size)}) | ${name.replace("|", "\\|")} | ${median(r.wall).toFixed(2)} s | ${ratio} | ${mib(Math.max(...r.rss))} |`);
      }
    }
  }
  out();
  out(`Files written outside the destination by download-package (${small}.tar.gz): ${writesOutside(`${small}.tar.gz`)}.`);
  out();
  out("| cold start | median of 21 |");
  out("| --- | --- |");
  out(`| download-package --version | ${coldStart([exe, "--version"]).toFixed(1)} ms |`);
  if (busybox) out(`| busybox wget --help | ${coldStart(["sh", "-c", `${busybox} wget --help 2>/dev/null; true`]).toFixed(1)} ms |`);
  out(`| download-package, tiny package (1 KiB .tar.gz) | ${coldStart([exe, "--url", `${base}/tiny.tar.gz`, "--dest", freshDest(), "--progress-interval", "0"], 11).toFixed(1)} ms |`);
  if (busybox) out(`| busybox wget \\| tar, same tiny package | ${coldStart(["sh", "-c", `${busybox} wget -qO- ${base}/tiny.tar.gz | ${busybox} tar -xzf - -C ${freshDest()}`], 11).toFixed(1)} ms |`);
  if (memory) {
    out();
    out("| peak RSS, download-package | 256 MiB package | 2 GiB package |");
    out("| --- | --- | --- |");
    for (const ext of [".tar", ".tar.gz"]) {
      const a = timed([exe, "--url", `${base}/mem-256MiB${ext}`, "--dest", freshDest(), "--progress-interval", "0"]);
      const b = timed([exe, "--url", `${base}/mem-2GiB${ext}`, "--dest", freshDest(), "--progress-interval", "0"]);
      out(`| ${ext} | ${mib(a.rss)} (${a.wall.toFixed(1)} s) | ${mib(b.rss)} (${b.wall.toFixed(1)} s) |`);
    }
  }
} finally {
  stopServer();
  fs.rmSync(destRoot, { recursive: true, force: true });
}
const report = lines.join("\n") + "\n";
process.stdout.write(report);
if (outFile) fs.writeFileSync(outFile, report);
