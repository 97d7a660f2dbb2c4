// Pure logic: config, redaction, backoff, proxy rules, detection, entry paths, checksum files.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { backoffDelay, isRetryableStatus, parseRetryAfter } from "../src/transfer/backoff.ts";
import { parseChecksumFile } from "../src/verify/checksum-file.ts";
import { parseConfig, type Config } from "../src/cli/config.ts";
import { parseExpectedDigest } from "../src/verify/digest.ts";
import { detectFormat, looksLikeTar } from "../src/archive/detect.ts";
import { entryPath, RESERVED_ROOT_NAME } from "../src/archive/entry-path.ts";
import { StagingTree } from "../src/archive/staging-tree.ts";
import { numericFieldProblem, paxProblem } from "../src/archive/strict-tar.ts";
import { STATE_DIR } from "../src/install/installation.ts";
import { UsageError } from "../src/errors.ts";
import { parseContentRange } from "../src/transfer/fetch.ts";
import { bypassed, proxyFor } from "../src/transfer/proxy.ts";
import { redactText, redactUrl } from "../src/redact.ts";
import { parseDuration, parseSize } from "../src/units.ts";
import { rawTar } from "./helpers/fixtures.ts";

const run = (argv: string[], env: NodeJS.ProcessEnv): Config => {
  const a = parseConfig(argv, env);
  assert.equal(a.kind, "run");
  return (a as { result: { config: Config } }).result.config;
};

describe("config", () => {
  it("defaults", () => {
    const c = run([], { PACKAGE_URL: "http://h/p.tgz" });
    assert.equal(c.dest, "/shared-data/diff-var-files");
    assert.equal(c.logFormat, "text");
    assert.deepEqual(c.transports, ["undici", "node", "curl", "wget"]);
    assert.equal(c.idleTimeout, 30_000);
  });
  it("several mirrors, space or comma separated", () => {
    assert.deepEqual(run([], { PACKAGE_URL: "http://a/p, http://b/p  http://c/p" }).urls, ["http://a/p", "http://b/p", "http://c/p"]);
  });
  it("a flag wins over its variable", () => {
    assert.equal(run(["--dest", "/x"], { PACKAGE_URL: "http://h/p", PACKAGE_DEST: "/y" }).dest, "/x");
    assert.equal(run(["--idle-timeout=2m"], { PACKAGE_URL: "http://h/p" }).idleTimeout, 120_000);
  });
  it("every variable has a flag twin", async () => {
    const { OPTIONS } = await import("../src/cli/config.ts");
    for (const o of OPTIONS) assert.match(o.flag, /^--[a-z0-9-]+$/, o.env);
    assert.equal(new Set(OPTIONS.map((o) => o.flag)).size, OPTIONS.length);
  });
  it("rejects bad input with usage errors", () => {
    const bad: [string[], NodeJS.ProcessEnv, RegExp][] = [
      [[], {}, /PACKAGE_URL is not set/],
      [[], { PACKAGE_URL: "ftp://h/p" }, /must be http or https/],
      [[], { PACKAGE_URL: "http://h/p", LOG_FORMAT: "xml" }, /LOG_FORMAT must be text or json/],
      [[], { PACKAGE_URL: "http://h/p", PACKAGE_RETRIES: "many" }, /not an integer/],
      [[], { PACKAGE_URL: "http://h/p", PACKAGE_TRANSPORTS: "undici,carrier-pigeon" }, /unknown transport/],
      [[], { PACKAGE_URL: "http://h/p", PACKAGE_CERT_FILE: "/c" }, /go together/],
      [["--destination", "/x"], { PACKAGE_URL: "http://h/p" }, /unknown flag --destination/],
      [[], { PACKAGE_URL: "http://h/p", PACKAGE_DESTINATION: "/x" }, /unknown environment variable PACKAGE_DESTINATION/],
    ];
    for (const [argv, env, re] of bad) assert.throws(() => parseConfig(argv, env), (e: unknown) => e instanceof UsageError && re.test(e.message) && e.exitCode === 2);
  });
  it("digests", () => {
    assert.deepEqual(parseExpectedDigest("A".repeat(64), "x"), { algorithm: "sha256", hex: "a".repeat(64) });
    assert.deepEqual(parseExpectedDigest(`sha512:${"b".repeat(128)}`, "x"), { algorithm: "sha512", hex: "b".repeat(128) });
    assert.throws(() => parseExpectedDigest(`sha256:${"b".repeat(128)}`, "x"));
  });
});

describe("units", () => {
  it("durations and sizes", () => {
    assert.equal(parseDuration("250ms"), 250);
    assert.equal(parseDuration("3"), 3000);
    assert.equal(parseDuration("1.5m"), 90_000);
    assert.equal(parseDuration("soon"), undefined);
    assert.equal(parseSize("1KiB"), 1024);
    assert.equal(parseSize("2G"), 2 * 1024 ** 3);
  });
});

describe("redaction", () => {
  it("user-info and every query value", () => {
    assert.equal(redactUrl("https://u:p@h/x.tgz?sig=abc&v=1"), "https://REDACTED:REDACTED@h/x.tgz?sig=REDACTED&v=REDACTED");
    assert.equal(redactText("curl: (6) failed for https://u:p@h/x?token=zz"), "curl: (6) failed for https://REDACTED@h/x?token=REDACTED");
  });
});

describe("backoff", () => {
  it("full jitter under an exponential cap", () => {
    assert.equal(backoffDelay(1, 1000, 30_000, () => 0.999), 999);
    assert.equal(backoffDelay(4, 1000, 30_000, () => 0.5), 4000);
    assert.equal(backoffDelay(20, 1000, 30_000, () => 0.5), 15_000);
    assert.equal(backoffDelay(3, 1000, 30_000, () => 0), 0);
  });
  it("Retry-After as seconds or a date", () => {
    assert.equal(parseRetryAfter("7"), 7000);
    assert.equal(parseRetryAfter(new Date(10_000).toUTCString(), 4_000), 6000);
    assert.equal(parseRetryAfter("later"), undefined);
  });
  it("which statuses are retried", () => {
    for (const s of [408, 429, 500, 502, 503, 504]) assert.ok(isRetryableStatus(s));
    for (const s of [400, 401, 403, 404, 410]) assert.ok(!isRetryableStatus(s));
  });
});

describe("proxy", () => {
  it("scheme-specific, lower case first, NO_PROXY by suffix, port and CIDR", () => {
    const env = { http_proxy: "http://p1:3128", HTTPS_PROXY: "p2:8080", NO_PROXY: ".internal,10.0.0.0/8,example.com:8443" };
    assert.equal(proxyFor(new URL("http://a.b/x"), env)?.href, "http://p1:3128/");
    assert.equal(proxyFor(new URL("https://a.b/x"), env)?.href, "http://p2:8080/");
    assert.equal(proxyFor(new URL("http://svc.internal/x"), env), undefined);
    assert.equal(proxyFor(new URL("http://10.1.2.3/x"), env), undefined);
    assert.ok(bypassed(new URL("https://example.com:8443/"), env.NO_PROXY));
    assert.ok(!bypassed(new URL("https://example.com/"), env.NO_PROXY));
  });
});

describe("format detection", () => {
  it("by magic bytes", () => {
    assert.equal(detectFormat(Buffer.from([0x1f, 0x8b, 8, 0])), "gzip");
    assert.equal(detectFormat(Buffer.from([0x28, 0xb5, 0x2f, 0xfd])), "zstd");
    assert.equal(detectFormat(Buffer.from("BZh91AY")), "bzip2");
    assert.equal(detectFormat(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0])), "xz");
    assert.equal(detectFormat(rawTar([{ name: "a", content: "x" }])), "tar");
    assert.equal(detectFormat(Buffer.alloc(1024)), "tar");
    assert.equal(detectFormat(Buffer.from("<html>".padEnd(600))), "unknown");
  });
  it("a tar header with a wrong checksum is not tar", () => {
    const t = rawTar([{ name: "a", content: "x" }]);
    t[0] ^= 1;
    assert.ok(!looksLikeTar(t));
  });
});

describe("entry paths", () => {
  it("normalises and refuses escapes", () => {
    assert.deepEqual(entryPath("./a//b/./c", 0, 4096), { ok: true, rel: "a/b/c" });
    assert.deepEqual(entryPath("top/a", 1, 4096), { ok: true, rel: "a" });
    assert.deepEqual(entryPath("top/", 1, 4096), { ok: true, skip: true });
    assert.equal(entryPath("/etc/x", 0, 4096).ok, false);
    assert.equal(entryPath("a/../../x", 0, 4096).ok, false);
    assert.equal(entryPath("a/..", 0, 4096).ok, false);
    assert.equal(entryPath("C:\\x", 0, 4096).ok, false);
  });
  it("refuses name components over NAME_MAX and the program's own state name", () => {
    assert.equal(entryPath(`a/${"n".repeat(256)}`, 0, 4096).ok, false);
    assert.deepEqual(entryPath(`a/${"n".repeat(255)}`, 0, 4096), { ok: true, rel: `a/${"n".repeat(255)}` });
    assert.equal(entryPath(`${"n".repeat(300)}/a`, 1, 4096).ok, true, "a stripped component never reaches the disk");
    assert.equal(entryPath(".download-package", 0, 4096).ok, false);
    assert.equal(entryPath("./.download-package/installed.json", 0, 4096).ok, false);
    assert.equal(entryPath("top/.download-package/x", 1, 4096).ok, false);
    assert.equal(entryPath("sub/.download-package", 0, 4096).ok, true, "only the root name is reserved");
    assert.equal(RESERVED_ROOT_NAME, STATE_DIR);
  });
});

describe("symlink resolution over the staging tree", () => {
  const tree = (spec: Record<string, string>) => {
    const t = new StagingTree();
    for (const [rel, v] of Object.entries(spec)) t.set(rel, v === "dir" ? { kind: "dir" } : v === "file" ? { kind: "file" } : { kind: "link", target: v.replace(/^-> /, "") });
    return t;
  };
  const where = (t: StagingTree, dir: string, target: string) => {
    const r = t.resolve(dir, target);
    return r.ok ? r.path : `refused: ${r.reason}`;
  };
  it("resolves like the kernel: links followed, '..' from where the link led", () => {
    const t = tree({ a: "dir", "a/b": "dir", d: "-> .", up: "-> a/b", chain: "-> up" });
    assert.equal(where(t, "a/b", "../c"), "a/c");
    assert.equal(where(t, "", "."), "");
    assert.equal(where(t, "", "up/.."), "a");
    assert.equal(where(t, "", "chain/../.."), "");
    assert.match(where(t, "", "d/../outside"), /refused: .*leaves the destination/);
    assert.match(where(t, "", "chain/../../.."), /leaves the destination/);
    assert.match(where(t, "a", "../../x"), /leaves/);
    assert.match(where(t, "", "/etc"), /leaves the destination \(an absolute path\)/);
    assert.match(where(t, "", ""), /empty target/);
  });
  it("a name that does not exist yet may not be followed by '..'", () => {
    const t = tree({ f: "file" });
    assert.equal(where(t, "", "later/x"), "later/x");
    assert.match(where(t, "", "later/../x"), /does not exist|not a directory/);
    assert.match(where(t, "", "f/../x"), /not a directory/);
    assert.equal(where(t, "", "f"), "f");
  });
  it("loops and the state directory are refused", () => {
    const t = new StagingTree();
    assert.equal(t.addLink("a", "b").ok, true);
    assert.match((t.addLink("b", "a") as { reason: string }).reason, /loop/);
    assert.match((t.addLink("s", ".download-package/installed.json") as { reason: string }).reason, /\.download-package/);
    assert.match((t.addLink("self", "self/x") as { reason: string }).reason, /loop/);
  });
});

describe("tar headers read as GNU tar reads them", () => {
  const block = (off: number, text: string) => {
    const h = rawTar([{ name: "a", content: "x" }]).subarray(0, 512);
    h.fill(0, off, off + 8).write(text, off, "latin1");
    return h;
  };
  it("numeric fields are octal between blanks, or base-256", () => {
    assert.equal(numericFieldProblem(rawTar([{ name: "a", content: "x" }]).subarray(0, 512)), undefined);
    assert.equal(numericFieldProblem(block(100, " 644 ")), undefined);
    assert.equal(numericFieldProblem(block(100, "")), undefined);
    assert.match(numericFieldProblem(block(100, "0o644")) ?? "", /mode is "0o644"/);
    assert.match(numericFieldProblem(block(108, "-1")) ?? "", /uid/);
    assert.match(numericFieldProblem(block(100, "64 4")) ?? "", /mode/);
    const b256 = block(124, "");
    b256[124] = 0x80;
    assert.equal(numericFieldProblem(b256), undefined);
  });
  it("PAX records: length, key=value, numbers", () => {
    assert.equal(paxProblem("18 path=some/name\n12 size=100\n"), undefined);
    assert.equal(paxProblem("27 mtime=1700000000.123456\n"), undefined);
    assert.match(paxProblem("19 path=some/name\n") ?? "", /malformed PAX record at byte 0/);
    assert.match(paxProblem("11 size=-5\n") ?? "", /size="-5" is not a valid number/);
    assert.match(paxProblem("9 =value\n") ?? "", /malformed/);
    assert.match(paxProblem("21 hdrcharset=BINARY\n") ?? "", /hdrcharset=BINARY/);
    assert.match(paxProblem("8 path=\n") ?? "", /path is empty/);
  });
});

describe("checksum files", () => {
  const a = "a".repeat(64);
  const b = "b".repeat(64);
  it("GNU and BSD styles, picked by file name", () => {
    assert.deepEqual(parseChecksumFile(`${a}  x.tgz\n${b} *pkg.tar.gz\n`, ["pkg.tar.gz"]), { algorithm: "sha256", hex: b });
    assert.deepEqual(parseChecksumFile(`SHA256 (pkg.tar.gz) = ${b}\n`, ["pkg.tar.gz"]), { algorithm: "sha256", hex: b });
    assert.deepEqual(parseChecksumFile(`${a}\n`, ["whatever"]), { algorithm: "sha256", hex: a });
    assert.equal(parseChecksumFile(`${a}  x.tgz\n${b}  y.tgz\n`, ["pkg.tar.gz"]), undefined);
  });
});

describe("content-range", () => {
  it("parses", () => {
    assert.deepEqual(parseContentRange("bytes 100-199/200"), { start: 100, total: 200 });
    assert.deepEqual(parseContentRange("bytes 0-9/*"), { start: 0, total: undefined });
    assert.equal(parseContentRange("items 1-2/3"), undefined);
  });
});
