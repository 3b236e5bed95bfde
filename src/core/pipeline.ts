/**
 * Composition of the per-call pipeline (DESIGN.md §2). A step receives the call context and a
 * `next` that runs the rest of the chain. No step calls `next` more than once (the one retry after
 * an upstream 401/403 happens inside the terminal, the credential session), though it is allowed.
 * The step list is fixed at startup; a call only walks it.
 */
export type Next<R> = () => Promise<R>;
export type Step<C, R> = (ctx: C, next: Next<R>) => Promise<R>;

export function composePipeline<C, R>(steps: readonly Step<C, R>[], terminal: (ctx: C) => Promise<R>) {
  const run = (index: number, ctx: C): Promise<R> => {
    const step = steps[index];
    if (step === undefined) return terminal(ctx);
    return step(ctx, () => run(index + 1, ctx));
  };
  return (ctx: C): Promise<R> => run(0, ctx);
}
