// SPDX-License-Identifier: Apache-2.0
// `peregrine containers`: the running containers the agent knows (GET /v1/containers), with their event counts.
import { controlRequest, socketPath } from '../api/control.js';
import type { ContainerListing } from '../container/enrich.js';

export interface ContainersOptions {
  socket?: string;
  json: boolean;
}

export async function containersCommand(opts: ContainersOptions): Promise<number> {
  const list = (await controlRequest(socketPath(opts.socket), 'GET', '/v1/containers')) as ContainerListing[];
  if (opts.json) {
    process.stdout.write(`${JSON.stringify(list, null, 2)}\n`);
    return 0;
  }
  process.stdout.write(formatContainers(list));
  return 0;
}

/** One line per container: id, name, image, runtime, pod, event count, selector policies. */
export function formatContainers(list: readonly ContainerListing[]): string {
  const rows = list.map((r) => [
    r.container.id.slice(0, 12),
    r.container.name || '-',
    r.container.image || (r.pending ? '(looking up)' : '-'),
    r.container.runtime,
    r.pod !== undefined ? `${r.pod.namespace || '?'}/${r.pod.name || r.pod.uid}` : '-',
    String(r.events),
    r.policies.join(',') || '-',
  ]);
  const head = ['CONTAINER', 'NAME', 'IMAGE', 'RUNTIME', 'POD', 'EVENTS', 'POLICIES'];
  const width = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) =>
    `${cells
      .map((c, i) => (i === 5 ? c.padStart(width[i]) : c.padEnd(width[i])))
      .join('  ')
      .trimEnd()}\n`;
  return line(head) + rows.map(line).join('');
}
