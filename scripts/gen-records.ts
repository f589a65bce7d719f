// SPDX-License-Identifier: Apache-2.0
// Generates src/generated/records.ts from the BTF of the compiled BPF objects
// (bpf/include/events.h is the one schema; this keeps TypeScript from mirroring
// it by hand, like cilium/ebpf's bpf2go). `--check` exits 1 when the committed
// file differs from what the objects produce (CI).
//
//   node dist/scripts/gen-records.js [--check] [--out FILE] [OBJ.bpf.o ...]
//
// Objects default to build/bpf/*.bpf.o; struct pg_* and enum pg_* types are
// merged by name across them, and a name with two different layouts is an error.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

/** One type of `bpftool -j btf dump file` output (only the keys used here). */
interface BtfType {
  id: number;
  kind: string;
  name?: string;
  size?: number;
  type_id?: number;
  nr_elems?: number;
  encoding?: string;
  nr_bits?: number;
  members?: { name: string; type_id: number; bits_offset: number; bitfield_size?: number }[];
  values?: { name: string; val: number }[];
}

/** A resolved field type. */
type FieldType =
  | { kind: 'int'; size: number; signed: boolean }
  | { kind: 'chars'; size: number }
  | { kind: 'array'; elem: { size: number; signed: boolean }; count: number }
  | { kind: 'struct'; name: string; size: number }
  | { kind: 'flex' };

interface Field {
  name: string;
  offset: number;
  size: number;
  type: FieldType;
}

interface StructLayout {
  name: string;
  size: number;
  fields: Field[];
}

interface EnumLayout {
  name: string;
  values: { name: string; val: number }[];
}

export interface Schema {
  structs: StructLayout[];
  enums: EnumLayout[];
}

const PREFIX = 'pg_';

function findRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const up = dirname(dir);
    if (up === dir) throw new Error('gen-records: package.json not found above the script');
    dir = up;
  }
  return dir;
}

/** Reads one object's BTF as JSON through bpftool. */
export function readBtf(object: string, bpftool = process.env.BPFTOOL ?? 'bpftool'): BtfType[] {
  const out = execFileSync(bpftool, ['-j', 'btf', 'dump', 'file', object], {
    encoding: 'utf8',
    maxBuffer: 256 << 20,
  });
  return (JSON.parse(out) as { types: BtfType[] }).types;
}

/** Extracts every struct pg_* and enum pg_* of one object's BTF. */
export function extractSchema(types: BtfType[], source: string): Schema {
  const byId = new Map<number, BtfType>();
  for (const t of types) byId.set(t.id, t);
  const get = (id: number): BtfType => {
    const t = byId.get(id);
    if (!t) throw new Error(`${source}: BTF type id ${id} missing`);
    return t;
  };
  const strip = (id: number): BtfType => {
    let t = get(id);
    while (t.kind === 'TYPEDEF' || t.kind === 'CONST' || t.kind === 'VOLATILE' || t.kind === 'RESTRICT') {
      t = get(t.type_id as number);
    }
    return t;
  };
  const intOf = (t: BtfType, where: string): { size: number; signed: boolean } => {
    if (t.kind === 'ENUM') return { size: t.size as number, signed: false };
    if (t.kind !== 'INT') throw new Error(`${source}: ${where}: ${t.kind} is not allowed in a record`);
    return { size: t.size as number, signed: t.encoding === 'SIGNED' };
  };

  const structs: StructLayout[] = [];
  const enums: EnumLayout[] = [];
  for (const t of types) {
    if (!t.name?.startsWith(PREFIX)) continue;
    if (t.kind === 'ENUM' || t.kind === 'ENUM64') {
      enums.push({
        name: t.name,
        values: (t.values ?? []).map((v) => ({ name: v.name, val: Number(v.val) })),
      });
      continue;
    }
    if (t.kind !== 'STRUCT') continue;
    const members = t.members ?? [];
    const fields: Field[] = members.map((m, i) => {
      const where = `struct ${t.name}.${m.name}`;
      if (m.bitfield_size) throw new Error(`${source}: ${where}: bitfields are not allowed in a record`);
      if (m.bits_offset % 8 !== 0) throw new Error(`${source}: ${where}: not byte-aligned`);
      const offset = m.bits_offset / 8;
      const mt = strip(m.type_id);
      if (mt.kind === 'STRUCT') {
        if (!mt.name) throw new Error(`${source}: ${where}: anonymous structs are not allowed`);
        return {
          name: m.name,
          offset,
          size: mt.size as number,
          type: { kind: 'struct', name: mt.name, size: mt.size as number },
        };
      }
      if (mt.kind === 'ARRAY') {
        const elem = strip(mt.type_id as number);
        const count = mt.nr_elems as number;
        if (count === 0) {
          if (i !== members.length - 1) throw new Error(`${source}: ${where}: flexible array not last`);
          return { name: m.name, offset, size: 0, type: { kind: 'flex' } };
        }
        const e = intOf(elem, where);
        if (e.size === 1 && elem.kind === 'INT' && (elem.encoding === 'CHAR' || elem.name === 'char')) {
          return { name: m.name, offset, size: count, type: { kind: 'chars', size: count } };
        }
        return { name: m.name, offset, size: e.size * count, type: { kind: 'array', elem: e, count } };
      }
      const it = intOf(mt, where);
      return { name: m.name, offset, size: it.size, type: { kind: 'int', ...it } };
    });
    structs.push({ name: t.name, size: t.size as number, fields });
  }
  return { structs, enums };
}

/** Merges schemas by name, sorted; the same name with a different layout is an error. */
export function mergeSchemas(parts: { schema: Schema; source: string }[]): Schema {
  const structs = new Map<string, { layout: StructLayout; json: string; source: string }>();
  const enums = new Map<string, { layout: EnumLayout; json: string; source: string }>();
  for (const { schema, source } of parts) {
    for (const s of schema.structs) {
      const json = JSON.stringify(s);
      const prev = structs.get(s.name);
      if (prev && prev.json !== json)
        throw new Error(`struct ${s.name} differs between ${prev.source} and ${source}: rebuild both`);
      structs.set(s.name, { layout: s, json, source });
    }
    for (const e of schema.enums) {
      const json = JSON.stringify(e);
      const prev = enums.get(e.name);
      if (prev && prev.json !== json)
        throw new Error(`enum ${e.name} differs between ${prev.source} and ${source}: rebuild both`);
      enums.set(e.name, { layout: e, json, source });
    }
  }
  const byName = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
  return {
    structs: [...structs.keys()].sort(byName).map((k) => (structs.get(k) as { layout: StructLayout }).layout),
    enums: [...enums.keys()].sort(byName).map((k) => (enums.get(k) as { layout: EnumLayout }).layout),
  };
}

// ---- code generation ------------------------------------------------------

const pascal = (s: string): string =>
  s
    .split('_')
    .filter((p) => p.length > 0)
    .map((p) => p[0].toUpperCase() + p.slice(1))
    .join('');
const camel = (s: string): string => {
  const p = pascal(s);
  return s.startsWith('_') ? `_${p[0].toLowerCase()}${p.slice(1)}` : p[0].toLowerCase() + p.slice(1);
};
const upper = (s: string): string => s.toUpperCase();

/** The variable parts of a struct ending in a flexible array: its `<part>_len` fields, in order. */
function segmentsOf(s: StructLayout): Field[] {
  const last = s.fields[s.fields.length - 1];
  if (last?.type.kind !== 'flex') return [];
  return s.fields.filter((f) => f.name.endsWith('_len') && f.type.kind === 'int');
}

function tsType(f: Field): string {
  switch (f.type.kind) {
    case 'int':
      return 'number';
    case 'chars':
      return 'string';
    case 'array':
      return 'number[]';
    case 'struct':
      return pascal(f.type.name);
    case 'flex':
      return 'never';
  }
}

function intRead(size: number, signed: boolean, at: string): string {
  switch (size) {
    case 1:
      return signed ? `view.getInt8(${at})` : `view.getUint8(${at})`;
    case 2:
      return signed ? `view.getInt16(${at}, true)` : `view.getUint16(${at}, true)`;
    case 4:
      return signed ? `view.getInt32(${at}, true)` : `view.getUint32(${at}, true)`;
    case 8:
      return signed ? `readS64(view, ${at})` : `readU64(view, ${at})`;
    default:
      throw new Error(`integer of ${size} bytes is not supported`);
  }
}

function zeroOf(f: Field): string {
  switch (f.type.kind) {
    case 'int':
      return '0';
    case 'chars':
      return "''";
    case 'array':
      return `new Array<number>(${f.type.count}).fill(0)`;
    case 'struct':
      return `create${pascal(f.type.name)}()`;
    case 'flex':
      return '';
  }
}

function fieldDoc(s: StructLayout, f: Field): string {
  const t = f.type;
  const what =
    t.kind === 'int'
      ? `${t.signed ? 's' : 'u'}${t.size * 8}`
      : t.kind === 'chars'
        ? `char[${t.size}], NUL-terminated`
        : t.kind === 'array'
          ? `${t.elem.signed ? 's' : 'u'}${t.elem.size * 8}[${t.count}]`
          : t.kind === 'struct'
            ? `struct ${t.name}`
            : 'flexible array';
  const u64 = t.kind === 'int' && t.size === 8 ? '; exact below 2^53' : '';
  return `/** ${s.name}.${f.name} @${f.offset}: ${what}${u64} */`;
}

function emitStruct(s: StructLayout, out: string[]): void {
  const type = pascal(s.name);
  const constName = upper(s.name);
  const segments = segmentsOf(s);
  const flex = s.fields.find((f) => f.type.kind === 'flex');
  // Padding stays in RECORD_LAYOUT and the offsets, but not in the decoded object.
  const fixed = s.fields.filter((f) => f.type.kind !== 'flex' && !f.name.startsWith('_pad'));
  const propNames = new Set(fixed.map((f) => camel(f.name)));
  const segName = (f: Field) => camel(f.name.slice(0, -'_len'.length));
  for (const seg of segments) {
    if (propNames.has(segName(seg)))
      throw new Error(`struct ${s.name}: part ${segName(seg)} clashes with a field`);
  }

  out.push(`/** struct ${s.name} (${s.size} bytes${flex ? ' + variable data' : ''}). */`);
  out.push(`export interface ${type} {`);
  for (const f of fixed) {
    out.push(`  ${fieldDoc(s, f)}`);
    out.push(`  ${camel(f.name)}: ${tsType(f)};`);
  }
  for (const seg of segments) {
    out.push(`  /** ${s.name}.data: the ${seg.name} bytes of the variable part, decoded as UTF-8 */`);
    out.push(`  ${segName(seg)}: string;`);
  }
  out.push('}');
  out.push('');
  out.push(`/** sizeof(struct ${s.name}) */`);
  out.push(`export const ${constName}_SIZE = ${s.size};`);
  out.push(`/** offsetof(struct ${s.name}, field), by C field name. */`);
  out.push(`export const ${constName}_OFFSET = {`);
  for (const f of s.fields) out.push(`  ${f.name}: ${f.offset},`);
  out.push('} as const;');
  out.push('');
  out.push(`/** A zeroed ${type}, the one shape decode${type}() fills. */`);
  out.push(`export function create${type}(): ${type} {`);
  out.push('  return {');
  for (const f of fixed) out.push(`    ${camel(f.name)}: ${zeroOf(f)},`);
  for (const seg of segments) out.push(`    ${segName(seg)}: '',`);
  out.push('  };');
  out.push('}');
  out.push('');
  out.push(`/**`);
  out.push(` * Decodes struct ${s.name} at \`offset\` of \`view\` into \`out\` (allocates only strings).`);
  if (segments.length > 0) {
    out.push(
      ` * The variable part follows at ${constName}_SIZE: ${segments.map((f) => f.name.slice(0, -4)).join(', ')}, each`,
    );
    out.push(' * its `<part>_len` bytes long.');
  }
  out.push(' * Throws RangeError when the record does not fit in the view.');
  out.push(' */');
  out.push(`export function decode${type}(view: DataView, offset: number, out: ${type}): ${type} {`);
  out.push(`  if (offset < 0 || offset + ${s.size} > view.byteLength) {`);
  out.push(
    `    throw new RangeError(\`${s.name}: ${s.size} bytes at \${offset} exceed \${view.byteLength}\`);`,
  );
  out.push('  }');
  for (const f of fixed) {
    const at = f.offset === 0 ? 'offset' : `offset + ${f.offset}`;
    const prop = `out.${camel(f.name)}`;
    const t = f.type;
    switch (t.kind) {
      case 'int':
        out.push(`  ${prop} = ${intRead(t.size, t.signed, at)};`);
        break;
      case 'chars':
        out.push(`  ${prop} = readCString(view, ${at}, ${t.size});`);
        break;
      case 'array':
        out.push(`  for (let i = 0; i < ${t.count}; i++) {`);
        out.push(`    ${prop}[i] = ${intRead(t.elem.size, t.elem.signed, `${at} + i * ${t.elem.size}`)};`);
        out.push('  }');
        break;
      case 'struct':
        out.push(`  decode${pascal(t.name)}(view, ${at}, ${prop});`);
        break;
      case 'flex':
        break;
    }
  }
  if (segments.length > 0) {
    out.push(`  let at = offset + ${s.size};`);
    const total = segments.map((f) => `out.${camel(f.name)}`).join(' + ');
    out.push(`  if (at + ${total} > view.byteLength) {`);
    out.push(`    throw new RangeError(\`${s.name}: variable data at \${at} exceeds \${view.byteLength}\`);`);
    out.push('  }');
    segments.forEach((seg, i) => {
      out.push(`  out.${segName(seg)} = readString(view, at, out.${camel(seg.name)});`);
      if (i < segments.length - 1) out.push(`  at += out.${camel(seg.name)};`);
    });
  }
  out.push('  return out;');
  out.push('}');
  out.push('');
}

function emitEnum(e: EnumLayout, out: string[]): void {
  const type = pascal(e.name);
  out.push(`/** enum ${e.name} */`);
  out.push(`export const ${type} = {`);
  for (const v of e.values) out.push(`  ${v.name}: ${v.val},`);
  out.push('} as const;');
  out.push(`export type ${type} = (typeof ${type})[keyof typeof ${type}];`);
  out.push('');
}

const PRELUDE = `import { Buffer } from 'node:buffer';

/**
 * u64 fields are numbers computed as hi * 2^32 + lo: exact below 2^53 (2^53 ns
 * of CLOCK_MONOTONIC is about 104 days of uptime; pids, ids and namespace
 * numbers are far below), and above it the nearest double — deterministic, so
 * the same input always gives the same number, but neighbours may collide.
 * Decode the two u32 halves yourself where every bit matters (e.g. cap masks
 * are < 2^41 today, so exact).
 */
function readU64(view: DataView, at: number): number {
  return view.getUint32(at + 4, true) * 4294967296 + view.getUint32(at, true);
}

/** s64 as a number: exact within ±2^53. */
function readS64(view: DataView, at: number): number {
  return view.getInt32(at + 4, true) * 4294967296 + view.getUint32(at, true);
}

/*
 * Strings are decoded by Buffer#toString over the view's whole ArrayBuffer,
 * which needs no per-string view object; the wrapping Buffer is cached per
 * ArrayBuffer (one per ring-buffer batch).
 */
let lastArrayBuffer: ArrayBufferLike | undefined;
let lastBytes: Buffer = Buffer.alloc(0);

function bytesOf(view: DataView): Buffer {
  if (view.buffer !== lastArrayBuffer) {
    lastArrayBuffer = view.buffer;
    lastBytes = Buffer.from(view.buffer as ArrayBuffer);
  }
  return lastBytes;
}

/** \`length\` bytes at \`at\` as UTF-8 (invalid sequences become U+FFFD; NULs are kept). */
function readString(view: DataView, at: number, length: number): string {
  if (length === 0) return '';
  const start = view.byteOffset + at;
  return bytesOf(view).toString('utf8', start, start + length);
}

/** A char[max] field: up to the first NUL, or all max bytes when there is none. */
function readCString(view: DataView, at: number, max: number): string {
  let n = 0;
  while (n < max && view.getUint8(at + n) !== 0) n++;
  return readString(view, at, n);
}
`;

/** Renders the whole generated module; deterministic for a given schema. */
export function render(schema: Schema): string {
  const out: string[] = [];
  out.push('// Code generated by scripts/gen-records.ts from bpf/include/events.h via BTF. DO NOT EDIT.');
  out.push('// SPDX-License-Identifier: Apache-2.0');
  out.push(
    '// Regenerate: npm run build:bpf && npx tsc -p tsconfig.json && node dist/scripts/gen-records.js',
  );
  out.push('');
  out.push(PRELUDE);
  for (const e of schema.enums) emitEnum(e, out);
  for (const s of schema.structs) emitStruct(s, out);

  out.push('/** One field of RECORD_LAYOUT: C name, byte offset, byte size (0 for a flexible array). */');
  out.push('export interface RecordField {');
  out.push('  readonly name: string;');
  out.push('  readonly offset: number;');
  out.push('  readonly size: number;');
  out.push('}');
  out.push('');
  out.push('/** Every pg_* struct as BTF lays it out: the machine-readable twin of the constants above. */');
  out.push(
    'export const RECORD_LAYOUT: Readonly<Record<string, { readonly size: number; readonly fields: readonly RecordField[] }>> = {',
  );
  for (const s of schema.structs) {
    out.push(`  ${s.name}: {`);
    out.push(`    size: ${s.size},`);
    out.push('    fields: [');
    for (const f of s.fields) out.push(`      { name: '${f.name}', offset: ${f.offset}, size: ${f.size} },`);
    out.push('    ],');
    out.push('  },');
  }
  out.push('};');
  out.push('');
  return out.join('\n');
}

function lineDiff(want: string, have: string): string {
  const a = want.split('\n');
  const b = have.split('\n');
  const lines: string[] = [];
  const n = Math.max(a.length, b.length);
  for (let i = 0; i < n && lines.length < 40; i++) {
    if (a[i] === b[i]) continue;
    if (b[i] !== undefined) lines.push(`${i + 1}: - ${b[i]}`);
    if (a[i] !== undefined) lines.push(`${i + 1}: + ${a[i]}`);
  }
  return lines.join('\n');
}

function main(argv: string[]): number {
  const root = findRoot();
  let check = false;
  let outFile = join(root, 'src', 'generated', 'records.ts');
  const objects: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--check') check = true;
    else if (a === '--out') outFile = argv[++i];
    else if (a === '-h' || a === '--help') {
      process.stdout.write('usage: gen-records [--check] [--out FILE] [OBJ.bpf.o ...]\n');
      return 0;
    } else objects.push(a);
  }
  if (objects.length === 0) {
    const dir = join(root, 'build', 'bpf');
    if (existsSync(dir)) {
      for (const f of readdirSync(dir).sort()) if (f.endsWith('.bpf.o')) objects.push(join(dir, f));
    }
  }
  if (objects.length === 0) {
    process.stderr.write('gen-records: no build/bpf/*.bpf.o: run `npm run build:bpf` first\n');
    return 2;
  }
  const parts = objects.map((o) => ({
    schema: extractSchema(readBtf(o), relative(root, o)),
    source: relative(root, o),
  }));
  const schema = mergeSchemas(parts);
  if (schema.structs.length === 0) {
    process.stderr.write("gen-records: no struct pg_* in the objects' BTF\n");
    return 2;
  }
  const text = render(schema);
  const rel = relative(root, outFile);
  if (check) {
    const have = existsSync(outFile) ? readFileSync(outFile, 'utf8') : '';
    if (have === text) {
      process.stdout.write(`gen-records: ${rel} is up to date\n`);
      return 0;
    }
    process.stderr.write(
      `gen-records: ${rel} differs from what the BTF of ${objects.map((o) => relative(root, o)).join(', ')} gives; ` +
        'rerun `node dist/scripts/gen-records.js` and commit:\n' +
        `${lineDiff(text, have)}\n`,
    );
    return 1;
  }
  writeFileSync(outFile, text);
  process.stdout.write(
    `gen-records: wrote ${rel} (${schema.structs.length} structs, ${schema.enums.length} enums)\n`,
  );
  return 0;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  try {
    process.exitCode = main(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`gen-records: ${(err as Error).message}\n`);
    process.exitCode = 2;
  }
}
