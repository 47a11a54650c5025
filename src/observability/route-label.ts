import type { Config } from '../config/load.js';

/** Bounded route labels for metrics: the configured paths by name, the API prefix, or `other`. */
export function routeLabeller(config: Config): (path: string) => string {
  const { paths } = config;
  const exact = new Map<string, string>([
    [paths.login, 'login'],
    [paths.callback, 'callback'],
    [paths.session, 'session'],
    [paths.refresh, 'refresh'],
    [paths.logout, 'logout'],
    [paths.logoutCallback, 'logout_callback'],
    [paths.backchannelLogout, 'backchannel_logout'],
    ['/healthz', 'healthz'],
    ['/readyz', 'readyz'],
    ['/metrics', 'metrics'],
  ]);
  const api = `${paths.api}/`;
  return (path) => exact.get(path) ?? (path === paths.api || path.startsWith(api) ? 'api' : path.startsWith('/admin/') ? 'admin' : 'other');
}
