// A Backend for UI tests: answers from memory and records what the UI asked for. Tests push
// messages into open shells and tunnels as the Rust side would.

import type { Backend } from './backend';
import { UserError } from './errors';
import type {
  Context,
  CopyMessage,
  CopyRequest,
  DesktopEvent,
  DoctorReport,
  ImportPreview,
  ManagedNode,
  PromptEvent,
  SessionMessage,
  SessionRow,
  Settings,
  ShellRequest,
  TunnelMessage,
  TunnelProfile,
  TunnelRequest,
} from './types';

export class FakeBackend implements Backend {
  nodes: ManagedNode[] = [];
  nodeNotices: string[] = [];
  doctorReport: DoctorReport = {
    checks: [{ title: 'Region', verdict: 'ok', detail: 'us-east-1', fix: null }],
  };
  doctorTargets: Array<string | null> = [];
  profiles: TunnelProfile[] = [];
  settings: Settings = { theme: 'dark', fontSize: 14 };
  takenPorts = new Set<number>();
  shells = new Map<
    number,
    { request: ShellRequest; onMessage: (m: SessionMessage) => void; input: string[]; acked: number }
  >();
  tunnels = new Map<
    number,
    { request: TunnelRequest | string; onMessage: (m: TunnelMessage) => void; stopped: boolean }
  >();
  copies = new Map<
    number,
    { request: CopyRequest; onMessage: (m: CopyMessage) => void; cancelled: boolean }
  >();
  /** What the system's file chooser answers next (null: the user cancelled it). */
  chosenFile: string | null = null;
  /** The place's sessions, as DescribeSessions would list them (Terminated ones are history). */
  sessions: SessionRow[] = [];
  clipboard = '';
  opened: string[] = [];
  onPrompt: ((event: PromptEvent) => void) | null = null;
  answers: Array<{ id: number; answer: string | null }> = [];
  private nextId = 1;
  private nextPort = 40000;

  contextValue: Context = {
    place: { demo: true, profile: null, region: 'us-east-1' },
    profiles: [],
    regions: ['us-east-1', 'eu-west-1'],
    credentialsConfigured: false,
    notice: null,
  };

  async context() {
    return this.contextValue;
  }
  async choosePlace(choice: { demo: boolean; profile: string | null; region: string | null }) {
    this.contextValue = {
      ...this.contextValue,
      place: { demo: choice.demo, profile: choice.profile, region: choice.region ?? 'us-east-1' },
    };
    return this.contextValue;
  }
  async whoami() {
    return { account: '123456789012', arn: 'arn:aws:iam::123456789012:user/demo' };
  }
  async listNodes() {
    return { nodes: this.nodes, notices: this.nodeNotices };
  }
  async doctor(target: string | null) {
    this.doctorTargets.push(target);
    return this.doctorReport;
  }
  async listDocuments() {
    return [{ name: 'SSM-SessionManagerRunShell', owner: 'Amazon' }];
  }
  async documentDetails(name: string) {
    return { name, sessionType: 'Standard_Stream', description: '', parameters: [] };
  }
  async openShell(
    request: ShellRequest,
    _size: { cols: number; rows: number },
    onMessage: (m: SessionMessage) => void,
  ) {
    const id = this.nextId++;
    this.shells.set(id, { request, onMessage, input: [], acked: 0 });
    return id;
  }
  async shellInput(id: number, data: string) {
    this.shells.get(id)?.input.push(data);
  }
  async shellResize() {}
  async shellAck(id: number, bytes: number) {
    const shell = this.shells.get(id);
    if (shell) shell.acked += bytes;
  }
  async closeShell(id: number) {
    this.shells.get(id)?.onMessage({
      kind: 'state',
      state: { state: 'ended', reason: 'closed', exitCode: null, byUser: true, failed: false },
    });
  }
  async startTunnel(request: TunnelRequest, onMessage: (m: TunnelMessage) => void) {
    if (this.takenPorts.has(request.localPort)) {
      throw new UserError(
        'port-in-use',
        `local address ${request.bind}:${request.localPort} is already in use`,
      );
    }
    const id = this.nextId++;
    this.tunnels.set(id, { request, onMessage, stopped: false });
    const port = request.localPort || this.nextPort++;
    return { id, localAddress: `${request.bind}:${port}` };
  }
  async startProfile(name: string, onMessage: (m: TunnelMessage) => void) {
    const profile = this.profiles.find((p) => p.name === name);
    if (!profile) throw new UserError('not-found', `no profile named "${name}"`);
    const id = this.nextId++;
    this.tunnels.set(id, { request: name, onMessage, stopped: false });
    return { id, localAddress: `${profile.bind}:${profile.localPort || this.nextPort++}` };
  }
  async stopTunnel(id: number) {
    const tunnel = this.tunnels.get(id);
    if (tunnel && !tunnel.stopped) {
      tunnel.stopped = true;
      tunnel.onMessage({ kind: 'ended', reason: 'stopped', byUser: true });
    }
  }
  async listSessions(history: boolean) {
    return this.sessions.filter((s) => (s.status === 'Terminated') === history);
  }
  async terminateSession(id: string) {
    const session = this.sessions.find((s) => s.id === id);
    if (!session) throw new UserError('aws', `there is no session ${id}`);
    session.status = 'Terminated';
    session.ended = '2026-12-02T10:00:00Z';
  }
  async freePort() {
    return this.nextPort++;
  }
  async startCopy(request: CopyRequest, onMessage: (m: CopyMessage) => void) {
    const id = this.nextId++;
    this.copies.set(id, { request, onMessage, cancelled: false });
    return id;
  }
  async cancelCopy(id: number) {
    const copy = this.copies.get(id);
    if (copy && !copy.cancelled) {
      copy.cancelled = true;
      copy.onMessage({
        kind: 'failed',
        message: 'Cancelled; the partial file was removed.',
        cancelled: true,
      });
    }
  }
  /** What GetPasswordData and the key file give, by node id; absent: the key is wrong. */
  passwords = new Map<string, string>();
  /** The RDP clients started, with the address and user. */
  rdpLaunches: Array<{ localAddress: string; user: string }> = [];
  /** Whether this machine has an RDP client. */
  hasRdpClient = true;
  async windowsPassword(target: string, keyFile: string) {
    const password = this.passwords.get(target);
    if (password === undefined) {
      throw new UserError('invalid', `The key in ${keyFile} does not decrypt the password of ${target}.`);
    }
    return password;
  }
  async launchRdp(localAddress: string, user: string) {
    if (!this.hasRdpClient)
      throw new UserError('no-rdp-client', `No RDP client was found: connect yours to ${localAddress}.`);
    this.rdpLaunches.push({ localAddress, user });
    return { client: 'FreeRDP', command: `xfreerdp /v:${localAddress} /u:${user}` };
  }
  async chooseKeyFile() {
    return this.chosenFile;
  }
  async demoKeyFile() {
    return this.contextValue.place.demo ? '/home/demo/.config/airlock/demo-win-1-key.pem' : null;
  }
  async chooseFileToSend() {
    return this.chosenFile;
  }
  async chooseWhereToSave(name: string) {
    return this.chosenFile ?? `/home/user/Downloads/${name}`;
  }
  async defaultDownloadDir() {
    return '/home/user/Downloads';
  }
  async listProfiles() {
    return this.profiles;
  }
  async saveProfile(previousName: string | null, profile: TunnelProfile) {
    if (previousName === null) this.profiles = [...this.profiles, profile];
    else this.profiles = this.profiles.map((p) => (p.name === previousName ? profile : p));
  }
  async deleteProfile(name: string) {
    this.profiles = this.profiles.filter((p) => p.name !== name);
  }
  /** What the next `chooseProfilesImport` finds; null as if the user cancelled. */
  importFile: ImportPreview | null = null;
  async chooseProfilesImport() {
    return this.importFile;
  }
  async importProfiles(path: string) {
    if (this.importFile?.path !== path) throw new UserError('not-found', `nothing was chosen at ${path}`);
    this.profiles = [...this.profiles, ...this.importFile.profiles];
    return this.importFile.profiles.length;
  }
  async exportProfiles() {
    return null;
  }
  async loadSettings() {
    return this.settings;
  }
  async saveSettings(settings: Settings) {
    this.settings = settings;
  }
  async copyText(text: string) {
    this.clipboard = text;
  }
  async readClipboard() {
    return this.clipboard;
  }
  onDesktop: ((event: DesktopEvent) => void) | null = null;
  closes: Array<{ keepRunning: boolean; remember: boolean }> = [];
  async watchDesktop(onEvent: (event: DesktopEvent) => void) {
    this.onDesktop = onEvent;
  }
  async closeWindow(keepRunning: boolean, remember: boolean) {
    this.closes.push({ keepRunning, remember });
  }
  async watchPrompts(onPrompt: (event: PromptEvent) => void) {
    this.onPrompt = onPrompt;
  }
  async answerPrompt(id: number, answer: string | null) {
    this.answers.push({ id, answer });
  }
  async openUrl(url: string) {
    this.opened.push(url);
  }
}
