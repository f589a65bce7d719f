// SPDX-License-Identifier: Apache-2.0
// The contract between the agent's output framework (src/sinks/output.ts: a
// bounded queue per output, batching, retries, spool, filters, rate limits,
// counters) and the transports that talk to one kind of server (Loki, OTLP,
// Elasticsearch, syslog, webhook, files). A transport only sends; everything
// about when, how often and what is lost belongs to the framework.
import type { Alert, PeregrineEvent } from '../events/types.js';

/** One event or alert on its way out, with what filters and transports read without parsing. */
export interface OutputRecord {
  /** "alert" for alerts, else the event kind ("process.exec", "file.open", …). */
  readonly kind: string;
  /** The JSON line exactly as stdout prints it, without the newline. */
  readonly line: string;
  /** The event or alert itself (read-only; re-read from `line` when it comes back from the spool). */
  readonly value: PeregrineEvent | Alert;
}

/** Sends batches to one server. Rejecting means "not delivered": the framework retries, spools or drops (counted). */
export interface Transport {
  /** Output type as written in the config ("loki", "otlp", "elasticsearch", "syslog", "webhook", "file"). */
  readonly type: string;
  /** Delivers a batch, in order; resolves once the server accepted it. */
  send(batch: readonly OutputRecord[]): Promise<void>;
  /** Releases sockets and files; pending sends may be abandoned. */
  close(): Promise<void>;
}

/** Counters of one output, as `status`, the metrics and the API show them. */
export interface OutputStats {
  name: string;
  type: string;
  /** Records delivered. */
  sent: number;
  /** Batches sent again after a failure. */
  retried: number;
  /** Records lost, by reason (queue_full, rate_limited, spool_full, rejected, …). */
  dropped: Record<string, number>;
  /** Records skipped by the output's filters (not a loss). */
  filtered: number;
  /** Records waiting in memory and in the spool. */
  queued: number;
  spooled: number;
  /** False while the last attempt failed. */
  healthy: boolean;
  last_error?: string;
}

/** What a transport may need from the agent. */
export interface OutputContext {
  /** The node name events carry. */
  node: string;
  /** The output's name in the config (unique). */
  name: string;
  /**
   * Reports records the server refused for good inside a response that
   * accepted the rest (Elasticsearch bulk item errors, OTLP partial success,
   * Loki's out-of-order or too-old entries). The framework counts `count` in
   * `dropped[reason]` and shows `message` as last_error; the send still
   * resolves, the batch is not retried, and the other records count as sent.
   */
  rejected(count: number, reason: string, message: string): void;
}

/** One kind of output: its options' JSON Schema (validated before anything starts) and its constructor. */
export interface OutputType<O = Record<string, unknown>> {
  readonly type: string;
  /** JSON Schema of the options object (ajv, additionalProperties: false), so a typo is an error, not a default. */
  readonly schema: Record<string, unknown>;
  create(options: O, ctx: OutputContext): Transport;
}
