/**
 * The CLI's view of this repository: `npx dmaprop designs`, `check`, `explore` and `replay` see
 * these designs beside the built-in ones (found here by name; `--config dmaprop.config.ts` says it
 * explicitly). Loaded with jiti: no build step.
 */
import { defineConfig } from 'dmaprop';
import { exampleDesigns } from './designs/index.js';

export default defineConfig({ designs: exampleDesigns });
