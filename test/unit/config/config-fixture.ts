import assert from 'node:assert/strict';
import { ConfigError, loadConfig } from '../../../src/config/load.js';

/** A complete, valid production-like environment; each test changes what it is about. */
export const VALID_ENV: Readonly<Record<string, string>> = {
  PUBLIC_URL: 'https://app.example.test',
  OIDC_ISSUER: 'https://idp.example.test',
  OIDC_CLIENT_ID: 'bff',
  OIDC_CLIENT_SECRET: 'client-secret',
  API_UPSTREAM: 'http://api.internal:8080/v1',
  REDIS_URL: 'redis://127.0.0.1:6379',
  SESSION_SECRETS: 'a-session-secret-that-is-long-enough-0123',
};

/** Stands in for the random development secret. */
export const randomSecret = () => 'r'.repeat(43);

/** The problems loadConfig reports for `env`; fails the test when the configuration is accepted. */
export function problemsOf(env: Record<string, string | undefined>): readonly string[] {
  try {
    loadConfig(env, randomSecret);
  } catch (e) {
    assert.ok(e instanceof ConfigError);
    return e.problems;
  }
  assert.fail('configuration was accepted');
}
