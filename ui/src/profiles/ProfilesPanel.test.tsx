import { fireEvent, render, screen, waitFor } from '@testing-library/react';
import { describe, expect, it, vi } from 'vitest';
import { BackendContext } from '../backend/backend';
import { FakeBackend } from '../backend/fake';
import type { TunnelProfile } from '../backend/types';
import { ProfilesPanel } from './ProfilesPanel';

const db: TunnelProfile = {
  name: 'db',
  awsProfile: null,
  region: null,
  target: 'i-0a1b2c3d4e5f60001',
  remotePort: 5432,
  remoteHost: null,
  localPort: 15432,
  bind: '127.0.0.1',
  sessions: 1,
  autoStart: false,
  keepAlive: false,
  moreForwards: [],
};

function renderPanel(backend: FakeBackend) {
  const onNotice = vi.fn();
  const onChanged = vi.fn();
  render(
    <BackendContext.Provider value={backend}>
      <ProfilesPanel
        profiles={backend.profiles}
        running={new Set()}
        onStart={vi.fn()}
        onEdit={vi.fn()}
        onDuplicate={vi.fn()}
        onAdd={vi.fn()}
        onChanged={onChanged}
        onNotice={onNotice}
      />
    </BackendContext.Provider>,
  );
  return { onNotice, onChanged };
}

describe('importing profiles', () => {
  it('adds a file of plain profiles at once', async () => {
    const backend = new FakeBackend();
    backend.importFile = { path: '/tmp/team.toml', profiles: [db], concerns: [] };
    const { onNotice, onChanged } = renderPanel(backend);
    fireEvent.click(screen.getByText('Import…'));
    await waitFor(() => expect(onNotice).toHaveBeenCalledWith('Imported 1 profile.'));
    expect(onChanged).toHaveBeenCalled();
    expect(backend.profiles).toEqual([db]);
  });

  it('asks first when a profile listens where others reach it or starts by itself, and Cancel adds nothing', async () => {
    const backend = new FakeBackend();
    const shared = { ...db, name: 'shared', bind: '0.0.0.0', autoStart: true };
    const concerns = [
      'shared: listening on 0.0.0.0 makes the tunnel reachable from other machines',
      'shared: starts by itself whenever Airlock starts',
    ];
    backend.importFile = { path: '/tmp/team.toml', profiles: [db, shared], concerns };
    const { onNotice } = renderPanel(backend);
    fireEvent.click(screen.getByText('Import…'));
    const dialog = await screen.findByRole('dialog', { name: 'Import these profiles?' });
    for (const concern of concerns) expect(dialog.textContent).toContain(concern);
    expect(backend.profiles, 'nothing is added while asking').toEqual([]);
    fireEvent.click(screen.getByText('Cancel'));
    expect(screen.queryByRole('dialog')).toBeNull();
    expect(backend.profiles).toEqual([]);

    fireEvent.click(screen.getByText('Import…'));
    await screen.findByRole('dialog');
    fireEvent.click(screen.getByText('Import anyway'));
    await waitFor(() => expect(onNotice).toHaveBeenCalledWith('Imported 2 profiles.'));
    expect(backend.profiles.map((p) => p.name)).toEqual(['db', 'shared']);
  });
});
