// Package formats (issue 20): PACKAGE_FORMAT overriding detection, .tar.xz and .tar.bz2
// through the system's decoder process, and PACKAGE_FORMAT=file.

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import zlib from "node:zlib";
import { after, before, describe, it } from "node:test";
import { chooseFileName, contentDispositionName, unsafeFileName } from "../src/archive/file-name.ts";
import { makeTree, tarOf } from "./helpers/fixtures.ts";
import { runDp, snapshot } from "./helpers/run.ts";
import { startServer, type TestServer } from "./helpers/server.ts";
import { removeOnExit, scratchDir } from "./helpers/transports.ts";

const tree = removeOnExit(makeTree({ "etc/app.conf": { content: "key=value\n".repeat(5000), mode: 0o644 }, "bin/run": { content: "#!/bin/sh\necho hi\n", mode: 0o755 } }));
const tar = tarOf(tree);

let srv: TestServer;
before(async () => {
  srv = await startServer();
});
after(async () => {
  await srv.close();
});

let n = 0;
async function serveAndRun(body: Buffer, env: Record<string, string> = {}, name = `p${++n}`) {
  const p = `/${name}`;
  srv.route(p, { body });
  const dest = scratchDir();
  const r = await runDp({ PACKAGE_URL: `${srv.url}${p}`, PACKAGE_DEST: dest, ...env });
  return { r, dest };
}

describe("PACKAGE_FORMAT", () => {
  it("a declared format that matches the bytes installs", async () => {
    const { r, dest } = await serveAndRun(zlib.gzipSync(tar), { PACKAGE_FORMAT: "tar.gz" });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(snapshot(dest), snapshot(tree));
  });

  it("a declared format that disagrees with the magic bytes is exit 5 naming both", async () => {
    const { r, dest } = await serveAndRun(zlib.gzipSync(tar), { PACKAGE_FORMAT: "tar.zst" });
    assert.equal(r.code, 5, r.stderr);
    assert.match(r.stderr, /PACKAGE_FORMAT is tar\.zst but the body is gzip data/);
    assert.deepEqual(snapshot(dest), {});
  });

  it("on the worker sink too (a plain tar declared tar.gz)", async () => {
    const { r } = await serveAndRun(tar, { PACKAGE_FORMAT: "tar.gz", DP_SINK: "worker" });
    assert.equal(r.code, 5, r.stderr);
    assert.match(r.stderr, /PACKAGE_FORMAT is tar\.gz but the body is tar data/);
  });

  it("declared tar, served a non-archive: exit 5 naming both", async () => {
    const { r } = await serveAndRun(Buffer.from("<html>login</html>"), { PACKAGE_FORMAT: "tar" });
    assert.equal(r.code, 5, r.stderr);
    assert.match(r.stderr, /PACKAGE_FORMAT is tar but the body is an HTML page/);
  });

  it("an unknown value, and zip, are exit 2 before any download", async () => {
    for (const [value, msg] of [["rar", /unknown PACKAGE_FORMAT "rar"/], ["zip", /zip is not supported yet/]] as const) {
      const before = srv.log.length;
      const { r } = await serveAndRun(tar, { PACKAGE_FORMAT: value });
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, msg);
      assert.equal(srv.log.length, before);
    }
  });

  it("the --format flag works like the variable", async () => {
    srv.route("/flag", { body: zlib.gzipSync(tar) });
    const r = await runDp({ PACKAGE_URL: `${srv.url}/flag`, PACKAGE_DEST: scratchDir() }, ["--format", "tar.xz"]);
    assert.equal(r.code, 5, r.stderr);
    assert.match(r.stderr, /PACKAGE_FORMAT is tar\.xz but the body is gzip data/);
  });
});

const compress = (program: string, b: Buffer) => {
  const r = spawnSync(program, ["-c"], { input: b, maxBuffer: 1 << 30 });
  assert.equal(r.status, 0, String(r.stderr));
  return r.stdout;
};
const sha256 = (b: Buffer) => crypto.createHash("sha256").update(b).digest("hex");

/** The tree GNU tar extracts from the same archive (as root: modes as archived). */
function gnuTarTree(body: Buffer, name: string): string {
  const dir = removeOnExit(fs.mkdtempSync(path.join(os.tmpdir(), "formats-gnu-")));
  const file = path.join(dir, "..", `${path.basename(dir)}-${name}`);
  fs.writeFileSync(file, body);
  const out = path.join(dir, "out");
  fs.mkdirSync(out);
  const r = spawnSync("tar", ["-xf", file, "-C", out]);
  fs.rmSync(file);
  assert.equal(r.status, 0, String(r.stderr));
  return out;
}

/** A PATH directory with no decoder in it (only setpriv, which runs the tests as another user). */
function pathWithoutDecoders(...also: string[]): string {
  const dir = removeOnExit(fs.mkdtempSync(path.join(os.tmpdir(), "formats-path-")));
  fs.chmodSync(dir, 0o755);
  for (const program of ["setpriv", ...also]) {
    const found = spawnSync("sh", ["-c", `command -v ${program}`], { encoding: "utf8" }).stdout.trim();
    if (found) fs.symlinkSync(found, path.join(dir, program));
  }
  return dir;
}

const BUSYBOX = spawnSync("sh", ["-c", "command -v busybox"]).status === 0;

/** Live (not zombie) processes named `comm` whose parent's environment holds `marker`, with their environment. */
function decoderProcesses(comm: string, marker: string): { pid: string; env: string[] }[] {
  const out: { pid: string; env: string[] }[] = [];
  for (const pid of fs.readdirSync("/proc").filter((p) => /^\d+$/.test(p))) {
    try {
      const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
      const m = /^\d+ \((.*)\) (\S) (\d+)/.exec(stat);
      if (!m || m[1] !== comm || m[2] === "Z") continue;
      if (!fs.readFileSync(`/proc/${m[3]}/environ`, "utf8").includes(marker)) continue;
      out.push({ pid, env: fs.readFileSync(`/proc/${pid}/environ`, "utf8").split("\0").filter(Boolean) });
    } catch {
      /* exited meanwhile */
    }
  }
  return out;
}

for (const [format, program, declared] of [["xz", "xz", "tar.xz"], ["bzip2", "bzip2", "tar.bz2"]] as const) {
  describe(`${format} packages (the system's ${program} as a subprocess)`, () => {
    const body = compress(program, tar);

    it("installs the tree GNU tar extracts, detected by magic bytes and declared", async () => {
      for (const env of [{}, { PACKAGE_FORMAT: declared }] as Record<string, string>[]) {
        const { r, dest } = await serveAndRun(body, env);
        assert.equal(r.code, 0, r.stderr);
        assert.match(r.stderr, new RegExp(`installed .*format=${format}`));
        assert.deepEqual(snapshot(dest), snapshot(gnuTarTree(body, `p.${declared}`)));
      }
    });

    it("corrupt data is exit 5; with a checksum it is exit 4", async () => {
      const bad = Buffer.from(body);
      bad[Math.floor(bad.length / 2)] ^= 0xff;
      const corrupt = await serveAndRun(bad);
      assert.equal(corrupt.r.code, 5, corrupt.r.stderr);
      // bzip2 writes a block out before checking its CRC: the garbage may fail the tar check first.
      assert.match(corrupt.r.stderr, new RegExp(`corrupt ${format} data|${format} data that is not a tar archive`));
      assert.deepEqual(snapshot(corrupt.dest), {});
      const checked = await serveAndRun(bad, { PACKAGE_SHA256: sha256(body) });
      assert.equal(checked.r.code, 4, checked.r.stderr);
      assert.match(checked.r.stderr, /checksum mismatch/);
    });

    it("no decoder on PATH is exit 5 naming what to install", async () => {
      const { r } = await serveAndRun(body, { PATH: pathWithoutDecoders() });
      assert.equal(r.code, 5, r.stderr);
      assert.match(r.stderr, new RegExp(`no ${format} decoder is on PATH .*hint=.*install ${program === "xz" ? "xz-utils" : "bzip2"}`));
    });

    it("busybox alone on PATH decodes it (its applet, as on Alpine)", { skip: !BUSYBOX && "busybox is not installed" }, async () => {
      const { r, dest } = await serveAndRun(body, { PATH: pathWithoutDecoders("busybox") });
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(snapshot(dest), snapshot(tree));
    });

    it("the limits apply: PACKAGE_MAX_RATIO (a bomb) and PACKAGE_MAX_BYTES are exit 5", async () => {
      const dir = removeOnExit(fs.mkdtempSync(path.join(os.tmpdir(), "formats-bomb-")));
      const made = spawnSync("sh", ["-c", `truncate -s 80M zeros && tar -cf - zeros | ${program} -c -1`], { cwd: dir, maxBuffer: 1 << 26 });
      assert.equal(made.status, 0, String(made.stderr));
      const bomb = await serveAndRun(made.stdout, { PACKAGE_MAX_RATIO: "100" });
      assert.equal(bomb.r.code, 5, bomb.r.stderr);
      assert.match(bomb.r.stderr, /expands more than 100:1/);
      const big = await serveAndRun(made.stdout, { PACKAGE_MAX_BYTES: "1MiB", PACKAGE_MAX_RATIO: "0" });
      assert.equal(big.r.code, 5, big.r.stderr);
      assert.deepEqual(snapshot(big.dest), {});
    });

    it("truncated data is exit 5", async () => {
      const { r, dest } = await serveAndRun(body.subarray(0, Math.floor(body.length * 0.6)));
      assert.equal(r.code, 5, r.stderr);
      assert.match(r.stderr, new RegExp(`corrupt ${format} data`));
      assert.deepEqual(snapshot(dest), {});
    });

    it(`a .tar.${format} of a single file (not a tar) is exit 5`, async () => {
      const { r } = await serveAndRun(compress(program, Buffer.from("just text\n".repeat(100))));
      assert.equal(r.code, 5, r.stderr);
      assert.match(r.stderr, new RegExp(`${format} data that is not a tar archive`));
    });

    it("a restart mid-stream kills the first decoder (one at a time, no leftover) and it sees no secret", async () => {
      const random = removeOnExit(makeTree({ "data.bin": { content: crypto.randomBytes(400_000).toString("latin1"), mode: 0o644 } }));
      const v1 = compress(program, tarOf(random));
      const random2 = removeOnExit(makeTree({ "other.bin": { content: crypto.randomBytes(400_000).toString("latin1"), mode: 0o644 } }));
      const v2 = compress(program, tarOf(random2));
      const p = `/restart-${format}`;
      // The first response is cut halfway; the retry's If-Range fails (new ETag): a restart from byte 0.
      srv.route(p, { bodies: [v1, v2], etag: (i) => `"v${i}"`, dropAt: { 0: Math.floor(v1.length / 2) }, throttle: 400_000 });
      const dest = scratchDir();
      const samples: { pid: string; env: string[] }[][] = [];
      let polling = true;
      const poll = (async () => {
        while (polling) {
          samples.push(decoderProcesses(program, `PACKAGE_DEST=${dest}`));
          await new Promise((res) => setTimeout(res, 20));
        }
      })();
      const r = await runDp({ PACKAGE_URL: `${srv.url}${p}`, PACKAGE_DEST: dest, PACKAGE_HEADERS: "X-Secret: s3cr3t" }).finally(() => (polling = false));
      await poll;
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stderr, /restarts=1/);
      assert.deepEqual(snapshot(dest), snapshot(random2));
      const pids = new Set(samples.flat().map((s) => s.pid));
      assert.ok(pids.size >= 2, `both decoders seen: ${[...pids]}`);
      assert.ok(samples.filter((s) => s.length > 1).length <= 1, "the dropped decoder outlived the restart");
      for (const s of samples.flat()) assert.deepEqual(s.env.map((e) => e.split("=")[0]).sort(), ["LC_ALL", "PATH"]);
    });
  });
}

describe("PACKAGE_FORMAT=file", () => {
  // Bytes that are an archive: saved as they are all the same, never decompressed.
  const blob = Buffer.concat([zlib.gzipSync(tar), crypto.randomBytes(200_000)]);

  async function runFile(route: string, r: Parameters<TestServer["route"]>[1], env: Record<string, string> = {}, dest = scratchDir()) {
    srv.route(route, r);
    const res = await runDp({ PACKAGE_URL: `${srv.url}${route}`, PACKAGE_DEST: dest, PACKAGE_FORMAT: "file", ...env });
    return { r: res, dest };
  }

  it("saves the body as it is, named by the URL's last segment (decoded), mode 0644 by default", async () => {
    const { r, dest } = await runFile("/dl/my%20tool-1.0.bin", { body: blob });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /installed .*format=file files=1/);
    assert.deepEqual(fs.readdirSync(dest).filter((f) => f !== ".download-package"), ["my tool-1.0.bin"]);
    const file = path.join(dest, "my tool-1.0.bin");
    assert.ok(fs.readFileSync(file).equals(blob));
    assert.equal(fs.statSync(file).mode & 0o7777, 0o644);
  });

  it("replaces the previous tree; PACKAGE_FILENAME and PACKAGE_FILE_MODE name it and set its mode", async () => {
    const first = await serveAndRun(tar);
    assert.equal(first.r.code, 0, first.r.stderr);
    const { r, dest } = await runFile("/dl/x", { body: blob }, { PACKAGE_FILENAME: "tool", PACKAGE_FILE_MODE: "0755" }, first.dest);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(Object.keys(snapshot(dest)), ["tool"]);
    assert.equal(fs.statSync(path.join(dest, "tool")).mode & 0o7777, 0o755);
  });

  it("takes a sanitised Content-Disposition filename, else falls back to the URL", async () => {
    const cases: [string, string][] = [
      ['attachment; filename="../../etc/passwd"', "passwd"],
      ["attachment; filename*=UTF-8''na%C3%AFve%20file.txt; filename=\"naive.txt\"", "naïve file.txt"],
      ['attachment; filename="dir\\\\evil.sh"', "evil.sh"],
      ['attachment; filename=".download-package"', "fallback.bin"],
      ['attachment; filename=".."', "fallback.bin"],
      ["attachment; filename*=UTF-8''a%00b", "fallback.bin"],
    ];
    for (const [header, expected] of cases) {
      const { r, dest } = await runFile(`/cd${++n}/fallback.bin`, { body: blob, headers: { "content-disposition": header } });
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(Object.keys(snapshot(dest)), [expected], header);
    }
  });

  it("no usable name is exit 2 naming PACKAGE_FILENAME; a bad PACKAGE_FILENAME or one without PACKAGE_FORMAT=file is exit 2", async () => {
    const none = await runFile("/dl/", { body: blob });
    assert.equal(none.r.code, 2, none.r.stderr);
    assert.match(none.r.stderr, /cannot name the file.*PACKAGE_FILENAME/);
    for (const [env, msg] of [
      [{ PACKAGE_FILENAME: "../escape" }, /PACKAGE_FILENAME "..\/escape" holds a path separator/],
      [{ PACKAGE_FILENAME: ".download-package.lock" }, /starts with \.download-package/],
      [{ PACKAGE_FILENAME: "a.bin", PACKAGE_FORMAT: "auto" }, /PACKAGE_FILENAME is set but PACKAGE_FORMAT is not file/],
    ] as const) {
      const { r } = await runFile("/dl/ok.bin", { body: blob }, env);
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, msg);
    }
  });

  it("checksum: a mismatch is exit 4 keeping the previous file, a match installs, then nothing to do", async () => {
    const good = await runFile("/sum/a.bin", { body: blob }, { PACKAGE_SHA256: sha256(blob) });
    assert.equal(good.r.code, 0, good.r.stderr);
    const before = snapshot(good.dest);
    const bad = await runFile("/sum/a.bin", { body: blob, corruptAt: 1000 }, { PACKAGE_SHA256: `sha512:${crypto.createHash("sha512").update(blob).digest("hex")}` }, good.dest);
    assert.equal(bad.r.code, 4, bad.r.stderr);
    assert.deepEqual(snapshot(good.dest), before);
    const again = await runFile("/sum/a.bin", { body: blob }, { PACKAGE_SHA256: sha256(blob) }, good.dest);
    assert.equal(again.r.code, 0, again.r.stderr);
    assert.match(again.r.stderr, /already installed/);
  });

  it("resumes a cut transfer with Range; the file equals the body", async () => {
    const { r, dest } = await runFile("/resume/big.bin", { body: blob, dropAt: { 0: 100_000 } }, { PACKAGE_SHA256: sha256(blob) });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /resumes=1/);
    assert.ok(fs.readFileSync(path.join(dest, "big.bin")).equals(blob));
  });

  it("over PACKAGE_MAX_BYTES is exit 5", async () => {
    const { r, dest } = await runFile("/max/big.bin", { body: blob }, { PACKAGE_MAX_BYTES: "100KiB" });
    assert.equal(r.code, 5, r.stderr);
    assert.match(r.stderr, /larger than PACKAGE_MAX_BYTES/);
    assert.deepEqual(snapshot(dest), {});
  });
});

describe("file names (pure)", () => {
  it("Content-Disposition: filename* (UTF-8) first, quoted and bare filename", () => {
    assert.equal(contentDispositionName(`attachment; filename="a b.bin"`), "a b.bin");
    assert.equal(contentDispositionName(`attachment; filename=plain.bin; size=3`), "plain.bin");
    assert.equal(contentDispositionName(`attachment; filename="q\\"uote.txt"`), 'q"uote.txt');
    assert.equal(contentDispositionName(`attachment; filename="x.txt"; filename*=UTF-8''%E2%82%AC.txt`), "€.txt");
    assert.equal(contentDispositionName(`attachment; filename*=UTF-8''%E2%28; filename="ok.txt"`), "ok.txt");
    assert.equal(contentDispositionName("inline"), undefined);
    assert.equal(contentDispositionName(undefined), undefined);
  });

  it("unsafe names are refused, server names reduced to their last component", () => {
    for (const bad of ["", ".", "..", "a/b", "a\\b", "nul\0x", "tab\tx", ".download-package", ".download-package.lock", "x".repeat(256)]) assert.ok(unsafeFileName(bad), JSON.stringify(bad));
    assert.equal(unsafeFileName("tool-1.0.jar"), undefined);
    assert.equal(chooseFileName("", `attachment; filename="/etc/../../x.bin"`, "http://h/y.bin"), "x.bin");
    assert.equal(chooseFileName("", `attachment; filename="dir/"`, "http://h/y%2Fz.bin"), "z.bin");
    assert.equal(chooseFileName("", `attachment; filename="dir/"`, "http://h/"), undefined);
    assert.equal(chooseFileName("", undefined, "http://h/%2E%2E"), undefined);
    assert.equal(chooseFileName("", undefined, "http://h/dl/a%20b.bin?x=1"), "a b.bin");
    assert.equal(chooseFileName("", undefined, "http://h/dl/%ZZ.bin"), "%ZZ.bin");
    assert.equal(chooseFileName("set.bin", `attachment; filename="other"`, "http://h/y.bin"), "set.bin");
  });
});
