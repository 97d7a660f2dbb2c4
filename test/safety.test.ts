// Hostile archives, integrity, and all-or-nothing installation.

import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { gzip, makeTree, rawTar, tarOf, zstd, type RawEntry } from "./helpers/fixtures.ts";
import { header, padded, setChecksum, tar, type TarEntry } from "./helpers/tar-writer.ts";
import { cleanEnv, command, runDp, snapshot, tmpdir } from "./helpers/run.ts";
import { startServer, type TestServer } from "./helpers/server.ts";

let srv: TestServer;
before(async () => (srv = await startServer()));
after(() => srv.close());

const good = gzip(rawTar([
  { name: "app/", type: "5", mode: 0o755 },
  { name: "app/index.html", content: "<h1>v1</h1>\n" },
  { name: "app/run.sh", content: "#!/bin/sh\n", mode: 0o755 },
]));
const sha = (b: Buffer, alg = "sha256") => crypto.createHash(alg).update(b).digest("hex");

/** A parent directory holding only the destination, which already holds a good install. */
async function installedDest(): Promise<{ parent: string; dest: string; before: Record<string, string> }> {
  srv.route("/good.tar.gz", { body: good });
  const parent = tmpdir("dp-parent-");
  const dest = path.join(parent, "dest");
  const r = await runDp({ PACKAGE_URL: `${srv.url}/good.tar.gz`, PACKAGE_DEST: dest });
  assert.equal(r.code, 0, r.stderr);
  return { parent, dest, before: snapshot(dest) };
}

function assertUntouched(parent: string, dest: string, expected: Record<string, string>) {
  assert.deepEqual(fs.readdirSync(parent), ["dest"], "something was written beside the destination");
  assert.deepEqual(snapshot(dest), expected, "the destination changed");
  const state = fs.readdirSync(path.join(dest, ".download-package"));
  assert.deepEqual(state, ["installed.json"], `leftovers: ${state}`);
}

let n = 0;
async function expectRefused(entries: RawEntry[], pattern: RegExp, env: Record<string, string> = {}, code = 5): Promise<void> {
  return expectBodyRefused(rawTar(entries), pattern, env, code);
}

/** Install a good package, then serve `body`: exit `code`, the message, nothing changed or created. */
async function expectBodyRefused(body: Buffer, pattern: RegExp, env: Record<string, string> = {}, code = 5): Promise<void> {
  const { parent, dest, before } = await installedDest();
  const p = `/hostile${++n}.tar`;
  srv.route(p, { body });
  const r = await runDp({ PACKAGE_URL: `${srv.url}${p}`, PACKAGE_DEST: dest, ...env });
  assert.equal(r.code, code, r.stderr);
  assert.match(r.stderr, pattern);
  assert.doesNotMatch(r.stderr, /^\s+at .*:\d+:\d+\)?$/m, "a stack trace");
  assertUntouched(parent, dest, before);
}

const refusedTar = (entries: TarEntry[], pattern: RegExp, env: Record<string, string> = {}) => expectBodyRefused(tar(entries), pattern, env);

describe("hostile archives are refused, naming the entry, leaving the destination as it was", () => {
  it("absolute path", () => expectRefused([{ name: "/tmp/dp-evil-abs", content: "x" }], /unsafe archive entry "\/tmp\/dp-evil-abs": has an absolute path/).then(() => assert.ok(!fs.existsSync("/tmp/dp-evil-abs"))));
  it("'..' escape", () => expectRefused([{ name: "ok.txt", content: "x" }, { name: "a/../../evil", content: "x" }], /"a\/..\/..\/evil": has a '..' component/));
  it("symlink whose target leaves the destination", () => expectRefused([{ name: "link", type: "2", linkname: "../../etc" }], /"link": is a symlink whose target "..\/..\/etc" leaves/));
  it("absolute symlink target", () => expectRefused([{ name: "pw", type: "2", linkname: "/etc/passwd" }], /"pw": is a symlink whose target "\/etc\/passwd" leaves/));
  it("hardlink to a file outside", () => expectRefused([{ name: "hl", type: "1", linkname: "/etc/passwd" }], /"hl": is a hardlink whose target "\/etc\/passwd" leaves/));
  it("hardlink escaping with '..'", () => expectRefused([{ name: "hl", type: "1", linkname: "../outside" }], /"hl": is a hardlink/));
  it("writing through a symlink made earlier in the same archive", () =>
    expectRefused([{ name: "sub", type: "5" }, { name: "alias", type: "2", linkname: "sub" }, { name: "alias/file", content: "x" }], /"alias\/file": would be written through the symlink "alias"/));
  it("the classic two-step escape (symlink to '.', then through it)", () =>
    expectRefused([{ name: "d", type: "2", linkname: "." }, { name: "d/../../escape", content: "x" }], /'\.\.' component|written through the symlink/));
  it("character device", () => expectRefused([{ name: "null", type: "3" }], /"null": is a CharacterDevice entry/));
  it("block device", () => expectRefused([{ name: "sda", type: "4" }], /"sda": is a BlockDevice entry/));
  it("FIFO", () => expectRefused([{ name: "pipe", type: "6" }], /"pipe": is a FIFO entry/));
  it("a corrupt header checksum", async () => {
    const bad = rawTar([{ name: "a.txt", content: "hello" }, { name: "b.txt", content: "world" }]);
    bad[512 * 2 + 148] ^= 0x01; // second header's checksum
    const { parent, dest, before } = await installedDest();
    srv.route("/corrupt.tar", { body: bad });
    const r = await runDp({ PACKAGE_URL: `${srv.url}/corrupt.tar`, PACKAGE_DEST: dest });
    assert.equal(r.code, 5);
    assert.match(r.stderr, /corrupt tar archive/);
    assertUntouched(parent, dest, before);
  });
  it("a truncated gzip stream", async () => {
    const { parent, dest, before } = await installedDest();
    const whole = gzip(tarOf(makeTree({ "f.bin": { content: crypto.randomBytes(200_000) } })));
    srv.route("/trunc.tar.gz", { body: whole.subarray(0, whole.length - 5000) });
    const r = await runDp({ PACKAGE_URL: `${srv.url}/trunc.tar.gz`, PACKAGE_DEST: dest });
    assert.equal(r.code, 5);
    assert.match(r.stderr, /corrupt gzip data|corrupt tar archive/);
    assertUntouched(parent, dest, before);
  });
});

describe("symlink chains are resolved as the kernel resolves them (#13.1)", () => {
  it("'..' after a link to '.'", () => refusedTar([{ name: "d", type: "2", linkname: "." }, { name: "e", type: "2", linkname: "d/../outside" }], /"e": is a symlink whose target "d\/..\/outside" leaves the destination/));
  it("a chain of links to links, then '..'", () =>
    refusedTar([{ name: "a", type: "2", linkname: "." }, { name: "b", type: "2", linkname: "a" }, { name: "c", type: "2", linkname: "b/.." }], /"c": is a symlink whose target "b\/.." leaves/));
  it("a link inside a directory, through a link to a directory that is a link", () =>
    refusedTar([{ name: "sub/", type: "5" }, { name: "s", type: "2", linkname: "sub" }, { name: "t", type: "2", linkname: "s" }, { name: "sub/x", type: "2", linkname: "../t/../.." }], /"sub\/x": is a symlink whose target "..\/t\/..\/.." leaves/));
  it("a deep chain that climbs one level per link", () =>
    refusedTar([{ name: "a/b/c/", type: "5" }, { name: "a/b/c/up", type: "2", linkname: "../.." }, { name: "a/b/c/up2", type: "2", linkname: "up/.." }, { name: "a/b/c/up3", type: "2", linkname: "up2/../.." }], /"a\/b\/c\/up3": .*leaves the destination/));
  it("'..' after a name the archive has not made yet", () => refusedTar([{ name: "a", type: "2", linkname: "later/../../etc" }, { name: "later", type: "2", linkname: "." }], /"a": is a symlink whose target "later\/..\/..\/etc" goes through "later", which is not a directory/));
  it("a link is never replaced later (links judged earlier may go through it)", async () => {
    await refusedTar([{ name: "sub/", type: "5" }, { name: "x", type: "2", linkname: "sub" }, { name: "a", type: "2", linkname: "x/../y" }, { name: "x", type: "2", linkname: "." }], /"x": replaces the symlink "x" made earlier in the archive/);
    await refusedTar([{ name: "sub/", type: "5" }, { name: "sub/l", type: "2", linkname: "../dir" }, { name: "sub/l", content: "file" }], /"sub\/l": replaces the symlink "sub\/l"/);
  });
  it("a symlink loop", () => refusedTar([{ name: "l1", type: "2", linkname: "l2" }, { name: "l2", type: "2", linkname: "l1/x" }], /"l2": is a symlink whose target "l1\/x" is a symlink loop/));
  it("writing through a link made earlier, even via a chain", () =>
    refusedTar([{ name: "sub/", type: "5" }, { name: "s", type: "2", linkname: "sub" }, { name: "s2", type: "2", linkname: "s" }, { name: "s2/f", content: "x" }], /"s2\/f": would be written through the symlink "s2"/));
  it("chains that stay inside install, links as written", async () => {
    srv.route("/chains-ok.tar", {
      body: tar([
        { name: "a/b/", type: "5" },
        { name: "a/b/f", content: "f" },
        { name: "d", type: "2", linkname: "." },
        { name: "e", type: "2", linkname: "d/a/b/../b/f" },
        { name: "a/b/up", type: "2", linkname: "../.." },
        { name: "g", type: "2", linkname: "a/b/up/a/b/f" },
        { name: "fwd", type: "2", linkname: "later/x" },
        { name: "later/x", content: "x" },
      ]),
    });
    const dest = tmpdir();
    const r = await runDp({ PACKAGE_URL: `${srv.url}/chains-ok.tar`, PACKAGE_DEST: dest });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(fs.readFileSync(path.join(dest, "e"), "utf8"), "f");
    assert.equal(fs.readFileSync(path.join(dest, "g"), "utf8"), "f");
    assert.equal(fs.readFileSync(path.join(dest, "fwd"), "utf8"), "x");
    assert.equal(fs.readlinkSync(path.join(dest, "e")), "d/a/b/../b/f");
  });
});

describe("entry types that are not files, directories or links are refused, never skipped (#13.2)", () => {
  for (const [flag, what] of [["S", /GNU sparse file \(type 'S'\)/], ["V", /volume header \(type 'V'\)/], ["M", /multi-volume continuation \(type 'M'\)/], ["D", /dump directory/], ["Z", /unknown type flag/], ["9", /unknown type flag/]] as const) {
    it(`type '${flag}'`, () => refusedTar([{ name: "first.txt", content: "1" }, { name: `odd-${flag}`, type: flag, content: "data" }, { name: "last.txt", content: "2" }], new RegExp(`"odd-${flag}": .*${what.source}`)));
  }
  it("a PAX header announcing GNU sparse data", () => refusedTar([{ name: "GNUSparseFile.0/big", content: "map", pax: { "GNU.sparse.major": "1", "GNU.sparse.minor": "0", "GNU.sparse.name": "big", "GNU.sparse.realsize": "1048576" } }], /"GNUSparseFile.0\/big": is a GNU sparse file \(PAX GNU.sparse records\)/));
  for (const format of ["gnu", "posix"]) {
    it(`a real sparse file written by GNU tar --sparse --format=${format}`, async () => {
      const dir = tmpdir("dp-sparse-");
      fs.writeFileSync(path.join(dir, "hello.txt"), "hi");
      execFileSync("truncate", ["-s", "4M", path.join(dir, "holes.img")]);
      fs.writeFileSync(path.join(dir, "holes.img"), "x", { flag: "r+" });
      const body = execFileSync("tar", ["-C", dir, "--sparse", `--format=${format}`, "-cf", "-", "hello.txt", "holes.img"]);
      await expectBodyRefused(gzip(body), /holes\.img.*: is a GNU sparse file/);
    });
  }
});

describe("a tar stream without its end-of-archive marker is a truncated package (#13.3)", () => {
  const entries: TarEntry[] = [{ name: "a/", type: "5" }, { name: "a/one.txt", content: "1" }, { name: "a/two.txt", content: "2".repeat(700) }];
  it("plain .tar cut at a header boundary", () => expectBodyRefused(tar(entries, { endBlocks: 0 }), /truncated tar archive: it ends after entry "a\/two.txt" without the end-of-archive marker/));
  it("a GNU tar archive cut after its second entry", async () => {
    const whole = tarOf(makeTree({ "a.txt": { content: "a".repeat(600) }, "b.txt": { content: "b" } }), ["a.txt", "b.txt"]);
    await expectBodyRefused(whole.subarray(0, 512 + 1024), /truncated tar archive: it ends after entry "a.txt"/);
  });
  it("a complete gzip stream around a tar without the marker", () => expectBodyRefused(gzip(tar(entries, { endBlocks: 0 })), /truncated tar archive/));
  it("a complete zstd stream around a tar without the marker", () => expectBodyRefused(zstd(tar(entries, { endBlocks: 0 })), /truncated tar archive/));
  it("a zero block followed by more entries (GNU tar stops at it)", () => expectBodyRefused(Buffer.concat([tar(entries.slice(0, 2), { endBlocks: 1 }), tar(entries.slice(2))]), /a zero block after entry "a\/one.txt" is followed by more entries/));
  it("one zero block is enough (every entry is complete); trailing bytes after the marker are not read", async () => {
    srv.route("/one-zero.tar", { body: tar(entries, { endBlocks: 1 }) });
    srv.route("/trailing.tar", { body: Buffer.concat([tar(entries), Buffer.from("trailing garbage after the marker")]) });
    for (const p of ["/one-zero.tar", "/trailing.tar"]) {
      const dest = tmpdir();
      const r = await runDp({ PACKAGE_URL: `${srv.url}${p}`, PACKAGE_DEST: dest });
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(Object.keys(snapshot(dest)), ["a", "a/one.txt", "a/two.txt"]);
    }
  });
  it("an empty archive (zero blocks only) installs an empty tree", async () => {
    srv.route("/empty.tar", { body: Buffer.alloc(10240) });
    const dest = tmpdir();
    const r = await runDp({ PACKAGE_URL: `${srv.url}/empty.tar`, PACKAGE_DEST: dest });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(snapshot(dest), {});
  });
});

describe("the program's own state name is never the archive's (#13.4)", () => {
  const forged = JSON.stringify({ urls: ["http://evil/"], digest: { algorithm: "sha256", hex: "0".repeat(64) }, installedAt: "2020-01-01", bytes: 0, files: 0 });
  it(".download-package/installed.json", () => refusedTar([{ name: "ok.txt", content: "x" }, { name: ".download-package/installed.json", content: forged }], /"\.download-package\/installed\.json": is named like \.download-package/));
  it("./.download-package as a directory", () => refusedTar([{ name: "./.download-package/", type: "5" }], /"\.\/\.download-package\/": is named like \.download-package/));
  it(".download-package as a symlink", () => refusedTar([{ name: ".download-package", type: "2", linkname: "elsewhere" }], /"\.download-package": is named like/));
  it("after PACKAGE_STRIP_COMPONENTS", () => refusedTar([{ name: "top/.download-package/staging-x/f", content: "x" }], /"top\/\.download-package\/staging-x\/f": is named like \.download-package/, { PACKAGE_STRIP_COMPONENTS: "1" }));
  it("a symlink into it", () => refusedTar([{ name: "peek", type: "2", linkname: "./.download-package/installed.json" }], /"peek": is a symlink into \.download-package/));
  it("a hardlink into it", () => refusedTar([{ name: "peek", type: "1", linkname: ".download-package/installed.json" }], /"peek": is a hardlink whose target ".download-package\/installed.json"/));
});

describe("filesystem refusals caused by the archive are exit 5, naming the entry (#13.5)", () => {
  it("a hardlink to itself", () => refusedTar([{ name: "a.txt", content: "x" }, { name: "a.txt", type: "1", linkname: "a.txt" }], /"a\.txt": is a hardlink to itself/));
  it("a hardlink to itself with no file before it", () => refusedTar([{ name: "b.txt", type: "1", linkname: "./b.txt" }], /"b\.txt": is a hardlink to itself/));
  const long = "n".repeat(256);
  it("a name component over 255 bytes (PAX path)", () => refusedTar([{ name: "x", pax: { path: `dir/${long}` }, content: "x" }], new RegExp(`"dir/${long}": has a name component of 256 bytes, over the 255-byte limit`)));
  it("a directory name over 255 bytes (GNU long name)", () => refusedTar([{ name: `${long}/f`, gnuLongName: true, content: "x" }], /has a name component of 256 bytes/));
  it("a path under PACKAGE_MAX_PATH_LENGTH that passes PATH_MAX under the destination", () => {
    const deep = Array.from({ length: 19 }, (_, i) => `${i}`.padEnd(213, "d")).join("/") + "/leaf.txt";
    assert.ok(Buffer.byteLength(deep) < 4096 && Buffer.byteLength(deep) > 4070);
    return refusedTar([{ name: "x", pax: { path: deep }, content: "x" }], /"0d+\/1d+.*leaf\.txt": is \d+ bytes long once placed under the destination, over the system's PATH_MAX \(4096\)/);
  });
  it("a symlink target over PATH_MAX", () => refusedTar([{ name: "l", type: "2", linkname: "x", pax: { linkpath: "a/".repeat(2100) } }], /"l": is a symlink whose target is over the system's PATH_MAX/));
  it("a malformed % escape in PACKAGE_URL's path or user-info is a usage error, exit 2", async () => {
    for (const url of [`${srv.url}/pkg%zz.tar.gz`, `${srv.url}/bad%e9utf8.tar.gz`, srv.url.replace("://", "://us%zzer:pw@") + "/good.tar.gz", srv.url.replace("://", "://user:p%g0@") + "/good.tar.gz"]) {
      const r = await runDp({ PACKAGE_URL: url, PACKAGE_DEST: tmpdir(), PACKAGE_CHECKSUM_URL: `${srv.url}/SHA256SUMS` });
      assert.equal(r.code, 2, `${url}: ${r.stderr}`);
      assert.match(r.stderr, /PACKAGE_URL has a malformed percent-escape in its (path|user name|password)/);
      assert.doesNotMatch(r.stderr, /^\s+at /m);
    }
    const r = await runDp({ PACKAGE_URL: `${srv.url}/good.tar.gz`, PACKAGE_DEST: tmpdir(), PACKAGE_CHECKSUM_URL: `${srv.url}/sums%zz` });
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /PACKAGE_CHECKSUM_URL has a malformed percent-escape in its path/);
  });
});

describe("headers that GNU tar reads differently are refused (found by test/fuzz.test.ts)", () => {
  /** One entry whose raw header `patch` changes (checksum recomputed), between two good ones. */
  const patched = (e: TarEntry, patch: (h: Buffer) => void) => {
    const h = header(e);
    patch(h);
    setChecksum(h);
    const body = Buffer.from(e.content ?? "");
    return Buffer.concat([tar([{ name: "before.txt", content: "b" }], { endBlocks: 0 }), h, body.length ? padded(body) : Buffer.alloc(0), tar([{ name: "after.txt", content: "a" }])]);
  };
  it("a symlink or hardlink with a size (GNU tar reads the next block as a header)", async () => {
    await refusedTar([{ name: "sl", type: "2", linkname: "before.txt", size: 1 }, { name: "smuggled", content: "" }], /"sl": is a link with a size of 1 bytes/);
    await refusedTar([{ name: "f", content: "x" }, { name: "hl", type: "1", linkname: "f", size: 600 }], /"hl": is a link with a size of 600 bytes/);
  });
  for (const [field, off, len, value] of [["mode", 100, 8, "0o644"], ["size", 124, 12, "1x"], ["uid", 108, 8, "-1"], ["mtime", 136, 12, "+1"]] as const) {
    it(`a numeric field GNU tar would not read as octal (${field} ${JSON.stringify(value)})`, () =>
      expectBodyRefused(patched({ name: "odd.txt", content: "x" }, (h) => h.fill(0, off, off + len).write(value, off, "latin1")), new RegExp(`corrupt tar archive: header field ${field} is "${value.replace("+", "\\+")}", not an octal number`)));
  }
  it("a malformed PAX record (node-tar drops it, GNU tar stops)", () => expectBodyRefused(Buffer.concat([tar([{ name: "before.txt", content: "b" }], { endBlocks: 0 }), tar([{ name: "x", pax: { path: "renamed.txt", mtime: "soon" }, content: "x" }])]), /corrupt tar archive: a PAX header after entry "before.txt" that GNU tar would read differently: PAX record mtime="soon" is not a valid number/));
  it("a global PAX header naming every later entry (GNU tar applies it, node-tar does not)", () =>
    expectBodyRefused(Buffer.concat([header({ name: "g", type: "g", content: "30 path=.download-package/x\n" }), padded(Buffer.from("30 path=.download-package/x\n")), tar([{ name: "a.txt", content: "a" }])]), /corrupt tar archive: a PAX header that GNU tar would read differently: a global PAX header sets path/));
  it("a PAX path then a GNU long name for one entry (each reader picks a different one)", () =>
    expectBodyRefused(Buffer.concat([tar([{ name: "x", pax: { path: "pax-name.txt" }, content: "" }], { endBlocks: 0 }).subarray(0, 1024), tar([{ name: "gnu-name.txt", gnuLongName: true, content: "x" }])]), /"gnu-name.txt": has both a PAX path and a GNU long-name record/));
  it("two PAX headers for one entry (node-tar merges them, GNU tar keeps the last)", () =>
    expectBodyRefused(Buffer.concat([tar([{ name: "x", pax: { path: "first.txt" } }], { endBlocks: 0 }).subarray(0, 1024), tar([{ name: "second.txt", pax: { mtime: "1700000000" }, content: "x" }])]), /a PAX header that GNU tar would read differently: two PAX extended headers for one entry/));
  it("a GNU long name without its NUL (node-tar stops at the size, GNU tar reads on into the padding)", () => {
    const body = Buffer.from("x/.download-package\0");
    const longName = Buffer.concat([header({ name: "././@LongLink", type: "L", size: 1 }), padded(body)]);
    return expectBodyRefused(Buffer.concat([tar([{ name: "first.txt", content: "1" }], { endBlocks: 0 }), longName, tar([{ name: "short", content: "x" }])]), /a long-name record after entry "first.txt" is not NUL-terminated/);
  });
  it("an empty GNU long name or PAX path (node-tar keeps the header's name, GNU tar an empty one)", async () => {
    await expectBodyRefused(Buffer.concat([tar([{ name: "first.txt", content: "1" }], { endBlocks: 0 }), header({ name: "././@LongLink", type: "L", size: 0 }), tar([{ name: "named", content: "x" }])]), /corrupt tar archive: an empty GNU long-name record \(type 'L'\)/);
    await refusedTar([{ name: "named", prefix: "pre", pax: { path: "" }, content: "x" }], /a PAX header that GNU tar would read differently: PAX record path is empty/);
  });
  it("a contiguous file named like a directory", () => refusedTar([{ name: "dir/", type: "7", content: "" }], /"dir\/": is a regular file whose name ends with '\/'/));
  it("an old GNU 'N' record", () => expectBodyRefused(patched({ name: "n", type: "N", content: "longname\0" }, () => {}), /corrupt tar archive: type 'N'/));
  it("a name that is not UTF-8 (node-tar would rename it, GNU tar keeps the bytes)", () => expectBodyRefused(patched({ name: "latin1-x.txt", content: "x" }, (h) => (h[7] = 0xe9)), /"latin1-\uFFFD\.txt": has a name or link target that is not valid UTF-8/));
  it("GNU tar's own posix archives with long non-ASCII names install (their PAX header names are cut mid-character)", async () => {
    const dir = tmpdir("dp-utf8-");
    const names = [1, 2, 3].map((i) => `${i}-${"é".repeat(70)}.txt`);
    for (const n of names) fs.writeFileSync(path.join(dir, n), n);
    srv.route("/utf8.tar", { body: execFileSync("tar", ["-C", dir, "--format=posix", "-cf", "-", ...names]) });
    const dest = tmpdir();
    const r = await runDp({ PACKAGE_URL: `${srv.url}/utf8.tar`, PACKAGE_DEST: dest });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(fs.readdirSync(dest).filter((n) => n !== ".download-package").sort(), names);
  });
  it("modes are the archive's, whatever the umask (group and other write bits kept)", async () => {
    srv.route("/modes.tar", { body: tar([{ name: "shared/", type: "5", mode: 0o777 }, { name: "shared/rw", content: "x", mode: 0o666 }, { name: "none", content: "x", mode: 0 }]) });
    const dest = tmpdir();
    const r = await runDp({ PACKAGE_URL: `${srv.url}/modes.tar`, PACKAGE_DEST: dest });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(snapshot(dest), { none: "file 0 eA== 1", shared: "dir 777", "shared/rw": "file 666 eA== 1" });
  });
});

describe("limits", () => {
  it("too many entries (PACKAGE_MAX_ENTRIES)", () => expectRefused([1, 2, 3, 4].map((i) => ({ name: `f${i}`, content: "x" })), /more than 3 entries/, { PACKAGE_MAX_ENTRIES: "3" }));
  it("total size (PACKAGE_MAX_BYTES)", () => expectRefused([{ name: "a", content: Buffer.alloc(3000) }, { name: "b", content: Buffer.alloc(3000) }], /expands to more than 5000 bytes/, { PACKAGE_MAX_BYTES: "5000" }));
  it("one entry's size (PACKAGE_MAX_ENTRY_BYTES)", () => expectRefused([{ name: "big", content: Buffer.alloc(2048) }], /"big" is 2048 bytes, over the 1024-byte limit/, { PACKAGE_MAX_ENTRY_BYTES: "1KiB" }));
  it("path length (PACKAGE_MAX_PATH_LENGTH)", () => expectRefused([{ name: "a".repeat(60), content: "x" }], /path longer than 50 bytes/, { PACKAGE_MAX_PATH_LENGTH: "50" }));
  it("compression ratio: a gzip bomb", async () => {
    const { parent, dest, before } = await installedDest();
    const bomb = gzip(rawTar([{ name: "zeros", content: Buffer.alloc(200 * 1024 * 1024) }]));
    srv.route("/bomb.tar.gz", { body: bomb });
    const r = await runDp({ PACKAGE_URL: `${srv.url}/bomb.tar.gz`, PACKAGE_DEST: dest, PACKAGE_MAX_RATIO: "100" });
    assert.equal(r.code, 5);
    assert.match(r.stderr, /expands more than 100:1/);
    assertUntouched(parent, dest, before);
  });
});

describe("modes and ownership", () => {
  it("setuid, setgid and sticky bits are stripped; other bits kept", async () => {
    srv.route("/suid.tar", { body: rawTar([{ name: "suid", content: "x", mode: 0o4755 }, { name: "sgid", content: "x", mode: 0o2750 }, { name: "sticky", type: "5", mode: 0o1777 }]) });
    const dest = tmpdir();
    const r = await runDp({ PACKAGE_URL: `${srv.url}/suid.tar`, PACKAGE_DEST: dest });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(snapshot(dest), { sgid: `file 750 eA== 1`, sticky: "dir 777", suid: "file 755 eA== 1" });
  });

  it("PACKAGE_FILE_MODE / PACKAGE_DIR_MODE make everything readable by another user", async () => {
    srv.route("/private.tar", { body: rawTar([{ name: "d/", type: "5", mode: 0o700 }, { name: "d/secret", content: "x", mode: 0o600 }]) });
    const dest = tmpdir();
    const r = await runDp({ PACKAGE_URL: `${srv.url}/private.tar`, PACKAGE_DEST: dest, PACKAGE_FILE_MODE: "0644", PACKAGE_DIR_MODE: "0755" });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(snapshot(dest), { d: "dir 755", "d/secret": "file 644 eA== 1" });
  });

  it("PACKAGE_STRIP_COMPONENTS drops leading directories", async () => {
    srv.route("/nested.tar", { body: rawTar([{ name: "pkg-1.0/", type: "5" }, { name: "pkg-1.0/bin/tool", content: "x", mode: 0o755 }]) });
    const dest = tmpdir();
    const r = await runDp({ PACKAGE_URL: `${srv.url}/nested.tar`, PACKAGE_DEST: dest, PACKAGE_STRIP_COMPONENTS: "1" });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(snapshot(dest), { bin: "dir 755", "bin/tool": "file 755 eA== 1" });
  });

  it("ownership from the archive is not applied; PACKAGE_UID/PACKAGE_GID set it when asked", { skip: process.getuid?.() !== 0 ? "needs root to chown" : false }, async () => {
    const t = makeTree({ "f.txt": { content: "x" } });
    execFileSync("chown", ["4242:4343", path.join(t, "f.txt")]);
    srv.route("/owned.tar", { body: tarOf(t) });
    const d1 = tmpdir();
    assert.equal((await runDp({ PACKAGE_URL: `${srv.url}/owned.tar`, PACKAGE_DEST: d1 })).code, 0);
    assert.equal(fs.statSync(path.join(d1, "f.txt")).uid, 0);
    const d2 = tmpdir();
    const r = await runDp({ PACKAGE_URL: `${srv.url}/owned.tar`, PACKAGE_DEST: d2, PACKAGE_UID: "65532", PACKAGE_GID: "65533" });
    assert.equal(r.code, 0, r.stderr);
    const st = fs.statSync(path.join(d2, "f.txt"));
    assert.deepEqual([st.uid, st.gid], [65532, 65533]);
  });
});

describe("integrity", () => {
  it("a matching PACKAGE_SHA256 installs and says verified", async () => {
    srv.route("/good.tar.gz", { body: good });
    const r = await runDp({ PACKAGE_URL: `${srv.url}/good.tar.gz`, PACKAGE_DEST: tmpdir(), PACKAGE_SHA256: sha(good) });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /verified=true/);
  });

  it("sha512: prefixed digests work", async () => {
    const r = await runDp({ PACKAGE_URL: `${srv.url}/good.tar.gz`, PACKAGE_DEST: tmpdir(), PACKAGE_SHA256: `sha512:${sha(good, "sha512")}` });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /digest=sha512:/);
  });

  it("a checksum mismatch exits 4 and leaves the previous install", async () => {
    const { parent, dest, before } = await installedDest();
    const other = gzip(rawTar([{ name: "v2.txt", content: "two" }]));
    srv.route("/v2.tar.gz", { body: other });
    const r = await runDp({ PACKAGE_URL: `${srv.url}/v2.tar.gz`, PACKAGE_DEST: dest, PACKAGE_SHA256: `sha256:${"0".repeat(64)}` });
    assert.equal(r.code, 4);
    assert.match(r.stderr, /checksum mismatch: expected sha256:0{64}, got sha256:[0-9a-f]{64}/);
    assertUntouched(parent, dest, before);
  });

  it("a corrupted byte in transit is caught by the checksum", async () => {
    const tarBody = rawTar([{ name: "data.txt", content: "a".repeat(5000) }]);
    srv.route("/flip.tar", { body: tarBody, corruptAt: 600 });
    const r = await runDp({ PACKAGE_URL: `${srv.url}/flip.tar`, PACKAGE_DEST: tmpdir(), PACKAGE_SHA256: sha(tarBody) });
    assert.equal(r.code, 4);
  });

  it("PACKAGE_CHECKSUM_URL reads a sha256sum file and picks the package's line", async () => {
    srv.route("/SHA256SUMS", { body: Buffer.from(`${"1".repeat(64)}  other.tar.gz\n${sha(good)}  good.tar.gz\n`) });
    const r = await runDp({ PACKAGE_URL: `${srv.url}/good.tar.gz`, PACKAGE_DEST: tmpdir(), PACKAGE_CHECKSUM_URL: `${srv.url}/SHA256SUMS` });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /verified=true/);
    srv.route("/BADSUMS", { body: Buffer.from(`${"1".repeat(64)}  good.tar.gz\n`) });
    const bad = await runDp({ PACKAGE_URL: `${srv.url}/good.tar.gz`, PACKAGE_DEST: tmpdir(), PACKAGE_CHECKSUM_URL: `${srv.url}/BADSUMS` });
    assert.equal(bad.code, 4);
  });

  it("an invalid digest is a usage error, exit 2", async () => {
    const r = await runDp({ PACKAGE_URL: `${srv.url}/good.tar.gz`, PACKAGE_DEST: tmpdir(), PACKAGE_SHA256: "abc" });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /PACKAGE_SHA256 is not a SHA-256 or SHA-512 digest/);
  });
});

describe("all or nothing, and re-runs", () => {
  it("a re-run with the same checksum does nothing and says so (no download)", async () => {
    srv.route("/same.tar.gz", { body: good });
    const dest = tmpdir();
    const env = { PACKAGE_URL: `${srv.url}/same.tar.gz`, PACKAGE_DEST: dest, PACKAGE_SHA256: sha(good) };
    assert.equal((await runDp(env)).code, 0);
    const before = srv.log.filter((l) => l.path === "/same.tar.gz").length;
    const r = await runDp(env);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /already installed, nothing to do/);
    assert.equal(srv.log.filter((l) => l.path === "/same.tar.gz").length, before);
    const marker = JSON.parse(fs.readFileSync(path.join(dest, ".download-package/installed.json"), "utf8"));
    assert.equal(marker.digest.hex, sha(good));
    assert.ok(marker.installedAt && marker.urls[0].endsWith("/same.tar.gz"));
  });

  it("without a checksum, a re-run asks the server (If-None-Match) and does nothing on 304", async () => {
    srv.route("/cond.tar.gz", { body: good });
    const dest = tmpdir();
    const env = { PACKAGE_URL: `${srv.url}/cond.tar.gz`, PACKAGE_DEST: dest };
    assert.equal((await runDp(env)).code, 0);
    const before = snapshot(dest);
    const r = await runDp(env);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /already installed, nothing to do: the server says the package is not modified/);
    const reqs = srv.log.filter((l) => l.path === "/cond.tar.gz");
    assert.equal(reqs[1].status, 304);
    assert.equal(reqs[1].headers["if-none-match"], `"v1-${good.length}"`);
    assert.deepEqual(snapshot(dest), before);
    // A changed package (new ETag) is downloaded again.
    srv.route("/cond.tar.gz", { body: gzip(rawTar([{ name: "new.txt", content: "new" }])) });
    const r3 = await runDp(env);
    assert.equal(r3.code, 0, r3.stderr);
    assert.deepEqual(Object.keys(snapshot(dest)), ["new.txt"]);
  });

  it("a different package replaces the old content completely", async () => {
    const { dest } = await installedDest();
    srv.route("/v3.tar", { body: rawTar([{ name: "only-v3.txt", content: "3" }]) });
    const r = await runDp({ PACKAGE_URL: `${srv.url}/v3.tar`, PACKAGE_DEST: dest });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(snapshot(dest), { "only-v3.txt": "file 644 Mw== 1" });
  });

  it("leftovers of a crashed run are cleaned first", async () => {
    const { dest } = await installedDest();
    fs.mkdirSync(path.join(dest, ".download-package/staging-crashed/half"), { recursive: true });
    fs.writeFileSync(path.join(dest, ".download-package/staging-crashed/half/file"), "partial");
    const r = await runDp({ PACKAGE_URL: `${srv.url}/good.tar.gz`, PACKAGE_DEST: dest });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /removed leftovers of an interrupted run/);
    assert.deepEqual(fs.readdirSync(path.join(dest, ".download-package")), ["installed.json"]);
  });

  for (const sig of ["SIGTERM", "SIGINT"] as const) {
    it(`${sig} mid-transfer stops, removes the staging area, exits 128+signal`, async () => {
      const { parent, dest, before } = await installedDest();
      const body = gzip(tarOf(makeTree({ "big.bin": { content: crypto.randomBytes(2_000_000) } })));
      srv.route(`/slow-${sig}.tar.gz`, { body, throttle: 400_000 });
      const [cmd, args] = command([]);
      const child = spawn(cmd, args, { env: cleanEnv({ PACKAGE_URL: `${srv.url}/slow-${sig}.tar.gz`, PACKAGE_DEST: dest }), stdio: ["ignore", "ignore", "pipe"] });
      let stderr = "";
      child.stderr.on("data", (d) => (stderr += d));
      // Wait until bytes are flowing and the staging area exists.
      for (let i = 0; i < 100 && !fs.readdirSync(path.join(dest, ".download-package")).some((f) => f.startsWith("staging-")); i++) await new Promise((r) => setTimeout(r, 50));
      await new Promise((r) => setTimeout(r, 500));
      child.kill(sig);
      const code = await new Promise<number | null>((r) => child.on("close", (c) => r(c)));
      assert.equal(code, sig === "SIGTERM" ? 143 : 130, stderr);
      assert.match(stderr, new RegExp(`received ${sig}`));
      assertUntouched(parent, dest, before);
    });
  }

  it("disk full: a clear error, exit 6, staging removed, previous content intact", async (t) => {
    const mnt = tmpdir("dp-tmpfs-");
    try {
      execFileSync("mount", ["-t", "tmpfs", "-o", "size=1m", "tmpfs", mnt], { stdio: "ignore" });
    } catch {
      return t.skip("cannot mount a tmpfs here (needs root and mount permission)");
    }
    try {
      const dest = path.join(mnt, "dest");
      srv.route("/small.tar", { body: rawTar([{ name: "small.txt", content: "small" }]) });
      assert.equal((await runDp({ PACKAGE_URL: `${srv.url}/small.tar`, PACKAGE_DEST: dest })).code, 0);
      const before = snapshot(dest);
      // One large file (thread-pool writes) and many small ones (synchronous writes).
      srv.route("/huge.tar.gz", { body: gzip(tarOf(makeTree({ "huge.bin": { content: crypto.randomBytes(2 * 1024 * 1024) } }))) });
      srv.route("/many.tar.gz", { body: gzip(rawTar(Array.from({ length: 300 }, (_, i) => ({ name: `f${i}.bin`, content: crypto.randomBytes(8192) })))) });
      for (const p of ["/huge.tar.gz", "/many.tar.gz"]) {
        const r = await runDp({ PACKAGE_URL: `${srv.url}${p}`, PACKAGE_DEST: dest });
        assert.equal(r.code, 6, r.stderr);
        assert.match(r.stderr, /no space left on device/);
        assert.deepEqual(snapshot(dest), before);
        assert.deepEqual(fs.readdirSync(path.join(dest, ".download-package")), ["installed.json"]);
      }
    } finally {
      execFileSync("umount", [mnt]);
    }
  });

  it("writes the failure reason to the termination log when the file exists", async () => {
    const f = path.join(tmpdir(), "termination-log");
    fs.writeFileSync(f, "");
    const r = await runDp({ PACKAGE_URL: `${srv.url}/missing.tar.gz`, PACKAGE_DEST: tmpdir(), PACKAGE_TERMINATION_LOG: f });
    assert.equal(r.code, 3);
    const text = fs.readFileSync(f, "utf8");
    assert.match(text, /^HTTP 404 from .*missing\.tar\.gz \(hint: .*\)\n$/);
  });
});
