// npm run bench:executable — size and cold start of the packaged program and its image.
// Needs `npm run build` first; the image part needs a Docker engine (skipped otherwise).
//   BASE_IMAGE=alpine:3.22 npm run bench:executable   (default: the busybox stand-in the tests build)
import { execFileSync, spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

const root = path.resolve(import.meta.dirname, "..");
const exe = path.join(root, "dist/download-package");
const mib = (n) => `${(n / 1024 / 1024).toFixed(1)} MiB`;
const median = (xs) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)];

function coldStart(cmd, args, rounds = 21) {
  const times = [];
  for (let i = 0; i < rounds; i++) {
    const t = process.hrtime.bigint();
    const r = spawnSync(cmd, args, { stdio: "ignore" });
    if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")} failed`);
    times.push(Number(process.hrtime.bigint() - t) / 1e6);
  }
  return median(times);
}

const rows = [];
const version = execFileSync(exe, ["--version"], { encoding: "utf8" }).trim();
rows.push(["executable", version]);
rows.push(["dist/download-package size", mib(fs.statSync(exe).size)]);
const rootfsBytes = fs.readdirSync(path.join(root, "dist/rootfs"), { recursive: true }).map((f) => path.join(root, "dist/rootfs", f)).filter((f) => fs.statSync(f).isFile()).reduce((n, f) => n + fs.statSync(f).size, 0);
rows.push(["dist/rootfs size", mib(rootfsBytes)]);
rows.push(["cold start, --version (median of 21)", `${coldStart(exe, ["--version"]).toFixed(1)} ms`]);
rows.push(["cold start, node dist/download-package.cjs --version", `${coldStart(process.execPath, [path.join(root, "dist/download-package.cjs"), "--version"]).toFixed(1)} ms`]);
if (fs.existsSync("/bin/busybox")) rows.push(["cold start, busybox wget --help (reference)", `${coldStart("/bin/sh", ["-c", "/bin/busybox wget --help 2>/dev/null; true"]).toFixed(1)} ms`]);

if (spawnSync("docker", ["info"], { stdio: "ignore" }).status === 0) {
  const base = process.env.BASE_IMAGE || "busybox-standin:local";
  if (spawnSync("docker", ["image", "inspect", base], { stdio: "ignore" }).status !== 0) {
    console.error(`base image ${base} not present: run the tests once (they build the stand-in) or set BASE_IMAGE`);
  } else {
    const tag = "download-package:bench";
    execFileSync("docker", ["build", "-q", "-t", tag, "--build-arg", `BASE_IMAGE=${base}`, root], { env: { ...process.env, DOCKER_BUILDKIT: "0" }, stdio: "ignore" });
    const gz = (ref) => Number(execFileSync("sh", ["-c", `docker save ${ref} | gzip -6 | wc -c`]).toString().trim());
    const [img, b] = [gz(tag), gz(base)];
    rows.push([`image compressed (gzip -6 of docker save), on ${base}`, mib(img)]);
    rows.push(["  of which the base", mib(b)]);
    rows.push(["  of which download-package (the rootfs layer)", mib(img - b)]);
    spawnSync("docker", ["rmi", tag], { stdio: "ignore" });
  }
}
console.log(`machine: ${os.cpus().length} x ${os.cpus()[0].model}, ${os.platform()} ${os.release()}`);
console.log("| measure | value |\n| --- | --- |");
for (const [k, v] of rows) console.log(`| ${k} | ${v} |`);
