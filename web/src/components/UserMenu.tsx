import { useEffect, useRef, useState } from 'react';
import { useNavigate } from 'react-router';
import { useQueryClient } from '@tanstack/react-query';
import { ApiError, errorMessage } from '../api/client';
import { forgetSession, hasPreferences, logout, usePreferences, useSavePreferences } from '../api/auth';
import type { Me, PrefRange, Preferences } from '../api/types';
import { PREF_RANGES } from '../api/types';
import { setThemePref } from '../lib/theme';
import { closeSocket } from '../live/socket';
import { Modal } from './Modal';

const RANGE_LABELS: Record<PrefRange, string> = {
  '15m': 'Last 15 minutes',
  '1h': 'Last 1 hour',
  '6h': 'Last 6 hours',
  '24h': 'Last 24 hours',
  '7d': 'Last 7 days',
  '30d': 'Last 30 days',
};

function describe(me: Me): string {
  if (me.principal === 'anonymous') return me.auth_enabled ? 'Not signed in' : 'Sign-in is off on this server';
  if (me.principal === 'api_key') return `API key${me.scopes?.length ? ` · ${me.scopes.join(', ')}` : ''}`;
  return me.role ? me.role[0]!.toUpperCase() + me.role.slice(1) : 'User';
}

/** `ana.reyes` -> AR, `e2e-admin` -> EA, `root` -> RO. */
export function initialsOf(name: string): string {
  const words = name.split(/[^\p{L}\p{N}]+/u).filter(Boolean);
  if (words.length >= 2) return (words[0]![0]! + words[1]![0]!).toUpperCase();
  return (words[0] ?? '?').slice(0, 2).toUpperCase();
}

/** The signed-in principal: name and role, preferences, sign out. */
export function UserMenu({ me }: { me: Me }) {
  const [open, setOpen] = useState(false);
  const [prefsOpen, setPrefsOpen] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const ref = useRef<HTMLDivElement>(null);
  const qc = useQueryClient();
  const navigate = useNavigate();

  useEffect(() => {
    if (!open) return;
    const onDown = (e: MouseEvent) => {
      if (ref.current && !ref.current.contains(e.target as Node)) setOpen(false);
    };
    const onKey = (e: KeyboardEvent) => e.key === 'Escape' && setOpen(false);
    document.addEventListener('mousedown', onDown);
    document.addEventListener('keydown', onKey);
    return () => {
      document.removeEventListener('mousedown', onDown);
      document.removeEventListener('keydown', onKey);
    };
  }, [open]);

  const signOut = async () => {
    setError(null);
    try {
      await logout();
    } catch (e) {
      // A session the server no longer knows is signed out anyway.
      if (!(e instanceof ApiError && e.status === 401)) {
        setError(errorMessage(e));
        return;
      }
    }
    closeSocket();
    navigate('/login', { replace: true });
    forgetSession(qc);
  };

  const canSignOut = me.auth_enabled && me.principal !== 'anonymous';
  const withPrefs = hasPreferences(me);
  const initials = initialsOf(me.name);
  return (
    <div className="popover-anchor" ref={ref}>
      <button type="button" aria-haspopup="menu" aria-expanded={open} onClick={() => setOpen((o) => !o)} data-testid="user-menu">
        <span className="avatar" aria-hidden="true">
          {initials}
        </span>
        <span className="user-name">{me.name || 'anonymous'}</span>
      </button>
      {open && (
        <div className="popover user-popover" role="menu" aria-label="User">
          <div className="user-head">
            <span className="avatar large" aria-hidden="true">
              {initials}
            </span>
            <div style={{ minWidth: 0 }}>
              <div className="truncate" style={{ fontWeight: 600 }} data-testid="user-name">
                {me.name || 'anonymous'}
              </div>
              <div className="faint" style={{ fontSize: 12 }} data-testid="user-role">
                {describe(me)}
              </div>
            </div>
          </div>
          {withPrefs && (
            <button
              type="button"
              role="menuitem"
              className="menu-item"
              onClick={() => {
                setOpen(false);
                setPrefsOpen(true);
              }}
            >
              Preferences…
            </button>
          )}
          {canSignOut && (
            <button type="button" role="menuitem" className="menu-item" onClick={() => void signOut()}>
              Sign out
            </button>
          )}
          {error && <div className="banner error">{error}</div>}
        </div>
      )}
      {withPrefs && (
        <Modal open={prefsOpen} title="Preferences" onClose={() => setPrefsOpen(false)}>
          <PreferencesForm onDone={() => setPrefsOpen(false)} />
        </Modal>
      )}
    </div>
  );
}

function PreferencesForm({ onDone }: { onDone: () => void }) {
  const prefs = usePreferences();
  const save = useSavePreferences();
  // Edits start from the saved preferences once they are in.
  const [edited, setDraft] = useState<Preferences | null>(null);
  const draft = edited ?? prefs.data ?? null;
  if (!draft) return <div className="faint">{prefs.isError ? errorMessage(prefs.error) : 'Loading…'}</div>;
  const removeFilter = (i: number) => setDraft({ ...draft, saved_filters: draft.saved_filters.filter((_, j) => j !== i) });
  return (
    <form
      className="stack"
      onSubmit={(e) => {
        e.preventDefault();
        save.mutate(draft, {
          onSuccess: (saved) => {
            setThemePref(saved.theme);
            onDone();
          },
        });
      }}
    >
      <label className="field">
        Default time range
        <select
          value={draft.time_range}
          onChange={(e) => setDraft({ ...draft, time_range: e.target.value as PrefRange })}
          data-testid="pref-range"
        >
          {PREF_RANGES.map((r) => (
            <option key={r} value={r}>
              {RANGE_LABELS[r]}
            </option>
          ))}
        </select>
      </label>
      <div className="field-group">
        <span id="pref-theme">Theme</span>
        <div className="segmented" role="group" aria-labelledby="pref-theme" style={{ alignSelf: 'flex-start' }}>
          {(['system', 'light', 'dark'] as const).map((t) => (
            <button key={t} type="button" aria-pressed={draft.theme === t} onClick={() => setDraft({ ...draft, theme: t })}>
              {t === 'system' ? 'System' : t === 'light' ? 'Light' : 'Dark'}
            </button>
          ))}
        </div>
      </div>
      <div className="field-group">
        <span>Saved filters</span>
        {draft.saved_filters.length === 0 ? (
          <span className="faint" style={{ fontWeight: 400 }}>
            None yet. Save one from the Findings or Events page.
          </span>
        ) : (
          <ul className="plain-list">
            {draft.saved_filters.map((f, i) => (
              <li key={`${f.page}:${f.name}`} className="row">
                <span className="tag">{f.page}</span>
                <span style={{ fontWeight: 500, color: 'var(--text)' }}>{f.name}</span>
                <span className="mono faint truncate" style={{ flex: 1, minWidth: 0 }} title={f.query}>
                  {f.query}
                </span>
                <button type="button" className="small ghost danger" onClick={() => removeFilter(i)} aria-label={`Remove ${f.name}`}>
                  Remove
                </button>
              </li>
            ))}
          </ul>
        )}
      </div>
      {save.isError && <div className="banner error">{errorMessage(save.error)}</div>}
      <div className="row" style={{ justifyContent: 'flex-end' }}>
        <button type="button" onClick={onDone}>
          Cancel
        </button>
        <button type="submit" className="primary" disabled={save.isPending}>
          Save
        </button>
      </div>
    </form>
  );
}
