/** steps/authorize.ts: the authorizer decides with the validated arguments; a denial stops the call. */
import { describe, expect, it } from 'vitest';
import { KeywardError } from '../../../../src/core/errors.js';
import type { AuthorizeInput, Authorizer } from '../../../../src/policy/authorizer.js';
import { authorizeStep } from '../../../../src/server/steps/authorize.js';
import { context, okResult } from './context.js';

function authorizer(decide: (input: AuthorizeInput) => Promise<void>): Authorizer {
  return {
    authorize: async (input) => {
      await decide(input);
      return { ruleIds: ['all'], via: 'allow' };
    },
    canEverUse: () => true,
  };
}

describe('authorize step', () => {
  it('passes principal, tool, permission, arguments and session; records the authorization', async () => {
    const seen: AuthorizeInput[] = [];
    const ctx = context();
    ctx.args = { id: '7' };
    const result = await authorizeStep(
      authorizer((input) => {
        seen.push(input);
        return Promise.resolve();
      }),
    )(ctx, () => Promise.resolve(okResult));
    expect(result).toBe(okResult);
    expect(seen[0]).toMatchObject({
      principal: ctx.principal,
      tool: 'get_item',
      permission: 'items:read',
      args: { id: '7' },
      requestId: 'req-1',
      sessionId: 's-1',
    });
    expect(ctx.authorization).toEqual({ ruleIds: ['all'], via: 'allow' });
  });

  it('a denial is thrown and nothing after it runs', async () => {
    const ctx = context();
    let reached = false;
    await expect(
      authorizeStep(authorizer(() => Promise.reject(new KeywardError('permission_denied', 'no'))))(
        ctx,
        () => {
          reached = true;
          return Promise.resolve(okResult);
        },
      ),
    ).rejects.toMatchObject({ code: 'permission_denied' });
    expect(reached).toBe(false);
    expect(ctx.authorization).toBeUndefined();
  });
});
