// A small React app using FusionAuth's own @fusionauth/react-sdk, pointed at oidc-bff: the demo of
// `npm run dev` (at /sdk/) and the page of test/e2e/fusionauth-sdk.test.ts. Bundled at start with
// esbuild from node_modules (no network); the source is a string so the service's TypeScript
// build needs neither React's types nor a JSX setting.
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import type { Step } from '../src/web/context.js';

/** What the page's FusionAuthProvider gets (the SDK's own option names). */
export interface SdkPageConfig {
  /** The BFF's origin: the SDK calls serverUrl + /app/login/ and the rest. */
  serverUrl: string;
  clientId: string;
  /** This page's own URL: where the login ends (FUSIONAUTH_SDK_REDIRECT_URIS). */
  redirectUri: string;
}

const APP_SOURCE = `
import React, { useState } from 'react';
import { createRoot } from 'react-dom/client';
import { FusionAuthProvider, useFusionAuth } from '@fusionauth/react-sdk';

const config = JSON.parse(document.getElementById('sdk-config').textContent);
let redirectState = '';

function App() {
  const { isLoggedIn, userInfo, startLogin, startRegister, startLogout, refreshToken, manageAccount } = useFusionAuth();
  const [status, setStatus] = useState('');
  const [api, setApi] = useState('');
  const refresh = () =>
    refreshToken().then(
      (r) => setStatus('refreshed ' + r.status),
      (e) => setStatus('refresh failed ' + e.message),
    );
  const callApi = () =>
    fetch(config.serverUrl + '/api/things', { credentials: 'include', headers: { 'X-CSRF': '1' } })
      .then((r) => r.text().then((t) => setApi(r.status + ' ' + t)))
      .catch((e) => setApi('failed ' + e.message));
  return (
    <main style={{ fontFamily: 'system-ui, sans-serif', maxWidth: '40rem', margin: '3rem auto' }}>
      <h1>FusionAuth React SDK + oidc-bff</h1>
      <p>State: <b id="login-state">{isLoggedIn ? 'logged-in' : 'logged-out'}</b></p>
      <p>User: <b id="user">{userInfo ? userInfo.sub : ''}</b></p>
      <p>State after redirect: <b id="redirect-state">{redirectState}</b></p>
      {isLoggedIn ? (
        <p>
          <button id="refresh" onClick={refresh}>refreshToken()</button>{' '}
          <button id="api" onClick={callApi}>GET /api/things</button>{' '}
          <button id="account" onClick={manageAccount}>manageAccount()</button>{' '}
          <button id="logout" onClick={startLogout}>startLogout()</button>
        </p>
      ) : (
        <p>
          <button id="login" onClick={() => startLogin('back-to-the-page')}>startLogin()</button>{' '}
          <button id="register" onClick={() => startRegister('back-to-the-page')}>startRegister()</button>
        </p>
      )}
      <p id="status">{status}</p>
      <pre id="api-result" style={{ whiteSpace: 'pre-wrap' }}>{api}</pre>
    </main>
  );
}

createRoot(document.getElementById('root')).render(
  <FusionAuthProvider
    {...config}
    shouldAutoFetchUserInfo={true}
    shouldAutoRefresh={true}
    onRedirect={(state) => { redirectState = state || ''; }}
  >
    <App />
  </FusionAuthProvider>,
);
`;

let bundled: Promise<string> | undefined;

/** The app, bundled once per process (React in production mode, minified). */
export function sdkPageScript(): Promise<string> {
  bundled ??= build({
    stdin: { contents: APP_SOURCE, loader: 'jsx', resolveDir: fileURLToPath(new URL('..', import.meta.url)), sourcefile: 'fusionauth-sdk-app.jsx' },
    bundle: true,
    write: false,
    format: 'esm',
    minify: true,
    jsx: 'automatic',
    define: { 'process.env.NODE_ENV': '"production"' },
    logLevel: 'silent',
  }).then((r) => r.outputFiles[0]!.text);
  return bundled;
}

const escapeJson = (value: unknown) => JSON.stringify(value).replace(/</g, '\\u003c');

/** The HTML page at `path` (ending in /) and its script at `path` + app.js, as a Koa step. */
export function sdkPage(path: string, config: SdkPageConfig): Step {
  const html = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>FusionAuth SDK demo</title></head>
<body><div id="root"></div>
<script type="application/json" id="sdk-config">${escapeJson(config)}</script>
<script type="module" src="${path}app.js"></script>
</body></html>
`;
  return async (ctx, next) => {
    if (ctx.method !== 'GET') return next();
    if (ctx.path === path) {
      ctx.type = 'html';
      ctx.body = html;
    } else if (ctx.path === `${path}app.js`) {
      ctx.type = 'application/javascript';
      ctx.body = await sdkPageScript();
    } else {
      await next();
    }
  };
}
