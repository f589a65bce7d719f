// SPDX-License-Identifier: Apache-2.0
// Prints a running agent's counters (GET /v1/status on its control socket) as one JSON line, for the shell benchmarks.
//
// Usage: node dist/bench/agent-stats.js SOCKET
import { controlRequest } from '../src/api/control.js';

const socket = process.argv[2];
if (socket === undefined) {
  process.stderr.write('usage: agent-stats SOCKET\n');
  process.exit(2);
}
const stats = await controlRequest(socket, 'GET', '/v1/status');
process.stdout.write(`${JSON.stringify(stats)}\n`);
