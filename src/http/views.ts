import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Eta } from 'eta';

export interface ErrorPage {
  status: number;
  code: string;
  title: string;
  reason: string;
  requestId: string;
  loginUrl: string;
}

/** Finds views/ from this module whether it runs from src/ (tsx) or dist/src/ (built). */
function viewsDir(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    const candidate = join(dir, 'views');
    if (existsSync(join(candidate, 'error.eta'))) return candidate;
    dir = dirname(dir);
  }
  throw new Error('views/error.eta not found next to the application');
}

/** The provider chooser of a frontend with several identity providers (BFF_CONFIG). */
export interface ChooserPage {
  providers: ReadonlyArray<{ href: string; name: string; logoUrl: string | undefined }>;
}

/** Eta escapes every `<%= %>` output, so reasons, ids and provider names cannot inject markup. */
export function createViews(): { errorPage(page: ErrorPage): string; chooserPage(page: ChooserPage): string } {
  const eta = new Eta({ views: viewsDir(), autoEscape: true, cache: true });
  return { errorPage: (page) => eta.render('error', page), chooserPage: (page) => eta.render('choose-provider', page) };
}
