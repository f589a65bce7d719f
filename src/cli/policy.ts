// SPDX-License-Identifier: Apache-2.0
// `peregrine policy validate|apply|delete|list|promote|demote` and `peregrine events`: the
// first validates locally; the others talk to the running agent's socket.
import { readFileSync } from 'node:fs';
import { request } from 'node:http';
import { basename } from 'node:path';
import type { PolicyStatus } from '../agent.js';
import { controlRequest, socketPath } from '../api/control.js';
import { validatePolicyPath } from '../policy/load.js';
import { notInForceLine } from './status.js';

export async function policyCommand(
  sub: string | undefined,
  args: string[],
  socket?: string,
): Promise<number> {
  const path = socketPath(socket);
  switch (sub) {
    case 'validate': {
      if (args.length === 0) throw new Error('policy validate wants FILE_OR_DIR');
      let failed = false;
      for (const file of args) {
        const report = validatePolicyPath(file);
        for (const e of report.errors) process.stderr.write(`${e.message}\n`);
        if (report.ok) {
          process.stdout.write(`${file}: ok (${report.policies.map((p) => p.metadata.name).join(', ')})\n`);
        } else failed = true;
      }
      return failed ? 1 : 0;
    }
    case 'apply': {
      if (args.length === 0) throw new Error('policy apply wants FILE');
      for (const file of args) {
        // Validate here first: a bad file gets its file:line error without bothering the agent.
        const report = validatePolicyPath(file);
        if (!report.ok) {
          for (const e of report.errors) process.stderr.write(`${e.message}\n`);
          return 1;
        }
        const res = (await controlRequest(
          path,
          'POST',
          `/v1/policies?file=${encodeURIComponent(basename(file))}`,
          readFileSync(file, 'utf8'),
        )) as {
          applied: string[];
          not_in_force?: Array<{ policy: string; rule: string; enforcement: string }>;
        };
        process.stdout.write(`applied ${res.applied.join(', ')}\n`);
        for (const r of res.not_in_force ?? [])
          process.stderr.write(`peregrine: degraded: ${notInForceLine(r)}\n`);
      }
      return 0;
    }
    case 'delete': {
      if (args.length === 0) throw new Error('policy delete wants NAME');
      for (const name of args) {
        await controlRequest(path, 'DELETE', `/v1/policies?name=${encodeURIComponent(name)}`);
        process.stdout.write(`deleted ${name}\n`);
      }
      return 0;
    }
    case 'promote':
    case 'demote': {
      // One command from monitor to enforce (and back): a map update in the agent, no reload.
      if (args.length === 0) throw new Error(`policy ${sub} wants NAME`);
      const mode = sub === 'promote' ? 'enforce' : 'monitor';
      for (const name of args) {
        const res = (await controlRequest(
          path,
          'POST',
          `/v1/policies/mode?name=${encodeURIComponent(name)}&mode=${mode}`,
        )) as { not_in_force?: Array<{ policy: string; rule: string; enforcement: string }> };
        process.stdout.write(`${name}: ${mode}\n`);
        for (const r of res.not_in_force ?? [])
          process.stderr.write(`peregrine: degraded: ${notInForceLine(r)}\n`);
      }
      return 0;
    }
    case 'list': {
      const list = (await controlRequest(path, 'GET', '/v1/policies')) as PolicyStatus[];
      if (args.includes('--json')) {
        process.stdout.write(`${JSON.stringify(list, null, 2)}\n`);
        return 0;
      }
      process.stdout.write('NAME                          MODE     MATCHES  ENFORCEMENT  KINDS\n');
      for (const p of list) {
        process.stdout.write(
          `${p.name.padEnd(30)}${p.mode.padEnd(9)}${String(p.matches).padStart(7)}  ${(p.enforcement ?? '-').padEnd(11)}  ${p.kinds.join(',')}\n`,
        );
        // One line per acting rule: what this kernel does about it (attestation).
        for (const r of p.rules) {
          if (r.enforcement !== undefined && r.enforcement !== 'audit') {
            const counts =
              r.actions !== undefined ? `  [taken ${r.actions.taken}, would ${r.actions.would}]` : '';
            process.stdout.write(`  ${r.name}: ${r.enforcement}${counts}\n`);
          }
        }
        const line = safetyLine(p);
        if (line !== undefined) process.stdout.write(`  ${line}\n`);
      }
      return 0;
    }
    default:
      throw new Error(
        `policy wants validate, apply, delete, list, promote or demote (got ${sub ?? 'nothing'})`,
      );
  }
}

/** "safety: 2/10 actions in 60s; rolled back at … (14 in 60s)", or undefined without `spec.safety`. */
export function safetyLine(p: Pick<PolicyStatus, 'safety'>): string | undefined {
  const s = p.safety;
  if (s === undefined) return undefined;
  let line = `safety: ${s.recent}/${s.max_denials} actions in ${s.window_s}s`;
  if (s.rolled_back !== undefined)
    line += `; rolled back to monitor at ${s.rolled_back.at} (${s.rolled_back.denials} in ${s.rolled_back.window_s}s)`;
  return line;
}

export interface EventsOptions {
  socket?: string;
  compact: boolean;
  kinds: string[];
  pid?: string;
  policy?: string;
  container?: string;
  pod?: string;
}

/** Follows the running agent's event stream until interrupted. */
export function eventsCommand(opts: EventsOptions): Promise<number> {
  const q = new URLSearchParams();
  if (opts.compact) q.set('output', 'compact');
  for (const k of opts.kinds) q.append('kind', k);
  if (opts.pid !== undefined) q.set('pid', opts.pid);
  if (opts.policy !== undefined) q.set('policy', opts.policy);
  if (opts.container !== undefined) q.set('container', opts.container);
  if (opts.pod !== undefined) q.set('pod', opts.pod);
  return new Promise((resolve, reject) => {
    const req = request({ socketPath: socketPath(opts.socket), path: `/v1/events?${q}` }, (res) => {
      if (res.statusCode !== 200) {
        reject(new Error(`events: agent answered ${res.statusCode}`));
        return;
      }
      res.pipe(process.stdout);
      res.on('end', () => resolve(0));
    });
    req.on('error', (err) => reject(new Error(`events: ${err.message}`)));
    process.once('SIGINT', () => {
      req.destroy();
      resolve(0);
    });
    req.end();
  });
}
