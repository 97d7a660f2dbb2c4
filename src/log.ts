// Line-based logs on stderr for `kubectl logs`: text (key=value) or one JSON object per line.

import { formatBytes } from "./units.ts";

export type Level = "debug" | "info" | "warn" | "error";

/** A number with its unit: text logs show `text` ("12.1 MiB"); JSON logs the number, and `text` under KEYHuman. */
export class Quantity {
  readonly value: number;
  readonly text: string;
  constructor(value: number, text: string) {
    this.value = value;
    this.text = text;
  }
}

/** A byte count (a rate when `perSecond`), whole bytes. */
export function bytesField(n: number, perSecond = false): Quantity {
  const whole = Math.round(n);
  return new Quantity(whole, `${formatBytes(whole)}${perSecond ? "/s" : ""}`);
}

export type Fields = Record<string, string | number | boolean | undefined | string[] | Quantity>;

export interface Logger {
  info(msg: string, fields?: Fields): void;
  warn(msg: string, fields?: Fields): void;
  error(msg: string, fields?: Fields): void;
}

function jsonFields(fields: Fields): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(fields)) {
    if (v instanceof Quantity) [out[k], out[`${k}Human`]] = [v.value, v.text];
    else out[k] = v;
  }
  return out;
}

export function formatLine(format: "text" | "json", level: Level, msg: string, fields: Fields = {}, now = new Date()): string {
  const clean = Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== undefined));
  if (format === "json") return JSON.stringify({ time: now.toISOString(), level, msg, ...jsonFields(clean) });
  const kv = Object.entries(clean).map(([k, v]) => {
    const s = Array.isArray(v) ? v.join(",") : v instanceof Quantity ? v.text : String(v);
    return `${k}=${/[\s"=]/.test(s) || s === "" ? JSON.stringify(s) : s}`;
  });
  return [now.toISOString(), level.toUpperCase().padEnd(5), msg, ...kv].join(" ");
}

export function createLogger(format: "text" | "json", write: (line: string) => void = (l) => process.stderr.write(l + "\n")): Logger {
  const at = (level: Level) => (msg: string, fields?: Fields) => write(formatLine(format, level, msg, fields));
  return { info: at("info"), warn: at("warn"), error: at("error") };
}
