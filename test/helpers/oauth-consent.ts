/** The scripted consent browser (src/demo/consent-client.ts, shared with the demo). */
export { CookieJar, scriptedConsent, type ConsentResult } from '../../src/demo/consent-client.js';
