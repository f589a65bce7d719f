// SPDX-License-Identifier: Apache-2.0
// Signal numbers as names, from the running platform's own table.
import { constants } from 'node:os';

const names = new Map<number, string>();
for (const [name, num] of Object.entries(constants.signals)) if (!names.has(num)) names.set(num, name);

export function signalName(signal: number): string {
  return names.get(signal) ?? `SIG${signal}`;
}

export function signalNumber(name: string): number | undefined {
  const upper = name.toUpperCase();
  const key = (upper.startsWith('SIG') ? upper : `SIG${upper}`) as keyof typeof constants.signals;
  return constants.signals[key];
}

/** Splits a raw wait status (task->exit_code) into exit code and terminating signal. */
export function splitExitStatus(raw: number): { code: number; signal: number } {
  return { code: (raw >> 8) & 0xff, signal: raw & 0x7f };
}
