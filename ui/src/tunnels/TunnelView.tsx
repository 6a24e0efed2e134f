// A tunnel tab: the local address with a copy button, live throughput both ways as a small
// chart, connections and round-trip time, and Stop / Restart. A saved profile of several
// forwards adds a table of each forward's address, destination and figures.

import { useEffect, useReducer, useState } from 'react';
import { useBackend } from '../backend/backend';
import { formatBytes, formatRate, WINDOW, type RatePoint } from './rates';
import type { TunnelSession } from './tunnelSession';
import { LIMITS } from '../backend/generated';

interface Props {
  session: TunnelSession;
  active: boolean;
  title: string;
  /** A credential prompt is waiting for the user (an MFA code, an SSO login). */
  waitingForCredentials?: boolean;
}

/** Whether the tunnel is held up by a credential prompt: it is starting, or has no live session. */
export function heldByCredentials(
  phase: TunnelSession['phase'],
  liveSessions: number | undefined,
  waiting: boolean,
): boolean {
  return waiting && (phase.phase === 'starting' || (phase.phase === 'running' && !liveSessions));
}

export function TunnelView({ session, active, title, waitingForCredentials = false }: Props) {
  const backend = useBackend();
  const [, rerender] = useReducer((n: number) => n + 1, 0);
  const [copied, setCopied] = useState<string | null>(null);
  useEffect(() => session.subscribe(rerender), [session]);

  const { phase, figures, forwards } = session;
  const address = session.localAddress();
  const last = session.history.points.at(-1);
  const copy = async (text: string | null) => {
    if (!text) return;
    await backend.copyText(text);
    setCopied(text);
    setTimeout(() => setCopied(null), 1500);
  };

  return (
    <div className="tunnel-tab" hidden={!active} data-tunnel={title}>
      <div className="tunnel-head">
        <div>
          <div className="label">Local address</div>
          <div className="address">
            <code data-local-address={address ?? ''}>{address ?? '—'}</code>
            <button onClick={() => void copy(address)} disabled={!address}>
              {copied === address ? 'Copied' : 'Copy'}
            </button>
          </div>
        </div>
        <div className={`tunnel-phase ${phase.phase}`} role="status">
          {heldByCredentials(phase, figures?.liveSessions, waitingForCredentials) ? (
            'Waiting for credentials: answer the prompt to continue'
          ) : (
            <>
              {phase.phase === 'starting' && 'Starting…'}
              {phase.phase === 'running' && 'Running'}
            </>
          )}
          {phase.phase === 'ended' && (phase.byUser ? 'Stopped' : `Ended: ${phase.reason}`)}
          {phase.phase === 'failed' && `Could not start: ${phase.error.message}`}
        </div>
        <div className="tunnel-actions">
          {phase.phase === 'running' ? (
            <button onClick={() => void session.stop()}>Stop</button>
          ) : (
            <button
              className="primary"
              disabled={phase.phase === 'starting'}
              onClick={() => void session.start()}
            >
              {phase.phase === 'starting' ? 'Starting…' : 'Restart'}
            </button>
          )}
        </div>
      </div>
      <div className="figures">
        <Figure
          label="Download"
          value={last ? formatRate(last.down) : '—'}
          detail={figures ? `${formatBytes(figures.bytesDown)} total` : ''}
          className="down"
        />
        <Figure
          label="Upload"
          value={last ? formatRate(last.up) : '—'}
          detail={figures ? `${formatBytes(figures.bytesUp)} total` : ''}
          className="up"
        />
        <Figure
          label="Connections"
          value={figures ? String(figures.openConnections) : '—'}
          detail={
            figures
              ? `${figures.totalConnections} since start${figures.refusedConnections ? `, ${figures.refusedConnections} refused by the node` : ''}${figures.turnedAwayConnections ? `, ${figures.turnedAwayConnections} turned away (at most ${LIMITS.maxConnections} at once a session)` : ''}`
              : ''
          }
        />
        <Figure
          label="Round trip"
          value={figures && figures.liveSessions ? `${(figures.rttMicros / 1000).toFixed(1)} ms` : '—'}
          detail={
            figures
              ? `${figures.liveSessions} session${figures.liveSessions === 1 ? '' : 's'}${figures.reconnects ? `, ${figures.reconnects} reconnects` : ''}`
              : ''
          }
        />
      </div>
      {forwards.length > 1 && (
        <table className="forward-table" aria-label="Forwards">
          <thead>
            <tr>
              <th>Local address</th>
              <th>To</th>
              <th>Down</th>
              <th>Up</th>
              <th>Connections</th>
            </tr>
          </thead>
          <tbody>
            {forwards.map((f) => (
              <tr key={f.localAddress} data-forward-address={f.localAddress}>
                <td>
                  <code>{f.localAddress}</code>{' '}
                  <button onClick={() => void copy(f.localAddress)}>
                    {copied === f.localAddress ? 'Copied' : 'Copy'}
                  </button>
                </td>
                <td>{f.destination}</td>
                <td className="number">{formatBytes(f.figures.bytesDown)}</td>
                <td className="number">{formatBytes(f.figures.bytesUp)}</td>
                <td className="number">
                  {f.figures.openConnections} open, {f.figures.totalConnections} since start
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <RateChart points={session.history.points} peak={session.history.peak()} />
    </div>
  );
}

function Figure({
  label,
  value,
  detail,
  className,
}: {
  label: string;
  value: string;
  detail: string;
  className?: string;
}) {
  return (
    <div className={`figure ${className ?? ''}`}>
      <div className="label">{label}</div>
      <div className="value">{value}</div>
      <div className="detail">{detail}</div>
    </div>
  );
}

/** Download and upload rates over the last minute, as two lines. */
function RateChart({ points, peak }: { points: RatePoint[]; peak: number }) {
  const width = 600;
  const height = 140;
  const x = (i: number) => ((i + WINDOW - points.length) / (WINDOW - 1)) * width;
  const y = (v: number) => height - 4 - (v / peak) * (height - 12);
  const line = (pick: (p: RatePoint) => number) =>
    points.map((p, i) => `${i === 0 ? 'M' : 'L'}${x(i).toFixed(1)},${y(pick(p)).toFixed(1)}`).join(' ');
  return (
    <figure className="rate-chart">
      <svg
        viewBox={`0 0 ${width} ${height}`}
        preserveAspectRatio="none"
        role="img"
        aria-label="Throughput over the last minute"
      >
        <line x1="0" y1={height - 4} x2={width} y2={height - 4} className="axis" />
        {points.length > 1 && <path d={line((p) => p.down)} className="down" />}
        {points.length > 1 && <path d={line((p) => p.up)} className="up" />}
      </svg>
      <figcaption>
        <span className="key down">download</span> <span className="key up">upload</span> · last minute · peak{' '}
        {formatRate(peak)}
      </figcaption>
    </figure>
  );
}
