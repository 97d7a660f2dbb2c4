// Packages from an OCI registry (oci://): pure parts first, then against real Distribution
// registries (Debian's docker-registry) with htpasswd and token auth, a pull-through mirror,
// a misbehaving proxy in front, and `package push` / `package pull`.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parseConfig } from "../src/cli/config.ts";
import { AppError, ArchiveError, UsageError } from "../src/errors.ts";
import { chooseLayer, choosePlatform, nodePlatform, parseManifest, parsePlatform, type Descriptor } from "../src/transfer/oci/manifest.ts";
import { formatReference, parseReference } from "../src/transfer/oci/reference.ts";

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
