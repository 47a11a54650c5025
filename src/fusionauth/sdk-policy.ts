import type { FusionAuthSdkConfig } from '../config/load.js';
import { BffError } from '../errors/bff-error.js';

/**
 * Where the SDK routes may send the browser: exactly one of FUSIONAUTH_SDK_REDIRECT_URIS. The
 * reference server decodes its target from `state` unchecked (an open redirect); here a value
 * that is not on the list is refused before anything happens. Absent means the first entry.
 */
export function allowedRedirect(raw: unknown, sdk: FusionAuthSdkConfig): string {
  if (raw === undefined) return sdk.redirectUris[0]!;
  let href: string | undefined;
  if (typeof raw === 'string' && raw.length <= 2048) {
    try {
      href = new URL(raw).href;
    } catch {
      href = undefined;
    }
  }
  if (href === undefined || !sdk.redirectUris.includes(href)) {
    throw new BffError('redirect_uri_refused', { event: 'fusionauth.redirect_uri_refused', detail: 'not on FUSIONAUTH_SDK_REDIRECT_URIS' });
  }
  return href;
}

/** The client_id the SDK names must be this frontend's (absent: the one frontend there is). */
export function checkClientId(raw: unknown, sdk: FusionAuthSdkConfig): void {
  if (raw === undefined || raw === sdk.clientId) return;
  throw new BffError('invalid_request', {
    event: 'fusionauth.client_id_refused',
    description: 'The client_id parameter names an application this service does not serve.',
    detail: 'client_id is not FUSIONAUTH_SDK_CLIENT_ID',
  });
}

/** The SDK's own `state`, echoed to the SPA after the login: a bounded string, or nothing. */
export function sdkState(raw: unknown): string | undefined {
  if (raw === undefined) return undefined;
  if (typeof raw !== 'string' || raw.length > 1024) {
    throw new BffError('invalid_request', { description: 'The state parameter is malformed.', detail: 'bad state' });
  }
  return raw;
}
