// Digest-pinned references end to end (issue 15, item 2): export keeps the registry's own
// manifest and blobs, so the pinned digest survives export → file → push into another registry
// (htpasswd, password from a file) and → import into containerd; Docker, which cannot name a
// loaded image by digest, gives a failed row with the reason; a damaged or altered archive is
// refused before any runtime or registry sees it.

import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { dockerMissing } from "./helpers/docker.ts";
import { buildImage, CONTAINERD, ctrIn, dp, dropNamespace, pushTo, rmi } from "./helpers/images.ts";
import { startRegistry, type Registry } from "./helpers/registry.ts";
import { tmpdir } from "./helpers/run.ts";

const NAME = `dp-digest-${process.pid}`;
const NS = `dp-digest-${process.pid}`;
const ctr = ctrIn(NS);
const AUTH = { user: "pusher", password: `pw-${process.pid}-secret` };
const sha256 = (b: Buffer | string) => `sha256:${createHash("sha256").update(b).digest("hex")}`;
const ACCEPT = ["application/vnd.oci.image.manifest.v1+json", "application/vnd.oci.image.index.v1+json", "application/vnd.docker.distribution.manifest.v2+json", "application/vnd.docker.distribution.manifest.list.v2+json"].join(", ");

/** The manifest a registry serves under REPO and REFERENCE (tag or digest), read through its API. */
async function registryManifest(host: string, repo: string, reference: string, auth?: { user: string; password: string }) {
  const headers: Record<string, string> = { accept: ACCEPT };
  if (auth) headers.authorization = `Basic ${Buffer.from(`${auth.user}:${auth.password}`).toString("base64")}`;
  const res = await fetch(`http://${host}/v2/${repo}/manifests/${reference}`, { headers });
  return { status: res.status, body: Buffer.from(await res.arrayBuffer()) };
}

/** Unpack FILE (a .tar.gz), let CHANGE alter the tree, pack it again in place; SHA256SUMS follows, as a careful forger would do. */
function alter(dir: string, file: string, change: (tree: string) => void) {
  const tree = tmpdir("dp-digest-tree-");
  execFileSync("tar", ["-xzf", path.join(dir, file), "-C", tree]);
  change(tree);
  execFileSync("tar", ["-czf", path.join(dir, file), "-C", tree, "."]);
  resum(dir);
}

function resum(dir: string) {
  const text = ["index.json", ...fs.readdirSync(dir).filter((f) => f.endsWith(".tar.gz"))].sort().map((f) => `${sha256(fs.readFileSync(path.join(dir, f))).slice(7)}  ${f}\n`).join("");
  fs.writeFileSync(path.join(dir, "SHA256SUMS"), text);
}

describe("digest-pinned references", { skip: dockerMissing() }, () => {
  let mirror: Registry;
  let priv: Registry;
  let out: string;
  let ref: string;
  let id: string;
  let digest: string;
  let passwordFile: string;

  before(async () => {
    [mirror, priv] = await Promise.all([startRegistry(), startRegistry(AUTH)]);
    id = buildImage(`${NAME}:build`);
    digest = pushTo(mirror.host, `${NAME}:build`, `library/${NAME}:build`);
    rmi(`${NAME}:build`);
    ref = `docker.io/library/${NAME}@${digest}`;
    out = tmpdir("dp-digest-out-");
    passwordFile = path.join(tmpdir("dp-digest-secret-"), "password");
    fs.writeFileSync(passwordFile, `${AUTH.password}\n`, { mode: 0o600 });
  });
  after(async () => {
    await Promise.all([mirror.close(), priv.close()]);
    dropNamespace(NS);
    rmi(`${mirror.host}/library/${NAME}@${digest}`);
  });

  it("export pulls by digest through the mirror and keeps the registry's own manifest in the file", async () => {
    // What a killed run leaves: a half-copied layout directory, removed at the next start.
    fs.mkdirSync(path.join(out, "old.tar.gz.layout.tmp"));
    fs.writeFileSync(path.join(out, "old.tar.gz.layout.tmp", "blob"), "partial");
    const r = await dp(["images", "export", "--out", out, "--image", `${NAME}@${digest}`], { BASE_IMAGE_MIRRORS: mirror.host });
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.deepEqual(fs.readdirSync(out).filter((f) => f.endsWith(".tmp")), []);
    const [entry] = JSON.parse(fs.readFileSync(path.join(out, "index.json"), "utf8"));
    assert.deepEqual([entry.ref, entry.id, entry.digest, entry.manifest], [ref, id, digest, digest]);
    assert.equal(entry.file, `${NAME}@${digest.replace(":", "-")}.tar.gz`);
    const tree = tmpdir("dp-digest-tree-");
    execFileSync("tar", ["-xzf", path.join(out, entry.file), "-C", tree]);
    const index = JSON.parse(fs.readFileSync(path.join(tree, "index.json"), "utf8"));
    assert.equal(index.manifests[0].digest, digest, "the OCI layout names the pinned manifest");
    const bytes = fs.readFileSync(path.join(tree, "blobs/sha256", digest.slice(7)));
    assert.equal(sha256(bytes), digest, "the manifest's bytes are the registry's");
    assert.deepEqual(bytes, (await registryManifest(mirror.host, `library/${NAME}`, digest)).body);
  });

  it("import into containerd: the reference is named and its pinned manifest is in the content store", async () => {
    const r = await dp(["images", "import", "--from", out, "--runtime", "containerd", "--address", CONTAINERD, "--namespace", NS]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`${ref.replace(/[.]/g, "\\.")}\\s+\\S+\\s+imported`));
    const line = ctr("images", "ls").stdout.split("\n").find((l) => l.startsWith(`${ref} `));
    assert.ok(line, "containerd names the image by digest");
    assert.equal(line.trim().split(/\s+/)[2], digest, "its target is the registry's own manifest");
    const got = ctr("content", "get", digest);
    assert.equal(got.status, 0, `the pinned manifest ${digest} is in containerd: ${got.stderr}`);
    assert.equal(sha256(got.stdout), digest);
    assert.equal(JSON.parse(got.stdout).config.digest, id);
    const again = await dp(["images", "import", "--from", out, "--runtime", "containerd", "--address", CONTAINERD, "--namespace", NS]);
    assert.match(again.stdout, /skipped\s+already present, same image ID/);
  });

  it("import into Docker: reported as failed with the reason, never 'imported'", async () => {
    const r = await dp(["images", "import", "--from", out, "--runtime", "docker", "--policy", "fail"]);
    assert.equal(r.status, 7, r.stdout + r.stderr);
    assert.match(r.stdout, /failed\s+Docker cannot name an image by digest/);
  });

  it("push (htpasswd, password from a file): the target registry serves the pinned digest, the same manifest bytes", async () => {
    // skopeo seen through a wrapper: its arguments and its authfile's mode; the run's temporary files in a TMPDIR of our own.
    const wrap = tmpdir("dp-digest-wrap-");
    const seen = path.join(wrap, "seen");
    fs.writeFileSync(path.join(wrap, "skopeo"), `#!/bin/sh\necho "ARGS $*" >> ${seen}\nprev=""\nfor a in "$@"; do [ "$prev" = --authfile ] && stat -c "MODE %a" "$a" >> ${seen}; prev="$a"; done\nexec /usr/bin/skopeo "$@"\n`, { mode: 0o755 });
    const tmp = tmpdir("dp-digest-tmp-");
    const r = await dp(["images", "push", "--from", out, "--registry", priv.host], { REGISTRY_USERNAME: AUTH.user, REGISTRY_PASSWORD_FILE: passwordFile, PATH: `${wrap}:${process.env.PATH}`, TMPDIR: tmp });
    assert.equal(r.status, 0, r.stdout + r.stderr);
    const log = fs.readFileSync(seen, "utf8");
    assert.match(log, /ARGS copy .*--preserve-digests.*--authfile \S+.*oci-archive:/);
    assert.match(log, /MODE 600/);
    assert.ok(!log.includes(AUTH.password), "no password on skopeo's command line");
    assert.deepEqual(fs.readdirSync(tmp), [], "the authfile and its directory are removed");
    assert.match(r.stdout, new RegExp(`pushed\\s+${digest}, the pinned digest: ${priv.host.replace(/[.]/g, "\\.")}/library/${NAME}@${digest} resolves`));
    assert.ok(!(r.stdout + r.stderr).includes(AUTH.password), "the password is never printed");
    const byDigest = await registryManifest(priv.host, `library/${NAME}`, digest, AUTH);
    assert.equal(byDigest.status, 200, `${priv.host}/library/${NAME}@${digest} resolves`);
    assert.equal(sha256(byDigest.body), digest);
    const byTag = await registryManifest(priv.host, `library/${NAME}`, digest.replace(":", "-"), AUTH);
    assert.equal(sha256(byTag.body), digest, "the tag derived from the digest names the same manifest");
  });

  it("a tag whose registry serves an OCI manifest: push keeps the source registry's digest too (docker push would re-make it)", async () => {
    const tagged = `${NAME}-tag:1`;
    buildImage(tagged, "tagged");
    // As BuildKit and most CI builders publish: an OCI manifest, which docker push never writes.
    execFileSync("skopeo", ["copy", "--quiet", "--format", "oci", "--dest-tls-verify=false", `docker-daemon:${tagged}`, `docker://${mirror.host}/library/${tagged}`]);
    const served = await registryManifest(mirror.host, `library/${NAME}-tag`, "1");
    assert.match(served.body.toString(), /application\/vnd\.oci\.image\.manifest\.v1\+json/);
    const source = sha256(served.body);
    rmi(tagged);
    const dir = tmpdir("dp-digest-tag-");
    const e = await dp(["images", "export", "--out", dir, "--image", tagged], { BASE_IMAGE_MIRRORS: mirror.host });
    assert.equal(e.status, 0, e.stdout + e.stderr);
    const p = await dp(["images", "push", "--from", dir, "--registry", priv.host], { REGISTRY_USERNAME: AUTH.user, REGISTRY_PASSWORD_FILE: passwordFile });
    assert.equal(p.status, 0, p.stdout + p.stderr);
    const m = await registryManifest(priv.host, `library/${NAME}-tag`, "1", AUTH);
    assert.equal(sha256(m.body), source, "the same manifest as the source registry's");
    // The same file still loads into Docker (its manifest.json points at the OCI layout's blobs).
    rmi(tagged);
    const d = await dp(["images", "import", "--from", dir, "--runtime", "docker", "--policy", "fail"]);
    assert.equal(d.status, 0, d.stdout + d.stderr);
    assert.match(d.stdout, /dp-digest-\d+-tag:1\s+\S+\s+imported/);
    rmi(tagged);
  });

  it("a digest naming a multi-platform index: every platform kept; push serves that index digest; containerd resolves it for the node's platform", async () => {
    const repo = `library/${NAME}-multi`;
    const ids = [buildImage(`${NAME}-multi:amd64`, "amd64"), buildImage(`${NAME}-multi:other`, "other")];
    const children = [pushTo(mirror.host, `${NAME}-multi:amd64`), pushTo(mirror.host, `${NAME}-multi:other`)];
    rmi(`${NAME}-multi:amd64`, `${NAME}-multi:other`);
    const sizes = await Promise.all(children.map(async (d) => (await registryManifest(mirror.host, repo, d)).body.length));
    const media = "application/vnd.docker.distribution.manifest.v2+json";
    const list = Buffer.from(JSON.stringify({
      schemaVersion: 2,
      mediaType: "application/vnd.docker.distribution.manifest.list.v2+json",
      manifests: [
        { mediaType: media, digest: children[0], size: sizes[0], platform: { architecture: "amd64", os: "linux" } },
        { mediaType: media, digest: children[1], size: sizes[1], platform: { architecture: "arm64", os: "linux" } },
      ],
    }));
    const put = await fetch(`http://${mirror.host}/v2/${repo}/manifests/multi`, { method: "PUT", headers: { "content-type": "application/vnd.docker.distribution.manifest.list.v2+json" }, body: list });
    assert.equal(put.status, 201);
    const index = sha256(list);
    const dir = tmpdir("dp-digest-multi-");
    const e = await dp(["images", "export", "--out", dir, "--image", `${NAME}-multi@${index}`, "--platform", "linux/amd64"], { BASE_IMAGE_MIRRORS: mirror.host });
    assert.equal(e.status, 0, e.stdout + e.stderr);
    const [entry] = JSON.parse(fs.readFileSync(path.join(dir, "index.json"), "utf8"));
    assert.deepEqual([entry.id, entry.manifest], [ids[0], index]);
    const p = await dp(["images", "push", "--from", dir, "--registry", priv.host], { REGISTRY_USERNAME: AUTH.user, REGISTRY_PASSWORD_FILE: passwordFile });
    assert.equal(p.status, 0, p.stdout + p.stderr);
    const served = await registryManifest(priv.host, repo, index, AUTH);
    assert.equal(sha256(served.body), index, "the target registry serves the pinned index");
    for (const child of children) assert.equal((await registryManifest(priv.host, repo, child, AUTH)).status, 200, `platform image ${child} is there too`);
    // The same index by its tag: the node's platform image is kept, byte for byte, and pushed under the tag.
    const byTag = tmpdir("dp-digest-multitag-");
    const t = await dp(["images", "export", "--out", byTag, "--image", `${NAME}-multi:multi`, "--platform", "linux/amd64"], { BASE_IMAGE_MIRRORS: mirror.host });
    assert.equal(t.status, 0, t.stdout + t.stderr);
    const [tagEntry] = JSON.parse(fs.readFileSync(path.join(byTag, "index.json"), "utf8"));
    assert.deepEqual([tagEntry.id, tagEntry.digest, tagEntry.manifest], [ids[0], index, children[0]]);
    const tp = await dp(["images", "push", "--from", byTag, "--registry", priv.host], { REGISTRY_USERNAME: AUTH.user, REGISTRY_PASSWORD_FILE: passwordFile });
    assert.equal(tp.status, 0, tp.stdout + tp.stderr);
    assert.equal(sha256((await registryManifest(priv.host, repo, "multi", AUTH)).body), children[0]);
    rmi(`${NAME}-multi:multi`);
    const ns = `${NS}-multi`;
    try {
      const i = await dp(["images", "import", "--from", dir, "--runtime", "containerd", "--address", CONTAINERD, "--namespace", ns, "--platform", "linux/amd64", "--policy", "fail"]);
      assert.equal(i.status, 0, i.stdout + i.stderr);
      assert.match(i.stdout, /imported\s+sha256:/);
      const ref = `docker.io/${repo}@${index}`;
      const line = ctrIn(ns)("images", "ls").stdout.split("\n").find((l) => l.startsWith(`${ref} `));
      assert.ok(line, "containerd names the image by the index digest");
      assert.equal(line.trim().split(/\s+/)[2], index, "and it is the registry's index itself");
    } finally {
      dropNamespace(ns);
      rmi(`${mirror.host}/${repo}@${index}`);
    }
  });

  it("a layer altered inside the archive (SHA256SUMS recomputed): refused by import and push, nothing reaches the registry", async () => {
    const dir = tmpdir("dp-digest-bad-");
    for (const f of fs.readdirSync(out)) fs.copyFileSync(path.join(out, f), path.join(dir, f));
    const [entry] = JSON.parse(fs.readFileSync(path.join(dir, "index.json"), "utf8"));
    alter(dir, entry.file, (tree) => {
      const manifest = JSON.parse(fs.readFileSync(path.join(tree, "blobs/sha256", digest.slice(7)), "utf8"));
      const layer = path.join(tree, "blobs/sha256", manifest.layers[0].digest.slice(7));
      const b = fs.readFileSync(layer);
      b[b.length - 1] ^= 0xff;
      fs.writeFileSync(layer, b);
    });
    const ns = `${NS}-bad`;
    try {
      const i = await dp(["images", "import", "--from", dir, "--runtime", "containerd", "--address", CONTAINERD, "--namespace", ns, "--policy", "fail"]);
      assert.equal(i.status, 7, i.stdout + i.stderr);
      assert.match(i.stdout, /failed\s+blobs\/sha256\/[0-9a-f]{64} does not match its digest: the archive is corrupted or altered/);
      assert.equal(ctrIn(ns)("images", "ls", "-q").stdout.trim(), "");
    } finally {
      dropNamespace(ns);
    }
    const fresh = await startRegistry();
    try {
      const p = await dp(["images", "push", "--from", dir, "--registry", fresh.host]);
      assert.equal(p.status, 7, p.stdout + p.stderr);
      assert.match(p.stdout, /failed\s+.*does not match its digest/);
      assert.equal((await registryManifest(fresh.host, `library/${NAME}`, digest)).status, 404);
    } finally {
      await fresh.close();
    }
  });

  it("an archive whose manifest is not the one index.json recorded: refused", async () => {
    const dir = tmpdir("dp-digest-wrong-");
    for (const f of fs.readdirSync(out)) fs.copyFileSync(path.join(out, f), path.join(dir, f));
    const index = JSON.parse(fs.readFileSync(path.join(dir, "index.json"), "utf8"));
    const other = `sha256:${"1".repeat(64)}`;
    index[0].manifest = other;
    fs.writeFileSync(path.join(dir, "index.json"), JSON.stringify(index));
    resum(dir);
    const r = await dp(["images", "import", "--from", dir, "--runtime", "containerd", "--address", CONTAINERD, "--namespace", `${NS}-wrong`, "--policy", "fail"]);
    dropNamespace(`${NS}-wrong`);
    assert.equal(r.status, 7, r.stdout + r.stderr);
    assert.match(r.stdout, new RegExp(`failed\\s+the archive carries manifest ${digest}, index.json says ${other}`));
  });
});
