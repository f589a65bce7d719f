// SPDX-License-Identifier: Apache-2.0
// The OpenTelemetry logs output: each batch exported as OTLP log records, over
// HTTP/protobuf or gRPC, with OpenTelemetry's own exporters and attribute names.
import { readFileSync } from 'node:fs';
import { credentials, Metadata } from '@grpc/grpc-js';
import { type Attributes, DiagLogLevel, diag, type HrTime, SeverityNumber } from '@opentelemetry/api';
import { OTLPLogExporter as GrpcLogExporter } from '@opentelemetry/exporter-logs-otlp-grpc';
import { OTLPLogExporter as ProtoLogExporter } from '@opentelemetry/exporter-logs-otlp-proto';
import { type Resource, resourceFromAttributes } from '@opentelemetry/resources';
import type { LogRecordExporter, ReadableLogRecord } from '@opentelemetry/sdk-logs';
import {
  ATTR_CLIENT_ADDRESS,
  ATTR_CLIENT_PORT,
  ATTR_CONTAINER_ID,
  ATTR_CONTAINER_IMAGE_NAME,
  ATTR_K8S_NAMESPACE_NAME,
  ATTR_K8S_POD_NAME,
  ATTR_K8S_POD_UID,
  ATTR_NETWORK_LOCAL_ADDRESS,
  ATTR_NETWORK_LOCAL_PORT,
  ATTR_NETWORK_PEER_ADDRESS,
  ATTR_NETWORK_PEER_PORT,
  ATTR_NETWORK_TRANSPORT,
  ATTR_NETWORK_TYPE,
  ATTR_SERVER_ADDRESS,
  ATTR_SERVER_PORT,
  ATTR_SERVICE_NAME,
} from '@opentelemetry/semantic-conventions';
// Process, container, file, host and user attributes are still "development" in the
// conventions; the package publishes them from this entry point.
import {
  ATTR_CONTAINER_NAME,
  ATTR_CONTAINER_RUNTIME_NAME,
  ATTR_FILE_PATH,
  ATTR_HOST_NAME,
  ATTR_PROCESS_COMMAND_ARGS,
  ATTR_PROCESS_CREATION_TIME,
  ATTR_PROCESS_EXECUTABLE_NAME,
  ATTR_PROCESS_EXECUTABLE_PATH,
  ATTR_PROCESS_EXIT_CODE,
  ATTR_PROCESS_PARENT_PID,
  ATTR_PROCESS_PID,
  ATTR_PROCESS_REAL_USER_ID,
  ATTR_PROCESS_USER_ID,
  ATTR_PROCESS_WORKING_DIRECTORY,
  ATTR_USER_ID,
} from '@opentelemetry/semantic-conventions/incubating';
import type { Alert, PeregrineEvent, Priority } from '../events/types.js';
import { unixNanos } from './nanos.js';
import type { OutputContext, OutputRecord, OutputType, Transport } from './transport.js';

// A type alias, not an interface: it is then assignable to the registry's OutputType<Record<string, unknown>>.
export type OtlpOptions = {
  /** "http/protobuf" (POST to `url`, e.g. "http://collector:4318/v1/logs") or "grpc" (`url` e.g. "http://collector:4317"). */
  protocol: 'http/protobuf' | 'grpc';
  url: string;
  /** HTTP headers, or gRPC metadata. */
  headers?: Record<string, string>;
  /** PEM file of the CA that signed the collector's certificate (https URLs). */
  caFile?: string;
  /** Default "none". */
  compression?: 'none' | 'gzip';
  /** Per-export timeout (the HTTP exporter's own retries of 429/502/503/504 stay within it). Default 10000. */
  timeoutMs?: number;
};

const schema = {
  type: 'object',
  additionalProperties: false,
  required: ['protocol', 'url'],
  properties: {
    protocol: { enum: ['http/protobuf', 'grpc'] },
    url: { type: 'string', pattern: '^https?://[^\\s]+$' },
    headers: { type: 'object', additionalProperties: { type: 'string' } },
    caFile: { type: 'string', minLength: 1 },
    compression: { enum: ['none', 'gzip'] },
    timeoutMs: { type: 'integer', minimum: 100, maximum: 600000 },
  },
};

/** Alert priority → OTel severity (the syslog mapping of the OTel logs data model, FATAL split to keep the order). */
const SEVERITY: Record<Priority, SeverityNumber> = {
  EMERGENCY: SeverityNumber.FATAL3,
  ALERT: SeverityNumber.FATAL2,
  CRITICAL: SeverityNumber.FATAL,
  ERROR: SeverityNumber.ERROR,
  WARNING: SeverityNumber.WARN,
  NOTICE: SeverityNumber.INFO2,
  INFORMATIONAL: SeverityNumber.INFO,
  DEBUG: SeverityNumber.DEBUG,
};

function baseName(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1);
}

/** The log record attributes of an event (also those of an alert, from its source event). */
export function otlpEventAttributes(e: PeregrineEvent, attrs: Attributes = {}): Attributes {
  const p = e.process;
  attrs[ATTR_PROCESS_PID] = p.pid;
  attrs[ATTR_PROCESS_PARENT_PID] = p.ppid;
  attrs[ATTR_PROCESS_EXECUTABLE_PATH] = p.binary;
  attrs[ATTR_PROCESS_EXECUTABLE_NAME] = baseName(p.binary);
  attrs[ATTR_PROCESS_COMMAND_ARGS] = p.args;
  attrs[ATTR_PROCESS_WORKING_DIRECTORY] = p.cwd;
  attrs[ATTR_PROCESS_CREATION_TIME] = p.start_time;
  attrs[ATTR_PROCESS_USER_ID] = p.euid;
  attrs[ATTR_PROCESS_REAL_USER_ID] = p.uid;
  attrs[ATTR_USER_ID] = String(p.uid);
  if (e.exit) attrs[ATTR_PROCESS_EXIT_CODE] = e.exit.code;
  attrs['peregrine.kind'] = e.kind;
  attrs['peregrine.exec_id'] = p.exec_id;
  if (p.parent_exec_id) attrs['peregrine.parent_exec_id'] = p.parent_exec_id;
  if (e.container) {
    attrs[ATTR_CONTAINER_ID] = e.container.id;
    attrs[ATTR_CONTAINER_NAME] = e.container.name;
    attrs[ATTR_CONTAINER_IMAGE_NAME] = e.container.image;
    attrs[ATTR_CONTAINER_RUNTIME_NAME] = e.container.runtime;
  }
  if (e.pod) {
    attrs[ATTR_K8S_POD_NAME] = e.pod.name;
    attrs[ATTR_K8S_POD_UID] = e.pod.uid;
    attrs[ATTR_K8S_NAMESPACE_NAME] = e.pod.namespace;
  }
  if (e.file) {
    attrs[ATTR_FILE_PATH] = e.file.path;
    if (e.file.new_path) attrs['peregrine.file.new_path'] = e.file.new_path;
  }
  const n = e.network;
  if (n) {
    attrs[ATTR_NETWORK_TRANSPORT] = n.family === 'unix' ? 'unix' : n.protocol;
    if (n.family !== 'unix') attrs[ATTR_NETWORK_TYPE] = n.family === 'inet6' ? 'ipv6' : 'ipv4';
    if (n.local_address) {
      attrs[ATTR_NETWORK_LOCAL_ADDRESS] = n.local_address;
      attrs[ATTR_NETWORK_LOCAL_PORT] = n.local_port;
    }
    if (n.remote_address) {
      attrs[ATTR_NETWORK_PEER_ADDRESS] = n.remote_address;
      attrs[ATTR_NETWORK_PEER_PORT] = n.remote_port;
      // The peer is the server when this process connects, the client when it accepts.
      if (e.kind === 'network.connect' || e.kind === 'network.send') {
        attrs[ATTR_SERVER_ADDRESS] = n.remote_address;
        attrs[ATTR_SERVER_PORT] = n.remote_port;
      } else if (e.kind === 'network.accept') {
        attrs[ATTR_CLIENT_ADDRESS] = n.remote_address;
        attrs[ATTR_CLIENT_PORT] = n.remote_port;
      }
    }
  }
  if (e.policy) attrs['peregrine.policy'] = e.policy.name;
  if (e.action) attrs['peregrine.action'] = e.action.taken;
  return attrs;
}

function hrTime(iso: string): HrTime {
  const ns = unixNanos(iso);
  return [Number(ns / 1000000000n), Number(ns % 1000000000n)];
}

/** One OTLP log record: body the JSON line (events) or the alert's output, severity from the priority. */
export function toLogRecord(r: OutputRecord, resource: Resource): ReadableLogRecord {
  const v = r.value;
  const time = hrTime(v.time);
  if (v.kind === 'alert') {
    const a: Alert = v;
    const attrs = otlpEventAttributes(a.source_event);
    attrs['peregrine.kind'] = 'alert';
    attrs['peregrine.event.kind'] = a.source_event.kind;
    attrs['peregrine.rule'] = a.rule;
    attrs['peregrine.priority'] = a.priority;
    attrs['peregrine.tags'] = a.tags;
    if (a.mitre?.tactic) attrs['peregrine.mitre.tactic'] = a.mitre.tactic;
    if (a.mitre?.technique) attrs['peregrine.mitre.technique'] = a.mitre.technique;
    if (a.collapsed !== undefined) attrs['peregrine.collapsed'] = a.collapsed;
    return {
      hrTime: time,
      hrTimeObserved: time,
      severityNumber: SEVERITY[a.priority],
      severityText: a.priority,
      body: a.output,
      eventName: 'peregrine.alert',
      resource,
      instrumentationScope: SCOPE,
      attributes: attrs,
      droppedAttributesCount: 0,
    };
  }
  return {
    hrTime: time,
    hrTimeObserved: time,
    severityNumber: SeverityNumber.INFO,
    severityText: 'INFO',
    body: r.line,
    eventName: `peregrine.${v.kind}`,
    resource,
    instrumentationScope: SCOPE,
    attributes: otlpEventAttributes(v),
    droppedAttributesCount: 0,
  };
}

const SCOPE = { name: 'peregrine' };

/**
 * OTLP partial success ("accepted, but N records rejected") reaches no caller
 * of the OpenTelemetry exporters: their response handler only logs it through
 * the global diag logger, synchronously, right before it calls the export's
 * callback. A diag logger that keeps the last one lets that callback read it;
 * nothing can run in between, so it belongs to that export. Installed once, at
 * the first OTLP output; other diag messages are dropped (failures reach the
 * send's Error instead). A test guards the message this relies on.
 */
let lastPartialSuccess: { rejected: number; message: string } | undefined;
let diagInstalled = false;

function installDiag(): void {
  if (diagInstalled) return;
  diagInstalled = true;
  const none = () => {};
  diag.setLogger(
    {
      error: none,
      info: none,
      debug: none,
      verbose: none,
      warn: (message: string, ...args: unknown[]) => {
        if (!message.startsWith('Received Partial Success response')) return;
        try {
          const p = JSON.parse(String(args[0])) as {
            rejectedLogRecords?: number | string;
            errorMessage?: string;
          };
          lastPartialSuccess = { rejected: Number(p.rejectedLogRecords ?? 0), message: p.errorMessage ?? '' };
        } catch {
          lastPartialSuccess = { rejected: 0, message: String(args[0]) };
        }
      },
    },
    { logLevel: DiagLogLevel.WARN, suppressOverrideMessage: true },
  );
}

/** An exporter's error with what the collector answered: OTLPExporterError keeps the HTTP status and body aside. */
function describe(err: (Error & { code?: unknown; data?: unknown }) | undefined): string {
  if (!err) return 'export failed';
  const code = typeof err.code === 'number' ? ` (${err.code})` : '';
  const data =
    typeof err.data === 'string' && err.data !== '' ? `: ${err.data.replace(/\s+/g, ' ').slice(0, 300)}` : '';
  return `${err.message}${code}${data}`;
}

class OtlpTransport implements Transport {
  readonly type = 'otlp';
  private readonly exporter: LogRecordExporter;
  private readonly resource: Resource;

  constructor(
    private readonly opts: OtlpOptions,
    private readonly ctx: OutputContext,
  ) {
    installDiag();
    this.resource = resourceFromAttributes({ [ATTR_SERVICE_NAME]: 'peregrine', [ATTR_HOST_NAME]: ctx.node });
    const ca = opts.caFile ? readFileSync(opts.caFile) : undefined;
    const timeoutMillis = opts.timeoutMs ?? 10000;
    const compression = (opts.compression ?? 'none') as never;
    if (opts.protocol === 'grpc') {
      const metadata = new Metadata();
      for (const [k, v] of Object.entries(opts.headers ?? {})) metadata.set(k, v);
      this.exporter = new GrpcLogExporter({
        url: opts.url,
        timeoutMillis,
        compression,
        metadata,
        ...(opts.url.startsWith('https:') ? { credentials: credentials.createSsl(ca ?? null) } : {}),
      });
    } else {
      this.exporter = new ProtoLogExporter({
        url: opts.url,
        timeoutMillis,
        compression,
        headers: { ...opts.headers },
        ...(ca ? { httpAgentOptions: { ca } } : {}),
      });
    }
  }

  send(batch: readonly OutputRecord[]): Promise<void> {
    if (batch.length === 0) return Promise.resolve();
    const records = batch.map((r) => toLogRecord(r, this.resource));
    return new Promise((resolve, reject) => {
      this.exporter.export(records, (result) => {
        const partial = lastPartialSuccess;
        lastPartialSuccess = undefined;
        // 0 is ExportResultCode.SUCCESS.
        if (result.code !== 0) {
          reject(new Error(`otlp (${this.opts.protocol}): ${describe(result.error)}`));
          return;
        }
        if (partial && partial.rejected > 0) {
          const n = Math.min(partial.rejected, batch.length);
          this.ctx.rejected(
            n,
            'rejected',
            `otlp: ${n} of ${batch.length} log records rejected: ${partial.message}`,
          );
        }
        resolve();
      });
    });
  }

  close(): Promise<void> {
    return this.exporter.shutdown();
  }
}

export const otlpOutput: OutputType<OtlpOptions> = {
  type: 'otlp',
  schema,
  create: (options, ctx) => new OtlpTransport(options, ctx),
};
