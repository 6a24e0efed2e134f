// Creating or editing a saved tunnel profile, checked field by field as the user types.

import { useState } from 'react';
import { useBackend } from '../backend/backend';
import { UserError } from '../backend/errors';
import type { AwsProfile, ManagedNode, ProfileForward, TunnelProfile } from '../backend/types';
import { Dialog, Field } from '../app/Dialog';
import { LIMITS } from '../backend/generated';
import { exposureWarning, hasErrors, validateForwards, validateProfile } from './validate';
import { KEEP_ALIVE_TRADE_OFF, nodeHint } from '../tunnels/TunnelForm';

interface Props {
  /** The profile being edited; null for a new one. */
  original: TunnelProfile | null;
  /** Prefilled values for a new profile (from Duplicate). */
  template: TunnelProfile | null;
  takenNames: string[];
  awsProfiles: AwsProfile[];
  regions: string[];
  nodes: ManagedNode[];
  onSaved: () => void;
  onClose: () => void;
}

const blank: TunnelProfile = {
  name: '',
  awsProfile: null,
  region: null,
  target: '',
  remotePort: 0,
  remoteHost: null,
  localPort: 0,
  bind: '127.0.0.1',
  sessions: 1,
  autoStart: false,
  keepAlive: false,
  moreForwards: [],
};

/** A forward's fields as typed. */
interface ForwardText {
  key: number;
  remotePort: string;
  remoteHost: string;
  localPort: string;
}

let nextKey = 0;

function forwardToText(forward: ProfileForward): ForwardText {
  return {
    key: nextKey++,
    remotePort: String(forward.remotePort),
    remoteHost: forward.remoteHost ?? '',
    localPort: String(forward.localPort),
  };
}

function textToForward(row: ForwardText): ProfileForward {
  return {
    remotePort: row.remotePort.trim() === '' ? 0 : Number(row.remotePort),
    remoteHost: row.remoteHost.trim() || null,
    localPort: row.localPort.trim() === '' ? 0 : Number(row.localPort),
  };
}

export function ProfileEditor({
  original,
  template,
  takenNames,
  awsProfiles,
  regions,
  nodes,
  onSaved,
  onClose,
}: Props) {
  const backend = useBackend();
  const start = original ?? template ?? blank;
  const [text, setText] = useState({
    remotePort: start.remotePort ? String(start.remotePort) : '',
    localPort: String(start.localPort),
  });
  const [forwardText, setForwardText] = useState<ForwardText[]>(start.moreForwards.map(forwardToText));
  const [profile, setProfile] = useState<TunnelProfile>(start);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const others = takenNames.filter((n) => n !== original?.name);
  const current: TunnelProfile = {
    ...profile,
    remotePort: Number(text.remotePort),
    localPort: Number(text.localPort),
    moreForwards: forwardText.map(textToForward),
  };
  const errors = validateProfile(current, others);
  const forwardErrors = validateForwards(current);
  const [touched, setTouched] = useState<Partial<Record<keyof TunnelProfile, boolean>>>({});
  const show = (field: keyof TunnelProfile) => (touched[field] ? errors[field] : undefined);
  const touch = (field: keyof TunnelProfile) => setTouched((t) => ({ ...t, [field]: true }));
  const update = (patch: Partial<TunnelProfile>) => {
    setError(null);
    setProfile((p) => ({ ...p, ...patch }));
  };
  const editForward = (index: number, patch: Partial<ForwardText>) => {
    setError(null);
    setForwardText((rows) => rows.map((row, i) => (i === index ? { ...row, ...patch } : row)));
  };

  const save = async (e: React.FormEvent) => {
    e.preventDefault();
    setTouched(Object.fromEntries(Object.keys(current).map((k) => [k, true])));
    if (hasErrors(errors)) return;
    setBusy(true);
    try {
      await backend.saveProfile(original?.name ?? null, {
        ...current,
        name: current.name.trim(),
        remoteHost: current.remoteHost?.trim() || null,
        moreForwards: current.moreForwards.map((f) => ({ ...f, remoteHost: f.remoteHost?.trim() || null })),
      });
      onSaved();
    } catch (failure) {
      setError(UserError.from(failure).message);
    } finally {
      setBusy(false);
    }
  };

  return (
    <Dialog title={original ? `Edit ${original.name}` : 'New tunnel profile'} onClose={onClose}>
      <form onSubmit={save} noValidate>
        <Field label="Name" error={show('name')}>
          <input
            value={profile.name}
            onChange={(e) => update({ name: e.target.value })}
            onBlur={() => touch('name')}
            aria-label="Name"
          />
        </Field>
        <div className="row">
          <Field label="AWS profile" hint="Where the node is; blank for the current choice">
            <select
              value={profile.awsProfile ?? ''}
              onChange={(e) => update({ awsProfile: e.target.value || null })}
              aria-label="AWS profile"
            >
              <option value="">Current choice</option>
              {awsProfiles.map((p) => (
                <option key={p.name} value={p.name}>
                  {p.name}
                </option>
              ))}
            </select>
          </Field>
          <Field label="Region" error={show('region')}>
            <select
              value={profile.region ?? ''}
              onChange={(e) => update({ region: e.target.value || null })}
              aria-label="Region"
            >
              <option value="">Current choice</option>
              {regions.map((r) => (
                <option key={r}>{r}</option>
              ))}
            </select>
          </Field>
        </div>
        <Field label="Node" error={show('target')} hint={nodeHint(nodes, profile.target)}>
          <input
            value={profile.target}
            onChange={(e) => update({ target: e.target.value })}
            onBlur={() => touch('target')}
            aria-label="Node"
          />
        </Field>
        <div className="row">
          <Field label="Remote port" error={show('remotePort')}>
            <input
              inputMode="numeric"
              value={text.remotePort}
              onChange={(e) => setText({ ...text, remotePort: e.target.value })}
              onBlur={() => touch('remotePort')}
              aria-label="Remote port"
            />
          </Field>
          <Field label="Remote host (optional)" error={show('remoteHost')}>
            <input
              value={profile.remoteHost ?? ''}
              onChange={(e) => update({ remoteHost: e.target.value || null })}
              onBlur={() => touch('remoteHost')}
              aria-label="Remote host"
            />
          </Field>
        </div>
        <div className="row">
          <Field label="Local port" error={show('localPort')} hint="0 picks any free port">
            <input
              inputMode="numeric"
              value={text.localPort}
              onChange={(e) => setText({ ...text, localPort: e.target.value })}
              onBlur={() => touch('localPort')}
              aria-label="Local port"
            />
          </Field>
          <Field label="Bind address" error={show('bind')} warning={exposureWarning(profile.bind)}>
            <input
              value={profile.bind}
              onChange={(e) => update({ bind: e.target.value })}
              onBlur={() => touch('bind')}
              aria-label="Bind address"
            />
          </Field>
          <Field label="Sessions" error={show('sessions')}>
            <select
              value={profile.sessions}
              onChange={(e) => update({ sessions: Number(e.target.value) })}
              aria-label="Sessions"
            >
              {Array.from({ length: LIMITS.maxPool }, (_, i) => (
                <option key={i + 1} value={i + 1}>
                  {i + 1}
                </option>
              ))}
            </select>
          </Field>
        </div>
        <fieldset className="more-forwards" aria-label="More forwards">
          <legend>More forwards</legend>
          <p className="hint">
            Through the same node, with the same bind address and sessions: they start and stop together with
            the one above, and each keeps its own figures.
          </p>
          {forwardText.map((row, i) => {
            const rowErrors = touched.moreForwards ? forwardErrors[i] : undefined;
            const n = i + 2;
            return (
              <div className="row" key={row.key} data-forward={n}>
                <Field label="Remote port" error={rowErrors?.remotePort}>
                  <input
                    inputMode="numeric"
                    value={row.remotePort}
                    onChange={(e) => editForward(i, { remotePort: e.target.value })}
                    aria-label={`Forward ${n} remote port`}
                  />
                </Field>
                <Field label="Remote host (optional)" error={rowErrors?.remoteHost}>
                  <input
                    value={row.remoteHost}
                    onChange={(e) => editForward(i, { remoteHost: e.target.value })}
                    aria-label={`Forward ${n} remote host`}
                  />
                </Field>
                <Field label="Local port" error={rowErrors?.localPort} hint="0 picks any free port">
                  <input
                    inputMode="numeric"
                    value={row.localPort}
                    onChange={(e) => editForward(i, { localPort: e.target.value })}
                    aria-label={`Forward ${n} local port`}
                  />
                </Field>
                <button
                  type="button"
                  className="remove-forward"
                  onClick={() => setForwardText((rows) => rows.filter((_, j) => j !== i))}
                  aria-label={`Remove forward ${n}`}
                >
                  Remove
                </button>
              </div>
            );
          })}
          <button
            type="button"
            disabled={forwardText.length + 1 >= LIMITS.maxForwards}
            title={
              forwardText.length + 1 >= LIMITS.maxForwards
                ? `A profile holds at most ${LIMITS.maxForwards} forwards.`
                : undefined
            }
            onClick={() =>
              setForwardText((rows) => [
                ...rows,
                { key: nextKey++, remotePort: '', remoteHost: '', localPort: '0' },
              ])
            }
          >
            Add forward
          </button>
        </fieldset>
        <label className="check">
          <input
            type="checkbox"
            checked={profile.autoStart}
            onChange={(e) => update({ autoStart: e.target.checked })}
          />{' '}
          Start when Airlock starts
        </label>
        <label className="check">
          <input
            type="checkbox"
            checked={profile.keepAlive}
            onChange={(e) => update({ keepAlive: e.target.checked })}
          />{' '}
          Keep alive when idle
        </label>
        <p className="hint">{KEEP_ALIVE_TRADE_OFF}</p>
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
            Save
          </button>
        </footer>
      </form>
    </Dialog>
  );
}
