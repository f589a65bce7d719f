// SPDX-License-Identifier: Apache-2.0
// Complexity budgets of the kernel programs (like the kernel's veristat): loads
// every kernel object of the agent the way the agent does — the process object
// first, the sensor objects on its shared maps, the feature probes, the BPF-LSM
// object where the kernel has BPF-LSM — with the same consts, and prints the
// verifier's numbers per program. `--check FILE` compares them with a budget
// file (bpf/budget.json, format in docs/kernels.md) and exits 1 naming every
// program over budget or missing from it and every object that failed to load.
//
//   node dist/scripts/verifier-stats.js [--json] [--check FILE] [--write-budget FILE]
//
// Needs root (or CAP_BPF + CAP_PERFMON) and BTF, like the agent.
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { release } from 'node:os';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { configureSensor, kernelSettings, sharedMaps } from '../src/agent.js';
import { capabilitiesOf } from '../src/enforce/attest.js';
import { EnforceSensor } from '../src/enforce/index.js';
import {
  BpfObject,
  KernelError,
  type LoadReport,
  NotSupportedError,
  type ProgramStats,
  probeFeatures,
  VerifierError,
} from '../src/kernel/index.js';
import { ProcessCache } from '../src/process/cache.js';
import { KernelClock, nodeIdentity } from '../src/process/identity.js';
import { objectPath } from '../src/sensors/paths.js';
import { ProcessSensor } from '../src/sensors/process/sensor.js';
import { SENSORS } from '../src/sensors/registry.js';
import type { Sensor, SharedMaps } from '../src/sensors/sensor.js';

/**
 * Every budget entry stays within these: a quarter of the verifier's 1M
 * instructions leaves room for older verifiers, which explore more states
 * than 6.18's, and 384 of the 512 stack bytes leave room for a helper call
 * chain that grows.
 */
export const CAPS = { processedInsns: 250_000, combinedStack: 384 } as const;

/** Headroom over the measured numbers when writing a budget file. */
export const HEADROOM = 1.25;
/**
 * The least headroom, whatever the size: 25% of a 64-byte frame or of a
 * 300-instruction program is less than an unrelated one-line change moves it.
 */
export const MIN_HEADROOM = { processedInsns: 1000, combinedStack: 64 };

/** A budget entry's value for a measurement: plus HEADROOM (at least MIN_HEADROOM), capped. */
function withHeadroom(n: number, field: keyof typeof MIN_HEADROOM): number {
  return Math.min(Math.max(Math.ceil(n * HEADROOM), n + MIN_HEADROOM[field]), CAPS[field]);
}

export type ProgramStatus = 'ok' | 'failed' | 'skipped' | 'unverified';

export interface ProgramResult {
  object: string;
  program: string;
  /**
   * ok: verified and loaded; failed: the verifier (or the kernel) rejected it;
   * skipped: this kernel cannot load it for a known reason, or the agent does
   * not load it here; unverified: its object's load stopped at another program.
   */
  status: ProgramStatus;
  /** Why, for every status but ok. */
  reason?: string;
  /** The verifier's numbers where it got that far (ok, and failed programs it walked). */
  stats?: ProgramStats;
}

export interface ObjectResult {
  object: string;
  /** How many times the agent loads it (the feature probes load one program at a time). */
  loads: number;
  /** Wall time of all its loads. */
  loadMs: number;
  /** Loads that failed for an unknown reason: the message and the verifier's summary. */
  failures: string[];
  /** Loads the kernel cannot do for a known reason (hook kind unsupported here). */
  unsupported: string[];
  /** Why the agent does not load it here at all (loads is 0). */
  skipped?: string;
}

export interface Measurement {
  /** uname -r */
  kernel: string;
  objects: ObjectResult[];
  programs: ProgramResult[];
  /** How this run deviated from the agent (e.g. shared maps from a program-less process object). */
  notes: string[];
}

/** Objects the agent loads only under a condition, with the reason when it does not here. */
interface Skip {
  object: string;
  reason: string;
}

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/**
 * Turns the load reports (one per load, in order) into one result per program
 * and per object. `all` lists every program of every object file, so programs
 * no load reported (objects the agent never loaded here) are still listed.
 */
export function summarize(
  kernel: string,
  reports: readonly LoadReport[],
  all: ReadonlyMap<string, readonly string[]>,
  skips: readonly Skip[],
  notes: string[] = [],
): Measurement {
  const objects = new Map<string, ObjectResult>();
  const programs = new Map<string, ProgramResult>();
  const key = (o: string, p: string) => `${o}/${p}`;
  const autoloadOff = new Set<string>();
  for (const r of reports) {
    let obj = objects.get(r.object);
    if (obj === undefined) {
      obj = { object: r.object, loads: 0, loadMs: 0, failures: [], unsupported: [] };
      objects.set(r.object, obj);
    }
    obj.loads++;
    obj.loadMs += r.stats.loadMs;
    const err = r.error;
    const failed = err instanceof KernelError ? err.program : undefined;
    if (err instanceof NotSupportedError) obj.unsupported.push(`${err.program ?? r.object}: ${err.reason}`);
    else if (err !== undefined) obj.failures.push(message(err));
    const stats = new Map(r.stats.programs.map((s) => [s.name, s]));
    for (const p of r.programs) {
      const k = key(r.object, p.name);
      // A program the agent loads in one of several loads (the probes) keeps that load's result.
      if (programs.has(k) && !autoloadOff.has(k)) continue;
      if (!p.autoload) {
        if (!programs.has(k)) {
          autoloadOff.add(k);
          programs.set(k, {
            object: r.object,
            program: p.name,
            status: 'skipped',
            reason: 'the agent does not load it on this kernel (autoload off)',
          });
        }
        continue;
      }
      autoloadOff.delete(k);
      const base = { object: r.object, program: p.name, stats: stats.get(p.name) };
      let result: ProgramResult;
      if (err === undefined || (p.name !== failed && base.stats !== undefined)) {
        // Loaded; or verified and loaded before another program of the object was rejected.
        result = { ...base, status: 'ok' };
      } else if (err instanceof NotSupportedError) {
        // The whole object cannot load here: its other programs go with the unsupported one.
        const reason = p.name === failed ? err.reason : `${failed ?? r.object}: ${err.reason}`;
        result = { ...base, status: 'skipped', reason };
      } else if (p.name === failed) {
        result = {
          ...base,
          status: 'failed',
          reason: err instanceof VerifierError ? err.summary : message(err),
        };
      } else {
        result = {
          object: r.object,
          program: p.name,
          status: 'unverified',
          reason:
            failed !== undefined
              ? `the load stopped at ${failed}`
              : `the load failed before the verifier: ${message(err)}`,
        };
      }
      programs.set(k, result);
    }
  }
  for (const [object, names] of all) {
    const skip = skips.find((s) => s.object === object);
    if (!objects.has(object))
      objects.set(object, {
        object,
        loads: 0,
        loadMs: 0,
        failures: [],
        unsupported: [],
        skipped: skip?.reason ?? 'the agent did not load it on this kernel',
      });
    for (const name of names) {
      if (programs.has(key(object, name))) continue;
      programs.set(key(object, name), {
        object,
        program: name,
        status: 'skipped',
        reason: skip?.reason ?? 'the agent did not load this object on this kernel',
      });
    }
  }
  return { kernel, objects: [...objects.values()], programs: [...programs.values()], notes };
}

/** Program names of every compiled object of the agent (build/bpf/*.bpf.o), by object name. */
export function objectFiles(): Map<string, string[]> {
  const dir = join(objectPath('process'), '..');
  const out = new Map<string, string[]>();
  for (const f of readdirSync(dir).sort()) {
    if (!f.endsWith('.bpf.o')) continue;
    const obj = BpfObject.open(join(dir, f));
    try {
      out.set(
        obj.name,
        obj.programs().map((p) => p.name),
      );
    } finally {
      obj.close();
    }
  }
  return out;
}

/** The process object with no program: only its maps, for the other objects to share. */
function mapsOnlyProcessObject(settings: ReturnType<typeof kernelSettings>): BpfObject {
  const obj = BpfObject.open(objectPath('process'));
  try {
    obj.setMaxEntries('pg_events', settings.ringBytes);
    obj.setMaxEntries('pg_execs', settings.execsMax);
    for (const p of obj.programs()) obj.setAutoload(p.name, false);
    obj.load();
  } catch (e) {
    obj.close();
    throw e;
  }
  return obj;
}

/**
 * Loads every object as Agent.start() does with its default options, every
 * sensor as if every kind were wanted, and returns the verifier's numbers.
 * Everything is closed before it returns.
 */
export async function measure(): Promise<Measurement> {
  const settings = kernelSettings({});
  const reports: LoadReport[] = [];
  const notes: string[] = [];
  const skips: Skip[] = [];
  let listening = true;
  const stop = BpfObject.observeLoads((r) => {
    if (listening) reports.push(r);
  });
  const loaded: Sensor[] = [];
  let fallback: BpfObject | undefined;
  const processSensor = new ProcessSensor({
    cache: new ProcessCache({ node: nodeIdentity(), clock: new KernelClock() }),
    clock: new KernelClock(),
    node: 'verifier-stats',
    ringBytes: settings.ringBytes,
    wakeupBytes: settings.config.wakeupBytes,
    pollIntervalMs: 50,
    execsMax: settings.execsMax,
    emit: () => {},
    flush: () => {},
  });
  try {
    let shared: SharedMaps;
    try {
      processSensor.load();
      shared = sharedMaps(processSensor);
    } catch {
      // The agent stops here; the budget tool goes on to measure the other objects.
      processSensor.close();
      listening = false;
      fallback = mapsOnlyProcessObject(settings);
      listening = true;
      shared = sharedMaps(fallback);
      notes.push('process object failed to load: the other objects share the maps of a program-less copy');
    }
    for (const make of SENSORS) {
      const sensor = make();
      configureSensor(sensor, {}, undefined);
      try {
        sensor.load(shared, settings.config);
        loaded.push(sensor);
      } catch {
        sensor.close(); // reported through the load observer
      }
    }
    // The flood object (XDP) shares no map: the agent loads it alone when `flood` is configured.
    const flood = BpfObject.open(objectPath('flood'));
    try {
      flood.load();
    } catch {
      // reported through the load observer
    } finally {
      flood.close();
    }
    // What the agent's probeOnce() runs, but never its cached result: these loads are measured.
    const features = await probeFeatures();
    const caps = capabilitiesOf(features);
    const enforcer = loaded.find((s): s is EnforceSensor => s instanceof EnforceSensor);
    if (!caps.lsm) skips.push({ object: 'enforce_lsm', reason: caps.lsmReason });
    else if (enforcer === undefined)
      skips.push({ object: 'enforce_lsm', reason: 'loaded after the enforce object, which did not load' });
    else enforcer.useFeatures(features);
  } finally {
    stop();
    for (const s of loaded) s.close();
    processSensor.close();
    fallback?.close();
  }
  return summarize(release(), reports, objectFiles(), skips, notes);
}

export interface BudgetEntry {
  processedInsns: number;
  combinedStack: number;
}

/** bpf/budget.json: the kernel it was measured on, and per object per program its limits. */
export interface BudgetFile {
  measuredOn: string;
  objects: Record<string, Record<string, BudgetEntry>>;
}

export interface CheckResult {
  ok: boolean;
  /** Each a line naming the object/program and what is wrong. */
  errors: string[];
  warnings: string[];
}

function isEntry(v: unknown): v is BudgetEntry {
  const e = v as Partial<BudgetEntry> | null;
  return (
    typeof e === 'object' &&
    e !== null &&
    Number.isInteger(e.processedInsns) &&
    Number.isInteger(e.combinedStack) &&
    (e.processedInsns ?? -1) >= 0 &&
    (e.combinedStack ?? -1) >= 0
  );
}

/** Compares a measurement with a budget file; ok only when no program is over, missing or failed. */
export function check(m: Measurement, budget: BudgetFile): CheckResult {
  const errors: string[] = [];
  const warnings: string[] = [];
  const entries = new Map<string, BudgetEntry>();
  for (const [object, progs] of Object.entries(budget.objects ?? {})) {
    for (const [program, entry] of Object.entries(progs)) {
      const name = `${object}/${program}`;
      if (!isEntry(entry)) {
        errors.push(
          `${name}: budget entry must be { processedInsns, combinedStack } as non-negative integers`,
        );
        continue;
      }
      if (entry.processedInsns > CAPS.processedInsns)
        errors.push(
          `${name}: budget of ${entry.processedInsns} insns is over the cap of ${CAPS.processedInsns}`,
        );
      if (entry.combinedStack > CAPS.combinedStack)
        errors.push(
          `${name}: budget of ${entry.combinedStack} stack bytes is over the cap of ${CAPS.combinedStack}`,
        );
      entries.set(name, entry);
    }
  }
  const present = new Set<string>();
  for (const p of m.programs) {
    const name = `${p.object}/${p.program}`;
    present.add(name);
    const entry = entries.get(name);
    if (entry === undefined) {
      errors.push(`${name}: missing from the budget file`);
      continue;
    }
    if (p.status !== 'ok') continue;
    const insns = p.stats?.processedInsns ?? null;
    const stack = p.stats?.combinedStack ?? null;
    if (insns === null) warnings.push(`${name}: the kernel gave no instruction count; not checked`);
    else if (insns > entry.processedInsns)
      errors.push(`${name}: processed ${insns} insns, over its budget of ${entry.processedInsns}`);
    if (stack === null) warnings.push(`${name}: the kernel gave no stack depths; stack not checked`);
    else if (stack > entry.combinedStack)
      errors.push(`${name}: combined stack ${stack} bytes, over its budget of ${entry.combinedStack}`);
  }
  // The failure names the rejected program and carries the verifier's summary.
  for (const o of m.objects)
    for (const f of o.failures) errors.push(`object ${o.object} failed to load: ${f}`);
  for (const name of entries.keys())
    if (!present.has(name)) warnings.push(`${name}: in the budget file but in no object (stale entry)`);
  return { ok: errors.length === 0, errors, warnings };
}

/**
 * A budget from a measurement: measured numbers plus HEADROOM (at least MIN_HEADROOM), capped; programs
 * not measured here keep their entry in `previous`, else get the caps.
 */
export function budgetFrom(m: Measurement, previous?: BudgetFile, merge = false): BudgetFile {
  const objects: BudgetFile['objects'] = {};
  for (const p of m.programs) {
    const insns = p.status === 'ok' ? (p.stats?.processedInsns ?? null) : null;
    const stack = p.status === 'ok' ? (p.stats?.combinedStack ?? null) : null;
    const old = previous?.objects?.[p.object]?.[p.program];
    // --merge: the budget must hold on every kernel measured so far, so the larger entry stays.
    // An entry at both caps is the placeholder of a program never measured, not a measurement.
    const placeholder =
      old !== undefined &&
      old.processedInsns === CAPS.processedInsns &&
      old.combinedStack === CAPS.combinedStack;
    const keep = (fresh: number, was: number | undefined): number =>
      merge && was !== undefined && !placeholder ? Math.max(fresh, was) : fresh;
    objects[p.object] ??= {};
    objects[p.object][p.program] = {
      processedInsns:
        insns !== null
          ? keep(withHeadroom(insns, 'processedInsns'), old?.processedInsns)
          : (old?.processedInsns ?? CAPS.processedInsns),
      combinedStack:
        stack !== null
          ? keep(withHeadroom(stack, 'combinedStack'), old?.combinedStack)
          : (old?.combinedStack ?? CAPS.combinedStack),
    };
  }
  if (merge && previous !== undefined) {
    for (const [object, progs] of Object.entries(previous.objects)) {
      objects[object] ??= {};
      for (const [program, e] of Object.entries(progs)) objects[object][program] ??= e;
    }
    const kernels = new Set([...previous.measuredOn.split(', '), m.kernel]);
    return { measuredOn: [...kernels].join(', '), objects };
  }
  return { measuredOn: m.kernel, objects };
}

/** The budget file's text: one line per program, so a diff shows which budget moved. */
export function formatBudget(b: BudgetFile): string {
  const objects = Object.entries(b.objects).map(([object, progs]) => {
    const lines = Object.entries(progs).map(
      ([program, e]) =>
        `      ${JSON.stringify(program)}: ${JSON.stringify(e)
          .replace(/([{:,])/g, '$1 ')
          .replace(/}$/, ' }')}`,
    );
    return `    ${JSON.stringify(object)}: {\n${lines.join(',\n')}\n    }`;
  });
  return `{\n  "measuredOn": ${JSON.stringify(b.measuredOn)},\n  "objects": {\n${objects.join(',\n')}\n  }\n}\n`;
}

function cell(v: number | null | undefined): string {
  return v === null || v === undefined ? '-' : String(v);
}

/** The text report: kernel line, one line per program, one per object. */
export function render(m: Measurement): string {
  const lines = [`kernel ${m.kernel} (uname -r)`];
  const rows = [['object', 'program', 'insns', 'stack', 'time_us', 'status']];
  for (const p of m.programs) {
    const s = p.stats;
    rows.push([
      p.object,
      p.program,
      cell(s?.processedInsns),
      cell(s?.combinedStack),
      cell(s?.verifyTimeUs),
      p.status === 'ok' ? 'ok' : `${p.status}: ${p.reason ?? ''}`,
    ]);
  }
  const widths = [0, 1, 2, 3, 4].map((i) => Math.max(...rows.map((r) => r[i].length)));
  for (const r of rows) {
    lines.push(
      [
        r[0].padEnd(widths[0]),
        r[1].padEnd(widths[1]),
        r[2].padStart(widths[2]),
        r[3].padStart(widths[3]),
        r[4].padStart(widths[4]),
        r[5],
      ].join('  '),
    );
  }
  lines.push('');
  for (const o of m.objects) {
    let state = 'loaded';
    if (o.loads === 0) state = `skipped: ${o.skipped ?? 'not loaded'}`;
    else if (o.failures.length > 0) state = `FAILED: ${o.failures.join('; ')}`;
    else if (o.unsupported.length > 0)
      state = `${o.loads - o.unsupported.length} of ${o.loads} loaded; not supported here: ${o.unsupported.join('; ')}`;
    lines.push(
      `object ${o.object}: ${o.loads} load${o.loads === 1 ? '' : 's'}, ${o.loadMs.toFixed(1)} ms, ${state}`,
    );
  }
  for (const n of m.notes) lines.push(`note: ${n}`);
  return `${lines.join('\n')}\n`;
}

/** "N programs, max X insns (object/program), max Y B stack (object/program)": the kernel's line in the matrix. */
export function largest(m: Measurement): string {
  const ok = m.programs.filter((p) => p.status === 'ok' && p.stats !== undefined);
  let insns = { n: 0, at: '-' };
  let stack = { n: 0, at: '-' };
  for (const p of ok) {
    const i = p.stats?.processedInsns ?? 0;
    const s = p.stats?.combinedStack ?? 0;
    if (i > insns.n) insns = { n: i, at: `${p.object}/${p.program}` };
    if (s > stack.n) stack = { n: s, at: `${p.object}/${p.program}` };
  }
  return `${ok.length} programs, max ${insns.n} insns (${insns.at}), max ${stack.n} B stack (${stack.at})`;
}

function usage(): string {
  return 'usage: verifier-stats [--json] [--check BUDGET.json] [--write-budget BUDGET.json [--merge]]\n';
}

async function main(argv: string[]): Promise<number> {
  let json = false;
  let checkFile: string | undefined;
  let writeFile: string | undefined;
  let merge = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--json') json = true;
    else if (a === '--merge') merge = true;
    else if (a === '--check' && argv[i + 1] !== undefined) checkFile = argv[++i];
    else if (a === '--write-budget' && argv[i + 1] !== undefined) writeFile = argv[++i];
    else if (a === '-h' || a === '--help') {
      process.stdout.write(usage());
      return 0;
    } else {
      process.stderr.write(`verifier-stats: unknown argument ${a}\n${usage()}`);
      return 2;
    }
  }
  if (process.getuid?.() !== 0) {
    process.stderr.write('verifier-stats: needs root (it loads BPF programs)\n');
    return 2;
  }
  const budget =
    checkFile !== undefined ? (JSON.parse(readFileSync(checkFile, 'utf8')) as BudgetFile) : undefined;
  const m = await measure();
  const result = budget !== undefined ? check(m, budget) : undefined;
  if (json) process.stdout.write(`${JSON.stringify({ ...m, check: result }, null, 2)}\n`);
  else process.stdout.write(render(m));
  if (writeFile !== undefined) {
    const previous = existsSync(writeFile)
      ? (JSON.parse(readFileSync(writeFile, 'utf8')) as BudgetFile)
      : undefined;
    writeFileSync(writeFile, formatBudget(budgetFrom(m, previous, merge)));
    process.stderr.write(`verifier-stats: wrote ${basename(writeFile)}\n`);
  }
  if (result === undefined) return 0;
  for (const w of result.warnings) process.stderr.write(`verifier-stats: warning: ${w}\n`);
  if (result.ok) {
    process.stderr.write(`verifier-stats: within budget: ${largest(m)} (${checkFile})\n`);
    return 0;
  }
  process.stderr.write(
    `verifier-stats: ${result.errors.length} budget failure(s) against ${checkFile}:\n  ${result.errors.join('\n  ')}\n`,
  );
  return 1;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      process.stderr.write(`verifier-stats: ${message(err)}\n`);
      process.exitCode = 2;
    },
  );
}
