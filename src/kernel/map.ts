// SPDX-License-Identifier: Apache-2.0
// BpfMap: typed access to one BPF map by fd; keys and values are Buffers of the
// map's exact key/value size.
import { wrapNativeError } from './errors.js';
import { type MapFdHandle, native } from './native.js';

/** Flags of BPF_MAP_UPDATE_ELEM. */
export const MapUpdateFlags = {
  /** Create or replace. */
  any: 0,
  /** Create only; EEXIST when present. */
  noExist: 1,
  /** Replace only; ENOENT when absent. */
  exist: 2,
  /** Update a value holding a bpf_spin_lock under that lock (5.1+). */
  lock: 4,
} as const;

export interface MapSpec {
  name: string;
  /** libbpf's name of the map type, e.g. "hash", "percpu_array", "ringbuf". */
  type: string;
  keySize: number;
  valueSize: number;
  maxEntries: number;
}

export class BpfMap implements MapSpec {
  readonly name: string;
  readonly type: string;
  readonly keySize: number;
  readonly valueSize: number;
  readonly maxEntries: number;
  readonly #fdOf: () => number;
  #owned: MapFdHandle | undefined;
  #closed = false;

  /** @internal use BpfObject.map() or BpfMap.openPinned() */
  constructor(spec: MapSpec, fdOf: () => number, owned?: MapFdHandle) {
    this.name = spec.name;
    this.type = spec.type;
    this.keySize = spec.keySize;
    this.valueSize = spec.valueSize;
    this.maxEntries = spec.maxEntries;
    this.#fdOf = fdOf;
    this.#owned = owned;
  }

  /** Opens a map pinned in bpffs (bpf_obj_get); the returned map owns its fd: close() it. */
  static openPinned(path: string): BpfMap {
    const n = native();
    let handle: MapFdHandle;
    try {
      handle = n.mapOpenPinned(path);
    } catch (e) {
      throw wrapNativeError(e, { op: 'open pinned map', object: path });
    }
    try {
      const info = n.mapInfo(n.mapHandleFd(handle));
      return new BpfMap(info, () => n.mapHandleFd(handle), handle);
    } catch (e) {
      n.mapClose(handle);
      throw wrapNativeError(e, { op: 'open pinned map', object: path });
    }
  }

  get fd(): number {
    if (this.#closed) throw new Error(`use map ${this.name}: map is closed`);
    return this.#fdOf();
  }

  get closed(): boolean {
    return this.#closed;
  }

  #wrap(e: unknown, op: string): unknown {
    return wrapNativeError(e, { op, object: this.name });
  }

  /** The value for `key`, or null when absent. */
  lookup(key: Buffer): Buffer | null {
    try {
      return native().mapLookup(this.fd, key, this.keySize, this.valueSize);
    } catch (e) {
      throw this.#wrap(e, 'lookup element');
    }
  }

  /**
   * Per-CPU maps: one value per possible CPU (index = CPU id), or null when
   * absent. The kernel stores each in an 8-byte aligned slot; the slices here
   * are trimmed to valueSize and share one allocation.
   */
  lookupPerCpu(key: Buffer): Buffer[] | null {
    let raw: Buffer | null;
    try {
      raw = native().mapLookupPerCpu(this.fd, key, this.keySize, this.valueSize);
    } catch (e) {
      throw this.#wrap(e, 'lookup per-cpu element');
    }
    if (raw === null) return null;
    const stride = (this.valueSize + 7) & ~7;
    const out: Buffer[] = [];
    for (let off = 0; off + stride <= raw.length; off += stride)
      out.push(raw.subarray(off, off + this.valueSize));
    return out;
  }

  /** Creates or replaces `key` (see MapUpdateFlags). */
  update(key: Buffer, value: Buffer, flags: number = MapUpdateFlags.any): void {
    try {
      native().mapUpdate(this.fd, key, this.keySize, value, this.valueSize, flags);
    } catch (e) {
      throw this.#wrap(e, 'update element');
    }
  }

  /** Deletes `key`; false when it was absent. */
  delete(key: Buffer): boolean {
    try {
      return native().mapDelete(this.fd, key, this.keySize);
    } catch (e) {
      throw this.#wrap(e, 'delete element');
    }
  }

  /** The key after `key` (the first key for null), or null at the end. */
  nextKey(key: Buffer | null): Buffer | null {
    try {
      return native().mapNextKey(this.fd, key, this.keySize);
    } catch (e) {
      throw this.#wrap(e, 'get next key');
    }
  }

  /** Iterates keys with get-next-key; concurrent deletes may restart or skip, as in the kernel. */
  *keys(): IterableIterator<Buffer> {
    for (let k = this.nextKey(null); k !== null; k = this.nextKey(k)) yield k;
  }

  /** Iterates [key, value] pairs; entries deleted meanwhile are skipped. */
  *entries(): IterableIterator<[Buffer, Buffer]> {
    for (const k of this.keys()) {
      const v = this.lookup(k);
      if (v !== null) yield [k, v];
    }
  }

  /** Pins the map in bpffs (bpf_obj_pin); it then outlives this process until unpinned. */
  pin(path: string): void {
    try {
      native().mapPin(this.fd, path);
    } catch (e) {
      throw wrapNativeError(e, { op: 'pin map', object: this.name, detail: path });
    }
  }

  /** Removes a pin made by pin(path). */
  unpin(path: string): void {
    try {
      native().mapUnpin(path);
    } catch (e) {
      throw wrapNativeError(e, { op: 'unpin map', object: this.name, detail: path });
    }
  }

  /** Releases the fd of a map from openPinned(); for object maps it only forbids further use. */
  close(): void {
    if (this.#owned) native().mapClose(this.#owned);
    this.#owned = undefined;
    this.#closed = true;
  }
}
