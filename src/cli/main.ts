// SPDX-License-Identifier: Apache-2.0
// The `peregrine` command line: parses arguments and hands off to one command.
import { parseArgs } from 'node:util';
import { removePinnedState } from '../enforce/pin.js';
import { containersCommand } from './containers.js';
import { EXIT_OK, EXIT_USAGE } from './exit.js';
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
              --watch                 re-apply the --policy and --rules paths when they change (all or nothing)
              --kubernetes            also apply the cluster's ClusterPolicy objects (in-cluster config) and
                                      write this node's attestation into their status (docs/kubernetes.md)
  record    FILE [run options]      run and save every enriched event (JSON lines) to FILE
  replay    FILE [--rules F]...     run saved events through rules offline and print the alerts
  rules     validate FILE...        check rule files: errors with file, line, rule and token
  policy    validate FILE... | apply FILE... | delete NAME... | list [--json]
              validate checks files locally; the others act on the running agent, live
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
      kubernetes: { type: 'boolean', default: false },
    },
    strict: true,
  });
  if (values.output !== 'json' && values.output !== 'compact') {
    throw new Error(`--output wants json or compact, got ${values.output}`);
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
  };
}
