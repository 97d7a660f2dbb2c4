// The line of a program's error output that says what failed. Pure.

const lines = (text: string) => text.split(/\r?\n/).map((l) => l.trim()).filter(Boolean);

/** The last non-blank line, trimmed; `fallback` when there is none. */
export function lastLine(text: string, fallback = ""): string {
  return lines(text).pop() ?? fallback;
}

/** The last line starting with `prefix` (e.g. curl's "curl: (7)"), else the last line, else `fallback`. */
export function errorLine(text: string, prefix: RegExp, fallback = "no message"): string {
  const all = lines(text);
  return all.filter((l) => prefix.test(l)).pop() ?? all.pop() ?? fallback;
}
