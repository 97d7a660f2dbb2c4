// Packages from an OCI registry (oci://): pure parts first, then against real Distribution
// registries (Debian's docker-registry) with htpasswd and token auth, a pull-through mirror,
// a misbehaving proxy in front, and `package push` / `package pull`.

import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import zlib from "node:zlib";
import { after, before, describe, it } from "node:test";
import { parseConfig } from "../src/cli/config.ts";
import { AppError, ArchiveError, UsageError } from "../src/errors.ts";
import { chooseLayer, choosePlatform, nodePlatform, parseManifest, parsePlatform, type Descriptor } from "../src/transfer/oci/manifest.ts";
import { formatReference, parseReference } from "../src/transfer/oci/reference.ts";
import { dockerConfigEntry, normaliseRegistryKey, parseChallenge } from "../src/transfer/oci/auth.ts";
import { ARTIFACT_TYPE, buildManifest } from "../src/transfer/oci/push.ts";
import { archiveTime, entryHeader } from "../src/transfer/oci/tar-writer.ts";
import { makeCerts, makeTree } from "./helpers/fixtures.ts";
import { hasRegistry, startOciRegistry, startRegistryProxy, startTokenServer, type OciRegistry, type RegistryProxy, type TokenServer } from "./helpers/oci.ts";
import { freePort } from "./helpers/registry.ts";
import { cleanEnv, command, exec, runDp, snapshot, tmpdir, watchCommandLines } from "./helpers/run.ts";
import { startProxy, startServer, type TestServer } from "./helpers/server.ts";

const D = "sha256:" + "a".repeat(64);
const D2 = "sha256:" + "b".repeat(64);

describe("oci references", () => {
  it("host, port, nested repository, tag, digest", () => {
    assert.deepEqual(parseReference("oci://registry.example.internal:5000/team/app/config:1.2.3"), { registry: "registry.example.internal:5000", repository: "team/app/config", tag: "1.2.3", digest: undefined });
    assert.deepEqual(parseReference(`oci://r.example/pkg@${D}`), { registry: "r.example", repository: "pkg", tag: undefined, digest: D });
    assert.deepEqual(parseReference(`oci://127.0.0.1:5000/a/b:v1@${D}`), { registry: "127.0.0.1:5000", repository: "a/b", tag: "v1", digest: D });
    assert.deepEqual(parseReference("oci://[::1]:5000/pkg"), { registry: "[::1]:5000", repository: "pkg", tag: "latest", digest: undefined });
    assert.equal(parseReference("OCI://Reg.Example/x_y__z.w-v:T_1").registry, "reg.example");
    assert.equal(formatReference(parseReference(`oci://r.example/a/b:v1@${D}`)), `oci://r.example/a/b:v1@${D}`);
  });
  for (const bad of [
    "oci://",
    "oci://host",
    "oci://host/",
    "oci:///repo:tag",
    "oci://host/Repo:tag",
    "oci://host/repo:",
    "oci://host/repo:.bad",
    "oci://host/repo@sha256:abc",
    `oci://host/repo@md5:${"a".repeat(32)}`,
    `oci://host/repo@sha256:${"A".repeat(64)}`,
    "oci://user:pw@host/repo:tag",
    "oci://host:99999/repo",
    "oci://host:0/repo",
    "oci://ho st/repo",
    "oci://host/repo//x",
    "oci://host/-repo",
    "oci://host/repo:tag?x=1",
    "http://host/repo:tag",
    `oci://host/repo:${"t".repeat(129)}`,
  ]) {
    it(`malformed: ${bad.slice(0, 60)} → usage error`, () => {
      assert.throws(() => parseReference(bad), (e: unknown) => e instanceof UsageError && e.exitCode === 2 && /not a valid OCI reference/.test(e.message) && /oci:\/\//.test(e.hint));
    });
  }
  it("the option table accepts oci:// and refuses mixing it with http, or with a checksum URL", () => {
    const a = parseConfig([], { PACKAGE_URL: "oci://r.example/a:1 oci://m.example/cache/a:1", PACKAGE_PLATFORM: "linux/arm64/v8", PACKAGE_PLAIN_HTTP: "true" });
    assert.equal(a.kind, "run");
    const c = (a as { result: { config: { urls: string[]; plainHttp: boolean; platform: string } } }).result.config;
    assert.deepEqual([c.urls.length, c.plainHttp, c.platform], [2, true, "linux/arm64/v8"]);
    const err = (env: Record<string, string>) => assert.throws(() => parseConfig([], env), (e: unknown) => e instanceof AppError && e.exitCode === 2);
    err({ PACKAGE_URL: "oci://r.example/a:1 https://h/p.tgz" });
    err({ PACKAGE_URL: "oci://r.example/a:1", PACKAGE_CHECKSUM_URL: "https://h/SHA256SUMS" });
    err({ PACKAGE_URL: "oci://r.example/A:1" });
    err({ PACKAGE_URL: "oci://r.example/a:1", PACKAGE_PLATFORM: "amd64" });
    err({ PACKAGE_URL: "oci://r.example/a:1", PACKAGE_REGISTRY_CONFIG: "/x", PACKAGE_TOKEN_FILE: "/y" });
    assert.equal(parseConfig(["--plain-http", "--url", "oci://r.example/a:1"], {}).kind, "run");
  });
});

describe("oci registry auth", () => {
  it("WWW-Authenticate challenges", () => {
    assert.deepEqual(parseChallenge('Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull,push"'), {
      scheme: "bearer",
      params: { realm: "https://auth.example/token", service: "registry.example", scope: "repository:a/b:pull,push" },
    });
    assert.deepEqual(parseChallenge('Basic realm="x \\"y\\""'), { scheme: "basic", params: { realm: 'x "y"' } });
    assert.deepEqual(parseChallenge("Bearer realm=https://a/t, service=s"), { scheme: "bearer", params: { realm: "https://a/t", service: "s" } });
    assert.equal(parseChallenge(undefined), undefined);
  });
  it("docker config.json entries, whatever way the key is written", () => {
    const text = JSON.stringify({ auths: { "https://reg.example:5000/v2/": { auth: Buffer.from("u:p:with:colons").toString("base64") }, "other.example": { username: "o", password: "q" } } });
    assert.deepEqual(dockerConfigEntry(text, "reg.example:5000"), { username: "u", password: "p:with:colons" });
    assert.deepEqual(dockerConfigEntry(text, "other.example"), { username: "o", password: "q" });
    assert.equal(dockerConfigEntry(text, "third.example"), undefined);
    assert.equal(normaliseRegistryKey("HTTP://Reg.Example/v1/"), "reg.example");
    assert.throws(() => dockerConfigEntry("not json", "x"), (e: unknown) => e instanceof UsageError && !/not json/.test(e.message.slice(30)));
    assert.throws(() => dockerConfigEntry("{}", "x"), UsageError);
    assert.throws(() => dockerConfigEntry(JSON.stringify({ auths: { x: { auth: Buffer.from("nocolon").toString("base64") } } }), "x"), UsageError);
  });
});

describe("oci push artifact", () => {
  const layer = { mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", digest: D, size: 10, title: "cfg.tar.gz" };
  it("the manifest: artifactType, the empty config, the titled layer; a creation time only from SOURCE_DATE_EPOCH", () => {
    const m = JSON.parse(buildManifest(layer, {}).toString());
    assert.equal(m.artifactType, ARTIFACT_TYPE);
    assert.deepEqual(m.config, { mediaType: "application/vnd.oci.empty.v1+json", digest: "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a", size: 2, data: "e30=" });
    assert.deepEqual(m.layers, [{ mediaType: layer.mediaType, digest: D, size: 10, annotations: { "org.opencontainers.image.title": "cfg.tar.gz" } }]);
    assert.equal(m.annotations, undefined);
    assert.deepEqual(buildManifest(layer, {}), buildManifest(layer, {}));
    assert.deepEqual(JSON.parse(buildManifest(layer, { SOURCE_DATE_EPOCH: "1700000000" }).toString()).annotations, { "org.opencontainers.image.created": "2023-11-14T22:13:20Z" });
  });
  it("tar headers: fixed time and owner, PAX only past ustar's limits", () => {
    assert.equal(archiveTime({}), 0);
    assert.equal(archiveTime({ SOURCE_DATE_EPOCH: "1700000000" }), 1_700_000_000);
    assert.throws(() => archiveTime({ SOURCE_DATE_EPOCH: "yesterday" }), UsageError);
    const h = entryHeader({ name: "a/b.txt", type: "file", mode: 0o644, size: 5 }, 0);
    assert.equal(h.length, 512);
    assert.equal(h.subarray(108, 124).toString(), "0000000\u00000000000\u0000");
    const long = entryHeader({ name: `${"x".repeat(150)}.txt`, type: "file", mode: 0o644, size: 5 }, 0);
    assert.equal(long.length, 512 * 3);
    assert.equal(String.fromCharCode(long[156]), "x");
    assert.match(long.subarray(512, 1024).toString(), /^\d+ path=x{150}\.txt\n/);
  });
});

describe("oci manifests", () => {
  const layer = (mediaType: string, title?: string, digest = D): Descriptor => ({ mediaType, digest, size: 10, annotations: title ? { "org.opencontainers.image.title": title } : undefined });
  it("manifest or index, by mediaType or Content-Type", () => {
    const m = parseManifest(Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: "application/vnd.oci.image.manifest.v1+json", artifactType: "x/y", config: { mediaType: "application/vnd.oci.empty.v1+json", digest: D, size: 2 }, layers: [layer("application/vnd.oci.image.layer.v1.tar+gzip", "p.tar.gz")] })), undefined);
    assert.equal(m.kind, "manifest");
    const i = parseManifest(Buffer.from(JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: "application/vnd.oci.image.manifest.v1+json", digest: D, size: 5, platform: { os: "linux", architecture: "amd64" } }] })), "application/vnd.oci.image.index.v1+json");
    assert.equal(i.kind, "index");
    for (const bad of ["nope", "{}", JSON.stringify({ schemaVersion: 1 }), JSON.stringify({ schemaVersion: 2, layers: [{ mediaType: "x", digest: "sha256:12", size: 1 }] })]) {
      assert.throws(() => parseManifest(Buffer.from(bad), undefined), (e: unknown) => e instanceof AppError && e.exitCode === 3);
    }
  });
  it("the node's platform and PACKAGE_PLATFORM", () => {
    assert.deepEqual(nodePlatform("x64", "linux"), { os: "linux", architecture: "amd64" });
    assert.deepEqual(nodePlatform("arm64", "linux"), { os: "linux", architecture: "arm64" });
    assert.deepEqual(parsePlatform("linux/arm/v7"), { os: "linux", architecture: "arm", variant: "v7" });
    assert.equal(parsePlatform(""), undefined);
    assert.throws(() => parsePlatform("linux"), UsageError);
  });
  it("picks the platform's manifest from an index, or says which platforms exist", () => {
    const idx: Descriptor[] = [
      { mediaType: "m", digest: D, size: 1, platform: { os: "linux", architecture: "amd64" } },
      { mediaType: "m", digest: D2, size: 1, platform: { os: "linux", architecture: "arm64", variant: "v8" } },
    ];
    assert.equal(choosePlatform(idx, { os: "linux", architecture: "arm64" }).digest, D2);
    assert.equal(choosePlatform(idx, { os: "linux", architecture: "amd64" }).digest, D);
    assert.throws(() => choosePlatform(idx, { os: "linux", architecture: "s390x" }), (e: unknown) => e instanceof ArchiveError && /linux\/amd64, linux\/arm64\/v8/.test(e.message));
    assert.equal(choosePlatform([{ mediaType: "m", digest: D, size: 1 }], { os: "linux", architecture: "amd64" }).digest, D);
  });
  it("chooses the one tar layer, or the one PACKAGE_OCI_LAYER names; none usable is an archive error", () => {
    assert.equal(chooseLayer([layer("application/vnd.oci.image.layer.v1.tar+gzip", "p.tar.gz")], "").digest, D);
    assert.equal(chooseLayer([layer("application/vnd.example.readme", "README.md"), layer("application/octet-stream", "pkg.tar.zst", D2)], "").digest, D2);
    const two = [layer("application/vnd.oci.image.layer.v1.tar", "a.tar"), layer("application/vnd.oci.image.layer.v1.tar+zstd", "b.tar.zst", D2)];
    assert.throws(() => chooseLayer(two, ""), (e: unknown) => e instanceof ArchiveError && e.exitCode === 5 && /PACKAGE_OCI_LAYER/.test(e.hint));
    assert.equal(chooseLayer(two, "b.tar.zst").digest, D2);
    assert.equal(chooseLayer(two, "application/vnd.oci.image.layer.v1.tar").digest, D);
    assert.throws(() => chooseLayer(two, "c.tar"), (e: unknown) => e instanceof ArchiveError && /a\.tar/.test(e.message));
    assert.throws(() => chooseLayer([layer("application/json", "x.json")], ""), (e: unknown) => e instanceof ArchiveError && e.exitCode === 5);
    assert.throws(() => chooseLayer([], ""), ArchiveError);
  });
});

// ---------------------------------------------------------------------------------------------
// Against real registries.

const PLAIN = { PACKAGE_PLAIN_HTTP: "true", PACKAGE_RETRIES: "1" };
const sha = (b: Buffer) => `sha256:${crypto.createHash("sha256").update(b).digest("hex")}`;

/** Anonymous registry API calls from the test itself (to craft indexes and odd artifacts). */
async function putBlob(host: string, repo: string, data: Buffer): Promise<string> {
  const digest = sha(data);
  const start = await fetch(`http://${host}/v2/${repo}/blobs/uploads/`, { method: "POST" });
  assert.equal(start.status, 202);
  const loc = new URL(start.headers.get("location")!, `http://${host}`);
  loc.searchParams.set("digest", digest);
  const put = await fetch(loc, { method: "PUT", body: new Uint8Array(data), headers: { "content-type": "application/octet-stream" } });
  assert.equal(put.status, 201, await put.text());
  return digest;
}
async function putManifest(host: string, repo: string, tag: string, doc: object): Promise<{ digest: string; size: number }> {
  const body = Buffer.from(JSON.stringify(doc));
  const res = await fetch(`http://${host}/v2/${repo}/manifests/${tag}`, { method: "PUT", body: new Uint8Array(body), headers: { "content-type": (doc as { mediaType: string }).mediaType } });
  assert.equal(res.status, 201, await res.text());
  return { digest: sha(body), size: body.length };
}
async function getManifest(host: string, repo: string, ref: string, auth?: string): Promise<{ layers: { digest: string; size: number; mediaType: string; annotations?: Record<string, string> }[]; artifactType?: string; config: { mediaType: string } }> {
  const res = await fetch(`http://${host}/v2/${repo}/manifests/${ref}`, { headers: { accept: "application/vnd.oci.image.manifest.v1+json", ...(auth ? { authorization: auth } : {}) } });
  assert.equal(res.status, 200);
  return (await res.json()) as never;
}
async function getBlob(host: string, repo: string, digest: string, auth?: string): Promise<Buffer> {
  const res = await fetch(`http://${host}/v2/${repo}/blobs/${digest}`, { headers: auth ? { authorization: auth } : {} });
  assert.equal(res.status, 200);
  return Buffer.from(await res.arrayBuffer());
}
const basic = (u: string, p: string) => `Basic ${Buffer.from(`${u}:${p}`).toString("base64")}`;

async function push(dir: string, ref: string, env: Record<string, string> = {}): Promise<string> {
  const r = await runDp({ ...PLAIN, ...env }, ["package", "push", dir, ref]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^sha256:[0-9a-f]{64}\n$/);
  return r.stdout.trim();
}

const treeA = makeTree({
  "bin/run.sh": { content: "#!/bin/sh\necho a\n", mode: 0o755 },
  "etc/app/config.yaml": { content: "a: 1\n", mode: 0o644 },
  "etc/app/empty": { dir: true, mode: 0o755 },
  "data/big.bin": { content: crypto.randomBytes(1536 * 1024), mode: 0o644 },
  "link-to-config": { symlink: "etc/app/config.yaml" },
  [`deep/${"d".repeat(90)}/${"f".repeat(60)}.txt`]: { content: "long path\n", mode: 0o644 },
});
const treeB = makeTree({ "b.txt": { content: "package b\n", mode: 0o644 } });

describe("oci:// against real registries", { skip: hasRegistry ? false : "needs docker-registry, htpasswd and openssl (apt-get install docker-registry apache2-utils openssl)" }, () => {
  let tokens: TokenServer;
  let anon: OciRegistry, basicReg: OciRegistry, tokenReg: OciRegistry, mirror: OciRegistry;
  let front: RegistryProxy;
  let storage: TestServer;
  let digestA: string;
  const closers: (() => Promise<void>)[] = [];

  before(async () => {
    tokens = await startTokenServer({ alice: "alice-token-pass" });
    anon = await startOciRegistry({ kind: "none" });
    basicReg = await startOciRegistry({ kind: "htpasswd", user: "bob", password: "bob-basic-pass" });
    tokenReg = await startOciRegistry({ kind: "token", token: tokens });
    // Distribution's proxy mode logs in to token-auth upstreams (as Docker Hub is) only.
    mirror = await startOciRegistry({ kind: "none" }, { remoteurl: `http://${tokenReg.host}`, username: "alice", password: "alice-token-pass" });
    front = await startRegistryProxy(anon.host);
    storage = await startServer();
    closers.push(tokens.close, anon.close, basicReg.close, tokenReg.close, mirror.close, front.close, storage.close);
    digestA = await push(treeA, `oci://${anon.host}/team/pkg:v1`);
  });
  after(async () => {
    for (const c of closers) await c();
  });

  it("push then PACKAGE_URL=oci://… installs the tree, verified by the layer digest", async () => {
    const dest = tmpdir("dp-oci-");
    const r = await runDp({ ...PLAIN, PACKAGE_URL: `oci://${anon.host}/team/pkg:v1`, PACKAGE_DEST: dest });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(snapshot(dest), snapshot(treeA));
    assert.match(r.stderr, /installed .*verified=true/);
    const marker = JSON.parse(fs.readFileSync(path.join(dest, ".download-package/installed.json"), "utf8"));
    assert.deepEqual(marker.urls, [`oci://${anon.host}/team/pkg:v1@${digestA}`]);
  });

  it("the artifact follows ORAS's conventions and its tar is reproducible (sorted, mtime 0, owner 0:0, no names)", async () => {
    const m = await getManifest(anon.host, "team/pkg", "v1");
    assert.equal(m.artifactType, "application/vnd.download-package.package.v1");
    assert.equal(m.config.mediaType, "application/vnd.oci.empty.v1+json");
    assert.equal(m.layers.length, 1);
    assert.equal(m.layers[0].mediaType, "application/vnd.oci.image.layer.v1.tar+gzip");
    assert.equal(m.layers[0].annotations?.["org.opencontainers.image.title"], `${path.basename(treeA)}.tar.gz`);
    const tar = zlib.gunzipSync(await getBlob(anon.host, "team/pkg", m.layers[0].digest));
    const listing = execFileSync("tar", ["-tv", "--numeric-owner", "--full-time"], { input: tar }).toString().trim().split("\n");
    for (const line of listing) assert.match(line, /^\S+ 0\/0 +\d+ 1970-01-01 00:00:00 /, line);
    const names = execFileSync("tar", ["-t"], { input: tar }).toString().trim().split("\n");
    assert.deepEqual(names, [...names].sort());
    assert.ok(names.some((n) => n.length > 100), "a path longer than 100 bytes went through PAX");
  });

  it("the same directory gives the same digest: other mtimes, other permission bits within the normalised classes", async () => {
    // Elsewhere, under the same name (the layer's title is the directory's name).
    const copy = path.join(tmpdir("dp-oci-copy-"), path.basename(treeA));
    execFileSync("cp", ["-a", treeA, copy]);
    execFileSync("touch", ["-d", "2030-01-01", path.join(copy, "etc/app/config.yaml"), path.join(copy, "bin")]);
    fs.chmodSync(path.join(copy, "etc/app/config.yaml"), 0o600);
    fs.chmodSync(path.join(copy, "bin/run.sh"), 0o700);
    assert.equal(await push(copy, `oci://${anon.host}/team/copy:v1`), digestA);
    assert.equal(await push(treeA, `oci://${anon.host}/team/pkg:v1`), digestA);
  });

  it("a tag re-run costs one manifest request; a pinned re-run makes none", async () => {
    const dest = tmpdir("dp-oci-");
    let r = await runDp({ ...PLAIN, PACKAGE_URL: `oci://${front.host}/team/pkg:v1`, PACKAGE_DEST: dest });
    assert.equal(r.code, 0, r.stderr);
    let seen = front.log.length;
    r = await runDp({ ...PLAIN, PACKAGE_URL: `oci://${front.host}/team/pkg:v1`, PACKAGE_DEST: dest });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /already installed/);
    assert.deepEqual(front.log.slice(seen).map((l) => l.line), ["GET /v2/team/pkg/manifests/v1 200"]);
    seen = front.log.length;
    r = await runDp({ ...PLAIN, PACKAGE_URL: `oci://${front.host}/team/pkg@${digestA}`, PACKAGE_DEST: dest });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /already installed, nothing to do: the pinned reference/);
    assert.equal(front.log.length, seen);
    r = await runDp({ ...PLAIN, PACKAGE_URL: `oci://${front.host}/team/pkg@${digestA}`, PACKAGE_DEST: dest, PACKAGE_FORCE: "true" });
    assert.equal(r.code, 0, r.stderr);
    assert.ok(front.log.length > seen, "PACKAGE_FORCE asks again");
  });

  it("a pinned re-run checks the marker under the destination's lock: while another run holds it, it waits, then installs what that run replaced", async () => {
    const dest = tmpdir("dp-oci-");
    const ref = `oci://${front.host}/team/pkg@${digestA}`;
    let r = await runDp({ ...PLAIN, PACKAGE_URL: ref, PACKAGE_DEST: dest });
    assert.equal(r.code, 0, r.stderr);
    // Another run (another Pod on the volume) holds the lock: installing a different package.
    const state = path.join(dest, ".download-package");
    const lease = { owner: crypto.randomUUID(), pid: 7, hostname: "other-pod-7f9c", acquiredAt: new Date().toISOString(), expiresAt: Date.now() + 25_000 };
    fs.writeFileSync(path.join(state, "lock"), JSON.stringify(lease));
    r = await runDp({ ...PLAIN, PACKAGE_URL: ref, PACKAGE_DEST: dest, PACKAGE_LOCK_TIMEOUT: "1s" });
    assert.equal(r.code, 6, r.stderr);
    assert.match(r.stderr, /locked by another download-package run: pid 7 on host other-pod-7f9c/);
    assert.doesNotMatch(r.stderr, /already installed/);
    // This time the other run finishes while we wait: its package (treeB) and marker replace ours.
    const seen = front.log.length;
    const [cmd, argv] = command([]);
    const child = spawn(cmd, argv, { env: cleanEnv({ ...PLAIN, PACKAGE_URL: ref, PACKAGE_DEST: dest }), stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    child.stderr!.on("data", (d) => (stderr += d));
    const exited = new Promise<number | null>((resolve) => child.on("close", resolve));
    for (const until = Date.now() + 10_000; !/waiting for another run/.test(stderr); ) {
      assert.ok(Date.now() < until && child.exitCode === null, `the run did not wait for the lock: ${stderr}`);
      await new Promise((res) => setTimeout(res, 20));
    }
    for (const name of fs.readdirSync(dest)) if (name !== ".download-package") fs.rmSync(path.join(dest, name), { recursive: true, force: true });
    fs.cpSync(treeB, dest, { recursive: true });
    const marker = JSON.parse(fs.readFileSync(path.join(state, "installed.json"), "utf8"));
    fs.writeFileSync(path.join(state, "installed.json"), JSON.stringify({ ...marker, urls: [`oci://${front.host}/team/other@${D}`], digest: { algorithm: "sha256", hex: "c".repeat(64) } }));
    fs.rmSync(path.join(state, "lock"));
    assert.equal(await exited, 0, stderr);
    assert.doesNotMatch(stderr, /already installed/);
    assert.ok(front.log.slice(seen).some((l) => /blobs\/sha256/.test(l.line)), "the package was fetched again");
    assert.deepEqual(snapshot(dest), snapshot(treeA));
  });

  it("manifest and blob requests go through HTTP_PROXY", async () => {
    const proxy = await startProxy();
    try {
      const dest = tmpdir("dp-oci-");
      const r = await runDp({ ...PLAIN, PACKAGE_URL: `oci://${anon.host}/team/pkg:v1`, PACKAGE_DEST: dest, HTTP_PROXY: proxy.url });
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(snapshot(dest), snapshot(treeA));
      assert.ok(proxy.requests.length >= 2, proxy.requests.join("\n"));
      assert.ok(proxy.requests.every((q) => q.includes(anon.host)), proxy.requests.join("\n"));
    } finally {
      await proxy.close();
    }
  });

  it("a drop mid-blob is resumed with Range and the result verified", async () => {
    front.behaviour = { dropBlobAt: { 0: 400_000 } };
    try {
      const dest = tmpdir("dp-oci-");
      const seen = front.log.length;
      const r = await runDp({ ...PLAIN, PACKAGE_URL: `oci://${front.host}/team/pkg:v1`, PACKAGE_DEST: dest });
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stderr, /resumes=1/);
      const blobGets = front.log.slice(seen).filter((l) => /blobs\/sha256/.test(l.line));
      assert.equal(blobGets.length, 2);
      assert.match(String(blobGets[1].headers.range), /^bytes=[1-9]\d*-$/);
      assert.deepEqual(snapshot(dest), snapshot(treeA));
    } finally {
      front.behaviour = {};
    }
  });

  it("a corrupted blob is exit 4 and the installed package stays", async () => {
    // A plain tar layer: a flipped byte in a file's content leaves the tar readable, so only the digest can tell.
    const tarFile = path.join(tmpdir("dp-oci-"), "b.tar");
    fs.writeFileSync(tarFile, execFileSync("tar", ["-C", treeB, "--numeric-owner", "-cf", "-", "b.txt"]));
    await push(tarFile, `oci://${anon.host}/team/b:v1`);
    const dest = tmpdir("dp-oci-");
    let r = await runDp({ ...PLAIN, PACKAGE_URL: `oci://${anon.host}/team/pkg:v1`, PACKAGE_DEST: dest });
    assert.equal(r.code, 0, r.stderr);
    front.behaviour = { corruptBlobAt: 514 };
    try {
      r = await runDp({ ...PLAIN, PACKAGE_URL: `oci://${front.host}/team/b:v1`, PACKAGE_DEST: dest });
      assert.equal(r.code, 4, r.stderr);
      assert.match(r.stderr, /checksum mismatch/);
      assert.deepEqual(snapshot(dest), snapshot(treeA));
    } finally {
      front.behaviour = {};
    }
  });

  it("a corrupted tar+gzip blob is exit 4 (checksum mismatch), not the gzip decoder's exit 5", async () => {
    await push(treeB, `oci://${anon.host}/team/gz:v1`);
    const dest = tmpdir("dp-oci-");
    let r = await runDp({ ...PLAIN, PACKAGE_URL: `oci://${anon.host}/team/pkg:v1`, PACKAGE_DEST: dest });
    assert.equal(r.code, 0, r.stderr);
    front.behaviour = { corruptBlobAt: 40 };
    try {
      r = await runDp({ ...PLAIN, PACKAGE_URL: `oci://${front.host}/team/gz:v1`, PACKAGE_DEST: dest });
      assert.equal(r.code, 4, r.stderr);
      assert.match(r.stderr, /checksum mismatch: expected sha256:[0-9a-f]{64}, got sha256:[0-9a-f]{64} \(the damaged bytes also failed as an archive: corrupt gzip data/);
      assert.deepEqual(snapshot(dest), snapshot(treeA));
    } finally {
      front.behaviour = {};
    }
  });

  it("a pinned reference whose manifest does not match its digest is exit 4; a tag has no digest to hold its manifest to (its layer digest still is)", async () => {
    front.behaviour = { alterManifests: true };
    try {
      let r = await runDp({ ...PLAIN, PACKAGE_URL: `oci://${front.host}/team/pkg@${digestA}`, PACKAGE_DEST: tmpdir("dp-oci-") });
      assert.equal(r.code, 4, r.stderr);
      assert.match(r.stderr, /the manifest of .*team\/pkg@sha256:[0-9a-f]+ has digest sha256:/);
      r = await runDp({ ...PLAIN, PACKAGE_URL: `oci://${front.host}/team/pkg:v1`, PACKAGE_DEST: tmpdir("dp-oci-") });
      assert.equal(r.code, 0, r.stderr);
    } finally {
      front.behaviour = {};
    }
  });

  it("PACKAGE_SHA256 must be the layer digest: equal installs, different is exit 4 before any blob request", async () => {
    const m = await getManifest(anon.host, "team/b", "v1");
    let r = await runDp({ ...PLAIN, PACKAGE_URL: `oci://${anon.host}/team/b:v1`, PACKAGE_DEST: tmpdir("dp-oci-"), PACKAGE_SHA256: m.layers[0].digest });
    assert.equal(r.code, 0, r.stderr);
    const seen = front.log.length;
    r = await runDp({ ...PLAIN, PACKAGE_URL: `oci://${front.host}/team/b:v1`, PACKAGE_DEST: tmpdir("dp-oci-"), PACKAGE_SHA256: "c".repeat(64) });
    assert.equal(r.code, 4, r.stderr);
    assert.match(r.stderr, /PACKAGE_SHA256 is sha256:c+ but the manifest's package layer is sha256:/);
    assert.ok(!front.log.slice(seen).some((l) => /blobs/.test(l.line)));
  });

  it("a missing tag, a malformed reference, an unreachable registry, a manifest without a package layer", async () => {
    const dest = tmpdir("dp-oci-");
    let r = await runDp({ ...PLAIN, PACKAGE_URL: `oci://${anon.host}/team/pkg:nope`, PACKAGE_DEST: dest });
    assert.equal(r.code, 3, r.stderr);
    assert.match(r.stderr, /team\/pkg:nope not found: the registry has no such tag/);
    r = await runDp({ ...PLAIN, PACKAGE_URL: `oci://${anon.host}/Team/pkg:v1`, PACKAGE_DEST: dest });
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /not a valid OCI reference/);
    const dead = await freePort();
    r = await runDp({ ...PLAIN, PACKAGE_URL: `oci://127.0.0.1:${dead}/team/pkg:v1`, PACKAGE_DEST: dest });
    assert.equal(r.code, 3, r.stderr);
    assert.match(r.stderr, /cannot reach the registry .*hint=.*unreachable/);
    r = await runDp({ PACKAGE_RETRIES: "3", PACKAGE_URL: `oci://${anon.host}/team/pkg:v1`, PACKAGE_DEST: dest });
    assert.equal(r.code, 3, r.stderr);
    assert.match(r.stderr, /wrong version number: ERR_SSL_WRONG_VERSION_NUMBER hint=.*PACKAGE_PLAIN_HTTP=true/);
    assert.doesNotMatch(r.stderr, /retrying/, "a TLS mismatch is not retried");
    const readme = await putBlob(anon.host, "team/odd", Buffer.from('{"read":"me"}'));
    const empty = await putBlob(anon.host, "team/odd", Buffer.from("{}"));
    await putManifest(anon.host, "team/odd", "v1", { schemaVersion: 2, mediaType: "application/vnd.oci.image.manifest.v1+json", config: { mediaType: "application/vnd.oci.empty.v1+json", digest: empty, size: 2 }, layers: [{ mediaType: "application/json", digest: readme, size: 13, annotations: { "org.opencontainers.image.title": "readme.json" } }] });
    r = await runDp({ ...PLAIN, PACKAGE_URL: `oci://${anon.host}/team/odd:v1`, PACKAGE_DEST: dest });
    assert.equal(r.code, 5, r.stderr);
    assert.match(r.stderr, /no tar, tar\+gzip or tar\+zstd layer \(it has: readme\.json application\/json\)/);
    r = await runDp({ ...PLAIN, PACKAGE_URL: `oci://${anon.host}/team/odd:v1`, PACKAGE_DEST: dest, PACKAGE_OCI_LAYER: "readme.json" });
    assert.equal(r.code, 5, r.stderr);
    assert.match(r.stderr, /not an archive/i);
  });

  it("a multi-platform index: PACKAGE_PLATFORM's manifest, the node's by default, exit 5 when absent", async () => {
    const amd = makeTree({ "arch.txt": { content: "amd64\n", mode: 0o644 } });
    const arm = makeTree({ "arch.txt": { content: "arm64\n", mode: 0o644 } });
    const dAmd = await push(amd, `oci://${anon.host}/team/multi:amd64`);
    const dArm = await push(arm, `oci://${anon.host}/team/multi:arm64`);
    const size = async (d: string) => (await fetch(`http://${anon.host}/v2/team/multi/manifests/${d}`, { headers: { accept: "application/vnd.oci.image.manifest.v1+json" } }).then((r) => r.arrayBuffer())).byteLength;
    const index = await putManifest(anon.host, "team/multi", "v1", {
      schemaVersion: 2,
      mediaType: "application/vnd.oci.image.index.v1+json",
      manifests: [
        { mediaType: "application/vnd.oci.image.manifest.v1+json", digest: dAmd, size: await size(dAmd), platform: { os: "linux", architecture: "amd64" } },
        { mediaType: "application/vnd.oci.image.manifest.v1+json", digest: dArm, size: await size(dArm), platform: { os: "linux", architecture: "arm64", variant: "v8" } },
      ],
    });
    const pull = async (platform?: string, ref = `oci://${anon.host}/team/multi:v1`) => {
      const dest = tmpdir("dp-oci-");
      const r = await runDp({ ...PLAIN, PACKAGE_URL: ref, PACKAGE_DEST: dest, ...(platform ? { PACKAGE_PLATFORM: platform } : {}) });
      return { r, text: r.code === 0 ? fs.readFileSync(path.join(dest, "arch.txt"), "utf8").trim() : undefined };
    };
    let p = await pull("linux/arm64");
    assert.equal(p.r.code, 0, p.r.stderr);
    assert.equal(p.text, "arm64");
    p = await pull("linux/amd64", `oci://${anon.host}/team/multi@${index.digest}`);
    assert.equal(p.text, "amd64", p.r.stderr);
    if (process.arch === "x64" || process.arch === "arm64") {
      p = await pull();
      assert.equal(p.text, process.arch === "x64" ? "amd64" : "arm64", p.r.stderr);
    }
    p = await pull("linux/s390x");
    assert.equal(p.r.code, 5, p.r.stderr);
    assert.match(p.r.stderr, /no manifest for linux\/s390x \(it has: linux\/amd64, linux\/arm64\/v8\)/);
  });

  it("htpasswd: push with REGISTRY_USERNAME/REGISTRY_PASSWORD_FILE; pull with a docker config.json or a basic-auth file; refusals are exit 3", async () => {
    const secrets = tmpdir("dp-oci-secret-");
    fs.writeFileSync(path.join(secrets, "password"), "bob-basic-pass\n");
    const d = await push(treeB, `oci://${basicReg.host}/team/pkg:v1`, { REGISTRY_USERNAME: "bob", REGISTRY_PASSWORD_FILE: path.join(secrets, "password") });
    assert.match(d, /^sha256:/);
    const config = (auths: object) => {
      const f = path.join(secrets, `config-${crypto.randomUUID()}.json`);
      fs.writeFileSync(f, JSON.stringify({ auths }));
      return f;
    };
    const ref = `oci://${basicReg.host}/team/pkg:v1`;
    for (const auths of [{ [basicReg.host]: { auth: Buffer.from("bob:bob-basic-pass").toString("base64") } }, { [`http://${basicReg.host}/v2/`]: { username: "bob", password: "bob-basic-pass" } }]) {
      const dest = tmpdir("dp-oci-");
      const r = await runDp({ ...PLAIN, PACKAGE_URL: ref, PACKAGE_DEST: dest, PACKAGE_REGISTRY_CONFIG: config(auths) });
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(snapshot(dest), snapshot(treeB));
      assert.doesNotMatch(r.stderr, /bob-basic-pass|Ym9iOmJvYi1iYXNpYy1wYXNz/);
    }
    fs.writeFileSync(path.join(secrets, "basic"), "bob:bob-basic-pass\n");
    // curl takes the blob's credentials on stdin, wget is skipped: the password is in no argument list.
    const ps = watchCommandLines();
    let r = await runDp({ ...PLAIN, PACKAGE_URL: ref, PACKAGE_DEST: tmpdir("dp-oci-"), PACKAGE_BASIC_AUTH_FILE: path.join(secrets, "basic"), PACKAGE_TRANSPORTS: "wget,curl" });
    const lines = await ps.stop();
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /wget skipped: the request carries credentials/);
    assert.match(r.stderr, /transport=curl attempt=1/);
    assert.ok(!lines.some((l) => /bob-basic-pass|Ym9iOmJvYi1iYXNpYy1wYXNz/.test(l)), "no password in any command line");
    assert.doesNotMatch(r.stderr, /bob-basic-pass/);
    r = await runDp({ ...PLAIN, PACKAGE_URL: ref, PACKAGE_DEST: tmpdir("dp-oci-") });
    assert.equal(r.code, 3, r.stderr);
    assert.match(r.stderr, /requires a login \(HTTP 401\).*hint=.*PACKAGE_REGISTRY_CONFIG/);
    r = await runDp({ ...PLAIN, PACKAGE_URL: ref, PACKAGE_DEST: tmpdir("dp-oci-"), PACKAGE_REGISTRY_CONFIG: config({ [basicReg.host]: { username: "bob", password: "wrong" } }) });
    assert.equal(r.code, 3, r.stderr);
    assert.match(r.stderr, /refused the credentials \(HTTP 401\)/);
    r = await runDp({ ...PLAIN }, ["package", "push", treeB, ref]);
    assert.equal(r.code, 3, r.stderr);
  });

  it("token auth: the bearer dance with the registry's realm/service/scope, for pull and push; a token file is used as is", async () => {
    const before = tokens.requests.length;
    const ref = `oci://${tokenReg.host}/team/tok:v1`;
    await push(treeB, ref, { REGISTRY_USERNAME: "alice", REGISTRY_PASSWORD: "alice-token-pass" });
    assert.ok(tokens.requests.slice(before).some((q) => q.scope === "repository:team/tok:pull,push" && q.granted && q.user === "alice"));
    const cfg = path.join(tmpdir("dp-oci-secret-"), "config.json");
    fs.writeFileSync(cfg, JSON.stringify({ auths: { [tokenReg.host]: { auth: Buffer.from("alice:alice-token-pass").toString("base64") } } }));
    const dest = tmpdir("dp-oci-");
    let r = await runDp({ ...PLAIN, PACKAGE_URL: ref, PACKAGE_DEST: dest, PACKAGE_REGISTRY_CONFIG: cfg });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(snapshot(dest), snapshot(treeB));
    assert.equal(tokens.requests.at(-1)?.scope, "repository:team/tok:pull");
    const tokenFile = path.join(tmpdir("dp-oci-secret-"), "token");
    fs.writeFileSync(tokenFile, tokens.mint("team/tok", ["pull"]) + "\n");
    const asked = tokens.requests.length;
    r = await runDp({ ...PLAIN, PACKAGE_URL: ref, PACKAGE_DEST: tmpdir("dp-oci-"), PACKAGE_TOKEN_FILE: tokenFile });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(tokens.requests.length, asked, "no token dance with PACKAGE_TOKEN_FILE");
    fs.writeFileSync(cfg, JSON.stringify({ auths: { [tokenReg.host]: { username: "alice", password: "nope" } } }));
    r = await runDp({ ...PLAIN, PACKAGE_URL: ref, PACKAGE_DEST: tmpdir("dp-oci-"), PACKAGE_REGISTRY_CONFIG: cfg });
    assert.equal(r.code, 3, r.stderr);
    assert.match(r.stderr, /token service refused the credentials/);
    r = await runDp({ ...PLAIN, PACKAGE_URL: ref, PACKAGE_DEST: tmpdir("dp-oci-") });
    assert.equal(r.code, 3, r.stderr);
    assert.match(r.stderr, /requires a login \(its token service refused anonymous access\)/);
    fs.writeFileSync(tokenFile, tokens.mint("team/other", ["pull"]));
    r = await runDp({ ...PLAIN, PACKAGE_URL: ref, PACKAGE_DEST: tmpdir("dp-oci-"), PACKAGE_TOKEN_FILE: tokenFile });
    assert.equal(r.code, 3, r.stderr);
    assert.match(r.stderr, /refused the credentials/);
  });

  const aliceConfig = (...hosts: string[]) => {
    const cfg = path.join(tmpdir("dp-oci-secret-"), "config.json");
    fs.writeFileSync(cfg, JSON.stringify({ auths: Object.fromEntries(hosts.map((h) => [h, { auth: Buffer.from("alice:alice-token-pass").toString("base64") }])) }));
    return cfg;
  };
  const bearersAt = (p: RegistryProxy, from = 0) => p.log.slice(from).filter((l) => /blobs\/sha256/.test(l.line) && /^Bearer /.test(String(l.headers.authorization))).map((l) => String(l.headers.authorization));

  it("a token that expires during the blob's download is renewed once at the registry, and the download resumes", async () => {
    await push(treeA, `oci://${tokenReg.host}/team/expiring:v1`, { REGISTRY_USERNAME: "alice", REGISTRY_PASSWORD: "alice-token-pass" });
    // Tokens the registry refuses ~3 s after they are issued; the first blob GET stalls 5 s, then drops.
    const slow = await startRegistryProxy(tokenReg.host, { dropBlobAt: { 0: 400_000 }, dropAfterMs: 5000 });
    tokens.ttlSeconds = -57;
    try {
      const dest = tmpdir("dp-oci-");
      const asked = tokens.requests.length;
      const r = await runDp({ ...PLAIN, PACKAGE_URL: `oci://${slow.host}/team/expiring:v1`, PACKAGE_DEST: dest, PACKAGE_REGISTRY_CONFIG: aliceConfig(slow.host), PACKAGE_TRANSPORTS: "undici,curl" });
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(snapshot(dest), snapshot(treeA));
      assert.match(r.stderr, /renewed, asking again/);
      assert.match(r.stderr, /resumes=1 restarts=0/);
      const blobs = slow.log.filter((l) => /blobs\/sha256/.test(l.line));
      assert.deepEqual(blobs.map((l) => l.line.split(" ").pop()), ["200", "401", "206"]);
      assert.equal(blobs[1].headers.authorization, blobs[0].headers.authorization, "the resume first went with the expired token");
      assert.notEqual(blobs[2].headers.authorization, blobs[1].headers.authorization, "then with a new one");
      assert.match(String(blobs[2].headers.range), /^bytes=[1-9]\d*-$/);
      assert.deepEqual(tokens.requests.slice(asked).map((q) => [q.scope, q.granted]), [["repository:team/expiring:pull", true], ["repository:team/expiring:pull", true]]);
      assert.doesNotMatch(r.stderr, /alice-token-pass|Bearer ey/);
    } finally {
      tokens.ttlSeconds = 300;
      await slow.close();
    }
  });

  it("two token-auth mirrors share one download, each with its own token", async () => {
    const tokens2 = await startTokenServer({ alice: "alice-token-pass" });
    const reg2 = await startOciRegistry({ kind: "token", token: tokens2 });
    const creds = { REGISTRY_USERNAME: "alice", REGISTRY_PASSWORD: "alice-token-pass" };
    const [one, two] = [await startRegistryProxy(tokenReg.host), await startRegistryProxy(reg2.host)];
    try {
      const d1 = await push(treeA, `oci://${tokenReg.host}/team/two:v1`, creds);
      assert.equal(await push(treeA, `oci://${reg2.host}/team/two:v1`, creds), d1);
      // The first mirror drops the blob mid-way, then fails: the second resumes it.
      one.behaviour = { dropBlobAt: { 0: 400_000 }, blobStatus: { 1: 503, 2: 503, 3: 503 } };
      const dest = tmpdir("dp-oci-");
      const asked = [tokens.requests.length, tokens2.requests.length];
      const r = await runDp({ ...PLAIN, PACKAGE_URL: `oci://${one.host}/team/two:v1 oci://${two.host}/team/two:v1`, PACKAGE_DEST: dest, PACKAGE_REGISTRY_CONFIG: aliceConfig(one.host, two.host), PACKAGE_TRANSPORTS: "undici" });
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(snapshot(dest), snapshot(treeA));
      assert.match(r.stderr, /resumes=1 restarts=0/);
      assert.ok(tokens.requests.slice(asked[0]).some((q) => q.scope === "repository:team/two:pull" && q.granted));
      assert.ok(tokens2.requests.slice(asked[1]).some((q) => q.scope === "repository:team/two:pull" && q.granted), "the second registry's token service issued its own token");
      const atTwo = two.log.filter((l) => /blobs\/sha256/.test(l.line));
      assert.equal(atTwo.at(-1)?.line.split(" ").pop(), "206", atTwo.map((l) => l.line).join("\n"));
      assert.match(String(atTwo.at(-1)?.headers.range), /^bytes=[1-9]\d*-$/);
      const [b1, b2] = [bearersAt(one), bearersAt(two)];
      assert.ok(b1.length && b2.length);
      assert.ok(!b2.some((t) => b1.includes(t)), "the first registry's token never went to the second");
    } finally {
      await one.close();
      await two.close();
      await reg2.close();
      await tokens2.close();
    }
  });

  it("through a pull-through mirror (with the upstream's credentials), after a registry that is down", async () => {
    await push(treeA, `oci://${tokenReg.host}/team/mirrored:v1`, { REGISTRY_USERNAME: "alice", REGISTRY_PASSWORD: "alice-token-pass" });
    const dead = await freePort();
    const dest = tmpdir("dp-oci-");
    const r = await runDp({ ...PLAIN, PACKAGE_URL: `oci://127.0.0.1:${dead}/team/mirrored:v1 oci://${mirror.host}/team/mirrored:v1`, PACKAGE_DEST: dest });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /trying the next mirror/);
    assert.match(r.stderr, new RegExp(`downloading the package url=http://${mirror.host}/v2/team/mirrored/blobs/sha256:`));
    assert.deepEqual(snapshot(dest), snapshot(treeA));
  });

  it("a blob redirect to object storage carries no registry credentials (basic and bearer)", async () => {
    for (const [reg, env] of [
      [basicReg, { REGISTRY_USERNAME: "bob", REGISTRY_PASSWORD: "bob-basic-pass" }],
      [tokenReg, { REGISTRY_USERNAME: "alice", REGISTRY_PASSWORD: "alice-token-pass" }],
    ] as const) {
      const redirecting = await startRegistryProxy(reg.host);
      try {
        await push(treeB, `oci://${reg.host}/team/redir:v1`, env);
        const auth = basic(env.REGISTRY_USERNAME, env.REGISTRY_PASSWORD);
        const bearer = reg === tokenReg ? `Bearer ${tokens.mint("team/redir", ["pull"])}` : auth;
        const m = await getManifest(reg.host, "team/redir", "v1", bearer);
        const blobPath = `/v2/team/redir/blobs/${m.layers[0].digest}`;
        storage.route(blobPath, { body: await getBlob(reg.host, "team/redir", m.layers[0].digest, bearer) });
        redirecting.behaviour = { redirectBlobsTo: storage.url };
        const cfg = path.join(tmpdir("dp-oci-secret-"), "config.json");
        fs.writeFileSync(cfg, JSON.stringify({ auths: { [redirecting.host]: { username: env.REGISTRY_USERNAME, password: env.REGISTRY_PASSWORD } } }));
        const dest = tmpdir("dp-oci-");
        const seen = storage.log.length;
        const r = await runDp({ ...PLAIN, PACKAGE_URL: `oci://${redirecting.host}/team/redir:v1`, PACKAGE_DEST: dest, PACKAGE_REGISTRY_CONFIG: cfg });
        assert.equal(r.code, 0, r.stderr);
        assert.deepEqual(snapshot(dest), snapshot(treeB));
        const got = storage.log.slice(seen).filter((l) => l.path === blobPath);
        assert.equal(got.length, 1);
        assert.equal(got[0].headers.authorization, undefined, "no credentials at the storage origin");
        const blobAtRegistry = redirecting.log.find((l) => /blobs\/sha256/.test(l.line));
        assert.ok(blobAtRegistry?.headers.authorization, "the registry's own blob request carried its credentials");
      } finally {
        await redirecting.close();
      }
    }
  });

  it("as UID 65532: installs from the registry, and a pulled destination pushes back to the same digest", async () => {
    const dest = tmpdir("dp-oci-uid-");
    fs.chownSync(dest, 65532, 65532);
    const [cmd, argv] = command(["package", "pull", `oci://${anon.host}/team/pkg:v1`, dest, "--plain-http"]);
    const r = await exec("setpriv", ["--reuid", "65532", "--regid", "65532", "--clear-groups", cmd, ...argv], { env: cleanEnv() });
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(snapshot(dest), snapshot(treeA));
    assert.equal(fs.statSync(path.join(dest, "bin/run.sh")).uid, 65532);
    // The marker directory is not package content; under the same name the tree gives the same artifact.
    const again = path.join(tmpdir("dp-oci-"), path.basename(treeA));
    fs.renameSync(dest, again);
    assert.equal(await push(again, `oci://${anon.host}/team/again:v1`), digestA);
  });

  it("HTTPS by default: a private CA through PACKAGE_CA_FILE (undici and curl); an untrusted certificate is exit 3 saying so", async () => {
    const certs = makeCerts();
    const secure = await startOciRegistry({ kind: "htpasswd", user: "carol", password: "carol-tls-pass" }, undefined, { certFile: path.join(certs.dir, "server.pem"), keyFile: path.join(certs.dir, "server.key") });
    try {
      const ref = `oci://${secure.host}/team/tls:v1`;
      const creds = { REGISTRY_USERNAME: "carol", REGISTRY_PASSWORD: "carol-tls-pass" };
      let r = await runDp({ ...creds, PACKAGE_CA_FILE: certs.caFile }, ["package", "push", treeB, ref]);
      assert.equal(r.code, 0, r.stderr);
      const cfg = path.join(tmpdir("dp-oci-secret-"), "config.json");
      fs.writeFileSync(cfg, JSON.stringify({ auths: { [`https://${secure.host}`]: { username: "carol", password: "carol-tls-pass" } } }));
      for (const transports of ["undici", "curl"]) {
        const dest = tmpdir("dp-oci-");
        r = await runDp({ PACKAGE_URL: ref, PACKAGE_DEST: dest, PACKAGE_CA_FILE: certs.caFile, PACKAGE_REGISTRY_CONFIG: cfg, PACKAGE_TRANSPORTS: transports });
        assert.equal(r.code, 0, r.stderr);
        assert.match(r.stderr, new RegExp(`downloading the package url=https://${secure.host}/v2/team/tls/blobs/sha256:[0-9a-f]+ transport=${transports}`));
        assert.deepEqual(snapshot(dest), snapshot(treeB));
      }
      r = await runDp({ PACKAGE_URL: ref, PACKAGE_DEST: tmpdir("dp-oci-"), PACKAGE_REGISTRY_CONFIG: cfg });
      assert.equal(r.code, 3, r.stderr);
      assert.match(r.stderr, /hint=.*certificate is not trusted: give its CA with PACKAGE_CA_FILE/);
      assert.doesNotMatch(r.stderr, /retrying/);
    } finally {
      await secure.close();
    }
  });

  it("package pull writes the tree into a directory; package push refuses a non-archive file", async () => {
    const dest = tmpdir("dp-oci-pull-");
    let r = await runDp({}, ["package", "pull", `oci://${anon.host}/team/pkg:v1`, dest, "--plain-http"]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(snapshot(dest), snapshot(treeA));
    const notTar = path.join(tmpdir("dp-oci-"), "notes.txt");
    fs.writeFileSync(notTar, "hello\n");
    r = await runDp({}, ["package", "push", notTar, `oci://${anon.host}/team/x:v1`, "--plain-http"]);
    assert.equal(r.code, 2, r.stderr);
    r = await runDp({}, ["package", "frobnicate"]);
    assert.equal(r.code, 2, r.stderr);
    const tarFile = path.join(tmpdir("dp-oci-"), "pkg.tar.zst");
    fs.writeFileSync(tarFile, zlib.zstdCompressSync(execFileSync("tar", ["-C", treeB, "-cf", "-", "."])));
    await push(tarFile, `oci://${anon.host}/team/zst:v1`);
    const m = await getManifest(anon.host, "team/zst", "v1");
    assert.deepEqual([m.layers[0].mediaType, m.layers[0].annotations?.["org.opencontainers.image.title"]], ["application/vnd.oci.image.layer.v1.tar+zstd", "pkg.tar.zst"]);
    const out = tmpdir("dp-oci-pull-");
    r = await runDp({}, ["package", "pull", `oci://${anon.host}/team/zst:v1`, out, "--plain-http"]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(snapshot(out), snapshot(treeB));
  });
});
