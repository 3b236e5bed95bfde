/**
 * Imports real public OpenAPI documents shipped in the npm package @readme/oas-examples (8.2.2):
 * the OpenAPI Initiative petstores, Bump.sh's Train Travel API, USPTO, Star Trek, and ReadMe's
 * edge-case collection. Every generated tool must be accepted by parseConfig and compiled.
 */
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { acceptAsConfig, EXAMPLES, importFile } from './helpers.js';

const file = (p: string) => path.join(EXAMPLES, p);

describe('real OpenAPI documents from @readme/oas-examples', () => {
  it('the petstore as 3.0 JSON, 3.1 JSON and Swagger 2.0 YAML gives the same 20 tools', async () => {
    const v30 = await importFile(file('3.0/json/petstore.json'), { credential: 'petstore' });
    const v31 = await importFile(file('3.1/json/petstore.json'), { credential: 'petstore' });
    const v20 = await importFile(file('2.0/yaml/petstore.yaml'), { credential: 'petstore' });
    expect(v30.operationCount).toBe(20);
    expect(Object.keys(v30.tools).sort()).toEqual(Object.keys(v31.tools).sort());
    expect(Object.keys(v30.tools).sort()).toEqual(Object.keys(v20.tools).sort());
    const get = v30.tools.getPetById!;
    expect(get.request).toMatchObject({ method: 'GET', url: 'http://petstore.swagger.io/v2/pet/{petId}' });
    expect(get.permission).toBe('swagger-petstore:pet:read');
    expect(v30.tools.deletePet!.permission).toBe('swagger-petstore:pet:write');
    expect(v30.security).toMatchObject({ scheme: 'api_key', inject: { type: 'header', header: 'api_key' } });
    // deletePet declares an api_key header parameter: it carries the credential, so it is not an argument
    expect(v30.tools.deletePet!.request.headers).toEqual({});
    // the oauth2 implicit scheme some operations use is reported, not guessed
    expect(
      v30.issues.some((i) => i.operation.includes('(addPet)') && i.message.includes('petstore_auth')),
    ).toBe(true);
    // form-encoded bodies are reported with their operation
    expect(v30.issues).toContainEqual(
      expect.objectContaining({ operation: 'POST /pet/{petId} (updatePetWithForm)', skipped: false }),
    );
    for (const r of [v30, v31, v20]) acceptAsConfig(r, 'petstore');
  });

  it('Train Travel (OpenAPI 3.1) maps its oauth2 authorization code scheme to the refresh-token grant', async () => {
    const result = await importFile(file('3.1/json/train-travel.json'), { credential: 'trains' });
    expect(Object.keys(result.tools)).toHaveLength(7);
    expect(result.security).toMatchObject({
      inject: { type: 'oauth2-refresh-token', tokenUrl: 'https://example.com/oauth/token' },
    });
    const config = acceptAsConfig(result, 'trains');
    expect(config.credentials.trains!.origins).toContain('https://example.com');
  });

  it('USPTO and Star Trek import whole', async () => {
    const uspto = await importFile(file('3.0/json/uspto.json'));
    expect(Object.keys(uspto.tools)).toHaveLength(3);
    const trek = await importFile(file('3.0/json/star-trek.json'));
    expect(trek.operationCount).toBe(120);
    expect(Object.keys(trek.tools)).toHaveLength(120);
    acceptAsConfig(uspto);
    acceptAsConfig(trek);
  });

  it('multipart uploads and cookie parameters are reported with their operations', async () => {
    const uploads = await importFile(file('3.0/json/file-uploads.json'));
    expect(uploads.issues.length).toBeGreaterThan(0);
    expect(
      uploads.issues.every(
        (i) => /^(POST|PUT|PATCH) \//.test(i.operation) && /multipart|octet|image/.test(i.message),
      ),
    ).toBe(true);
    const cookies = await importFile(file('3.0/json/parameters-cookies.json'));
    expect(cookies.issues.some((i) => i.message.startsWith('cookie parameter'))).toBe(true);
  });

  const all = ['2.0/json', '3.0/json', '3.1/json'].flatMap((dir) =>
    readdirSync(file(dir))
      .filter((f) => f.endsWith('.json'))
      .map((f) => `${dir}/${f}`),
  );

  it(`every document of the collection (${all.length}) imports and is accepted as config`, async () => {
    let tools = 0;
    for (const doc of all) {
      const result = await importFile(file(doc), { credential: 'cred' });
      try {
        acceptAsConfig(result, 'cred');
      } catch (error) {
        throw new Error(
          `${doc}: ${(error as Error).message} ${JSON.stringify((error as { issues?: unknown }).issues)}`,
        );
      }
      tools += Object.keys(result.tools).length;
    }
    expect(tools).toBeGreaterThan(500);
  });
});
