import { fireEvent, render, screen, waitFor } from '@testing-library/react';
import { describe, expect, it, vi } from 'vitest';
import { BackendContext } from '../backend/backend';
import { FakeBackend } from '../backend/fake';
import type { ManagedNode, TunnelRequest } from '../backend/types';
import { RdpDialog } from './RdpDialog';

const win: ManagedNode = {
  id: 'i-0a1b2c3d4e5f60004',
  name: 'win-1',
  platformType: 'Windows',
  platformName: 'Microsoft Windows Server 2022 Datacenter',
  pingStatus: 'Online',
  agentVersion: '3.3.1142.0',
  ipAddress: '10.0.4.40',
  state: 'running',
  tags: {},
};

function renderDialog(backend: FakeBackend) {
  const onStarted = vi.fn();
  render(
    <BackendContext.Provider value={backend}>
      <RdpDialog node={win} onStarted={onStarted} onClose={vi.fn()} />
    </BackendContext.Provider>,
  );
  return onStarted;
}

describe('Remote Desktop to a Windows node', () => {
  it('tunnels to the RDP port, starts the client there, and shows the password only when asked', async () => {
    const backend = new FakeBackend();
    backend.passwords.set(win.id, 'Pa55-word!');
    const onStarted = renderDialog(backend);
    await waitFor(() =>
      expect((screen.getByLabelText('Key pair file') as HTMLInputElement).value).toContain(
        'demo-win-1-key.pem',
      ),
    );
    fireEvent.change(screen.getByLabelText('RDP port'), { target: { value: '3390' } });
    fireEvent.click(screen.getByText('Connect'));
    await screen.findByText(/Started FreeRDP/);
    const request = backend.tunnels.get(1)!.request as TunnelRequest;
    expect([request.target, request.remotePort, request.bind]).toEqual([win.id, 3390, '127.0.0.1']);
    expect(onStarted).toHaveBeenCalledWith(expect.anything(), 'win-1 · RDP');
    expect(backend.rdpLaunches).toEqual([{ localAddress: '127.0.0.1:40000', user: 'Administrator' }]);
    expect(document.body.textContent).not.toContain('Pa55-word!');
    fireEvent.click(screen.getByText('Show'));
    expect(document.body.textContent).toContain('Pa55-word!');
    fireEvent.click(screen.getByText('Copy'));
    await waitFor(() => expect(backend.clipboard).toBe('Pa55-word!'));
  });

  it('keeps the tunnel and says why when the key is wrong or no client is installed', async () => {
    const backend = new FakeBackend();
    backend.hasRdpClient = false;
    const onStarted = renderDialog(backend);
    fireEvent.change(screen.getByLabelText('Key pair file'), { target: { value: '/keys/other.pem' } });
    fireEvent.click(screen.getByText('Connect'));
    expect(await screen.findByText(/does not decrypt the password/)).toBeTruthy();
    expect(screen.getByText(/No RDP client was found/)).toBeTruthy();
    expect(onStarted).toHaveBeenCalled();
    expect(backend.tunnels.get(1)!.stopped).toBe(false);
  });

  it('refuses a bad port before starting anything', async () => {
    const backend = new FakeBackend();
    renderDialog(backend);
    fireEvent.change(screen.getByLabelText('RDP port'), { target: { value: '0' } });
    fireEvent.click(screen.getByText('Connect'));
    expect(screen.getByText('A port from 1 to 65535.')).toBeTruthy();
    expect(backend.tunnels.size).toBe(0);
  });
});
