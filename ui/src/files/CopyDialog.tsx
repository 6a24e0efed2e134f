// Send file… and Get file… from a shell tab: the paths (typed, chosen with the system's
// chooser, or a file dropped on the tab), then the copy's progress bar with its rate, time
// left and Cancel, then what happened (the digest that matched, or why not and what became
// of the partial file).

import { useEffect, useRef, useState } from 'react';
import { useBackend } from '../backend/backend';
import { UserError } from '../backend/errors';
import type { CopyDirection, CopyMessage } from '../backend/types';
import { Dialog, Field } from '../app/Dialog';
import { formatBytes as bytes, formatRate } from '../tunnels/rates';

interface Props {
  direction: CopyDirection;
  /** The node's id, and what the tab calls it. */
  target: string;
  title: string;
  /** A file dropped on the tab: the path to send. */
  local: string | null;
  onClose: () => void;
}

type Phase =
  | { phase: 'form' }
  | {
      phase: 'copying';
      id: number | null;
      done: number;
      total: number | null;
      rate: number;
      leftMs: number | null;
    }
  | { phase: 'done'; path: string; bytes: number; sha256: string }
  | { phase: 'failed'; message: string };

/** 65_000 ms → "1:05". */
export function minutes(ms: number): string {
  const seconds = Math.max(0, Math.round(ms / 1000));
  return `${Math.floor(seconds / 60)}:${String(seconds % 60).padStart(2, '0')}`;
}

/** The last part of a path, either kind of slash. */
function baseName(path: string): string {
  return path.split(/[\\/]/).filter(Boolean).pop() ?? '';
}

export function CopyDialog({ direction, target, title, local, onClose }: Props) {
  const backend = useBackend();
  const upload = direction === 'upload';
  const [localPath, setLocalPath] = useState(local ?? '');
  const [remotePath, setRemotePath] = useState(upload ? '/tmp/' : '');
  const [phase, setPhase] = useState<Phase>({ phase: 'form' });
  const [error, setError] = useState<string | null>(null);
  const copyId = useRef<number | null>(null);

  useEffect(() => {
    if (upload || local) return;
    let live = true;
    backend
      .defaultDownloadDir()
      .then((dir) => {
        if (live && dir) setLocalPath((path) => path || dir);
      })
      .catch(() => {});
    return () => {
      live = false;
    };
  }, [backend, upload, local]);

  const choose = async () => {
    try {
      const picked = upload
        ? await backend.chooseFileToSend()
        : await backend.chooseWhereToSave(baseName(remotePath) || 'download');
      if (picked) setLocalPath(picked);
    } catch (e) {
      setError(UserError.from(e).message);
    }
  };

  const onMessage = (message: CopyMessage) => {
    if (message.kind === 'progress') {
      setPhase({
        phase: 'copying',
        id: copyId.current,
        done: message.done,
        total: message.total,
        rate: message.bytesPerSecond,
        leftMs: message.leftMs,
      });
    } else if (message.kind === 'done') {
      copyId.current = null;
      setPhase({ phase: 'done', path: message.path, bytes: message.bytes, sha256: message.sha256 });
    } else {
      copyId.current = null;
      setPhase({ phase: 'failed', message: message.message });
    }
  };

  const start = async (e: React.FormEvent) => {
    e.preventDefault();
    if (!localPath.trim() || !remotePath.trim()) {
      setError(
        upload
          ? 'Give the file to send and where it goes on the node.'
          : 'Give the node’s file and where it goes here.',
      );
      return;
    }
    setError(null);
    setPhase({ phase: 'copying', id: null, done: 0, total: null, rate: 0, leftMs: null });
    try {
      const id = await backend.startCopy(
        { direction, target, local: localPath.trim(), remote: remotePath.trim() },
        onMessage,
      );
      copyId.current = id;
      setPhase((p) => (p.phase === 'copying' ? { ...p, id } : p));
    } catch (err) {
      setPhase({ phase: 'form' });
      setError(UserError.from(err).message);
    }
  };

  const cancel = () => {
    if (copyId.current !== null) void backend.cancelCopy(copyId.current);
  };
  const close = () => {
    cancel();
    onClose();
  };

  const heading = upload ? `Send a file to ${title}` : `Get a file from ${title}`;
  return (
    <Dialog title={heading} onClose={close}>
      {phase.phase === 'form' && (
        <form className="copy-form" onSubmit={start}>
          {upload ? (
            <>
              <Field label="File on this machine">
                <span className="with-button">
                  <input
                    value={localPath}
                    onChange={(e) => setLocalPath(e.target.value)}
                    aria-label="File on this machine"
                  />
                  <button type="button" onClick={choose}>
                    Choose…
                  </button>
                </span>
              </Field>
              <Field label="Path on the node" hint="A directory, or ending in /, keeps the file’s name">
                <input
                  value={remotePath}
                  onChange={(e) => setRemotePath(e.target.value)}
                  aria-label="Path on the node"
                />
              </Field>
            </>
          ) : (
            <>
              <Field label="File on the node">
                <input
                  value={remotePath}
                  onChange={(e) => setRemotePath(e.target.value)}
                  aria-label="File on the node"
                />
              </Field>
              <Field label="Save to (this machine)" hint="A folder keeps the file’s name">
                <span className="with-button">
                  <input
                    value={localPath}
                    onChange={(e) => setLocalPath(e.target.value)}
                    aria-label="Save to"
                  />
                  <button type="button" onClick={choose}>
                    Choose…
                  </button>
                </span>
              </Field>
            </>
          )}
          <p className="hint">
            Carried by Session Manager itself, checked with SHA-256 at both ends. The node needs sh and
            coreutils; Windows nodes are not supported.
          </p>
          {error && (
            <p className="form-error" role="alert">
              {error}
            </p>
          )}
          <footer>
            <button type="button" onClick={close}>
              Cancel
            </button>
            <button type="submit" className="primary">
              {upload ? 'Send' : 'Get'}
            </button>
          </footer>
        </form>
      )}
      {phase.phase === 'copying' && (
        <div className="copy-progress">
          <progress
            aria-label="Copy progress"
            value={phase.total ? phase.done : undefined}
            max={phase.total ?? undefined}
          />
          <p role="status">
            {phase.total === null
              ? 'Starting the session…'
              : `${bytes(phase.done)} of ${bytes(phase.total)} · ${formatRate(phase.rate)}` +
                (phase.leftMs !== null ? ` · ${minutes(phase.leftMs)} left` : '')}
          </p>
          <footer>
            <button type="button" onClick={cancel} disabled={phase.id === null}>
              Cancel
            </button>
          </footer>
        </div>
      )}
      {phase.phase === 'done' && (
        <div className="copy-result">
          <p role="status">
            Copied {bytes(phase.bytes)} to {phase.path}.
          </p>
          <p className="hint">SHA-256 {phase.sha256}, the same at both ends.</p>
          <footer>
            <button type="button" className="primary" onClick={onClose}>
              Close
            </button>
          </footer>
        </div>
      )}
      {phase.phase === 'failed' && (
        <div className="copy-result">
          <p className="form-error" role="alert">
            {phase.message}
          </p>
          <footer>
            <button type="button" onClick={() => setPhase({ phase: 'form' })}>
              Try again
            </button>
            <button type="button" className="primary" onClick={onClose}>
              Close
            </button>
          </footer>
        </div>
      )}
    </Dialog>
  );
}
