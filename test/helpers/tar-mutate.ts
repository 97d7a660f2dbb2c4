// Seeded generation and mutation of tar streams for the extractor's property suite.
// Everything is a pure function of the PRNG, so one seed reproduces one case exactly.

import { entryBlocks, header, padded, paxBody, setChecksum, tar, type TarEntry } from "./tar-writer.ts";

/** mulberry32: small, fast, good enough to spread mutations; the state is one 32-bit number. */
export class Rng {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0;
  }
  next(): number {
    let t = (this.s = (this.s + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)];
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  bytes(n: number): Buffer {
    const b = Buffer.alloc(n);
    for (let i = 0; i < n; i++) b[i] = this.int(256);
    return b;
  }
}

/** The seed of case `i` of a run: independent of how many cases ran before it. */
export function caseSeed(runSeed: number, i: number): number {
  return (Math.imul(runSeed ^ 0x9e3779b9, 0x85ebca6b) + Math.imul(i + 1, 0xc2b2ae35)) >>> 0;
}

const NAMES = ["a", "b", "dir", "d", "x", "f.txt", "sub", "link", "l", "up", "z"];

function randomPath(rng: Rng, depth = 1 + rng.int(3)): string {
  return Array.from({ length: depth }, () => rng.pick(NAMES)).join("/");
}

/** A valid archive: directories, files, symlinks (often chained) and hardlinks, in tar-writer entries. */
export function randomEntries(rng: Rng): TarEntry[] {
  const out: TarEntry[] = [];
  const files: string[] = [];
  const made: string[] = [];
  const n = 1 + rng.int(10);
  for (let i = 0; i < n; i++) {
    const p = randomPath(rng);
    const k = rng.int(10);
    const long = rng.chance(0.08);
    const name = long ? `${"L".repeat(90)}/${"m".repeat(rng.int(100) + 20)}/${p}` : p;
    const enc: Partial<TarEntry> = long ? rng.pick([{ gnuLongName: true }, { pax: { path: name } }, { prefix: name.slice(0, name.lastIndexOf("/", 150)), name: name.slice(name.lastIndexOf("/", 150) + 1) }]) : {};
    if (k < 2) out.push({ name: `${name}/`, type: "5", mode: rng.pick([0o755, 0o700, 0o775, 0o1777]), ...enc });
    else if (k < 6) {
      out.push({ name, content: rng.bytes(rng.pick([0, 1, 100, 511, 512, 513, 1500])), mode: rng.pick([0o644, 0o600, 0o755, 0o4755, 0o2644]), ...enc });
      files.push(name);
    } else if (k < 9) {
      const base = made.length && rng.chance(0.6) ? rng.pick(made) : randomPath(rng);
      const target = rng.pick([base, `../${base}`, `./${base}`, `${base}/..`, ".", `${rng.pick(NAMES)}/../${base}`]);
      out.push({ name, type: "2", linkname: target, ...enc });
    } else if (files.length) out.push({ name, type: "1", linkname: rng.pick(files), ...enc });
    made.push(name);
  }
  return out;
}

/** Offsets of the header blocks of a well-formed stream (stops at a zero block or a broken size). */
export function headerOffsets(buf: Buffer): number[] {
  const out: number[] = [];
  let off = 0;
  while (off + 512 <= buf.length) {
    const h = buf.subarray(off, off + 512);
    if (h.every((b) => b === 0)) break;
    out.push(off);
    const size = parseInt(h.subarray(124, 136).toString("latin1").replace(/[\0 ].*$/s, "") || "0", 8);
    if (!Number.isFinite(size)) break;
    const type = String.fromCharCode(h[156]);
    const body = type === "5" || type === "1" || type === "2" ? 0 : size; // as the ustar writers do
    off += 512 + Math.ceil(body / 512) * 512;
  }
  return out;
}

/** Where the end-of-archive marker starts (or the length when there is none). */
function endOffset(buf: Buffer, offs: number[]): number {
  if (!offs.length) return 0;
  const last = offs[offs.length - 1];
  const size = parseInt(buf.subarray(last + 124, last + 136).toString("latin1").replace(/[\0 ].*$/s, "") || "0", 8) || 0;
  return Math.min(buf.length, last + 512 + Math.ceil(size / 512) * 512);
}

function writeField(buf: Buffer, at: number, len: number, text: string) {
  buf.fill(0, at, at + len);
  buf.write(text, at, Math.min(len, Buffer.byteLength(text)), "utf8");
}

function hostileName(rng: Rng, outside: string, names: string[]): string {
  return rng.pick([
    "..",
    "../escape",
    "a/../../escape",
    `${outside}/abs-escape`,
    "./././x",
    ".download-package/installed.json",
    "x/.download-package",
    "n".repeat(256),
    `${"deep/".repeat(30)}f`,
    names.length ? rng.pick(names) : "dup",
    names.length ? `${rng.pick(names)}/child` : "child",
    "a\\..\\..\\win",
    "C:/drive",
    "",
  ]);
}

function hostileTarget(rng: Rng, outside: string, names: string[]): string {
  const n = names.length ? rng.pick(names) : "a";
  return rng.pick([".", "..", "../x", "d/../..", `${n}/..`, `${n}/../..`, `${n}/../../x`, `${outside}/sentinel-file`, outside, n, `${n}/${n}`, `./${n}`, "a/b/../../..", "later/../..", "", "x".repeat(300)]);
}

const TYPE_FLAGS = ["0", "1", "2", "3", "4", "5", "6", "7", "\0", "S", "V", "M", "D", "K", "L", "x", "g", "A", "I", "N", "X", "Z", "9", " "];

/** One mutation of a tar stream; `outside` is a directory that must never be touched. */
export function mutate(rng: Rng, input: Buffer, outside: string): { bytes: Buffer; what: string } {
  const buf = Buffer.from(input);
  const offs = headerOffsets(buf);
  const names = offs.map((o) => buf.subarray(o, o + 100).toString("utf8").replace(/\0.*$/s, ""));
  if (!offs.length) return { bytes: Buffer.concat([buf, tar([{ name: randomPath(rng), content: "late" }])]), what: "an entry appended after no header" };
  const at = rng.pick(offs);
  const fix = () => rng.chance(0.9) && setChecksum(buf.subarray(at, at + 512));
  const kind = rng.int(18);
  switch (kind) {
    case 0: {
      const t = rng.pick(TYPE_FLAGS);
      buf[at + 156] = t.charCodeAt(0);
      fix();
      return { bytes: buf, what: `type flag ${JSON.stringify(t)} at ${at}` };
    }
    case 1: {
      const size = rng.pick(["0", "1", "777", "1000", "1001", "77777777777", "-1", "zz", "", "\x80\0\0\0\0\0\0\0\0\0\x10\0"]);
      buf.write(size.padEnd(12, "\0"), at + 124, 12, "latin1");
      fix();
      return { bytes: buf, what: `size ${JSON.stringify(size)} at ${at}` };
    }
    case 2: {
      const name = hostileName(rng, outside, names);
      writeField(buf, at, 100, name);
      fix();
      return { bytes: buf, what: `name ${JSON.stringify(name)} at ${at}` };
    }
    case 3: {
      const target = hostileTarget(rng, outside, names);
      writeField(buf, at + 157, 100, target);
      if (rng.chance(0.7)) buf[at + 156] = rng.pick(["1", "2"]).charCodeAt(0);
      fix();
      return { bytes: buf, what: `link ${String.fromCharCode(buf[at + 156])} -> ${JSON.stringify(target)} at ${at}` };
    }
    case 4: {
      const mode = rng.pick(["0000000", "7777", "0004755", "0000777", "9", "", "0o644"]);
      writeField(buf, at + 100, 8, mode);
      fix();
      return { bytes: buf, what: `mode ${JSON.stringify(mode)} at ${at}` };
    }
    case 5: {
      const i = at + rng.int(512);
      buf[i] = rng.int(256);
      fix();
      return { bytes: buf, what: `header byte ${i}` };
    }
    case 6: {
      const i = rng.int(buf.length);
      buf[i] = rng.int(256);
      return { bytes: buf, what: `any byte ${i}, checksum left` };
    }
    case 7: {
      const cut = rng.chance(0.5) ? 512 * rng.int(Math.ceil(buf.length / 512)) : rng.int(buf.length);
      return { bytes: buf.subarray(0, cut), what: `truncated at ${cut}` };
    }
    case 8: {
      const end = endOffset(buf, offs);
      return { bytes: buf.subarray(0, end), what: `end-of-archive marker dropped at ${end}` };
    }
    case 9: {
      const records = rng.pick<Record<string, string>>([
        { path: hostileName(rng, outside, names) },
        { linkpath: hostileTarget(rng, outside, names) },
        { size: rng.pick(["0", "1", "513", "-5", "99999999999999"]) },
        { "GNU.sparse.major": "1", "GNU.sparse.minor": "0", "GNU.sparse.realsize": "4096" },
        { mode: "4755", uid: "0", mtime: "1.5" },
        { type: rng.pick(["5", "Directory", "SymbolicLink", "x"]) },
        { path: `${"p".repeat(120)}/${"q".repeat(120)}/r` },
      ]);
      const pax = Buffer.concat([header({ name: "PaxHeaders/x", type: rng.pick(["x", "x", "g"]), content: paxBody(records) }), padded(paxBody(records))]);
      return { bytes: Buffer.concat([buf.subarray(0, at), pax, buf.subarray(at)]), what: `PAX ${JSON.stringify(records)} before ${at}` };
    }
    case 10: {
      const rec = rng.pick(["L", "K"]);
      const text = rec === "L" ? hostileName(rng, outside, names) : hostileTarget(rng, outside, names);
      const blocks = entryBlocks({ name: "././@LongLink", type: rec, content: Buffer.from(text + "\0") });
      return { bytes: Buffer.concat([buf.subarray(0, at), ...blocks, buf.subarray(at)]), what: `GNU ${rec} ${JSON.stringify(text)} before ${at}` };
    }
    case 11: {
      const end = endOffset(buf, offs);
      const next = offs.find((o) => o > at) ?? end;
      return { bytes: Buffer.concat([buf.subarray(0, end), buf.subarray(at, next), buf.subarray(end)]), what: `entry at ${at} repeated at the end` };
    }
    case 12:
      return { bytes: Buffer.concat([buf.subarray(0, at), Buffer.alloc(512), buf.subarray(at)]), what: `zero block before ${at}` };
    case 13:
      return { bytes: Buffer.concat([buf, rng.bytes(rng.int(2000))]), what: "garbage appended" };
    case 14: {
      const link = tar([{ name: rng.chance(0.5) && names.length ? rng.pick(names) : randomPath(rng), type: "2", linkname: hostileTarget(rng, outside, names) }], { endBlocks: 0 });
      return { bytes: Buffer.concat([buf.subarray(0, at), link, buf.subarray(at)]), what: `symlink inserted before ${at}: ${link.subarray(0, 100).toString().replace(/\0.*$/s, "")} -> ${link.subarray(157, 257).toString().replace(/\0.*$/s, "")}` };
    }
    case 15: {
      const prefix = rng.pick(["..", "/abs", "pre", "a/b", outside, "x".repeat(155), ".download-package"]);
      writeField(buf, at + 345, 155, prefix);
      fix();
      return { bytes: buf, what: `prefix ${JSON.stringify(prefix)} at ${at}` };
    }
    case 16: {
      const magic = rng.pick(["ustar  \0", "\0\0\0\0\0\0\0\0", "ustar\x0000", "USTAR\x0000"]);
      buf.write(magic, at + 257, 8, "latin1");
      fix();
      return { bytes: buf, what: `magic ${JSON.stringify(magic)} at ${at}` };
    }
    default: {
      const write = tar([{ name: names.length ? `${rng.pick(names)}/${rng.pick(NAMES)}` : "w", content: "through" }], { endBlocks: 0 });
      const end = endOffset(buf, offs);
      return { bytes: Buffer.concat([buf.subarray(0, end), write, buf.subarray(end)]), what: "a file written under an earlier entry, at the end" };
    }
  }
}
