// The table every images command prints, whatever happens: one row per image or file.

export type Result = "exported" | "imported" | "pushed" | "skipped" | "failed";

export interface Row {
  image: string;
  file: string;
  result: Result;
  detail: string;
}

export function table(header: string[], rows: string[][]): string {
  const all = [header, ...rows];
  const widths = header.map((_, i) => Math.max(...all.map((r) => r[i].length)));
  return all.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]))).join("  ").trimEnd()).join("\n") + "\n";
}

export function rowsTable(rows: Row[], fileHeader = "FILE"): string {
  return table(["IMAGE", fileHeader, "RESULT", "DETAIL"], rows.map((r) => [r.image, r.file, r.result, r.detail]));
}

export const count = (rows: Row[], r: Result) => rows.filter((x) => x.result === r).length;

export const errorText = (e: unknown) => (e instanceof Error ? e.message : String(e));
