// Plain data rendered as YAML text in a given document's style, for text insertions: block
// lines (indent step, list indentation, as the surrounding document writes them) or one
// flow line. Scalars are quoted whenever YAML 1.1 (what Kubernetes reads) would take them
// for something else: "0755", "on", "1" stay strings.

import { stringify } from "yaml";

export interface Style {
  eol: string;
  /** Spaces per nesting level of maps. */
  step: number;
  /** Whether a list under a key is indented ("key:\n  - a") or not ("key:\n- a"). */
  indentSeq: boolean;
}

const isCollection = (v: unknown): v is object => typeof v === "object" && v !== null;
const isEmpty = (v: object) => (Array.isArray(v) ? v.length === 0 : Object.keys(v).length === 0);

export function scalar(v: unknown): string {
  if (Array.isArray(v) && v.length === 0) return "[]";
  if (isCollection(v) && isEmpty(v)) return "{}";
  if (typeof v === "string" && /[\n\r]/.test(v)) return JSON.stringify(v); // a valid YAML double-quoted scalar
  return stringify(v, { version: "1.1", lineWidth: 0 }).replace(/\n$/, "");
}

/** Block lines at column 0 for a non-empty map or list. */
export function blockLines(value: object, style: Style): string[] {
  const lines: string[] = [];
  const nested = (v: unknown): string[] | undefined => (isCollection(v) && !isEmpty(v) ? blockLines(v, style) : undefined);
  if (Array.isArray(value)) {
    for (const item of value) {
      const sub = nested(item);
      if (sub) lines.push(`- ${sub[0]}`, ...sub.slice(1).map((l) => `  ${l}`));
      else lines.push(`- ${scalar(item)}`);
    }
    return lines;
  }
  for (const [k, v] of Object.entries(value)) {
    const sub = nested(v);
    if (!sub) {
      lines.push(`${scalar(k)}: ${scalar(v)}`);
      continue;
    }
    const pad = " ".repeat(Array.isArray(v) && !style.indentSeq ? 0 : style.step);
    lines.push(`${scalar(k)}:`, ...sub.map((l) => pad + l));
  }
  return lines;
}

export function flow(value: unknown): string {
  return stringify(value, { version: "1.1", collectionStyle: "flow", flowCollectionPadding: false, lineWidth: 0 }).replace(/\n$/, "");
}

export const indent = (lines: string[], col: number) => lines.map((l) => " ".repeat(col) + l);
