// The saved tunnel profiles beside the node list: start one with a click; add, edit,
// duplicate, delete; import and export the file.

import { useState } from 'react';
import { useBackend } from '../backend/backend';
import { UserError } from '../backend/errors';
import type { ImportPreview, TunnelProfile } from '../backend/types';
import { Dialog } from '../app/Dialog';

interface Props {
  profiles: TunnelProfile[];
  running: Set<string>;
  onStart: (profile: TunnelProfile) => void;
  onEdit: (profile: TunnelProfile) => void;
  onDuplicate: (profile: TunnelProfile) => void;
  onAdd: () => void;
  onChanged: () => void;
  onNotice: (message: string) => void;
}

export function ProfilesPanel({
  profiles,
  running,
  onStart,
  onEdit,
  onDuplicate,
  onAdd,
  onChanged,
  onNotice,
}: Props) {
  const backend = useBackend();
  const [confirming, setConfirming] = useState<string | null>(null);
  // An import that needs the user's yes first (a listener others can reach, an auto-start).
  const [asking, setAsking] = useState<ImportPreview | null>(null);

  const run = async (what: () => Promise<void>) => {
    try {
      await what();
    } catch (error) {
      onNotice(UserError.from(error).message);
    }
  };

  const importFrom = async (preview: ImportPreview) => {
    const n = await backend.importProfiles(preview.path);
    onNotice(`Imported ${n} profile${n === 1 ? '' : 's'}.`);
    onChanged();
  };

  return (
    <section className="profiles" aria-label="Saved tunnels">
      {asking && (
        <Dialog title="Import these profiles?" onClose={() => setAsking(null)}>
          <p>
            {asking.path} holds {asking.profiles.length} profile{asking.profiles.length === 1 ? '' : 's'}.
            Before they are added, note:
          </p>
          <ul className="concerns">
            {asking.concerns.map((concern) => (
              <li key={concern}>{concern}</li>
            ))}
          </ul>
          <footer>
            <button onClick={() => setAsking(null)}>Cancel</button>
            <button
              className="primary"
              onClick={() =>
                run(async () => {
                  const preview = asking;
                  setAsking(null);
                  await importFrom(preview);
                })
              }
            >
              Import anyway
            </button>
          </footer>
        </Dialog>
      )}
      <header>
        <h2>Saved tunnels</h2>
        <span className="actions">
          <button onClick={onAdd} title="New profile">
            New
          </button>
          <button
            onClick={() =>
              run(async () => {
                const preview = await backend.chooseProfilesImport();
                if (preview === null) return;
                if (preview.concerns.length > 0) setAsking(preview);
                else await importFrom(preview);
              })
            }
          >
            Import…
          </button>
          <button
            disabled={profiles.length === 0}
            onClick={() =>
              run(async () => {
                const n = await backend.exportProfiles();
                if (n !== null) onNotice(`Exported ${n} profile${n === 1 ? '' : 's'}.`);
              })
            }
          >
            Export…
          </button>
        </span>
      </header>
      {profiles.length === 0 && (
        <p className="empty">
          No saved tunnels yet. Start a tunnel and tick “Save as a profile”, or choose New.
        </p>
      )}
      <ul>
        {profiles.map((p) => (
          <li key={p.name} data-profile={p.name}>
            <div className="profile-main">
              <button
                className="primary start"
                disabled={running.has(p.name)}
                onClick={() => onStart(p)}
                title={`Start ${p.name}`}
                aria-label={`Start ${p.name}`}
              >
                {running.has(p.name) ? 'Running' : 'Start'}
              </button>
              <div>
                <div className="profile-name">
                  {p.name} {p.autoStart && <span className="badge">auto-start</span>}
                </div>
                <div className="profile-detail mono">
                  {p.bind}:{p.localPort || 'any'} → {p.remoteHost ?? p.target}:{p.remotePort}
                  {p.sessions > 1 ? ` ×${p.sessions}` : ''}
                </div>
                {p.moreForwards.map((f, i) => (
                  <div className="profile-detail mono" key={i}>
                    + {p.bind}:{f.localPort || 'any'} → {f.remoteHost ?? p.target}:{f.remotePort}
                  </div>
                ))}
                {(p.awsProfile || p.region) && (
                  <div className="profile-detail">{[p.awsProfile, p.region].filter(Boolean).join(' · ')}</div>
                )}
              </div>
            </div>
            <div className="profile-actions">
              {confirming === p.name ? (
                <>
                  <span>Delete?</span>
                  <button
                    className="danger"
                    onClick={() =>
                      run(async () => {
                        await backend.deleteProfile(p.name);
                        setConfirming(null);
                        onChanged();
                      })
                    }
                  >
                    Delete
                  </button>
                  <button onClick={() => setConfirming(null)}>Keep</button>
                </>
              ) : (
                <>
                  <button onClick={() => onEdit(p)}>Edit</button>
                  <button onClick={() => onDuplicate(p)}>Duplicate</button>
                  <button onClick={() => setConfirming(p.name)}>Delete</button>
                </>
              )}
            </div>
          </li>
        ))}
      </ul>
    </section>
  );
}
