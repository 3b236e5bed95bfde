/**
 * Reading a secret value for the CLI: all of stdin when it is piped, otherwise a no-echo prompt
 * on the terminal (raw mode; Ctrl-C aborts). Values never come from argv.
 */

/** The streams a prompt uses; tests pass their own. */
export interface PromptIo {
  readonly stdin: NodeJS.ReadableStream & { isTTY?: boolean; setRawMode?: (mode: boolean) => unknown };
  /** Where the prompt text goes (stderr, so stdout stays clean for scripts). */
  readonly prompt: NodeJS.WritableStream;
}

const defaultIo: PromptIo = { stdin: process.stdin, prompt: process.stderr };

/** Removes one trailing newline (`\n` or `\r\n`), as `echo` and heredocs add. */
export function stripTrailingNewline(text: string): string {
  if (text.endsWith('\r\n')) return text.slice(0, -2);
  if (text.endsWith('\n')) return text.slice(0, -1);
  return text;
}

/** Reads the whole stream as UTF-8. */
export async function readAll(stream: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
  return Buffer.concat(chunks).toString('utf8');
}

/** Reads a secret value from piped stdin or a no-echo prompt; rejects an empty value. */
export async function readSecretValue(label: string, io: PromptIo = defaultIo): Promise<string> {
  const value = io.stdin.isTTY
    ? await promptHidden(label, io)
    : stripTrailingNewline(await readAll(io.stdin));
  if (value.length === 0) throw new Error('empty value: nothing was stored');
  return value;
}

/** Prompts on a TTY with echo off. Enter finishes, Backspace deletes, Ctrl-C / Ctrl-D on empty aborts. */
export function promptHidden(label: string, io: PromptIo = defaultIo): Promise<string> {
  const { stdin, prompt } = io;
  if (!stdin.setRawMode) return Promise.reject(new Error('stdin is not a terminal that supports raw mode'));
  return new Promise<string>((resolve, reject) => {
    let value = '';
    const finish = (error?: Error): void => {
      stdin.removeListener('data', onData);
      stdin.setRawMode?.(false);
      stdin.pause();
      prompt.write('\n');
      if (error) reject(error);
      else resolve(value);
    };
    const onData = (chunk: Buffer | string): void => {
      for (const ch of chunk.toString()) {
        if (ch === '\r' || ch === '\n') return finish();
        if (ch === '\u0003') return finish(new Error('aborted'));
        if (ch === '\u0004') return value.length === 0 ? finish(new Error('aborted')) : finish();
        if (ch === '\u007f' || ch === '\b') value = [...value].slice(0, -1).join('');
        else if (ch >= ' ') value += ch;
      }
    };
    prompt.write(label);
    stdin.setRawMode?.(true);
    stdin.resume();
    stdin.on('data', onData);
  });
}
