// Asked when the window is closed while tunnels run: keep them running (the window goes, the
// app stays in the tray; launching Airlock again brings the window back), or quit and stop
// them. "Do not ask again" makes the choice the rule; Cancel keeps the window.

import { useState } from 'react';
import { Dialog } from './Dialog';

interface Props {
  tunnels: number;
  /** The desktop shows Airlock's tray icon (else the app runs on without one). */
  tray: boolean;
  onChoose: (keepRunning: boolean, remember: boolean) => void;
  onCancel: () => void;
}

export function CloseDialog({ tunnels, tray, onChoose, onCancel }: Props) {
  const [remember, setRemember] = useState(false);
  const count = tunnels === 1 ? 'A tunnel is' : `${tunnels} tunnels are`;
  return (
    <Dialog title="Tunnels are running" onClose={onCancel}>
      <p>
        {count} running. Keep {tunnels === 1 ? 'it' : 'them'} running after the window closes?
      </p>
      <p className="hint">
        {tray
          ? 'Airlock stays in the tray: start, stop or open from its icon, or launch Airlock again.'
          : 'This desktop shows no tray icons: launch Airlock again to bring the window back.'}
      </p>
      <label className="check">
        <input type="checkbox" checked={remember} onChange={(e) => setRemember(e.target.checked)} /> Do not
        ask again
      </label>
      <footer>
        <button type="button" onClick={onCancel}>
          Cancel
        </button>
        <button type="button" onClick={() => onChoose(false, remember)}>
          Quit and stop them
        </button>
        <button type="button" className="primary" onClick={() => onChoose(true, remember)}>
          Keep running
        </button>
      </footer>
    </Dialog>
  );
}
