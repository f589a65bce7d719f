// SPDX-License-Identifier: Apache-2.0
// The agent: wires kernel sensors → decode → process cache → policies → sinks,
// serves the control socket, and keeps every counter a user needs to trust it.
import { readlinkSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ControlServer, sendJson, socketPath } from './api/control.js';
import { type ApiOptions, type ApiStats, HttpApi } from './api/http.js';
import {
  ContainerEnricher,
  type ContainerEnricherOptions,
  type ContainerListing,
  containerFilter,
  scopePolicies,
} from './container/enrich.js';
import {
  type Attestation,
  EnforceSensor,
  failedAttestation,
  PinnedState,
  policyState,
  probeOnce,
} from './enforce/index.js';
import {
  type EventContext,
  encodeAlert,
  encodeAlertCompact,
  encodeCompact,
  JsonEncoder,
} from './events/encode.js';
import type { Alert, EventKind, PeregrineEvent } from './events/types.js';
import type { BpfMap } from './kernel/index.js';
import { compileFilter, type FilterImage, type RuleSlot } from './policy/compile.js';
import { FilterWriter } from './policy/filter-maps.js';
import { type Rollback, SafetyNet } from './policy/safety.js';
import type { Policy, PolicyRule } from './policy/types.js';
import { ProcessCache } from './process/cache.js';
import { KernelClock, type NodeIdentity, nodeIdentity } from './process/identity.js';
import { AlertCollapser, type AlertCollapser as Collapser, type RuleSet } from './rules/index.js';
import { processFailure, type SensorFailure, sensorFailure } from './sensors/degraded.js';
import type { FloodConfig } from './sensors/flood/config.js';
import { type FloodEvent, FloodSensor } from './sensors/flood/sensor.js';
import { ProcessSensor, type ProcessSensorStats } from './sensors/process/sensor.js';
import { SENSORS } from './sensors/registry.js';
import type { AttachReport, DecodeContext, Sensor, SensorConfig, SharedMaps } from './sensors/sensor.js';
import type { Outputs } from './sinks/registry.js';
import { type SinkStats, StreamSink } from './sinks/stream.js';
import type { OutputStats } from './sinks/transport.js';

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
  /** The kernel wakes the consumer only once this many bytes wait (0: adaptive, every record). Default 65536. */
  wakeupBytes?: number;
  /** Safety-net consume interval: the longest a record waits below the wake-up threshold. Default 50 ms. */
  pollIntervalMs?: number;
  /** Process cache bound. Default 65536. */
  cacheMax?: number;
  /** Also emit process.fork events (forks always update the cache). */
  forks?: boolean;
  /** How long exited processes stay resolvable. Default 30 s. */
  graceMs?: number;
  /** Policies to apply at start (validated). Default none; the CLI passes the embedded default policy. */
  policies?: Policy[];
  /** Parses a policy file's text for the control API's `policy apply` (the CLI wires the YAML loader). */
  parsePolicies?: (text: string, file: string) => Policy[];
  /** Detection rules evaluated on every event (Falco-compatible). */
  rules?: RuleSet;
  /** Print only alerts, not the events (events still feed rules and streams). */
  onlyAlerts?: boolean;
  /** Window in which identical alerts (same rule, same process) are collapsed. Default 10 s. */
  alertWindowMs?: number;
  /** Called for every event, before the sinks (tests, embedders). */
  onEvent?: (ev: PeregrineEvent, ctx: EventContext) => void;
  /** Called for every alert emitted (after collapsing). */
  onAlert?: (alert: Alert) => void;
  /** Pin enforcement links and maps in bpffs so they outlive the agent; adopt pinned state at start. */
  keepEnforcing?: boolean;
  /** Deny signals to the agent and bpf() detaches by others where BPF-LSM runs (else alert only). */
  protectSelf?: boolean;
  /** Container and pod attribution and selector scoping (docs/containers.md); false: off. Default on. */
  containers?: false | ContainerEnricherOptions;
  /**
   * Called when what the agent runs without changes: a sensor failed to load
   * or attach, or a policy applied since needs one that did (the CLI prints it).
   */
  onDegraded?: (status: DegradedStatus) => void;
  /** Outputs (docs/outputs.md) offered every printed event and every alert as its JSON line; closed by stop(). */
  outputs?: Outputs;
  /** How long stop() lets the outputs flush before counting what is left. Default 5000 ms. */
  outputsCloseMs?: number;
  /** The HTTP API and metrics (src/api/http.ts, docs/api.md); undefined: off. */
  api?: ApiOptions;
  /** XDP flood and port-scan detection on these interfaces (docs/network.md); off when absent. */
  flood?: FloodConfig;
  /** Called with every network.flood event (besides the outputs). */
  onFlood?: (ev: FloodEvent) => void;
}

/**
 * A consumer of the agent's output besides stdout: the HTTP API, the control
 * socket's stream. It sees every event the agent emits except those only the
 * rules' own policy selected, and every alert. `json()` is the event's JSON
 * line, encoded once for stdout and every subscriber.
 */
export interface AgentSubscriber {
  event?(ev: PeregrineEvent, ctx: EventContext, json: () => string): void;
  alert?(alert: Alert, json: string): void;
}

/**
 * The policy the agent adds for the rules' sake: the kinds the loaded rules
 * need, filtered in the kernel as far as rules allow without reading their
 * conditions — every kind but opens in full, opens for writing anywhere, and
 * reads only of credential files. Events it alone selects feed the rules and
 * are not printed.
 */
export const RULES_POLICY = 'peregrine-rules';

export function rulesPolicy(kinds: readonly EventKind[]): Policy | undefined {
  const lifecycle = new Set<EventKind>(['process.exec', 'process.exit', 'process.fork']);
  const others = kinds.filter((k) => !lifecycle.has(k) && k !== 'file.open');
  const rules: Policy['spec']['rules'] = [];
  if (others.length > 0) rules.push({ name: 'kinds', kinds: others, match: {}, action: 'audit' });
  if (kinds.includes('file.open')) {
    rules.push({
      name: 'writes',
      kinds: ['file.open'],
      match: { access: ['write', 'create', 'truncate'] },
      action: 'audit',
    });
    rules.push({
      name: 'credential-reads',
      kinds: ['file.open'],
      match: {
        access: ['read'],
        paths: {
          prefix: ['/etc/shadow', '/etc/gshadow', '/etc/sudoers', '/root/.ssh/', '/etc/ssh/', '/root/.aws/'],
          suffix: ['id_rsa', 'id_dsa', 'id_ecdsa', 'id_ed25519', '.pem', '.key', 'credentials'],
        },
      },
      action: 'audit',
    });
  }
  if (rules.length === 0) return undefined;
  return {
    apiVersion: 'peregrine.dev/v1alpha1',
    kind: 'Policy',
    metadata: { name: RULES_POLICY },
    spec: { mode: 'monitor', rules },
    source: { file: '(rules)' },
  };
}

/** Map sizes and `const volatile` settings start() loads the kernel objects with. */
export interface KernelSettings {
  /** pg_events bytes. */
  ringBytes: number;
  /** pg_execs entries. */
  execsMax: number;
  /** The consts every sensor object gets (the process object: wakeup_bytes and self_tgid). */
  config: SensorConfig;
}

/**
 * What start() gives the kernel objects for these options. Consts change what
 * the verifier explores, so scripts/verifier-stats.ts loads with the same.
 */
export function kernelSettings(opts: AgentOptions): KernelSettings {
  return {
    ringBytes: opts.ringBytes ?? 8 * 1024 * 1024,
    execsMax: Math.max(opts.cacheMax ?? 65536, 8192),
    config: {
      wakeupBytes: opts.wakeupBytes ?? 65536,
      selfPid: process.pid,
      hostMntNs: nsInode('mnt'),
      hostPidNs: nsInode('pid'),
    },
  };
}

/** The maps of the loaded process object (or its sensor) that every other sensor object reuses. */
export function sharedMaps(processObject: { map(name: string): BpfMap }): SharedMaps {
  const maps = new Map<string, BpfMap>();
  for (const name of ProcessSensor.SHARED_MAPS) maps.set(name, processObject.map(name));
  return {
    get: (name) => {
      const m = maps.get(name);
      if (m === undefined) throw new Error(`shared map ${name}: not shared by the process object`);
      return m;
    },
    names: () => [...maps.keys()],
  };
}

/** What start() sets on a sensor before its load: the enforcer's pinned state and self-protection (a const). */
export function configureSensor(sensor: Sensor, opts: AgentOptions, pinned: PinnedState | undefined): void {
  if (sensor instanceof EnforceSensor) {
    sensor.pinned = pinned;
    sensor.guardDeny = opts.protectSelf === true;
  }
}

export interface StartReport {
  node: string;
  attached: string[];
  unsupported: string[];
  seeded: number;
  socket: string;
  /** The HTTP API's URL ("https://127.0.0.1:9440"); "" when off or not started. */
  api: string;
  /** Why the API did not start (only with api.bestEffort; otherwise start() throws). */
  apiError?: string;
  policies: string[];
  /** What the agent runs without; undefined when every sensor it needs loaded and attached. */
  degraded: DegradedStatus | undefined;
}

/**
 * A degraded agent: the sensors (other than the process sensor, which is
 * fatal) that failed to load or attach here, and what that costs.
 */
export interface DegradedStatus {
  /** One entry per failed sensor, with its one-line reason. */
  sensors: SensorFailure[];
  /** Policy rules not in force because of those failures; `enforcement` is their attestation. */
  policy_rules: Array<{ policy: string; rule: string; enforcement: string }>;
  /** Detection rules that cannot see their events: `blind` miss every kind they need, `partial` some. */
  rules?: { blind: number; partial: number; of: number; kinds: EventKind[]; names: string[] };
}

export interface PolicyStatus {
  name: string;
  mode: Policy['spec']['mode'];
  kinds: EventKind[];
  rules: Array<{
    name: string;
    kinds: EventKind[];
    action: string;
    user_check: boolean;
    /** Attestation: "enforced (cgroup/connect4, ...)", "monitor (...)", "degraded (...)", "unsupported (...)", "audit". */
    enforcement?: string;
    /** Actions taken and would-be actions (monitor) counted in the kernel. */
    actions?: { taken: number; would: number };
  }>;
  /** The policy's worst rule state: enforced, monitor, degraded, audit, unsupported. */
  enforcement?: string;
  source: string;
  matches: number;
  /** The safety net (`spec.safety`): actions counted in the window, and the last rollback to monitor. */
  safety?: {
    max_denials: number;
    window_s: number;
    /** Actions taken within the window now (enforce mode only). */
    recent: number;
    /** Actions counted since the policy was last put in enforce mode. */
    total: number;
    rolled_back?: { at: string; denials: number; window_s: number };
  };
}

export interface AgentStats {
  uptime_s: number;
  events: {
    emitted: number;
    by_kind: Record<string, number>;
    /** Records the kernel passed whose user-space part of the match (globs, argv) failed. */
    user_filtered: number;
  };
  sensors: { process: ProcessSensorStats } & Record<string, unknown>;
  cache: ReturnType<ProcessCache['stats']>;
  policies: Array<{ name: string; matches: number }>;
  rules?: { alerts: number; collapser: ReturnType<Collapser['stats']>; engine: ReturnType<RuleSet['stats']> };
  sinks: { stdout?: SinkStats; streams: { clients: number; dropped: number }; outputs?: OutputStats[] };
  /** The HTTP API: clients, losses and bounded stores (absent when the API is off). */
  api?: ApiStats;
  containers?: ReturnType<ContainerEnricher['stats']>;
  /** 'degraded' while a sensor the agent needs failed to load or attach (see `degraded`). */
  health: 'ok' | 'degraded';
  degraded?: DegradedStatus;
}

interface StreamClient {
  res: ServerResponse;
  compact: boolean;
  filter: (ev: PeregrineEvent) => boolean;
}

export class Agent {
  readonly node: NodeIdentity;
  readonly cache: ProcessCache;
  private readonly clock = new KernelClock();
  private readonly opts: AgentOptions;
  private readonly sink: StreamSink | undefined;
  private readonly json: JsonEncoder;
  private process: ProcessSensor | undefined;
  private sensors: Sensor[] = [];
  private readonly byRecordType = new Map<number, Sensor>();
  private writer: FilterWriter | undefined;
  private policies: Policy[] = [];
  private image: FilterImage | undefined;
  private readonly policyHits = new Map<string, number>();
  /** Counts the actions of policies with `spec.safety` and says when one must go back to monitor. */
  private readonly safety = new SafetyNet();
  private decodeCtx: DecodeContext | undefined;
  // Slots of the record being decoded: set by decodeCtx.policies(), read by emit().
  private currentSlots: RuleSlot[] | undefined;
  private control: ControlServer | undefined;
  private readonly streams = new Set<StreamClient>();
  private streamSubscription: (() => void) | undefined;
  // null while nobody subscribed, so the hot path tests one pointer.
  private subscribers: AgentSubscriber[] | null = null;
  private api: HttpApi | undefined;
  private streamDropped = 0;
  private sweepTimer: NodeJS.Timeout | undefined;
  private startedAt = 0;
  private emitted = 0;
  private userFiltered = 0;
  private readonly byKind: Record<string, number> = {};
  private readonly unsupported: string[] = [];
  private readonly collapser: Collapser;
  private alerts = 0;
  private enforcer: EnforceSensor | undefined;
  private flood: FloodSensor | undefined;
  private pinned: PinnedState | undefined;
  private containers: ContainerEnricher | undefined;
  /** Sensors that failed to load or attach, by name (the process sensor never: it is fatal). */
  private readonly failures = new Map<string, SensorFailure>();
  private degradedOnce = false;
  private lastDegraded = '';

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
    this.collapser = new AlertCollapser({ windowMs: opts.alertWindowMs });
  }

  async start(): Promise<StartReport> {
    this.startedAt = Date.now();
    this.opts.outputs?.start();
    const kernel = kernelSettings(this.opts);
    const processSensor = new ProcessSensor({
      cache: this.cache,
      clock: this.clock,
      node: this.node.name,
      ringBytes: kernel.ringBytes,
      wakeupBytes: kernel.config.wakeupBytes,
      pollIntervalMs: this.opts.pollIntervalMs ?? 50,
      execsMax: kernel.execsMax,
      forks: this.opts.forks,
      emit: (ev, ctx) => this.emit(ev, ctx),
      other: (view, at, type) => this.decodeOther(view, at, type),
      flush: () => this.sink?.flush(),
      reuse: (name) => this.pinned?.map(name),
      pinned: () => this.pinned,
    });
    this.process = processSensor;
    const attached: string[] = [];
    let seeded = 0;
    try {
      if (this.opts.keepEnforcing === true) this.pinned = PinnedState.open();
      try {
        processSensor.load();
      } catch (err) {
        throw await fatal('load', err);
      }
      const shared = sharedMaps(processSensor);
      this.writer = new FilterWriter(shared);
      this.sensorSetup = { shared, config: kernel.config };
      this.loadSensors(shared, this.sensorSetup.config, new Set());
      this.decodeCtx = this.makeDecodeContext();
      await this.startEnforcement();
      if (this.opts.flood !== undefined) this.startFlood(this.opts.flood);
      if (this.opts.containers !== false) {
        this.containers = new ContainerEnricher(
          {
            cache: this.cache,
            reapply: () => safe(() => this.applyPolicies(this.policies)),
            release: (ev, ctx, slots) => {
              this.currentSlots = slots;
              this.emit(ev, ctx);
              this.sink?.flush();
            },
          },
          this.opts.containers,
        );
        await this.containers.start();
      }
      this.applyPolicies(this.opts.policies ?? []);
      try {
        seeded = processSensor.start();
      } catch (err) {
        throw await fatal('attach', err);
      }
      attached.push(...processSensor.attached);
      for (const s of this.sensors) attached.push(...this.attachedOf(s));
      for (const name of this.flood?.attached() ?? []) attached.push(`xdp (${name})`);
    } catch (err) {
      await this.stop();
      throw err;
    }
    this.sweepTimer = setInterval(() => this.cache.sweep(performance.now()), 5000);
    this.sweepTimer.unref();
    let socket = '';
    if (this.opts.socket !== false) {
      socket = socketPath(this.opts.socket || undefined);
      this.control = new ControlServer(socket);
      this.routes(this.control);
      try {
        await this.control.listen();
      } catch (err) {
        await this.stop();
        throw err;
      }
    }
    let api = '';
    let apiError: string | undefined;
    if (this.opts.api !== undefined) {
      const server = new HttpApi(this, this.opts.api);
      try {
        api = await server.listen();
        this.api = server;
      } catch (err) {
        await server.close();
        // The default address taken (another agent, another service): said, not fatal.
        if (this.opts.api.bestEffort === true) apiError = err instanceof Error ? err.message : String(err);
        else {
          await this.stop();
          throw err;
        }
      }
    }
    return {
      node: this.node.name,
      attached,
      unsupported: [...this.unsupported],
      seeded,
      socket,
      api,
      apiError,
      policies: this.policies.map((p) => p.metadata.name),
      degraded: this.degradedStatus(),
    };
  }

  /** Whether a sensor failed at any time since start (the CLI's exit code says so). */
  get wasDegraded(): boolean {
    return this.degradedOnce;
  }

  /** What the agent runs without now; undefined when nothing failed. */
  degradedStatus(): DegradedStatus | undefined {
    if (this.failures.size === 0) return undefined;
    const policyRules: DegradedStatus['policy_rules'] = [];
    for (const p of this.policies)
      for (const r of p.spec.rules) {
        const att = this.attest(p, r);
        if (att.failure !== undefined)
          policyRules.push({ policy: p.metadata.name, rule: r.name, enforcement: att.text });
      }
    const status: DegradedStatus = { sensors: [...this.failures.values()], policy_rules: policyRules };
    const missing = new Set([...this.failures.values()].flatMap((f) => f.kinds));
    if (this.opts.rules !== undefined && missing.size > 0) {
      const { blind, partial, of } = this.opts.rules.blindTo(missing);
      const needed = new Set(this.opts.rules.requiredKinds());
      status.rules = {
        blind: blind.length,
        partial: partial.length,
        of,
        kinds: [...missing].filter((k) => needed.has(k)),
        names: [...blind, ...partial],
      };
    }
    return status;
  }

  /** Records a failed sensor; the process sensor never comes here (its failure is fatal). */
  /**
   * The flood sensor watches packets, not processes: its own object and ring
   * buffer. A load failure degrades the agent (reported), never stops it; an
   * interface it cannot attach to is a failure with the interface named.
   */
  private startFlood(cfg: FloodConfig): void {
    const sensor = new FloodSensor(cfg, (ev) => this.emitFlood(ev), {
      node: this.node.name,
      toIso: (ns) => this.clock.toIso(ns),
      pollIntervalMs: this.opts.pollIntervalMs ?? 50,
    });
    try {
      sensor.start();
    } catch (err) {
      sensor.close();
      this.fail(sensorFailure('flood', 'load', err, []));
      return;
    }
    this.flood = sensor;
    this.checkFlood();
  }

  private checkFlood(): void {
    const failed = this.flood?.failed;
    if (failed === undefined || failed.size === 0) {
      this.failures.delete('flood');
      return;
    }
    const [name, error] = [...failed][0];
    this.fail(
      sensorFailure(
        'flood',
        'attach',
        new Error(`attach XDP to ${name}: ${error}`),
        [],
        [...failed.keys()].slice(1),
      ),
    );
  }

  /** Applies a new flood configuration live (thresholds, drop list, interfaces); maxSources needs a restart. */
  configureFlood(cfg: FloodConfig): void {
    if (this.flood === undefined) throw new Error('configure flood: flood detection is not running');
    this.flood.configure(cfg);
    this.checkFlood();
    this.notifyDegraded();
  }

  private emitFlood(ev: FloodEvent): void {
    this.emitted++;
    this.byKind[ev.kind] = (this.byKind[ev.kind] ?? 0) + 1;
    this.opts.onFlood?.(ev);
    const line = JSON.stringify(ev);
    this.sink?.push(line);
    this.sink?.flush();
    for (const c of this.streams) {
      if (c.res.writableLength > 16 * 1024 * 1024) this.streamDropped++;
      else c.res.write(`${line}\n`);
    }
  }

  private fail(f: SensorFailure): void {
    this.failures.set(f.sensor, f);
    this.degradedOnce = true;
  }

  /** Tells opts.onDegraded when the degraded status changed (a new failure, or a policy that needs a failed sensor). */
  private notifyDegraded(): void {
    const status = this.degradedStatus();
    const text = status === undefined ? '' : JSON.stringify(status);
    if (text === this.lastDegraded) return;
    this.lastDegraded = text;
    if (status !== undefined) this.opts.onDegraded?.(status);
  }

  /**
   * A rule's attestation with this run's failures on top: a rule is not in
   * force (unsupported, with the failure's reason) when the sensor observing
   * one of its kinds failed and no enforcement backend reports that kind
   * instead, or when it acts and the enforcement sensor failed.
   */
  private attest(p: Policy, r: PolicyRule): Attestation {
    const base: Attestation = this.enforcer?.attestation(p.metadata.name, r.name) ?? {
      state: 'audit',
      backends: [],
      text: 'audit',
      effective: 'audit',
      kinds: [],
    };
    const reasons: string[] = [];
    const enforce = this.failures.get('enforce');
    if (r.action !== 'audit' && this.enforcer === undefined && enforce !== undefined)
      reasons.push(enforce.summary);
    const acting = base.effective !== 'audit' && base.state !== 'unsupported' ? base.kinds : [];
    for (const f of this.failures.values()) {
      const lost = r.kinds.filter((k) => f.kinds.includes(k) && !acting.includes(k));
      // The summary, not the reason: the hint is said once, on the sensor's own line.
      if (lost.length > 0) reasons.push(`${lost.join(', ')} not observed: ${f.summary}`);
    }
    if (reasons.length === 0) return base;
    return failedAttestation(reasons.join('; '));
  }

  private readonly attachedBySensor = new Map<Sensor, string[]>();

  private attachedOf(s: Sensor): string[] {
    return this.attachedBySensor.get(s) ?? [];
  }

  // A sensor whose object cannot load or attach here is reported (degraded), not fatal: the others still run.
  private sensorSetup: { shared: SharedMaps; config: SensorConfig } | undefined;
  private readonly loadedSensors = new Set<string>();

  // A sensor's object is loaded once a policy or rule needs one of its kinds:
  // loading verifies every program it has, which is most of the start-up time.
  private loadSensors(shared: SharedMaps, config: SensorConfig, kinds: ReadonlySet<EventKind>): void {
    for (const make of SENSORS) {
      const sensor = make();
      // The enforcer always loads: attestation and pinned-state adoption need it before any policy.
      const wanted = sensor instanceof EnforceSensor || sensor.kinds.some((k) => kinds.has(k));
      if (this.loadedSensors.has(sensor.name) || !wanted) continue;
      this.loadedSensors.add(sensor.name);
      configureSensor(sensor, this.opts, this.pinned);
      try {
        sensor.load(shared, config);
      } catch (err) {
        sensor.close();
        this.fail(sensorFailure(sensor.name, 'load', err, observed(sensor)));
        continue;
      }
      this.sensors.push(sensor);
      for (const t of sensor.recordTypes) this.byRecordType.set(t, sensor);
    }
  }

  private makeDecodeContext(): DecodeContext {
    return {
      cache: this.cache,
      clock: this.clock,
      node: this.node.name,
      process: (pid, ktime) => this.cache.get(pid, ktime),
      policies: (view, offset) => {
        const slots = this.image?.slots ?? [];
        const matched: RuleSlot[] = [];
        for (let w = 0; w < 8; w++) {
          let word = view.getUint32(offset + w * 4, true);
          while (word !== 0) {
            const bit = 31 - Math.clz32(word & -word);
            const slot = slots[w * 32 + bit];
            if (slot !== undefined) matched.push(slot);
            word &= word - 1;
          }
        }
        this.currentSlots = matched;
        return uniqueNames(matched);
      },
      emit: (ev, ctx) => this.emit(ev, ctx),
    };
  }

  private decodeOther(view: DataView, at: number, type: number): boolean {
    const sensor = this.byRecordType.get(type);
    if (sensor === undefined || this.decodeCtx === undefined) return false;
    this.currentSlots = undefined;
    sensor.decode(view, at, type, this.decodeCtx);
    return true;
  }

  /**
   * Replaces the whole policy set: compile (errors change nothing), attach the
   * programs new kinds need, flip the kernel maps to the new generation, then
   * detach what no policy needs any more — so no policy sees a gap.
   */
  applyPolicies(policies: Policy[]): void {
    const names = new Set<string>();
    for (const p of policies) {
      if (names.has(p.metadata.name))
        throw new Error(`apply policies: policy ${p.metadata.name} given twice`);
      names.add(p.metadata.name);
    }
    const extra = this.opts.rules !== undefined ? rulesPolicy(this.opts.rules.requiredKinds()) : undefined;
    // Selector policies go to the kernel as the cgroup ids of the containers they select.
    const scoped = this.containers?.scope(policies) ?? scopePolicies(policies, () => []);
    const img = compileFilter(extra !== undefined ? [...scoped, extra] : scoped);
    this.containers?.wrap(img);
    // Attestation; throws (nothing changed) for fallback: reject. Without the
    // enforcement sensor nothing can act: every slot audits, and the rules that
    // act attest unsupported with its failure (attest()) instead of refusing,
    // so a broken enforcement object never stops the rest.
    if (this.enforcer !== undefined) this.enforcer.resolve(img, policies);
    else for (const slot of img.slots) slot.action = 'audit';
    const before = this.image?.kinds ?? new Set<EventKind>();
    const union = new Set<EventKind>([...before, ...img.kinds]);
    this.attachAll(union);
    this.writer?.apply(img);
    this.image = img;
    this.policies = policies;
    this.safety.watch(
      policies.map((p) => ({
        name: p.metadata.name,
        safety: p.spec.safety,
        enforcing: p.spec.mode === 'enforce',
      })),
    );
    this.attachAll(img.kinds);
    this.notifyDegraded();
  }

  private attachAll(kinds: ReadonlySet<EventKind>): void {
    if (this.sensorSetup !== undefined)
      this.loadSensors(this.sensorSetup.shared, this.sensorSetup.config, kinds);
    for (const s of [...this.sensors]) {
      const mine = new Set([...kinds].filter((k) => s.kinds.includes(k)));
      let report: AttachReport;
      try {
        report = s.attach(mine);
      } catch (err) {
        this.dropSensor(s, err);
        continue;
      }
      this.attachedBySensor.set(s, report.attached);
      for (const u of report.unsupported) if (!this.unsupported.includes(u)) this.unsupported.push(u);
    }
    // --keep-enforcing: sensors whose own hooks act (file opens) pin them while a policy acts through them.
    if (this.pinned !== undefined && this.enforcer !== undefined) {
      const backends = this.enforcer.activeBackends();
      for (const s of this.sensors) s.keepEnforcing?.(this.pinned, backends);
    }
    // The enforcement sensor keeps running when one of its programs does not attach: degraded, per program.
    const refused = this.enforcer?.attachErrors();
    if (refused !== undefined && refused.size > 0) {
      const [first, ...more] = [...refused.values()];
      this.fail(
        sensorFailure('enforce', 'attach', first, [], more.length > 0 ? [...refused.keys()].slice(1) : []),
      );
    } else if (this.failures.get('enforce')?.stage === 'attach' && this.enforcer !== undefined) {
      this.failures.delete('enforce'); // every program it wants is attached again
    }
  }

  /**
   * A sensor whose programs cannot attach is closed as a whole (a sensor half
   * attached is hard to reason about) and reported like one that did not load.
   */
  private dropSensor(s: Sensor, err: unknown): void {
    s.close();
    this.sensors = this.sensors.filter((x) => x !== s);
    for (const [type, owner] of this.byRecordType) if (owner === s) this.byRecordType.delete(type);
    this.attachedBySensor.delete(s);
    if (s === this.enforcer) this.enforcer = undefined;
    this.fail(sensorFailure(s.name, 'attach', err, observed(s)));
  }

  /** Adds or replaces one policy by name. */
  /**
   * Replaces the detection rules (a reloaded ruleset; undefined: none) and
   * re-applies the policies, so the kernel's rules policy follows the new
   * rules' kinds. Throws, changing nothing, when that re-apply is refused.
   */
  replaceRules(rules: RuleSet | undefined): void {
    const before = this.opts.rules;
    this.opts.rules = rules;
    try {
      this.applyPolicies(this.policies);
    } catch (err) {
      this.opts.rules = before;
      throw err;
    }
  }

  applyPolicy(policy: Policy): void {
    const rest = this.policies.filter((p) => p.metadata.name !== policy.metadata.name);
    this.applyPolicies([...rest, policy]);
  }

  /**
   * Switches one policy between enforce and monitor: the same policy applied
   * again with the other mode, which the compiler's generation flip makes live
   * as a map update (no program is loaded or attached). False when there is
   * no such policy; true when it is (now) in that mode.
   */
  setPolicyMode(name: string, mode: Policy['spec']['mode']): boolean {
    const p = this.policies.find((x) => x.metadata.name === name);
    if (p === undefined) return false;
    if (p.spec.mode === mode) return true;
    this.applyPolicies(this.policies.map((x) => (x === p ? { ...p, spec: { ...p.spec, mode } } : x)));
    return true;
  }

  /** The safety net fired: the policy goes back to monitor, said on stderr and as a CRITICAL alert. */
  private rollBack(rb: Rollback, ev: PeregrineEvent): void {
    const p = this.policies.find((x) => x.metadata.name === rb.policy);
    if (p === undefined || p.spec.mode !== 'enforce') return;
    const what =
      `policy ${rb.policy} rolled back to monitor: ${rb.denials} actions taken within ` +
      `${rb.windowMs / 1000}s (spec.safety.maxDenials ${rb.maxDenials})`;
    try {
      this.setPolicyMode(rb.policy, 'monitor');
    } catch (err) {
      process.stderr.write(
        `peregrine: ${what} failed: ${err instanceof Error ? err.message : String(err)}\n`,
      );
      return;
    }
    process.stderr.write(`peregrine: ${what}\n`);
    this.emitAlert({
      time: ev.time,
      node: ev.node,
      kind: 'alert',
      rule: 'Policy rolled back',
      priority: 'CRITICAL',
      tags: ['peregrine', 'policy', 'safety'],
      output: what,
      source_event: ev,
    });
    this.sink?.flush();
  }

  /** Removes a policy by name; false when there is none. */
  deletePolicy(name: string): boolean {
    const rest = this.policies.filter((p) => p.metadata.name !== name);
    if (rest.length === this.policies.length) return false;
    this.applyPolicies(rest);
    return true;
  }

  /**
   * Parses a policy file's text (opts.parsePolicies) and adds or replaces its
   * policies, all or nothing; throws the loader's or compiler's error,
   * changing nothing. Says which of the rules applied a failed sensor keeps
   * out of force.
   */
  applyPolicyText(
    text: string,
    file: string,
  ): { applied: string[]; not_in_force: DegradedStatus['policy_rules'] } {
    const parse = this.opts.parsePolicies;
    if (parse === undefined) throw new Error('this agent cannot parse policy files');
    const parsed = parse(text, file);
    const names = new Set(parsed.map((p) => p.metadata.name));
    this.applyPolicies([...this.policies.filter((p) => !names.has(p.metadata.name)), ...parsed]);
    const notInForce = (this.degradedStatus()?.policy_rules ?? []).filter((r) => names.has(r.policy));
    return { applied: [...names], not_in_force: notInForce };
  }

  /** Whether this agent can parse policy text (applyPolicyText). */
  get parsesPolicies(): boolean {
    return this.opts.parsePolicies !== undefined;
  }

  /** Containers seen so far with their pods and the selector policies covering them. */
  listContainers(): ContainerListing[] {
    return this.containers?.list() ?? [];
  }

  /** Adds a consumer of events and alerts; returns its unsubscribe. */
  subscribe(s: AgentSubscriber): () => void {
    this.subscribers = [...(this.subscribers ?? []), s];
    return () => {
      const rest = (this.subscribers ?? []).filter((x) => x !== s);
      this.subscribers = rest.length > 0 ? rest : null;
    };
  }

  policyStatus(): PolicyStatus[] {
    const counted = this.enforcer?.ruleCounts() ?? [];
    return this.policies.map((p) => {
      const atts = p.spec.rules.map((r) => this.attest(p, r));
      return {
        name: p.metadata.name,
        mode: p.spec.mode,
        kinds: [...new Set(p.spec.rules.flatMap((r) => r.kinds))],
        rules: p.spec.rules.map((r, i) => {
          const slot = this.image?.slots.find((s) => s.policy === p.metadata.name && s.rule === r.name);
          const counts = counted.find((c) => c.policy === p.metadata.name && c.rule === r.name);
          return {
            name: r.name,
            kinds: r.kinds,
            action: r.action,
            user_check: slot?.userCheck !== undefined,
            enforcement: atts[i].text,
            actions: counts !== undefined ? { taken: counts.taken, would: counts.would } : undefined,
          };
        }),
        enforcement: policyState(atts),
        source: p.source.file,
        matches: this.policyHits.get(p.metadata.name) ?? 0,
        safety: safetyStatus(this.safety.state(p.metadata.name, p.spec.safety, Date.now())),
      };
    });
  }

  private emit(ev: PeregrineEvent, ctx: EventContext): void {
    // Container and pod; a selector policy's event may wait (bounded) for its container's metadata.
    if (this.containers?.enrich(ev, ctx, this.currentSlots) === true) return;
    const slots = this.currentSlots;
    if (slots !== undefined && ev.policy !== undefined) {
      // The kernel decided every dimension it can; globs and argv are checked here.
      let kept = slots;
      if (slots.some((s) => s.userCheck !== undefined)) {
        kept = slots.filter((s) => s.userCheck === undefined || s.userCheck(ev));
        if (kept.length === 0) {
          this.userFiltered++;
          return;
        }
        const names = uniqueNames(kept);
        ev.policy = { name: names[0], names };
      }
      // A rule the enforcement sensor acts on is reported once, by its enforcement record.
      const enforcer = this.enforcer;
      if (enforcer !== undefined && ev.action === undefined && kept.some((s) => enforcer.owns(s, ev.kind))) {
        kept = kept.filter((s) => !enforcer.owns(s, ev.kind));
        if (kept.length === 0) return;
        const names = uniqueNames(kept);
        ev.policy = { name: names[0], names };
      }
      for (const name of uniqueNames(kept)) this.policyHits.set(name, (this.policyHits.get(name) ?? 0) + 1);
    }
    const taken = ev.action?.taken;
    if (taken === 'deny' || taken === 'kill' || taken === 'signal') this.countAction(ev);
    this.emitted++;
    this.byKind[ev.kind] = (this.byKind[ev.kind] ?? 0) + 1;
    ctx.process.events++;
    if (this.opts.ancestors === true) {
      ctx.ancestors = this.cache.ancestors(ctx.process);
      ev.ancestors = ctx.ancestors.map((e) => e.info);
    }
    this.opts.onEvent?.(ev, ctx);
    let jsonLine: string | undefined;
    // Events only the rules' own policy selected feed the rules; they are not printed.
    const internal = ev.policy !== undefined && onlyRulesPolicy(ev);
    const print = this.opts.onlyAlerts !== true && !internal;
    if (print && this.sink !== undefined) {
      if (this.opts.output === 'compact') this.sink.push(encodeCompact(ev));
      else {
        jsonLine = this.json.encode(ev, ctx);
        this.sink.push(jsonLine);
      }
    }
    // One JSON encoding shared by stdout and every output.
    if (print && this.opts.outputs !== undefined) {
      jsonLine ??= this.json.encode(ev, ctx);
      this.opts.outputs.offer({ kind: ev.kind, line: jsonLine, value: ev });
    }
    const subs = this.subscribers;
    if (subs !== null && !internal) {
      const json = () => {
        if (jsonLine === undefined) jsonLine = this.json.encode(ev, ctx);
        return jsonLine;
      };
      for (let i = 0; i < subs.length; i++) subs[i].event?.(ev, ctx, json);
    }
    const rules = this.opts.rules;
    if (rules !== undefined) {
      const found = rules.evaluate(ev);
      for (let i = 0; i < found.length; i++) for (const a of this.collapser.add(found[i])) this.emitAlert(a);
    }
  }

  /** An action the kernel took: counted against each acting policy's safety net. */
  private countAction(ev: PeregrineEvent): void {
    const names = ev.policy?.names ?? (ev.policy !== undefined ? [ev.policy.name] : []);
    const now = Date.now();
    for (const name of names) {
      const rb = this.safety.record(name, now);
      // Not from inside emit(): the rollback re-applies policies, which touches the kernel maps.
      if (rb !== undefined) setImmediate(() => this.rollBack(rb, ev));
    }
  }

  /** Probes what this kernel can enforce (once per process) and wires tamper alerts. */
  private async startEnforcement(): Promise<void> {
    this.enforcer = this.sensors.find((s): s is EnforceSensor => s instanceof EnforceSensor);
    if (this.enforcer === undefined) return;
    this.enforcer.useFeatures(await probeOnce());
    this.enforcer.onTamper = (ev, what, ctx) => {
      this.emitAlert({
        time: ev.time,
        node: ev.node,
        kind: 'alert',
        rule: 'Agent tampering',
        priority: 'CRITICAL',
        tags: ['peregrine', 'self-protection'],
        output: what,
        source_event: ev,
      });
      void ctx;
    };
  }

  private emitAlert(alert: Alert): void {
    this.alerts++;
    this.opts.onAlert?.(alert);
    // One JSON encoding shared by stdout, every output and every subscriber.
    const compact = this.opts.output === 'compact';
    const subs = this.subscribers;
    const needJson =
      (this.sink !== undefined && !compact) || this.opts.outputs !== undefined || subs !== null;
    const json = needJson ? encodeAlert(alert) : '';
    if (this.sink !== undefined) this.sink.push(compact ? encodeAlertCompact(alert) : json);
    this.opts.outputs?.offer({ kind: 'alert', line: json, value: alert });
    if (subs !== null) for (let i = 0; i < subs.length; i++) subs[i].alert?.(alert, json);
  }

  private streamAlert(alert: Alert, json: string): void {
    for (const c of this.streams) {
      if (c.res.writableLength > 16 * 1024 * 1024) this.streamDropped++;
      else c.res.write(`${c.compact ? encodeAlertCompact(alert) : json}\n`);
    }
  }

  private stream(ev: PeregrineEvent, json: () => string): void {
    // The stream shows what stdout would: with --only-alerts, alerts only.
    if (this.opts.onlyAlerts === true) return;
    for (const c of this.streams) {
      if (!c.filter(ev)) continue;
      // A reader that falls behind loses lines (counted) instead of growing our memory.
      if (c.res.writableLength > 16 * 1024 * 1024) {
        this.streamDropped++;
        continue;
      }
      const line = c.compact ? encodeCompact(ev) : json();
      c.res.write(`${line}\n`);
    }
  }

  private routes(control: ControlServer): void {
    control.route('GET', '/v1/ping', (_req, res) => sendJson(res, 200, { ok: true }));
    control.route('GET', '/v1/status', (_req, res) => sendJson(res, 200, this.stats()));
    control.route('GET', '/v1/policies', (_req, res) => sendJson(res, 200, this.policyStatus()));
    control.route('GET', '/v1/containers', (_req, res) => sendJson(res, 200, this.containers?.list() ?? []));
    control.route('POST', '/v1/policies', async (req, res, url) => {
      const text = await readBody(req);
      if (!this.parsesPolicies) return sendJson(res, 501, { error: 'this agent cannot parse policy files' });
      try {
        // Rules of these policies that a failed sensor keeps out of force: the caller is told at once.
        sendJson(res, 200, this.applyPolicyText(text, url.searchParams.get('file') ?? 'request'));
      } catch (err) {
        sendJson(res, 400, { error: err instanceof Error ? err.message : String(err) });
      }
    });
    control.route('POST', '/v1/policies/mode', (_req, res, url) => {
      const name = url.searchParams.get('name') ?? '';
      const mode = url.searchParams.get('mode');
      if (mode !== 'enforce' && mode !== 'monitor')
        return sendJson(res, 400, { error: `mode must be enforce or monitor, got ${mode ?? 'nothing'}` });
      try {
        if (!this.setPolicyMode(name, mode)) return sendJson(res, 404, { error: `no policy named ${name}` });
      } catch (err) {
        return sendJson(res, 400, { error: err instanceof Error ? err.message : String(err) });
      }
      const notInForce = (this.degradedStatus()?.policy_rules ?? []).filter((r) => r.policy === name);
      sendJson(res, 200, { name, mode, not_in_force: notInForce });
    });
    control.route('DELETE', '/v1/policies', (_req, res, url) => {
      const name = url.searchParams.get('name') ?? '';
      if (!this.deletePolicy(name)) return sendJson(res, 404, { error: `no policy named ${name}` });
      sendJson(res, 200, { deleted: name });
    });
    control.route('GET', '/v1/events', (req, res, url) => {
      const kinds = url.searchParams.getAll('kind');
      const pid = url.searchParams.get('pid');
      const policy = url.searchParams.get('policy');
      const inContainer = containerFilter(url.searchParams.get('container'), url.searchParams.get('pod'));
      const filter = (ev: PeregrineEvent) =>
        (kinds.length === 0 || kinds.some((k) => ev.kind === k || ev.kind.startsWith(`${k}.`))) &&
        (pid === null || ev.process.pid === Number(pid)) &&
        (policy === null || ev.policy?.names?.includes(policy) === true || ev.policy?.name === policy) &&
        (inContainer === undefined || inContainer(ev));
      const client: StreamClient = { res, compact: url.searchParams.get('output') === 'compact', filter };
      res.writeHead(200, { 'content-type': 'application/x-ndjson' });
      res.flushHeaders();
      this.streams.add(client);
      this.streamSubscription ??= this.subscribe({
        event: (ev, _ctx, json) => this.stream(ev, json),
        alert: (alert, json) => this.streamAlert(alert, json),
      });
      req.on('close', () => {
        this.streams.delete(client);
        if (this.streams.size > 0) return;
        this.streamSubscription?.();
        this.streamSubscription = undefined;
      });
    });
  }

  stats(): AgentStats {
    const statsMap = this.process !== undefined ? safe(() => this.process?.map('pg_stats')) : undefined;
    const sensors: AgentStats['sensors'] = { process: this.process?.stats() ?? ProcessSensor.emptyStats() };
    for (const s of this.sensors) sensors[s.name] = statsMap !== undefined ? s.stats(statsMap) : {};
    if (this.flood !== undefined)
      sensors.flood = { ...this.flood.stats(), dropped_by_source: this.flood.dropsBySource() };
    return {
      uptime_s: Math.round((Date.now() - this.startedAt) / 1000),
      events: { emitted: this.emitted, by_kind: { ...this.byKind }, user_filtered: this.userFiltered },
      sensors,
      cache: this.cache.stats(),
      policies: this.policies.map((p) => ({
        name: p.metadata.name,
        matches: this.policyHits.get(p.metadata.name) ?? 0,
      })),
      rules:
        this.opts.rules !== undefined
          ? { alerts: this.alerts, collapser: this.collapser.stats(), engine: this.opts.rules.stats() }
          : undefined,
      sinks: {
        stdout: this.sink?.stats(),
        streams: { clients: this.streams.size, dropped: this.streamDropped },
        outputs: this.opts.outputs?.stats(),
      },
      containers: this.containers?.stats(),
      api: this.api?.stats(),
      health: this.failures.size > 0 ? 'degraded' : 'ok',
      degraded: this.degradedStatus(),
    };
  }

  /** Detaches every program, closes every handle, flushes the sinks; returns the final counters. */
  async stop(): Promise<AgentStats> {
    if (this.sweepTimer !== undefined) clearInterval(this.sweepTimer);
    this.sweepTimer = undefined;
    this.process?.drain();
    for (const a of this.collapser.flush()) this.emitAlert(a);
    this.sink?.flush();
    await this.opts.outputs?.close(this.opts.outputsCloseMs ?? 5000);
    const stats = this.stats();
    for (const c of this.streams) c.res.end();
    this.streams.clear();
    await this.api?.close();
    this.api = undefined;
    await this.control?.close();
    this.control = undefined;
    for (const s of this.sensors) s.close();
    this.sensors = [];
    this.flood?.close();
    this.flood = undefined;
    this.enforcer = undefined;
    this.process?.close();
    this.pinned?.close();
    this.pinned = undefined;
    this.process = undefined;
    this.containers?.close();
    this.containers = undefined;
    await this.sink?.close();
    return stats;
  }
}

/** The kinds only this sensor observes (none for the enforcement sensor: it acts, the others observe). */
function observed(s: Sensor): EventKind[] {
  return s instanceof EnforceSensor ? [] : [...s.kinds];
}

/**
 * The process sensor is the one the agent cannot run without: its failure
 * stops the start with one line saying which kernel features are missing
 * (from the probes) or, when none is, what the kernel said and a hint.
 */
async function fatal(stage: 'load' | 'attach', err: unknown): Promise<Error> {
  const features = await probeOnce().catch(() => undefined);
  return new Error(processFailure(stage, err, features), { cause: err });
}

function onlyRulesPolicy(ev: PeregrineEvent): boolean {
  const names = ev.policy?.names;
  return names !== undefined
    ? names.length === 1 && names[0] === RULES_POLICY
    : ev.policy?.name === RULES_POLICY;
}

function safetyStatus(s: ReturnType<SafetyNet['state']>): PolicyStatus['safety'] {
  if (s === undefined) return undefined;
  const out: NonNullable<PolicyStatus['safety']> = {
    max_denials: s.maxDenials,
    window_s: s.windowMs / 1000,
    recent: s.recent,
    total: s.total,
  };
  if (s.rolledBack !== undefined)
    out.rolled_back = {
      at: new Date(s.rolledBack.at).toISOString(),
      denials: s.rolledBack.denials,
      window_s: s.rolledBack.windowMs / 1000,
    };
  return out;
}

function uniqueNames(slots: readonly RuleSlot[]): string[] {
  const out: string[] = [];
  for (const s of slots) if (!out.includes(s.policy)) out.push(s.policy);
  return out;
}

function safe<T>(fn: () => T): T | undefined {
  try {
    return fn();
  } catch {
    return undefined;
  }
}

/** Inode of one of this process's namespaces (the host's, for the agent). */
function nsInode(name: 'mnt' | 'pid'): number {
  try {
    const link = readlinkSync(`/proc/self/ns/${name}`);
    const m = /\[(\d+)\]/.exec(link);
    return m !== null ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

async function readBody(req: IncomingMessage): Promise<string> {
  let text = '';
  req.setEncoding('utf8');
  for await (const chunk of req) {
    text += chunk;
    if (text.length > 16 * 1024 * 1024) throw new Error('request body over 16 MiB');
  }
  return text;
}
