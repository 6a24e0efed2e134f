// The "New tunnel" form: a port forward (node, remote port, optional remote host, local port
// with a free-port suggestion, bind address, pool size, keep-alive; optionally saved as a
// profile) or a SOCKS5 proxy through the node. Checked as the user types; a taken local port
// is reported on its field.

import { useState } from 'react';
import { useBackend } from '../backend/backend';
import { UserError } from '../backend/errors';
import type { TunnelKind, ManagedNode, TunnelProfile, TunnelRequest } from '../backend/types';
import { Dialog, Field } from '../app/Dialog';
import { LIMITS } from '../backend/generated';
import { exposureWarning, hasErrors, validateProfile } from '../profiles/validate';
import { TunnelSession } from './tunnelSession';

interface Props {
  nodes: ManagedNode[];
  target: string | null;
  takenNames: string[];
  onStarted: (session: TunnelSession, title: string, profileName: string | null) => void;
  onSavedProfile: () => void;
  onClose: () => void;
}

/** What the typed id is: the node's name and status, or that it is not in the list. */
export function nodeHint(nodes: ManagedNode[], target: string): string | undefined {
  const id = target.trim();
  if (!id) return undefined;
  const node = nodes.find((n) => n.id === id);
  if (node) return `${node.name || node.id} · ${node.pingStatus}`;
  return nodes.length > 0 ? 'Not in the node list of this account and region' : undefined;
}

/** What keep-alive costs, said next to its switch (here and in the profile editor). */
export const KEEP_ALIVE_TRADE_OFF =
  'Keeps the tunnel from being closed for being idle (an smux no-op every 30 s). The trade-off: an unused tunnel stays open, so anyone who can reach its local port can use it until you stop it.';

export function TunnelForm({ nodes, target, takenNames, onStarted, onSavedProfile, onClose }: Props) {
  const backend = useBackend();
  const [form, setForm] = useState({
    kind: 'forward' as TunnelKind,
    target: target ?? '',
    remotePort: '',
    remoteHost: '',
    localPort: '0',
    bind: '127.0.0.1',
    sessions: '1',
    reason: '',
    keepAlive: false,
    save: false,
    name: '',
  });
  const [touched, setTouched] = useState(false);
  const [busy, setBusy] = useState(false);
  const [serverError, setServerError] = useState<{
    field: keyof TunnelProfile | null;
    message: string;
  } | null>(null);

  const socks = form.kind === 'socks';
  const profile: TunnelProfile = {
    name: form.save && !socks ? form.name : 'unsaved',
    awsProfile: null,
    region: null,
    target: form.target.trim(),
    remotePort: Number(form.remotePort),
    remoteHost: form.remoteHost.trim() || null,
    localPort: Number(form.localPort),
    bind: form.bind.trim(),
    sessions: Number(form.sessions),
    autoStart: false,
    keepAlive: form.keepAlive,
    moreForwards: [],
  };
  // A SOCKS proxy has no remote port or host (each client names its own), and is not saved.
  const errors = validateProfile(
    socks ? { ...profile, remotePort: 1, remoteHost: null } : profile,
    form.save && !socks ? takenNames : [],
  );
  const show = (field: keyof TunnelProfile) =>
    (touched ? errors[field] : undefined) ?? (serverError?.field === field ? serverError.message : undefined);
  const set = (key: keyof typeof form) => (e: React.ChangeEvent<HTMLInputElement | HTMLSelectElement>) => {
    setServerError(null);
    setForm({
      ...form,
      [key]: e.target.type === 'checkbox' ? (e.target as HTMLInputElement).checked : e.target.value,
    });
  };

  const suggestPort = async () => {
    try {
      const port = await backend.freePort(form.bind.trim() || '127.0.0.1');
      setServerError(null);
      setForm((f) => ({ ...f, localPort: String(port) }));
    } catch (error) {
      setServerError({ field: 'bind', message: UserError.from(error).message });
    }
  };

  const submit = async (e: React.FormEvent) => {
    e.preventDefault();
    setTouched(true);
    if (hasErrors(errors)) return;
    setBusy(true);
    const request: TunnelRequest = {
      kind: form.kind,
      target: profile.target,
      remotePort: profile.remotePort,
      remoteHost: profile.remoteHost,
      localPort: profile.localPort,
      bind: profile.bind,
      sessions: profile.sessions,
      reason: form.reason.trim() || null,
      document: null,
      parameters: {},
      keepAlive: profile.keepAlive && !socks,
    };
    try {
      // Start first: a profile is saved only for a tunnel that works.
      const session = new TunnelSession(backend, { kind: 'request', request });
      await session.start();
      if (session.phase.phase === 'failed') throw session.phase.error;
      if (form.save && !socks) {
        try {
          await backend.saveProfile(null, { ...profile, name: form.name.trim() });
        } catch (error) {
          await session.stop();
          throw error;
        }
        onSavedProfile();
      }
      const node = nodes.find((n) => n.id === profile.target);
      const destination = socks
        ? `SOCKS via ${node?.name || profile.target}`
        : `${profile.remoteHost ?? node?.name ?? profile.target}:${profile.remotePort}`;
      const saved = form.save && !socks;
      onStarted(session, saved ? form.name.trim() : destination, saved ? form.name.trim() : null);
    } catch (error) {
      const failure = UserError.from(error);
      setServerError({
        field: failure.is('port-in-use') ? 'localPort' : failure.is('exists') ? 'name' : null,
        message: failure.message,
      });
    } finally {
      setBusy(false);
    }
  };

  return (
    <Dialog title="New tunnel" onClose={onClose}>
      <form onSubmit={submit} noValidate>
        <Field label="Node" error={show('target')} hint={nodeHint(nodes, form.target)}>
          <input
            value={form.target}
            onChange={set('target')}
            placeholder="i-0123456789abcdef0"
            aria-label="Node"
          />
        </Field>
        <Field
          label="Kind"
          hint={
            socks
              ? 'Each connection reaches the host it names through the node (names resolved there), a session per destination'
              : undefined
          }
        >
          <select value={form.kind} onChange={set('kind')} aria-label="Kind">
            <option value="forward">Port forward</option>
            <option value="socks">SOCKS5 proxy</option>
          </select>
        </Field>
        <div className="row" hidden={socks}>
          <Field label="Remote port" error={show('remotePort')}>
            <input
              inputMode="numeric"
              value={form.remotePort}
              onChange={set('remotePort')}
              placeholder="5432"
              aria-label="Remote port"
            />
          </Field>
          <Field
            label="Remote host (optional)"
            error={show('remoteHost')}
            hint="Reached through the node, e.g. a database"
          >
            <input
              value={form.remoteHost}
              onChange={set('remoteHost')}
              placeholder="db.internal"
              aria-label="Remote host"
            />
          </Field>
        </div>
        <div className="row">
          <Field label="Local port" error={show('localPort')} hint="0 picks any free port">
            <span className="with-button">
              <input
                inputMode="numeric"
                value={form.localPort}
                onChange={set('localPort')}
                aria-label="Local port"
              />
              <button type="button" onClick={suggestPort}>
                Suggest
              </button>
            </span>
          </Field>
          <Field label="Bind address" error={show('bind')} warning={exposureWarning(form.bind)}>
            <input value={form.bind} onChange={set('bind')} aria-label="Bind address" />
          </Field>
          {!socks && (
            <Field label="Sessions" error={show('sessions')} hint="Each carries about 1 MB/s">
              <select value={form.sessions} onChange={set('sessions')} aria-label="Sessions">
                {Array.from({ length: LIMITS.maxPool }, (_, i) => (
                  <option key={i + 1}>{i + 1}</option>
                ))}
              </select>
            </Field>
          )}
        </div>
        <Field label="Reason (optional)" hint="Recorded with the session">
          <input value={form.reason} onChange={set('reason')} aria-label="Reason" />
        </Field>
        {!socks && (
          <>
            <label className="check">
              <input type="checkbox" checked={form.keepAlive} onChange={set('keepAlive')} /> Keep alive when
              idle
            </label>
            <p className="hint">{KEEP_ALIVE_TRADE_OFF}</p>
            <label className="check">
              <input type="checkbox" checked={form.save} onChange={set('save')} /> Save as a profile
            </label>
          </>
        )}
        {form.save && !socks && (
          <Field label="Profile name" error={show('name')}>
            <input value={form.name} onChange={set('name')} aria-label="Profile name" />
          </Field>
        )}
        {serverError && serverError.field === null && (
          <p className="form-error" role="alert">
            {serverError.message}
          </p>
        )}
        <footer>
          <button type="button" onClick={onClose}>
            Cancel
          </button>
          <button type="submit" className="primary" disabled={busy}>
            {busy ? 'Starting…' : 'Start tunnel'}
          </button>
        </footer>
      </form>
    </Dialog>
  );
}
