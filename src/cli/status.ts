// SPDX-License-Identifier: Apache-2.0
// `peregrine status`: what this kernel supports (found by trying), and the
// counters of a running agent when one answers on the control socket.

import { release } from 'node:os';
import type { DegradedStatus, PolicyStatus } from '../agent.js';
import { controlRequest, socketPath } from '../api/control.js';
import { type FeatureReport, type FeatureStatus, probeFeatures } from '../kernel/index.js';
import type { OutputStats } from '../sinks/transport.js';
import { EXIT_DEGRADED, EXIT_OK } from './exit.js';

export interface StatusOptions {
  json: boolean;
  socket?: string;
}

export async function statusCommand(opts: StatusOptions): Promise<number> {
  const features = await probeFeatures();
  const path = socketPath(opts.socket);
  let agent: unknown;
  let agentError = '';
  try {
    agent = await controlRequest(path, 'GET', '/v1/status');
  } catch (err) {
    agentError = err instanceof Error ? err.message : String(err);
  }
  // A running agent without some of its sensors is not healthy, whatever else it does well.
  const degraded = (agent as { degraded?: DegradedStatus } | undefined)?.degraded;
  const code = degraded !== undefined ? EXIT_DEGRADED : EXIT_OK;
  if (opts.json) {
    process.stdout.write(`${JSON.stringify({ features, agent: agent ?? null }, null, 2)}\n`);
    return code;
  }
  process.stdout.write(formatFeatures(features));
  if (agent !== undefined) {
    const { degraded: _, ...counters } = agent as Record<string, unknown>;
    process.stdout.write(`\nrunning agent (${path})${degraded !== undefined ? ', DEGRADED' : ''}:\n`);
    process.stdout.write(formatDegraded(degraded) + formatCounters(counters) + formatOutputs(counters));
    process.stdout.write(
      formatEnforcement(await controlRequest(path, 'GET', '/v1/policies').catch(() => [])),
    );
  } else {
    process.stdout.write(
      `\nno running agent on ${path} (${agentError.replace(/^GET \/v1\/status: /, '')})\n`,
    );
  }
  return code;
}

/** The degraded section of `status` and of `run`'s final counters; empty when healthy. */
export function formatDegraded(d: DegradedStatus | undefined): string {
  if (d === undefined) return '';
  return `degraded:\n${degradedLines(d)
    .map((l) => `  ${l}\n`)
    .join('')}`;
}

/** One line per failed sensor, per policy rule not in force, and one for the detection rules. */
export function degradedLines(d: DegradedStatus): string[] {
  const lines = d.sensors.map((f) => f.reason);
  for (const r of d.policy_rules) lines.push(notInForceLine(r));
  const r = d.rules;
  if (r !== undefined && r.blind + r.partial > 0) {
    const names = r.names.length > 5 ? `${r.names.slice(0, 5).join(', ')}, ...` : r.names.join(', ');
    lines.push(
      `${r.blind} of ${r.of} detection rules cannot see their events` +
        (r.partial > 0 ? `, ${r.partial} see only some` : '') +
        ` (${r.kinds.join(', ')} not observed): ${names}`,
    );
  }
  return lines;
}

export function notInForceLine(r: { policy: string; rule: string; enforcement: string }): string {
  return `policy ${r.policy}, rule ${r.rule}: not in force: ${r.enforcement}`;
}

/** The startup line's note: "degraded: network sensor not loaded, 1 policy rule not in force, ...". */
export function degradedSummary(d: DegradedStatus): string {
  const parts = d.sensors.map(
    (f) => `${f.sensor} sensor ${f.stage === 'load' ? 'not loaded' : 'not attached'}`,
  );
  const n = d.policy_rules.length;
  if (n > 0) parts.push(`${n} policy ${n === 1 ? 'rule' : 'rules'} not in force`);
  const r = d.rules;
  if (r !== undefined && r.blind + r.partial > 0)
    parts.push(`${r.blind} detection rules blind` + (r.partial > 0 ? `, ${r.partial} partly` : ''));
  return `degraded: ${parts.join(', ')}`;
}

export function formatFeatures(report: FeatureReport): string {
  const rows = Object.entries(report).filter(
    (entry): entry is [string, FeatureStatus] => typeof entry[1] === 'object' && entry[1] !== null,
  );
  const width = Math.max(...rows.map(([k]) => k.length));
  let out = `kernel ${release()} (probed in ${Math.round(report.durationMs)} ms)\n`;
  for (const [name, result] of rows) {
    const reason = result.status === 'supported' ? '' : `  ${result.reason}`;
    out += `  ${name.padEnd(width)}  ${result.status}${reason}\n`;
  }
  return out;
}

/** Per policy and rule: what this kernel enforces (the attestation), from GET /v1/policies. */
export function formatEnforcement(policies: unknown): string {
  if (!Array.isArray(policies) || policies.length === 0) return '';
  let out = '\nenforcement:\n';
  for (const p of policies as Array<{
    name: string;
    enforcement?: string;
    rules: Array<{ name: string; enforcement?: string; actions?: { taken: number; would: number } }>;
    safety?: PolicyStatus['safety'];
  }>) {
    out += `  ${p.name}  ${p.enforcement ?? 'audit'}\n`;
    for (const r of p.rules) {
      const counts = r.actions !== undefined ? `  [taken ${r.actions.taken}, would ${r.actions.would}]` : '';
      out += `    ${r.name}  ${r.enforcement ?? 'audit'}${counts}\n`;
    }
    const s = p.safety;
    if (s !== undefined) {
      out += `    safety  ${s.recent}/${s.max_denials} actions in ${s.window_s}s`;
      if (s.rolled_back !== undefined)
        out += `; rolled back to monitor at ${s.rolled_back.at} (${s.rolled_back.denials} in ${s.rolled_back.window_s}s)`;
      out += '\n';
    }
  }
  return out;
}

/**
 * One line per output of the agent's counters (`sinks.outputs`), e.g.
 * "  webhook (webhook)  ok  sent 120  retried 2  dropped 0  filtered 5  queued 0  spooled 0".
 */
export function formatOutputs(counters: unknown): string {
  const list = (counters as { sinks?: { outputs?: OutputStats[] } } | undefined)?.sinks?.outputs;
  if (!Array.isArray(list) || list.length === 0) return '';
  let out = '\noutputs:\n';
  for (const o of list) {
    const drops = Object.entries(o.dropped);
    const total = drops.reduce((n, [, v]) => n + v, 0);
    out +=
      `  ${o.name} (${o.type})  ${o.healthy ? 'ok' : 'FAILING'}  sent ${o.sent}  retried ${o.retried}` +
      `  dropped ${total}${drops.length > 0 ? ` (${drops.map(([r, v]) => `${r} ${v}`).join(', ')})` : ''}` +
      `  filtered ${o.filtered}  queued ${o.queued}  spooled ${o.spooled}` +
      (o.last_error !== undefined ? `  last error: ${o.last_error}` : '') +
      '\n';
  }
  return out;
}

/** Flattens nested counter objects into "a.b.c  N" lines (the outputs have their own lines: formatOutputs). */
export function formatCounters(value: unknown, prefix = ''): string {
  if (value === null || typeof value !== 'object') return `  ${prefix}  ${String(value)}\n`;
  let out = '';
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    const name = prefix === '' ? k : `${prefix}.${k}`;
    if (name === 'sinks.outputs') continue;
    if (v !== null && typeof v === 'object' && !Array.isArray(v)) out += formatCounters(v, name);
    else out += `  ${name}  ${Array.isArray(v) ? v.join(', ') : String(v)}\n`;
  }
  return out;
}
