// npm run bench:charts — `images list --chart` on a dozen charts with the built-in renderer (no
// helm): one process given twelve --chart (how export runs for an application of several charts),
// then one process per chart. The target is under 2 s for the dozen together.
//   node bench/charts.mjs [--rounds 3] [--target dist/download-package.cjs]
// The charts: the test fixture (an umbrella with an aliased, a .tgz, a library and a disabled
// subchart) under eleven names and appVersions, and deploy/helm. Real-world charts are not
// available offline; /work/shared/corpus has none.
import { execFileSync, spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

const root = path.resolve(import.meta.dirname, "..");
const args = process.argv.slice(2);
const flag = (name, def) => (args.includes(name) ? args[args.indexOf(name) + 1] : def);
const rounds = Number(flag("--rounds", "3"));
const target = path.resolve(root, flag("--target", process.env.DP_BENCH_TARGET || "dist/download-package"));
if (!fs.existsSync(target)) throw new Error(`${target} not found: run npm run build first`);
const cmd = (a) => (target.endsWith(".cjs") ? [process.execPath, [target, ...a]] : [target, a]);

const work = fs.mkdtempSync(path.join(os.tmpdir(), "dp-bench-charts-"));
const charts = [];
for (let i = 0; i < 11; i++) {
  const dir = path.join(work, `shop${i}`);
  fs.cpSync(path.join(root, "test/charts/shop"), dir, { recursive: true });
  const chartYaml = path.join(dir, "Chart.yaml");
  fs.writeFileSync(chartYaml, fs.readFileSync(chartYaml, "utf8").replace("name: shop", `name: shop${i}`).replace('appVersion: "2.4.1"', `appVersion: "2.4.${i}"`));
  execFileSync("tar", ["-czf", path.join(dir, "charts/metrics-0.3.1.tgz"), "-C", path.join(dir, "charts"), "metrics"]);
  fs.rmSync(path.join(dir, "charts/metrics"), { recursive: true });
  charts.push(dir);
}
charts.push(path.join(root, "deploy/helm"));

const env = { ...process.env, PATH: "/usr/bin:/bin" }; // no helm: the built-in renderer
// Wall time, and CPU time (user + system, from /usr/bin/time) which a busy machine disturbs less.
const gnuTime = fs.existsSync("/usr/bin/time") ? "/usr/bin/time" : undefined;
const cpuFile = path.join(work, "cpu");
function time(a) {
  const [c, argv] = cmd(["images", "list", "--render", "builtin", "--json", ...a]);
  const t = process.hrtime.bigint();
  const r = gnuTime ? spawnSync(gnuTime, ["-f", "%U %S", "-o", cpuFile, c, ...argv], { env, encoding: "utf8" }) : spawnSync(c, argv, { env, encoding: "utf8" });
  const ms = Number(process.hrtime.bigint() - t) / 1e6;
  if (r.status !== 0) throw new Error(`images list failed (${r.status}): ${r.stderr}`);
  const cpu = gnuTime ? fs.readFileSync(cpuFile, "utf8").trim().split("\n").pop().split(" ").reduce((x, y) => x + Number(y), 0) * 1000 : NaN;
  return { ms, cpu, images: JSON.parse(r.stdout).length };
}
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const together = [];
const togetherCpu = [];
let images = 0;
for (let r = 0; r < rounds; r++) {
  const res = time(charts.flatMap((c) => ["--chart", c]));
  together.push(res.ms);
  togetherCpu.push(res.cpu);
  images = res.images;
}
const one = charts.map((c) => time(["--chart", c]));
const size = (f) => (fs.existsSync(f) ? `${(fs.statSync(f).size / 1024 / 1024).toFixed(1)} MiB` : "absent");
const load = os.loadavg()[0].toFixed(1);
const sec = (ms) => `${(ms / 1000).toFixed(2)} s`;
console.log(`| charts | images | one process, ${charts.length} --chart: wall (CPU), median of ${rounds} | one process per chart: median wall (CPU), sum of wall | load avg |`);
console.log("| --- | --- | --- | --- | --- |");
console.log(`| ${charts.length} | ${images} | ${sec(median(together))} (${sec(median(togetherCpu))}) | ${sec(median(one.map((x) => x.ms)))} (${sec(median(one.map((x) => x.cpu)))}), ${sec(one.reduce((a, b) => a + b.ms, 0))} | ${load} |`);
console.log(`\ntarget ${path.relative(root, target)}; engine dist/chart-engine.wasm.gz ${size(path.join(root, "dist/chart-engine.wasm.gz"))}; bundle ${size(path.join(root, "dist/download-package.cjs"))}; executable ${size(path.join(root, "dist/download-package"))}`);
fs.rmSync(work, { recursive: true, force: true });
