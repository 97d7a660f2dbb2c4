// The pure parts of the exported OCI layout: which registries are reached without TLS, the
// platform image of an index, docker load's manifest.json, and the refusal of an altered layout.

import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { describe, it } from "node:test";
import { describeLayout } from "../src/images/archive.ts";
import { dockerManifest, mediaTypeOf, pickPlatform, tagOf } from "../src/images/layout.ts";
import { insecureFor } from "../src/images/skopeo.ts";

const hex = (s: string) => createHash("sha256").update(s).digest("hex");

describe("images layout: pure parts", () => {
  it("insecure registries as Docker decides: IndexConfigs first, then the CIDRs for IP literals (and localhost)", () => {
    const c = { IndexConfigs: { "reg.internal:5000": { Secure: false }, "127.0.0.1:6000": { Secure: true } }, InsecureRegistryCIDRs: ["127.0.0.0/8", "10.1.0.0/16"] };
    assert.equal(insecureFor(c, "reg.internal:5000"), true);
    assert.equal(insecureFor(c, "127.0.0.1:6000"), false);
    assert.equal(insecureFor(c, "127.0.0.1:5000"), true);
    assert.equal(insecureFor(c, "localhost:5000"), true);
    assert.equal(insecureFor(c, "10.1.2.3"), true);
    assert.equal(insecureFor(c, "10.2.0.1:443"), false);
    assert.equal(insecureFor(c, "registry.example.internal"), false);
    assert.equal(insecureFor({}, "127.0.0.1:5000"), false);
  });

  it("the platform image of an index; a lone image is taken as is", () => {
    const list = [
      { digest: "sha256:a", platform: { os: "linux", architecture: "amd64" } },
      { digest: "sha256:b", platform: { os: "linux", architecture: "arm", variant: "v7" } },
    ];
    assert.equal(pickPlatform(list, "linux/amd64")?.digest, "sha256:a");
    assert.equal(pickPlatform(list, "linux/arm/v7")?.digest, "sha256:b");
    assert.equal(pickPlatform(list, "linux/arm/v6"), undefined);
    assert.equal(pickPlatform([{ digest: "sha256:c" }], "linux/s390x")?.digest, "sha256:c");
  });

  it("manifest.json for docker load points at the layout's blobs; a digest reference gets no RepoTags", () => {
    const image = { config: { digest: "sha256:c" }, layers: [{ digest: "sha256:l1" }, { digest: "sha256:l2" }] };
    assert.deepEqual(JSON.parse(dockerManifest(image, "nginx:1.25")), [{ Config: "blobs/sha256/c", RepoTags: ["docker.io/library/nginx:1.25"], Layers: ["blobs/sha256/l1", "blobs/sha256/l2"] }]);
    assert.deepEqual(JSON.parse(dockerManifest(image, `nginx@sha256:${"a".repeat(64)}`))[0].RepoTags, []);
    assert.throws(() => dockerManifest({ manifests: [] } as never, "x:1"), /not an image/);
    assert.equal(tagOf(`reg:5000/x:1@sha256:${"a".repeat(64)}`), "1");
    assert.equal(tagOf(`reg:5000/x@sha256:${"a".repeat(64)}`), undefined);
    assert.equal(mediaTypeOf({ manifests: [] }), "application/vnd.oci.image.index.v1+json");
    assert.equal(mediaTypeOf({ mediaType: "application/vnd.docker.distribution.manifest.v2+json" }), "application/vnd.docker.distribution.manifest.v2+json");
  });

  describe("describeLayout refuses what export never writes", () => {
    const config = "{}";
    const layer = "layer bytes";
    const manifest = JSON.stringify({ config: { digest: `sha256:${hex(config)}` }, layers: [{ digest: `sha256:${hex(layer)}` }] });
    const index = (digest: string, n = 1) => JSON.stringify({ manifests: Array.from({ length: n }, () => ({ digest, annotations: { "io.containerd.image.name": "x:1" } })) });
    const entries = (blobs: Record<string, string>, idx: string) => {
      const hashes = new Map<string, string>([["index.json", hex(idx)]]);
      const texts = new Map<string, string>([["index.json", idx]]);
      for (const [name, body] of Object.entries(blobs)) {
        hashes.set(name, hex(body));
        if (body.startsWith("{")) texts.set(name, body);
      }
      return { hashes, texts };
    };
    const good = { [`blobs/sha256/${hex(config)}`]: config, [`blobs/sha256/${hex(layer)}`]: layer, [`blobs/sha256/${hex(manifest)}`]: manifest };

    it("a good layout: its manifest and the name it gives", () => {
      assert.deepEqual(describeLayout(entries(good, index(`sha256:${hex(manifest)}`))), { manifest: `sha256:${hex(manifest)}`, names: ["docker.io/library/x:1"] });
    });
    it("a blob whose bytes are not its name", () => {
      const bad = { ...good, [`blobs/sha256/${hex(layer)}`]: "other bytes" };
      assert.throws(() => describeLayout(entries(bad, index(`sha256:${hex(manifest)}`))), /blobs\/sha256\/\w+ does not match its digest/);
    });
    it("a blob the manifest names is missing", () => {
      const { [`blobs/sha256/${hex(layer)}`]: _gone, ...rest } = good;
      assert.throws(() => describeLayout(entries(rest, index(`sha256:${hex(manifest)}`))), new RegExp(`lacks sha256:${hex(layer)}`));
    });
    it("two images in index.json, or a manifest that is not there", () => {
      assert.throws(() => describeLayout(entries(good, index(`sha256:${hex(manifest)}`, 2))), /names 2 images, expected exactly 1/);
      assert.throws(() => describeLayout(entries(good, index(`sha256:${"0".repeat(64)}`))), /lacks sha256:0+/);
    });
  });
});
