/**
 * `target[key] = value` as an own, enumerable member, also when the key is `__proto__`. JSON.parse
 * makes `{"__proto__": …}` an ordinary member, but assigning that key to a plain object sets its
 * prototype instead (or does nothing, for a primitive): the member vanishes from JSON.stringify and
 * its content is read through inheritance. Copies of JSON that came from an upstream or an agent
 * write their members through here.
 */
export function setOwn(target: Record<string, unknown>, key: string, value: unknown): void {
  if (key === '__proto__') {
    Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
  } else {
    target[key] = value;
  }
}
