#!/usr/bin/env node
// SPDX-License-Identifier: Apache-2.0
// The `peregrine` command: runs the compiled CLI (npm run build first).
import { main } from '../dist/src/cli/main.js';

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    process.stderr.write(`peregrine: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  },
);
