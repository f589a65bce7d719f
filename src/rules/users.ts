// SPDX-License-Identifier: Apache-2.0
// uid/gid to name lookups for user.name, user.loginname and group.name, read once from /etc/passwd and /etc/group.

import { readFileSync } from 'node:fs';

/** Resolves user and group ids to names; rules and tests may pass their own. */
export interface UserDb {
  userName(uid: number): string | undefined;
  groupName(gid: number): string | undefined;
}

function parseIdFile(text: string): Map<number, string> {
  const m = new Map<number, string>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const parts = line.split(':');
    if (parts.length < 3) continue;
    const id = Number(parts[2]);
    if (Number.isInteger(id) && !m.has(id)) m.set(id, parts[0]);
  }
  return m;
}

function readOrEmpty(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

/** A fixed table; uid/gid 0 fall back to "root" like every Linux system. */
export function staticUserDb(users: Record<number, string>, groups: Record<number, string> = {}): UserDb {
  const u = new Map(Object.entries(users).map(([k, v]) => [Number(k), v]));
  const g = new Map(Object.entries(groups).map(([k, v]) => [Number(k), v]));
  return {
    userName: (uid) => u.get(uid) ?? (uid === 0 ? 'root' : undefined),
    groupName: (gid) => g.get(gid) ?? (gid === 0 ? 'root' : undefined),
  };
}

/**
 * The host's /etc/passwd and /etc/group, read on first use and cached for the
 * life of the process (names of container users are those of the host: the
 * agent does not read container filesystems).
 */
export function systemUserDb(passwdPath = '/etc/passwd', groupPath = '/etc/group'): UserDb {
  let users: Map<number, string> | undefined;
  let groups: Map<number, string> | undefined;
  return {
    userName(uid) {
      users ??= parseIdFile(readOrEmpty(passwdPath));
      return users.get(uid) ?? (uid === 0 ? 'root' : undefined);
    },
    groupName(gid) {
      groups ??= parseIdFile(readOrEmpty(groupPath));
      return groups.get(gid) ?? (gid === 0 ? 'root' : undefined);
    },
  };
}
