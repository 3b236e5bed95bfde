import type { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../../src/core/clock.js';
import type { Principal } from '../../../src/core/types.js';
import type { Authenticated } from '../../../src/identity/authenticated.js';
import { SessionRegistry } from '../../../src/transports/session-registry.js';

const server = {} as Server;
const principal = (over: Partial<Principal> = {}): Principal => ({
  agent: 'bot',
  tenant: 'acme',
  roles: ['writer'],
  attributes: {},
  authMethod: 'jwt',
  ...over,
});
const auth = (subject: string, over: Partial<Principal> = {}): Authenticated => ({
  subject,
  principal: principal(over),
});

describe('SessionRegistry', () => {
  it('binds a session to its creator and refuses other subjects', () => {
    const clock = new ManualClock();
    const registry = new SessionRegistry<string>(clock);
    registry.add({
      id: 's1',
      transport: 't',
      server,
      subject: 'token:a',
      principal: principal(),
      lastSeen: clock.now(),
    });
    expect(registry.lookup('s1', auth('token:a'))).toMatchObject({ id: 's1' });
    expect(registry.lookup('s1', auth('token:b'))).toBe('mismatch');
    expect(registry.lookup('s2', auth('token:a'))).toBe('unknown');
  });

  it('follows the principal of each request: changed roles apply to the session at once', () => {
    const clock = new ManualClock();
    const registry = new SessionRegistry<string>(clock);
    registry.add({
      id: 's1',
      transport: 't',
      server,
      subject: 'jwt:u',
      principal: principal(),
      lastSeen: clock.now(),
    });
    const demoted = registry.lookup('s1', auth('jwt:u', { roles: ['reader'] }));
    expect(demoted).toMatchObject({ principal: { roles: ['reader'] } });
  });

  it('ends a session whose subject now has another tenant or agent', () => {
    const clock = new ManualClock();
    const registry = new SessionRegistry<string>(clock);
    registry.add({
      id: 's1',
      transport: 't',
      server,
      subject: 'jwt:u',
      principal: principal(),
      lastSeen: clock.now(),
    });
    registry.add({
      id: 's2',
      transport: 't',
      server,
      subject: 'jwt:u',
      principal: principal(),
      lastSeen: clock.now(),
    });
    expect(registry.lookup('s1', auth('jwt:u', { tenant: 'globex' }))).toBe('changed');
    expect(registry.take('s1')?.id).toBe('s1');
    expect(registry.lookup('s1', auth('jwt:u'))).toBe('unknown');
    expect(registry.lookup('s2', auth('jwt:u', { agent: 'other' }))).toBe('changed');
    // the old principal is kept: nothing of the changed request was applied
    expect(registry.lookup('s2', auth('jwt:u'))).toMatchObject({
      principal: { tenant: 'acme', agent: 'bot' },
    });
  });

  it('reaps sessions idle longer than the limit; a lookup by the owner keeps one alive', () => {
    const clock = new ManualClock();
    const registry = new SessionRegistry<string>(clock);
    registry.add({
      id: 'old',
      transport: 't',
      server,
      subject: 'x',
      principal: principal(),
      lastSeen: clock.now(),
    });
    registry.add({
      id: 'busy',
      transport: 't',
      server,
      subject: 'x',
      principal: principal(),
      lastSeen: clock.now(),
    });
    clock.advance(20_000);
    registry.lookup('busy', auth('x'));
    // A refused lookup does not refresh the session.
    registry.lookup('old', auth('intruder'));
    clock.advance(15_000);
    expect(registry.takeIdle(30_000).map((s) => s.id)).toEqual(['old']);
    expect(registry.size).toBe(1);
    expect(registry.takeAll().map((s) => s.id)).toEqual(['busy']);
    expect(registry.size).toBe(0);
  });
});
