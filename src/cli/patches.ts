// SPDX-License-Identifier: Apache-2.0
// `peregrine patches list|apply|delete`: the virtual-patch pack judged against
// this node (affected? enforceable here?), applied to the running agent as
// ordinary policies in one all-or-nothing request.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { PolicyStatus } from '../agent.js';
import { controlRequest, socketPath } from '../api/control.js';
import { capabilitiesOf } from '../enforce/attest.js';
import { probeFeatures } from '../kernel/index.js';
import {
  loadPatchPack,
  nodeFacts,
  type PatchPack,
  type PatchStatus,
  patchStatus,
  selectEntries,
} from '../patches/index.js';
import { notInForceLine } from './status.js';

export interface PatchesOptions {
  pack?: string;
  socket?: string;
  json: boolean;
  affected: boolean;
  all: boolean;
  dryRun: boolean;
}

/** The running agent's policies, or undefined when none answers. */
async function agentPolicies(path: string): Promise<PolicyStatus[] | undefined> {
  try {
    return (await controlRequest(path, 'GET', '/v1/policies')) as PolicyStatus[];
  } catch {
    return undefined;
  }
}

async function judge(pack: PatchPack): Promise<PatchStatus[]> {
  const caps = capabilitiesOf(await probeFeatures());
  return patchStatus(pack, nodeFacts(pack.entries), caps);
}

export async function patchesCommand(
  sub: string | undefined,
  ids: string[],
  opts: PatchesOptions,
): Promise<number> {
  const pack = loadPatchPack(opts.pack);
  const socket = socketPath(opts.socket);
  switch (sub) {
    case 'list': {
      const statuses = await judge(pack);
      const running = await agentPolicies(socket);
      const applied = (s: PatchStatus) => {
        if (running === undefined) return undefined;
        const mine = running.filter((p) => s.policies.includes(p.name));
        if (mine.length === 0) return 'no';
        const taken = mine.flatMap((p) => p.rules).reduce((n, r) => n + (r.actions?.taken ?? 0), 0);
        return `yes (${taken} taken)`;
      };
      if (opts.json) {
        const out = statuses.map((s) => ({ ...s, applied: applied(s) ?? null }));
        process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
        return 0;
      }
      process.stdout.write(
        `pack ${pack.name} (${pack.file}); agent ${running === undefined ? 'not running' : `at ${socket}`}\n`,
      );
      process.stdout.write('ENTRY            AFFECTED  ENFORCEMENT  APPLIED           TITLE\n');
      for (const s of statuses) {
        process.stdout.write(
          `${s.id.padEnd(17)}${s.affected.padEnd(10)}${s.enforcement.padEnd(13)}${(applied(s) ?? '-').padEnd(18)}${s.title}\n`,
        );
        for (const r of s.reasons) process.stdout.write(`  why: ${r}\n`);
        for (const r of s.rules) process.stdout.write(`  ${r}\n`);
        if (s.missing !== undefined) process.stdout.write(`  missing: ${s.missing}\n`);
      }
      return 0;
    }
    case 'apply': {
      if (!opts.affected && !opts.all && ids.length === 0)
        throw new Error('patches apply wants --affected, --all or entry ids (cve-2019-5736 ...)');
      const statuses = await judge(pack);
      const { entries, skipped } = selectEntries(pack, statuses, {
        ids,
        affected: opts.affected,
        all: opts.all,
      });
      for (const s of skipped) process.stderr.write(`skip ${s.id}: ${s.why}\n`);
      if (entries.length === 0) {
        process.stdout.write('nothing to apply\n');
        return 0;
      }
      for (const e of entries) {
        const st = statuses.find((s) => s.id === e.id) as PatchStatus;
        process.stdout.write(`${opts.dryRun ? 'would apply' : 'apply'} ${e.id} (affected: ${st.affected})\n`);
        for (const r of st.rules) process.stdout.write(`  ${r}\n`);
      }
      if (opts.dryRun) return 0;
      // One request: the agent applies every chosen policy or none.
      const text = entries
        .map((e) => readFileSync(join(pack.dir, e.policyFile as string), 'utf8'))
        .join('\n---\n');
      const res = (await controlRequest(socket, 'POST', '/v1/policies?file=patches', text)) as {
        applied: string[];
        not_in_force?: Array<{ policy: string; rule: string; enforcement: string }>;
      };
      process.stdout.write(`applied ${res.applied.join(', ')}\n`);
      for (const r of res.not_in_force ?? [])
        process.stderr.write(`peregrine: degraded: ${notInForceLine(r)}\n`);
      return 0;
    }
    case 'delete': {
      if (!opts.all && ids.length === 0) throw new Error('patches delete wants --all or entry ids');
      const running = (await controlRequest(socket, 'GET', '/v1/policies')) as PolicyStatus[];
      const chosen = opts.all ? pack.entries : pack.entries.filter((e) => ids.includes(e.id));
      for (const id of ids)
        if (!pack.entries.some((e) => e.id === id)) throw new Error(`no entry ${id} in the pack`);
      for (const e of chosen) {
        for (const p of e.policies) {
          if (!running.some((r) => r.name === p.metadata.name)) continue;
          await controlRequest(socket, 'DELETE', `/v1/policies?name=${encodeURIComponent(p.metadata.name)}`);
          process.stdout.write(`deleted ${p.metadata.name} (${e.id})\n`);
        }
      }
      return 0;
    }
    default:
      throw new Error(`patches wants list, apply or delete (got ${sub ?? 'nothing'})`);
  }
}
