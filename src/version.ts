/** dmaprop's own version, read from its package.json (found from this module, built or not). */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

function findVersion(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let depth = 0; depth < 5; depth++) {
    const candidate = join(dir, 'package.json');
    if (existsSync(candidate)) {
      const manifest = JSON.parse(readFileSync(candidate, 'utf8')) as { name?: unknown; version?: unknown };
      if (manifest.name === 'dmaprop' && typeof manifest.version === 'string') return manifest.version;
    }
    dir = dirname(dir);
  }
  return 'unknown';
}

export const toolVersion: string = findVersion();
