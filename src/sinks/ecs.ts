// SPDX-License-Identifier: Apache-2.0
// Events and alerts as Elastic Common Schema documents, for the Elasticsearch /
// OpenSearch output. docs/ecs.md lists every field written here; a test checks both ways.
import type {
  Alert,
  EventKind,
  NetworkInfo,
  PeregrineEvent,
  Priority,
  ProcessInfo,
} from '../events/types.js';
import { mitreFromTags } from '../rules/alert.js';

/** The ECS version the mapping follows (checked against @elastic/ecs's definitions in the tests). */
export const ECS_VERSION = '9.4.0';

export type EcsDocument = Record<string, unknown>;

/** event.category and event.type per kind, from ECS's allowed category/type pairs. */
const KIND_ECS: Record<EventKind, { category: string; type: string[] }> = {
  'process.exec': { category: 'process', type: ['start'] },
  'process.exit': { category: 'process', type: ['end'] },
  'process.fork': { category: 'process', type: ['start'] },
  'file.open': { category: 'file', type: ['access'] },
  'file.unlink': { category: 'file', type: ['deletion'] },
  'file.rename': { category: 'file', type: ['change'] },
  'file.link': { category: 'file', type: ['creation'] },
  'file.symlink': { category: 'file', type: ['creation'] },
  'file.chmod': { category: 'file', type: ['change'] },
  'file.chown': { category: 'file', type: ['change'] },
  'file.truncate': { category: 'file', type: ['change'] },
  'file.mount': { category: 'file', type: ['change'] },
  'network.connect': { category: 'network', type: ['connection', 'start'] },
  'network.accept': { category: 'network', type: ['connection', 'start'] },
  'network.bind': { category: 'network', type: ['info'] },
  'network.listen': { category: 'network', type: ['start'] },
  'network.send': { category: 'network', type: ['info'] },
  'privilege.setuid': { category: 'process', type: ['change'] },
  'privilege.setgid': { category: 'process', type: ['change'] },
  'privilege.capset': { category: 'process', type: ['change'] },
  'privilege.prctl': { category: 'process', type: ['change'] },
  'namespace.unshare': { category: 'process', type: ['change'] },
  'namespace.setns': { category: 'process', type: ['change'] },
  'process.ptrace': { category: 'process', type: ['access'] },
  'kernel.module_load': { category: 'driver', type: ['start'] },
  'kernel.bpf': { category: 'host', type: ['change'] },
  'kernel.kexec': { category: 'host', type: ['change'] },
  'process.memfd_create': { category: 'file', type: ['creation'] },
};

/** Syslog severity numbers (0 = emergency … 7 = debug), as the priorities are syslog's. */
const SEVERITY: Record<Priority, number> = {
  EMERGENCY: 0,
  ALERT: 1,
  CRITICAL: 2,
  ERROR: 3,
  WARNING: 4,
  NOTICE: 5,
  INFORMATIONAL: 6,
  DEBUG: 7,
};

/** MITRE ATT&CK enterprise tactics: rule tag slug → id and name. */
const TACTICS: Record<string, [string, string]> = {
  reconnaissance: ['TA0043', 'Reconnaissance'],
  resource_development: ['TA0042', 'Resource Development'],
  initial_access: ['TA0001', 'Initial Access'],
  execution: ['TA0002', 'Execution'],
  persistence: ['TA0003', 'Persistence'],
  privilege_escalation: ['TA0004', 'Privilege Escalation'],
  defense_evasion: ['TA0005', 'Defense Evasion'],
  credential_access: ['TA0006', 'Credential Access'],
  discovery: ['TA0007', 'Discovery'],
  lateral_movement: ['TA0008', 'Lateral Movement'],
  collection: ['TA0009', 'Collection'],
  command_and_control: ['TA0011', 'Command and Control'],
  exfiltration: ['TA0010', 'Exfiltration'],
  impact: ['TA0040', 'Impact'],
};

function baseName(path: string): string {
  const i = path.lastIndexOf('/');
  return i < 0 ? path : path.slice(i + 1);
}

function dirName(path: string): string {
  const i = path.lastIndexOf('/');
  return i <= 0 ? '/' : path.slice(0, i);
}

/** process.* (and process.parent.*): the identity fields ECS has a place for. */
function ecsProcess(p: ProcessInfo): Record<string, unknown> {
  const out: Record<string, unknown> = {
    pid: p.pid,
    entity_id: p.exec_id,
    executable: p.binary,
    name: baseName(p.binary),
    args: p.args,
    args_count: p.args.length,
    command_line: p.args.join(' '),
    working_directory: p.cwd,
    start: p.start_time,
    interactive: p.tty !== '',
    user: { id: String(p.euid) },
    real_user: { id: String(p.uid) },
    group: { id: String(p.egid) },
    real_group: { id: String(p.gid) },
  };
  return out;
}

/** source/destination/server and network.* for a socket event; unix sockets have paths, not IPs. */
function ecsNetwork(kind: EventKind, n: NetworkInfo, doc: EcsDocument): void {
  // ECS's network.transport is an IANA protocol name; a unix socket's "stream"/"dgram" is not one.
  doc.network = {
    ...(n.family === 'unix' ? {} : { transport: n.protocol }),
    ...(n.family === 'inet' ? { type: 'ipv4' } : n.family === 'inet6' ? { type: 'ipv6' } : {}),
    ...(kind === 'network.connect' || kind === 'network.send'
      ? { direction: 'egress' }
      : kind === 'network.accept'
        ? { direction: 'ingress' }
        : {}),
  };
  if (n.family === 'unix') return;
  const local = n.local_address ? { ip: n.local_address, port: n.local_port } : undefined;
  const remote = n.remote_address ? { ip: n.remote_address, port: n.remote_port } : undefined;
  if (kind === 'network.accept') {
    if (remote) doc.source = remote;
    if (local) doc.destination = local;
  } else if (kind === 'network.bind' || kind === 'network.listen') {
    if (local) doc.server = local;
  } else {
    if (local) doc.source = local;
    if (remote) doc.destination = remote;
  }
}

function outcome(e: PeregrineEvent): 'success' | 'failure' | 'unknown' {
  if (e.action?.taken === 'deny') return 'failure';
  if (e.return_code === undefined) return 'unknown';
  return e.return_code < 0 ? 'failure' : 'success';
}

/** The fields an event contributes to its own document and to an alert about it. */
function eventFields(e: PeregrineEvent, doc: EcsDocument): void {
  const ecsKind = KIND_ECS[e.kind] ?? { category: 'host', type: ['info'] };
  const proc = ecsProcess(e.process);
  if (e.parent) proc.parent = ecsProcess(e.parent);
  if (e.exit) proc.exit_code = e.exit.code;
  doc.process = proc;
  doc.user = { id: String(e.process.uid) };
  doc.host = { hostname: e.node, name: e.node };
  const event = doc.event as Record<string, unknown>;
  event.category = [ecsKind.category];
  event.type = ecsKind.type;
  event.action = e.kind;
  event.outcome = outcome(e);
  if (e.container) {
    doc.container = {
      id: e.container.id,
      name: e.container.name,
      image: { name: e.container.image },
      runtime: e.container.runtime,
    };
  }
  if (e.pod) {
    doc.orchestrator = {
      type: 'kubernetes',
      namespace: e.pod.namespace,
      resource: { type: 'pod', name: e.pod.name, id: e.pod.uid },
    };
  }
  const peregrine: Record<string, unknown> = { kind: e.kind };
  if (e.file) {
    const f = e.file;
    // A symlink event's `path` is the target and `new_path` the link; ECS describes the link itself.
    const symlink = e.kind === 'file.symlink' && f.new_path !== undefined;
    const path = symlink ? (f.new_path as string) : f.path;
    const file: Record<string, unknown> = { path, name: baseName(path), directory: dirName(path) };
    if (symlink) file.target_path = f.path;
    if (f.mode !== undefined) file.mode = (f.mode & 0o7777).toString(8).padStart(4, '0');
    if (f.uid !== undefined) file.uid = String(f.uid);
    if (f.gid !== undefined) file.gid = String(f.gid);
    doc.file = file;
    if (f.new_path && !symlink) peregrine.file = { new_path: f.new_path };
  } else if (e.kernel?.path) {
    doc.file = { path: e.kernel.path, name: baseName(e.kernel.path), directory: dirName(e.kernel.path) };
  }
  if (e.network) ecsNetwork(e.kind, e.network, doc);
  if (e.policy) peregrine.policy = e.policy.name;
  if (e.action) peregrine.action = e.action.taken;
  doc.peregrine = peregrine;
}

/** One line a person reads in Kibana's Discover: what happened, to what. */
function summary(e: PeregrineEvent): string {
  const what = e.file?.path ?? (e.network ? `${e.network.remote_address}:${e.network.remote_port}` : '');
  return `${e.kind} ${e.process.binary}${what ? ` ${what}` : ''}`;
}

/** The ECS document for an event or an alert (an alert carries its source event's fields). */
export function toEcs(value: PeregrineEvent | Alert): EcsDocument {
  if (value.kind === 'alert') {
    const a = value;
    const doc: EcsDocument = {
      '@timestamp': a.time,
      ecs: { version: ECS_VERSION },
      message: a.output,
      event: {
        kind: 'alert',
        module: 'peregrine',
        dataset: 'peregrine.alerts',
        severity: SEVERITY[a.priority],
      },
      log: { level: a.priority.toLowerCase() },
      rule: { name: a.rule },
      tags: a.tags,
    };
    eventFields(a.source_event, doc);
    const peregrine = doc.peregrine as Record<string, unknown>;
    peregrine.priority = a.priority;
    if (a.collapsed !== undefined) peregrine.collapsed = a.collapsed;
    const mitre = a.mitre ?? mitreFromTags(a.tags);
    if (mitre) {
      const threat: Record<string, unknown> = { framework: 'MITRE ATT&CK' };
      const tactic = TACTICS[mitre.tactic];
      if (tactic) threat.tactic = { id: [tactic[0]], name: [tactic[1]] };
      else if (mitre.tactic) threat.tactic = { name: [mitre.tactic] };
      if (mitre.technique) {
        const [parent, sub] = mitre.technique.split('.');
        threat.technique = {
          id: [parent],
          reference: [`https://attack.mitre.org/techniques/${parent}/`],
          ...(sub ? { subtechnique: { id: [mitre.technique] } } : {}),
        };
      }
      doc.threat = threat;
    }
    return doc;
  }
  const doc: EcsDocument = {
    '@timestamp': value.time,
    ecs: { version: ECS_VERSION },
    message: summary(value),
    event: { kind: 'event', module: 'peregrine', dataset: 'peregrine.events' },
  };
  eventFields(value, doc);
  return doc;
}

/** Every leaf field path of a document, arrays as one field ("process.args"). */
export function ecsFieldPaths(doc: EcsDocument, prefix = '', out = new Set<string>()): Set<string> {
  for (const [k, v] of Object.entries(doc)) {
    const path = prefix ? `${prefix}.${k}` : k;
    if (v !== null && typeof v === 'object' && !Array.isArray(v)) ecsFieldPaths(v as EcsDocument, path, out);
    else out.add(path);
  }
  return out;
}
