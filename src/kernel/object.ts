// SPDX-License-Identifier: Apache-2.0
// BpfObject: one compiled .bpf.o — configure before load (consts, map sizes,
// autoload), load, then attach programs and reach maps by name.
import { KernelError, NotSupportedError, VerifierError, wrapNativeError } from './errors.js';
import { Link } from './link.js';
import { BpfMap } from './map.js';
import {
  AttachKind,
  type NativeMapInfo,
  type NativeProgramInfo,
  native,
  type ObjectHandle,
} from './native.js';
import { readLsmList } from './sysfs.js';
import { ensureTracefs } from './tracefs.js';
import { type ObjectStats, type ProgramStats, programStats } from './verifier-stats.js';

export type ProgramInfo = NativeProgramInfo;
export type MapInfo = NativeMapInfo;

/** What a load observer hears after every load() in this process. */
export interface LoadReport {
  /** The object's name (its file name without .bpf.o). */
  object: string;
  path: string;
  /** Every program of the object, with the autoload flag it was loaded with. */
  programs: ProgramInfo[];
  stats: ObjectStats;
  /** What load() threw (VerifierError, NotSupportedError, KernelError), undefined when it loaded. */
  error: unknown;
}

export type LoadObserver = (report: LoadReport) => void;

const loadObservers = new Set<LoadObserver>();

/** Value accepted by setConst; numbers and bigints are written little-endian at the BTF width. */
export type ConstValue = Buffer | number | bigint | boolean;

/** Where to attach a program; which field applies follows from the program's type. */
export interface AttachOptions {
  /** cgroup programs (cgroup/connect4, cgroup/sock_create, cgroup_skb...): cgroup v2 directory (4.10+). */
  cgroupPath?: string;
  /** XDP programs: interface index (1 = loopback); uses a bpf_link, 5.9+. */
  ifindex?: number;
}

/** Program types whose absence is a kernel configuration matter, not a bug. */
const OPTIONAL_TYPES = new Set(['lsm', 'tracing', 'kprobe', 'ext']);
/** errnos the kernel returns for a hook it lacks or forbids. */
const NOT_SUPPORTED_ERRNOS = new Set([1, 2, 3, 22, 95, 524]);
/** Verifier lines that mean "this kernel lacks the helper / attach point", not "the program is wrong". */
const MISSING_IN_KERNEL =
  /unknown func|cannot use helper|not supported|attach to unsupported|unknown attach/i;

function lsmReason(): string {
  const list = readLsmList();
  if (list === undefined)
    return 'BPF LSM status unknown (/sys/kernel/security/lsm absent: securityfs not mounted)';
  return list.split(',').includes('bpf')
    ? `BPF LSM listed (lsm list: ${list})`
    : `BPF LSM not active (lsm list: ${list}); boot with lsm=...,bpf`;
}

/** Turns a load/attach failure of an optional hook kind into NotSupportedError. */
function classify(err: unknown, prog: ProgramInfo | undefined, stage: 'load' | 'attach'): unknown {
  if (!(err instanceof KernelError) || !prog) return err;
  const missing =
    err instanceof VerifierError
      ? MISSING_IN_KERNEL.test(err.summary)
      : OPTIONAL_TYPES.has(prog.type) && NOT_SUPPORTED_ERRNOS.has(err.errno);
  if (!missing) return err;
  let reason = `${prog.type} program ${stage} failed: ${err.code}`;
  if (err instanceof VerifierError) reason += ` (${err.summary}); missing from this kernel build`;
  else if (prog.type === 'lsm') reason += `; ${lsmReason()}`;
  else if (prog.type === 'tracing') reason += '; BPF trampolines (fentry/fexit) unavailable on this kernel';
  else if (prog.type === 'kprobe')
    reason += '; kprobes unavailable (CONFIG_KPROBES/KPROBE_EVENTS) or target not probeable';
  return new NotSupportedError(
    {
      op: stage === 'load' ? 'load program' : 'attach program',
      object: err.object,
      program: prog.name,
      errno: err.errno,
      code: err.code,
      cause: err.message.replace(/^[^:]*: /, '').replace(/ \([A-Z0-9_]+\).*$/, ''),
      hint: err.hint,
      reason,
    },
    { cause: err },
  );
}

export class BpfObject {
  readonly path: string;
  readonly name: string;
  #handle: ObjectHandle | undefined;
  #loaded = false;
  #stats = false;
  #maps = new Map<string, BpfMap>();

  private constructor(path: string, handle: ObjectHandle) {
    this.path = path;
    this.#handle = handle;
    this.name = native().objectName(handle);
  }

  /** Opens (parses, does not load) a BPF ELF object. Close it when done. */
  static open(path: string): BpfObject {
    let handle: ObjectHandle;
    try {
      handle = native().objectOpen(path);
    } catch (e) {
      throw wrapNativeError(e, { op: 'open object', object: path });
    }
    return new BpfObject(path, handle);
  }

  get #h(): ObjectHandle {
    if (!this.#handle) throw new Error(`use object ${this.name}: object is closed`);
    return this.#handle;
  }

  get closed(): boolean {
    return this.#handle === undefined;
  }

  get loaded(): boolean {
    return this.#loaded;
  }

  /** Offset and size of a global (.rodata/.data/.bss) from the object's BTF, or null. */
  variable(name: string): { section: string; map: string; offset: number; size: number } | null {
    return native().objectFindVar(this.#h, name);
  }

  /**
   * Sets a `const volatile` global before load. Numbers, bigints and booleans
   * are encoded little-endian at the variable's BTF size (1, 2, 4 or 8 bytes);
   * a Buffer must have exactly that size.
   */
  setConst(name: string, value: ConstValue): void {
    const v = this.variable(name);
    if (v?.section !== '.rodata') {
      throw new KernelError({
        op: 'set const',
        object: this.name,
        errno: 2,
        code: 'ENOENT',
        cause: 'no such const volatile',
        detail: name,
      });
    }
    let buf: Buffer;
    if (Buffer.isBuffer(value)) buf = value;
    else {
      buf = Buffer.alloc(v.size);
      const n = typeof value === 'boolean' ? (value ? 1 : 0) : value;
      if (![1, 2, 4, 8].includes(v.size)) {
        throw new TypeError(`set const ${name}: a ${v.size}-byte variable needs a Buffer value`);
      }
      if (v.size === 8) {
        const big = BigInt(n);
        if (big < 0n) buf.writeBigInt64LE(big);
        else buf.writeBigUInt64LE(big);
      } else {
        const num = Number(n);
        if (num < 0) buf.writeIntLE(num, 0, v.size);
        else buf.writeUIntLE(num, 0, v.size);
      }
    }
    try {
      native().objectSetConst(this.#h, name, buf);
    } catch (e) {
      throw wrapNativeError(e, { op: 'set const', object: this.name, detail: name });
    }
  }

  /** Resizes a map before load (e.g. a ring buffer: a power of 2 multiple of the page size). */
  setMaxEntries(map: string, maxEntries: number): void {
    try {
      native().objectSetMaxEntries(this.#h, map, maxEntries);
    } catch (e) {
      throw wrapNativeError(e, { op: 'set max entries', object: this.name, detail: map });
    }
  }

  /**
   * Before load: use `from` (another object's loaded map, or a pinned one) for
   * this object's map `map`, so several objects share one map. Definitions
   * must match (type, key/value size, max entries, flags).
   */
  reuseMap(map: string, from: BpfMap): void {
    try {
      native().objectReuseMap(this.#h, map, from.fd);
    } catch (e) {
      throw wrapNativeError(e, { op: 'reuse map', object: this.name, detail: map });
    }
  }

  /** Includes or excludes one program from load(). */
  setAutoload(program: string, autoload: boolean): void {
    try {
      native().objectSetAutoload(this.#h, program, autoload);
    } catch (e) {
      throw wrapNativeError(e, { op: 'set autoload', object: this.name, program });
    }
  }

  programs(): ProgramInfo[] {
    return native().objectPrograms(this.#h);
  }

  maps(): MapInfo[] {
    return native().objectMaps(this.#h);
  }

  /**
   * Before load: keep the verifier's statistics of each program for
   * verifierStats() (kernel log level BPF_LOG_STATS, 4.15+). Costs nothing
   * measurable on a load that verifies; a rejected program is verified a
   * second time so that its VerifierError still carries the full log.
   */
  setStats(on: boolean): void {
    try {
      native().objectSetStats(this.#h, on);
      this.#stats = on;
    } catch (e) {
      throw wrapNativeError(e, { op: 'set stats', object: this.name });
    }
  }

  /**
   * Creates the maps and loads every autoload program. Throws VerifierError
   * (with summary and full log) when the verifier rejects a program,
   * NotSupportedError when the kernel lacks the program's hook kind, and
   * KernelError otherwise. An object can be loaded once, even after a failure.
   */
  load(): void {
    if (loadObservers.size > 0 && !this.#stats) this.setStats(true);
    let error: unknown;
    try {
      native().objectLoad(this.#h);
      this.#loaded = true;
    } catch (e) {
      const nativeProg = (e as { program?: string }).program;
      const wrapped = wrapNativeError(e, {
        op: nativeProg ? 'load program' : 'load object',
        object: this.name,
      });
      error = classify(
        wrapped,
        this.programs().find((p) => p.name === nativeProg),
        'load',
      );
      throw error;
    } finally {
      if (loadObservers.size > 0) {
        const report = {
          object: this.name,
          path: this.path,
          programs: this.programs(),
          stats: this.verifierStats(),
          error,
        };
        for (const observe of loadObservers) observe(report);
      }
    }
  }

  /**
   * The verifier's numbers per program (with setStats(true) before load; else
   * only verifiedInsns) and the load's wall time. After a failed load it holds
   * the programs verified up to and including the rejected one.
   */
  verifierStats(): ObjectStats {
    const raw = native().objectStats(this.#h);
    const programs: ProgramStats[] = [];
    for (const p of raw.programs) {
      const stats = programStats(p);
      if (stats !== undefined) programs.push(stats);
    }
    return { object: this.name, loadMs: raw.loadUs / 1000, programs };
  }

  /**
   * Runs a loaded packet program (XDP, tc, cgroup_skb) on `data` `repeat`
   * times in the kernel (BPF_PROG_TEST_RUN, 4.12+) without attaching it:
   * its return value and the kernel's mean ns per run. For benchmarks and
   * tests; maps are the live ones, so a run counts like a packet.
   */
  testRun(program: string, data: Buffer, repeat = 1): { retval: number; durationNs: number } {
    try {
      return native().objectTestRun(this.#h, program, data, repeat);
    } catch (e) {
      throw wrapNativeError(e, { op: 'test run program', object: this.name, program });
    }
  }

  /**
   * Calls `observer` after every load() in this process, loaded or rejected;
   * while one is registered every object loads with setStats(true). For tools
   * that measure objects opened inside the sensors, loaded exactly as the agent
   * loads them (scripts/verifier-stats.ts). Returns the unsubscribe function.
   */
  static observeLoads(observer: LoadObserver): () => void {
    loadObservers.add(observer);
    return () => loadObservers.delete(observer);
  }

  /**
   * Attaches a loaded program. tp/, tp_btf/, raw_tp/, lsm/, fentry/, fexit/,
   * kprobe/... attach by section name; cgroup programs need options.cgroupPath,
   * XDP needs options.ifindex; iter/ programs give a Link for readIterator().
   */
  attach(program: string, options: AttachOptions = {}): Link {
    const info = this.programs().find((p) => p.name === program);
    if (!info) {
      throw new KernelError({
        op: 'attach program',
        object: this.name,
        program,
        errno: 2,
        code: 'ENOENT',
        cause: 'no such program',
      });
    }
    let kind = AttachKind.Auto;
    let target: string | number | undefined;
    if (info.type.startsWith('cgroup')) {
      if (!options.cgroupPath)
        throw new TypeError(`attach program ${program}: cgroup program needs options.cgroupPath`);
      kind = AttachKind.Cgroup;
      target = options.cgroupPath;
    } else if (info.type === 'xdp') {
      if (options.ifindex === undefined)
        throw new TypeError(`attach program ${program}: XDP program needs options.ifindex`);
      kind = AttachKind.Xdp;
      target = options.ifindex;
    } else if (info.type === 'tracing' && info.section.startsWith('iter')) {
      kind = AttachKind.Iter;
    } else if (info.type === 'tracepoint' || info.type === 'kprobe') {
      ensureTracefs(); // perf-event attach resolves ids through tracefs
    }
    try {
      return new Link(native().linkAttach(this.#h, program, kind, target), program);
    } catch (e) {
      throw classify(
        wrapNativeError(e, { op: 'attach program', object: this.name, program }),
        info,
        'attach',
      );
    }
  }

  /** A map by name (".rodata", ".bss" and ".data" name the global sections). Valid until close(). */
  map(name: string): BpfMap {
    const cached = this.#maps.get(name);
    if (cached) return cached;
    // libbpf names global-section maps "<object>.bss"; accept ".bss" for them.
    const found = this.maps().find((m) => m.name === name || (name.startsWith('.') && m.name.endsWith(name)));
    if (!found) {
      throw new KernelError({
        op: 'find map',
        object: this.name,
        errno: 2,
        code: 'ENOENT',
        cause: 'no such map',
        detail: name,
      });
    }
    let fd = -1; // fixed once loaded; cached to keep lookups to one native call
    const map = new BpfMap(found, () => {
      if (fd < 0) fd = this.maps().find((m) => m.name === found.name)?.fd ?? -1;
      if (fd < 0) throw new Error(`use map ${found.name}: object ${this.name} is not loaded`);
      return fd;
    });
    this.#maps.set(name, map);
    return map;
  }

  /** Reads a global variable's current bytes from its section map (after load). */
  readGlobal(name: string): Buffer {
    const v = this.variable(name);
    if (!v)
      throw new KernelError({
        op: 'read global',
        object: this.name,
        errno: 2,
        code: 'ENOENT',
        cause: 'no such variable',
        detail: name,
      });
    const value = this.map(v.section).lookup(Buffer.alloc(4));
    if (!value)
      throw new KernelError({
        op: 'read global',
        object: this.name,
        errno: 2,
        code: 'ENOENT',
        cause: 'section map empty',
        detail: name,
      });
    return value.subarray(v.offset, v.offset + v.size);
  }

  /** Unloads programs and frees maps (links stay until closed). Idempotent. */
  close(): void {
    for (const m of this.#maps.values()) m.close();
    this.#maps.clear();
    if (this.#handle) native().objectClose(this.#handle);
    this.#handle = undefined;
  }
}
