// The data that crosses the IPC boundary, as the Rust side (src-tauri/src/dto.rs) sends it.

/** An error from the backend: `code` is for branching, `message` is for the user. */
export interface BackendError {
  code: string;
  message: string;
}

/** How a profile in ~/.aws/config gets its credentials. */
export type ProfileKind =
  'static' | 'keyring' | 'role' | 'sso' | 'process' | 'web-identity' | 'environment' | 'other';

export interface AwsProfile {
  name: string;
  kind: ProfileKind;
  region: string | null;
  /** Asks for an MFA code (mfa_serial set somewhere on its chain). */
  mfa: boolean;
}

/** Where the app is looking: a profile and region of real AWS, or the demo fleet. */
export interface Place {
  demo: boolean;
  profile: string | null;
  region: string;
}

export interface Identity {
  account: string;
  arn: string;
}

export interface Context {
  place: Place;
  profiles: AwsProfile[];
  regions: string[];
  /** Credentials are configured somewhere (else the app starts on the demo fleet). */
  credentialsConfigured: boolean;
  /** Why the saved choice could not be restored, if it could not. */
  notice: string | null;
}

export interface ManagedNode {
  id: string;
  name: string;
  platformType: string;
  platformName: string;
  pingStatus: string;
  agentVersion: string;
  ipAddress: string;
  state: string;
  tags: Record<string, string>;
}

/** The node list, and in words what it lacks (permissions the credentials do not have). */
export interface NodeListing {
  nodes: ManagedNode[];
  notices: string[];
}

/** One line of "Check connection" (`airlock doctor`). */
export interface DoctorCheck {
  title: string;
  verdict: 'ok' | 'warning' | 'failed' | 'skipped';
  detail: string;
  fix: string | null;
}

export interface DoctorReport {
  checks: DoctorCheck[];
}

export interface SessionDocument {
  name: string;
  owner: string;
}

export interface DocumentParameter {
  name: string;
  type: string;
  description: string;
  default: string | null;
  allowedValues: string[];
  allowedPattern: string | null;
}

export interface DocumentDetails {
  name: string;
  sessionType: string;
  description: string;
  parameters: DocumentParameter[];
}

export interface ShellRequest {
  target: string;
  document: string | null;
  parameters: Record<string, string>;
  reason: string | null;
}

export type SessionStage = 'starting-session' | 'opening-data-channel' | 'waiting-for-agent';

export type SessionState =
  | { state: 'connecting'; stage: SessionStage }
  | { state: 'connected'; sessionId: string; encryptedWith?: string | null; message?: string | null }
  | { state: 'reconnecting'; attempt: number; delayMs: number; reason: string }
  | { state: 'ended'; reason: string; exitCode: number | null; byUser: boolean };

/** What a terminal's channel carries: output bytes, or a state change. */
export type SessionMessage = { kind: 'output'; data: Uint8Array } | { kind: 'state'; state: SessionState };

export interface TunnelRequest {
  target: string;
  remotePort: number;
  remoteHost: string | null;
  localPort: number;
  bind: string;
  sessions: number;
  reason: string | null;
  /** A Port document of the account's own, with its parameters. */
  document: string | null;
  parameters: Record<string, string>;
}

export interface TunnelFigures {
  bytesUp: number;
  bytesDown: number;
  openConnections: number;
  totalConnections: number;
  refusedConnections: number;
  /** Closed at once because the tunnel carried its most connections (`maxConnections` a session). */
  turnedAwayConnections: number;
  liveSessions: number;
  rttMicros: number;
  reconnects: number;
}

export type TunnelMessage =
  { kind: 'figures'; figures: TunnelFigures } | { kind: 'ended'; reason: string; byUser: boolean };

export interface TunnelStarted {
  id: number;
  localAddress: string;
}

export interface TunnelProfile {
  name: string;
  awsProfile: string | null;
  region: string | null;
  target: string;
  remotePort: number;
  remoteHost: string | null;
  localPort: number;
  bind: string;
  sessions: number;
  autoStart: boolean;
}

/** What importing a profiles file would add, shown (and asked about) before anything is added. */
export interface ImportPreview {
  path: string;
  profiles: TunnelProfile[];
  /** Listeners other machines could reach, profiles that start by themselves. */
  concerns: string[];
}

export type Theme = 'system' | 'light' | 'dark';

export interface Settings {
  theme: Theme;
  fontSize: number;
}

/** Something resolving credentials needs from the user (airlock-core's `Prompt`). */
export type CredentialPrompt =
  | { kind: 'mfa-code'; profile: string; serial: string }
  | { kind: 'sso-login'; profile: string; startUrl: string; verificationUri: string; userCode: string };

export interface PromptEvent {
  id: number;
  prompt: CredentialPrompt;
}
