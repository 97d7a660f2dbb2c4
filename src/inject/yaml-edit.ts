// Apply patch operations to one YAML document as text insertions, guided by the parsed
// document's node ranges: every byte outside the inserted parts stays as it was (comments,
// quotes, key order, indentation, CRLF). Input text is replaced only where it must be: an
// empty flow collection ("initContainers: []") becomes a block; a non-empty flow collection
// gets its addition in flow style on its own line; a shared node (an alias, an anchor other
// places refer to, a key that comes from a merge) that the change would otherwise leak
// through gets its own copy first, and a note says so. The result is re-parsed and compared
// with the operations applied to the data, so a wrong edit can never be written.

import { isDeepStrictEqual } from "node:util";
import { isAlias, isMap, isPair, isScalar, isSeq, parseDocument, visit, type Alias, type Document, type Node, type Pair, type Scalar, type YAMLMap, type YAMLSeq } from "yaml";
import { applyOps, type PatchOp, type Path } from "./pod-spec.ts";
import { blockLines, flow, indent, scalar, type Style } from "./render.ts";

/** How Kubernetes reads manifests (sigs.k8s.io/yaml): YAML 1.1, so 0755 is octal and << merges. */
export function parseYaml(text: string): Document.Parsed {
  return parseDocument(text, { version: "1.1", merge: true });
}

/** Aliases may expand to this many nodes: real manifests stay far below, an alias bomb does not. */
const MAX_ALIAS_COUNT = 10_000;

export function toData(doc: Document): unknown {
  return doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
}

type Holder = { map: YAMLMap; pair: Pair } | { seq: YAMLSeq; index: number };

type Blocker = { kind: "alias"; alias: Alias } | { kind: "merge"; map: YAMLMap; key: string } | { kind: "shared"; alias: Alias };

interface Located {
  node: YAMLMap | YAMLSeq;
  holder?: Holder;
  last: string | number;
}

const col = (text: string, offset: number) => offset - (text.lastIndexOf("\n", offset - 1) + 1);
const lineStart = (text: string, offset: number) => text.lastIndexOf("\n", offset - 1) + 1;
const keyOf = (p: Pair) => (isScalar(p.key) && !isMergePair(p) ? String(p.key.value) : undefined);

/** Where the line holding offset-1 ends (after its newline). */
function lineEndAfter(text: string, offset: number): number {
  if (offset > 0 && text[offset - 1] === "\n") return offset;
  const nl = text.indexOf("\n", offset);
  return nl < 0 ? text.length : nl + 1;
}

function insertLines(text: string, pos: number, lines: string[], eol: string): string {
  const body = lines.join(eol);
  if (pos === text.length && text.length > 0 && !text.endsWith("\n")) return text + eol + body; // no newline at the end: keep it so
  return text.slice(0, pos) + body + eol + text.slice(pos);
}

function splice(text: string, from: number, to: number, insert: string): string {
  return text.slice(0, from) + insert + text.slice(to);
}

const end = (n: { range?: [number, number, number] | null }) => n.range![1];

/** The document's own style (line endings, indent step, list indentation), as written under `near` first. */
export function detectStyle(text: string, doc: Document, near?: Node): Style {
  let step: number | undefined;
  let indentSeq: boolean | undefined;
  const visitor = {
    Pair(_: unknown, pair: Pair) {
      const k = pair.key as Node | null;
      const v = pair.value as Node | null;
      if (!k?.range || !v?.range) return;
      const kc = col(text, k.range[0]);
      if (step === undefined && isMap(v) && !v.flow && v.items.length) {
        const s = col(text, (v.items[0].key as Node).range![0]) - kc;
        if (s > 0) step = s;
      }
      if (indentSeq === undefined && isSeq(v) && !v.flow && v.items.length) indentSeq = col(text, v.range[0]) > kc;
      if (step !== undefined && indentSeq !== undefined) return visit.BREAK;
    },
  };
  if (near) visit(near, visitor);
  visit(doc, visitor);
  return { eol: text.includes("\r\n") ? "\r\n" : "\n", step: step ?? 2, indentSeq: indentSeq ?? true };
}

/** The node all operations are under (the pod spec), for the style nearest to the edits. */
function commonNode(doc: Document, ops: PatchOp[]): Node | undefined {
  let prefix = ops[0]?.path.slice(0, -1) ?? [];
  for (const op of ops) {
    let i = 0;
    while (i < prefix.length && i < op.path.length - 1 && prefix[i] === op.path[i]) i++;
    prefix = prefix.slice(0, i);
  }
  const n = doc.getIn(prefix, true);
  return isMap(n) || isSeq(n) ? n : undefined;
}

const isMergePair = (p: unknown) => isPair(p) && isScalar(p.key) && ((p.key as Scalar).source === "<<" || typeof (p.key as Scalar).value === "symbol");

/** The aliases that name `node`; for a merge (`<<: *a` or `<<: [*a, *b]`), the map it merges into. */
function aliasesOf(doc: Document, node: Node): { alias: Alias; mergeInto?: YAMLMap }[] {
  const out: { alias: Alias; mergeInto?: YAMLMap }[] = [];
  visit(doc, {
    Alias(_, a, path) {
      if (a.resolve(doc) !== node) return;
      const n = path.length;
      const into = isMergePair(path[n - 1]) ? path[n - 2] : isSeq(path[n - 1]) && isMergePair(path[n - 2]) ? path[n - 3] : undefined;
      out.push({ alias: a, mergeInto: isMap(into) ? into : undefined });
    },
  });
  return out;
}

/**
 * What must be un-shared before changing key `keys[i]` of each `chain[i]`: an alias that
 * names one of them (or a node inside `subtree`, which is about to be replaced). A map that
 * merges the changed map (<<) only needs the changed key written out, when it has it.
 */
function sharedUse(doc: Document, chain: Node[], keys: (string | number)[], subtree?: Node): Blocker | undefined {
  for (let i = 0; i < chain.length; i++) {
    if (!chain[i].anchor) continue;
    for (const use of aliasesOf(doc, chain[i])) {
      if (!use.mergeInto) return { kind: "shared", alias: use.alias };
      const key = String(keys[i]);
      if (use.mergeInto.items.some((p) => keyOf(p) === key)) continue; // its own key wins over the merged one
      const merged = (use.mergeInto.toJS(doc) as Record<string, unknown>)[key];
      if (merged === undefined) return { kind: "shared", alias: use.alias };
      return { kind: "merge", map: use.mergeInto, key };
    }
  }
  const inner: Node[] = [];
  if (subtree)
    visit(subtree, (_, n) => {
      if ((isMap(n) || isSeq(n) || isScalar(n)) && n.anchor) inner.push(n);
    });
  for (const n of inner) {
    const [use] = aliasesOf(doc, n);
    if (use) return { kind: "shared", alias: use.alias };
  }
  return undefined;
}

function holderOf(doc: Document, node: Node): Holder | undefined {
  let found: Holder | undefined;
  visit(doc, (key, n, path) => {
    if (n !== node) return;
    const parent = path[path.length - 1];
    if (isSeq(parent)) found = { seq: parent, index: Number(key) };
    else if (path.length >= 2 && isMap(path[path.length - 2])) found = { map: path[path.length - 2] as YAMLMap, pair: parent as Pair };
    return visit.BREAK;
  });
  return found;
}

/** Find the collection an operation changes, or what must be un-shared first. */
function locate(doc: Document, path: Path, replacing: boolean, sharedTarget = false): Located | { blocker: Blocker } {
  let node: unknown = doc.contents;
  let holder: Holder | undefined;
  const chain: Node[] = [];
  for (const k of path.slice(0, -1)) {
    if (isAlias(node)) return { blocker: { kind: "alias", alias: node } };
    if (isMap(node)) {
      chain.push(node);
      const pair = node.items.find((p) => keyOf(p) === String(k));
      if (!pair) {
        const merged = (node.toJS(doc) as Record<string, unknown>)[String(k)];
        if (merged !== undefined) return { blocker: { kind: "merge", map: node, key: String(k) } };
        throw new Error(`internal: ${path.join(".")} not found`);
      }
      holder = { map: node, pair };
      node = pair.value;
    } else if (isSeq(node)) {
      chain.push(node);
      holder = { seq: node, index: Number(k) };
      node = node.items[Number(k)];
    } else throw new Error(`internal: ${path.join(".")} crosses a scalar`);
  }
  if (isAlias(node)) return { blocker: { kind: "alias", alias: node } };
  if (!isMap(node) && !isSeq(node)) throw new Error(`internal: ${path.join(".")} has no collection`);
  chain.push(node);
  const last = path[path.length - 1];
  let replaced: Node | undefined;
  if (isMap(node)) replaced = node.items.find((p) => keyOf(p) === String(last))?.value as Node | undefined;
  else if (replacing && typeof last === "number") replaced = node.items[last] as Node;
  // A list every user of which gets the same item is changed once, where it is anchored.
  const shared = sharedTarget ? sharedUse(doc, chain.slice(0, -1), path, replaced ?? undefined) : sharedUse(doc, chain, path, replaced ?? undefined);
  if (shared) return { blocker: shared };
  return { node, holder, last };
}

/** Set a map entry's value, keeping the key's line. */
function setPairValue(text: string, map: YAMLMap, pair: Pair, value: unknown, style: Style): string {
  const v = pair.value as Node | null;
  const keyNode = pair.key as Node;
  const inline = map.flow || typeof value !== "object" || value === null || Object.keys(value).length === 0;
  if (!v?.range) {
    const at = end(keyNode as { range: [number, number, number] });
    const colon = text.indexOf(":", at) + 1;
    if (inline) return splice(text, colon, colon, " " + (map.flow ? flow(value) : scalar(value)));
    return insertLines(text, lineEndAfter(text, colon), valueLines(text, keyNode, value as object, style), style.eol);
  }
  if ((isMap(v) || isSeq(v)) && !v.flow) {
    // A block value of the wrong type (e.g. a map where a list belongs): its lines are replaced.
    const from = lineStart(text, v.range[0]);
    if (inline) {
      const colon = text.indexOf(":", keyNode.range![1]) + 1;
      return splice(splice(text, from, lineEndAfter(text, v.range[1]), ""), colon, colon, " " + scalar(value));
    }
    const lines = valueLines(text, keyNode, value as object, style);
    return splice(text, from, lineEndAfter(text, v.range[1]), lines.join(style.eol) + style.eol);
  }
  if (inline) return splice(text, v.range[0], v.range[1], map.flow ? flow(value) : scalar(value));
  // Remove the old token (an alias, "[]", "null") and write the block on the lines below.
  let from = v.range[0];
  const commented = /^[ \t]*#/.test(text.slice(v.range[1], lineEndAfter(text, v.range[1])));
  while (!commented && from > 0 && (text[from - 1] === " " || text[from - 1] === "\t")) from--; // no trailing blanks
  const cut = splice(text, from, v.range[1], "");
  const pos = lineEndAfter(cut, from);
  return insertLines(cut, pos, valueLines(text, keyNode, value as object, style), style.eol);
}

function valueLines(text: string, keyNode: Node, value: object, style: Style): string[] {
  const kc = col(text, keyNode.range![0]);
  const pad = Array.isArray(value) && !style.indentSeq ? 0 : style.step;
  return indent(blockLines(value, style), kc + pad);
}

function insertKey(text: string, map: YAMLMap, key: string, value: unknown, style: Style): string {
  const lastPair = map.items[map.items.length - 1];
  if (map.flow) {
    const entry = `${scalar(key)}: ${flow(value)}`;
    if (!lastPair) return splice(text, map.range![0], map.range![1], flow({ [key]: value }));
    const after = end((lastPair.value ?? lastPair.key) as { range: [number, number, number] });
    return splice(text, after, after, `, ${entry}`);
  }
  const kc = col(text, (map.items[0].key as Node).range![0]);
  const pos = lineEndAfter(text, end((lastPair.value ?? lastPair.key) as { range: [number, number, number] }));
  const lines = typeof value === "object" && value !== null && Object.keys(value).length ? blockLines({ [key]: value }, style) : [`${scalar(key)}: ${scalar(value)}`];
  return insertLines(text, pos, indent(lines, kc), style.eol);
}

function itemLines(text: string, seq: YAMLSeq, value: unknown, style: Style): string[] {
  const dc = col(text, seq.range![0]);
  const lines = typeof value === "object" && value !== null && Object.keys(value).length ? blockLines([value], style) : [`- ${scalar(value)}`];
  return indent(lines, dc);
}

function seqEdit(text: string, doc: Document, loc: Located & { node: YAMLSeq }, op: PatchOp, style: Style): string {
  const seq = loc.node;
  const { last } = loc;
  if (seq.flow && seq.items.length === 0) {
    // "[]": write the whole list as a block under its key.
    if (!loc.holder || !("pair" in loc.holder)) return splice(text, seq.range![0], seq.range![1], flow([op.value]));
    return setPairValue(text, loc.holder.map, loc.holder.pair, [op.value], style);
  }
  const items = seq.items as Node[];
  if (op.op === "replace") {
    const item = items[Number(last)];
    if (seq.flow || !(isMap(item) || isSeq(item)) || item.flow) return splice(text, item.range![0], item.range![1], seq.flow ? flow(op.value) : scalar(op.value));
    const lines = blockLines(op.value as object, style);
    const c = col(text, item.range![0]);
    return splice(text, item.range![0], lineEndAfter(text, item.range![1]), [lines[0], ...indent(lines.slice(1), c)].join(style.eol) + style.eol);
  }
  if (last === "-") {
    const after = items[items.length - 1].range![1];
    if (seq.flow) return splice(text, after, after, `, ${flow(op.value)}`);
    return insertLines(text, lineEndAfter(text, after), itemLines(text, seq, op.value, style), style.eol);
  }
  const before = items[Number(last)];
  if (seq.flow) return splice(text, before.range![0], before.range![0], `${flow(op.value)}, `);
  const pos = Number(last) === 0 ? lineStart(text, seq.range![0]) : lineStart(text, before.range![0]);
  return insertLines(text, pos, itemLines(text, seq, op.value, style), style.eol);
}

/** Give one alias its own copy of what it names (or write a merged key out), so a change stays local. */
function unshare(text: string, doc: Document, b: Blocker, style: Style, note: (s: string) => void): string {
  if (b.kind === "merge") {
    const value = (b.map.toJS(doc) as Record<string, unknown>)[b.key];
    note(`"${b.key}" came from a merge key (<<); it is now written out in this map, so the merged-from node stays as it was`);
    return insertKey(text, b.map, b.key, value, style);
  }
  const value = b.alias.resolve(doc)!.toJS(doc, { maxAliasCount: MAX_ALIAS_COUNT });
  const holder = holderOf(doc, b.alias);
  if (!holder) throw new Error(`internal: alias *${b.alias.source} has no parent`);
  const where = "pair" in holder ? `"${isMergePair(holder.pair) ? "<<" : keyOf(holder.pair)}: *${b.alias.source}"` : `"- *${b.alias.source}"`;
  note(`un-shared ${where}: it now holds its own copy of &${b.alias.source}, so the other places that use &${b.alias.source} keep their content`);
  if ("pair" in holder) return setPairValue(text, holder.map, holder.pair, value, style);
  return seqEdit(text, doc, { node: holder.seq, last: holder.index }, { op: "replace", path: [], value }, style);
}

/** The list an append lands in, following aliases; undefined when the way there is shared otherwise. */
function appendTarget(doc: Document, path: Path): { node: Node; viaAlias: Alias | undefined } | undefined {
  let node: unknown = doc.contents;
  let viaAlias: Alias | undefined;
  const chain: Node[] = [];
  for (const k of path.slice(0, -1)) {
    if (viaAlias) return undefined; // an alias before the last step
    const pair = isMap(node) ? node.items.find((p) => keyOf(p) === String(k)) : undefined;
    const next: unknown = isMap(node) ? pair?.value : isSeq(node) ? node.items[Number(k)] : undefined;
    if (!next) return undefined;
    chain.push(node as Node);
    viaAlias = isAlias(next) ? next : undefined;
    node = isAlias(next) ? next.resolve(doc) : next;
  }
  if (!isSeq(node) || node.flow || sharedUse(doc, chain, path)) return undefined;
  return { node, viaAlias };
}

/**
 * Appends of one same item to a list that several places share through an alias (two
 * containers with `volumeMounts: *shared`): when every place that uses the list gets it,
 * one insertion where the list is anchored does it for all, and the aliases stay.
 */
function mergeSharedAppends(doc: Document, ops: PatchOp[]): { ops: PatchOp[]; sharedTarget: Set<PatchOp> } {
  const groups = new Map<Node, { op: PatchOp; viaAlias?: Alias }[]>();
  for (const op of ops) {
    if (op.op !== "add" || op.path[op.path.length - 1] !== "-") continue;
    const t = appendTarget(doc, op.path);
    if (!t || !t.node.anchor) continue;
    groups.set(t.node, [...(groups.get(t.node) ?? []), { op, viaAlias: t.viaAlias }]);
  }
  const drop = new Set<PatchOp>();
  const sharedTarget = new Set<PatchOp>();
  for (const [node, members] of groups) {
    const aliases = aliasesOf(doc, node).map((u) => u.alias);
    const anchorSite = members.filter((m) => !m.viaAlias);
    const same = members.every((m) => isDeepStrictEqual(m.op.value, members[0].op.value));
    const covered = aliases.every((a) => members.some((m) => m.viaAlias === a)) && members.length === aliases.length + 1;
    if (!same || !covered || anchorSite.length !== 1) continue;
    sharedTarget.add(anchorSite[0].op);
    for (const m of members) if (m.viaAlias) drop.add(m.op);
  }
  return { ops: ops.filter((op) => !drop.has(op)), sharedTarget };
}

/**
 * Apply `ops` (paths from the document root) to the YAML text of one document. `note`
 * receives one line per un-shared node. Throws when the result would not mean exactly
 * the input with the operations applied.
 */
export function editDocument(source: string, ops: PatchOp[], note: (s: string) => void): string {
  let text = source;
  const original = parseYaml(source);
  const style = detectStyle(source, original, commonNode(original, ops));
  const { ops: edits, sharedTarget } = mergeSharedAppends(original, ops);
  for (const op of edits) {
    for (let round = 0; ; round++) {
      if (round > 1000) throw new Error("internal: too many shared nodes to un-share");
      const doc = parseYaml(text);
      const loc = locate(doc, op.path, op.op === "replace", sharedTarget.has(op));
      if ("blocker" in loc) {
        text = unshare(text, doc, loc.blocker, style, note);
        continue;
      }
      if (isSeq(loc.node)) text = seqEdit(text, doc, loc as Located & { node: YAMLSeq }, op, style);
      else {
        const pair = loc.node.items.find((p) => keyOf(p) === String(loc.last));
        text = pair ? setPairValue(text, loc.node, pair, op.value, style) : insertKey(text, loc.node, String(loc.last), op.value, style);
      }
      break;
    }
  }
  const after = parseYaml(text);
  const json = (v: unknown) => JSON.parse(JSON.stringify(v) ?? "null");
  if (after.errors.length || !isDeepStrictEqual(json(toData(after)), applyOps(toData(parseYaml(source)), ops)))
    throw new Error(`internal: the edited YAML does not mean what was intended${after.errors.length ? ` (${after.errors[0].message.split("\n")[0]})` : ""}`);
  return text;
}
