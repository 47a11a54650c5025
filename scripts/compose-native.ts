// `npm run compose:native`: docker-compose.yml without Docker. Starts its services as local processes
// (same commands and environment; host names -> 127.0.0.1, ports -> free local ports), logs in through
// the BFF, calls the API, logs out, prints a short report, stops everything. Exit 0 on success, 1 not.
//
//   SESSION_SECRETS=$(openssl rand -base64 32) npm run compose:native [-- --dist] [-- --verbose]
//
// --dist runs the BFF as the image does (node dist/src/main.js, building dist/ first when stale);
// without it the BFF runs from src/ through tsx. --verbose streams every service's output.
import { formatReport, runComposeNatively } from './compose-native-lib.js';

const args = new Set(process.argv.slice(2));
for (const a of args) {
  if (a !== '--dist' && a !== '--verbose') {
    process.stderr.write(`compose:native: unknown option ${a} (use --dist, --verbose)\n`);
    process.exit(2);
  }
}
const report = await runComposeNatively({
  bff: args.has('--dist') ? 'dist' : 'source',
  ...(args.has('--verbose') ? { onOutput: (service: string, line: string) => process.stdout.write(`[${service}] ${line}\n`) } : {}),
});
process.stdout.write(`${formatReport(report)}\n`);
process.exit(report.ok ? 0 : 1);
