// The About view: the app's version and licence, and the licences of everything it bundles
// (licences.json, written by scripts/licences.mjs from cargo and npm), loaded only when opened.

import { useEffect, useMemo, useState } from 'react';
import { Dialog } from '../app/Dialog';

declare global {
  /** The app's version, from tauri.conf.json (vite.config.ts). */
  const __AIRLOCK_VERSION__: string;
}

export interface BundledPackage {
  name: string;
  version: string;
  kind: 'crate' | 'npm';
  licence: string;
  home: string;
  /** Indexes into `Licences.texts`. */
  texts: number[];
}

export interface Licences {
  packages: BundledPackage[];
  texts: string[];
}

/** The bundled licences; a function so tests can give their own. */
export type LoadLicences = () => Promise<Licences>;

const loadBundled: LoadLicences = async () => (await import('./licences.json')).default as Licences;

export function AboutDialog({ onClose, load = loadBundled }: { onClose: () => void; load?: LoadLicences }) {
  const [licences, setLicences] = useState<Licences | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [query, setQuery] = useState('');
  const [open, setOpen] = useState<string | null>(null);
  useEffect(() => {
    let live = true;
    load().then(
      (loaded) => live && setLicences(loaded),
      (e: unknown) => live && setError(`The licence list did not load: ${String(e)}`),
    );
    return () => {
      live = false;
    };
  }, [load]);
  const shown = useMemo(() => {
    const words = query.trim().toLowerCase();
    const all = licences?.packages ?? [];
    return words ? all.filter((p) => `${p.name} ${p.licence}`.toLowerCase().includes(words)) : all;
  }, [licences, query]);

  return (
    <Dialog title="About Airlock" onClose={onClose} wide>
      <p className="about-version">
        Airlock <span data-version>{__AIRLOCK_VERSION__}</span>, licensed under the Apache License 2.0.
      </p>
      <p className="hint">
        A desktop app for AWS Systems Manager Session Manager that speaks the data-channel protocol itself. It
        bundles the open-source packages below, each under its own licence.
      </p>
      {error && <p className="form-error">{error}</p>}
      {!licences && !error && <p className="hint">Loading the licences…</p>}
      {licences && (
        <>
          <input
            type="search"
            aria-label="Find a package or licence"
            placeholder={`Find among ${licences.packages.length} packages or their licences`}
            value={query}
            onChange={(e) => setQuery(e.target.value)}
          />
          <ul className="licences">
            {shown.map((p) => {
              const key = `${p.kind}:${p.name}@${p.version}`;
              return (
                <li key={key} data-package={key}>
                  <button
                    className="link"
                    aria-expanded={open === key}
                    onClick={() => setOpen(open === key ? null : key)}
                  >
                    {p.name} {p.version}
                  </button>
                  <span className="hint">
                    {' '}
                    {p.kind === 'crate' ? 'Rust crate' : 'npm package'} · {p.licence}
                  </span>
                  {open === key && (
                    <div className="licence-texts">
                      <p className="hint">{p.home}</p>
                      {p.texts.length === 0 && (
                        <p className="hint">It ships no licence file; its licence is {p.licence}.</p>
                      )}
                      {p.texts.map((index) => (
                        <pre key={index}>{licences.texts[index]}</pre>
                      ))}
                    </div>
                  )}
                </li>
              );
            })}
          </ul>
          {shown.length === 0 && <p className="hint">No package or licence matches “{query}”.</p>}
        </>
      )}
    </Dialog>
  );
}
