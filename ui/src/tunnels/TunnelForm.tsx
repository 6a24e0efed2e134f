// The "New tunnel" form: node, remote port, optional remote host, local port (with a free-port
// suggestion), bind address and pool size; optionally saved as a profile. Checked as the user
// types; a taken local port is reported on its field.

import { useState } from 'react';
import { useBackend } from '../backend/backend';
import { UserError } from '../backend/errors';
import type { ManagedNode, TunnelProfile, TunnelRequest } from '../backend/types';
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

export function TunnelForm({ nodes, target, takenNames, onStarted, onSavedProfile, onClose }: Props) {
  const backend = useBackend();
  const [form, setForm] = useState({
    target: target ?? '',
    remotePort: '',
    remoteHost: '',
    localPort: '0',
    bind: '127.0.0.1',
    sessions: '1',
    reason: '',
    save: false,
    name: '',
  });
  const [touched, setTouched] = useState(false);
  const [busy, setBusy] = useState(false);
  const [serverError, setServerError] = useState<{
    field: keyof TunnelProfile | null;
    message: string;
  } | null>(null);

  const profile: TunnelProfile = {
    name: form.save ? form.name : 'unsaved',
    awsProfile: null,
    region: null,
    target: form.target.trim(),
    remotePort: Number(form.remotePort),
    remoteHost: form.remoteHost.trim() || null,
    localPort: Number(form.localPort),
    bind: form.bind.trim(),
    sessions: Number(form.sessions),
    autoStart: false,
  };
  const errors = validateProfile(profile, form.save ? takenNames : []);
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
      target: profile.target,
      remotePort: profile.remotePort,
      remoteHost: profile.remoteHost,
      localPort: profile.localPort,
      bind: profile.bind,
      sessions: profile.sessions,
      reason: form.reason.trim() || null,
      document: null,
      parameters: {},
    };
    try {
      // Start first: a profile is saved only for a tunnel that works.
      const session = new TunnelSession(backend, { kind: 'request', request });
      await session.start();
      if (session.phase.phase === 'failed') throw session.phase.error;
      if (form.save) {
        try {
          await backend.saveProfile(null, { ...profile, name: form.name.trim() });
        } catch (error) {
          await session.stop();
          throw error;
        }
        onSavedProfile();
      }
      const node = nodes.find((n) => n.id === profile.target);
      const destination = `${profile.remoteHost ?? node?.name ?? profile.target}:${profile.remotePort}`;
      onStarted(session, form.save ? form.name.trim() : destination, form.save ? form.name.trim() : null);
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
        <div className="row">
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
          <Field label="Sessions" error={show('sessions')} hint="Each carries about 1 MB/s">
            <select value={form.sessions} onChange={set('sessions')} aria-label="Sessions">
              {Array.from({ length: LIMITS.maxPool }, (_, i) => (
                <option key={i + 1}>{i + 1}</option>
              ))}
            </select>
          </Field>
        </div>
        <Field label="Reason (optional)" hint="Recorded with the session">
          <input value={form.reason} onChange={set('reason')} aria-label="Reason" />
        </Field>
        <label className="check">
          <input type="checkbox" checked={form.save} onChange={set('save')} /> Save as a profile
        </label>
        {form.save && (
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
