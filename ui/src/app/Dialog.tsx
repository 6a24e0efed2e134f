// A modal dialog: a titled panel over the window; Escape or the close button dismisses it.

import { useEffect, useRef, type ReactNode } from 'react';

interface Props {
  title: string;
  onClose: () => void;
  children: ReactNode;
  wide?: boolean;
}

export function Dialog({ title, onClose, children, wide }: Props) {
  const panel = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const previous = document.activeElement as HTMLElement | null;
    const first = panel.current?.querySelector<HTMLElement>('input, select, textarea, button.primary');
    first?.focus();
    return () => previous?.focus?.();
  }, []);
  // Escape closes it even when the focus has left it (the button pressed last was removed).
  const close = useRef(onClose);
  close.current = onClose;
  useEffect(() => {
    const listener = (e: KeyboardEvent) => {
      if (e.key === 'Escape' && !panel.current?.contains(e.target as Node)) close.current();
    };
    window.addEventListener('keydown', listener);
    return () => window.removeEventListener('keydown', listener);
  }, []);
  return (
    <div className="overlay" onMouseDown={(e) => e.target === e.currentTarget && onClose()}>
      <div
        ref={panel}
        className={`dialog${wide ? ' wide' : ''}`}
        role="dialog"
        aria-modal="true"
        aria-label={title}
        onKeyDown={(e) => {
          if (e.key === 'Escape') {
            e.stopPropagation();
            onClose();
          }
        }}
      >
        <header>
          <h2>{title}</h2>
          <button className="icon" onClick={onClose} aria-label="Close">
            ✕
          </button>
        </header>
        {children}
      </div>
    </div>
  );
}

/** A labelled form field with its inline error. */
export function Field({
  label,
  error,
  warning,
  hint,
  children,
}: {
  label: string;
  error?: string;
  warning?: string | null;
  hint?: string;
  children: ReactNode;
}) {
  return (
    <label className={`field${error ? ' invalid' : ''}`}>
      <span className="label">{label}</span>
      {children}
      {error ? (
        <span className="field-error" role="alert">
          {error}
        </span>
      ) : warning ? (
        <span className="field-warning" role="status">
          {warning}
        </span>
      ) : hint ? (
        <span className="hint">{hint}</span>
      ) : null}
    </label>
  );
}
