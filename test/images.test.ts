// Offline image delivery with real parts: images built from the stand-in base, served by a
// local docker-registry acting as the mirror, exported to files, imported into containerd
// (ctr, namespace k8s.io) and into Docker, pushed to an htpasswd-protected registry.

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { docker, dockerMissing, standInBase } from "./helpers/docker.ts";
import { startRegistry, type Registry } from "./helpers/registry.ts";
import { cleanEnv, command, exec, tmpdir } from "./helpers/run.ts";

const CONTAINERD = "/var/run/docker/containerd/containerd.sock";
const tag = `t${process.pid}`;
const NAMES = ["dp-img-a", "dp-img-b", "dp-img-c"].map((n) => `${n}:${tag}`);
const FULL = NAMES.map((n) => `docker.io/library/${n}`);
const ctr = (...args: string[]) => spawnSync("ctr", ["--address", CONTAINERD, "-n", "k8s.io", ...args], { encoding: "utf8" });

async function dp(args: string[], env: Record<string, string> = {}) {
  const [cmd, argv] = command(args);
  return exec(cmd, argv, { env: cleanEnv(env) });
}

describe("images list/export/import/push", { skip: dockerMissing() }, () => {
  let mirror: Registry;
  let priv: Registry;
  let chart: string;
  let out: string;

  before(async () => {
    [mirror, priv] = await Promise.all([startRegistry(), startRegistry({ user: "ops", password: "images-push-pw" })]);
    const base = standInBase();
    // Three distinct images, pushed to the mirror as a Docker Hub mirror would hold them, then removed locally.
    for (const n of NAMES) {
      docker(["build", "-q", "-t", n, "-"], { input: `FROM ${base}\nLABEL which=${n}\n` });
      docker(["tag", n, `${mirror.host}/library/${n}`]);
      docker(["push", `${mirror.host}/library/${n}`]);
      docker(["rmi", n, `${mirror.host}/library/${n}`]);
    }
    chart = tmpdir("dp-chart-");
    fs.writeFileSync(path.join(chart, "values.yaml"), `# a test chart's values
web:
  image: ${NAMES[0]}
api:
  image:
    repository: ${NAMES[1].split(":")[0]}
    tag: "${tag}"
sub:   # a subchart
  workers:
    - image: docker.io/library/${NAMES[0]}
`);
    fs.writeFileSync(path.join(chart, "rendered.yaml"), `apiVersion: batch/v1
kind: Job
metadata: {name: migrate}
spec:
  template:
    spec:
      containers: [{name: m, image: "${NAMES[2]}"}]
`);
    out = tmpdir("dp-images-");
  });
  after(async () => {
    await Promise.all([mirror.close(), priv.close()]);
    for (const f of FULL) ctr("images", "rm", f);
    spawnSync("docker", ["rmi", "-f", ...NAMES]);
  });

  it("list finds every image in values and rendered manifests, normalized, de-duplicated, with sources", async () => {
    const r = await dp(["images", "list", "--values", path.join(chart, "values.yaml"), "--manifests", path.join(chart, "rendered.yaml"), "--json"]);
    assert.equal(r.status, 0, r.stderr);
    const listed = JSON.parse(r.stdout) as { ref: string; sources: { path: string }[] }[];
    assert.deepEqual(listed.map((l) => l.ref), [...FULL].sort());
    assert.deepEqual(listed.find((l) => l.ref === FULL[0])!.sources.map((s) => s.path), ["web.image", "sub.workers[0].image"]);
    assert.deepEqual(listed.find((l) => l.ref === FULL[1])!.sources.map((s) => s.path), ["api.image"]);
    assert.match(listed.find((l) => l.ref === FULL[2])!.sources[0].path, /Job\/migrate/);
  });

  it("export pulls through the mirror and writes one .tar.gz per image, SHA256SUMS and index.json; a re-run skips them", async () => {
    const args = ["images", "export", "--out", out, "--values", path.join(chart, "values.yaml"), "--manifests", path.join(chart, "rendered.yaml"), "--platform", "linux/amd64"];
    const r = await dp(args, { BASE_IMAGE_MIRRORS: `127.0.0.1:1 ${mirror.host}` });
    assert.equal(r.status, 0, r.stdout + r.stderr);
    const files = NAMES.map((n) => `${n.replace(":", "_")}.tar.gz`);
    assert.deepEqual(fs.readdirSync(out).filter((f) => f.endsWith(".tar.gz")).sort(), [...files].sort());
    assert.equal(spawnSync("sha256sum", ["-c", "SHA256SUMS"], { cwd: out }).status, 0);
    const index = JSON.parse(fs.readFileSync(path.join(out, "index.json"), "utf8"));
    assert.deepEqual(index.map((e: { ref: string }) => e.ref), [...FULL].sort());
    for (const e of index) assert.ok(e.size > 0 && e.id.startsWith("sha256:") && e.platform === "linux/amd64");
    const again = await dp(args, { BASE_IMAGE_MIRRORS: mirror.host });
    assert.equal(again.status, 0);
    assert.equal((again.stdout.match(/skipped/g) ?? []).length, 3, again.stdout);
  });

  it("import into containerd (ctr -n k8s.io); a second import skips every image", async () => {
    for (const f of FULL) ctr("images", "rm", f);
    const args = ["images", "import", "--from", out, "--runtime", "containerd", "--address", CONTAINERD];
    const r = await dp(args);
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.equal((r.stdout.match(/ imported /g) ?? []).length, 3, r.stdout);
    const names = ctr("images", "ls", "-q").stdout;
    for (const f of FULL) assert.ok(names.includes(f), `${f} in containerd`);
    const again = await dp(args);
    assert.equal((again.stdout.match(/already present/g) ?? []).length, 3, again.stdout);
  });

  it("one corrupt file among good ones: the others are imported (Docker), the table names the failure; --policy fail exits 7", async () => {
    const dir = tmpdir("dp-images-bad-");
    for (const f of fs.readdirSync(out)) fs.copyFileSync(path.join(out, f), path.join(dir, f));
    const bad = `${NAMES[1].replace(":", "_")}.tar.gz`;
    // Corrupt but consistent with SHA256SUMS: the runtime itself must refuse it.
    fs.writeFileSync(path.join(dir, bad), Buffer.from("this is not an image archive\n"));
    const sum = spawnSync("sha256sum", [bad], { cwd: dir, encoding: "utf8" }).stdout;
    const sums = fs.readFileSync(path.join(dir, "SHA256SUMS"), "utf8").split("\n").map((l) => (l.endsWith(`  ${bad}`) ? sum.trim() : l)).join("\n");
    fs.writeFileSync(path.join(dir, "SHA256SUMS"), sums);
    spawnSync("docker", ["rmi", "-f", ...NAMES]);
    const r = await dp(["images", "import", "--from", dir, "--runtime", "docker"]);
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.match(r.stdout, new RegExp(`${FULL[1]}\\s+${bad}\\s+failed\\s+not an image archive`));
    assert.equal((r.stdout.match(/ imported /g) ?? []).length, 2, r.stdout);
    for (const n of [NAMES[0], NAMES[2]]) docker(["image", "inspect", n]);
    const strict = await dp(["images", "import", "--from", dir, "--runtime", "docker", "--policy", "fail"]);
    assert.equal(strict.status, 7);
    assert.match(strict.stderr, /1 of 3 images failed to import/);
  });

  it("a checksum mismatch is refused before the runtime sees the file", async () => {
    const dir = tmpdir("dp-images-mismatch-");
    for (const f of fs.readdirSync(out)) fs.copyFileSync(path.join(out, f), path.join(dir, f));
    const victim = `${NAMES[0].replace(":", "_")}.tar.gz`;
    fs.appendFileSync(path.join(dir, victim), "x");
    const r = await dp(["images", "import", "--from", dir, "--runtime", "containerd", "--address", CONTAINERD]);
    assert.equal(r.status, 0);
    assert.match(r.stdout, new RegExp(`${victim}\\s+failed\\s+checksum mismatch against SHA256SUMS`));
  });

  it("scripts/export-helm-images.sh exports a chart's images, its subcharts' included", async () => {
    const c = tmpdir("dp-helm-chart-");
    fs.mkdirSync(path.join(c, "charts/sub"), { recursive: true });
    fs.writeFileSync(path.join(c, "values.yaml"), `image:\n  repository: ${NAMES[0].split(":")[0]}\n  tag: "${tag}"\n`);
    fs.writeFileSync(path.join(c, "charts/sub/values.yaml"), `worker:\n  image: ${NAMES[2]}\n`);
    const dir = tmpdir("dp-helm-out-");
    const r = await exec("bash", [path.join(import.meta.dirname, "../scripts/export-helm-images.sh"), "--chart", c, "--out", dir], { env: cleanEnv({ BASE_IMAGE_MIRRORS: mirror.host, PATH: `/usr/sbin:/usr/bin:/sbin:/bin` }) });
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.deepEqual(fs.readdirSync(dir).filter((f) => f.endsWith(".tar.gz")).sort(), [NAMES[0], NAMES[2]].map((n) => `${n.replace(":", "_")}.tar.gz`).sort());
    assert.equal(spawnSync("sha256sum", ["-c", "SHA256SUMS"], { cwd: dir }).status, 0);
  });

  it("push into an htpasswd-protected registry; each image pulls back by digest; no password on view", async () => {
    const pw = path.join(tmpdir(), "pw");
    fs.writeFileSync(pw, "images-push-pw\n");
    const r = await dp(["images", "push", "--from", out, "--registry", priv.host], { REGISTRY_USERNAME: "ops", REGISTRY_PASSWORD_FILE: pw });
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.ok(!(r.stdout + r.stderr).includes("images-push-pw"));
    const digests = [...r.stdout.matchAll(/(\S+)\s+pushed\s+(sha256:[0-9a-f]{64})/g)].map((m) => `${m[1].replace(/:[^:/]+$/, "")}@${m[2]}`);
    assert.equal(digests.length, 3, r.stdout);
    const cfg = tmpdir("dp-docker-config-");
    assert.equal((await exec("docker", ["--config", cfg, "login", "-u", "ops", "--password-stdin", priv.host], { input: "images-push-pw" })).status, 0);
    for (const d of digests) {
      const pull = await exec("docker", ["--config", cfg, "pull", "-q", d]);
      assert.equal(pull.status, 0, pull.stderr);
      spawnSync("docker", ["rmi", d]);
    }
    const wrong = await dp(["images", "push", "--from", out, "--registry", priv.host], { REGISTRY_USERNAME: "ops", REGISTRY_PASSWORD: "wrong" });
    assert.equal(wrong.status, 7);
    assert.match(wrong.stderr, /docker login to .* as ops failed/);
  });
});
