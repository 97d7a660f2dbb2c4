// OFFLINE-IMAGES.md's runbook, end to end, with the fixture chart test/charts/offline (a parent
// with an appVersion-default tag, a hook Job, an enabled and a disabled subchart), each command in
// the shape the document gives it: list a packaged chart with -f and --set; export through
// scripts/export-helm-images.sh (mirrors, as build.sh uses them) and with `images export --chart`
// (built-in renderer and real helm); `sha256sum -c SHA256SUMS`; import into containerd; push with
// REGISTRY_USERNAME + REGISTRY_PASSWORD_FILE; mirror-config, whose hosts.toml then lets the
// containerd inside the Docker engine pull the original names from the private registry.

import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { docker, dockerMissing } from "./helpers/docker.ts";
import { buildImage, CONTAINERD, ctrIn, dp, dropNamespace, pushTo, rmi } from "./helpers/images.ts";
import { k8sTool } from "./helpers/k8s-tools.ts";
import { startRegistry, type Registry } from "./helpers/registry.ts";
import { cleanEnv, command, exec, ROOT, tmpdir } from "./helpers/run.ts";

const NAME = `dp-chartx-${process.pid}`;
const NS = `dp-chartx-${process.pid}`;
const CHART = path.join(ROOT, "test/charts/offline");
const AUTH = { user: "ops", password: `chartx-${process.pid}-pw` };
const REFS = [`docker.io/acme/${NAME}-web:v1.0`, `docker.io/acme/${NAME}-worker:3`, `quay.io/acme/${NAME}-migrate:2`];

/** The manifest digest REGISTRY serves for REPO:REFERENCE, or the status. */
async function served(host: string, repo: string, reference: string, auth?: typeof AUTH): Promise<string | number> {
  const headers: Record<string, string> = { accept: "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json" };
  if (auth) headers.authorization = `Basic ${Buffer.from(`${auth.user}:${auth.password}`).toString("base64")}`;
  const res = await fetch(`http://${host}/v2/${repo}/manifests/${reference}`, { headers });
  await res.arrayBuffer();
  return res.status === 200 ? (res.headers.get("docker-content-digest") ?? "") : res.status;
}

const refsOf = (dir: string) => (JSON.parse(fs.readFileSync(path.join(dir, "index.json"), "utf8")) as { ref: string }[]).map((e) => e.ref).sort();

describe("the OFFLINE-IMAGES.md runbook with a chart, against real registries and containerd", { skip: dockerMissing() }, () => {
  let mirror: Registry;
  let priv: Registry;
  let work: string;
  let values: string;
  let tgz: string;
  let images: string;
  const digests = new Map<string, string>();
  const helm = () => k8sTool("helm");

  before(async () => {
    [mirror, priv] = await Promise.all([startRegistry(), startRegistry(AUTH)]);
    // As a mirror of Docker Hub and quay.io holds them: the source registry dropped from the path.
    for (const [i, ref] of REFS.entries()) {
      const local = `${NAME}-${i}:x`;
      buildImage(local, ref);
      digests.set(ref, pushTo(mirror.host, local, ref.replace(/^[^/]+\//, "")));
      rmi(local);
    }
    work = tmpdir("dp-chartx-");
    values = path.join(work, "my-values.yaml");
    fs.writeFileSync(values, `image:\n  repository: acme/${NAME}-web\nmigrate:\n  image: quay.io/acme/${NAME}-migrate:2\nworker:\n  image:\n    repository: acme/${NAME}-worker\n`);
    // As `helm pull` leaves a chart: a packaged .tgz, subcharts inside.
    execFileSync(helm(), ["package", CHART, "--destination", work], { stdio: "ignore" });
    tgz = path.join(work, "offline-0.1.0.tgz");
    images = path.join(work, "images");
  });
  after(async () => {
    await Promise.all([mirror.close(), priv.close()]);
    dropNamespace(NS);
    const ids = docker(["images", "--format", "{{.Repository}} {{.ID}}"]).split("\n").filter((l) => l.split(" ")[0].includes(NAME)).map((l) => l.split(" ")[1]);
    if (ids.length) rmi(...new Set(ids));
  });

  it("1. list: images list --chart ./CHART.tgz -f values.yaml --set ... (built-in and helm agree; the disabled subchart only with --all)", async () => {
    for (const render of ["builtin", "helm"]) {
      const r = await dp(["images", "list", "--chart", tgz, "-f", values, "--set", "global.imageRegistry=mirror.example.internal", "--render", render, "--json"], { HELM_BIN: helm() });
      assert.equal(r.status, 0, r.stderr);
      assert.deepEqual((JSON.parse(r.stdout) as { ref: string }[]).map((i) => i.ref), REFS, render);
    }
    const all = await dp(["images", "list", "--chart", tgz, "-f", values, "--all", "--render", "builtin"]);
    assert.match(all.stdout, /docker\.io\/acme\/offline-extra:1\s+\[disabled: offline\/charts\/extra: condition extra\.enabled is false\]/);
  });

  it("2. export: scripts/export-helm-images.sh --chart chart/ -f my-values.yaml --out images/ with BASE_IMAGE_MIRRORS; 3. sha256sum -c SHA256SUMS", async () => {
    // The script as shipped, next to no dist/: it runs the download-package on PATH, the build under test.
    const tree = tmpdir("dp-chartx-script-");
    fs.mkdirSync(path.join(tree, "scripts"));
    fs.copyFileSync(path.join(ROOT, "scripts/export-helm-images.sh"), path.join(tree, "scripts/export-helm-images.sh"));
    const bin = tmpdir("dp-chartx-bin-");
    const [cmd, argv] = command([]);
    fs.writeFileSync(path.join(bin, "download-package"), `#!/bin/sh\nexec ${[cmd, ...argv].map((a) => `'${a}'`).join(" ")} "$@"\n`, { mode: 0o755 });
    const r = await exec("bash", [path.join(tree, "scripts/export-helm-images.sh"), "--chart", CHART, "-f", values, "--out", images], {
      env: cleanEnv({ BASE_IMAGE_MIRRORS: `127.0.0.1:1 ${mirror.host}`, PATH: `${bin}:/usr/sbin:/usr/bin:/sbin:/bin`, MIRROR_TIMEOUT: "10" }),
    });
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.deepEqual(refsOf(images), REFS);
    const index = JSON.parse(fs.readFileSync(path.join(images, "index.json"), "utf8")) as { ref: string; manifest: string }[];
    for (const e of index) assert.equal(e.manifest, digests.get(e.ref), `${e.ref}: the registry's own manifest`);
    const check = spawnSync("sha256sum", ["-c", "SHA256SUMS"], { cwd: images, encoding: "utf8" });
    assert.equal(check.status, 0, check.stdout + check.stderr);
    assert.match(check.stdout, /index\.json: OK/);
  });

  it("images export --chart CHART.tgz (helm, and the built-in renderer): the same images, the same files", async () => {
    for (const render of ["helm", "builtin"]) {
      const out = tmpdir(`dp-chartx-${render}-`);
      const r = await dp(["images", "export", "--out", out, "--chart", tgz, "-f", values, "--render", render], { BASE_IMAGE_MIRRORS: mirror.host, HELM_BIN: helm() });
      assert.equal(r.status, 0, r.stdout + r.stderr);
      assert.deepEqual(refsOf(out), REFS, render);
      assert.deepEqual(fs.readdirSync(out).sort(), fs.readdirSync(images).sort());
      // The same images in the same files: reference, file, image ID, manifest (the archives' own bytes carry times).
      const facts = (dir: string) => (JSON.parse(fs.readFileSync(path.join(dir, "index.json"), "utf8")) as Record<string, string>[]).map((e) => [e.ref, e.file, e.id, e.manifest, e.platform]);
      assert.deepEqual(facts(out), facts(images), render);
    }
  });

  it("4a. import by hand: images import --from images/ --runtime containerd --address SOCKET --ctr CTR", async () => {
    const ctrBin = execFileSync("sh", ["-c", "command -v ctr"], { encoding: "utf8" }).trim();
    const r = await dp(["images", "import", "--from", images, "--runtime", "containerd", "--address", CONTAINERD, "--ctr", ctrBin, "--namespace", NS, "--policy", "fail"]);
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /imported 3, skipped 0, failed 0 of 3/);
    const names = ctrIn(NS)("images", "ls", "-q").stdout.split("\n").filter(Boolean).sort();
    assert.deepEqual(names, REFS);
  });

  it("4b. push with REGISTRY_USERNAME + REGISTRY_PASSWORD_FILE; mirror-config's hosts.toml makes containerd pull the original names from there", async () => {
    const pw = path.join(tmpdir("dp-chartx-secret-"), "registry-password");
    fs.writeFileSync(pw, `${AUTH.password}\n`, { mode: 0o600 });
    const r = await dp(["images", "push", "--from", images, "--registry", priv.host], { REGISTRY_USERNAME: AUTH.user, REGISTRY_PASSWORD_FILE: pw });
    assert.equal(r.status, 0, r.stdout + r.stderr);
    for (const ref of REFS) {
      const [repo, tag] = ref.replace(/^[^/]+\//, "").split(":");
      assert.equal(await served(priv.host, repo, tag, AUTH), digests.get(ref), `${priv.host}/${repo}:${tag}`);
    }
    const k3s = await dp(["images", "mirror-config", "--from", images, "--registry", priv.host, "--format", "k3s"]);
    assert.equal(k3s.status, 0, k3s.stderr);
    assert.match(k3s.stdout, /mirrors:\n {2}"docker\.io":\n/);
    // The nodes' side, through a registry without a login (ctr would need the password in its arguments).
    const open = await startRegistry();
    try {
      const p = await dp(["images", "push", "--from", images, "--registry", open.host]);
      assert.equal(p.status, 0, p.stdout + p.stderr);
      await pullThrough(open.host);
    } finally {
      await open.close();
    }
  });

  async function pullThrough(registry: string) {
    const cfg = await dp(["images", "mirror-config", "--from", images, "--registry", registry, "--plain-http"]);
    assert.equal(cfg.status, 0, cfg.stderr);
    const hosts = tmpdir("dp-chartx-hosts-");
    for (const part of cfg.stdout.split("\n# /etc/containerd/certs.d/").slice(1)) {
      const [first, ...rest] = part.split("\n");
      fs.mkdirSync(path.join(hosts, path.dirname(first)), { recursive: true });
      fs.writeFileSync(path.join(hosts, first), rest.join("\n"));
    }
    const ns = `${NS}-pull`;
    try {
      for (const ref of REFS) {
        const p = ctrIn(ns)("images", "pull", "--hosts-dir", hosts, ref);
        assert.equal(p.status, 0, `${ref}: ${p.stdout}${p.stderr}`);
        const line = ctrIn(ns)("images", "ls").stdout.split("\n").find((l) => l.startsWith(`${ref} `));
        assert.equal(line?.trim().split(/\s+/)[2], digests.get(ref), ref);
      }
    } finally {
      dropNamespace(ns);
    }
  }
});
