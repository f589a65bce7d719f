// SPDX-License-Identifier: Apache-2.0
// Writes the published JSON Schemas: docs/event.schema.json from src/events/schema.ts,
// docs/config.schema.json (the agent config file) from src/config/schema.ts.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { configSchema } from '../src/config/schema.js';
import { eventSchema } from '../src/events/schema.js';

const root = join(fileURLToPath(import.meta.url), '..', '..', '..');
writeFileSync(join(root, 'docs', 'event.schema.json'), `${JSON.stringify(eventSchema, null, 2)}\n`);
writeFileSync(join(root, 'docs', 'config.schema.json'), `${JSON.stringify(configSchema(), null, 2)}\n`);
