// Line-based logs on stderr for `kubectl logs`: text (key=value) or one JSON object per line.

export type Level = "debug" | "info" | "warn" | "error";
export type Fields = Record<string, string | number | boolean | undefined | string[]>;

export interface Logger {
  info(msg: string, fields?: Fields): void;
  warn(msg: string, fields?: Fields): void;
  error(msg: string, fields?: Fields): void;
}

export function formatLine(format: "text" | "json", level: Level, msg: string, fields: Fields = {}, now = new Date()): string {
  const clean = Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== undefined));
  if (format === "json") return JSON.stringify({ time: now.toISOString(), level, msg, ...clean });
  const kv = Object.entries(clean).map(([k, v]) => {
    const s = Array.isArray(v) ? v.join(",") : String(v);
    return `${k}=${/[\s"=]/.test(s) || s === "" ? JSON.stringify(s) : s}`;
  });
  return [now.toISOString(), level.toUpperCase().padEnd(5), msg, ...kv].join(" ");
}

export function createLogger(format: "text" | "json", write: (line: string) => void = (l) => process.stderr.write(l + "\n")): Logger {
  const at = (level: Level) => (msg: string, fields?: Fields) => write(formatLine(format, level, msg, fields));
  return { info: at("info"), warn: at("warn"), error: at("error") };
}
