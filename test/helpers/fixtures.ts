// Real archives and certificates, made by the tests: GNU tar for well-formed packages,
// raw 512-byte headers for hostile ones that tar tools refuse to write.

import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import zlib from "node:zlib";
import { tmpdir } from "./run.ts";

export interface TreeSpec {
  [rel: string]: { content?: string | Buffer; mode?: number; dir?: boolean; symlink?: string };
}

export function makeTree(spec: TreeSpec): string {
  const dir = tmpdir("dp-tree-");
  for (const [rel, e] of Object.entries(spec)) {
    const full = path.join(dir, rel);
    if (e.dir) fs.mkdirSync(full, { recursive: true });
    else {
      fs.mkdirSync(path.dirname(full), { recursive: true });
      if (e.symlink) fs.symlinkSync(e.symlink, full);
      else fs.writeFileSync(full, e.content ?? "");
    }
    if (e.mode !== undefined && !e.symlink) fs.chmodSync(full, e.mode);
  }
  return dir;
}

/** A real tar archive of a directory's content, made by GNU tar. */
export function tarOf(dir: string, entries = ["."]): Buffer {
  return execFileSync("tar", ["-C", dir, "--numeric-owner", "-cf", "-", ...entries], { maxBuffer: 1 << 30 });
}

export const gzip = (b: Buffer) => zlib.gzipSync(b);
export const zstd = (b: Buffer) => zlib.zstdCompressSync(b);

export interface RawEntry {
  name: string;
  type?: "0" | "1" | "2" | "3" | "4" | "5" | "6";
  linkname?: string;
  mode?: number;
  content?: Buffer | string;
  size?: number;
}

/** Build a ustar archive byte by byte: whatever the test asks for, checksums right. */
export function rawTar(entries: RawEntry[]): Buffer {
  const blocks: Buffer[] = [];
  for (const e of entries) {
    const content = Buffer.from(e.content ?? "");
    const h = Buffer.alloc(512);
    const put = (off: number, len: number, s: string) => h.write(s, off, Math.min(len, Buffer.byteLength(s)), "utf8");
    const octal = (off: number, len: number, n: number) => put(off, len, n.toString(8).padStart(len - 1, "0") + "\0");
    put(0, 100, e.name);
    octal(100, 8, e.mode ?? 0o644);
    octal(108, 8, 0);
    octal(116, 8, 0);
    octal(124, 12, e.size ?? content.length);
    octal(136, 12, 1_700_000_000);
    put(148, 8, "        ");
    put(156, 1, e.type ?? "0");
    put(157, 100, e.linkname ?? "");
    put(257, 6, "ustar\0");
    put(263, 2, "00");
    let sum = 0;
    for (const b of h) sum += b;
    put(148, 8, sum.toString(8).padStart(6, "0") + "\0 ");
    blocks.push(h);
    if (content.length) {
      blocks.push(content);
      const pad = (512 - (content.length % 512)) % 512;
      if (pad) blocks.push(Buffer.alloc(pad));
    }
  }
  blocks.push(Buffer.alloc(1024));
  return Buffer.concat(blocks);
}

/** A CA, a server certificate for 127.0.0.1 signed by it, and a client certificate. */
export function makeCerts(): { dir: string; ca: string; caFile: string; key: string; cert: string; clientCertFile: string; clientKeyFile: string } {
  const dir = tmpdir("dp-certs-");
  const run = (args: string[]) => execFileSync("openssl", args, { cwd: dir, stdio: ["ignore", "ignore", "pipe"] });
  run(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=dp test CA"]);
  fs.writeFileSync(path.join(dir, "san.ext"), "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n");
  run(["req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1"]);
  run(["x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-out", "server.pem", "-days", "2", "-extfile", "san.ext"]);
  run(["req", "-newkey", "rsa:2048", "-nodes", "-keyout", "client.key", "-out", "client.csr", "-subj", "/CN=dp client"]);
  run(["x509", "-req", "-in", "client.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-out", "client.pem", "-days", "2"]);
  const read = (f: string) => fs.readFileSync(path.join(dir, f), "utf8");
  return { dir, ca: read("ca.pem"), caFile: path.join(dir, "ca.pem"), key: read("server.key"), cert: read("server.pem"), clientCertFile: path.join(dir, "client.pem"), clientKeyFile: path.join(dir, "client.key") };
}
