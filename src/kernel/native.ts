// SPDX-License-Identifier: Apache-2.0
// The one place that loads the Node-API addon (build/Release/peregrine_native.node)
// and describes its raw, untyped-handle surface. Everything else uses the classes.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Opaque native handles; only the addon can make or read them. */
declare const handleBrand: unique symbol;
export type NativeHandle<K extends string> = { readonly [handleBrand]: K };
export type ObjectHandle = NativeHandle<'object'>;
export type LinkHandle = NativeHandle<'link'>;
export type RingBufferHandle = NativeHandle<'ringBuffer'>;
export type MapFdHandle = NativeHandle<'map'>;
export type IteratorHandle = NativeHandle<'iterator'>;

export interface NativeProgramInfo {
  name: string;
  section: string;
  type: string;
  autoload: boolean;
  fd: number;
}

export interface NativeMapInfo {
  name: string;
  type: string;
  keySize: number;
  valueSize: number;
  maxEntries: number;
  fd: number;
}

/** One program's verifier numbers as the addon gives them (parsed in verifier-stats.ts). */
export interface NativeProgramStats {
  name: string;
  /** The stats-level (BPF_LOG_STATS) verifier log; "" when stats were off or the program never reached the verifier. */
  log: string;
  /** bpf_prog_info.verified_insns (5.16+); null when not loaded or the kernel lacks the field. */
  verifiedInsns: number | null;
  /** The program's instructions as loaded (8 bytes each, subprograms appended); null when not loaded. */
  insns: Buffer | null;
}

/** A loaded program's run counters from bpf_prog_info (they grow only while kernel.bpf_stats_enabled is 1). */
export interface NativeProgramRunStats {
  id: number;
  /** The kernel's copy of the name: the first 15 characters. */
  name: string;
  runTimeNs: number;
  runCnt: number;
}

export interface NativeObjectStats {
  /** Wall time of the load (bpf_object__load), in microseconds; 0 before load. */
  loadUs: number;
  programs: NativeProgramStats[];
}

export interface NativeVarInfo {
  section: string;
  map: string;
  offset: number;
  size: number;
}

export interface OpenHandleCounts {
  total: number;
  object: number;
  link: number;
  ringBuffer: number;
  map: number;
  iterator: number;
}

export interface NativeRingBufferStats {
  wakeups: number;
  timerRuns: number;
  records: number;
  timerRecords: number;
  bytes: number;
  batches: number;
  callbacks: number;
  oversize: number;
  pollErrors: number;
}

/** BPF_PROG_TEST_RUN result: the program's return value and the kernel's mean ns per run. */
export interface NativeTestRun {
  retval: number;
  durationNs: number;
}

/** Attach kinds understood by linkAttach. */
export enum AttachKind {
  Auto = 0,
  Cgroup = 1,
  Xdp = 2,
  Iter = 3,
}

export interface NativeAddon {
  openHandles(): OpenHandleCounts;
  numPossibleCpus(): number;
  mountTracefs(path: string): void;

  objectOpen(path: string): ObjectHandle;
  objectName(obj: ObjectHandle): string;
  objectFindVar(obj: ObjectHandle, name: string): NativeVarInfo | null;
  objectSetConst(obj: ObjectHandle, name: string, value: Buffer): void;
  objectSetMaxEntries(obj: ObjectHandle, map: string, n: number): void;
  objectSetAutoload(obj: ObjectHandle, program: string, on: boolean): void;
  objectReuseMap(obj: ObjectHandle, map: string, fd: number): void;
  objectSetStats(obj: ObjectHandle, on: boolean): void;
  objectLoad(obj: ObjectHandle): void;
  objectStats(obj: ObjectHandle): NativeObjectStats;
  objectPrograms(obj: ObjectHandle): NativeProgramInfo[];
  objectMaps(obj: ObjectHandle): NativeMapInfo[];
  objectTestRun(obj: ObjectHandle, program: string, data: Buffer, repeat: number): NativeTestRun;
  objectClose(obj: ObjectHandle): void;
  programRunStats(fd: number): NativeProgramRunStats | null;
  /** BPF_ENABLE_STATS(BPF_STATS_RUN_TIME): an fd that keeps run-time counting on while open. */
  enableRunStats(): number;

  linkAttach(obj: ObjectHandle, program: string, kind: AttachKind, target?: string | number): LinkHandle;
  linkFd(link: LinkHandle): number;
  linkPin(link: LinkHandle, path: string): void;
  linkUnpin(link: LinkHandle): void;
  linkClose(link: LinkHandle): void;

  mapLookup(fd: number, key: Buffer, keySize: number, valueSize: number): Buffer | null;
  mapLookupPerCpu(fd: number, key: Buffer, keySize: number, valueSize: number): Buffer | null;
  mapUpdate(fd: number, key: Buffer, keySize: number, value: Buffer, valueBytes: number, flags: number): void;
  mapDelete(fd: number, key: Buffer, keySize: number): boolean;
  mapNextKey(fd: number, key: Buffer | null, keySize: number): Buffer | null;
  mapPin(fd: number, path: string): void;
  mapUnpin(path: string): void;
  mapInfo(fd: number): Omit<NativeMapInfo, 'fd'> & { id: number };
  mapOpenPinned(path: string): MapFdHandle;
  mapHandleFd(map: MapFdHandle): number;
  mapClose(map: MapFdHandle): void;

  ringbufOpen(
    mapFd: number,
    onBatch: (batch: Buffer, used: number) => void,
    options: { batchBytes?: number; pollIntervalMs?: number },
  ): RingBufferHandle;
  ringbufDrain(rb: RingBufferHandle): void;
  ringbufStats(rb: RingBufferHandle): NativeRingBufferStats;
  /** Bytes produced and not yet consumed, and the ring's size; null when fd is not a ring buffer map. */
  ringbufFill(mapFd: number): { size: number; used: number } | null;
  ringbufClose(rb: RingBufferHandle): void;

  iterOpen(link: LinkHandle): IteratorHandle;
  iterRead(it: IteratorHandle): Buffer;
  iterClose(it: IteratorHandle): void;
}

/**
 * Package root: the nearest ancestor holding package.json (works from src/, dist/src/ and an
 * installed release). Not binding.gyp: a release ships no build files, and a binding.gyp in a
 * package root makes `npm install` there run node-gyp, which a node without a compiler lacks.
 */
export function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    const parent = dirname(dir);
    if (parent === dir)
      throw new Error('locate package root: package.json not found above ' + import.meta.url);
    dir = parent;
  }
}

let addon: NativeAddon | undefined;

/** The addon, loaded on first use; PEREGRINE_NATIVE overrides its path. */
export function native(): NativeAddon {
  if (addon === undefined) {
    const path =
      process.env.PEREGRINE_NATIVE ?? join(packageRoot(), 'build', 'Release', 'peregrine_native.node');
    addon = createRequire(import.meta.url)(path) as NativeAddon;
  }
  return addon;
}

/** Counts of native handles not yet closed, for leak checks. */
export function openHandles(): OpenHandleCounts {
  return native().openHandles();
}
