// Generated from the Rust types by src-tauri/src/bindings.rs; do not edit by hand.
// AIRLOCK_WRITE_BINDINGS=1 cargo test --workspace -- bindings writes it again.

export type ProfileKind = "static" | "keyring" | "role" | "sso" | "process" | "web-identity" | "environment" | "other";

export type AwsProfile = { 
/**
 * Its name (`default` for the default profile).
 */
name: string, 
/**
 * How it gets credentials.
 */
kind: ProfileKind, 
/**
 * Its region, if it sets one.
 */
region: string | null, 
/**
 * Whether it, or a profile it takes its credentials from, asks for an MFA code.
 */
mfa: boolean, };

export type Identity = { 
/**
 * The 12-digit account id.
 */
account: string, 
/**
 * The caller's ARN (user, or assumed role and session).
 */
arn: string, };

export type Verdict = "ok" | "warning" | "failed" | "skipped";

export type DoctorCheck = { 
/**
 * What was checked.
 */
title: string, 
/**
 * How it came out.
 */
verdict: Verdict, 
/**
 * What was found.
 */
detail: string, 
/**
 * What to do about it, when something is wrong.
 */
fix: string | null, };

export type DoctorReport = { 
/**
 * Every check, in order.
 */
checks: Array<DoctorCheck>, };

export type SessionDocument = { 
/**
 * Its name (or ARN for shared documents).
 */
name: string, 
/**
 * `Amazon`, or the account that owns it.
 */
owner: string, };

export type DocumentParameter = { 
/**
 * Its name.
 */
name: string, 
/**
 * `String`, `StringList`, `Integer`, `Boolean` or `StringMap`.
 */
type: string, 
/**
 * What it is for.
 */
description: string, 
/**
 * The value used when none is given; `None` makes the parameter required.
 */
default: string | null, 
/**
 * The only values allowed, when the document lists them.
 */
allowedValues: Array<string>, 
/**
 * A regular expression values must match, when the document gives one.
 */
allowedPattern: string | null, };

export type DocumentDetails = { 
/**
 * Its name.
 */
name: string, 
/**
 * `Standard_Stream`, `InteractiveCommands`, `NonInteractiveCommands` or `Port`.
 */
sessionType: string, 
/**
 * The document's own description.
 */
description: string, 
/**
 * Its parameters, by name.
 */
parameters: Array<DocumentParameter>, };

export type Theme = "system" | "light" | "dark";

export type CredentialPrompt = { "kind": "mfa-code", 
/**
 * The profile that needs it.
 */
profile: string, 
/**
 * The device (`mfa_serial`).
 */
serial: string, } | { "kind": "sso-login", 
/**
 * The profile that needs it.
 */
profile: string, 
/**
 * The portal (`sso_start_url`).
 */
startUrl: string, 
/**
 * The page to open, with the code filled in.
 */
verificationUri: string, 
/**
 * The code the page shows, for the user to compare.
 */
userCode: string, };

export type TunnelFigures = { 
/**
 * Bytes from local clients into the tunnel.
 */
bytesUp: number, 
/**
 * Bytes from the tunnel to local clients.
 */
bytesDown: number, 
/**
 * Connections open now.
 */
openConnections: number, 
/**
 * Connections accepted since the start.
 */
totalConnections: number, 
/**
 * Connections the node could not connect onwards.
 */
refusedConnections: number, 
/**
 * Connections closed at once because the tunnel carried its most
 * ([`crate::tunnel::MAX_CONNECTIONS`] a session).
 */
turnedAwayConnections: number, 
/**
 * Sessions still carrying connections.
 */
liveSessions: number, 
/**
 * The highest smoothed round-trip time among them, in microseconds.
 */
rttMicros: number, 
/**
 * Reconnects of all sessions.
 */
reconnects: number, };

export type ForwardFigures = { 
/**
 * Where local clients connect.
 */
localAddress: string, 
/**
 * Where it leads, as the user reads it: `i-0abc port 5432`, `db:5432 through i-0abc`.
 */
destination: string, 
/**
 * Its own totals.
 */
figures: TunnelFigures, };

export type SessionStage = "starting-session" | "opening-data-channel" | "waiting-for-agent";

export type BackendError = { 
/**
 * For the UI to branch on.
 */
code: string, 
/**
 * For the user.
 */
message: string, };

export type Place = { demo: boolean, profile: string | null, region: string, };

export type Context = { place: Place, profiles: Array<AwsProfile>, regions: Array<string>, credentialsConfigured: boolean, notice: string | null, };

export type PlaceChoice = { demo: boolean, profile: string | null, region: string | null, };

export type ManagedNode = { id: string, name: string, platformType: string, platformName: string, pingStatus: string, agentVersion: string, ipAddress: string, state: string, tags: { [key in string]: string }, };

export type NodeListing = { nodes: Array<ManagedNode>, notices: Array<string>, };

export type ShellRequest = { target: string, document: string | null, parameters: { [key in string]: string }, reason: string | null, };

export type TerminalSize = { cols: number, rows: number, };

export type SessionState = { "state": "connecting", stage: SessionStage, } | { "state": "connected", sessionId: string, encryptedWith: string | null, message: string | null, } | { "state": "reconnecting", attempt: number, delayMs: number, reason: string, } | { "state": "ended", reason: string, exitCode: number | null, byUser: boolean, failed: boolean, };

export type SessionRow = { id: string, target: string, owner: string, status: string, document: string | null, reason: string | null, started: string | null, ended: string | null, };

export type TunnelKind = "forward" | "socks";

export type TunnelRequest = { kind: TunnelKind, target: string, remotePort: number, remoteHost: string | null, localPort: number, bind: string, sessions: number, reason: string | null, document: string | null, parameters: { [key in string]: string }, 
/**
 * Keep the tunnel from being closed for being idle.
 */
keepAlive: boolean, };

export type TunnelStarted = { id: number, localAddress: string, };

export type TunnelMessage = { "kind": "figures", figures: TunnelFigures, 
/**
 * Each forward's own, for a profile of several; empty otherwise.
 */
forwards: Array<ForwardFigures>, } | { "kind": "ended", reason: string, byUser: boolean, };

export type CopyDirection = "upload" | "download";

export type CopyRequest = { direction: CopyDirection, target: string, 
/**
 * This machine's path: the file to send, or where to put the one fetched (a folder keeps
 * its name).
 */
local: string, 
/**
 * The node's path: where to put the file sent (a folder, or ending in `/`, keeps its
 * name), or the file to fetch.
 */
remote: string, };

export type CopyMessage = { "kind": "progress", done: number, total: number | null, bytesPerSecond: number, leftMs: number | null, } | { "kind": "done", path: string, bytes: number, sha256: string, } | { "kind": "failed", message: string, cancelled: boolean, };

export type RdpLaunched = { 
/**
 * Its name: FreeRDP, Remmina, ...
 */
client: string, 
/**
 * The command line (it holds no password).
 */
command: string, };

export type ProfileForward = { remotePort: number, remoteHost: string | null, localPort: number, };

export type TunnelProfile = { name: string, awsProfile: string | null, region: string | null, target: string, remotePort: number, remoteHost: string | null, localPort: number, bind: string, sessions: number, autoStart: boolean, keepAlive: boolean, 
/**
 * More forwards through the same node, started and stopped with the first.
 */
moreForwards: Array<ProfileForward>, };

export type ImportPreview = { path: string, profiles: Array<TunnelProfile>, 
/**
 * What the user should agree to first: listeners other machines can reach, auto-start.
 */
concerns: Array<string>, };

export type Settings = { theme: Theme, fontSize: number, };

export type PromptEvent = { id: number, prompt: CredentialPrompt, };

export type DesktopEvent = { "kind": "closeRequested", tunnels: number, tray: boolean, } | { "kind": "startProfile", name: string, } | { "kind": "filesDropped", paths: Array<string>, };

/** The engine's limits, which the UI checks before it asks. */
export const LIMITS = {
  /** Sessions in one tunnel's pool. */
  maxPool: 16,
  /** Connections one tunnel session carries at once. */
  maxConnections: 512,
  /** Forwards in one saved profile (a tunnel group). */
  maxForwards: 16,
  fontMin: 8,
  fontMax: 32,
  fontDefault: 14,
} as const;
