import { fireEvent, render, screen, waitFor } from '@testing-library/react';
import { describe, expect, it, vi } from 'vitest';
import { BackendContext } from '../backend/backend';
import { FakeBackend } from '../backend/fake';
import type { TunnelProfile } from '../backend/types';
import { ProfileEditor } from './ProfileEditor';

const db: TunnelProfile = {
  name: 'db',
  awsProfile: null,
  region: null,
  target: 'i-0123456789abcdef0',
  remotePort: 5432,
  remoteHost: 'db.internal',
  localPort: 15432,
  bind: '127.0.0.1',
  sessions: 1,
  autoStart: false,
  keepAlive: false,
  moreForwards: [],
};

function renderEditor(backend: FakeBackend, original: TunnelProfile | null) {
  const onSaved = vi.fn();
  render(
    <BackendContext.Provider value={backend}>
      <ProfileEditor
        original={original}
        template={null}
        takenNames={backend.profiles.map((p) => p.name)}
        awsProfiles={[]}
        regions={[]}
        nodes={[]}
        onSaved={onSaved}
        onClose={vi.fn()}
      />
    </BackendContext.Provider>,
  );
  return onSaved;
}

const type = (label: string, value: string) =>
  fireEvent.change(screen.getByLabelText(label), { target: { value } });

describe('a profile of several forwards', () => {
  it('adds forwards, refuses a local port two forwards share, and saves them in order', async () => {
    const backend = new FakeBackend();
    backend.profiles = [db];
    const onSaved = renderEditor(backend, db);
    fireEvent.click(screen.getByText('Add forward'));
    fireEvent.click(screen.getByText('Add forward'));
    type('Forward 2 remote port', '6379');
    type('Forward 2 remote host', ' cache.internal ');
    type('Forward 3 remote port', '8080');
    type('Forward 3 local port', '15432');
    fireEvent.click(screen.getByText('Save'));
    expect(await screen.findByText('Another forward of this profile has this local port.')).toBeTruthy();
    expect(backend.profiles[0]!.moreForwards, 'nothing is saved while a forward is wrong').toEqual([]);

    type('Forward 3 local port', '18080');
    fireEvent.click(screen.getByText('Save'));
    await waitFor(() => expect(onSaved).toHaveBeenCalled());
    expect(backend.profiles[0]!.moreForwards).toEqual([
      { remotePort: 6379, remoteHost: 'cache.internal', localPort: 0 },
      { remotePort: 8080, remoteHost: null, localPort: 18080 },
    ]);
  });

  it('removes a forward and keeps the others', async () => {
    const backend = new FakeBackend();
    const group = {
      ...db,
      moreForwards: [
        { remotePort: 6379, remoteHost: null, localPort: 0 },
        { remotePort: 8080, remoteHost: null, localPort: 0 },
      ],
    };
    backend.profiles = [group];
    const onSaved = renderEditor(backend, group);
    fireEvent.click(screen.getByLabelText('Remove forward 2'));
    expect((screen.getByLabelText('Forward 2 remote port') as HTMLInputElement).value).toBe('8080');
    fireEvent.click(screen.getByText('Save'));
    await waitFor(() => expect(onSaved).toHaveBeenCalled());
    expect(backend.profiles[0]!.moreForwards).toEqual([{ remotePort: 8080, remoteHost: null, localPort: 0 }]);
  });
});
