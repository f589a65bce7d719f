// SPDX-License-Identifier: Apache-2.0
// Errors of the kernel boundary: every failure of the addon is wrapped once here,
// with a short lowercase verb phrase, errno, a hint for known causes and, for
// loads rejected by the verifier, a one-line summary plus the full log.
import { readLockdown } from './sysfs.js';

/** Fields the addon sets on every Error it throws. */
export interface NativeErrorFields {
  op: string;
  name: string;
  errno: number;
  code: string;
  log?: string;
  libbpfLog?: string;
  program?: string;
}

export function isNativeError(e: unknown): e is Error & NativeErrorFields {
  return e instanceof Error && typeof (e as Partial<NativeErrorFields>).errno === 'number';
}

export interface KernelErrorInit {
  op: string;
  object?: string;
  program?: string;
  errno: number;
  code: string;
  cause?: string;
  detail?: string;
  hint?: string;
}

/** A failed kernel/libbpf operation. `message` = "<op> <target>: <cause> (<CODE>)[: detail]". */
export class KernelError extends Error {
  readonly op: string;
  readonly object: string | undefined;
  readonly program: string | undefined;
  readonly errno: number;
  readonly code: string;
  readonly hint: string | undefined;

  constructor(init: KernelErrorInit, options?: { cause?: unknown }) {
    const target = init.program ?? init.object;
    const cause = init.cause ?? 'failed';
    let message = `${init.op}${target ? ' ' + target : ''}: ${cause} (${init.code})`;
    if (init.detail) message += ': ' + init.detail;
    super(message, options);
    this.name = new.target.name;
    this.op = init.op;
    this.object = init.object;
    this.program = init.program;
    this.errno = init.errno;
    this.code = init.code;
    this.hint = init.hint;
  }
}

/** The verifier rejected a program: `summary` is one line, `log` the whole verifier output. */
export class VerifierError extends KernelError {
  readonly summary: string;
  readonly #log: string;

  constructor(init: KernelErrorInit & { log: string }, options?: { cause?: unknown }) {
    const summary = summarizeVerifierLog(init.log);
    super({ ...init, detail: summary }, options);
    this.summary = summary;
    this.#log = init.log;
  }

  /** The full verifier log (kept out of `message` and of JSON/inspect output). */
  get log(): string {
    return this.#log;
  }
}

/** The kernel lacks (or forbids) a hook or helper; `reason` says which and why. */
export class NotSupportedError extends KernelError {
  readonly reason: string;

  constructor(init: KernelErrorInit & { reason: string }, options?: { cause?: unknown }) {
    super({ ...init, detail: init.detail ?? init.reason }, options);
    this.reason = init.reason;
  }
}

const NOISE = [
  /^processed \d+ insns/,
  /^verification time/,
  /^stack depth/,
  /^libbpf:/,
  /^-- (BEGIN|END) PROG LOAD LOG --/,
  /^Validating /,
  /^\s*$/,
];

/** The last meaningful line of a verifier log (the rejection reason, usually). */
export function summarizeVerifierLog(log: string): string {
  const lines = log.split('\n');
  for (let i = lines.length - 1; i >= 0; i--) {
    const line = lines[i].trim();
    if (!NOISE.some((re) => re.test(line))) return line.length > 200 ? line.slice(0, 197) + '...' : line;
  }
  return 'verifier rejected the program (empty log)';
}

/** A hint for errors whose cause is usually the environment, not the program. */
export function hintFor(errno: number, log = ''): string | undefined {
  if (/lockdown/i.test(log) || (errno === 1 && readLockdown())) {
    return `kernel lockdown (${readLockdown() ?? 'active'}) forbids this; boot with lockdown=none or without Secure Boot enforcement`;
  }
  if (
    /vmlinux BTF|kernel BTF|failed to find valid kernel BTF/i.test(log) ||
    (errno === 3 && /btf/i.test(log))
  ) {
    return 'kernel lacks BTF (/sys/kernel/btf/vmlinux)';
  }
  if (errno === 1)
    return 'needs root or CAP_BPF+CAP_PERFMON; check kernel.unprivileged_bpf_disabled / lockdown';
  if (errno === 12)
    return 'raise RLIMIT_MEMLOCK (ulimit -l) — only kernels before 5.11 charge BPF memory to it';
  return undefined;
}

function causeOf(e: Error & NativeErrorFields): string {
  const m = /: ([^:]*?) \(([A-Z0-9_]+)\)/.exec(e.message);
  return m ? m[1] : e.message;
}

export interface WrapContext {
  /** Verb phrase, e.g. "load program", "attach program". */
  op: string;
  object?: string;
  program?: string;
  detail?: string;
}

/** Wraps an addon error once; non-native errors pass through unchanged. */
export function wrapNativeError(e: unknown, ctx: WrapContext): unknown {
  if (!isNativeError(e)) return e;
  const program = ctx.program ?? (e.program || undefined);
  const log = e.libbpfLog ?? e.log ?? '';
  const init: KernelErrorInit = {
    op: ctx.op,
    object: ctx.object,
    program,
    errno: e.errno,
    code: e.code,
    cause: causeOf(e),
    detail: ctx.detail,
    hint: hintFor(e.errno, log),
  };
  if (e.log !== undefined && e.libbpfLog !== undefined && e.log !== e.libbpfLog) {
    return new VerifierError({ ...init, log: e.log }, { cause: e });
  }
  return new KernelError(init, { cause: e });
}
