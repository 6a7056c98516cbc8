import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createToolRegistry, parseYamlText, type ToolRegistry } from '@agentplane/tools';

function repoRoot(): string {
  let dir = __dirname;
  while (!existsSync(join(dir, 'package.json'))) {
    const up = dirname(dir);
    if (up === dir) throw new Error('repository root not found');
    dir = up;
  }
  return dir;
}

/** The shipped config/tools.yaml with every endpoint moved to `baseUrl` (a test's tool server). */
export function demoRegistryAt(baseUrl: string): ToolRegistry {
  const file = join(repoRoot(), 'config/tools.yaml');
  const doc = parseYamlText(readFileSync(file, 'utf8'), file) as { tools: { endpoint: { url?: string }; allowedHosts: string[] }[] };
  const base = new URL(baseUrl);
  for (const t of doc.tools) {
    if (t.endpoint.url === undefined) continue; // MCP over stdio: nothing to move
    const u = new URL(t.endpoint.url);
    t.endpoint.url = new URL(u.pathname + u.search, base).toString();
    t.allowedHosts = [base.host];
  }
  return createToolRegistry(doc, `${file} (at ${base.host})`);
}
