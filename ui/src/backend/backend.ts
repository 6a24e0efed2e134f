// The one interface between the UI and the app's Rust side. `tauri.ts` implements it over
// Tauri IPC; tests use `fake.ts`. Components receive it through `BackendContext` and never
// import Tauri themselves.

import { createContext, useContext } from 'react';
import type {
  ImportPreview,
  RdpLaunched,
  Context,
  CopyMessage,
  CopyRequest,
  DesktopEvent,
  PromptEvent,
  DocumentDetails,
  DoctorReport,
  Identity,
  NodeListing,
  SessionDocument,
  SessionRow,
  SessionMessage,
  Settings,
  ShellRequest,
  TunnelMessage,
  TunnelProfile,
  TunnelRequest,
  TunnelStarted,
} from './types';

export interface Backend {
  /** Where the app looks now, the profiles and regions to choose from. */
  context(): Promise<Context>;
  /** Switches to a profile and region of real AWS, or to the demo fleet. */
  choosePlace(choice: { demo: boolean; profile: string | null; region: string | null }): Promise<Context>;
  whoami(): Promise<Identity>;
  listNodes(): Promise<NodeListing>;
  /** Checks, line by line, the way to Session Manager (and `target`'s agent, if given). */
  doctor(target: string | null): Promise<DoctorReport>;
  listDocuments(): Promise<SessionDocument[]>;
  documentDetails(name: string): Promise<DocumentDetails>;

  /** Opens a shell or command session; its output and states arrive through `onMessage`. */
  openShell(
    request: ShellRequest,
    size: { cols: number; rows: number },
    onMessage: (m: SessionMessage) => void,
  ): Promise<number>;
  shellInput(id: number, data: string): Promise<void>;
  shellResize(id: number, size: { cols: number; rows: number }): Promise<void>;
  /** The screen has drawn this many more bytes (flow control). */
  shellAck(id: number, bytes: number): Promise<void>;
  closeShell(id: number): Promise<void>;

  startTunnel(request: TunnelRequest, onMessage: (m: TunnelMessage) => void): Promise<TunnelStarted>;
  /** Starts a saved profile's tunnel, with the profile's own AWS profile and region. */
  startProfile(name: string, onMessage: (m: TunnelMessage) => void): Promise<TunnelStarted>;
  stopTunnel(id: number): Promise<void>;
  /** A local port that is free now on `bind`. */
  freePort(bind: string): Promise<number>;

  /** Copies a file to or from a node; progress and the end arrive through `onMessage`.
   *  Returns the copy's id, for `cancelCopy`. */
  startCopy(request: CopyRequest, onMessage: (m: CopyMessage) => void): Promise<number>;
  cancelCopy(id: number): Promise<void>;
  /** Asks for a file to send (the system's chooser); null when cancelled. */
  chooseFileToSend(): Promise<string | null>;
  /** Asks where to save a fetched file called `name`; null when cancelled. */
  chooseWhereToSave(name: string): Promise<string | null>;
  /** The Downloads folder (else home): where a fetched file goes unless the user says. */
  defaultDownloadDir(): Promise<string | null>;

  /** The Windows node's administrator password (EC2 GetPasswordData), decrypted with the
   *  key pair file at `keyFile`. */
  windowsPassword(target: string, keyFile: string): Promise<string>;
  /** Starts the system's RDP client on a running tunnel's local address, as `user`. */
  launchRdp(localAddress: string, user: string): Promise<RdpLaunched>;
  /** Asks for a key pair file (.pem); null when cancelled. */
  chooseKeyFile(): Promise<string | null>;
  /** On the demo fleet, the demo Windows node's key pair file; null elsewhere. */
  demoKeyFile(): Promise<string | null>;

  /** The place's active sessions (any client's), or with `history` the ended ones. */
  listSessions(history: boolean): Promise<SessionRow[]>;
  /** Ends a session at the service, whoever holds it. */
  terminateSession(id: string): Promise<void>;

  listProfiles(): Promise<TunnelProfile[]>;
  /** Adds (`previousName` null) or replaces a profile. */
  saveProfile(previousName: string | null, profile: TunnelProfile): Promise<void>;
  deleteProfile(name: string): Promise<void>;
  /** Asks for a profiles file and reads what importing it would add; null when cancelled. */
  chooseProfilesImport(): Promise<ImportPreview | null>;
  /** Adds every profile of a file chosen with `chooseProfilesImport`; the number added. */
  importProfiles(path: string): Promise<number>;
  /** Asks where to save and exports every profile; the number exported, or null when cancelled. */
  exportProfiles(): Promise<number | null>;

  loadSettings(): Promise<Settings>;
  saveSettings(settings: Settings): Promise<void>;
  copyText(text: string): Promise<void>;
  readClipboard(): Promise<string>;
  openUrl(url: string): Promise<void>;

  /** Credential prompts (MFA code, SSO login) arrive through `onPrompt` from now on. */
  watchPrompts(onPrompt: (event: PromptEvent) => void): Promise<void>;
  /** Answers prompt `id`; `null` cancels it. */
  answerPrompt(id: number, answer: string | null): Promise<void>;

  /** What the desktop asks of the window (a close while tunnels run, a tray choice) arrives
   *  through `onEvent` from now on. */
  watchDesktop(onEvent: (event: DesktopEvent) => void): Promise<void>;
  /** The answer to a close while tunnels run: hide the window and keep them, or quit. */
  closeWindow(keepRunning: boolean, remember: boolean): Promise<void>;
}

export const BackendContext = createContext<Backend | null>(null);

export function useBackend(): Backend {
  const backend = useContext(BackendContext);
  if (!backend) throw new Error('BackendContext is not provided');
  return backend;
}
