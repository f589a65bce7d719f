// SPDX-License-Identifier: Apache-2.0
// `peregrine status`: what this kernel supports (found by trying), and the
// counters of a running agent when one answers on the control socket.

import { release } from 'node:os';
import { controlRequest, socketPath } from '../api/control.js';
import { type FeatureReport, type FeatureStatus, probeFeatures } from '../kernel/index.js';

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
  if (opts.json) {
    process.stdout.write(`${JSON.stringify({ features, agent: agent ?? null }, null, 2)}\n`);
    return 0;
  }
  process.stdout.write(formatFeatures(features));
  if (agent !== undefined) {
    process.stdout.write(`\nrunning agent (${path}):\n${formatCounters(agent)}`);
    process.stdout.write(
      formatEnforcement(await controlRequest(path, 'GET', '/v1/policies').catch(() => [])),
    );
  } else {
    process.stdout.write(
      `\nno running agent on ${path} (${agentError.replace(/^GET \/v1\/status: /, '')})\n`,
    );
  }
  return 0;
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
    rules: Array<{ name: string; enforcement?: string }>;
  }>) {
    out += `  ${p.name}  ${p.enforcement ?? 'audit'}\n`;
    for (const r of p.rules) out += `    ${r.name}  ${r.enforcement ?? 'audit'}\n`;
  }
  return out;
}

/** Flattens nested counter objects into "a.b.c  N" lines. */
export function formatCounters(value: unknown, prefix = ''): string {
  if (value === null || typeof value !== 'object') return `  ${prefix}  ${String(value)}\n`;
  let out = '';
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    const name = prefix === '' ? k : `${prefix}.${k}`;
    if (v !== null && typeof v === 'object' && !Array.isArray(v)) out += formatCounters(v, name);
    else out += `  ${name}  ${Array.isArray(v) ? v.join(', ') : String(v)}\n`;
  }
  return out;
}
