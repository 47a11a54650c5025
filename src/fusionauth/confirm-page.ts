const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/**
 * The page a cross-site GET /app/logout/ gets instead of a logout: a link to the same address,
 * which, followed from this page, arrives same-origin. Framing is denied by the route's `page` step.
 */
export function logoutConfirmPage(sameUrl: string): string {
  const href = escapeHtml(sameUrl);
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Sign out?</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body style="font-family: system-ui, sans-serif; max-width: 32rem; margin: 4rem auto; padding: 0 1rem">
<h1>Sign out?</h1>
<p>Another site sent you here to sign you out. Nothing has happened yet.</p>
<p><a id="confirm" href="${href}">Sign out</a></p>
</body></html>
`;
}
