// `images push --layout/--registry-map` (issue 14's mirror mapping, follow-up): push puts every
// image exactly where `images mirror-config` tells the nodes to look, because both call
// mirrorTarget(). Real parts: a docker-registry as the source mirror, another as the private
// registry, Docker and skopeo for export/push, and the containerd inside the Docker engine pulling
// the original names (docker.io/..., quay.io/..., which do not exist here) through the printed
// hosts.toml with `ctr --hosts-dir`.

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { docker, dockerMissing } from "./helpers/docker.ts";
import { buildImage, CONTAINERD, ctrIn, dp, dropNamespace, pushTo, rmi } from "./helpers/images.ts";
import { startRegistry, type Registry } from "./helpers/registry.ts";
import { tmpdir } from "./helpers/run.ts";

const NAME = `dp-pushmap-${process.pid}`;
const NS = `dp-pushmap-${process.pid}`;
const ACCEPT = ["application/vnd.oci.image.manifest.v1+json", "application/vnd.oci.image.index.v1+json", "application/vnd.docker.distribution.manifest.v2+json", "application/vnd.docker.distribution.manifest.list.v2+json"].join(", ");
const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

/** The manifest digest REGISTRY serves for REPO:REFERENCE, or the HTTP status when it has none. */
async function served(host: string, repo: string, reference: string): Promise<string | number> {
  const res = await fetch(`http://${host}/v2/${repo}/manifests/${reference}`, { headers: { accept: ACCEPT } });
  await res.arrayBuffer();
  return res.status === 200 ? (res.headers.get("docker-content-digest") ?? "") : res.status;
}

async function catalog(host: string): Promise<string[]> {
  const res = await fetch(`http://${host}/v2/_catalog`);
  return ((await res.json()) as { repositories?: string[] }).repositories ?? [];
}

/** Write the hosts.toml files mirror-config printed into a directory for `ctr --hosts-dir`. */
function hostsDir(printed: string): string {
  const dir = tmpdir("dp-pushmap-hosts-");
  for (const part of printed.split("\n# /etc/containerd/certs.d/").slice(1)) {
    const [first, ...rest] = part.split("\n");
    const sub = first.replace(/\/hosts\.toml$/, "");
    fs.mkdirSync(path.join(dir, sub), { recursive: true });
    fs.writeFileSync(path.join(dir, sub, "hosts.toml"), rest.join("\n"));
  }
  return dir;
}

/** `ref -> target` lines of mirror-config's output. */
const mapped = (printed: string) => new Map([...printed.matchAll(/^#   (\S+) -> (\S+)$/gm)].map((m) => [m[1], m[2]]));
/** IMAGE → PUSHED AS of push's table. */
const pushedAs = (table: string) => new Map([...table.matchAll(/^(\S+)\s+(\S+)\s+pushed\s/gm)].map((m) => [m[1], m[2]]));

describe("images push --layout / --registry-map agree with images mirror-config", { skip: dockerMissing() }, () => {
  let mirror: Registry;
  let other: Registry;
  let out: string;
  let digestA: string;
  let index: { ref: string; manifest: string }[];
  const refs = {
    hub: `docker.io/library/${NAME}:1`,
    hubOrg: `docker.io/org/${NAME}:1`,
    quay: `quay.io/org/${NAME}:1`,
    pinned: "",
  };

  before(async () => {
    // Two different images that the flat layout would both put at REGISTRY/org/NAME:1: docker.io's
    // comes through one mirror, quay.io's through another (a mirror path drops the source registry).
    [mirror, other] = await Promise.all([startRegistry(), startRegistry()]);
    buildImage(`${NAME}:a`, "a");
    buildImage(`${NAME}:b`, "b");
    digestA = pushTo(mirror.host, `${NAME}:a`, `library/${NAME}:1`);
    pushTo(mirror.host, `${NAME}:a`, `org/${NAME}:1`);
    pushTo(other.host, `${NAME}:b`, `org/${NAME}:1`);
    rmi(`${NAME}:a`, `${NAME}:b`);
    refs.pinned = `docker.io/library/${NAME}@${digestA}`;
    out = tmpdir("dp-pushmap-out-");
    const r = await dp(["images", "export", "--out", out, "--image", refs.hub, "--image", refs.hubOrg, "--image", refs.pinned], { BASE_IMAGE_MIRRORS: mirror.host });
    assert.equal(r.status, 0, r.stdout + r.stderr);
    const q = await dp(["images", "export", "--out", out, "--image", refs.quay], { BASE_IMAGE_MIRRORS: other.host });
    assert.equal(q.status, 0, q.stdout + q.stderr);
    index = JSON.parse(fs.readFileSync(path.join(out, "index.json"), "utf8"));
    assert.equal(index.length, 4);
  });
  after(async () => {
    await Promise.all([mirror.close(), other.close()]);
    dropNamespace(NS);
    // What export pulled (by digest too: those have no tag), by image ID.
    const ids = docker(["images", "--format", "{{.Repository}} {{.ID}}"]).split("\n").filter((l) => l.split(" ")[0].includes(NAME)).map((l) => l.split(" ")[1]);
    if (ids.length) rmi(...new Set(ids));
  });

  const manifestOf = (ref: string) => index.find((e) => e.ref === ref)!.manifest;

  it("flat (the default): two sources on one target are exit 2 naming both, and nothing is pushed", async () => {
    const priv = await startRegistry();
    try {
      const r = await dp(["images", "push", "--from", out, "--registry", priv.host]);
      assert.equal(r.status, 2, r.stdout + r.stderr);
      assert.match(r.stderr, new RegExp(`${esc(refs.hubOrg)} and ${esc(refs.quay)} would both be pushed as ${esc(`${priv.host}/org/${NAME}:1`)}`));
      assert.match(r.stderr, /hint=.*--layout by-registry/);
      assert.doesNotMatch(r.stdout, /pushed/);
      assert.deepEqual(await catalog(priv.host), [], "not one image reached the registry");
      // A --registry-map that sends quay.io onto the same place collides too.
      const same = await dp(["images", "push", "--from", out, "--registry", priv.host, "--registry-map", `quay.io=${priv.host}`]);
      assert.equal(same.status, 2, same.stdout + same.stderr);
      assert.deepEqual(await catalog(priv.host), []);
    } finally {
      await priv.close();
    }
  });

  it("--layout by-registry: REGISTRY/docker.io/library/NAME:1 etc., the exported digests; mirror-config's hosts.toml makes containerd pull each there", async () => {
    const priv = await startRegistry();
    try {
      const r = await dp(["images", "push", "--from", out, "--registry", priv.host, "--layout", "by-registry"]);
      assert.equal(r.status, 0, r.stdout + r.stderr);
      assert.equal(await served(priv.host, `docker.io/library/${NAME}`, "1"), manifestOf(refs.hub));
      assert.equal(await served(priv.host, `docker.io/org/${NAME}`, "1"), manifestOf(refs.hubOrg));
      assert.equal(await served(priv.host, `quay.io/org/${NAME}`, "1"), manifestOf(refs.quay));
      assert.equal(await served(priv.host, `docker.io/library/${NAME}`, digestA), digestA, "the pinned digest resolves");
      assert.equal(await served(priv.host, `library/${NAME}`, "1"), 404, "nothing in the flat place");
      assert.notEqual(manifestOf(refs.hubOrg), manifestOf(refs.quay), "two different images, both kept");

      const cfg = await dp(["images", "mirror-config", "--from", out, "--registry", priv.host, "--layout", "by-registry", "--plain-http"]);
      assert.equal(cfg.status, 0, cfg.stderr);
      // Where mirror-config says each image is, is where push put it (a digest-only one under its sha256- tag).
      const said = mapped(cfg.stdout);
      const did = pushedAs(r.stdout);
      assert.equal(said.size, 4);
      for (const [ref, target] of said) assert.equal(did.get(ref), target.replace(/@sha256:/, ":sha256-"), ref);

      const hosts = hostsDir(cfg.stdout);
      const ctr = ctrIn(NS);
      for (const ref of Object.values(refs)) {
        const p = ctr("images", "pull", "--hosts-dir", hosts, ref);
        assert.equal(p.status, 0, `${ref}: ${p.stdout}${p.stderr}`);
        const line = ctr("images", "ls").stdout.split("\n").find((l) => l.startsWith(`${ref} `));
        assert.equal(line?.trim().split(/\s+/)[2], manifestOf(ref), `${ref} is the exported image`);
      }
      // The flat configuration points elsewhere: the pull fails (the check above is not vacuous).
      const flat = await dp(["images", "mirror-config", "--from", out, "--registry", priv.host, "--registry-map", `quay.io=${priv.host}/q`, "--plain-http"]);
      assert.equal(flat.status, 0, flat.stderr);
      const wrong = spawnSync("ctr", ["--address", CONTAINERD, "-n", NS, "images", "pull", "--hosts-dir", hostsDir(flat.stdout), `docker.io/org/${NAME}:1`], { encoding: "utf8", timeout: 60_000 });
      assert.notEqual(wrong.status, 0);
    } finally {
      await priv.close();
    }
  });

  it("--registry-map quay.io=REGISTRY/quay: quay.io's images under that path, the rest flat; containerd pulls both through mirror-config's files", async () => {
    const priv = await startRegistry();
    try {
      const flags = ["--registry", priv.host, "--registry-map", `quay.io=${priv.host}/quay`];
      const r = await dp(["images", "push", "--from", out, ...flags]);
      assert.equal(r.status, 0, r.stdout + r.stderr);
      assert.equal(await served(priv.host, `quay/org/${NAME}`, "1"), manifestOf(refs.quay));
      assert.equal(await served(priv.host, `org/${NAME}`, "1"), manifestOf(refs.hubOrg));
      assert.equal(await served(priv.host, `library/${NAME}`, "1"), manifestOf(refs.hub));
      assert.equal(await served(priv.host, `library/${NAME}`, `sha256-${digestA.slice(7)}`), digestA);

      const cfg = await dp(["images", "mirror-config", "--from", out, ...flags, "--plain-http"]);
      assert.equal(cfg.status, 0, cfg.stderr);
      const did = pushedAs(r.stdout);
      for (const [ref, target] of mapped(cfg.stdout)) assert.equal(did.get(ref), target.replace(/@sha256:/, ":sha256-"), ref);
      const hosts = hostsDir(cfg.stdout);
      const ns = `${NS}-map`;
      try {
        for (const ref of [refs.quay, refs.hubOrg]) {
          const p = ctrIn(ns)("images", "pull", "--hosts-dir", hosts, ref);
          assert.equal(p.status, 0, `${ref}: ${p.stdout}${p.stderr}`);
          const line = ctrIn(ns)("images", "ls").stdout.split("\n").find((l) => l.startsWith(`${ref} `));
          assert.equal(line?.trim().split(/\s+/)[2], manifestOf(ref));
        }
      } finally {
        dropNamespace(ns);
      }
    } finally {
      await priv.close();
    }
  });

  it("bad mapping flags are exit 2 before anything is read or pushed; --format is mirror-config's only", async () => {
    for (const args of [["--layout", "tree"], ["--registry-map", "nope"], ["--registry-map", "quay.io=bad host"], ["--format", "k3s"], ["--registry", "http://bad host"]]) {
      const r = await dp(["images", "push", "--from", out, "--registry", "127.0.0.1:1", ...args]);
      assert.equal(r.status, 2, `${args.join(" ")}: ${r.stderr}`);
      assert.match(r.stderr, /hint=|--layout|--registry-map|unknown flag|--registry/);
      assert.doesNotMatch(r.stderr, /\n\s+at /);
    }
  });
});
