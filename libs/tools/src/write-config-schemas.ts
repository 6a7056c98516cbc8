/**
 * Writes schemas/config/*.schema.json from the in-code schemas:
 *   node dist/libs/tools/src/write-config-schemas.js [dir]   (default schemas/config)
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CONFIG_SCHEMAS, configSchemaText } from './config-schemas';

export function writeConfigSchemas(dir: string): string[] {
  mkdirSync(dir, { recursive: true });
  return (Object.keys(CONFIG_SCHEMAS) as (keyof typeof CONFIG_SCHEMAS)[]).map((file) => {
    const p = join(dir, file);
    writeFileSync(p, configSchemaText(file));
    return p;
  });
}

if (require.main === module) {
  for (const p of writeConfigSchemas(process.argv[2] ?? 'schemas/config')) process.stdout.write(`wrote ${p}\n`);
}
