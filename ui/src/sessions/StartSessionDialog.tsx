// "Start session…": any Session document of the account on the chosen node, with a form for
// its typed parameters and an optional reason. Shell-type documents open a terminal tab; Port
// documents open a tunnel tab.

import { useEffect, useState } from 'react';
import { useBackend } from '../backend/backend';
import { UserError } from '../backend/errors';
import type { DocumentDetails, DocumentParameter, ManagedNode, SessionDocument } from '../backend/types';
import { Dialog, Field } from '../app/Dialog';

export const DEFAULT_DOCUMENT = 'SSM-SessionManagerRunShell';

interface Props {
  node: ManagedNode;
  onShell: (document: string, parameters: Record<string, string>, reason: string | null) => void;
  onPort: (document: string, parameters: Record<string, string>, reason: string | null) => void;
  onClose: () => void;
}

/** What is wrong with a parameter's value, if anything. */
export function checkParameter(parameter: DocumentParameter, value: string): string | null {
  const v = value.trim();
  if (!v) return parameter.default === null ? 'Required: this document has no default for it.' : null;
  if (parameter.allowedValues.length > 0 && !parameter.allowedValues.includes(v))
    return `One of: ${parameter.allowedValues.join(', ')}.`;
  if (parameter.type === 'Integer' && !/^-?\d+$/.test(v)) return 'A whole number.';
  if (parameter.type === 'Boolean' && v !== 'true' && v !== 'false') return 'true or false.';
  if (parameter.allowedPattern) {
    try {
      const values = parameter.type === 'StringList' ? v.split('\n').filter(Boolean) : [v];
      if (!values.every((item) => new RegExp(parameter.allowedPattern as string).test(item)))
        return `Must match ${parameter.allowedPattern}.`;
    } catch {
      return null; // A pattern JavaScript cannot read is left to the service to check.
    }
  }
  return null;
}

export function StartSessionDialog({ node, onShell, onPort, onClose }: Props) {
  const backend = useBackend();
  const [documents, setDocuments] = useState<SessionDocument[] | null>(null);
  const [name, setName] = useState(DEFAULT_DOCUMENT);
  const [details, setDetails] = useState<DocumentDetails | null>(null);
  const [values, setValues] = useState<Record<string, string>>({});
  const [reason, setReason] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [touched, setTouched] = useState(false);

  useEffect(() => {
    backend.listDocuments().then(setDocuments, (e) => setError(UserError.from(e).message));
  }, [backend]);

  useEffect(() => {
    let current = true;
    setDetails(null);
    setTouched(false);
    backend.documentDetails(name).then(
      (d) => {
        if (!current) return;
        setDetails(d);
        setValues(
          Object.fromEntries(
            d.parameters.map((p) => [p.name, p.default && p.default !== '[]' ? p.default : '']),
          ),
        );
      },
      (e) => current && setError(UserError.from(e).message),
    );
    return () => {
      current = false;
    };
  }, [backend, name]);

  const problems = details
    ? Object.fromEntries(details.parameters.map((p) => [p.name, checkParameter(p, values[p.name] ?? '')]))
    : {};
  const valid = details !== null && Object.values(problems).every((p) => p === null);

  const submit = (e: React.FormEvent) => {
    e.preventDefault();
    setTouched(true);
    if (!details || !valid) return;
    const given = Object.fromEntries(Object.entries(values).filter(([, v]) => v.trim() !== ''));
    const why = reason.trim() || null;
    if (details.sessionType === 'Port') onPort(name, given, why);
    else onShell(name, given, why);
  };

  return (
    <Dialog title={`Start a session on ${node.name || node.id}`} onClose={onClose} wide>
      <form onSubmit={submit} noValidate>
        <Field label="Document">
          <select
            value={name}
            onChange={(e) => setName(e.target.value)}
            aria-label="Document"
            disabled={!documents}
          >
            {(documents ?? [{ name: DEFAULT_DOCUMENT, owner: 'Amazon' }]).map((d) => (
              <option key={d.name} value={d.name}>
                {d.name}
                {d.owner !== 'Amazon' ? ' (this account)' : ''}
              </option>
            ))}
          </select>
        </Field>
        {details && (
          <p className="hint">
            {details.description || 'No description.'}{' '}
            <span className="badge">{details.sessionType || 'unknown type'}</span>
          </p>
        )}
        {details?.sessionType === 'Port' && details.parameters.some((p) => p.name === 'portNumber') && (
          <p className="hint">Opens a tunnel tab on a free local port.</p>
        )}
        {details?.parameters.map((p) => (
          <ParameterField
            key={p.name}
            parameter={p}
            value={values[p.name] ?? ''}
            error={touched ? (problems[p.name] ?? undefined) : undefined}
            onChange={(v) => setValues({ ...values, [p.name]: v })}
          />
        ))}
        <Field label="Reason (optional)" hint="Recorded with the session for auditing">
          <textarea
            rows={2}
            maxLength={256}
            value={reason}
            onChange={(e) => setReason(e.target.value)}
            aria-label="Reason"
          />
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
          <button type="submit" className="primary" disabled={!details}>
            Start
          </button>
        </footer>
      </form>
    </Dialog>
  );
}

function ParameterField({
  parameter,
  value,
  error,
  onChange,
}: {
  parameter: DocumentParameter;
  value: string;
  error?: string;
  onChange: (v: string) => void;
}) {
  const label = `${parameter.name}${parameter.default === null ? '' : ' (optional)'}`;
  let input;
  if (parameter.allowedValues.length > 0) {
    input = (
      <select value={value} onChange={(e) => onChange(e.target.value)} aria-label={parameter.name}>
        {parameter.default === null && <option value="">Choose…</option>}
        {parameter.allowedValues.map((v) => (
          <option key={v}>{v}</option>
        ))}
      </select>
    );
  } else if (parameter.type === 'Boolean') {
    input = (
      <select value={value} onChange={(e) => onChange(e.target.value)} aria-label={parameter.name}>
        <option value="">(default)</option>
        <option>true</option>
        <option>false</option>
      </select>
    );
  } else if (
    parameter.type === 'StringList' ||
    parameter.name === 'command' ||
    parameter.name === 'commands'
  ) {
    input = (
      <textarea
        rows={3}
        value={value}
        onChange={(e) => onChange(e.target.value)}
        aria-label={parameter.name}
        placeholder={parameter.type === 'StringList' ? 'One value per line' : ''}
      />
    );
  } else {
    input = (
      <input
        value={value}
        inputMode={parameter.type === 'Integer' ? 'numeric' : undefined}
        onChange={(e) => onChange(e.target.value)}
        aria-label={parameter.name}
      />
    );
  }
  return (
    <Field label={label} error={error} hint={parameter.description || parameter.type}>
      {input}
    </Field>
  );
}
