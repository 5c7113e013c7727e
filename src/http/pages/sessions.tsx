import { SessionIdParam } from '../schemas.js';
import { type PageApp, type PageDeps, SESSIONS } from './env.js';
import { expected } from './failures.js';
import { noticeOf } from './notices.js';
import { pageOf } from './render.js';
import { ActivityPage, SessionsPage, SignOutOthersPage } from './views/sessions.js';

const EVENTS_PER_PAGE = 25;

/** The devices signed in to the account (see them, sign them out) and its security activity. */
export function sessionPages(app: PageApp, deps: PageDeps): void {
  const { sessions, clock } = deps;
  const { signedIn } = deps.session;

  app.get('/', (c) => c.redirect(SESSIONS, 303));

  app.get('/sessions', signedIn, async (c) => {
    const caller = c.get('caller');
    // This device first, then the others by latest activity (as GET /v1/sessions orders them).
    const list = (await sessions.list(caller)).sort(
      (x, y) => Number(y.id === caller.sid) - Number(x.id === caller.sid),
    );
    return c.html(
      <SessionsPage
        page={pageOf(c)}
        notice={noticeOf(c.req.query())}
        sessions={list}
        currentSessionId={caller.sid}
        now={clock.now()}
      />,
    );
  });

  app.post('/sessions/:id/revoke', signedIn, async (c) => {
    const id = SessionIdParam.safeParse(c.req.param('id'));
    if (!id.success) return c.redirect(`${SESSIONS}?notice=gone`, 303);
    try {
      await sessions.revoke(c.get('caller'), id.data);
      return c.redirect(`${SESSIONS}?notice=revoked`, 303);
    } catch (error) {
      expected(error, 'not_found');
      return c.redirect(`${SESSIONS}?notice=gone`, 303);
    }
  });

  app.get('/sessions/sign-out-others', signedIn, (c) => c.html(<SignOutOthersPage page={pageOf(c)} />));

  app.post('/sessions/sign-out-others', signedIn, async (c) => {
    const revoked = await sessions.revokeAll(c.get('caller'), { includeCurrent: false });
    return c.redirect(`${SESSIONS}?notice=others&n=${revoked}`, 303);
  });

  app.get('/activity', signedIn, async (c) => {
    const cursor = c.req.query('cursor');
    const page = await sessions.events(c.get('caller'), {
      limit: EVENTS_PER_PAGE,
      ...(cursor ? { cursor } : {}),
    });
    return c.html(
      <ActivityPage page={pageOf(c)} events={page.items} nextCursor={page.nextCursor} now={clock.now()} />,
    );
  });
}
