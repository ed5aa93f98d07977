/**
 * How a worker thread finds the design it is asked to run (`explore --workers`, `check --jobs`):
 * by id in the built-in registry and the config file the command line named, or as a module's
 * export. A design is code, so it cannot be sent to a thread; its source can.
 */
import { isAbsolute, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { AnyDesign } from './design.js';
import type { DesignSource } from './explore-protocol.js';

/** The config files already loaded, by path: a worker of `check --jobs` is asked for many designs. */
const configs = new Map<string, Promise<readonly AnyDesign[]>>();

export async function loadDesign(source: DesignSource, id: string): Promise<AnyDesign> {
  if ('module' in source) {
    const module = (await import(pathOrUrl(source.module))) as Record<string, unknown>;
    const exported = module[source.export];
    const design = (typeof exported === 'function' ? (exported as () => unknown)() : exported) as AnyDesign;
    if (design?.id !== id) throw new Error(`${source.module} export ${source.export} is not design ${id}`);
    return design;
  }
  const { designs } = await import('../properties/registry.js');
  let found = designs.find((design) => design.id === id);
  if (found === undefined && source.config !== null) {
    const path = isAbsolute(source.config) ? source.config : resolve(source.config);
    let loaded = configs.get(path);
    if (loaded === undefined) {
      loaded = import('./config.js').then(async ({ loadConfig }) => (await loadConfig(path, designs)).designs);
      configs.set(path, loaded);
    }
    found = (await loaded).find((design) => design.id === id);
  }
  if (found === undefined) throw new Error(`worker: no design ${id} in the registry or the config`);
  return found;
}

/** A module named by path (as on the command line) or by URL, as a URL `import` takes. */
function pathOrUrl(module: string): string {
  return module.startsWith('file:') ? module : pathToFileURL(resolve(module)).href;
}
