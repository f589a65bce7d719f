// SPDX-License-Identifier: Apache-2.0
// Writes the published JSON Schema (docs/event.schema.json) from src/events/schema.ts.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { eventSchema } from '../src/events/schema.js';

const root = join(fileURLToPath(import.meta.url), '..', '..', '..');
writeFileSync(join(root, 'docs', 'event.schema.json'), `${JSON.stringify(eventSchema, null, 2)}\n`);
