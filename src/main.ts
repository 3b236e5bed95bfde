#!/usr/bin/env node
/** Entry point of the `keyward` binary. */
import { buildProgram } from './cli/program.js';
import { reportAndExit } from './cli/errors.js';

buildProgram()
  .parseAsync(process.argv)
  .catch((error: unknown) => reportAndExit(error));
