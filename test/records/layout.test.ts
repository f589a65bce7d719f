// SPDX-License-Identifier: Apache-2.0
// Proves src/generated/records.ts matches the compiled objects' BTF (sizes,
// field offsets and sizes, enum values) and that its decoders read what the
// kernel writes at those offsets. Reads BTF on its own (not through the
// generator) so a generator bug can't hide behind itself.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import * as records from '../../src/generated/records.js';

interface BtfType {
  id: number;
  kind: string;
  name?: string;
  size?: number;
  type_id?: number;
  nr_elems?: number;
  members?: { name: string; type_id: number; bits_offset: number }[];
  values?: { name: string; val: number }[];
}

interface Layout {
  size: number;
  fields: { name: string; offset: number; size: number }[];
}

function findRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) dir = dirname(dir);
  return dir;
}

const root = findRoot();
const bpftool = process.env.BPFTOOL ?? 'bpftool';
const objDir = join(root, 'build', 'bpf');
const processObj = join(objDir, 'process.bpf.o');

function skipReason(): string | undefined {
  try {
    execFileSync(bpftool, ['version'], { stdio: 'ignore' });
  } catch {
    return `${bpftool} not runnable (install bpftool or set BPFTOOL)`;
  }
  if (!existsSync(processObj)) return 'build/bpf/process.bpf.o missing: run `npm run build:bpf` first';
  return undefined;
}

const skip = skipReason();

/** struct pg_* layouts and enum pg_* values of every built object, read straight from BTF. */
function readBtfSchema(): { structs: Map<string, Layout>; enums: Map<string, Map<string, number>> } {
  const structs = new Map<string, Layout>();
  const enums = new Map<string, Map<string, number>>();
  const objects = readdirSync(objDir)
    .filter((f) => f.endsWith('.bpf.o'))
    .map((f) => join(objDir, f));
  for (const obj of objects) {
    const json = execFileSync(bpftool, ['-j', 'btf', 'dump', 'file', obj], {
      encoding: 'utf8',
      maxBuffer: 256 << 20,
    });
    const types = (JSON.parse(json) as { types: BtfType[] }).types;
    const byId = new Map(types.map((t) => [t.id, t]));
    const sizeOf = (id: number): number => {
      const t = byId.get(id) as BtfType;
      switch (t.kind) {
        case 'TYPEDEF':
        case 'CONST':
        case 'VOLATILE':
          return sizeOf(t.type_id as number);
        case 'ARRAY':
          return sizeOf(t.type_id as number) * (t.nr_elems as number);
        default:
          return t.size as number;
      }
    };
    for (const t of types) {
      if (!t.name?.startsWith('pg_')) continue;
      if (t.kind === 'STRUCT') {
        structs.set(t.name, {
          size: t.size as number,
          fields: (t.members ?? []).map((m) => ({
            name: m.name,
            offset: m.bits_offset / 8,
            size: sizeOf(m.type_id),
          })),
        });
      } else if (t.kind === 'ENUM') {
        enums.set(t.name, new Map((t.values ?? []).map((v) => [v.name, v.val])));
      }
    }
  }
  return { structs, enums };
}

const pascal = (s: string) =>
  s
    .split('_')
    .map((p) => (p ? p[0].toUpperCase() + p.slice(1) : p))
    .join('');

describe('generated records match BTF', { skip }, () => {
  const btf = skip ? { structs: new Map<string, Layout>(), enums: new Map() } : readBtfSchema();
  const mod = records as unknown as Record<string, unknown>;

  it('has one RECORD_LAYOUT entry per struct pg_* in BTF, and no other', () => {
    assert.ok(btf.structs.has('pg_exec_event'), 'process.bpf.o BTF lacks struct pg_exec_event');
    assert.deepEqual(Object.keys(records.RECORD_LAYOUT).sort(), [...btf.structs.keys()].sort());
  });

  it('gives every struct the BTF size and every field the BTF offset and size', () => {
    for (const [name, layout] of btf.structs) {
      assert.deepEqual(records.RECORD_LAYOUT[name], layout, `RECORD_LAYOUT.${name}`);
      const upper = name.toUpperCase();
      assert.equal(mod[`${upper}_SIZE`], layout.size, `${upper}_SIZE`);
      const offsets = mod[`${upper}_OFFSET`] as Record<string, number>;
      assert.deepEqual(
        offsets,
        Object.fromEntries(layout.fields.map((f) => [f.name, f.offset])),
        `${upper}_OFFSET`,
      );
    }
  });

  it('gives every enum pg_* its BTF values', () => {
    assert.ok(btf.enums.size > 0);
    for (const [name, values] of btf.enums) {
      const generated = mod[pascal(name)] as Record<string, number>;
      assert.deepEqual(new Map(Object.entries(generated)), values, `enum ${name}`);
    }
  });
});

describe('decoders read what the kernel writes at BTF offsets', { skip }, () => {
  const btf = skip ? { structs: new Map<string, Layout>(), enums: new Map() } : readBtfSchema();
  const off = (struct: string, field: string): number => {
    const f = btf.structs.get(struct)?.fields.find((x) => x.name === field);
    assert.ok(f, `${struct}.${field} not in BTF`);
    return f.offset;
  };
  const putU64 = (b: Buffer, at: number, v: bigint) => b.writeBigUInt64LE(v, at);
  const putKey = (b: Buffer, at: number, pid: number, ktime: bigint) => {
    b.writeUInt32LE(pid, at + off('pg_exec_key', 'pid'));
    putU64(b, at + off('pg_exec_key', 'ktime'), ktime);
  };
  const putHeader = (b: Buffer, at: number, type: number, size: number, ktime: bigint) => {
    b.writeUInt16LE(type, at + off('pg_header', 'type'));
    b.writeUInt16LE(records.PgSchema.PG_SCHEMA_VERSION, at + off('pg_header', 'version'));
    b.writeUInt32LE(size, at + off('pg_header', 'size'));
    putU64(b, at + off('pg_header', 'ktime'), ktime);
  };

  it('decodes an exec record with u64s above 2^32, char arrays with and without NUL, and variable parts', () => {
    const E = 'pg_exec_event';
    const fixed = btf.structs.get(E)?.size as number;
    const path = '/usr/bin/ünïcode';
    const args = 'ls\0-la\0/tmp\0';
    const cwd = '/home/user';
    const cgroup = '';
    const parts = [path, args, cwd, cgroup].map((s) => Buffer.from(s, 'utf8'));
    const size = fixed + parts.reduce((n, p) => n + p.length, 0);
    // Put the record at an odd offset of a larger pooled buffer, behind a view with its own byteOffset.
    const backing = Buffer.alloc(size + 64, 0xee);
    const base = 13;
    const rec = backing.subarray(base, base + size);
    rec.fill(0, 0, fixed);
    const ktime = 2n ** 40n + 5n;
    putHeader(rec, off(E, 'hdr'), records.PgRecordType.PG_REC_EXEC, size, ktime);
    putKey(rec, off(E, 'key'), 4242, ktime);
    putKey(rec, off(E, 'parent'), 1, 123456789n);
    putKey(rec, off(E, 'prev'), 4242, 2n ** 32n + 1n);
    rec.writeUInt32LE(4242, off(E, 'pid'));
    rec.writeUInt32LE(4243, off(E, 'tid'));
    rec.writeUInt32LE(4294967295, off(E, 'loginuid'));
    rec.writeUInt32LE(records.PgExecFlag.PG_EXEC_SETUID | records.PgExecFlag.PG_EXEC_SELF, off(E, 'flags'));
    putU64(rec, off(E, 'cap_effective'), 0x1ffffffffffn);
    putU64(rec, off(E, 'cgroup_id'), 2n ** 53n - 1n);
    putU64(rec, off(E, 'exe_ino'), 2n ** 53n + 2n); // above 2^53: nearest double
    rec.write('pts/3\0garbage', off(E, 'tty'), 'latin1');
    rec.write('sixteen-chars-xx', off(E, 'comm'), 'latin1'); // exactly 16: no NUL
    rec.writeUInt16LE(parts[0].length, off(E, 'path_len'));
    rec.writeUInt16LE(parts[1].length, off(E, 'args_len'));
    rec.writeUInt16LE(parts[2].length, off(E, 'cwd_len'));
    rec.writeUInt16LE(parts[3].length, off(E, 'cgroup_len'));
    Buffer.concat(parts).copy(rec, off(E, 'data'));

    const view = new DataView(backing.buffer, backing.byteOffset + 5, backing.length - 5);
    const out = records.createPgExecEvent();
    const got = records.decodePgExecEvent(view, base - 5, out);

    assert.equal(got, out, 'fills the caller-provided object');
    assert.deepEqual(
      { ...got.hdr },
      { type: records.PgRecordType.PG_REC_EXEC, version: 1, size, ktime: 2 ** 40 + 5 },
    );
    assert.deepEqual({ ...got.key }, { pid: 4242, ktime: 2 ** 40 + 5 });
    assert.deepEqual({ ...got.parent }, { pid: 1, ktime: 123456789 });
    assert.deepEqual({ ...got.prev }, { pid: 4242, ktime: 2 ** 32 + 1 });
    assert.equal(got.pid, 4242);
    assert.equal(got.tid, 4243);
    assert.equal(got.loginuid, 4294967295);
    assert.equal(got.flags, records.PgExecFlag.PG_EXEC_SETUID | records.PgExecFlag.PG_EXEC_SELF);
    assert.equal(got.capEffective, 0x1ffffffffff);
    assert.equal(got.cgroupId, 2 ** 53 - 1);
    assert.equal(got.exeIno, 2 ** 53 + 2);
    assert.equal(got.tty, 'pts/3');
    assert.equal(got.comm, 'sixteen-chars-xx');
    assert.deepEqual(
      [got.pathLen, got.argsLen, got.cwdLen, got.cgroupLen],
      parts.map((p) => p.length),
    );
    assert.equal(got.path, path);
    assert.equal(got.args, args);
    assert.equal(got.cwd, cwd);
    assert.equal(got.cgroup, cgroup);

    // The same object is reused: a second record leaves no trace of the first.
    rec.fill(0, off(E, 'tty'), off(E, 'tty') + 64);
    rec.writeUInt16LE(0, off(E, 'args_len'));
    rec.writeUInt16LE(0, off(E, 'cwd_len'));
    records.decodePgExecEvent(view, base - 5, out);
    assert.equal(out.tty, '');
    assert.equal(out.args, '');
    assert.equal(out.cwd, '');
    assert.equal(out.path, path);
  });

  it('rejects a record whose variable parts run past the view', () => {
    const E = 'pg_exec_event';
    const fixed = btf.structs.get(E)?.size as number;
    const rec = Buffer.alloc(fixed + 4);
    rec.writeUInt16LE(100, off(E, 'path_len'));
    const view = new DataView(rec.buffer, rec.byteOffset, rec.length);
    assert.throws(() => records.decodePgExecEvent(view, 0, records.createPgExecEvent()), RangeError);
    assert.throws(() => records.decodePgExecEvent(view, 8, records.createPgExecEvent()), RangeError);
  });

  it('decodes fork and exit records', () => {
    const F = 'pg_fork_event';
    const fork = Buffer.alloc(btf.structs.get(F)?.size as number);
    putHeader(fork, off(F, 'hdr'), records.PgRecordType.PG_REC_FORK, fork.length, 7n);
    putKey(fork, off(F, 'key'), 10, 2n ** 33n);
    putKey(fork, off(F, 'parent'), 9, 2n ** 34n);
    fork.writeUInt32LE(10, off(F, 'pid'));
    fork.writeUInt32LE(10, off(F, 'tid'));
    fork.writeUInt32LE(9, off(F, 'ppid'));
    fork.writeUInt32LE(records.PgForkFlag.PG_FORK_SELF, off(F, 'flags'));
    putU64(fork, off(F, 'start_time'), 2n ** 33n);
    const f = records.decodePgForkEvent(
      new DataView(fork.buffer, fork.byteOffset, fork.length),
      0,
      records.createPgForkEvent(),
    );
    assert.deepEqual(
      { ...f, hdr: { ...f.hdr }, key: { ...f.key }, parent: { ...f.parent } },
      {
        hdr: { type: records.PgRecordType.PG_REC_FORK, version: 1, size: fork.length, ktime: 7 },
        key: { pid: 10, ktime: 2 ** 33 },
        parent: { pid: 9, ktime: 2 ** 34 },
        pid: 10,
        tid: 10,
        ppid: 9,
        flags: records.PgForkFlag.PG_FORK_SELF,
        startTime: 2 ** 33,
      },
    );

    const X = 'pg_exit_event';
    const exit = Buffer.alloc(btf.structs.get(X)?.size as number);
    putHeader(exit, off(X, 'hdr'), records.PgRecordType.PG_REC_EXIT, exit.length, 8n);
    putKey(exit, off(X, 'key'), 10, 2n ** 35n + 3n);
    exit.writeUInt32LE(10, off(X, 'pid'));
    exit.writeUInt32LE(11, off(X, 'tid'));
    exit.writeUInt32LE(0x0300, off(X, 'exit_code'));
    exit.writeUInt32LE(records.PgExitFlag.PG_EXIT_GROUP, off(X, 'flags'));
    const x = records.decodePgExitEvent(
      new DataView(exit.buffer, exit.byteOffset, exit.length),
      0,
      records.createPgExitEvent(),
    );
    assert.deepEqual(
      { ...x, hdr: { ...x.hdr }, key: { ...x.key } },
      {
        hdr: { type: records.PgRecordType.PG_REC_EXIT, version: 1, size: exit.length, ktime: 8 },
        key: { pid: 10, ktime: 2 ** 35 + 3 },
        pid: 10,
        tid: 11,
        exitCode: 0x0300,
        flags: records.PgExitFlag.PG_EXIT_GROUP,
      },
    );
  });
});
