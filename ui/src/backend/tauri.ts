// The Backend over Tauri IPC: commands through `invoke`, a terminal's output and a tunnel's
// figures through one `Channel` each (raw bytes for output, JSON for everything else).

import { Channel, invoke } from '@tauri-apps/api/core';
import type { Backend } from './backend';
import { attempt } from './errors';
import type {
  CopyMessage,
  DesktopEvent,
  PromptEvent,
  SessionMessage,
  SessionState,
  TunnelMessage,
} from './types';

function call<T>(command: string, args?: Record<string, unknown>): Promise<T> {
  return attempt(() => invoke<T>(command, args));
}

/** A terminal channel carries raw output (an ArrayBuffer) or a JSON state. */
export function toSessionMessage(
  message: ArrayBuffer | Uint8Array | number[] | SessionState,
): SessionMessage {
  if (message instanceof ArrayBuffer) return { kind: 'output', data: new Uint8Array(message) };
  if (message instanceof Uint8Array) return { kind: 'output', data: message };
  if (Array.isArray(message)) return { kind: 'output', data: Uint8Array.from(message) };
  return { kind: 'state', state: message };
}

export const tauriBackend: Backend = {
  context: () => call('context'),
  choosePlace: (choice) => call('choose_place', { choice }),
  whoami: () => call('whoami'),
  listNodes: () => call('list_nodes'),
  doctor: (target) => call('doctor', { target }),
  listDocuments: () => call('list_documents'),
  documentDetails: (name) => call('document_details', { name }),

  openShell: (request, size, onMessage) => {
    const channel = new Channel<ArrayBuffer | SessionState>();
    channel.onmessage = (message) => onMessage(toSessionMessage(message));
    return call('open_shell', { request, size, channel });
  },
  shellInput: (id, data) => call('shell_input', { id, data }),
  shellResize: (id, size) => call('shell_resize', { id, size }),
  shellAck: (id, bytes) => call('shell_ack', { id, bytes }),
  closeShell: (id) => call('close_shell', { id }),

  startTunnel: (request, onMessage) => {
    const channel = new Channel<TunnelMessage>();
    channel.onmessage = onMessage;
    return call('start_tunnel', { request, channel });
  },
  startProfile: (name, onMessage) => {
    const channel = new Channel<TunnelMessage>();
    channel.onmessage = onMessage;
    return call('start_profile', { name, channel });
  },
  stopTunnel: (id) => call('stop_tunnel', { id }),
  freePort: (bind) => call('free_port', { bind }),
  startCopy: (request, onMessage) => {
    const channel = new Channel<CopyMessage>();
    channel.onmessage = onMessage;
    return call('start_copy', { request, channel });
  },
  cancelCopy: (id) => call('cancel_copy', { id }),
  chooseFileToSend: () => call('choose_file_to_send'),
  chooseWhereToSave: (name) => call('choose_where_to_save', { name }),
  defaultDownloadDir: () => call('default_download_dir'),
  windowsPassword: (target, keyFile) => call('windows_password', { target, keyFile }),
  launchRdp: (localAddress, user) => call('launch_rdp', { localAddress, user }),
  chooseKeyFile: () => call('choose_key_file'),
  demoKeyFile: () => call('demo_key_file'),
  listSessions: (history) => call('list_sessions', { history }),
  terminateSession: (id) => call('terminate_session', { id }),

  listProfiles: () => call('list_profiles'),
  saveProfile: (previousName, profile) => call('save_profile', { previousName, profile }),
  deleteProfile: (name) => call('delete_profile', { name }),
  chooseProfilesImport: () => call('choose_profiles_import'),
  importProfiles: (path) => call('import_profiles', { path }),
  exportProfiles: () => call('export_profiles'),

  loadSettings: () => call('load_settings'),
  saveSettings: (settings) => call('save_settings', { settings }),
  copyText: (text) => call('copy_text', { text }),
  readClipboard: () => call('read_clipboard'),
  openUrl: (url) => call('open_url', { url }),
  watchPrompts: (onPrompt) => {
    const channel = new Channel<PromptEvent>();
    channel.onmessage = onPrompt;
    return call('watch_prompts', { channel });
  },
  answerPrompt: (id, answer) => call('answer_prompt', { id, answer }),
  watchDesktop: (onEvent) => {
    const channel = new Channel<DesktopEvent>();
    channel.onmessage = onEvent;
    return call('watch_desktop', { channel });
  },
  closeWindow: (keepRunning, remember) => call('close_window', { keepRunning, remember }),
};
