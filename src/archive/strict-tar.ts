// node-tar reads headers leniently where GNU tar refuses them or reads them otherwise:
// numeric fields through parseInt ("12abc" is 10, "0o644" is 0, "-1" dropped; GNU takes a
// leading '-' or '+' as its obsolete base-64), and PAX records whose length or value is
// wrong are dropped without a word. Two readers that frame or name one archive differently
// let it show one content to a reviewer and install another, so node-tar's decoding is
// wrapped here: a header or PAX header that GNU tar would not read the same way is refused.

import { Header, Pax } from "tar";

const NUMERIC_FIELDS: [name: string, offset: number, length: number][] = [
  ["mode", 100, 8],
  ["uid", 108, 8],
  ["gid", 116, 8],
  ["size", 124, 12],
  ["mtime", 136, 12],
];

/** Why a raw header block's numeric fields are not what GNU tar reads as numbers, if they are not. */
export function numericFieldProblem(block: Buffer): string | undefined {
  for (const [name, off, len] of NUMERIC_FIELDS) {
    const raw = block.subarray(off, off + len);
    if (raw[0] === 0x80 || raw[0] === 0xff) continue; // base-256 (GNU, star)
    const text = raw.toString("latin1");
    if (!/^ *[0-7]*[ \0]*$/.test(text)) return `header field ${name} is ${JSON.stringify(text.replace(/\0+$/, ""))}, not an octal number`;
  }
  return undefined;
}

/** Type flags node-tar and GNU tar do not read alike. */
function headerProblem(block: Buffer, h: Header): string | undefined {
  const flag = String.fromCharCode(block[156]);
  // 'N': node-tar takes it as a long name for the next entry, GNU tar as an old "names" entry.
  if (flag === "N") return "type 'N' (an old GNU long-name record) is read differently by GNU tar";
  // An empty long name: node-tar ignores the record, GNU tar gives the next entry an empty name.
  if ((flag === "L" || flag === "K") && !h.size) return `an empty GNU long-name record (type '${flag}')`;
  return undefined;
}

const PAX_VALUE: Record<string, RegExp> = {
  size: /^\d{1,15}$/,
  uid: /^\d{1,15}$/,
  gid: /^\d{1,15}$/,
  mtime: /^-?\d{1,15}(\.\d*)?$/,
  atime: /^-?\d{1,15}(\.\d*)?$/,
  ctime: /^-?\d{1,15}(\.\d*)?$/,
};

/** Why a PAX extended header's records are not read the same by GNU tar and node-tar, if they are not. */
export function paxProblem(text: string): string | undefined {
  const bytes = Buffer.from(text, "utf8");
  let off = 0;
  while (off < bytes.length) {
    const sp = bytes.indexOf(0x20, off);
    const lenText = sp < 0 ? "" : bytes.subarray(off, sp).toString("latin1");
    const len = /^[1-9]\d{0,8}$/.test(lenText) ? Number(lenText) : NaN;
    if (!(len > 0) || off + len > bytes.length || bytes[off + len - 1] !== 0x0a) return `malformed PAX record at byte ${off}`;
    const record = bytes.subarray(sp + 1, off + len - 1).toString("utf8");
    off += len;
    const eq = record.indexOf("=");
    if (eq <= 0) return `malformed PAX record ${JSON.stringify(record.slice(0, 40))}`;
    const key = record.slice(0, eq);
    const value = record.slice(eq + 1);
    if (value.includes("\n") || value.includes("\0")) return `PAX record ${key} holds a newline or NUL`;
    if ((key === "path" || key === "linkpath") && value === "") return `PAX record ${key} is empty`;
    if (PAX_VALUE[key] && !PAX_VALUE[key].test(value)) return `PAX record ${key}=${JSON.stringify(value.slice(0, 40))} is not a valid number`;
    if (key === "hdrcharset" && value !== "ISO-IEC 10646 2000 UTF-8") return `PAX record hdrcharset=${value} (only UTF-8 names are supported)`;
  }
  return undefined;
}

/** The path and link path a PAX header gave, kept to see whether a GNU long-name record overrode them. */
export const PAX_PATH = "strictTarPaxPath";
export const PAX_LINKPATH = "strictTarPaxLinkpath";

/** Thrown out of node-tar's decoding: GNU tar would read this header differently. */
export class TarDisagreement extends Error {}

type Decode = (this: Header, buf: Buffer, off: number, ...rest: unknown[]) => void;
type ParsePax = (str: string, ex?: Record<string, unknown>, g?: boolean) => Pax;
let installed = false;

/**
 * Install the checks once. A header that fails is, for node-tar's Parser, an invalid entry
 * (a 'warn'); a PAX header that fails throws TarDisagreement out of Parser.write/end.
 */
export function strictTar() {
  if (installed) return;
  installed = true;
  const proto = Header.prototype as unknown as { decode: Decode };
  const lenientDecode = proto.decode;
  proto.decode = function (this: Header, buf, off, ...rest) {
    lenientDecode.call(this, buf, off, ...rest);
    if (this.nullBlock || !this.cksumValid) return; // node-tar reports those itself
    const block = buf.subarray(off ?? 0, (off ?? 0) + 512);
    const problem = numericFieldProblem(block) ?? headerProblem(block, this);
    if (problem) throw new TarDisagreement(problem);
  };
  const paxClass = Pax as unknown as { parse: ParsePax };
  const lenientParse = paxClass.parse;
  paxClass.parse = (str, ex, g) => {
    // GNU tar applies a global path, linkpath or size to every entry after it; node-tar ignores the first two.
    const globalProblem = g && /(^|\n)\d+ (path|linkpath|size)=/.test(str) ? "a global PAX header sets path, linkpath or size" : undefined;
    // Two extended headers in a row: node-tar merges them, GNU tar keeps only the last one's records.
    const twiceProblem = !g && ex instanceof Pax ? "two PAX extended headers for one entry" : undefined;
    const problem = globalProblem ?? twiceProblem ?? paxProblem(str);
    if (problem) throw new TarDisagreement(problem);
    const pax = lenientParse(str, ex, g);
    return Object.assign(pax, { [PAX_PATH]: pax.path, [PAX_LINKPATH]: pax.linkpath });
  };
}
