// SPDX-License-Identifier: Apache-2.0
// `peregrine run`: starts the agent, streams events to stdout, and on SIGINT /
// SIGTERM detaches everything and prints the final counters to stderr.
import { Agent, type AgentOptions } from '../agent.js';
import { formatCounters } from './status.js';

export async function runCommand(opts: Omit<AgentOptions, 'onEvent'>): Promise<number> {
  const agent = new Agent(opts);
  const report = await agent.start();
  process.stderr.write(
    `peregrine: running on ${report.node}: attached ${report.attached.join(', ')}` +
      (report.unsupported.length > 0 ? `; not supported here: ${report.unsupported.join('; ')}` : '') +
      `; seeded ${report.seeded} processes; control socket ${report.socket || 'off'}\n`,
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
  process.stderr.write(`peregrine: final counters\n${formatCounters(stats)}`);
  return 0;
}
