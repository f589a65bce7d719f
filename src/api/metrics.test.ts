// SPDX-License-Identifier: Apache-2.0
// The metrics registry: values come from the agent's stats at scrape time,
// one registry per agent, and docs/metrics.md lists every metric it exposes.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import type { AgentStats, PolicyStatus } from '../agent.js';
import type { Alert, PeregrineEvent } from '../events/types.js';
import { packageRoot } from '../kernel/native.js';
import { ProcessSensor } from '../sensors/process/sensor.js';
import { AgentMetrics, type MetricsSource } from './metrics.js';

function source(over: Partial<AgentStats> = {}, policies: PolicyStatus[] = []): MetricsSource {
  const stats: AgentStats = {
    uptime_s: 1,
    events: { emitted: 3, by_kind: { 'process.exec': 2, 'file.open': 1 }, user_filtered: 0 },
    sensors: {
      process: ProcessSensor.emptyStats(),
      file: { records: 1, kernel_drops: 4, kernel_filtered: 7, kernel_truncated: 0, decode_errors: 0 },
    },
    cache: { size: 5, alive: 4, inserted: 5, updated: 0, hits: 0, misses: 0, reclaimed: 0, evictedAlive: 0 },
    policies: [],
    sinks: { streams: { clients: 0, dropped: 0 } },
    health: 'ok',
    ...over,
  };
  return { stats: () => stats, policyStatus: () => policies };
}

const policy: PolicyStatus = {
  name: 'p',
  mode: 'enforce',
  kinds: ['process.exec'],
  rules: [
    {
      name: 'a',
      kinds: ['process.exec'],
      action: 'kill',
      user_check: false,
      actions: { taken: 2, would: 0 },
    },
    {
      name: 'b',
      kinds: ['process.exec'],
      action: 'kill',
      user_check: false,
      actions: { taken: 1, would: 0 },
    },
  ],
  source: 'p.yaml',
  matches: 9,
};

const alert = {
  time: new Date().toISOString(),
  node: 'n',
  kind: 'alert',
  rule: 'Shell in container',
  priority: 'WARNING',
  tags: [],
  output: 'x',
  source_event: { time: new Date(Date.now() - 20).toISOString() } as PeregrineEvent,
} as Alert;

test('scrape reads the stats: events by kind, kernel drops and filtered, policy actions summed per action', async () => {
  const m = new AgentMetrics(source({}, [policy]), { processMetrics: false });
  m.observeAlert(alert);
  const text = await m.text();
  assert.match(text, /^peregrine_events_total\{kind="process\.exec"\} 2$/m);
  assert.match(text, /^peregrine_kernel_drops_total\{sensor="file",record="file"\} 4$/m);
  assert.match(text, /^peregrine_kernel_filtered_total\{sensor="file"\} 7$/m);
  assert.match(text, /^peregrine_policy_matches_total\{policy="p"\} 9$/m);
  assert.match(text, /^peregrine_policy_actions_total\{policy="p",action="kill",outcome="taken"\} 3$/m);
  assert.match(text, /^peregrine_alerts_total\{rule="Shell in container",priority="WARNING"\} 1$/m);
  assert.match(text, /^peregrine_alert_latency_seconds_count 1$/m);
  assert.match(text, /^peregrine_process_cache_entries 5$/m);
  // Counters mirror the agent's: a second scrape is not a double count.
  assert.match(await m.text(), /^peregrine_events_total\{kind="process\.exec"\} 2$/m);
});

test("outputs' counters come from stats().sinks.outputs when the agent has them", async () => {
  const sinks = {
    streams: { clients: 0, dropped: 0 },
    outputs: [
      {
        name: 'loki',
        type: 'loki',
        sent: 10,
        retried: 1,
        dropped: { queue_full: 2 },
        filtered: 0,
        queued: 3,
        spooled: 0,
        healthy: false,
      },
    ],
  } as AgentStats['sinks'];
  const text = await new AgentMetrics(source({ sinks }), { processMetrics: false }).text();
  assert.match(text, /^peregrine_output_sent_total\{output="loki",type="loki"\} 10$/m);
  assert.match(text, /^peregrine_output_dropped_total\{output="loki",type="loki",reason="queue_full"\} 2$/m);
  assert.match(text, /^peregrine_output_healthy\{output="loki",type="loki"\} 0$/m);
});

test('each agent has its own registry: two in one process do not share state', async () => {
  const a = new AgentMetrics(source(), { processMetrics: true });
  const b = new AgentMetrics(source(), { processMetrics: true });
  a.observeAlert(alert);
  assert.match(await a.text(), /^peregrine_alerts_total\{rule="Shell in container",priority="WARNING"\} 1$/m);
  assert.doesNotMatch(await b.text(), /^peregrine_alerts_total\{/m);
  assert.match(await b.text(), /^process_cpu_user_seconds_total /m);
});

test('docs/metrics.md lists every metric the registry exposes', async () => {
  const doc = readFileSync(join(packageRoot(), 'docs', 'metrics.md'), 'utf8');
  const m = new AgentMetrics(source(), { processMetrics: true });
  const names = m.names();
  const ours = names.filter((n) => n.startsWith('peregrine_'));
  assert.ok(ours.length > 30);
  const missing = ours.filter((n) => !doc.includes(`\`${n}\``));
  assert.deepEqual(missing, [], 'metrics not in docs/metrics.md');
  // prom-client's process metrics are documented as a group.
  assert.ok(names.some((n) => n.startsWith('nodejs_')));
  assert.match(doc, /`process_\*` and `nodejs_\*`/);
  // And the doc names nothing the registry lacks.
  const documented = [...doc.matchAll(/`(peregrine_[a-z_]+)`/g)].map((x) => x[1]);
  assert.deepEqual(
    documented.filter((n) => !ours.includes(n)),
    [],
    'docs/metrics.md names metrics the registry does not expose',
  );
});
