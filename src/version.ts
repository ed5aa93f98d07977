/**
 * dmaprop's own package: its root directory and version, found from this module's location (built
 * or not, in a checkout or installed under node_modules).
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

function findPackage(): { root: string | null; version: string } {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let depth = 0; depth < 5; depth++) {
    const candidate = join(dir, 'package.json');
    if (existsSync(candidate)) {
      const manifest = JSON.parse(readFileSync(candidate, 'utf8')) as { name?: unknown; version?: unknown };
      if (manifest.name === 'dmaprop' && typeof manifest.version === 'string') {
        return { root: dir, version: manifest.version };
      }
    }
    dir = dirname(dir);
  }
  return { root: null, version: 'unknown' };
}

const found = findPackage();

export const toolVersion: string = found.version;

/** The directory holding dmaprop's package.json. */
export function packageRoot(): string {
  if (found.root === null) throw new Error("dmaprop: cannot find the package's own package.json");
  return found.root;
}

/**
 * The built-in regression corpus: every shrunk counterexample dmaprop's own designs were caught
 * with, shipped in the package. `replayCorpus(builtinCorpus(), designs)` replays it.
 */
export function builtinCorpus(): string {
  return join(packageRoot(), 'test', 'regressions');
}
