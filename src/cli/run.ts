// SPDX-License-Identifier: Apache-2.0
// `peregrine run`: starts the agent, streams events to stdout, and on SIGINT /
// SIGTERM detaches everything and prints the final counters to stderr.
import { createWriteStream } from 'node:fs';
import { Agent, type AgentOptions } from '../agent.js';
import { loadDefaultPolicy, loadPolicyPath, loadPolicyText } from '../policy/load.js';
import type { Policy } from '../policy/types.js';
import { defaultRulesPath, loadRulePaths } from './rules.js';
import { formatCounters } from './status.js';

export interface RunOptions extends Omit<AgentOptions, 'onEvent' | 'policies' | 'parsePolicies' | 'rules'> {
  /** Policy files or directories; none: the embedded default policy. */
  policyPaths: string[];
  /** Rule files or directories; empty: the default ruleset; null: no rules. */
  rulePaths: string[] | null;
  /** `peregrine record`: also save every enriched event to this file. */
  recordPath?: string;
}

export async function runCommand(opts: RunOptions): Promise<number> {
  const policies: Policy[] =
    opts.policyPaths.length > 0 ? opts.policyPaths.flatMap((p) => loadPolicyPath(p)) : loadDefaultPolicy();
  const rules =
    opts.rulePaths === null
      ? undefined
      : loadRulePaths(opts.rulePaths.length > 0 ? opts.rulePaths : [defaultRulesPath()]);
  const recorder = opts.recordPath !== undefined ? createWriteStream(opts.recordPath) : undefined;
  const agent = new Agent({
    ...opts,
    policies,
    parsePolicies: loadPolicyText,
    rules,
    onEvent:
      recorder !== undefined
        ? (ev) => {
            recorder.write(`${JSON.stringify(ev)}\n`);
          }
        : undefined,
  });
  const report = await agent.start();
  process.stderr.write(
    `peregrine: running on ${report.node}: attached ${report.attached.join(', ')}` +
      (report.unsupported.length > 0 ? `; not supported here: ${report.unsupported.join('; ')}` : '') +
      `; seeded ${report.seeded} processes; policies ${report.policies.join(', ') || 'none'}` +
      `; control socket ${report.socket || 'off'}\n`,
  );
  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      process.stderr.write(`peregrine: ${signal}, detaching\n`);
      resolve();
    };
    process.once('SIGINT', () => stop('SIGINT'));
    process.once('SIGTERM', () => stop('SIGTERM'));
  });
  const stats = await agent.stop();
  if (recorder !== undefined) await new Promise<void>((resolve) => recorder.end(() => resolve()));
  process.stderr.write(`peregrine: final counters\n${formatCounters(stats)}`);
  return 0;
}
