// Remote Desktop to a Windows node: a tunnel to its RDP port (its own tunnel tab, with the
// tunnel's figures), the system's RDP client started on the tunnel's local end, and with the
// instance's key pair file, the administrator password shown here with Copy. The password is
// not passed to the client (other users of this machine can read a command line).

import { useEffect, useState } from 'react';
import { useBackend } from '../backend/backend';
import { UserError } from '../backend/errors';
import type { ManagedNode, TunnelRequest } from '../backend/types';
import { Dialog, Field } from '../app/Dialog';
import { isPort } from '../profiles/validate';
import { TunnelSession } from '../tunnels/tunnelSession';

interface Props {
  node: ManagedNode;
  /** A tunnel has started: the window opens its tab. */
  onStarted: (session: TunnelSession, title: string) => void;
  onClose: () => void;
}

/** What the dialog says after Connect. */
interface Outcome {
  localAddress: string;
  client: string | null;
  clientError: string | null;
  password: string | null;
  passwordError: string | null;
}

/** A port as typed: digits, in range (0 allowed for "any free one"). */
function isPortText(text: string, allowZero: boolean): boolean {
  return text.trim() !== '' && isPort(Number(text), allowZero);
}

export function RdpDialog({ node, onStarted, onClose }: Props) {
  const backend = useBackend();
  const [user, setUser] = useState('Administrator');
  const [rdpPort, setRdpPort] = useState('3389');
  const [localPort, setLocalPort] = useState('0');
  const [keyFile, setKeyFile] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [outcome, setOutcome] = useState<Outcome | null>(null);
  const [copied, setCopied] = useState(false);
  const [shown, setShown] = useState(false);
  const onPremises = node.id.startsWith('mi-');

  useEffect(() => {
    let live = true;
    backend
      .demoKeyFile()
      .then((path) => live && path && setKeyFile((k) => k || path))
      .catch(() => {});
    return () => {
      live = false;
    };
  }, [backend]);

  const portError = isPortText(rdpPort, false) ? undefined : 'A port from 1 to 65535.';
  const localError = isPortText(localPort, true)
    ? undefined
    : 'A port from 1 to 65535, or 0 for any free one.';
  const userError = user.trim() ? undefined : 'The Windows user to sign in as.';

  const launch = async (localAddress: string) => {
    try {
      const launched = await backend.launchRdp(localAddress, user.trim());
      return { client: `${launched.client}: ${launched.command}`, clientError: null };
    } catch (failure) {
      return { client: null, clientError: UserError.from(failure).message };
    }
  };

  const connect = async (e: React.FormEvent) => {
    e.preventDefault();
    if (portError || localError || userError) return;
    setBusy(true);
    setError(null);
    const request: TunnelRequest = {
      kind: 'forward',
      target: node.id,
      remotePort: Number(rdpPort),
      remoteHost: null,
      localPort: Number(localPort),
      bind: '127.0.0.1',
      sessions: 1,
      reason: 'Remote Desktop',
      document: null,
      parameters: {},
      keepAlive: false,
    };
    try {
      const session = new TunnelSession(backend, { kind: 'request', request });
      await session.start();
      if (session.phase.phase === 'failed') throw session.phase.error;
      const localAddress = session.localAddress() ?? '';
      onStarted(session, `${node.name || node.id} · RDP`);
      let password: string | null = null;
      let passwordError: string | null = null;
      if (keyFile.trim()) {
        try {
          password = await backend.windowsPassword(node.id, keyFile.trim());
        } catch (failure) {
          passwordError = UserError.from(failure).message;
        }
      }
      setOutcome({ localAddress, password, passwordError, ...(await launch(localAddress)) });
    } catch (failure) {
      setError(UserError.from(failure).message);
    } finally {
      setBusy(false);
    }
  };

  const copy = async () => {
    if (!outcome?.password) return;
    await backend.copyText(outcome.password);
    setCopied(true);
    setTimeout(() => setCopied(false), 1500);
  };

  if (outcome) {
    return (
      <Dialog title={`Remote Desktop to ${node.name || node.id}`} onClose={onClose}>
        <p>
          The tunnel runs in its own tab: RDP clients connect to{' '}
          <code data-rdp-address>{outcome.localAddress}</code> as {user.trim()}.
        </p>
        {outcome.client && <p className="rdp-client">Started {outcome.client}</p>}
        {outcome.clientError && (
          <p className="form-error" role="alert">
            {outcome.clientError}
          </p>
        )}
        {outcome.password !== null && (
          <div className="rdp-password">
            <span className="label">Password for {user.trim()}</span>{' '}
            <code data-password-shown={shown ? 'yes' : 'no'}>
              {shown ? outcome.password : '••••••••••••'}
            </code>{' '}
            <button type="button" onClick={() => setShown((s) => !s)}>
              {shown ? 'Hide' : 'Show'}
            </button>{' '}
            <button type="button" onClick={() => void copy()}>
              {copied ? 'Copied' : 'Copy'}
            </button>
            <p className="hint">Paste it when the RDP client asks; Airlock does not keep it.</p>
          </div>
        )}
        {outcome.passwordError && (
          <p className="form-error" role="alert">
            {outcome.passwordError}
          </p>
        )}
        <footer>
          <button
            type="button"
            onClick={async () => setOutcome({ ...outcome, ...(await launch(outcome.localAddress)) })}
          >
            Open RDP client again
          </button>
          <button type="button" className="primary" onClick={onClose}>
            Done
          </button>
        </footer>
      </Dialog>
    );
  }

  return (
    <Dialog title={`Remote Desktop to ${node.name || node.id}`} onClose={onClose}>
      <form onSubmit={connect} noValidate>
        <div className="row">
          <Field label="User" error={userError}>
            <input value={user} onChange={(e) => setUser(e.target.value)} aria-label="User" />
          </Field>
          <Field label="RDP port on the node" error={portError}>
            <input
              inputMode="numeric"
              value={rdpPort}
              onChange={(e) => setRdpPort(e.target.value)}
              aria-label="RDP port"
            />
          </Field>
          <Field label="Local port" error={localError} hint="0 picks any free port">
            <input
              inputMode="numeric"
              value={localPort}
              onChange={(e) => setLocalPort(e.target.value)}
              aria-label="Local port"
            />
          </Field>
        </div>
        <Field
          label="Key pair file (optional)"
          hint={
            onPremises
              ? 'An on-premises node has no EC2 password: sign in with an account of that machine.'
              : 'The .pem of the key pair the instance was launched with: Airlock decrypts the administrator password (EC2 GetPasswordData) here and shows it; it is not kept.'
          }
        >
          <div className="with-button">
            <input value={keyFile} onChange={(e) => setKeyFile(e.target.value)} aria-label="Key pair file" />
            <button
              type="button"
              onClick={async () => {
                const chosen = await backend.chooseKeyFile().catch(() => null);
                if (chosen) setKeyFile(chosen);
              }}
            >
              Choose…
            </button>
          </div>
        </Field>
        {error && (
          <p className="form-error" role="alert">
            {error}
          </p>
        )}
        <footer>
          <button type="button" onClick={onClose}>
            Cancel
          </button>
          <button type="submit" className="primary" disabled={busy}>
            {busy ? 'Connecting…' : 'Connect'}
          </button>
        </footer>
      </form>
    </Dialog>
  );
}
