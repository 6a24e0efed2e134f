// The data that crosses the IPC boundary. Every record is generated from its Rust type
// (generated.ts, by src-tauri/src/bindings.rs); this file adds only what Rust cannot say.

import type { SessionState } from './generated';

export type {
  AwsProfile,
  BackendError,
  CopyDirection,
  CopyMessage,
  CopyRequest,
  Context,
  DesktopEvent,
  CredentialPrompt,
  DoctorCheck,
  DoctorReport,
  DocumentDetails,
  DocumentParameter,
  Identity,
  ImportPreview,
  ManagedNode,
  NodeListing,
  Place,
  PlaceChoice,
  ProfileKind,
  PromptEvent,
  SessionDocument,
  SessionRow,
  SessionStage,
  SessionState,
  Settings,
  ShellRequest,
  TerminalSize,
  Theme,
  TunnelFigures,
  TunnelKind,
  TunnelMessage,
  ProfileForward,
  RdpLaunched,
  ForwardFigures,
  TunnelProfile,
  TunnelRequest,
  TunnelStarted,
  Verdict,
} from './generated';

/** What a terminal's channel carries: output bytes (raw, not JSON), or a state change. */
export type SessionMessage = { kind: 'output'; data: Uint8Array } | { kind: 'state'; state: SessionState };
