import { SILENCE_FIELDS, type SilenceField } from '../../api/types';

/** A link to the Silences tab with the create form open and these matchers filled in. */
export function silenceLink(m: Partial<Record<SilenceField, string | null | undefined>>, comment?: string): string {
  const p = new URLSearchParams({ new: '1' });
  for (const f of SILENCE_FIELDS) {
    const v = m[f];
    if (v) p.set(f, v);
  }
  if (comment) p.set('comment', comment);
  return `/alerts/silences?${p}`;
}
