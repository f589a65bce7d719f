// SPDX-License-Identifier: Apache-2.0
// Where a schema error sits in a YAML file: a field path as users read it
// ("spec.rules[0].match.ports.in[2]") and the 1-based line it starts on. Shared
// by the loaders of policies and of the agent config file.
import { type Document, isAlias, isMap, isScalar, isSeq, type LineCounter } from 'yaml';

/** One step of a path: a map key or a list index. */
export type Seg = string | number;

/** "spec.rules[0].match.ports.in[2]"; keys that are not identifiers are quoted: labels["app.kubernetes.io/name"]. */
export function formatPath(path: readonly Seg[]): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else if (/^[A-Za-z_][A-Za-z0-9_]*$/.test(seg)) out += out === '' ? seg : `.${seg}`;
    else out += `[${JSON.stringify(seg)}]`;
  }
  return out;
}

/** 1-based line of the node at `path`: a map field's key line, a list item's own line; the nearest existing ancestor otherwise. */
export function locate(doc: Document, lc: LineCounter, path: readonly Seg[], atKey: boolean): number {
  let node: unknown = doc.contents;
  let line = lineOf(lc, node) || 1;
  for (let i = 0; i < path.length; i++) {
    if (isAlias(node)) node = node.resolve(doc);
    const seg = path[i];
    if (isMap(node)) {
      const pair = node.items.find(
        (p) => (isScalar(p.key) ? String(p.key.value) : String(p.key)) === String(seg),
      );
      if (pair === undefined) return line;
      line = lineOf(lc, pair.key) || line;
      if (atKey && i === path.length - 1) return line;
      node = pair.value;
    } else if (isSeq(node) && typeof seg === 'number') {
      node = node.items[seg];
      if (node === undefined) return line;
      line = lineOf(lc, node) || line;
    } else {
      return line;
    }
  }
  return line;
}

/** 1-based line a parsed node starts on; 0 when it has no position. */
export function lineOf(lc: LineCounter, node: unknown): number {
  const range = (node as { range?: [number, number, number] } | null | undefined)?.range;
  return range ? lc.linePos(range[0]).line : 0;
}
