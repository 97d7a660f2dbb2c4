// A tar writer for hostile archives: raw 512-byte headers with any type flag, size or
// checksum, PAX and GNU long-name records, and the end-of-archive blocks only when asked.
// GNU tar and node-tar refuse to write most of what the tests need; this writes anything.

export interface TarEntry {
  name: string;
  /** Any one-byte type flag ("0", "5", "S", "V", "Z", "\0", ...). Default "0". */
  type?: string;
  linkname?: string;
  mode?: number;
  content?: Buffer | string;
  /** Size written in the header (default: the content's length). */
  size?: number;
  mtime?: number;
  /** Prefix field (ustar, 155 bytes): the name becomes prefix/name. */
  prefix?: string;
  /** PAX records put in an 'x' header before this entry, e.g. { path: "...", linkpath: "..." }. */
  pax?: Record<string, string>;
  /** Put the name in a GNU 'L' long-name record before this entry. */
  gnuLongName?: boolean;
  /** Put the link name in a GNU 'K' long-link record before this entry. */
  gnuLongLink?: boolean;
  /** Write a wrong header checksum. */
  badChecksum?: boolean;
}

export interface TarOptions {
  /** Zero blocks after the last entry: 2 (GNU, default), 1, or 0 (a truncated archive). */
  endBlocks?: number;
}

const BLOCK = 512;

/** One 512-byte header block. Fields longer than their slot are cut (that is the point of some tests). */
export function header(e: TarEntry): Buffer {
  const content = Buffer.from(e.content ?? "");
  const h = Buffer.alloc(BLOCK);
  const put = (off: number, len: number, s: string) => h.write(s, off, Math.min(len, Buffer.byteLength(s)), "utf8");
  const octal = (off: number, len: number, n: number) => put(off, len, n.toString(8).padStart(len - 1, "0") + "\0");
  put(0, 100, e.name);
  octal(100, 8, e.mode ?? 0o644);
  octal(108, 8, 0);
  octal(116, 8, 0);
  octal(124, 12, e.size ?? content.length);
  octal(136, 12, e.mtime ?? 1_700_000_000);
  put(148, 8, "        ");
  h[156] = (e.type ?? "0").charCodeAt(0) & 0xff;
  put(157, 100, e.linkname ?? "");
  put(257, 6, "ustar\0");
  put(263, 2, "00");
  put(265, 32, "root");
  put(297, 32, "root");
  if (e.prefix) put(345, 155, e.prefix);
  setChecksum(h, e.badChecksum ? 1 : 0);
  return h;
}

/** Recompute a header's checksum in place (plus `skew`, to make it wrong on purpose). */
export function setChecksum(h: Buffer, skew = 0): void {
  h.fill(0x20, 148, 156);
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += h[i];
  h.write((sum + skew).toString(8).padStart(6, "0") + "\0 ", 148, 8, "latin1");
}

/** Content padded to whole blocks. */
export function padded(content: Buffer): Buffer {
  const pad = (BLOCK - (content.length % BLOCK)) % BLOCK;
  return pad ? Buffer.concat([content, Buffer.alloc(pad)]) : content;
}

/** A PAX record set as the body of an 'x' header: "LEN key=value\n" with LEN counting itself. */
export function paxBody(records: Record<string, string>): Buffer {
  const lines = Object.entries(records).map(([k, v]) => {
    const rest = ` ${k}=${v}\n`;
    let len = Buffer.byteLength(rest) + 1;
    while (String(len).length + Buffer.byteLength(rest) !== len) len = String(len).length + Buffer.byteLength(rest);
    return `${len}${rest}`;
  });
  return Buffer.from(lines.join(""));
}

function withBody(h: TarEntry, body: Buffer): Buffer[] {
  return [header({ ...h, content: body }), padded(body)];
}

/** The blocks of one entry, with its PAX / GNU long-name records first. */
export function entryBlocks(e: TarEntry): Buffer[] {
  const out: Buffer[] = [];
  if (e.pax) out.push(...withBody({ name: "PaxHeaders/x", type: "x" }, paxBody(e.pax)));
  if (e.gnuLongName) out.push(...withBody({ name: "././@LongLink", type: "L" }, Buffer.from(e.name + "\0")));
  if (e.gnuLongLink) out.push(...withBody({ name: "././@LongLink", type: "K" }, Buffer.from((e.linkname ?? "") + "\0")));
  const content = Buffer.from(e.content ?? "");
  out.push(header(e));
  if (content.length) out.push(padded(content));
  return out;
}

/** A whole archive. */
export function tar(entries: TarEntry[], opts: TarOptions = {}): Buffer {
  const blocks = entries.flatMap(entryBlocks);
  blocks.push(Buffer.alloc(BLOCK * (opts.endBlocks ?? 2)));
  return Buffer.concat(blocks);
}
