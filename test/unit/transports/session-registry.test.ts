import type { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../../src/core/clock.js';
import { SessionRegistry } from '../../../src/transports/session-registry.js';

const server = {} as Server;

describe('SessionRegistry', () => {
  it('binds a session to its creator and refuses other subjects', () => {
    const clock = new ManualClock();
    const registry = new SessionRegistry<string>(clock);
    registry.add({ id: 's1', transport: 't', server, subject: 'token:a', lastSeen: clock.now() });
    expect(registry.lookup('s1', 'token:a')).toMatchObject({ id: 's1' });
    expect(registry.lookup('s1', 'token:b')).toBe('mismatch');
    expect(registry.lookup('s2', 'token:a')).toBe('unknown');
  });

  it('reaps sessions idle longer than the limit; a lookup by the owner keeps one alive', () => {
    const clock = new ManualClock();
    const registry = new SessionRegistry<string>(clock);
    registry.add({ id: 'old', transport: 't', server, subject: 'x', lastSeen: clock.now() });
    registry.add({ id: 'busy', transport: 't', server, subject: 'x', lastSeen: clock.now() });
    clock.advance(20_000);
    registry.lookup('busy', 'x');
    // A refused lookup does not refresh the session.
    registry.lookup('old', 'intruder');
    clock.advance(15_000);
    expect(registry.takeIdle(30_000).map((s) => s.id)).toEqual(['old']);
    expect(registry.size).toBe(1);
    expect(registry.takeAll().map((s) => s.id)).toEqual(['busy']);
    expect(registry.size).toBe(0);
  });
});
