/**
 * A user's designs for the CLI: `dmaprop.config.{ts,mts,js,mjs}` in the working directory, or
 * the file `--config` names, exports them:
 *
 *     import { defineConfig, xenGtDesign } from 'dmaprop';
 *     export default defineConfig({ designs: [xenGtDesign({ id: 'mine/…', … })] });
 *
 * Every verb then treats them exactly like the built-in designs, and every replay line it prints
 * names the config file. A TypeScript config is loaded with jiti (no build step).
 */
import { existsSync, statSync } from 'node:fs';
import { isAbsolute, join, relative, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { createJiti } from 'jiti';
import { designProblems } from './design.js';
import type { AnyDesign } from './design.js';

export interface DmapropConfig {
  /** Designs added to every verb, beside the built-in ones; ids must not repeat a built-in one. */
  readonly designs?: readonly AnyDesign[];
}

/** Types a config (the identity function): `export default defineConfig({ designs: [...] })`. */
export function defineConfig(config: DmapropConfig): DmapropConfig {
  return config;
}

/** Looked for in the working directory, in this order, when `--config` is not given. */
export const CONFIG_FILES: readonly string[] = [
  'dmaprop.config.ts',
  'dmaprop.config.mts',
  'dmaprop.config.js',
  'dmaprop.config.mjs',
];

/** A config file that cannot be used: the CLI prints it and exits 2. */
export class ConfigError extends Error {
  constructor(file: string, problem: string) {
    super(`config ${file}: ${problem}`);
    this.name = 'ConfigError';
  }
}

export interface LoadedConfig {
  /** The file, as the user named it or relative to the working directory; null when there is none. */
  readonly file: string | null;
  readonly designs: readonly AnyDesign[];
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

async function importConfig(path: string): Promise<unknown> {
  if (/\.[mc]?ts$/.test(path)) {
    const jiti = createJiti(import.meta.url, { interopDefault: false, moduleCache: false });
    return jiti.import(path);
  }
  return import(pathToFileURL(path).href);
}

function designsOf(file: string, module: unknown): readonly AnyDesign[] {
  if (!isRecord(module)) throw new ConfigError(file, 'does not export anything');
  const exported = module['default'] ?? module;
  if (!isRecord(exported)) throw new ConfigError(file, 'its default export must be an object { designs: [...] }');
  const designs = exported['designs'] ?? module['designs'];
  if (designs === undefined) throw new ConfigError(file, 'exports no designs (export default { designs: [...] })');
  if (!Array.isArray(designs)) throw new ConfigError(file, 'designs must be an array of designs');
  designs.forEach((design: unknown, index) => {
    const fields = ['id', 'stack', 'expected', 'init', 'step', 'resolve', 'commands', 'invariants'];
    const missing = isRecord(design) ? fields.filter((field) => !(field in design)) : fields;
    if (missing.length > 0) {
      throw new ConfigError(file, `designs[${index}] is not a design (missing ${missing.join(', ')})`);
    }
  });
  return designs as AnyDesign[];
}

/**
 * Loads the config `explicit` names, or the first of `CONFIG_FILES` in `cwd`; none is fine. Its
 * designs must be well formed and their ids new: a clash with a built-in design or another of its
 * own is a `ConfigError`.
 */
export async function loadConfig(
  explicit: string | undefined,
  builtIn: readonly AnyDesign[],
  cwd = process.cwd(),
): Promise<LoadedConfig> {
  let file: string | undefined = explicit;
  if (file === undefined) file = CONFIG_FILES.find((name) => existsSync(join(cwd, name)));
  if (file === undefined) return { file: null, designs: [] };
  const path = isAbsolute(file) ? file : resolve(cwd, file);
  if (!existsSync(path)) throw new ConfigError(file, 'no such file');
  if (!statSync(path).isFile()) throw new ConfigError(file, 'not a regular file');
  let module: unknown;
  try {
    module = await importConfig(path);
  } catch (error) {
    throw new ConfigError(file, `cannot be loaded: ${(error as Error).message}`);
  }
  const designs = designsOf(file, module);
  const seen = new Set(builtIn.map((design) => design.id));
  for (const design of designs) {
    if (seen.has(design.id)) {
      const where = builtIn.some((known) => known.id === design.id) ? 'a built-in design' : 'another of its designs';
      throw new ConfigError(file, `design id '${design.id}' is already taken by ${where}`);
    }
    seen.add(design.id);
    const problems = designProblems(design);
    if (problems.length > 0) throw new ConfigError(file, problems.join('; '));
  }
  const shown = explicit ?? relative(cwd, path);
  return { file: shown, designs };
}
