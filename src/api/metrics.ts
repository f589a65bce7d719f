// SPDX-License-Identifier: Apache-2.0
// Prometheus metrics of one agent (prom-client): read from agent.stats() and
// the kernel at scrape time, plus the few things counted as they happen
// (alerts by rule, latencies). docs/metrics.md lists every metric; a test
// checks that list against what the registry exposes.
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { AgentStats, PolicyStatus } from '../agent.js';
import type { Alert, PeregrineEvent } from '../events/types.js';
import {
  bpfStatsEnabled,
  enableProgramRunStats,
  type ProgramRunStats,
  programRunStats,
} from '../kernel/index.js';
import type { OutputStats } from '../sinks/transport.js';

/** What the metrics read from the agent at each scrape. */
export interface MetricsSource {
  stats(): AgentStats;
  policyStatus(): PolicyStatus[];
}

export interface MetricsOptions {
  /** prom-client's process metrics (CPU, memory, event loop lag, GC, fds). Default true. */
  processMetrics?: boolean;
  /** One event in this many has its kernel-to-emit latency observed. Default 16. */
  latencySampleEvery?: number;
  /**
   * Count BPF program run time while the metrics exist (BPF_ENABLE_STATS,
   * 5.8+): costs every program on the host two clock reads per run. Off by
   * default; the counters also grow while the sysctl kernel.bpf_stats_enabled is 1.
   */
  programRunTime?: boolean;
}

/** The state read once per scrape, shared by every metric's collect(). */
interface Snapshot {
  stats: AgentStats;
  policies: PolicyStatus[];
  programs: ProgramRunStats[];
  bpfStats: boolean;
}

type Labels = Record<string, string>;
type Setter = (labels: Labels, value: number) => void;

// Latencies from the kernel's timestamp to the agent's emit: a ring buffer
// wake-up (50 ms safety net by default) up to the seconds a held container
// event may wait for its metadata.
const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export class AgentMetrics {
  readonly registry = new Registry();
  private snap: Snapshot | undefined;
  private readonly sampleEvery: number;
  private sampleCountdown = 0;
  private readonly alerts: Counter;
  private readonly eventLatency: Histogram;
  private readonly alertLatency: Histogram;
  private runStats: { close(): void } | undefined;

  constructor(
    private readonly source: MetricsSource,
    opts: MetricsOptions = {},
  ) {
    this.sampleEvery = Math.max(1, opts.latencySampleEvery ?? 16);
    if (opts.processMetrics !== false) collectDefaultMetrics({ register: this.registry });
    this.alerts = new Counter({
      name: 'peregrine_alerts_total',
      help: 'Alerts emitted (after collapsing), by rule and priority.',
      labelNames: ['rule', 'priority'],
      registers: [this.registry],
    });
    this.eventLatency = new Histogram({
      name: 'peregrine_event_latency_seconds',
      help: "Kernel timestamp to the agent's emit of an event (sampled).",
      buckets: LATENCY_BUCKETS,
      registers: [this.registry],
    });
    this.alertLatency = new Histogram({
      name: 'peregrine_alert_latency_seconds',
      help: "Kernel timestamp of an alert's source event to the alert's emit.",
      buckets: LATENCY_BUCKETS,
      registers: [this.registry],
    });
    this.defineScraped();
    if (opts.programRunTime === true) this.runStats = enableProgramRunStats();
  }

  /** Stops run-time counting if these metrics turned it on. */
  close(): void {
    this.runStats?.close();
    this.runStats = undefined;
  }

  /** Called for every event the agent emits; cheap: a countdown, and one Date.parse per sample. */
  observeEvent(ev: PeregrineEvent): void {
    if (--this.sampleCountdown > 0) return;
    this.sampleCountdown = this.sampleEvery;
    const at = Date.parse(ev.time);
    if (!Number.isNaN(at)) this.eventLatency.observe(Math.max(0, Date.now() - at) / 1000);
  }

  observeAlert(alert: Alert): void {
    this.alerts.inc({ rule: alert.rule, priority: alert.priority });
    const at = Date.parse(alert.source_event.time);
    if (!Number.isNaN(at)) this.alertLatency.observe(Math.max(0, Date.now() - at) / 1000);
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /** The exposition text: the agent's counters read once, then every metric's collect(). */
  async text(): Promise<string> {
    const bpfStats = this.runStats !== undefined || bpfStatsEnabled();
    this.snap = {
      stats: this.source.stats(),
      policies: this.source.policyStatus(),
      programs: programRunStats(),
      bpfStats,
    };
    try {
      return await this.registry.metrics();
    } finally {
      this.snap = undefined;
    }
  }

  /** Names of every metric family the registry exposes (for the docs check). */
  names(): string[] {
    return this.registry.getMetricsAsArray().map((m) => m.name);
  }

  private counter(
    name: string,
    help: string,
    labelNames: string[],
    fill: (s: Snapshot, set: Setter) => void,
  ) {
    const self = this;
    new Counter({
      name,
      help,
      labelNames,
      registers: [this.registry],
      collect() {
        // Counters mirror the agent's own monotonic counters: reset, then set from the snapshot.
        this.reset();
        if (self.snap !== undefined) fill(self.snap, (labels, value) => this.inc(labels, value));
      },
    });
  }

  private gauge(name: string, help: string, labelNames: string[], fill: (s: Snapshot, set: Setter) => void) {
    const self = this;
    new Gauge({
      name,
      help,
      labelNames,
      registers: [this.registry],
      collect() {
        this.reset();
        if (self.snap !== undefined) fill(self.snap, (labels, value) => this.set(labels, value));
      },
    });
  }

  private defineScraped(): void {
    this.counter('peregrine_events_total', 'Events emitted, by kind.', ['kind'], (s, set) => {
      for (const [kind, n] of Object.entries(s.stats.events.by_kind)) set({ kind }, n);
    });
    this.counter(
      'peregrine_events_user_filtered_total',
      'Records the kernel passed whose user-space part of a policy match (globs, argv) failed.',
      [],
      (s, set) => set({}, s.stats.events.user_filtered),
    );
    this.counter(
      'peregrine_records_decoded_total',
      'Ring buffer records decoded, by sensor and record type.',
      ['sensor', 'record'],
      (s, set) => {
        for (const [record, n] of Object.entries(s.stats.sensors.process.records))
          set({ sensor: 'process', record }, n);
        for (const [sensor, c] of otherSensors(s.stats)) set({ sensor, record: sensor }, c.records ?? 0);
      },
    );
    this.counter(
      'peregrine_kernel_drops_total',
      'Records the kernel could not submit (ring buffer full), by sensor and record type.',
      ['sensor', 'record'],
      (s, set) => {
        for (const [record, n] of Object.entries(s.stats.sensors.process.kernel_drops))
          set({ sensor: 'process', record }, n);
        for (const [sensor, c] of otherSensors(s.stats)) {
          if (c.kernel_drops !== undefined) set({ sensor, record: sensor }, c.kernel_drops);
          if (c.kernel_record_drops !== undefined) set({ sensor, record: 'action' }, c.kernel_record_drops);
        }
      },
    );
    this.counter(
      'peregrine_kernel_filtered_total',
      'Hook invocations the in-kernel policy filter discarded before the ring buffer, by sensor.',
      ['sensor'],
      (s, set) => {
        for (const [sensor, c] of otherSensors(s.stats)) {
          let n = 0;
          let any = false;
          for (const [k, v] of Object.entries(c))
            if (k.startsWith('kernel_filtered')) {
              n += v;
              any = true;
            }
          if (any) set({ sensor }, n);
        }
      },
    );
    this.counter(
      'peregrine_decode_errors_total',
      'Records that failed to decode (skipped), by sensor.',
      ['sensor'],
      (s, set) => {
        set({ sensor: 'process' }, s.stats.sensors.process.decode_errors);
        for (const [sensor, c] of otherSensors(s.stats))
          if (c.decode_errors !== undefined) set({ sensor }, c.decode_errors);
      },
    );
    this.counter(
      'peregrine_kernel_counter_total',
      "Every other kernel-side counter of each sensor (pg_stats), by sensor and the counter's status name.",
      ['sensor', 'counter'],
      (s, set) => {
        for (const [counter, n] of Object.entries(s.stats.sensors.process.kernel))
          set({ sensor: 'process', counter }, n);
        for (const [sensor, c] of otherSensors(s.stats))
          for (const [k, v] of Object.entries(c))
            if (
              k.startsWith('kernel_') &&
              k !== 'kernel_drops' &&
              k !== 'kernel_record_drops' &&
              !k.startsWith('kernel_filtered')
            )
              set({ sensor, counter: k.slice('kernel_'.length) }, v);
      },
    );
    const ring =
      (key: keyof NonNullable<AgentStats['sensors']['process']['ring']>) => (s: Snapshot, set: Setter) => {
        const r = s.stats.sensors.process.ring;
        if (r !== undefined) set({}, r[key]);
      };
    this.gauge('peregrine_ring_buffer_size_bytes', 'Size of the ring buffer (pg_events).', [], (s, set) => {
      const f = s.stats.sensors.process.ring_fill;
      if (f !== undefined) set({}, f.size);
    });
    this.gauge(
      'peregrine_ring_buffer_used_bytes',
      'Bytes in the ring buffer the kernel produced and the agent has not consumed yet, at scrape time.',
      [],
      (s, set) => {
        const f = s.stats.sensors.process.ring_fill;
        if (f !== undefined) set({}, f.used);
      },
    );
    this.counter(
      'peregrine_ring_buffer_records_total',
      'Records consumed from the ring buffer.',
      [],
      ring('records'),
    );
    this.counter(
      'peregrine_ring_buffer_bytes_total',
      'Bytes consumed from the ring buffer.',
      [],
      ring('bytes'),
    );
    this.counter(
      'peregrine_ring_buffer_wakeups_total',
      'Times the kernel woke the consumer (epoll).',
      [],
      ring('wakeups'),
    );
    this.counter(
      'peregrine_ring_buffer_timer_records_total',
      'Records consumed by the safety-net timer rather than a wake-up (below the wake-up threshold).',
      [],
      ring('timerRecords'),
    );
    this.counter(
      'peregrine_ring_buffer_oversize_total',
      'Records larger than the batch buffer, dropped in user space.',
      [],
      ring('oversize'),
    );
    this.counter(
      'peregrine_policy_matches_total',
      'Events a policy selected, by policy.',
      ['policy'],
      (s, set) => {
        for (const p of s.policies) set({ policy: p.name }, p.matches);
      },
    );
    this.counter(
      'peregrine_policy_actions_total',
      'Enforcement actions counted in the kernel, by policy, action and outcome (taken, or would in monitor mode).',
      ['policy', 'action', 'outcome'],
      (s, set) => {
        const sums = new Map<string, { policy: string; action: string; taken: number; would: number }>();
        for (const p of s.policies)
          for (const r of p.rules) {
            if (r.actions === undefined) continue;
            const key = `${p.name}\0${r.action}`;
            const row = sums.get(key) ?? { policy: p.name, action: r.action, taken: 0, would: 0 };
            row.taken += r.actions.taken;
            row.would += r.actions.would;
            sums.set(key, row);
          }
        for (const r of sums.values()) {
          set({ policy: r.policy, action: r.action, outcome: 'taken' }, r.taken);
          set({ policy: r.policy, action: r.action, outcome: 'would' }, r.would);
        }
      },
    );
    this.gauge(
      'peregrine_policy_enforced',
      'Per policy: 1 when its mode is enforce, 0 in monitor.',
      ['policy'],
      (s, set) => {
        for (const p of s.policies) set({ policy: p.name }, p.mode === 'enforce' ? 1 : 0);
      },
    );
    this.counter(
      'peregrine_alerts_collapsed_total',
      'Identical alerts folded into one within the collapse window.',
      [],
      (s, set) => {
        const c = s.stats.rules?.collapser as { collapsed?: number } | undefined;
        if (c?.collapsed !== undefined) set({}, c.collapsed);
      },
    );
    this.gauge('peregrine_process_cache_entries', 'Identities in the process cache.', [], (s, set) =>
      set({}, s.stats.cache.size),
    );
    this.gauge('peregrine_process_cache_alive', 'Cached identities not yet exited.', [], (s, set) =>
      set({}, s.stats.cache.alive),
    );
    this.counter(
      'peregrine_process_cache_evicted_alive_total',
      'Live identities evicted over the cache bound (their later events go out with ids only).',
      [],
      (s, set) => set({}, s.stats.cache.evictedAlive),
    );
    this.gauge('peregrine_containers', 'Containers the enricher knows.', [], (s, set) => {
      const c = s.stats.containers as { containers?: number } | undefined;
      set({}, c?.containers ?? 0);
    });
    this.gauge(
      'peregrine_degraded',
      '1 while a sensor the agent needs failed to load or attach.',
      [],
      (s, set) => set({}, s.stats.health === 'ok' ? 0 : 1),
    );
    this.gauge(
      'peregrine_sensor_failed',
      'Sensors that failed to load or attach, by sensor and stage.',
      ['sensor', 'stage'],
      (s, set) => {
        for (const f of s.stats.degraded?.sensors ?? []) set({ sensor: f.sensor, stage: f.stage }, 1);
      },
    );
    this.defineOutputs();
    this.defineApi();
    this.gauge(
      'peregrine_bpf_stats_enabled',
      '1 when the kernel counts BPF program run time (sysctl kernel.bpf_stats_enabled, or --bpf-stats).',
      [],
      (s, set) => set({}, s.bpfStats ? 1 : 0),
    );
    this.counter(
      'peregrine_bpf_program_run_seconds_total',
      'Time spent in each BPF program while kernel.bpf_stats_enabled was 1, by program name.',
      ['program'],
      (s, set) => {
        for (const p of s.programs) set({ program: p.name }, p.runTimeNs / 1e9);
      },
    );
    this.counter(
      'peregrine_bpf_program_runs_total',
      'Runs of each BPF program while kernel.bpf_stats_enabled was 1, by program name.',
      ['program'],
      (s, set) => {
        for (const p of s.programs) set({ program: p.name }, p.runCnt);
      },
    );
  }

  // Outputs: stdout, plus the configured outputs (stats().sinks.outputs) once the agent has them.
  private defineOutputs(): void {
    const outputs = (s: Snapshot): OutputStats[] => {
      const list = [...((s.stats.sinks as { outputs?: OutputStats[] }).outputs ?? [])];
      const o = s.stats.sinks.stdout;
      if (o !== undefined)
        list.unshift({
          name: 'stdout',
          type: 'stdout',
          sent: o.lines,
          retried: 0,
          dropped: { queue_full: o.dropped, error: o.errors },
          filtered: 0,
          queued: 0,
          spooled: 0,
          healthy: o.errors === 0,
        });
      return list;
    };
    const labels = ['output', 'type'];
    const each = (pick: (o: OutputStats) => number) => (s: Snapshot, set: Setter) => {
      for (const o of outputs(s)) set({ output: o.name, type: o.type }, pick(o));
    };
    this.counter(
      'peregrine_output_sent_total',
      'Records an output delivered.',
      labels,
      each((o) => o.sent),
    );
    this.counter(
      'peregrine_output_retried_total',
      'Batches an output sent again after a failure.',
      labels,
      each((o) => o.retried),
    );
    this.counter(
      'peregrine_output_filtered_total',
      "Records an output's filters skipped (not a loss).",
      labels,
      each((o) => o.filtered),
    );
    this.counter(
      'peregrine_output_dropped_total',
      'Records an output lost, by reason.',
      ['output', 'type', 'reason'],
      (s, set) => {
        for (const o of outputs(s))
          for (const [reason, n] of Object.entries(o.dropped))
            set({ output: o.name, type: o.type, reason }, n);
      },
    );
    this.gauge(
      'peregrine_output_queued',
      'Records waiting in memory.',
      labels,
      each((o) => o.queued),
    );
    this.gauge(
      'peregrine_output_spooled',
      'Records waiting in the spool.',
      labels,
      each((o) => o.spooled),
    );
    this.gauge(
      'peregrine_output_healthy',
      "1 unless the output's last attempt failed.",
      labels,
      each((o) => (o.healthy ? 1 : 0)),
    );
  }

  private defineApi(): void {
    this.gauge(
      'peregrine_stream_clients',
      'Connected event stream clients, by interface (sse: HTTP API, control: the unix socket).',
      ['interface'],
      (s, set) => {
        set({ interface: 'control' }, s.stats.sinks.streams.clients);
        if (s.stats.api !== undefined) set({ interface: 'sse' }, s.stats.api.stream.clients);
      },
    );
    this.counter(
      'peregrine_stream_dropped_total',
      'Messages a slow stream client lost (its buffer was full), by interface.',
      ['interface'],
      (s, set) => {
        set({ interface: 'control' }, s.stats.sinks.streams.dropped);
        if (s.stats.api !== undefined) set({ interface: 'sse' }, s.stats.api.stream.dropped);
      },
    );
    this.counter(
      'peregrine_api_requests_total',
      'HTTP API requests answered, by status class.',
      ['code'],
      (s, set) => {
        for (const [code, n] of Object.entries(s.stats.api?.requests ?? {})) set({ code }, n);
      },
    );
    this.gauge('peregrine_api_stored_events', "Events held in the API's per-process store.", [], (s, set) =>
      set({}, s.stats.api?.process_events.events ?? 0),
    );
    this.gauge(
      'peregrine_api_stored_event_bytes',
      "Bytes of JSON held in the API's per-process store.",
      [],
      (s, set) => set({}, s.stats.api?.process_events.bytes ?? 0),
    );
    this.counter(
      'peregrine_api_evicted_events_total',
      "Events evicted from the API's per-process store, by bound (process or total).",
      ['bound'],
      (s, set) => {
        const p = s.stats.api?.process_events;
        if (p === undefined) return;
        set({ bound: 'process' }, p.evicted_per_process);
        set({ bound: 'total' }, p.evicted_total_bound);
      },
    );
    this.gauge('peregrine_api_stored_alerts', "Alerts held in the API's recent-alerts ring.", [], (s, set) =>
      set({}, s.stats.api?.alerts.stored ?? 0),
    );
    this.counter(
      'peregrine_api_evicted_alerts_total',
      "Alerts evicted from the API's recent-alerts ring.",
      [],
      (s, set) => set({}, s.stats.api?.alerts.evicted ?? 0),
    );
  }
}

/** Sensors other than process, with their flat counters. */
function otherSensors(stats: AgentStats): Array<[string, Record<string, number>]> {
  const out: Array<[string, Record<string, number>]> = [];
  for (const [name, c] of Object.entries(stats.sensors)) {
    if (name === 'process' || c === null || typeof c !== 'object') continue;
    const flat: Record<string, number> = {};
    for (const [k, v] of Object.entries(c as Record<string, unknown>)) if (typeof v === 'number') flat[k] = v;
    out.push([name, flat]);
  }
  return out;
}
