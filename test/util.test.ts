// The shared helpers of src/util/ and src/verify/digest.ts.

import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { Readable } from "node:stream";
import { after, describe, it } from "node:test";
import { parseSums } from "../src/images/store.ts";
import { writeFileAtomic, replaceFileAtomic } from "../src/util/atomic-file.ts";
import { errorLine, lastLine } from "../src/util/error-line.ts";
import { captureText, runProcess, startProcess } from "../src/util/process.ts";
import { digestFromHex, formatDigest, parseExpectedDigest, sameDigest } from "../src/verify/digest.ts";
import { parseSumsExact, parseSumsLoose } from "../src/verify/sums.ts";

const tmpRoot = fs.mkdtempSync(path.join(os.tmpdir(), "dp-util-"));
after(() => fs.rmSync(tmpRoot, { recursive: true, force: true }));

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

describe("process", () => {
  it("runs a program to its end: status, output, input from a string or a stream", async () => {
    assert.deepEqual(await runProcess("sh", ["-c", "cat; echo err >&2; exit 3"], { input: "in" }), { status: 3, stdout: "in", stderr: "err\n" });
    const r = await runProcess("cat", [], { input: Readable.from([Buffer.from("a"), Buffer.from("b")]) });
    assert.equal(r.stdout, "ab");
    assert.equal(r.status, 0);
  });
  it("a program that cannot start is status 127 naming it, never a throw", async () => {
    const r = await runProcess("/nonexistent/dp-util-prog", []);
    assert.equal(r.status, 127);
    assert.match(r.stderr, /^\/nonexistent\/dp-util-prog: .*ENOENT/);
  });
  it("an abort kills the child at once; aborted before the start, nothing runs (130)", async () => {
    const ac = new AbortController();
    const started = Date.now();
    const p = runProcess("sleep", ["30"], { signal: ac.signal });
    setTimeout(() => ac.abort(), 100);
    assert.equal((await p).status, 128);
    assert.ok(Date.now() - started < 5000);
    assert.deepEqual(await runProcess("sleep", ["30"], { signal: ac.signal }), { status: 130, stdout: "", stderr: "stopped" });
  });
  it("a timeout kills the child and says so", async () => {
    const r = await runProcess("sleep", ["30"], { timeoutMs: 200 });
    assert.equal(r.status, 128);
    assert.match(r.stderr, /timed out after 0s$/);
  });
  it("startProcess: the kill signal asked for, extra pipes, the child's own environment", async () => {
    const ac = new AbortController();
    const s = startProcess("sleep", ["30"], { signal: ac.signal, killSignal: "SIGTERM" });
    ac.abort();
    assert.deepEqual(await s.exited, { code: null, aborted: true });
    await new Promise((r) => s.child.once("close", r));
    assert.equal(s.child.signalCode, "SIGTERM");
    const t = startProcess("sh", ["-c", "cat <&3; echo \"$DP_UTIL_X\""], { extraFds: 1, env: { PATH: process.env.PATH, DP_UTIL_X: "x" } });
    const out = captureText(t.child.stdout!);
    (t.child.stdio[3] as NodeJS.WritableStream).end("fd3 ");
    assert.deepEqual(await t.exited, { code: 0, timedOut: false });
    assert.equal(out(), "fd3 x\n");
    const u = startProcess("sh", ["-c", "cat; echo end"], { stdin: "ignore" });
    const uOut = captureText(u.child.stdout!);
    assert.equal(u.child.stdin, null);
    assert.deepEqual(await u.exited, { code: 0, timedOut: false });
    assert.equal(uOut(), "end\n");
  });
  it("captureText keeps the head and the tail within bounds", async () => {
    const text = captureText(Readable.from(["a".repeat(10), "b".repeat(10), "c".repeat(10)]), { head: 10, tail: 5 });
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(text(), `${"a".repeat(10)}\n${"c".repeat(5)}`);
  });
});

describe("error line", () => {
  it("lastLine: the last non-blank line, trimmed, or the fallback", () => {
    assert.equal(lastLine("first\r\n  second  \r\n\n  \n"), "second");
    assert.equal(lastLine(" \n"), "");
    assert.equal(lastLine("", "no message"), "no message");
  });
  it("errorLine: the last line with the prefix, else the last line", () => {
    assert.equal(errorLine("curl: (6) a\ncurl: (7) refused\n* closing", /^curl: \(\d+\)/), "curl: (7) refused");
    assert.equal(errorLine("x\ny\n", /^curl:/), "y");
    assert.equal(errorLine("", /^curl:/), "no message");
  });
});

describe("atomic file", () => {
  it("replaces the content through a temporary file, with the mode asked for", () => {
    const f = path.join(tmpRoot, "a.json");
    fs.writeFileSync(f, "old");
    writeFileAtomic(f, "new", { mode: 0o600 });
    assert.equal(fs.readFileSync(f, "utf8"), "new");
    assert.equal(fs.statSync(f).mode & 0o777, 0o600 & ~process.umask());
    assert.deepEqual(fs.readdirSync(tmpRoot).filter((n) => n.startsWith("a.json")), ["a.json"]);
  });
  it("a failed write leaves the target as it was and no temporary file", async () => {
    const f = path.join(tmpRoot, "b");
    fs.writeFileSync(f, "old");
    fs.mkdirSync(path.join(tmpRoot, "b.busy"));
    assert.throws(() => writeFileAtomic(f, "new", { tmp: path.join(tmpRoot, "b.busy") }), /EISDIR/);
    await assert.rejects(
      replaceFileAtomic(f, async (tmp) => {
        fs.writeFileSync(tmp, "half");
        throw new Error("stream broke");
      }),
      /stream broke/,
    );
    assert.equal(fs.readFileSync(f, "utf8"), "old");
    assert.equal(fs.existsSync(`${f}.tmp`), false);
    await replaceFileAtomic(f, async (tmp) => fs.writeFileSync(tmp, "streamed"));
    assert.equal(fs.readFileSync(f, "utf8"), "streamed");
  });
});

describe("checksum files", () => {
  const h = "A".repeat(64);
  const text = [`${h}  app.tar.gz`, `${h} *bin.tar.gz`, `${h} single-space`, `  ${h}  indented`, `${"b".repeat(128)}  long`, `SHA256 (bsd.tar) = ${h}`, "# comment", `${h}  crlf\r`, ""].join("\n");
  it("exact: what sha256sum -c reads, the same rows as the images store reads", () => {
    const rows = parseSumsExact(text);
    assert.deepEqual(rows.map((r) => r.name), ["app.tar.gz", "bin.tar.gz", "crlf"]);
    assert.ok(rows.every((r) => r.hex === "a".repeat(64)));
    assert.deepEqual(new Map(rows.map((r) => [r.name, r.hex])), parseSums(text));
  });
  it("loose: any spacing, sha512, BSD style, comments skipped", () => {
    assert.deepEqual(
      parseSumsLoose(text).map((r) => `${r.name}:${r.hex.length}`),
      ["app.tar.gz:64", "bin.tar.gz:64", "single-space:64", "indented:64", "long:128", "bsd.tar:64", "crlf:64"],
    );
    assert.deepEqual(parseSumsLoose(h), [{ hex: "a".repeat(64), name: "" }]);
  });
});
