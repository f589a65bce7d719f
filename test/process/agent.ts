// SPDX-License-Identifier: Apache-2.0
// Test harness: an in-process agent that records every event, and helpers to
// wait for the events a test's own processes cause.
import { spawn } from 'node:child_process';
import { Agent, type AgentOptions } from '../../src/agent.js';
import type { Alert, PeregrineEvent } from '../../src/events/types.js';

export interface RecordingAgent {
  agent: Agent;
  events: PeregrineEvent[];
  /** Every alert the agent emitted (with `rules`), in order. */
  alerts: Alert[];
  /** Resolves with the first event (already seen or arriving) matching `pred`. */
  waitFor(pred: (ev: PeregrineEvent) => boolean, timeoutMs?: number, what?: string): Promise<PeregrineEvent>;
  stop(): Promise<void>;
}

export async function startAgent(opts: AgentOptions = {}): Promise<RecordingAgent> {
  const events: PeregrineEvent[] = [];
  const waiters: Array<{ pred: (ev: PeregrineEvent) => boolean; resolve: (ev: PeregrineEvent) => void }> = [];
  const alerts: Alert[] = [];
  const agent = new Agent({
    output: 'none',
    socket: false,
    wakeupBytes: 0,
    pollIntervalMs: 10,
    ...opts,
    onAlert: (alert) => {
      alerts.push(alert);
      opts.onAlert?.(alert);
    },
    onEvent: (ev) => {
      events.push(ev);
      for (let i = waiters.length - 1; i >= 0; i--) {
        if (waiters[i].pred(ev)) {
          waiters[i].resolve(ev);
          waiters.splice(i, 1);
        }
      }
    },
  });
  await agent.start();
  return {
    agent,
    events,
    alerts,
    waitFor(pred, timeoutMs = 10_000, what = 'event') {
      const seen = events.find(pred);
      if (seen !== undefined) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          const i = waiters.findIndex((w) => w.resolve === done);
          if (i >= 0) waiters.splice(i, 1);
          reject(
            new Error(`timed out after ${timeoutMs} ms waiting for ${what} (${events.length} events seen)`),
          );
        }, timeoutMs);
        const done = (ev: PeregrineEvent) => {
          clearTimeout(timer);
          resolve(ev);
        };
        waiters.push({ pred, resolve: done });
      });
    },
    async stop() {
      await agent.stop();
    },
  };
}

/** Runs a command to completion; resolves with its pid and exit status. */
export function run(
  file: string,
  args: string[],
  opts: { cwd?: string } = {},
): Promise<{ pid: number; code: number | null; signal: NodeJS.Signals | null }> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { cwd: opts.cwd, stdio: 'ignore' });
    child.once('error', reject);
    child.once('exit', (code, signal) => resolve({ pid: child.pid ?? -1, code, signal }));
  });
}
