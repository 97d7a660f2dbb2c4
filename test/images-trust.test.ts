// Import trusts content, not names (issue 15, item 3): the image ID recorded at export is
// compared with the archive's own config digest and with what the runtime holds, before
// and after loading. Real dockerd, containerd (ctr, a namespace of this test's own), a
// real docker-registry as the mirror.

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { docker, dockerMissing } from "./helpers/docker.ts";
import { buildImage, CONTAINERD, ctrIn, dp, dropNamespace, fileOf, pushTo, rmi } from "./helpers/images.ts";
import { startRegistry, type Registry } from "./helpers/registry.ts";
import { tmpdir } from "./helpers/run.ts";

const tag = `trust${process.pid}`;
const A = `dp-trust-a:${tag}`;
const B = `dp-trust-b:${tag}`;
const NS = `dp-trust-${process.pid}`;
const ctr = ctrIn(NS);
const full = (n: string) => `docker.io/library/${n}`;

function copyDir(src: string): string {
  const dir = tmpdir("dp-trust-copy-");
  for (const f of fs.readdirSync(src)) fs.copyFileSync(path.join(src, f), path.join(dir, f));
  return dir;
}

/** Rewrite a file's SHA256SUMS line to match its (new) content, as a careless copy or an attacker would. */
function resum(dir: string, file: string) {
  const sum = spawnSync("sha256sum", [file], { cwd: dir, encoding: "utf8" }).stdout.trim();
  const lines = fs.readFileSync(path.join(dir, "SHA256SUMS"), "utf8").split("\n").map((l) => (l.endsWith(`  ${file}`) ? sum : l));
  fs.writeFileSync(path.join(dir, "SHA256SUMS"), lines.join("\n"));
}

const importArgs = (dir: string) => ["images", "import", "--from", dir, "--runtime", "containerd", "--address", CONTAINERD, "--namespace", NS];
const idIn = (ref: string) => {
  const r = ctr("images", "ls");
  const line = r.stdout.split("\n").find((l) => l.startsWith(`${ref} `));
  if (!line) return undefined;
  const target = line.trim().split(/\s+/)[2];
  let doc = JSON.parse(ctr("content", "get", target).stdout);
  if (doc.manifests) doc = JSON.parse(ctr("content", "get", doc.manifests[0].digest).stdout);
  return doc.config.digest as string;
};

describe("import checks content against the image ID recorded at export", { skip: dockerMissing() }, () => {
  let mirror: Registry;
  let out: string;
  const ids: Record<string, string> = {};

  before(async () => {
    mirror = await startRegistry();
    for (const n of [A, B]) {
      ids[n] = buildImage(n);
      pushTo(mirror.host, n);
      rmi(n);
    }
    out = tmpdir("dp-trust-out-");
    const r = await dp(["images", "export", "--out", out, "--image", A, "--image", B], { BASE_IMAGE_MIRRORS: mirror.host });
    assert.equal(r.status, 0, r.stdout + r.stderr);
  });
  after(async () => {
    await mirror.close();
    dropNamespace(NS);
    rmi(A, B);
  });

  it("index.json records each image's ID; SHA256SUMS covers index.json itself", () => {
    const index = JSON.parse(fs.readFileSync(path.join(out, "index.json"), "utf8"));
    assert.deepEqual(Object.fromEntries(index.map((e: { ref: string; id: string }) => [e.ref, e.id])), { [full(A)]: ids[A], [full(B)]: ids[B] });
    assert.match(fs.readFileSync(path.join(out, "SHA256SUMS"), "utf8"), /  index\.json\n/);
    assert.equal(spawnSync("sha256sum", ["-c", "SHA256SUMS"], { cwd: out }).status, 0);
  });

  it("an archive holding another image (checksums made to match) is refused, and the runtime gets nothing under that name", async () => {
    const dir = copyDir(out);
    fs.copyFileSync(path.join(out, fileOf(B)), path.join(dir, fileOf(A)));
    resum(dir, fileOf(A));
    const r = await dp(importArgs(dir));
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`${full(A)}\\s+${fileOf(A)}\\s+failed\\s+the archive holds image ${ids[B]}, index.json says ${ids[A]}`));
    assert.match(r.stdout, /imported 1, skipped 0, failed 1 of 2/);
    assert.equal(idIn(full(A)), undefined);
    assert.equal(idIn(full(B)), ids[B]);
  });

  it("an edited index.json (not matching SHA256SUMS) is refused: no file can be trusted", async () => {
    const dir = copyDir(out);
    const index = JSON.parse(fs.readFileSync(path.join(dir, "index.json"), "utf8"));
    index[0].ref = "docker.io/library/innocent:1";
    fs.writeFileSync(path.join(dir, "index.json"), JSON.stringify(index));
    const r = await dp([...importArgs(dir), "--policy", "fail"]);
    assert.equal(r.status, 7, r.stdout + r.stderr);
    assert.match(r.stdout, /index\.json\s+failed\s+checksum mismatch against SHA256SUMS/);
    assert.doesNotMatch(r.stdout, / imported /);
  });

  it("an older, different image under the same name is replaced, not skipped; the same image is skipped", async () => {
    ctr("images", "rm", full(A), full(B));
    // The runtime holds B's content under A's name: same name, another image.
    docker(["tag", ids[B], A]);
    const saved = spawnSync("docker", ["save", A], { maxBuffer: 1 << 28 }).stdout;
    spawnSync("ctr", ["--address", CONTAINERD, "-n", NS, "images", "import", "-"], { input: saved });
    rmi(A);
    assert.equal(idIn(full(A)), ids[B]);
    const r = await dp(importArgs(out));
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`${full(A)}\\s+${fileOf(A)}\\s+imported\\s+replaced ${ids[B].slice(0, 19)} by ${ids[A].slice(0, 19)}`));
    assert.equal(idIn(full(A)), ids[A]);
    const again = await dp(importArgs(out));
    assert.equal((again.stdout.match(/skipped\s+already present, same image ID/g) ?? []).length, 2, again.stdout);
  });

  it("Docker: a stale image of the same name is replaced by the exported one", async () => {
    docker(["tag", ids[B], A]);
    const r = await dp(["images", "import", "--from", out, "--runtime", "docker"]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`${full(A)}\\s+\\S+\\s+imported\\s+replaced`));
    assert.equal(JSON.parse(docker(["image", "inspect", A]))[0].Id, ids[A]);
  });

  it("an archive that would also name another image is refused before the runtime sees it", async () => {
    const dir = copyDir(out);
    // A's archive, re-saved with a second tag that would overwrite an unrelated image on load.
    docker(["tag", ids[A], A]);
    docker(["tag", ids[A], `dp-trust-victim:${tag}`]);
    const tar = spawnSync("sh", ["-c", `docker save ${A} dp-trust-victim:${tag} | gzip`], { maxBuffer: 1 << 28 }).stdout;
    rmi(A, `dp-trust-victim:${tag}`);
    fs.writeFileSync(path.join(dir, fileOf(A)), tar);
    resum(dir, fileOf(A));
    const r = await dp(importArgs(dir));
    assert.match(r.stdout, new RegExp(`${fileOf(A)}\\s+failed\\s+the archive would also name docker.io/library/dp-trust-victim:${tag}: refused`));
    assert.equal(idIn(`docker.io/library/dp-trust-victim:${tag}`), undefined);
  });

  it("index.json giving one file to two references (or one reference two files) is refused, naming both", async () => {
    const dir = copyDir(out);
    const index = JSON.parse(fs.readFileSync(path.join(dir, "index.json"), "utf8"));
    index.push({ ...index.find((e: { ref: string }) => e.ref === full(A)), ref: "docker.io/library/hidden:1" });
    fs.writeFileSync(path.join(dir, "index.json"), JSON.stringify(index));
    resum(dir, "index.json");
    const r = await dp(importArgs(dir));
    assert.match(r.stdout, new RegExp(`${full(A)}\\s+${fileOf(A)}\\s+failed\\s+index.json also lists docker.io/library/hidden:1`));
    assert.match(r.stdout, new RegExp(`docker.io/library/hidden:1\\s+${fileOf(A)}\\s+failed\\s+index.json also lists ${full(A)}`));
    assert.doesNotMatch(r.stdout, new RegExp(`${fileOf(A)}\\s+(imported|skipped)`));
  });
});
