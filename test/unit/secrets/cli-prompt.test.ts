// Tests of the CLI's secret input (piped stdin, hidden TTY prompt) and backend selection.
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { selectBackendName } from '../../../src/cli/commands/secrets.js';
import { readSecretValue, stripTrailingNewline } from '../../../src/cli/prompt.js';
import { parseConfig } from '../../../src/config/load.js';

function fakeTty(): PassThrough & { isTTY: boolean; rawModes: boolean[]; setRawMode: (m: boolean) => void } {
  const stream = new PassThrough() as PassThrough & {
    isTTY: boolean;
    rawModes: boolean[];
    setRawMode: (m: boolean) => void;
  };
  stream.isTTY = true;
  stream.rawModes = [];
  stream.setRawMode = (m: boolean) => stream.rawModes.push(m);
  return stream;
}

function sink(): PassThrough & { text: () => string } {
  const out = new PassThrough() as PassThrough & { text: () => string };
  let text = '';
  out.on('data', (c: Buffer) => (text += c.toString()));
  out.text = () => text;
  return out;
}

describe('readSecretValue', () => {
  it('reads piped stdin and strips exactly one trailing newline', async () => {
    const stdin = new PassThrough();
    stdin.end('line one\nline two\n\n');
    expect(await readSecretValue('v: ', { stdin, prompt: sink() })).toBe('line one\nline two\n');
    expect(stripTrailingNewline('abc\r\n')).toBe('abc');
    const empty = new PassThrough();
    empty.end('\n');
    await expect(readSecretValue('v: ', { stdin: empty, prompt: sink() })).rejects.toThrow(/empty value/);
  });

  it('prompts on a TTY in raw mode without echoing, handles backspace, restores the mode', async () => {
    const stdin = fakeTty();
    const prompt = sink();
    const result = readSecretValue('value for github: ', { stdin, prompt });
    stdin.write('ghp_sec');
    stdin.write('x\u007fret\r');
    expect(await result).toBe('ghp_secret');
    expect(stdin.rawModes).toEqual([true, false]);
    expect(prompt.text()).toBe('value for github: \n');
  });

  it('aborts on Ctrl-C', async () => {
    const stdin = fakeTty();
    const result = readSecretValue('v: ', { stdin, prompt: sink() });
    stdin.write('abc\u0003');
    await expect(result).rejects.toThrow('aborted');
    expect(stdin.rawModes).toEqual([true, false]);
  });
});

describe('selectBackendName', () => {
  const base = { agents: {}, credentials: {}, tools: {} };
  const file = (p: string) => ({ type: 'file', path: `${p}.enc`, keyPath: `${p}.key` });
  it('prefers --backend, then the only writable backend, then "local"', () => {
    const one = parseConfig({ ...base, backends: { store: file('a'), dev: { type: 'env' } } }).config;
    expect(selectBackendName(one, undefined)).toBe('store');
    expect(selectBackendName(one, 'dev')).toBe('dev');
    expect(() => selectBackendName(one, 'nope')).toThrow('unknown backend "nope" (configured: store, dev)');
    const two = parseConfig({ ...base, backends: { a: file('a'), local: file('b') } }).config;
    expect(selectBackendName(two, undefined)).toBe('local');
    const ambiguous = parseConfig({ ...base, backends: { a: file('a'), b: file('b') } }).config;
    expect(() => selectBackendName(ambiguous, undefined)).toThrow(/choose one with --backend/);
    const none = parseConfig({ ...base, backends: { dev: { type: 'env' } } }).config;
    expect(() => selectBackendName(none, undefined)).toThrow(/no writable secret backend/);
  });
});
