// SPDX-License-Identifier: Apache-2.0
// `peregrine run`: starts the agent, streams events to stdout, and on SIGINT /
// SIGTERM detaches everything and prints the final counters to stderr. A
// sensor that fails (other than the process sensor) is said on stderr, one
// line each, and the run goes on without it; the exit code then says degraded.
import { createWriteStream } from 'node:fs';
import { Agent, type AgentOptions, type DegradedStatus } from '../agent.js';
import type { ApiOptions } from '../api/http.js';
import { type AgentConfig, loadConfigFile, parseOutputFlag } from '../config/load.js';
import { inClusterConfig, KubeClient } from '../k8s/client.js';
import { PolicyController } from '../k8s/policies.js';
import { loadDefaultPolicy, loadPolicyPath, loadPolicyText } from '../policy/load.js';
import type { Policy } from '../policy/types.js';
import { nodeIdentity } from '../process/identity.js';
import type { OutputConfig } from '../sinks/output.js';
import { Outputs } from '../sinks/registry.js';
import { EXIT_DEGRADED, EXIT_OK } from './exit.js';
import { defaultRulesPath, loadRulePaths } from './rules.js';
import { degradedLines, degradedSummary, formatCounters, formatDegraded, formatOutputs } from './status.js';
import { type ConfigWatcher, type WatchTarget, watchConfig } from './watch.js';

export interface RunOptions
  extends Omit<AgentOptions, 'onEvent' | 'policies' | 'parsePolicies' | 'rules' | 'onDegraded'> {
  /** Policy files or directories; none: the embedded default policy. */
  policyPaths: string[];
  /** Rule files or directories; empty: the default ruleset; null: no rules. */
  rulePaths: string[] | null;
  /** `peregrine record`: also save every enriched event to this file. */
  recordPath?: string;
  /** Re-apply the policy and rule paths when they change (src/cli/watch.ts). */
  watch?: boolean;
  /** Apply the cluster's ClusterPolicy and Policy objects alongside the files' policies (src/k8s/policies.ts). */
  kubernetes?: boolean;
  /** Mode of every policy (files, API, cluster) whose spec sets none; default enforce. */
  defaultMode?: 'enforce' | 'monitor';
  /** The agent config file (docs/outputs.md); rejected whole on any error, before anything loads. */
  configPath?: string;
  /** `--sink TYPE:KEY=VALUE,...` outputs, added to the config file's. */
  sinkSpecs?: string[];
}

/** The outputs of the config file and the --sink flags, checked (names unique across both). */
export function outputConfigs(config: AgentConfig | undefined, sinkSpecs: string[] = []): OutputConfig[] {
  const configs = [...(config?.outputs ?? [])];
  const taken = new Set(configs.map((c) => c.name));
  for (const spec of sinkSpecs) {
    const cfg = parseOutputFlag(spec, taken);
    if (taken.has(cfg.name)) throw new Error(`--sink ${spec}: an output named ${cfg.name} exists already`);
    taken.add(cfg.name);
    configs.push(cfg);
  }
  return configs;
}

/**
 * The API's options: the config file's `api:` section under the flags. `--api off`
 * wins; a flag given replaces that field; the default address is taken only when
 * neither names one (and then, as without a config file, a busy port is not fatal).
 */
export function apiConfig(
  flags: ApiOptions | undefined,
  file: ApiOptions | undefined,
): ApiOptions | undefined {
  if (flags === undefined || file === undefined) return flags;
  const listenGiven = flags.bestEffort !== true;
  return {
    ...file,
    listen: listenGiven ? flags.listen : (file.listen ?? flags.listen),
    bestEffort: !listenGiven && file.listen === undefined,
    tokenFile: flags.tokenFile ?? file.tokenFile,
    tls: flags.tls ?? file.tls,
    metrics: {
      ...file.metrics,
      ...(flags.metrics?.enabled === false ? { enabled: false } : {}),
      ...(flags.metrics?.programRunTime === true ? { programRunTime: true } : {}),
    },
  };
}

export async function runCommand(opts: RunOptions): Promise<number> {
  // Read before anything loads: outside a pod --kubernetes fails at once, with nothing attached.
  const kube = opts.kubernetes === true ? new KubeClient(inClusterConfig()) : undefined;
  const config = opts.configPath !== undefined ? loadConfigFile(opts.configPath) : undefined;
  const outputConfigList = outputConfigs(config, opts.sinkSpecs);
  const api = apiConfig(opts.api, config?.api);
  const loadOpts = { defaultMode: opts.defaultMode };
  let policies: Policy[] =
    opts.policyPaths.length > 0
      ? opts.policyPaths.flatMap((p) => loadPolicyPath(p, loadOpts))
      : loadDefaultPolicy(loadOpts);
  const rules =
    opts.rulePaths === null
      ? undefined
      : loadRulePaths(opts.rulePaths.length > 0 ? opts.rulePaths : [defaultRulesPath()]);
  const recorder = opts.recordPath !== undefined ? createWriteStream(opts.recordPath) : undefined;
  // Each line once: the status is re-sent whole whenever it changes (a later policy apply, a later failure).
  const said = new Set<string>();
  const sayDegraded = (status: DegradedStatus) => {
    for (const line of degradedLines(status)) {
      if (said.has(line)) continue;
      said.add(line);
      process.stderr.write(`peregrine: degraded: ${line}\n`);
    }
  };
  const outputs =
    outputConfigList.length > 0
      ? Outputs.create(outputConfigList, nodeIdentity(opts.nodeName).name)
      : undefined;
  const agent = new Agent({
    ...opts,
    api,
    outputs,
    policies,
    parsePolicies: (text, file) => loadPolicyText(text, file, loadOpts),
    rules,
    onEvent:
      recorder !== undefined
        ? (ev) => {
            recorder.write(`${JSON.stringify(ev)}\n`);
          }
        : undefined,
    onDegraded: sayDegraded,
  });
  const report = await agent.start();
  process.stderr.write(
    `peregrine: running on ${report.node}` +
      (report.degraded !== undefined ? ` (${degradedSummary(report.degraded)})` : '') +
      `: attached ${report.attached.join(', ')}` +
      (report.unsupported.length > 0 ? `; not supported here: ${report.unsupported.join('; ')}` : '') +
      `; seeded ${report.seeded} processes; policies ${report.policies.join(', ') || 'none'}` +
      `; control socket ${report.socket || 'off'}` +
      (outputConfigList.length > 0
        ? `; outputs ${outputConfigList.map((o) => `${o.name} (${o.type})`).join(', ')}`
        : '') +
      `; API ${report.api || 'off'}\n`,
  );
  if (report.apiError !== undefined)
    process.stderr.write(
      `peregrine: API not started: ${report.apiError} (--api HOST:PORT to choose another)\n`,
    );
  let k8s: PolicyController | undefined;
  if (kube !== undefined) {
    k8s = new PolicyController({
      client: kube,
      target: agent,
      node: report.node,
      defaultMode: opts.defaultMode,
      // The files' policies (or the embedded default) stay applied under the cluster's.
      base: () => policies,
    });
    k8s.start();
    process.stderr.write('peregrine: applying ClusterPolicy and Policy objects from the API server\n');
  }
  let watcher: ConfigWatcher | undefined;
  if (opts.watch === true) {
    const targets: WatchTarget[] = [];
    if (opts.policyPaths.length > 0)
      targets.push({
        what: 'policies',
        paths: opts.policyPaths,
        reload: () => {
          const next = opts.policyPaths.flatMap((p) => loadPolicyPath(p, loadOpts));
          agent.applyPolicies([...next, ...(k8s?.policies() ?? [])]);
          policies = next;
          return next.map((p) => p.metadata.name).join(', ') || 'none';
        },
      });
    if (opts.rulePaths !== null && opts.rulePaths.length > 0) {
      const paths = opts.rulePaths;
      targets.push({
        what: 'rules',
        paths,
        reload: () => {
          const next = loadRulePaths(paths);
          agent.replaceRules(next);
          return `${next.rules().length} rules`;
        },
      });
    }
    watcher = watchConfig(targets, (line) => process.stderr.write(`peregrine: ${line}\n`));
    process.stderr.write(
      `peregrine: watching ${targets.flatMap((t) => t.paths).join(', ') || 'nothing (no --policy or --rules path)'}\n`,
    );
  }
  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      process.stderr.write(`peregrine: ${signal}, detaching\n`);
      resolve();
    };
    process.once('SIGINT', () => stop('SIGINT'));
    process.once('SIGTERM', () => stop('SIGTERM'));
  });
  watcher?.close();
  await k8s?.stop();
  const { degraded, ...counters } = await agent.stop();
  if (recorder !== undefined) await new Promise<void>((resolve) => recorder.end(() => resolve()));
  process.stderr.write(
    `peregrine: final counters\n${formatDegraded(degraded)}${formatCounters(counters)}${formatOutputs(counters)}`,
  );
  if (!agent.wasDegraded) return EXIT_OK;
  process.stderr.write(`peregrine: this run was degraded: exit code ${EXIT_DEGRADED}\n`);
  return EXIT_DEGRADED;
}
