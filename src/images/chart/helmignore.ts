// .helmignore, as helm's pkg/ignore reads it for a chart directory (not for a .tgz): one rule a line,
// `#` comments, `!` negation, a trailing `/` for directories only, a leading `/` or an inner `/` for
// a path from the chart's root, otherwise the base name; Go's path.Match globs; plus helm's default
// rule `templates/.?*` (hidden files in templates/ are never templates). Pure.

interface Rule {
  negate: boolean;
  mustDir: boolean;
  base: boolean;
  re: RegExp;
}

/** Go's path.Match pattern as a RegExp (`*` and `?` never match `/`). */
export function goGlob(pattern: string): RegExp | undefined {
  let re = "";
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i];
    if (c === "*") re += "[^/]*";
    else if (c === "?") re += "[^/]";
    else if (c === "\\") {
      i++;
      if (i >= pattern.length) return undefined;
      re += pattern[i].replace(/[.*+?^${}()|[\]\\/-]/g, "\\$&");
    } else if (c === "[") {
      const end = pattern.indexOf("]", i + 2);
      if (end < 0) return undefined;
      let cls = pattern.slice(i + 1, end);
      if (cls.startsWith("^")) cls = `^${cls.slice(1).replace(/\\/g, "\\\\")}`;
      else cls = cls.replace(/\\/g, "\\\\");
      re += `[${cls}]`;
      i = end;
    } else re += c.replace(/[.*+?^${}()|[\]\\/-]/g, "\\$&");
  }
  try {
    return new RegExp(`^${re}$`);
  } catch {
    return undefined;
  }
}

export function parseHelmignore(text: string): Rule[] {
  const rules: Rule[] = [];
  for (let line of `${text.replace(/^\uFEFF/, "")}\ntemplates/.?*`.split(/\r?\n/)) {
    line = line.trim();
    if (!line || line.startsWith("#") || line.includes("**")) continue;
    const negate = line.startsWith("!");
    if (negate) line = line.slice(1);
    const mustDir = line.endsWith("/");
    if (mustDir) line = line.slice(0, -1);
    const base = !line.startsWith("/") && !line.includes("/");
    const re = goGlob(line.replace(/^\//, ""));
    if (re) rules.push({ negate, mustDir, base, re });
  }
  return rules;
}

/** helm's Rules.Ignore: the first matching rule decides; a negated rule that does not match ignores. */
export function ignored(rules: Rule[], rel: string, isDir: boolean): boolean {
  if (!rel || rel === ".") return false;
  for (const r of rules) {
    const name = r.base ? rel.slice(rel.lastIndexOf("/") + 1) : rel;
    if (r.negate) {
      if (r.mustDir && !isDir) return true;
      if (!r.re.test(name)) return true;
      continue;
    }
    if (r.mustDir && !isDir) continue;
    if (r.re.test(name)) return true;
  }
  return false;
}
