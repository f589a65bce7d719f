// SPDX-License-Identifier: Apache-2.0
// --keep-enforcing: the enforcement programs' links and the maps they read are
// pinned under /sys/fs/bpf/peregrine/ so enforcement outlives the agent (even
// SIGKILL). The next agent adopts that state: its objects reuse the pinned
// maps (one set of policy maps, one ring buffer), the pinned links stay as they
// are (no gap, no second attachment), and `peregrine cleanup` removes it all.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, rmdirSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { BpfMap, findMount, type Link } from '../kernel/index.js';

/** Where pins live; PEREGRINE_PIN_ROOT overrides (tests). Must be on bpffs. */
export function pinRoot(): string {
  return process.env.PEREGRINE_PIN_ROOT ?? '/sys/fs/bpf/peregrine';
}

/** Mounts bpffs on /sys/fs/bpf when nothing is mounted there (pins need it). */
export function ensureBpffs(): void {
  const mounts = findMountsOfType('bpf');
  if (mounts.some((m) => pinRoot().startsWith(m))) return;
  mkdirSync('/sys/fs/bpf', { recursive: true });
  execFileSync('mount', ['-t', 'bpf', 'bpf', '/sys/fs/bpf']);
}

function findMountsOfType(type: string): string[] {
  // findMount returns the first one; bpffs is usually mounted once, at /sys/fs/bpf.
  const first = findMount(type);
  return first === undefined ? [] : [first];
}

export class PinnedState {
  readonly root: string;
  /** Maps found pinned at start (adopted), by name. */
  private readonly adopted = new Map<string, BpfMap>();
  /** Program names whose links were found pinned at start (they keep enforcing). */
  readonly adoptedLinks = new Set<string>();

  private constructor(root: string) {
    this.root = root;
  }

  /** Opens (adopts) what a previous agent pinned, creating the directories when absent. */
  static open(): PinnedState {
    ensureBpffs();
    const s = new PinnedState(pinRoot());
    mkdirSync(join(s.root, 'maps'), { recursive: true });
    mkdirSync(join(s.root, 'links'), { recursive: true });
    for (const name of readdirSync(join(s.root, 'maps'))) {
      try {
        s.adopted.set(name, BpfMap.openPinned(join(s.root, 'maps', name)));
      } catch {
        // a half-written pin: ignored, replaced by this agent's map
      }
    }
    for (const name of readdirSync(join(s.root, 'links'))) s.adoptedLinks.add(name);
    return s;
  }

  /** The adopted map of this name (to reuse before load), or undefined. */
  map(name: string): BpfMap | undefined {
    return this.adopted.get(name);
  }

  get adopting(): boolean {
    return this.adoptedLinks.size > 0;
  }

  /** Pins a map of this agent unless the same name is already pinned (adopted). */
  pinMap(map: BpfMap): void {
    const path = join(this.root, 'maps', map.name);
    if (this.adopted.has(map.name) || existsSync(path)) return;
    map.pin(path);
  }

  /** Pins a link as links/<program>. */
  pinLink(link: Link): void {
    const path = join(this.root, 'links', link.program);
    if (!existsSync(path)) link.pin(path);
  }

  /**
   * Removes the pin of an adopted link: once no process holds it, the kernel
   * detaches it (a policy no longer needs that backend).
   */
  dropLink(program: string): void {
    const path = join(this.root, 'links', program);
    if (existsSync(path)) unlinkSync(path);
    this.adoptedLinks.delete(program);
  }

  /** Closes the adopted map handles (the pins stay). */
  close(): void {
    for (const m of this.adopted.values()) m.close();
    this.adopted.clear();
  }
}

/** `peregrine cleanup`: removes every pin under the pin root; returns the removed paths. */
export function removePinnedState(root = pinRoot()): string[] {
  const removed: string[] = [];
  if (!existsSync(root)) return removed;
  for (const sub of ['links', 'maps']) {
    const dir = join(root, sub);
    if (!existsSync(dir)) continue;
    for (const name of readdirSync(dir)) {
      unlinkSync(join(dir, name));
      removed.push(join(dir, name));
    }
    rmdirSync(dir);
  }
  rmdirSync(root);
  return removed;
}
