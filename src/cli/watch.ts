// SPDX-License-Identifier: Apache-2.0
// `peregrine run --watch`: the policy and rule files or directories given on
// the command line are watched, and a change re-applies them live. A reload
// is all or nothing: files that do not validate, or a policy set the kernel
// refuses (fallback: reject), are reported on stderr and the applied set stays.
import { type FSWatcher, statSync, watch } from 'node:fs';
import { basename, dirname } from 'node:path';

export interface WatchTarget {
  /** Files or directories (as given on the command line). */
  paths: readonly string[];
  /** Loads every path and applies the result; throws (nothing changed) when it cannot. */
  reload(): string;
  /** What is reloaded, for the log lines: "policies", "rules". */
  what: string;
}

export interface ConfigWatcher {
  close(): void;
  /** Reloads done and refused since start. */
  readonly counts: { reloaded: number; refused: number };
}

/**
 * A directory is watched itself; a file through its directory (editors
 * replace files by rename, which a watch on the file itself would lose),
 * filtered to its name. Changes are debounced: one reload per burst.
 */
export function watchConfig(
  targets: readonly WatchTarget[],
  log: (line: string) => void,
  debounceMs = 300,
): ConfigWatcher {
  const watchers: FSWatcher[] = [];
  const timers = new Map<WatchTarget, NodeJS.Timeout>();
  const counts = { reloaded: 0, refused: 0 };
  const fire = (t: WatchTarget) => {
    clearTimeout(timers.get(t));
    timers.set(
      t,
      setTimeout(() => {
        timers.delete(t);
        try {
          const what = t.reload();
          counts.reloaded++;
          log(`${t.what} reloaded: ${what}`);
        } catch (err) {
          counts.refused++;
          log(
            `${t.what} reload refused, the applied ${t.what} stay: ${err instanceof Error ? err.message : String(err)}`,
          );
        }
      }, debounceMs),
    );
  };
  for (const t of targets) {
    for (const p of t.paths) {
      let dir = p;
      let only: string | undefined;
      try {
        if (!statSync(p).isDirectory()) {
          dir = dirname(p);
          only = basename(p);
        }
      } catch (err) {
        throw new Error(`watch ${p}: ${err instanceof Error ? err.message : String(err)}`);
      }
      const w = watch(dir, { persistent: false }, (_event, name) => {
        if (only !== undefined && name !== null && name.toString() !== only) return;
        fire(t);
      });
      w.on('error', (err) => log(`watch ${p}: ${err.message}`));
      watchers.push(w);
    }
  }
  return {
    counts,
    close() {
      for (const w of watchers) w.close();
      for (const timer of timers.values()) clearTimeout(timer);
      timers.clear();
    },
  };
}
