// The transfer's pure rules, in-process: the resume rule, the origin rule, the failure
// causes of each transport, wget's header output, the retry policy table.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { curlCause, toFailure, TransferFailure, wgetCause } from "../src/transfer/failure.ts";
import { RETRY_POLICY } from "../src/transfer/fetch.ts";
import { headersForHop, originHeaders, parseMirror, sameOrigin } from "../src/transfer/origin-headers.ts";
import { freshState, judgeAnswer, resumeHeaders, startedFresh, strongValidator, type ResumeState } from "../src/transfer/resume.ts";
import { busyboxRedirect, wgetResponse, wgetUnsuitable } from "../src/transfer/transports/wget.ts";

const date = "Wed, 25 Nov 2026 10:00:00 GMT";

describe("resume rule", () => {
  it("a strong validator: an ETag that is not weak, or a Last-Modified 60 s or more before Date", () => {
    assert.deepEqual(strongValidator({ etag: '"abc"' }), { ifRange: '"abc"', kind: "etag" });
    assert.equal(strongValidator({ etag: 'W/"abc"' }), undefined);
    assert.deepEqual(strongValidator({ etag: 'W/"abc"', "last-modified": "Wed, 25 Nov 2026 09:59:00 GMT", date }), { ifRange: "Wed, 25 Nov 2026 09:59:00 GMT", kind: "last-modified" });
    assert.equal(strongValidator({ "last-modified": "Wed, 25 Nov 2026 09:59:01 GMT", date }), undefined, "59 s: weak");
    assert.equal(strongValidator({ "last-modified": "Wed, 25 Nov 2026 09:00:00 GMT" }), undefined, "no Date: weak");
    assert.equal(strongValidator({}), undefined);
  });

  const after = (headers: Record<string, string>, offset = 100): ResumeState => ({ ...startedFresh(freshState(), headers), offset, highWater: offset });
  const first = { etag: '"v1"', "content-length": "1000", date };

  it("asks with Range and If-Range only when it holds bytes and a strong validator", () => {
    assert.equal(resumeHeaders(freshState()), undefined);
    assert.deepEqual(resumeHeaders(after(first)), { range: "bytes=100-", "if-range": '"v1"' });
    assert.equal(resumeHeaders(after({ "content-length": "1000" })), undefined);
  });

  it("judges the answer", () => {
    const s = after(first);
    const ok = { etag: '"v1"', "content-range": "bytes 100-999/1000" };
    assert.deepEqual(judgeAnswer(s, true, 206, ok), { kind: "resume" });
    assert.equal(judgeAnswer(s, true, 200, {}).kind, "restart-with-body");
    assert.equal(judgeAnswer(s, true, 206, { ...ok, etag: '"v2"' }).kind, "restart");
    assert.equal(judgeAnswer(s, true, 206, { "content-range": ok["content-range"] }).kind, "restart", "no validator in the 206");
    assert.equal(judgeAnswer(s, true, 206, { ...ok, "content-range": "bytes 101-999/1000" }).kind, "restart");
    assert.equal(judgeAnswer(s, true, 206, { ...ok, "content-range": "bytes 100-999/1001" }).kind, "restart");
    assert.equal(judgeAnswer(s, true, 206, { ...ok, "content-range": "bytes 100-999/*" }).kind, "restart");
    assert.equal(judgeAnswer(freshState(), false, 206, ok).kind, "reject");
    assert.equal(judgeAnswer(freshState(), false, 200, {}).kind, "fresh");
  });
});

describe("origin rule", () => {
  it("an origin is scheme, host and port", () => {
    const u = (s: string) => new URL(s);
    assert.ok(sameOrigin(u("https://a.example/x"), u("https://a.example:443/y")));
    assert.ok(!sameOrigin(u("https://a.example/x"), u("http://a.example/x")));
    assert.ok(!sameOrigin(u("https://a.example/x"), u("https://a.example:8443/x")));
    assert.ok(!sameOrigin(u("https://a.example/x"), u("https://b.a.example/x")));
  });

  it("user headers and credentials go to the mirror's origin only; the protocol's own headers everywhere", () => {
    const m = parseMirror("https://bob:pw@files.example/p.tar");
    assert.equal(m.url.href, "https://files.example/p.tar");
    const bound = originHeaders(m, { headers: [["X-Api-Key", "k"], ["Cookie", "c=1"]] });
    const same = headersForHop(new URL("https://files.example/other"), m.url, bound, { range: "bytes=5-" });
    assert.equal(same["x-api-key"], "k");
    assert.equal(same.authorization, `Basic ${Buffer.from("bob:pw").toString("base64")}`);
    const other = headersForHop(new URL("https://cdn.example/p.tar"), m.url, bound, { range: "bytes=5-" });
    assert.deepEqual(Object.keys(other).sort(), ["accept-encoding", "range", "user-agent"]);
  });
});

describe("failure causes", () => {
  const ctx = { transport: "undici", url: new URL("http://127.0.0.1:9/p") };
  it("Node and undici error codes", () => {
    const e = (code: string) => Object.assign(new Error(`x ${code}`), { code });
    assert.equal(toFailure(e("ECONNREFUSED"), ctx).causeKind, "refused");
    assert.equal(toFailure(e("ENOTFOUND"), ctx).causeKind, "dns");
    assert.equal(toFailure(e("UNABLE_TO_VERIFY_LEAF_SIGNATURE"), ctx).causeKind, "certificate");
    assert.equal(toFailure(e("DEPTH_ZERO_SELF_SIGNED_CERT"), ctx).causeKind, "certificate");
    assert.equal(toFailure(e("UND_ERR_CONNECT_TIMEOUT"), ctx).causeKind, "timeout");
    assert.equal(toFailure(new TypeError("fetch failed", { cause: e("ECONNREFUSED") }), ctx).causeKind, "refused");
    assert.equal(toFailure(e("ECONNREFUSED"), { ...ctx, proxy: new URL("http://proxy:3128") }).causeKind, "proxy");
    assert.match(toFailure(e("ECONNREFUSED"), ctx).hint, /127\.0\.0\.1:9/);
  });
  it("curl exit codes and wget messages", () => {
    assert.deepEqual([6, 7, 28, 35, 60, 56, 5, 97].map(curlCause), ["dns", "refused", "timeout", "tls", "certificate", "reset", "proxy", "proxy"]);
    assert.equal(wgetCause(4, "failed: Connection refused."), "refused");
    assert.equal(wgetCause(4, "wget: unable to resolve host address ‘x.invalid’"), "dns");
    assert.equal(wgetCause(1, "wget: bad address 'x.invalid'"), "dns");
    assert.equal(wgetCause(1, "wget: can't connect to remote host (127.0.0.1): Connection refused"), "refused");
    assert.equal(wgetCause(5, "ERROR: The certificate of ‘127.0.0.1’ is not trusted."), "certificate");
    assert.equal(wgetCause(4, "failed: Connection timed out."), "timeout");
  });
  it("an HTTP failure keeps its words", () => {
    const f = new TransferFailure("http", "HTTP 404 from x", { status: 404, retryable: false });
    assert.equal(toFailure(f, ctx), f);
  });
});

describe("wget", () => {
  it("reads the final answer from GNU and busybox -S output", () => {
    const gnu = "  HTTP/1.1 200 OK\n  Content-Length: 10\n  ETag: \"a\"\n2026-01-01 URL:http://x [10/10] -> \"-\" [1]\n";
    assert.deepEqual(wgetResponse(gnu), { status: 200, headers: { "content-length": "10", etag: '"a"' } });
    const bb = "Connecting to 127.0.0.1:1 (127.0.0.1:1)\n  HTTP/1.1 302 Found\n  location: /a\n  HTTP/1.1 200 OK\n  content-length: 5\n  \nwriting to stdout\n";
    assert.equal(wgetResponse(bb)?.status, 200);
    assert.deepEqual(busyboxRedirect(bb), { status: 302, headers: { location: "/a" } });
    assert.equal(wgetResponse("Connecting to x\n  HTTP/1.1 404 Not Found\nwget: server returned error: HTTP/1.1 404 Not Found\n")?.status, 404);
  });
  it("is never handed a secret", () => {
    const req = (url: string, headers: Record<string, string> = {}, proxy?: string) => ({ url: new URL(url), headers: { "user-agent": "dp", ...headers }, signal: new AbortController().signal, connectTimeoutMs: 1000, tls: { insecure: false }, proxy: proxy ? new URL(proxy) : undefined });
    assert.equal(wgetUnsuitable("gnu", req("https://x/p?sig=1")), undefined, "GNU reads the URL from stdin");
    assert.match(wgetUnsuitable("gnu", req("https://x/p", { authorization: "Bearer t" }))!, /credentials/);
    assert.match(wgetUnsuitable("gnu", req("https://x/p", { "x-team": "blue" }))!, /user headers/);
    assert.match(wgetUnsuitable("gnu", req("http://x/p", {}, "http://u:p@proxy:3128"))!, /proxy URL carries credentials/);
    assert.match(wgetUnsuitable("busybox", req("http://x/p?sig=1"))!, /query string/);
    assert.match(wgetUnsuitable("busybox", req("https://x/p"))!, /does not verify TLS/);
    assert.equal(wgetUnsuitable("busybox", req("http://x/p", { "if-none-match": '"a"' })), undefined);
  });
});

describe("retry policy table", () => {
  const step = (f: Partial<TransferFailure>, facts: { stalled?: boolean; progressed?: boolean } = {}) =>
    RETRY_POLICY.find((r) => r.test({ failure: { retryable: true, ...f } as TransferFailure, stalled: facts.stalled ?? false, progressed: facts.progressed ?? false }))!.then;
  it("reads as the README says", () => {
    assert.equal(step({}, { progressed: true }), "same-transport");
    assert.equal(step({ status: 404, retryable: false }), "drop-mirror");
    assert.equal(step({ status: 503 }), "next-mirror");
    assert.equal(step({}, { stalled: true }), "next-mirror");
    assert.equal(step({}), "next-transport");
  });
});
