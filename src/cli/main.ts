// SPDX-License-Identifier: Apache-2.0
// The `peregrine` command line: parses arguments and hands off to one command.
import { parseArgs } from 'node:util';
import { type ApiOptions, DEFAULT_API_LISTEN, parseListen } from '../api/http.js';
import { removePinnedState } from '../enforce/pin.js';
import { loadFloodFile } from '../sensors/flood/config.js';
import { containersCommand } from './containers.js';
import { EXIT_OK, EXIT_USAGE } from './exit.js';
import { learnCommand } from './learn.js';
import { patchesCommand } from './patches.js';
import { eventsCommand, policyCommand } from './policy.js';
import { replayCommand, rulesValidateCommand } from './rules.js';
import { runCommand } from './run.js';
import { statusCommand } from './status.js';

const USAGE = `usage: peregrine <command> [options]

commands:
  run       load the sensors and stream events to stdout (the default command)
              --output json|compact   event format (default json)
              --ancestors             include every ancestor of each process
              --node-name NAME        node name in events (default $NODE_NAME or the hostname)
              --socket PATH           control socket (default /run/peregrine/peregrine.sock)
              --ring-mb N             ring buffer size in MiB (default 8)
              --wakeup-bytes N        wake the consumer once N bytes wait (default 65536; 0 = every record)
              --poll-ms N             safety-net consume interval in ms (default 50)
              --cache-max N           process cache bound (default 65536)
              --policy FILE_OR_DIR    policies to apply (repeatable; default: the embedded default policy)
              --forks                 also print process.fork events
              --rules FILE_OR_DIR     Falco-format rules (repeatable; default: rules/peregrine_rules.yaml)
              --no-rules              run without detection rules
              --only-alerts           print alerts only
              --keep-enforcing        pin enforcement in bpffs: it outlives the agent; a restart adopts it
              --protect-self          deny signals/detaches aimed at the agent where BPF-LSM runs (else alert)
              --flood FILE            XDP flood and port-scan detection as configured in FILE (docs/network.md)
              --watch                 re-apply the --policy and --rules paths when they change (all or nothing)
              --config FILE           agent config file: outputs (docs/outputs.md); any error rejects it whole
              --sink TYPE:KEY=VALUE,...  one more output, e.g. --sink file:path=/var/log/peregrine/events.json
                                      or --sink webhook:url=https://siem.example/hook,secretFile=/etc/pg/key (repeatable)
              --kubernetes            also apply the cluster's ClusterPolicy and Policy objects (in-cluster config) and
                                      write this node's attestation into their status (docs/kubernetes.md)
              --default-mode MODE     enforce|monitor: mode of every policy that sets no spec.mode
                                      (default enforce; monitor reports what it would block)
              --api HOST:PORT|off     HTTP API and /metrics (default 127.0.0.1:9440; docs/api.md)
              --api-token-file FILE   bearer token clients must send (required off loopback)
              --api-tls-cert FILE     serve HTTPS with this PEM certificate ...
              --api-tls-key FILE      ... and key
              --no-metrics            no Prometheus metrics on the API
              --bpf-stats             count BPF program run time for the metrics (every program on the host
                                      pays two clock reads per run while the agent runs)
  record    FILE [run options]      run and save every enriched event (JSON lines) to FILE
  replay    FILE [--rules F]...     run saved events through rules offline and print the alerts
  rules     validate FILE...        check rule files: errors with file, line, rule and token
  policy    validate FILE... | apply FILE... | delete NAME... | list [--json] | promote NAME... | demote NAME...
              validate checks files locally; the others act on the running agent, live;
              promote puts a policy in enforce mode, demote back in monitor mode (a map update)
  learn     watch one workload and write the least-privilege policy it needs (docs/learn.md)
              --container NAME | --selector k=v,... | --cgroup PATH | --binary PATH   the workload
              --duration D            how long to watch: 30s, 5m, 1h (Ctrl-C stops early and writes)
              --out FILE              the learned policy (monitor mode, with a safety net)
              --report FILE           what was seen and how each line was generalised (.json or Markdown)
              --name NAME             policy name (default learned-<workload>)
              --max-denials N --window D   safety net: back to monitor after N actions within D (10, 60s)
              --socket PATH           learn through the agent on this socket (default); --standalone: own sensors
  patches   list [--json] | apply --affected|--all|ID... [--dry-run] | delete --all|ID...
              the virtual-patch pack (docs/patches.md): list says per entry whether this node is
              affected and what this kernel can enforce; apply sends the chosen policies to the agent
              --pack PATH             another pack (default: the pack shipped in patches/)
  events    follow the running agent's events
              --output json|compact   --kind KIND (repeatable, a prefix like "file" works)
              --pid PID   --policy NAME
              --container NAME_OR_ID   --pod NAMESPACE/NAME (or NAME)
  containers  list the running containers the agent knows, with their event counts
              --json                  machine-readable output
  cleanup   remove pinned enforcement state (/sys/fs/bpf/peregrine) left by --keep-enforcing
  status    report what this kernel supports, and the counters of a running agent
              --json                  machine-readable output
  help      this text

exit codes: 0 ok; 1 error (bad input, failed request, the process sensor cannot load);
  2 unknown command; 3 degraded (run: a sensor failed during the run; status: the agent is degraded)
`;

export async function main(argv: string[]): Promise<number> {
  const first = argv[0];
  const command = first === undefined || first.startsWith('-') ? 'run' : first;
  const rest = command === first ? argv.slice(1) : argv;
  switch (command) {
    case 'run':
      return runCommand(parseRunArgs(rest));
    case 'record': {
      const file = rest[0];
      if (file === undefined || file.startsWith('-')) throw new Error('record wants FILE');
      return runCommand({ ...parseRunArgs(rest.slice(1)), recordPath: file });
    }
    case 'replay': {
      const { values, positionals } = parseArgs({
        args: rest,
        options: { rules: { type: 'string', multiple: true }, output: { type: 'string', default: 'json' } },
        allowPositionals: true,
        strict: true,
      });
      if (positionals.length !== 1) throw new Error('replay wants one FILE');
      return replayCommand(positionals[0], values.rules ?? [], values.output === 'compact');
    }
    case 'rules': {
      if (rest[0] !== 'validate' || rest.length < 2) throw new Error('rules wants: validate FILE...');
      return rulesValidateCommand(rest.slice(1));
    }
    case 'status': {
      const { values } = parseArgs({
        args: rest,
        options: { json: { type: 'boolean', default: false }, socket: { type: 'string' } },
        strict: true,
      });
      return statusCommand({ json: values.json === true, socket: values.socket });
    }
    case 'policy': {
      const { values, positionals } = parseArgs({
        args: rest,
        options: { socket: { type: 'string' }, json: { type: 'boolean', default: false } },
        allowPositionals: true,
        strict: true,
      });
      const args = positionals.slice(1);
      if (values.json === true) args.push('--json');
      return policyCommand(positionals[0], args, values.socket);
    }
    case 'patches': {
      const { values, positionals } = parseArgs({
        args: rest,
        options: {
          socket: { type: 'string' },
          pack: { type: 'string' },
          json: { type: 'boolean', default: false },
          affected: { type: 'boolean', default: false },
          all: { type: 'boolean', default: false },
          'dry-run': { type: 'boolean', default: false },
        },
        allowPositionals: true,
        strict: true,
      });
      return patchesCommand(positionals[0], positionals.slice(1), {
        pack: values.pack,
        socket: values.socket,
        json: values.json === true,
        affected: values.affected === true,
        all: values.all === true,
        dryRun: values['dry-run'] === true,
      });
    }
    case 'events': {
      const { values } = parseArgs({
        args: rest,
        options: {
          socket: { type: 'string' },
          output: { type: 'string', default: 'json' },
          kind: { type: 'string', multiple: true },
          pid: { type: 'string' },
          policy: { type: 'string' },
          container: { type: 'string' },
          pod: { type: 'string' },
        },
        strict: true,
      });
      return eventsCommand({
        socket: values.socket,
        compact: values.output === 'compact',
        kinds: values.kind ?? [],
        pid: values.pid,
        policy: values.policy,
        container: values.container,
        pod: values.pod,
      });
    }
    case 'learn': {
      const { values } = parseArgs({
        args: rest,
        options: {
          container: { type: 'string' },
          selector: { type: 'string' },
          cgroup: { type: 'string' },
          binary: { type: 'string' },
          duration: { type: 'string', default: '5m' },
          out: { type: 'string' },
          report: { type: 'string' },
          name: { type: 'string' },
          socket: { type: 'string' },
          standalone: { type: 'boolean', default: false },
          'max-denials': { type: 'string' },
          window: { type: 'string' },
        },
        strict: true,
      });
      if (values.out === undefined) throw new Error('learn wants --out FILE');
      const ac = new AbortController();
      process.once('SIGINT', () => ac.abort());
      return learnCommand({
        container: values.container,
        selector: values.selector,
        cgroup: values.cgroup,
        binary: values.binary,
        duration: values.duration ?? '5m',
        out: values.out,
        report: values.report,
        name: values.name,
        socket: values.socket,
        standalone: values.standalone === true,
        maxDenials: values['max-denials'],
        window: values.window,
        signal: ac.signal,
      });
    }
    case 'cleanup': {
      const removed = removePinnedState();
      process.stdout.write(
        removed.length > 0
          ? `removed ${removed.length} pins:\n${removed.map((p) => `  ${p}\n`).join('')}`
          : 'nothing pinned\n',
      );
      return 0;
    }
    case 'containers': {
      const { values } = parseArgs({
        args: rest,
        options: { json: { type: 'boolean', default: false }, socket: { type: 'string' } },
        strict: true,
      });
      return containersCommand({ json: values.json === true, socket: values.socket });
    }
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(USAGE);
      return EXIT_OK;
    default:
      process.stderr.write(`peregrine: unknown command ${JSON.stringify(command)}\n${USAGE}`);
      return EXIT_USAGE;
  }
}

function positiveInt(name: string, value: string | undefined, fallback: number, min = 0): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min)
    throw new Error(`--${name} wants a whole number >= ${min}, got ${value}`);
  return n;
}

function parseRunArgs(args: string[]) {
  const { values } = parseArgs({
    args,
    options: {
      output: { type: 'string', default: 'json' },
      ancestors: { type: 'boolean', default: false },
      'node-name': { type: 'string' },
      socket: { type: 'string' },
      'ring-mb': { type: 'string' },
      'wakeup-bytes': { type: 'string' },
      'poll-ms': { type: 'string' },
      'cache-max': { type: 'string' },
      policy: { type: 'string', multiple: true },
      forks: { type: 'boolean', default: false },
      rules: { type: 'string', multiple: true },
      'no-rules': { type: 'boolean', default: false },
      'only-alerts': { type: 'boolean', default: false },
      'keep-enforcing': { type: 'boolean', default: false },
      'protect-self': { type: 'boolean', default: false },
      watch: { type: 'boolean', default: false },
      flood: { type: 'string' },
      kubernetes: { type: 'boolean', default: false },
      config: { type: 'string' },
      sink: { type: 'string', multiple: true },
      api: { type: 'string' },
      'api-token-file': { type: 'string' },
      'api-tls-cert': { type: 'string' },
      'api-tls-key': { type: 'string' },
      'no-metrics': { type: 'boolean', default: false },
      'bpf-stats': { type: 'boolean', default: false },
      'default-mode': { type: 'string' },
    },
    strict: true,
  });
  if (values.output !== 'json' && values.output !== 'compact') {
    throw new Error(`--output wants json or compact, got ${values.output}`);
  }
  const defaultMode = values['default-mode'];
  if (defaultMode !== undefined && defaultMode !== 'enforce' && defaultMode !== 'monitor') {
    throw new Error(`--default-mode wants enforce or monitor, got ${defaultMode}`);
  }
  return {
    output: values.output as 'json' | 'compact',
    ancestors: values.ancestors === true,
    nodeName: values['node-name'],
    socket: values.socket,
    ringBytes: positiveInt('ring-mb', values['ring-mb'], 8, 1) * 1024 * 1024,
    wakeupBytes: positiveInt('wakeup-bytes', values['wakeup-bytes'], 65536),
    pollIntervalMs: positiveInt('poll-ms', values['poll-ms'], 50, 1),
    cacheMax: positiveInt('cache-max', values['cache-max'], 65536, 16),
    policyPaths: values.policy ?? [],
    forks: values.forks === true,
    rulePaths: values['no-rules'] === true ? null : (values.rules ?? []),
    onlyAlerts: values['only-alerts'] === true,
    keepEnforcing: values['keep-enforcing'] === true,
    protectSelf: values['protect-self'] === true,
    watch: values.watch === true,
    kubernetes: values.kubernetes === true,
    configPath: values.config,
    sinkSpecs: values.sink ?? [],
    defaultMode: defaultMode as 'enforce' | 'monitor' | undefined,
    // Read and validated before anything loads: a bad file stops the run with every problem listed.
    flood: values.flood !== undefined ? loadFloodFile(values.flood) : undefined,
    api: apiOptions(values),
  };
}

/** The HTTP API's options from the run flags; undefined for --api off. */
export function apiOptions(values: {
  api?: string;
  'api-token-file'?: string;
  'api-tls-cert'?: string;
  'api-tls-key'?: string;
  'no-metrics'?: boolean;
  'bpf-stats'?: boolean;
}): ApiOptions | undefined {
  const listen = values.api;
  if (listen === 'off') {
    for (const f of ['api-token-file', 'api-tls-cert', 'api-tls-key', 'bpf-stats'] as const)
      if (values[f] !== undefined && values[f] !== false) throw new Error(`--${f} given with --api off`);
    return undefined;
  }
  const cert = values['api-tls-cert'];
  const key = values['api-tls-key'];
  if ((cert === undefined) !== (key === undefined))
    throw new Error('--api-tls-cert and --api-tls-key go together');
  if (listen !== undefined) parseListen(listen); // a clear error before anything loads
  return {
    listen: listen ?? DEFAULT_API_LISTEN,
    tokenFile: values['api-token-file'],
    tls: cert !== undefined && key !== undefined ? { cert, key } : undefined,
    metrics: { enabled: values['no-metrics'] !== true, programRunTime: values['bpf-stats'] === true },
    // The default address taken (a second agent, another service) is said, not fatal; one asked for is.
    bestEffort: listen === undefined,
  };
}
