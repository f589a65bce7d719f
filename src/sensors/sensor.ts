// SPDX-License-Identifier: Apache-2.0
// The contract between the agent and a sensor other than the process sensor:
// a kernel object that shares the process object's maps (one ring buffer, one
// identity map, one set of policy filter maps) and a decoder for its records.
import type { PinnedState } from '../enforce/pin.js';
import type { EventContext } from '../events/encode.js';
import type { EventKind, PeregrineEvent } from '../events/types.js';
import type { BpfMap } from '../kernel/index.js';
import type { ProcessCache, ProcessEntry } from '../process/cache.js';
import type { KernelClock } from '../process/identity.js';

/** Maps of the process object that every sensor object reuses (bpf/lib/maps.h, bpf/lib/filter.h). */
export interface SharedMaps {
  /** By map name: pg_events, pg_execs, pg_stats, pg_f_config, pg_f_sets, pg_f_values, pg_f_paths, pg_f_prefix, pg_f_suffix, pg_f_addrs, pg_f_actions. */
  get(name: string): BpfMap;
  /** Names of every shared map, for `BpfObject.reuseMap` before load. */
  names(): readonly string[];
}

/** Load-time settings every sensor object gets as `const volatile` globals. */
export interface SensorConfig {
  /** wakeup_bytes (bpf/lib/maps.h). */
  wakeupBytes: number;
  /** self_tgid: the agent's own pid. */
  selfPid: number;
  /** host_mnt_ns / host_pid_ns (bpf/lib/filter.h): the agent's own namespaces. */
  hostMntNs: number;
  hostPidNs: number;
}

/** What a sensor's decoder needs to turn a record into an event. */
export interface DecodeContext {
  cache: ProcessCache;
  clock: KernelClock;
  node: string;
  /** The process identity of a record (its pg_exec_key), resolved in the cache; undefined when unknown. */
  process(pid: number, ktime: number): ProcessEntry | undefined;
  /** Names of the policies whose rule slots are set in a record's struct pg_rules (at `offset` in `view`). */
  policies(view: DataView, offset: number): string[];
  emit(ev: PeregrineEvent, ctx: EventContext): void;
}

export interface AttachReport {
  /** Programs attached, by section name. */
  attached: string[];
  /** Kinds asked for that this kernel cannot observe, with the reason. */
  unsupported: string[];
}

export interface Sensor {
  readonly name: string;
  /** Every kind this sensor can produce. */
  readonly kinds: readonly EventKind[];
  /** Record types (enum pg_record_type) this sensor decodes. */
  readonly recordTypes: readonly number[];
  /** Opens the object, reuses the shared maps, sets the config, loads. */
  load(shared: SharedMaps, config: SensorConfig): void;
  /** Attaches the programs needed for `kinds` (only those), detaching the ones no longer needed. */
  attach(kinds: ReadonlySet<EventKind>): AttachReport;
  /** Decodes one record of one of `recordTypes` at `at` (its header) and emits its event. */
  decode(view: DataView, at: number, type: number, ctx: DecodeContext): void;
  /** Counters: records decoded, kernel-side filtered and dropped counts (from pg_stats), decode errors. */
  stats(stats: BpfMap): Record<string, number>;
  /** Detaches and closes everything. */
  close(): void;
  /**
   * --keep-enforcing: pins the links of the hooks through which one of
   * `backends` (attestation names, e.g. 'tracepoint/syscalls/sys_exit_openat')
   * acts, so they outlive the agent, and unpins the others. Only sensors whose
   * hooks enforce have it.
   */
  keepEnforcing?(pinned: PinnedState, backends: ReadonlySet<string>): void;
}
