// SPDX-License-Identifier: Apache-2.0
// `peregrine learn`: watches one workload for a while — through the running agent, or with its own
// sensors when none runs — and writes the least-privilege policy it learned, with a report.
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { isAbsolute, join } from 'node:path';
import { stringify } from 'yaml';
import { controlRequest, socketPath } from '../api/control.js';
import { findCgroup2Mount } from '../container/cgroups.js';
import type { PeregrineEvent } from '../events/types.js';
import { ephemeralRange } from '../learn/generalise.js';
import {
  buildLearned,
  describeTarget,
  LEARN_KINDS,
  type LearnTarget,
  learningPolicy,
  Profile,
  targetMatcher,
} from '../learn/profile.js';
import { policyYaml, reportJson, reportMarkdown } from '../learn/render.js';
import { loadPolicyText } from '../policy/load.js';
import { parseDuration } from '../policy/safety.js';
import type { Policy } from '../policy/types.js';

export interface LearnOptions {
  container?: string;
  /** "k=v,k2=v2" */
  selector?: string;
  /** A cgroup v2 directory: absolute, or relative to the cgroup2 mount. */
  cgroup?: string;
  binary?: string;
  /** "5m", "30s", … */
  duration: string;
  out: string;
  /** .json → JSON, anything else Markdown. */
  report?: string;
  /** Policy name; default learned-<target>. */
  name?: string;
  socket?: string;
  /** Load our own sensors even when an agent answers on the socket. */
  standalone?: boolean;
  maxDenials?: string;
  window?: string;
  /** Seconds between progress lines on stderr. Default 10 (or a tenth of the duration, at least 1). */
  progressS?: number;
  /** Stops learning early (the CLI wires SIGINT); what was seen so far is written. */
  signal?: AbortSignal;
  /** Where progress goes. Default stderr. */
  log?: (line: string) => void;
}

/** The target from exactly one of --container, --selector, --cgroup, --binary. */
export function parseTarget(
  o: Pick<LearnOptions, 'container' | 'selector' | 'cgroup' | 'binary'>,
): LearnTarget {
  const given = [o.container, o.selector, o.cgroup, o.binary].filter((x) => x !== undefined);
  if (given.length !== 1)
    throw new Error('learn wants exactly one of --container, --selector, --cgroup, --binary');
  if (o.container !== undefined) return { container: o.container };
  if (o.selector !== undefined) {
    const sel: Record<string, string> = {};
    for (const kv of o.selector.split(',')) {
      const i = kv.indexOf('=');
      if (i <= 0) throw new Error(`learn --selector: "${kv}" is not key=value`);
      sel[kv.slice(0, i).trim()] = kv.slice(i + 1).trim();
    }
    return { selector: sel };
  }
  if (o.cgroup !== undefined) {
    const mount = findCgroup2Mount();
    const dir =
      isAbsolute(o.cgroup) && o.cgroup.startsWith(mount ?? '\0')
        ? o.cgroup
        : join(mount ?? '/sys/fs/cgroup', o.cgroup);
    let ino: number;
    try {
      ino = statSync(dir).ino;
    } catch (err) {
      throw new Error(`learn --cgroup: ${dir}: ${(err as Error).message}`);
    }
    return { cgroup: dir, cgroupId: ino };
  }
  const bin = o.binary as string;
  if (!isAbsolute(bin)) throw new Error('learn --binary wants a full path');
  return { binary: bin };
}

/** A DNS label from the target: learned-<name>, at most 63 characters. */
export function defaultName(t: LearnTarget): string {
  const base =
    'container' in t
      ? t.container
      : 'selector' in t
        ? Object.values(t.selector).join('-')
        : 'cgroup' in t
          ? `cgroup-${t.cgroupId}`
          : (t.binary.split('/').pop() ?? 'binary');
  const slug = base
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/^-+|-+$/g, '');
  return `learned-${slug || 'workload'}`.slice(0, 63).replace(/-+$/, '');
}

/** Whether an agent answers on the socket. */
async function agentRunning(path: string): Promise<boolean> {
  try {
    await controlRequest(path, 'GET', '/v1/ping');
    return true;
  } catch {
    return false;
  }
}

function learningYaml(p: Policy): string {
  return stringify({ apiVersion: p.apiVersion, kind: p.kind, metadata: p.metadata, spec: p.spec });
}

/** Follows the running agent's event stream until `stop` resolves; every target event goes to `observe`. */
function followAgent(
  path: string,
  t: LearnTarget,
  observe: (ev: PeregrineEvent) => void,
  stop: Promise<void>,
): Promise<void> {
  const q = new URLSearchParams();
  for (const k of LEARN_KINDS) q.append('kind', k);
  if ('container' in t) q.set('container', t.container);
  const mine = targetMatcher(t);
  return new Promise((resolve, reject) => {
    const req = request({ socketPath: path, path: `/v1/events?${q}` }, (res) => {
      if (res.statusCode !== 200) {
        reject(new Error(`learn: agent answered ${res.statusCode} to the event stream`));
        return;
      }
      res.setEncoding('utf8');
      let buf = '';
      res.on('data', (chunk: string) => {
        buf += chunk;
        let nl = buf.indexOf('\n');
        while (nl >= 0) {
          const line = buf.slice(0, nl);
          buf = buf.slice(nl + 1);
          nl = buf.indexOf('\n');
          if (line === '') continue;
          let ev: PeregrineEvent | { kind: 'alert' };
          try {
            ev = JSON.parse(line);
          } catch {
            continue;
          }
          if (ev.kind !== 'alert' && mine(ev as PeregrineEvent)) observe(ev as PeregrineEvent);
        }
      });
      res.on('end', () => resolve());
      res.on('error', () => resolve());
    });
    req.on('error', (err) => reject(new Error(`learn: ${err.message}`)));
    void stop.then(() => {
      req.destroy();
      resolve();
    });
    req.end();
  });
}

/**
 * Runs one learning session: applies the audit-only learning policy (to the
 * running agent, or to an agent of our own), records the target's events for
 * the duration (or until aborted), removes the learning policy, and writes
 * the learned policy and its report. Returns the exit code.
 */
export async function learnCommand(o: LearnOptions): Promise<number> {
  const log = o.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const target = parseTarget(o);
  const durationMs = parseDuration(o.duration);
  if (durationMs === undefined)
    throw new Error(`learn --duration: "${o.duration}" is not a duration like 30s, 5m, 1h`);
  const window = o.window ?? '60s';
  if (parseDuration(window) === undefined) throw new Error(`learn --window: "${window}" is not a duration`);
  const maxDenials = Number(o.maxDenials ?? '10');
  if (!Number.isInteger(maxDenials) || maxDenials < 1)
    throw new Error('learn --max-denials wants a positive integer');
  const name = o.name ?? defaultName(target);
  const learnName = `${name}-learning`.slice(0, 63).replace(/-+$/, '');
  const learning = learningPolicy(learnName, target);
  const profile = new Profile();
  const path = socketPath(o.socket);
  const viaAgent = o.standalone !== true && (await agentRunning(path));
  log(
    `learn: observing ${describeTarget(target)} for ${durationMs / 1000}s ${viaAgent ? `through the agent at ${path}` : 'with our own sensors (no agent answered)'}`,
  );

  const started = Date.now();
  let timer: NodeJS.Timeout | undefined;
  let ticker: NodeJS.Timeout | undefined;
  const stop = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, durationMs);
    o.signal?.addEventListener('abort', () => resolve(), { once: true });
  });
  const every = (o.progressS ?? Math.max(1, Math.min(10, Math.round(durationMs / 10_000)))) * 1000;
  ticker = setInterval(() => {
    const c = profile.counts();
    const left = Math.max(0, Math.round((durationMs - (Date.now() - started)) / 1000));
    log(
      `learn: ${c.events} events; ${c.binaries} binaries, ${c.files} files, ${c.peers} peers, ${c.ports} listening ports; ${left}s left`,
    );
  }, every);
  const observe = (ev: PeregrineEvent) => profile.observe(ev);
  try {
    if (viaAgent) {
      await controlRequest(
        path,
        'POST',
        `/v1/policies?file=${encodeURIComponent(`${learnName}.yaml`)}`,
        learningYaml(learning),
      );
      try {
        await followAgent(path, target, observe, stop);
      } finally {
        await controlRequest(path, 'DELETE', `/v1/policies?name=${encodeURIComponent(learnName)}`).catch(
          () => undefined,
        );
      }
    } else {
      const { Agent } = await import('../agent.js');
      const mine = targetMatcher(target);
      const agent = new Agent({
        output: 'none',
        socket: false,
        policies: [learning],
        onEvent: (ev) => {
          if (mine(ev)) observe(ev);
        },
      });
      await agent.start();
      try {
        await stop;
      } finally {
        await agent.stop();
      }
    }
  } finally {
    if (timer !== undefined) clearTimeout(timer);
    if (ticker !== undefined) clearInterval(ticker);
  }

  const elapsedS = Math.round((Date.now() - started) / 1000);
  let ephemeralText: string | undefined;
  try {
    ephemeralText = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8');
  } catch {
    // the default range
  }
  const { policy, report } = buildLearned(profile, {
    name,
    target,
    durationS: elapsedS,
    ephemeral: ephemeralRange(ephemeralText),
    safety: { maxDenials, window },
  });
  const yaml = policyYaml(policy, report);
  // What we write must load: a learned policy the loader refuses is a bug, caught here, not at apply.
  loadPolicyText(yaml, o.out);
  writeFileSync(o.out, yaml);
  if (o.report !== undefined)
    writeFileSync(o.report, o.report.endsWith('.json') ? reportJson(report) : reportMarkdown(report));
  const c = profile.counts();
  log(
    `learn: wrote ${o.out} (${policy.spec.rules.length} rules, monitor mode) from ${c.events} events` +
      (o.report !== undefined ? `; report ${o.report}` : ''),
  );
  if (c.events === 0)
    log('learn: warning: no event of the workload was seen; is it running, and is the target right?');
  return 0;
}
