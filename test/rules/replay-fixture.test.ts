// SPDX-License-Identifier: Apache-2.0
// Replay: `peregrine replay` of a recorded live scenario run (test/fixtures/scenarios.events.jsonl) prints exactly the alerts the live agent raised (test/fixtures/scenarios.alerts.jsonl).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import type { Alert } from '../../src/events/types.js';
import { repoRoot } from './helpers.js';

const execFileP = promisify(execFile);
const root = repoRoot();
const FIXTURES = join(root, 'test', 'fixtures');

function lines(text: string): Alert[] {
  return text
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as Alert);
}

/** rule | process → the output of the first alert of that key (later ones may be collapsed). */
function firstByKey(alerts: Alert[]): Map<string, string> {
  const out = new Map<string, string>();
  for (const a of alerts) {
    const key = `${a.rule} | ${a.source_event.process.exec_id}`;
    if (!out.has(key)) out.set(key, `${a.priority} ${a.mitre?.technique} ${a.output}`);
  }
  return out;
}

test('peregrine replay of the recorded scenario run prints the alerts the live run raised', async () => {
  const live = lines(readFileSync(join(FIXTURES, 'scenarios.alerts.jsonl'), 'utf8'));
  const { stdout, stderr } = await execFileP(
    process.execPath,
    [join(root, 'bin', 'peregrine.js'), 'replay', join(FIXTURES, 'scenarios.events.jsonl')],
    { maxBuffer: 1 << 26 },
  );
  const replayed = lines(stdout);
  assert.match(stderr, /replayed \d+ events, \d+ alerts, 0 unreadable lines/);
  for (const a of replayed) assert.equal(a.kind, 'alert');
  const want = firstByKey(live);
  const got = firstByKey(replayed);
  assert.ok(want.size >= 30, `the fixture holds ${want.size} distinct alerts`);
  const techniques = new Set(live.map((a) => a.mitre?.technique));
  assert.ok(techniques.size >= 12, `${techniques.size} techniques in the fixture`);
  assert.deepEqual([...got.entries()].sort(), [...want.entries()].sort());
});
