/**
 * Reads an OpenAPI 3.0/3.1 or Swagger 2.0 document (JSON or YAML, file or URL) and dereferences it
 * with @apidevtools/swagger-parser. Circular `$ref`s become object cycles (to-tools caps the depth).
 * External `$ref`s are only followed to files inside the spec's own directory, never over the network,
 * so a hostile spec cannot pull a local key file or an internal URL into tool metadata.
 */
import { createHash } from 'node:crypto';
import { readFile, realpath } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

/** A dereferenced document; objects may be shared and cyclic. */
export type OpenApiDocument = Record<string, unknown>;

export interface LoadedSpec {
  readonly document: OpenApiDocument;
  /** '2.0', '3.0.x' or '3.1.x' as written in the document. */
  readonly version: string;
  /** Where it was read from: an absolute path or the URL. */
  readonly location: string;
  /** SHA-256 (hex) of the raw text. */
  readonly sha256: string;
}

export interface LoadSpecOptions {
  /** Relative paths are resolved against this directory (default: the working directory). */
  readonly baseDir?: string | undefined;
  /** Largest document accepted, in bytes. */
  readonly maxBytes?: number;
  /** Timeout for fetching a spec given as an http(s) URL. */
  readonly fetchTimeoutMs?: number;
}

const DEFAULT_MAX_BYTES = 50 * 1024 * 1024;

/** A spec that cannot be read or parsed; the message names the location, never file contents. */
export class SpecLoadError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'SpecLoadError';
  }
}

export function isUrl(location: string): boolean {
  return /^https?:\/\//i.test(location);
}

async function readText(location: string, options: LoadSpecOptions): Promise<string> {
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_BYTES;
  if (isUrl(location)) {
    let response: Response;
    try {
      response = await fetch(location, {
        redirect: 'follow',
        signal: AbortSignal.timeout(options.fetchTimeoutMs ?? 15_000),
        headers: { accept: 'application/json, application/yaml, text/yaml, */*' },
      });
    } catch (error) {
      throw new SpecLoadError(`cannot fetch ${location}: ${(error as Error).name}`, { cause: error });
    }
    if (!response.ok) throw new SpecLoadError(`cannot fetch ${location}: HTTP ${response.status}`);
    const text = await response.text();
    if (Buffer.byteLength(text) > maxBytes)
      throw new SpecLoadError(`${location} is larger than ${maxBytes} bytes`);
    return text;
  }
  let buffer: Buffer;
  try {
    buffer = await readFile(location);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'unknown error';
    throw new SpecLoadError(
      code === 'ENOENT' ? `OpenAPI document not found: ${location}` : `cannot read ${location}: ${code}`,
    );
  }
  if (buffer.byteLength > maxBytes) throw new SpecLoadError(`${location} is larger than ${maxBytes} bytes`);
  return buffer.toString('utf8');
}

async function parseText(text: string, location: string): Promise<unknown> {
  const trimmed = text.trimStart();
  try {
    if (trimmed.startsWith('{')) return JSON.parse(trimmed) as unknown;
    const { parse: parseYaml } = await import('yaml');
    return parseYaml(text, { maxAliasCount: 1000, prettyErrors: false }) as unknown;
  } catch (error) {
    throw new SpecLoadError(`${location} is neither valid JSON nor valid YAML: ${(error as Error).message}`);
  }
}

/** A file resolver for external `$ref`s that refuses anything outside `root` (refusals are recorded). */
function confinedFileResolver(root: string, refusals: string[]) {
  return {
    order: 100,
    canRead: (file: { url: string }) => /^file:/i.test(file.url) || !/^[a-z][a-z0-9+.-]*:/i.test(file.url),
    read: async (file: { url: string }): Promise<Buffer> => {
      const filePath = /^file:/i.test(file.url) ? fileURLToPath(file.url.replace(/#.*$/, '')) : file.url;
      let real: string;
      try {
        real = await realpath(filePath);
      } catch {
        throw new SpecLoadError(`external $ref not found: ${path.basename(filePath)}`);
      }
      const relative = path.relative(root, real);
      if (relative.startsWith('..') || path.isAbsolute(relative)) {
        const message = `external $ref outside the spec's directory refused: ${path.basename(filePath)}`;
        refusals.push(message);
        throw new SpecLoadError(message);
      }
      return readFile(real);
    },
  };
}

/**
 * Makes relative `servers` URLs absolute against the spec's own URL (swagger-parser's own fix-up
 * drops the port).
 */
function absolutizeServers(doc: Record<string, unknown>, specUrl: string): void {
  const fix = (servers: unknown): void => {
    if (!Array.isArray(servers)) return;
    for (const server of servers) {
      if (server && typeof server === 'object' && typeof (server as { url?: unknown }).url === 'string') {
        const s = server as { url: string };
        if (!/^[a-z][a-z0-9+.-]*:/i.test(s.url) && !s.url.includes('{')) {
          try {
            s.url = new URL(s.url, specUrl).href;
          } catch {
            // left as is; to-tools reports it
          }
        }
      }
    }
  };
  fix(doc.servers);
  const paths = doc.paths && typeof doc.paths === 'object' ? (doc.paths as Record<string, unknown>) : {};
  for (const item of Object.values(paths)) {
    if (!item || typeof item !== 'object') continue;
    fix((item as Record<string, unknown>).servers);
    for (const op of Object.values(item as Record<string, unknown>)) {
      if (op && typeof op === 'object' && !Array.isArray(op)) fix((op as Record<string, unknown>).servers);
    }
  }
}

/** Loads and dereferences an OpenAPI document. Throws SpecLoadError with a one-line message. */
export async function loadSpec(location: string, options: LoadSpecOptions = {}): Promise<LoadedSpec> {
  const where = isUrl(location) ? location : path.resolve(options.baseDir ?? process.cwd(), location);
  const text = await readText(where, options);
  const sha256 = createHash('sha256').update(text).digest('hex');
  const raw = await parseText(text, where);
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new SpecLoadError(`${where} is not an OpenAPI document (expected an object)`);
  }
  const rawDoc = raw as Record<string, unknown>;
  const version =
    typeof rawDoc.openapi === 'string'
      ? rawDoc.openapi
      : rawDoc.swagger !== undefined
        ? String(rawDoc.swagger)
        : '';
  if (!/^(2\.0|3\.[01]\.\d+)$/.test(version)) {
    throw new SpecLoadError(
      `${where} is not an OpenAPI 3.0/3.1 or Swagger 2.0 document (openapi/swagger: ${JSON.stringify(version || null)})`,
    );
  }
  let root = process.cwd();
  if (!isUrl(where)) {
    try {
      root = path.dirname(await realpath(where));
    } catch {
      root = path.dirname(where);
    }
  }
  const baseUrl = isUrl(where) ? where : pathToFileURL(where).href;
  if (isUrl(where)) absolutizeServers(rawDoc, where);
  const refusals: string[] = [];
  let document: OpenApiDocument;
  // The parser is loaded on first use: `keyward serve` without tool sources never needs it.
  const { default: SwaggerParser } = await import('@apidevtools/swagger-parser');
  try {
    // The `as never` arguments select the callback overload in its types (void); without a
    // callback it returns a promise, as documented.
    // eslint-disable-next-line @typescript-eslint/await-thenable
    document = (await SwaggerParser.dereference(
      baseUrl,
      rawDoc as never,
      {
        resolve: {
          http: false,
          file: confinedFileResolver(root, refusals) as never,
          external: !isUrl(where),
        },
        parse: { text: false, binary: false },
        dereference: { circular: true },
        validate: { schema: false, spec: false },
      } as never,
    )) as unknown as OpenApiDocument;
  } catch (error) {
    if (error instanceof SpecLoadError) throw error;
    if (refusals[0] !== undefined) throw new SpecLoadError(refusals[0], { cause: error });
    const message = (error as Error).message.split('\n')[0] ?? 'unknown error';
    throw new SpecLoadError(`cannot resolve $refs in ${where}: ${message}`, { cause: error });
  }
  return { document, version, location: where, sha256 };
}
