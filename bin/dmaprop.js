#!/usr/bin/env node
// The CLI is compiled TypeScript; `npm run build` (run by `npm run check` and `npm test`) produces it.
// It runs on a worker thread so that Ctrl-C can stop a search cleanly (dist/src/cli-process.js).
import { runCliProcess } from '../dist/src/cli-process.js';

process.exitCode = await runCliProcess(process.argv.slice(2));
