// The shared helpers of src/util/ and src/verify/digest.ts.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { digestFromHex, formatDigest, parseExpectedDigest, sameDigest } from "../src/verify/digest.ts";

describe("digest", () => {
  it("parses bare hex by length, and prefixed forms; refuses a length that does not fit the algorithm", () => {
    assert.deepEqual(parseExpectedDigest(` ${"AB".repeat(32)}\n`, "X"), { algorithm: "sha256", hex: "ab".repeat(32) });
    assert.deepEqual(parseExpectedDigest("c".repeat(128), "X"), { algorithm: "sha512", hex: "c".repeat(128) });
    assert.deepEqual(parseExpectedDigest(`sha512=${"d".repeat(128)}`, "X"), { algorithm: "sha512", hex: "d".repeat(128) });
    assert.throws(() => parseExpectedDigest(`sha512:${"d".repeat(64)}`, "PACKAGE_SHA256"), /PACKAGE_SHA256 is not a SHA-256 or SHA-512 digest/);
    assert.throws(() => parseExpectedDigest("md5:abc", "X"), (e: Error & { exitCode?: number }) => e.exitCode === 2);
  });
  it("a checksum line's hex names its algorithm by length", () => {
    assert.deepEqual(digestFromHex("E".repeat(64)), { algorithm: "sha256", hex: "e".repeat(64) });
    assert.equal(digestFromHex("e".repeat(128))?.algorithm, "sha512");
    assert.equal(digestFromHex("e".repeat(63)), undefined);
    assert.equal(digestFromHex("g".repeat(64)), undefined);
  });
  it("compares algorithm and hex; an absent side never matches", () => {
    const a = { algorithm: "sha256", hex: "1".repeat(64) };
    assert.equal(sameDigest(a, { ...a }), true);
    assert.equal(sameDigest(a, { algorithm: "sha512", hex: a.hex }), false);
    assert.equal(sameDigest(a, undefined), false);
    assert.equal(sameDigest(undefined, undefined), false);
    assert.equal(formatDigest(a), `sha256:${a.hex}`);
  });
});
