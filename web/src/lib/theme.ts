import { useCallback, useEffect, useSyncExternalStore } from 'react';

export type ThemePref = 'light' | 'dark' | 'system';
const KEY = 'vigilo.theme';
const EVENT = 'vigilo-theme';

function systemDark(): boolean {
  return typeof matchMedia === 'function' && matchMedia('(prefers-color-scheme: dark)').matches;
}

// The choice made in this tab (kept even where storage is unavailable).
let chosen: ThemePref | null = null;

export function readPref(): ThemePref {
  if (chosen) return chosen;
  try {
    const v = localStorage.getItem(KEY);
    if (v === 'light' || v === 'dark') return v;
  } catch {
    // no storage
  }
  return 'system';
}

export function effectiveTheme(pref: ThemePref): 'light' | 'dark' {
  return pref === 'system' ? (systemDark() ? 'dark' : 'light') : pref;
}

function subscribe(cb: () => void): () => void {
  window.addEventListener(EVENT, cb);
  const mq = typeof matchMedia === 'function' ? matchMedia('(prefers-color-scheme: dark)') : null;
  mq?.addEventListener('change', cb);
  return () => {
    window.removeEventListener(EVENT, cb);
    mq?.removeEventListener('change', cb);
  };
}

/** The theme in effect (the saved choice, else prefers-color-scheme). */
export function useEffectiveTheme(): 'light' | 'dark' {
  return useSyncExternalStore(
    subscribe,
    () => effectiveTheme(readPref()),
    () => 'light',
  );
}

function applyToDocument(pref: ThemePref): void {
  const root = document.documentElement;
  if (pref === 'system') delete root.dataset.theme;
  else root.dataset.theme = pref;
}

/** Apply this browser's last choice before anything renders (the sign-in page has no shell). */
export function applyStoredTheme(): void {
  applyToDocument(readPref());
}

/** Choose a theme: kept in this browser, applied to the document, every reader told. */
export function setThemePref(p: ThemePref): void {
  chosen = p;
  try {
    if (p === 'system') localStorage.removeItem(KEY);
    else localStorage.setItem(KEY, p);
  } catch {
    // no storage
  }
  applyToDocument(p);
  window.dispatchEvent(new Event(EVENT));
}

/** Theme preference (toggle, the signed-in user's preferences, prefers-color-scheme) and the theme in effect. */
export function useTheme(): { pref: ThemePref; theme: 'light' | 'dark'; setPref: (p: ThemePref) => void } {
  const pref = useSyncExternalStore(subscribe, readPref, () => 'system' as ThemePref);
  const theme = useEffectiveTheme();

  useEffect(() => {
    applyToDocument(pref);
  }, [pref]);

  const setPref = useCallback((p: ThemePref) => setThemePref(p), []);

  return { pref, theme, setPref };
}
