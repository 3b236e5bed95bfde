/** Operator sign-in: only operator tokens, sessions that expire, CSRF compared exactly, cookies parsed strictly. */
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../../src/core/clock.js';
import { generateToken, sha256Hex } from '../../../src/identity/token-hash.js';
import { csrfMatches, OperatorSessions, readCookie } from '../../../src/console/operator-sessions.js';

describe('OperatorSessions', () => {
  const token = generateToken();
  const clock = new ManualClock();
  const sessions = new OperatorSessions([{ name: 'alice', sha256: sha256Hex(token) }], 60, clock);

  it('knows operators by their token only', () => {
    expect(sessions.operatorFor(token)).toBe('alice');
    expect(sessions.operatorFor(generateToken())).toBeUndefined();
    expect(sessions.operatorFor('')).toBeUndefined();
    expect(sessions.operatorFor(sha256Hex(token))).toBeUndefined();
    expect(sessions.operatorFor(`${token}x`)).toBeUndefined();
  });

  it('a session lives for its TTL, then is gone; ids and CSRF tokens are unguessable and distinct', () => {
    const a = sessions.open('alice');
    const b = sessions.open('alice');
    expect(a.id).not.toBe(b.id);
    expect(a.csrf).not.toBe(a.id);
    expect(a.id).toMatch(/^[\w-]{43}$/);
    expect(sessions.lookup(a.id)?.operator).toBe('alice');
    expect(sessions.lookup(`${a.id}x`)).toBeUndefined();
    clock.advance(60_000);
    expect(sessions.lookup(a.id)).toBeUndefined();
  });

  it('closing a session signs out', () => {
    const s = sessions.open('alice');
    sessions.close(s.id);
    expect(sessions.lookup(s.id)).toBeUndefined();
  });

  it('CSRF tokens must match exactly', () => {
    const s = sessions.open('alice');
    expect(csrfMatches(s, s.csrf)).toBe(true);
    expect(csrfMatches(s, s.csrf.slice(1))).toBe(false);
    expect(csrfMatches(s, undefined)).toBe(false);
    expect(csrfMatches(s, [s.csrf])).toBe(false);
  });

  it('reads one cookie by exact name', () => {
    expect(readCookie('a=1; keyward_console=abc; b=2', 'keyward_console')).toBe('abc');
    expect(readCookie('xkeyward_console=abc', 'keyward_console')).toBeUndefined();
    expect(readCookie(undefined, 'keyward_console')).toBeUndefined();
  });
});
