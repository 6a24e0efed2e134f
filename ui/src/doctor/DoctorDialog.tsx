// "Check connection": the checks of `airlock doctor`, line by line, for the current place
// (and a node, when one is selected): what works on the way to Session Manager and what to fix.

import { useEffect, useState } from 'react';
import { Dialog } from '../app/Dialog';
import { useBackend } from '../backend/backend';
import { UserError } from '../backend/errors';
import type { DoctorReport } from '../backend/types';

const MARKS: Record<string, string> = { ok: '✓', warning: '!', failed: '✕', skipped: '–' };

export function DoctorDialog({ target, onClose }: { target: string | null; onClose: () => void }) {
  const backend = useBackend();
  const [report, setReport] = useState<DoctorReport | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [runs, setRuns] = useState(0);

  useEffect(() => {
    let current = true;
    setReport(null);
    setError(null);
    backend.doctor(target).then(
      (r) => current && setReport(r),
      (e) => current && setError(UserError.from(e).message),
    );
    return () => {
      current = false;
    };
  }, [backend, target, runs]);

  const failed = report?.checks.filter((c) => c.verdict === 'failed').length ?? 0;
  return (
    <Dialog title={target ? `Check connection (and ${target})` : 'Check connection'} onClose={onClose} wide>
      <div className="doctor">
        {!report && !error && (
          <p>
            <span className="spinner" /> Checking…
          </p>
        )}
        {error && (
          <p className="error" role="alert">
            {error}
          </p>
        )}
        {report && (
          <>
            <p className={failed ? 'error' : 'ok'} role="status">
              {failed
                ? `${failed} check${failed === 1 ? '' : 's'} failed.`
                : 'Everything Airlock can check works.'}
            </p>
            <ul className="doctor-checks">
              {report.checks.map((check, i) => (
                <li key={i} className={`doctor-check ${check.verdict}`} data-verdict={check.verdict}>
                  <span className="mark" aria-label={check.verdict}>
                    {MARKS[check.verdict]}
                  </span>
                  <span className="title">{check.title}</span>
                  <span className="detail">{check.detail}</span>
                  {check.fix && <span className="fix">Fix: {check.fix}</span>}
                </li>
              ))}
            </ul>
          </>
        )}
        <div className="buttons">
          <button onClick={() => setRuns((n) => n + 1)} disabled={!report && !error}>
            Check again
          </button>
          <button className="primary" onClick={onClose}>
            Close
          </button>
        </div>
      </div>
    </Dialog>
  );
}
