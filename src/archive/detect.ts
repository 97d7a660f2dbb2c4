// Format detection by magic bytes, pure. The file name and Content-Type never decide:
// servers and build systems get them wrong too often.

import { ArchiveError } from "../errors.ts";

export type Format = "tar" | "gzip" | "zstd" | "bzip2" | "xz" | "zip" | "unknown" | "file";

/** Bytes needed to decide (one tar header block). */
export const SNIFF_BYTES = 512;

export function detectFormat(head: Buffer): Format {
  const starts = (...bytes: number[]) => head.length >= bytes.length && bytes.every((b, i) => head[i] === b);
  if (starts(0x1f, 0x8b)) return "gzip";
  if (starts(0x28, 0xb5, 0x2f, 0xfd)) return "zstd";
  if (starts(0x42, 0x5a, 0x68)) return "bzip2";
  if (starts(0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00)) return "xz";
  if (starts(0x50, 0x4b, 0x03, 0x04) || starts(0x50, 0x4b, 0x05, 0x06)) return "zip";
  if (looksLikeTar(head)) return "tar";
  return "unknown";
}

/** A tar stream starts with a header whose checksum is right, or with the all-zero end block (empty archive). */
export function looksLikeTar(head: Buffer): boolean {
  if (head.length < 512) return false;
  const block = head.subarray(0, 512);
  if (block.every((b) => b === 0)) return true;
  const field = block.subarray(148, 156).toString("latin1").replace(/\0.*$/s, "").trim();
  if (!/^[0-7]+$/.test(field)) return false;
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 0x20 : block[i];
  return sum === parseInt(field, 8);
}

/** `{"…` or `{}`, `[` then a JSON value (a Markdown link `[text](url)` or an INI `[section]` is not JSON). */
function looksLikeJson(text: string): boolean {
  if (/^\{\s*("|\}|$)/.test(text)) return true;
  return /^\[\s*(\[\s*([[{"\]-]|\d|$)|[{"\]-]|\d|(true|false|null)\s*([,\]]|$)|$)/.test(text);
}

/** A short description of what a non-archive body looks like, for the error message. */
export function describeNonArchive(head: Buffer): string {
  if (head.length === 0) return "the body is empty";
  const text = head.subarray(0, 64).toString("utf8").trimStart().toLowerCase();
  if (text.startsWith("<!doctype html") || text.startsWith("<html")) return "the body is an HTML page (an error or login page?)";
  if (looksLikeJson(text)) return "the body looks like JSON (an API error?)";
  if (text.startsWith("<?xml") || text.startsWith("<")) return "the body looks like XML/HTML (an error page?)";
  const hex = head.subarray(0, 8).toString("hex");
  // Printable UTF-8 (tabs and line ends allowed): a README, a directory listing, a plain-text error.
  if (!/[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufffd]/.test(head.subarray(0, 64).toString("utf8").slice(0, -1))) return `the body is plain text (starts with bytes ${hex})`;
  return `the body starts with bytes ${hex}`;
}

/** PACKAGE_FORMAT's value for each detected format. */
const DECLARED_AS: Record<string, Format> = { tar: "tar", "tar.gz": "gzip", "tar.zst": "zstd", "tar.xz": "xz", "tar.bz2": "bzip2" };

/** The error when a declared PACKAGE_FORMAT (other than auto and file) disagrees with the magic bytes. */
export function checkDeclared(declared: string, detected: Format, head: Buffer): ArchiveError | undefined {
  const want = DECLARED_AS[declared];
  if (!want || want === detected) return undefined;
  const seen = detected === "unknown" ? describeNonArchive(head) : `the body is ${detected} data`;
  return new ArchiveError(`PACKAGE_FORMAT is ${declared} but ${seen}`, `fix PACKAGE_FORMAT (or set it to auto), or check that PACKAGE_URL points at the ${declared} package`);
}
