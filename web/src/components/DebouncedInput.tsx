import { useEffect, useRef, useState, type InputHTMLAttributes } from 'react';

/** A text input that reports its value after the user pauses typing (or on Enter). */
export function DebouncedInput({
  value,
  onCommit,
  delay = 400,
  ...rest
}: { value: string; onCommit: (v: string) => void; delay?: number } & Omit<
  InputHTMLAttributes<HTMLInputElement>,
  'value' | 'onChange'
>) {
  const [draft, setDraft] = useState(value);
  const [shown, setShown] = useState(value);
  // The URL changed under us (back button, a link): show it.
  if (shown !== value) {
    setShown(value);
    setDraft(value);
  }
  const commit = useRef(onCommit);
  useEffect(() => {
    commit.current = onCommit;
  });
  useEffect(() => {
    if (draft === value) return;
    const t = setTimeout(() => commit.current(draft), delay);
    return () => clearTimeout(t);
  }, [draft, value, delay]);
  return (
    <input
      {...rest}
      value={draft}
      onChange={(e) => setDraft(e.target.value)}
      onKeyDown={(e) => {
        if (e.key === 'Enter') commit.current(draft);
      }}
    />
  );
}
