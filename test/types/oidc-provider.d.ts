/** oidc-provider ships no types; the tests use a small, loosely typed part of it. */
declare module 'oidc-provider' {
  interface InteractionDetails {
    uid: string;
    params: Record<string, unknown>;
    prompt: { name: string };
  }
  interface Grant {
    addOIDCScope(scope: string): void;
    save(): Promise<string>;
  }
  class Provider {
    constructor(issuer: string, configuration: Record<string, unknown>);
    Grant: new (fields: { accountId: string; clientId: string }) => Grant;
    interactionDetails(req: unknown, res: unknown): Promise<InteractionDetails>;
    interactionFinished(
      req: unknown,
      res: unknown,
      result: Record<string, unknown>,
      options?: { mergeWithLastSubmission?: boolean },
    ): Promise<void>;
    on(event: string, listener: (...args: never[]) => void): void;
    callback(): unknown;
  }
  export default Provider;
}
