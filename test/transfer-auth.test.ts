// A mirror's AuthProvider (an OCI registry's token) in the transfer, in process against a real
// loopback server: asked on every attempt, renewed once on a 401 from the mirror's own origin,
// never on a 401 from another origin, and a second 401 in a row is the failure (exit 3).

import assert from "node:assert/strict";
import { Writable } from "node:stream";
import { after, before, describe, it } from "node:test";
import { createLogger } from "../src/log.ts";
import { newStats, transfer, type TransferPlan } from "../src/transfer/fetch.ts";
import type { AuthProvider } from "../src/transfer/origin-headers.ts";
import { makeTransports } from "../src/transfer/transports/index.ts";
import { startServer, type TestServer } from "./helpers/server.ts";

class Collect extends Writable {
  chunks: Buffer[] = [];
  override _write(c: Buffer, _e: BufferEncoding, cb: () => void) {
    this.chunks.push(c);
    cb();
  }
}

/** Hands out the tokens in turn: each refresh() moves to the next; false when none is left. */
class Tokens implements AuthProvider {
  refreshed = 0;
  challenges: (string | undefined)[] = [];
  private readonly tokens: string[];
  constructor(...tokens: string[]) {
    this.tokens = tokens;
  }
  authorization() {
    return `Bearer ${this.tokens[this.refreshed]}`;
  }
  async refresh(challenge: string | undefined) {
    this.challenges.push(challenge);
    if (this.refreshed + 1 >= this.tokens.length) return false;
    this.refreshed++;
    return true;
  }
}

let a: TestServer;
let b: TestServer;
before(async () => {
  [a, b] = [await startServer(), await startServer()];
});
after(async () => {
  await a.close();
  await b.close();
});

const body = Buffer.alloc(200_000, 7);
let n = 0;

async function fetchWith(url: string, provider: AuthProvider, lines: string[]) {
  const log = createLogger("text", (l) => lines.push(l));
  const plan: TransferPlan = {
    urls: [url],
    auth: new Map([[url, provider]]),
    config: { retries: 1, backoffBase: 10, backoffMax: 20, connectTimeout: 5000, idleTimeout: 5000, maxRedirects: 5, headers: [] },
    transports: makeTransports(["undici", "curl"], process.env, log),
    tls: { insecure: false },
    env: {},
    log,
    signal: new AbortController().signal,
    what: "package",
    stats: newStats(),
  };
  const { sink } = await transfer(plan, { open: () => new Collect(), drop: async () => {} });
  return Buffer.concat(sink.chunks);
}

describe("a mirror's AuthProvider", () => {
  it("a 401 from the mirror's origin renews once and asks again", async () => {
    const p = `/t${++n}`;
    a.route(p, { body, auth: "Bearer fresh" });
    const tokens = new Tokens("expired", "fresh");
    const lines: string[] = [];
    assert.deepEqual(await fetchWith(`${a.url}${p}`, tokens, lines), body);
    assert.equal(tokens.refreshed, 1);
    assert.deepEqual(tokens.challenges, ['Basic realm="t"'], "the origin's WWW-Authenticate is handed over");
    assert.deepEqual(a.log.filter((l) => l.path === p).map((l) => [l.headers.authorization, l.status]), [["Bearer expired", 401], ["Bearer fresh", 200]]);
    assert.ok(lines.some((l) => /renewed, asking again/.test(l)));
  });

  it("a second 401 in a row is the failure: HTTP 401, exit 3, one renewal", async () => {
    const p = `/t${++n}`;
    a.route(p, { body, auth: "Bearer never-issued" });
    const tokens = new Tokens("one", "two", "three");
    await assert.rejects(fetchWith(`${a.url}${p}`, tokens, []), (e: Error & { exitCode?: number }) => e.exitCode === 3 && /HTTP 401/.test(e.message));
    assert.equal(tokens.refreshed, 1);
  });

  it("a 401 from another origin (a redirect) renews nothing, and gets no token", async () => {
    const p = `/t${++n}`;
    b.route(p, { body, auth: "Bearer fresh" });
    a.route(p, { redirect: `${b.url}${p}` });
    const tokens = new Tokens("expired", "fresh");
    await assert.rejects(fetchWith(`${a.url}${p}`, tokens, []), (e: Error & { exitCode?: number }) => e.exitCode === 3);
    assert.equal(tokens.refreshed, 0);
    assert.ok(b.log.filter((l) => l.path === p).every((l) => l.headers.authorization === undefined));
  });
});
