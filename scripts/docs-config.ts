// Writes docs/config.md from the settings table (packages/cli/src/settings.ts) and the recipes; test/config-doc checks it.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { renderConfigDoc } from '../packages/cli/src/config-doc.js';

const path = join(import.meta.dirname, '..', 'docs', 'config.md');
writeFileSync(path, renderConfigDoc());
console.log(`wrote ${path}`);
