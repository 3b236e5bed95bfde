/** Step 1: arguments against the tool's compiled JSON Schema (invalid → invalid_arguments). */
import type { Step } from '../../core/pipeline.js';
import type { CallSuccess } from '../../core/types.js';
import { checkArgumentSize } from '../argument-validator.js';
import type { CallContext } from '../call-context.js';

export const validateStep: Step<CallContext, CallSuccess> = (ctx, next) => {
  checkArgumentSize(ctx.rawArgs);
  ctx.args = ctx.tool.validate(ctx.rawArgs);
  return next();
};
