// "Sessions": the place's active and recent Session Manager sessions (any client's, as
// DescribeSessions lists them) with target, owner, start, reason and status, and Terminate for
// an active one, after a confirmation. The same data as `airlock sessions`.

import { useEffect, useState } from 'react';
import { Dialog } from '../app/Dialog';
import { useBackend } from '../backend/backend';
import { UserError } from '../backend/errors';
import type { ManagedNode, SessionRow } from '../backend/types';

interface Props {
  /** For showing a node's name beside its id. */
  nodes: ManagedNode[];
  onClose: () => void;
}

/** `2026-12-02T07:59:01Z` as the user's local date and time. */
function when(time: string | null): string {
  if (!time) return '';
  const date = new Date(time);
  return Number.isNaN(date.getTime()) ? time : date.toLocaleString();
}

export function SessionsDialog({ nodes, onClose }: Props) {
  const backend = useBackend();
  const [history, setHistory] = useState(false);
  const [rows, setRows] = useState<SessionRow[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [confirming, setConfirming] = useState<string | null>(null);
  const [terminating, setTerminating] = useState<string | null>(null);
  const [loads, setLoads] = useState(0);

  useEffect(() => {
    let current = true;
    setRows(null);
    setError(null);
    backend.listSessions(history).then(
      (r) => current && setRows(r),
      (e) => current && setError(UserError.from(e).message),
    );
    return () => {
      current = false;
    };
  }, [backend, history, loads]);

  const terminate = async (id: string) => {
    setConfirming(null);
    setTerminating(id);
    try {
      await backend.terminateSession(id);
      setLoads((n) => n + 1);
    } catch (e) {
      setError(UserError.from(e).message);
    } finally {
      setTerminating(null);
    }
  };

  const name = (target: string) => {
    const node = nodes.find((n) => n.id === target);
    return node?.name ? `${node.name} (${target})` : target;
  };

  return (
    <Dialog title="Sessions" onClose={onClose} wide>
      <div className="sessions">
        <div className="sessions-bar" role="tablist">
          <button
            role="tab"
            aria-selected={!history}
            className={history ? '' : 'primary'}
            onClick={() => setHistory(false)}
          >
            Active
          </button>
          <button
            role="tab"
            aria-selected={history}
            className={history ? 'primary' : ''}
            onClick={() => setHistory(true)}
          >
            History
          </button>
          <span className="spacer" />
          <button onClick={() => setLoads((n) => n + 1)}>Refresh</button>
        </div>
        {error && (
          <p className="error" role="alert">
            {error}
          </p>
        )}
        {!rows && !error && (
          <p>
            <span className="spinner" /> Loading sessions…
          </p>
        )}
        {rows && rows.length === 0 && (
          <p role="status">
            {history ? 'No ended sessions in this place.' : 'No active sessions in this place.'}
          </p>
        )}
        {rows && rows.length > 0 && (
          <table className="sessions-table">
            <thead>
              <tr>
                <th>Target</th>
                <th>Owner</th>
                <th>Started</th>
                {history && <th>Ended</th>}
                <th>Reason</th>
                <th>Status</th>
                {!history && <th />}
              </tr>
            </thead>
            <tbody>
              {rows.map((row) => (
                <tr key={row.id} data-session={row.id}>
                  <td title={row.id}>
                    {name(row.target)}
                    {row.document && <div className="muted">{row.document}</div>}
                  </td>
                  <td className="owner" title={row.owner}>
                    {row.owner.split('/').pop() || row.owner}
                  </td>
                  <td className="started">{when(row.started)}</td>
                  {history && <td>{when(row.ended)}</td>}
                  <td>{row.reason ?? ''}</td>
                  <td className="status">{row.status}</td>
                  {!history && (
                    <td>
                      {confirming === row.id ? (
                        <span className="confirm">
                          End it for whoever holds it?{' '}
                          <button className="danger" onClick={() => void terminate(row.id)}>
                            Terminate
                          </button>{' '}
                          <button onClick={() => setConfirming(null)}>Keep</button>
                        </span>
                      ) : (
                        <button disabled={terminating === row.id} onClick={() => setConfirming(row.id)}>
                          {terminating === row.id ? 'Terminating…' : 'Terminate…'}
                        </button>
                      )}
                    </td>
                  )}
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </div>
    </Dialog>
  );
}
