import { useCallback, useEffect, useState, useSyncExternalStore } from 'react';

export type ThemePref = 'light' | 'dark' | 'system';
const KEY = 'vigilo.theme';
const EVENT = 'vigilo-theme';

function systemDark(): boolean {
  return typeof matchMedia === 'function' && matchMedia('(prefers-color-scheme: dark)').matches;
}

export function readPref(): ThemePref {
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

/** Theme preference (toggle + prefers-color-scheme) and the theme in effect. */
export function useTheme(): { pref: ThemePref; theme: 'light' | 'dark'; setPref: (p: ThemePref) => void } {
  const [pref, setPrefState] = useState<ThemePref>(readPref);
  const theme = useEffectiveTheme();

  useEffect(() => {
    const root = document.documentElement;
    if (pref === 'system') delete root.dataset.theme;
    else root.dataset.theme = pref;
    window.dispatchEvent(new Event(EVENT));
  }, [pref]);

  const setPref = useCallback((p: ThemePref) => {
    try {
      if (p === 'system') localStorage.removeItem(KEY);
      else localStorage.setItem(KEY, p);
    } catch {
      // no storage
    }
    setPrefState(p);
  }, []);

  return { pref, theme, setPref };
}
