// The web UI's entry: the app, talking to the Rust side through the Tauri backend.

import { createRoot } from 'react-dom/client';
import '@xterm/xterm/css/xterm.css';
import './styles.css';
import { App } from './app/App';
import { BackendContext } from './backend/backend';
import { tauriBackend } from './backend/tauri';

const root = document.getElementById('root');
if (root) {
  createRoot(root).render(
    // No StrictMode: its doubled effects would open every session twice in development.
    <BackendContext.Provider value={tauriBackend}>
      <App />
    </BackendContext.Provider>,
  );
}
