import { fireEvent, render, screen, waitFor } from '@testing-library/react';
import { describe, expect, it, vi } from 'vitest';
import { BackendContext } from '../backend/backend';
import { FakeBackend } from '../backend/fake';
import { TunnelForm } from './TunnelForm';

function renderForm(backend: FakeBackend) {
  const onStarted = vi.fn();
  render(
    <BackendContext.Provider value={backend}>
      <TunnelForm
        nodes={[]}
        target="i-0a1b2c3d4e5f60001"
        takenNames={['db']}
        onStarted={onStarted}
        onSavedProfile={vi.fn()}
        onClose={vi.fn()}
      />
    </BackendContext.Provider>,
  );
  return onStarted;
}

describe('the tunnel form', () => {
  it('shows a taken local port on its field', async () => {
    const backend = new FakeBackend();
    backend.takenPorts.add(8080);
    const onStarted = renderForm(backend);
    fireEvent.change(screen.getByLabelText('Remote port'), { target: { value: '80' } });
    fireEvent.change(screen.getByLabelText('Local port'), { target: { value: '8080' } });
    fireEvent.click(screen.getByText('Start tunnel'));
    await waitFor(() => expect(screen.getByRole('alert').textContent).toMatch(/already in use/));
    expect(screen.getByRole('alert').closest('.field')?.textContent).toMatch(/Local port/);
    expect(onStarted).not.toHaveBeenCalled();
  });

  it('checks fields before starting, then starts and saves a profile', async () => {
    const backend = new FakeBackend();
    const onStarted = renderForm(backend);
    fireEvent.click(screen.getByText('Start tunnel'));
    expect(screen.getByRole('alert').textContent).toBe('A port from 1 to 65535.');
    fireEvent.change(screen.getByLabelText('Remote port'), { target: { value: '5432' } });
    fireEvent.click(screen.getByText('Save as a profile'));
    fireEvent.change(screen.getByLabelText('Profile name'), { target: { value: 'db' } });
    expect(screen.getByRole('alert').textContent).toBe('Another profile has this name.');
    fireEvent.change(screen.getByLabelText('Profile name'), { target: { value: 'db2' } });
    fireEvent.click(screen.getByText('Start tunnel'));
    await waitFor(() => expect(onStarted).toHaveBeenCalled());
    expect(backend.profiles.map((p) => p.name)).toEqual(['db2']);
    expect(backend.tunnels.size).toBe(1);
  });

  it('warns, without refusing, when the tunnel would listen where other machines reach it', async () => {
    const backend = new FakeBackend();
    const onStarted = renderForm(backend);
    expect(screen.queryByRole('status')).toBeNull();
    fireEvent.change(screen.getByLabelText('Remote port'), { target: { value: '5432' } });
    fireEvent.change(screen.getByLabelText('Bind address'), { target: { value: '0.0.0.0' } });
    const warning = screen.getByRole('status');
    expect(warning.textContent).toMatch(/Reachable from other machines/);
    expect(warning.closest('.field')?.textContent).toMatch(/Bind address/);
    fireEvent.click(screen.getByText('Start tunnel'));
    await waitFor(() => expect(onStarted).toHaveBeenCalled());
    fireEvent.change(screen.getByLabelText('Bind address'), { target: { value: '127.0.0.1' } });
    expect(screen.queryByRole('status')).toBeNull();
  });

  it('asks for keep-alive only when its switch is on, and saves it with the profile', async () => {
    const backend = new FakeBackend();
    const onStarted = renderForm(backend);
    fireEvent.change(screen.getByLabelText('Remote port'), { target: { value: '5432' } });
    expect(screen.getByText(/anyone who can reach its local port can use it/)).toBeTruthy();
    fireEvent.click(screen.getByText('Keep alive when idle'));
    fireEvent.click(screen.getByText('Save as a profile'));
    fireEvent.change(screen.getByLabelText('Profile name'), { target: { value: 'kept' } });
    fireEvent.click(screen.getByText('Start tunnel'));
    await waitFor(() => expect(onStarted).toHaveBeenCalled());
    const [started] = [...backend.tunnels.values()];
    expect(typeof started.request === 'string' ? null : started.request.keepAlive).toBe(true);
    expect(backend.profiles.map((p) => [p.name, p.keepAlive])).toEqual([['kept', true]]);
  });

  it('starts a SOCKS proxy through the node without a remote port, pool or profile', async () => {
    const backend = new FakeBackend();
    const onStarted = renderForm(backend);
    fireEvent.change(screen.getByLabelText('Kind'), { target: { value: 'socks' } });
    expect(screen.queryByLabelText('Sessions')).toBeNull();
    expect(screen.queryByText('Save as a profile')).toBeNull();
    expect(screen.getByText(/names resolved there/)).toBeTruthy();
    fireEvent.change(screen.getByLabelText('Local port'), { target: { value: '1080' } });
    fireEvent.click(screen.getByText('Start tunnel'));
    await waitFor(() => expect(onStarted).toHaveBeenCalled());
    const [started] = [...backend.tunnels.values()];
    expect(
      typeof started.request === 'string' ? null : [started.request.kind, started.request.localPort],
    ).toEqual(['socks', 1080]);
    expect(onStarted.mock.calls[0][1]).toBe('SOCKS via i-0a1b2c3d4e5f60001');
    expect(backend.profiles).toEqual([]);
  });
});
