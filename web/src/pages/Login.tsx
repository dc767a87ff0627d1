import { useCallback, useEffect, useState, type FormEvent } from 'react';
import { Link, useNavigate, useSearchParams } from 'react-router';
import { useQueryClient } from '@tanstack/react-query';
import { ApiError, errorMessage } from '../api/client';
import { ME_KEY, PREFS_KEY, login, setup, useAuthConfig } from '../api/auth';
import { Loading } from '../components/States';
import { reconnectSocket } from '../live/socket';

/** Where to go after signing in: a path of this app, never another site or the sign-in page itself. */
export function safeNext(next: string | null): string {
  if (!next || !next.startsWith('/') || next.startsWith('//') || next.startsWith('/\\')) return '/';
  if (next === '/login' || next.startsWith('/login?') || next.startsWith('/login/')) return '/';
  return next;
}

/** Why single sign-on sent the browser back here (`/login?error=<code>`). */
export function ssoErrorText(code: string): string {
  switch (code) {
    case 'oidc_state_mismatch':
      return 'The sign-in expired or was started in another browser. Try again.';
    case 'oidc_token_invalid':
      return 'The sign-in provider’s answer could not be checked. Try again.';
    case 'oidc_role_denied':
      return 'Your account is not allowed to use Vigilo. Ask an admin.';
    case 'oidc_provider_unavailable':
      return 'The sign-in provider cannot be reached. Try again later.';
    case 'unknown_provider':
      return 'This sign-in provider is not set up on this server.';
    default:
      return `Single sign-on failed (${code}).`;
  }
}

/** The provider's sign-in link, asked to come back to `next`. */
export function ssoHref(loginUrl: string, next: string): string {
  if (next === '/') return loginUrl;
  return `${loginUrl}${loginUrl.includes('?') ? '&' : '?'}next=${encodeURIComponent(next)}`;
}

function waitText(seconds: number): string {
  if (seconds < 60) return `${seconds} s`;
  const m = Math.ceil(seconds / 60);
  return `${m} min`;
}

/** Seconds to wait after a refusal: the 429's Retry-After, counted down to zero. */
function useWait(): [number, (error: unknown) => void] {
  const [wait, setWait] = useState(0);
  useEffect(() => {
    if (wait <= 0) return;
    const t = setTimeout(() => setWait((w) => Math.max(0, w - 1)), 1000);
    return () => clearTimeout(t);
  }, [wait]);
  const fromError = useCallback((error: unknown) => {
    setWait(error instanceof ApiError && error.status === 429 ? (error.retryAfter ?? 0) : 0);
  }, []);
  return [wait, fromError];
}

/** The server's reason, in plain words where it has a known code. */
export function LoginError({ error, wait }: { error: unknown; wait: number }) {
  if (!error) return null;
  let text = errorMessage(error);
  if (error instanceof ApiError) {
    if (error.code === 'invalid_credentials') text = error.message || 'Wrong username or password.';
    if (error.code === 'network') text = 'Cannot reach the Vigilo server.';
  }
  const throttled = error instanceof ApiError && error.status === 429;
  return (
    <div className="banner error" role="alert" data-testid="login-error">
      {text}
      {throttled && (wait > 0 ? <> Try again in {waitText(wait)}.</> : <> You can try again now.</>)}
    </div>
  );
}

export default function Login() {
  const [params] = useSearchParams();
  const next = safeNext(params.get('next'));
  const ssoError = params.get('error');
  const config = useAuthConfig();
  const qc = useQueryClient();
  const navigate = useNavigate();

  const signedIn = async () => {
    qc.removeQueries({ queryKey: ME_KEY });
    qc.removeQueries({ queryKey: PREFS_KEY });
    reconnectSocket();
    navigate(next, { replace: true });
  };

  let body;
  if (config.isPending) body = <Loading rows={3} />;
  else if ((config.isError && config.error instanceof ApiError && config.error.status === 404) || config.data?.auth_enabled === false) {
    body = (
      <div className="stack">
        <p style={{ margin: 0 }}>This server does not ask for sign-in.</p>
        <Link to={next} className="btn primary block">
          Continue
        </Link>
      </div>
    );
  } else if (config.isError) {
    body = (
      <div className="stack">
        <div className="banner error" role="alert">
          {errorMessage(config.error)}
        </div>
        <button type="button" onClick={() => void config.refetch()}>
          Retry
        </button>
      </div>
    );
  } else if (config.data.setup_required) {
    body = <SetupForm onDone={signedIn} />;
  } else {
    const sso = config.data.sso ?? [];
    body = (
      <>
        {ssoError && (
          <div className="banner error" role="alert">
            {ssoErrorText(ssoError)}
          </div>
        )}
        {config.data.password !== false && <PasswordForm onDone={signedIn} />}
        {config.data.password !== false && sso.length > 0 && (
          <div className="divider" aria-hidden="true">
            <span>or</span>
          </div>
        )}
        {sso.length > 0 && (
          <div className="stack" style={{ gap: 8 }}>
            {sso.map((p) => (
              <a key={p.id} className="btn block" href={ssoHref(p.login_url, next)} data-testid={`sso-${p.id}`}>
                Sign in with {p.name}
              </a>
            ))}
          </div>
        )}
        {config.data.password === false && sso.length === 0 && (
          <p className="muted" style={{ margin: 0 }}>
            No sign-in method is configured on this server.
          </p>
        )}
      </>
    );
  }

  const setupMode = config.data?.setup_required;
  return (
    <div className="auth-page">
      <main className="auth-card panel" aria-labelledby="auth-title">
        <div className="brand" style={{ padding: 0 }}>
          <span className="brand-mark" aria-hidden="true">
            V
          </span>
          Vigilo
        </div>
        <div>
          <h1 id="auth-title">{setupMode ? 'Create the first admin' : 'Sign in'}</h1>
          {setupMode && (
            <p className="muted" style={{ margin: '4px 0 0', fontSize: 13 }}>
              Enter the setup token Vigilo printed when it first started.
            </p>
          )}
        </div>
        {body}
      </main>
    </div>
  );
}

function PasswordForm({ onDone }: { onDone: () => void | Promise<void> }) {
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [wait, waitFor] = useWait();

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await login(username.trim(), password);
      await onDone();
    } catch (err) {
      setError(err);
      waitFor(err);
      setPassword('');
    } finally {
      setBusy(false);
    }
  };

  return (
    <form className="stack" onSubmit={(e) => void submit(e)}>
      <label className="field">
        Username
        <input
          name="username"
          autoComplete="username"
          value={username}
          onChange={(e) => setUsername(e.target.value)}
          required
          autoFocus
        />
      </label>
      <label className="field">
        Password
        <input
          name="password"
          type="password"
          autoComplete="current-password"
          value={password}
          onChange={(e) => setPassword(e.target.value)}
          required
        />
      </label>
      <LoginError error={error} wait={wait} />
      <button type="submit" className="primary block" disabled={busy || wait > 0}>
        {busy ? 'Signing in…' : 'Sign in'}
      </button>
    </form>
  );
}

function SetupForm({ onDone }: { onDone: () => void | Promise<void> }) {
  const [token, setToken] = useState('');
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [wait, waitFor] = useWait();

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await setup(token.trim(), username.trim(), password);
      await onDone();
    } catch (err) {
      setError(err);
      waitFor(err);
    } finally {
      setBusy(false);
    }
  };

  return (
    <form className="stack" onSubmit={(e) => void submit(e)} aria-label="Create the first admin">
      <label className="field">
        Setup token
        <input name="token" value={token} onChange={(e) => setToken(e.target.value)} autoComplete="off" spellCheck={false} required autoFocus />
      </label>
      <label className="field">
        Username
        <input name="username" autoComplete="username" value={username} onChange={(e) => setUsername(e.target.value)} required />
      </label>
      <label className="field">
        Password
        <input
          name="password"
          type="password"
          autoComplete="new-password"
          value={password}
          onChange={(e) => setPassword(e.target.value)}
          required
        />
      </label>
      <LoginError error={error} wait={wait} />
      <button type="submit" className="primary block" disabled={busy || wait > 0}>
        {busy ? 'Creating…' : 'Create admin and sign in'}
      </button>
    </form>
  );
}
