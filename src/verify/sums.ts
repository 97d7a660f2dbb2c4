// Checksum files (SHA256SUMS and the like), in the two grammars the program reads. Pure.
//   exact:  what `sha256sum -c` (GNU coreutils) reads: "HEX  NAME" or "HEX *NAME", 64 hex
//           digits, nothing else on the line; what `images export` writes and reads back.
//   loose:  what people publish next to a package: the GNU lines with any spacing (a name may
//           be missing), 64 or 128 hex digits, BSD style "SHA256 (NAME) = HEX", # comments.

export interface SumRow {
  name: string;
  /** Lowercase. */
  hex: string;
}

export function parseSumsExact(text: string): SumRow[] {
  const rows: SumRow[] = [];
  for (const line of text.split("\n")) {
    const m = /^([0-9a-fA-F]{64}) [ *](.+)$/.exec(line.replace(/\r$/, ""));
    if (m) rows.push({ name: m[2], hex: m[1].toLowerCase() });
  }
  return rows;
}

export function parseSumsLoose(text: string): SumRow[] {
  const rows: SumRow[] = [];
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (!line || line.startsWith("#")) continue;
    let m = /^([0-9a-fA-F]{64}|[0-9a-fA-F]{128})(?:\s+\*?(.+))?$/.exec(line);
    if (m) {
      rows.push({ hex: m[1].toLowerCase(), name: (m[2] ?? "").trim() });
      continue;
    }
    m = /^SHA(?:256|512)\s*\((.+)\)\s*=\s*([0-9a-fA-F]+)$/.exec(line);
    if (m) rows.push({ hex: m[2].toLowerCase(), name: m[1] });
  }
  return rows;
}
