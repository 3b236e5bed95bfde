/** Where browsers reach keyward's /oauth pages (the redirect URI is `<this>/oauth/callback`). */
import type { KeywardConfig } from '../config/schema.js';

/** `connections.publicUrl`, else the origin of `server.http.publicUrl`, else the bound address. */
export function connectionsBaseUrl(config: KeywardConfig, boundBaseUrl: string): string {
  if (config.connections.publicUrl !== undefined) return config.connections.publicUrl.replace(/\/+$/, '');
  const publicUrl = config.server.http?.publicUrl;
  return publicUrl === undefined ? boundBaseUrl : new URL(publicUrl).origin;
}
