// SPDX-License-Identifier: Apache-2.0
// The output types the config file may name, and the set of outputs the agent
// feeds: each record is offered to every output, each output on its own.
import { elasticsearchOutput } from './elasticsearch.js';
import { fileOutput } from './file.js';
import { lokiOutput } from './loki.js';
import { otlpOutput } from './otlp.js';
import { Output, type OutputConfig } from './output.js';
import { syslogOutput } from './syslog.js';
import type { OutputRecord, OutputStats, OutputType } from './transport.js';
import { webhookOutput } from './webhook.js';

/** Every output type by its config name; a new transport is one entry here. */
// biome-ignore lint/suspicious/noExplicitAny: each type checks its own options against its schema first.
export const OUTPUT_TYPES: Readonly<Record<string, OutputType<any>>> = {
  file: fileOutput,
  webhook: webhookOutput,
  syslog: syslogOutput,
  loki: lokiOutput,
  otlp: otlpOutput,
  elasticsearch: elasticsearchOutput,
};

/** The agent's outputs: offer() hands one record to each (filters, limits and queues are per output). */
export class Outputs {
  private readonly list: Output[];

  constructor(outputs: Output[]) {
    this.list = outputs;
  }

  /** Outputs for validated configs (loadConfig checked names, types and options). */
  static create(configs: readonly OutputConfig[], node: string): Outputs {
    const made: Output[] = [];
    for (const cfg of configs) {
      const type = OUTPUT_TYPES[cfg.type];
      if (type === undefined) throw new Error(`output ${cfg.name}: unknown type ${cfg.type}`);
      let output: Output | undefined;
      const transport = type.create(cfg.options ?? {}, {
        node,
        name: cfg.name,
        rejected: (count, reason, message) => output?.rejected(count, reason, message),
      });
      output = new Output(cfg, transport);
      made.push(output);
    }
    return new Outputs(made);
  }

  get size(): number {
    return this.list.length;
  }

  start(): void {
    for (const o of this.list) o.start();
  }

  offer(record: OutputRecord): void {
    for (let i = 0; i < this.list.length; i++) this.list[i].offer(record);
  }

  stats(): OutputStats[] {
    return this.list.map((o) => o.stats());
  }

  /** Closes every output in parallel, each flushing until the shared deadline. */
  async close(deadlineMs = 5000): Promise<void> {
    await Promise.all(this.list.map((o) => o.close(deadlineMs)));
  }
}
