/** Test configs: a bearer-protected local API with tools that exercise every pipeline branch. */
export function coreConfig(
  dir: string,
  origin: string,
  extra: { audit?: Record<string, unknown> } = {},
): Record<string, unknown> {
  const tool = (
    pathTemplate: string,
    permission: string,
    input: Record<string, unknown> = {},
    more: Record<string, unknown> = {},
  ) => ({
    description: `GET ${pathTemplate}`,
    permission,
    credential: 'api',
    request: { method: 'GET', url: `${origin}${pathTemplate}` },
    input: {
      type: 'object',
      properties: input,
      ...(Object.keys(input).length ? { required: Object.keys(input) } : {}),
    },
    ...more,
  });
  return {
    agents: { local: { roles: ['owner'], tenant: 'default' } },
    identity: { stdio: { agent: 'local' } },
    backends: { local: { type: 'file', path: `${dir}/secrets.enc`, keyPath: `${dir}/master.key` } },
    credentials: {
      api: {
        backend: 'local',
        ref: 'api',
        inject: { header: 'Authorization', format: 'Bearer {value}' },
        origins: [origin],
      },
      missing: { backend: 'local', ref: 'does-not-exist', inject: { type: 'bearer' }, origins: [origin] },
    },
    tools: {
      get_repo: tool('/repos/{owner}/{repo}', 'api:read', {
        owner: { type: 'string' },
        repo: { type: 'string' },
      }),
      echo_raw: tool('/echo/raw', 'api:read'),
      echo_encodings: tool('/echo/encodings', 'api:read'),
      echo_header: tool(
        '/echo/header',
        'api:read',
        {},
        { responseHeaders: ['x-ratelimit-remaining', 'set-cookie', 'content-type'] },
      ),
      ratelimited: tool('/ratelimited', 'api:read'),
      slow: tool('/slow', 'api:read', {}, { timeouts: { totalMs: 400 } }),
      huge: tool('/huge', 'api:read', {}, { maxResponseBytes: 65536 }),
      // the parsed copy kept at any size, so that the depth limit of the parse is what answers
      deep_json: tool('/deep', 'api:read', {}, { structuredBodyMaxBytes: 4 * 1024 * 1024 }),
      create_any: {
        description: 'POST /items with any arguments',
        permission: 'api:write',
        credential: 'api',
        request: { method: 'POST', url: `${origin}/items`, body: 'args' },
        input: { type: 'object', additionalProperties: true },
      },
      redirect: {
        ...tool('/redirect', 'api:read', { to: { type: 'string' } }),
        request: { method: 'GET', url: `${origin}/redirect`, query: { to: '{to}' } },
      },
      server_error: tool('/status/503', 'api:read'),
      create_item: {
        description: 'POST /items',
        permission: 'api:write',
        credential: 'api',
        request: { method: 'POST', url: `${origin}/items`, body: 'args' },
        input: { type: 'object', properties: { name: { type: 'string' } }, required: ['name'] },
      },
      forbidden_read: {
        ...tool('/repos/{owner}/{repo}', 'admin:read', {
          owner: { type: 'string' },
          repo: { type: 'string' },
        }),
        credential: 'missing',
      },
    },
    policy: {
      hideUnusableTools: false,
      rules: [
        { id: 'read', effect: 'allow', roles: ['owner'], permissions: ['api:read', 'api:write'] },
        { id: 'no-admin', effect: 'deny', permissions: ['admin:*'] },
      ],
    },
    audit: extra.audit ?? { type: 'sqlite', path: `${dir}/audit.db` },
    grants: { store: 'memory', path: `${dir}/grants.db` },
    logging: { level: 'debug' },
  };
}
