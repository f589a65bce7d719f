// SPDX-License-Identifier: Apache-2.0
// The Policy resource (apiVersion peregrine.dev/v1alpha1, kind Policy): what
// to watch and what to do, as the loader returns it after validation.
import type { EventKind } from '../events/types.js';

/** A value list with an include and an exclude side; both optional. */
export interface InNotIn<T> {
  in?: T[];
  notIn?: T[];
}

/** Path selectors: a path matches when any listed form matches. */
export interface PathSelector {
  /** Whole absolute paths. */
  exact?: string[];
  /** Absolute path prefixes (up to 248 bytes are matched in the kernel). */
  prefix?: string[];
  /** File-name suffixes (no "/"), e.g. ".pem", "authorized_keys". */
  suffix?: string[];
  /** Shell globs (*, ?, [..], ** across "/"); the kernel matches their literal prefix, user space the rest. */
  glob?: string[];
}

export type OpenAccess = 'read' | 'write' | 'create' | 'truncate';

export interface RuleMatch {
  /** The event's path (open, unlink, chmod, …); rename and link match the old OR the new path, symlink the link path OR the target as written. */
  paths?: PathSelector;
  /** Open access asked; the rule matches when the open asks any of these. */
  access?: OpenAccess[];
  /** The process's binary: full paths ("/usr/bin/curl") or base names ("curl"). */
  binaries?: InNotIn<string>;
  /** The parent process's binary, same forms. */
  parentBinaries?: InNotIn<string>;
  /** Substrings any argument must contain (user space: argv is not in kernel maps). */
  args?: { contains?: string[] };
  uids?: InNotIn<number>;
  gids?: InNotIn<number>;
  /** The rule matches when the process has any of these effective capabilities. */
  capabilities?: string[];
  /** host: only processes in the host's namespaces; container: only processes in others. */
  namespaces?: 'host' | 'container';
  /** Remote port (connect, send) or local port (bind, listen, accept: the listening port). */
  ports?: InNotIn<number>;
  /** Remote addresses as CIDRs ("10.0.0.0/8", "::1/128"). */
  addresses?: InNotIn<string>;
  /** cgroup v2 ids (containers; the container layer fills these from selectors). */
  cgroupIds?: InNotIn<number>;
}

export type PolicyAction = 'audit' | 'deny' | 'kill' | 'signal';

export interface PolicyRule {
  /** Optional name, unique in the policy; defaults to "rule-<index>". */
  name: string;
  kinds: EventKind[];
  match: RuleMatch;
  action: PolicyAction;
  /** For action signal: e.g. "SIGSTOP". */
  signal?: string;
  /** When the action is impossible on this kernel: take kill instead, only audit, or refuse the policy. */
  fallback?: 'kill' | 'audit' | 'reject';
}

/**
 * The safety net of an enforcing policy: more than `maxDenials` actions taken
 * (deny, kill, signal) within `window` puts the policy back in monitor mode,
 * with a CRITICAL alert "Policy rolled back".
 */
export interface PolicySafety {
  maxDenials: number;
  /** A duration as written: "500ms", "60s", "5m", "1h". */
  window: string;
}

export interface Policy {
  apiVersion: 'peregrine.dev/v1alpha1';
  kind: 'Policy';
  metadata: {
    name: string;
    labels?: Record<string, string>;
    /**
     * Set only for a namespaced Kubernetes Policy (src/k8s/policies.ts; files cannot set it): the
     * policy acts on that namespace's pods only, and never on a container whose pod is unknown yet.
     */
    namespace?: string;
  };
  spec: {
    mode: 'enforce' | 'monitor';
    rules: PolicyRule[];
    /** Kubernetes-style selection of containers/pods (container issue): matchLabels etc. */
    selector?: Record<string, unknown>;
    /** Automatic rollback to monitor when enforcing acts too often (docs/learn.md). */
    safety?: PolicySafety;
  };
  /** Where it came from, for error messages and `policy list`. */
  source: { file: string };
}
