// SPDX-License-Identifier: Apache-2.0
// The agent: wires kernel sensors → decode → process cache → sinks, serves the
// control socket, and keeps every counter a user needs to trust it.
import { ControlServer, sendJson, socketPath } from './api/control.js';
import { type EventContext, encodeCompact, JsonEncoder } from './events/encode.js';
import type { PeregrineEvent } from './events/types.js';
import { ProcessCache } from './process/cache.js';
import { KernelClock, type NodeIdentity, nodeIdentity } from './process/identity.js';
import { ProcessSensor, type ProcessSensorStats } from './sensors/process/sensor.js';
import { type SinkStats, StreamSink } from './sinks/stream.js';

export interface AgentOptions {
  /** Output format on stdout; 'none' prints nothing (embedders use onEvent). Default 'json'. */
  output?: 'json' | 'compact' | 'none';
  /** Include every ancestor above the parent in each event. */
  ancestors?: boolean;
  /** Node name in events and exec_ids. Default $NODE_NAME or the hostname. */
  nodeName?: string;
  /** Control socket path; false for none. Default /run/peregrine/peregrine.sock. */
  socket?: string | false;
  /** Ring buffer bytes (power of two, ≥ one page). Default 8 MiB. */
  ringBytes?: number;
  /** The kernel wakes the consumer only once this many bytes wait (0: every record). Default 65536. */
  wakeupBytes?: number;
  /** Safety-net consume interval: the longest a record waits below the wake-up threshold. Default 50 ms. */
  pollIntervalMs?: number;
  /** Process cache bound. Default 65536. */
  cacheMax?: number;
  /** How long exited processes stay resolvable. Default 30 s. */
  graceMs?: number;
  /** Called for every event, before the sinks (tests, embedders). */
  onEvent?: (ev: PeregrineEvent, ctx: EventContext) => void;
}

export interface StartReport {
  node: string;
  attached: string[];
  unsupported: string[];
  seeded: number;
  socket: string;
}

export interface AgentStats {
  uptime_s: number;
  events: { emitted: number; by_kind: Record<string, number> };
  sensors: { process: ProcessSensorStats };
  cache: ReturnType<ProcessCache['stats']>;
  sinks: { stdout?: SinkStats };
}

export class Agent {
  readonly node: NodeIdentity;
  readonly cache: ProcessCache;
  private readonly clock = new KernelClock();
  private readonly opts: AgentOptions;
  private readonly sink: StreamSink | undefined;
  private readonly json: JsonEncoder;
  private process: ProcessSensor | undefined;
  private control: ControlServer | undefined;
  private sweepTimer: NodeJS.Timeout | undefined;
  private startedAt = 0;
  private emitted = 0;
  private readonly byKind: Record<string, number> = {};

  constructor(opts: AgentOptions = {}) {
    this.opts = opts;
    this.node = nodeIdentity(opts.nodeName);
    this.cache = new ProcessCache({
      node: this.node,
      clock: this.clock,
      maxEntries: opts.cacheMax,
      graceMs: opts.graceMs,
    });
    this.json = new JsonEncoder(this.node.name);
    const output = opts.output ?? 'json';
    this.sink = output === 'none' ? undefined : new StreamSink();
  }

  async start(): Promise<StartReport> {
    this.startedAt = Date.now();
    const sensor = new ProcessSensor({
      cache: this.cache,
      clock: this.clock,
      node: this.node.name,
      ringBytes: this.opts.ringBytes ?? 8 * 1024 * 1024,
      wakeupBytes: this.opts.wakeupBytes ?? 65536,
      pollIntervalMs: this.opts.pollIntervalMs ?? 50,
      execsMax: Math.max(this.opts.cacheMax ?? 65536, 8192),
      emit: (ev, ctx) => this.emit(ev, ctx),
      flush: () => this.sink?.flush(),
    });
    this.process = sensor;
    let seeded = 0;
    try {
      sensor.load();
      seeded = sensor.start();
    } catch (err) {
      sensor.close();
      this.process = undefined;
      throw err;
    }
    this.sweepTimer = setInterval(() => this.cache.sweep(performance.now()), 5000);
    this.sweepTimer.unref();
    let socket = '';
    if (this.opts.socket !== false) {
      socket = socketPath(this.opts.socket || undefined);
      this.control = new ControlServer(socket);
      this.control.route('GET', '/v1/ping', (_req, res) => sendJson(res, 200, { ok: true }));
      this.control.route('GET', '/v1/status', (_req, res) => sendJson(res, 200, this.stats()));
      try {
        await this.control.listen();
      } catch (err) {
        await this.stop();
        throw err;
      }
    }
    return { node: this.node.name, attached: sensor.attached, unsupported: [], seeded, socket };
  }

  private emit(ev: PeregrineEvent, ctx: EventContext): void {
    this.emitted++;
    this.byKind[ev.kind] = (this.byKind[ev.kind] ?? 0) + 1;
    ctx.process.events++;
    if (this.opts.ancestors === true) {
      ctx.ancestors = this.cache.ancestors(ctx.process);
      ev.ancestors = ctx.ancestors.map((e) => e.info);
    }
    this.opts.onEvent?.(ev, ctx);
    if (this.sink !== undefined) {
      this.sink.push(this.opts.output === 'compact' ? encodeCompact(ev) : this.json.encode(ev, ctx));
    }
  }

  stats(): AgentStats {
    return {
      uptime_s: Math.round((Date.now() - this.startedAt) / 1000),
      events: { emitted: this.emitted, by_kind: { ...this.byKind } },
      sensors: { process: this.process?.stats() ?? ProcessSensor.emptyStats() },
      cache: this.cache.stats(),
      sinks: { stdout: this.sink?.stats() },
    };
  }

  /** Detaches every program, closes every handle, flushes the sinks; returns the final counters. */
  async stop(): Promise<AgentStats> {
    if (this.sweepTimer !== undefined) clearInterval(this.sweepTimer);
    this.sweepTimer = undefined;
    this.process?.drain();
    const stats = this.stats();
    this.process?.close();
    this.process = undefined;
    await this.control?.close();
    this.control = undefined;
    await this.sink?.close();
    return stats;
  }
}
