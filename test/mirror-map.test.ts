// images mirror-config and the mirror mapping push will use: flat (default, source registry
// dropped), by-registry, --registry-map, collisions as errors naming both, and the node-side
// configuration for containerd (hosts.toml) and k3s/RKE2 (registries.yaml).

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { collisions, containerdHosts, k3sRegistries, mirrorTarget, parseRegistryMap, type MirrorPlan } from "../src/images/mirror-map.ts";
import { docker, dockerMissing, standInBase } from "./helpers/docker.ts";
import { startRegistry, type Registry } from "./helpers/registry.ts";
import { runDp, tmpdir } from "./helpers/run.ts";

const plan = (p: Partial<MirrorPlan> = {}): MirrorPlan => ({ registry: "registry.example.internal:5000", layout: "flat", maps: new Map(), ...p });

describe("mirror mapping", () => {
  test("flat keeps today's layout; by-registry keeps the source registry; --registry-map wins", () => {
    assert.equal(mirrorTarget("nginx:1.27", plan()), "registry.example.internal:5000/library/nginx:1.27");
    assert.equal(mirrorTarget("quay.io/org/x@sha256:" + "a".repeat(64), plan()), "registry.example.internal:5000/org/x@sha256:" + "a".repeat(64));
    assert.equal(mirrorTarget("nginx:1.27", plan({ layout: "by-registry" })), "registry.example.internal:5000/docker.io/library/nginx:1.27");
    const maps = parseRegistryMap(["quay.io=mirror.internal/quay", "index.docker.io=hub.internal"]);
    assert.equal(mirrorTarget("quay.io/org/x:1", plan({ maps })), "mirror.internal/quay/org/x:1");
    assert.equal(mirrorTarget("nginx", plan({ maps })), "hub.internal/library/nginx:latest");
  });

  test("two sources on one target are a collision naming both; by-registry resolves it", () => {
    const refs = ["docker.io/bitnami/redis:7.2", "quay.io/bitnami/redis:7.2", "nginx:1.27", "docker.io/library/nginx:1.27"];
    assert.deepEqual(collisions(refs, plan()), [{ target: "registry.example.internal:5000/bitnami/redis:7.2", sources: ["docker.io/bitnami/redis:7.2", "quay.io/bitnami/redis:7.2"] }]);
    assert.deepEqual(collisions(refs, plan({ layout: "by-registry" })), []);
  });

  test("containerd hosts.toml and k3s registries.yaml, with a path prefix", () => {
    const files = containerdHosts(["docker.io", "quay.io", "docker.io"], plan({ registry: "reg.internal/mirror", layout: "by-registry" }), "https");
    assert.deepEqual(files.map((f) => f.path), ["/etc/containerd/certs.d/docker.io/hosts.toml", "/etc/containerd/certs.d/quay.io/hosts.toml"]);
    assert.equal(files[0].content, 'server = "https://registry-1.docker.io"\n\n[host."https://reg.internal/v2/mirror/docker.io"]\n  capabilities = ["pull", "resolve"]\n  override_path = true\n');
    const flat = containerdHosts(["quay.io"], plan(), "http")[0].content;
    assert.match(flat, /\[host\."http:\/\/registry\.example\.internal:5000"\]/);
    assert.doesNotMatch(flat, /override_path/);
    const k3s = k3sRegistries(["quay.io"], plan({ registry: "reg.internal/mirror" }), "https").content;
    assert.equal(k3s, 'mirrors:\n  "quay.io":\n    endpoint:\n      - "https://reg.internal"\n    rewrite:\n      "^(.*)$": "mirror/$1"\n');
  });

  test("images mirror-config: output, collision exit 2, bad flags exit 2", async () => {
    const ok = await runDp({}, ["images", "mirror-config", "--registry", "reg.internal:5000", "--image", "nginx:1.27", "--image", "quay.io/org/x:1"]);
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /docker\.io\/library\/nginx:1\.27 -> reg\.internal:5000\/library\/nginx:1\.27/);
    assert.match(ok.stdout, /# \/etc\/containerd\/certs\.d\/quay\.io\/hosts\.toml\nserver = "https:\/\/quay\.io"/);
    const clash = await runDp({}, ["images", "mirror-config", "--registry", "reg.internal", "--image", "docker.io/bitnami/redis:7", "--image", "quay.io/bitnami/redis:7"]);
    assert.equal(clash.code, 2);
    assert.match(clash.stderr, /docker\.io\/bitnami\/redis:7 and quay\.io\/bitnami\/redis:7 would both be pushed as reg\.internal\/bitnami\/redis:7/);
    const fixed = await runDp({}, ["images", "mirror-config", "--registry", "reg.internal", "--layout", "by-registry", "--format", "k3s", "--image", "docker.io/bitnami/redis:7", "--image", "quay.io/bitnami/redis:7"]);
    assert.equal(fixed.code, 0, fixed.stderr);
    assert.match(fixed.stdout, /"\^\(\.\*\)\$": "quay\.io\/\$1"/);
    for (const args of [["--image", "nginx"], ["--registry", "x", "--layout", "tree", "--image", "nginx"], ["--registry", "x", "--registry-map", "nope", "--image", "nginx"], ["--registry", "http://bad host", "--image", "nginx"], ["--registry", "x"]]) {
      const r = await runDp({}, ["images", "mirror-config", ...args]);
      assert.equal(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
      assert.doesNotMatch(r.stderr, /\n\s+at /);
    }
  });
});

// The configuration works: the containerd inside the Docker engine pulls docker.io and quay.io
// names (which do not exist there, and there is no internet) from a local registry through it.
const CONTAINERD = "/var/run/docker/containerd/containerd.sock";
describe("mirror-config drives a real containerd", { skip: dockerMissing() || (!fs.existsSync(CONTAINERD) && "no containerd socket inside the Docker engine") }, () => {
  let reg: Registry;
  const tag = `t${process.pid}`;
  const name = `dp-chart-mirror-${tag}`;
  before(async () => {
    reg = await startRegistry();
    docker(["build", "-q", "-t", name, "-"], { input: `FROM ${standInBase()}\nLABEL which=${name}\n` });
    // flat: REGISTRY/library/NAME; by-registry under a path: REGISTRY/mirror/quay.io/org/NAME
    for (const p of [`library/${name}:1`, `mirror/quay.io/org/${name}:2`]) {
      docker(["tag", name, `${reg.host}/${p}`]);
      docker(["push", `${reg.host}/${p}`]);
      docker(["rmi", `${reg.host}/${p}`]);
    }
    docker(["rmi", name]);
  });
  after(() => reg?.close());

  const pull = async (registry: string, layout: string, ref: string) => {
    const r = await runDp({}, ["images", "mirror-config", "--registry", registry, "--layout", layout, "--plain-http", "--image", ref]);
    assert.equal(r.code, 0, r.stderr);
    const hosts = tmpdir("dp-chart-hosts-");
    for (const part of r.stdout.split("\n# /etc/containerd/certs.d/").slice(1)) {
      const [first, ...rest] = part.split("\n");
      const dir = first.replace(/\/hosts\.toml$/, "");
      fs.mkdirSync(path.join(hosts, dir), { recursive: true });
      fs.writeFileSync(path.join(hosts, dir, "hosts.toml"), rest.join("\n"));
    }
    const ns = `dp-chart-${tag}`;
    const res = spawnSync("ctr", ["--address", CONTAINERD, "-n", ns, "images", "pull", "--hosts-dir", hosts, ref], { encoding: "utf8" });
    spawnSync("ctr", ["--address", CONTAINERD, "-n", ns, "images", "rm", ref]);
    fs.rmSync(hosts, { recursive: true, force: true });
    return res;
  };

  test("flat layout: docker.io/library/NAME is pulled from REGISTRY/library/NAME", async () => {
    const r = await pull(reg.host, "flat", `docker.io/library/${name}:1`);
    assert.equal(r.status, 0, r.stdout + r.stderr);
  });

  test("by-registry under a path: quay.io/org/NAME is pulled from REGISTRY/mirror/quay.io/org/NAME (override_path)", async () => {
    const r = await pull(`${reg.host}/mirror`, "by-registry", `quay.io/org/${name}:2`);
    assert.equal(r.status, 0, r.stdout + r.stderr);
  });

  test("without the configuration the pull fails (the test above is not vacuous)", () => {
    const empty = tmpdir("dp-chart-empty-");
    const r = spawnSync("ctr", ["--address", CONTAINERD, "-n", `dp-chart-${tag}`, "images", "pull", "--hosts-dir", empty, `quay.io/org/${name}:2`], { encoding: "utf8", timeout: 60_000 });
    fs.rmSync(empty, { recursive: true, force: true });
    assert.notEqual(r.status, 0);
  });
});
