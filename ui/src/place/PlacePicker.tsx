// Where the app looks: an AWS profile (with how it gets credentials) and a region, or the demo
// fleet; and who that is (the account and ARN).

import type { Context, Identity } from '../backend/types';

export const KIND_LABELS: Record<string, string> = {
  static: 'keys',
  keyring: 'keys in keyring',
  role: 'assume role',
  sso: 'SSO',
  process: 'credential process',
  'web-identity': 'web identity',
  environment: 'environment',
  other: 'other',
};

interface Props {
  context: Context;
  identity: Identity | null;
  identityError: string | null;
  busy: boolean;
  onChoose: (choice: { demo: boolean; profile: string | null; region: string | null }) => void;
}

const DEMO = '\u0000demo';
const DEFAULT = '\u0000default';

export function PlacePicker({ context, identity, identityError, busy, onChoose }: Props) {
  const { place } = context;
  const value = place.demo ? DEMO : (place.profile ?? DEFAULT);
  const regions = context.regions.includes(place.region)
    ? context.regions
    : [place.region, ...context.regions];
  return (
    <div className="place">
      <label>
        <span className="label">Profile</span>
        <select
          aria-label="AWS profile"
          value={value}
          disabled={busy}
          onChange={(e) => {
            const v = e.target.value;
            if (v === DEMO) onChoose({ demo: true, profile: null, region: null });
            else onChoose({ demo: false, profile: v === DEFAULT ? null : v, region: null });
          }}
        >
          <option value={DEMO}>Demo fleet (emulator on this machine)</option>
          {context.credentialsConfigured && <option value={DEFAULT}>Default credential chain</option>}
          {context.profiles.map((p) => (
            <option key={p.name} value={p.name}>
              {p.name} — {KIND_LABELS[p.kind] ?? p.kind}
              {p.mfa ? ', MFA' : ''}
            </option>
          ))}
        </select>
      </label>
      <label>
        <span className="label">Region</span>
        <select
          aria-label="Region"
          value={place.region}
          disabled={busy || place.demo}
          onChange={(e) => onChoose({ demo: place.demo, profile: place.profile, region: e.target.value })}
        >
          {regions.map((r) => (
            <option key={r}>{r}</option>
          ))}
        </select>
      </label>
      <div className="identity" title={identity?.arn ?? identityError ?? ''}>
        {identity ? (
          <>
            <span className="label">Account</span> <span className="mono">{identity.account}</span>{' '}
            <span className="arn mono">{identity.arn}</span>
          </>
        ) : identityError ? (
          <span className="error-text">{identityError}</span>
        ) : (
          <span className="label">Checking identity…</span>
        )}
      </div>
    </div>
  );
}
