#!/usr/bin/env node
/**
 * Entry point of the `keyward` binary. The compile cache is switched on before anything else is
 * loaded (it only covers modules loaded after it), hence the dynamic imports.
 */
import { enableCompileCache } from './cli/compile-cache.js';

enableCompileCache();
const { reportAndExit } = await import('./cli/errors.js');
try {
  const { buildProgram } = await import('./cli/program.js');
  await (await buildProgram(process.argv)).parseAsync(process.argv);
} catch (error: unknown) {
  reportAndExit(error);
}
