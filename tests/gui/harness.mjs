// Drives the real built app: tauri-driver (which runs WebKitWebDriver, which runs the app),
// one driver per app home so a test can restart the app on the same files. Each app runs with
// a home of its own and no AWS credentials, so it starts on the demo fleet.

import { spawn } from 'node:child_process';
import { mkdtempSync, mkdirSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { remote } from 'webdriverio';

const root = path.resolve(import.meta.dirname, '..', '..');
const target = process.env.CARGO_TARGET_DIR ?? path.join(os.homedir(), '.cache', 'airlock-target');
export const APP = process.env.AIRLOCK_APP ?? path.join(target, 'debug', 'airlock-app');
const EMULATOR = process.env.AIRLOCK_EMULATOR ?? path.join(target, 'debug', 'ssm-emulator');
const TAURI_DRIVER = process.env.TAURI_DRIVER ?? 'tauri-driver';
export const ARTIFACTS = process.env.AIRLOCK_SCREENSHOTS ?? path.join(root, 'artifacts', 'gui');
/** A guard against a hung step, not a performance limit. */
export const HANG_GUARD = 90_000;

export function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

async function acceptsConnections(port) {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** A fresh home: config directories and no AWS files. */
export function freshHome(name) {
  const home = mkdtempSync(path.join(os.tmpdir(), `airlock-gui-${name}-`));
  mkdirSync(path.join(home, '.config'), { recursive: true });
  return home;
}

/** tauri-driver for apps (the binary `app`) that run with `home` as their home directory and
 *  `extraEnv` (for example AWS_ENDPOINT_URL; AWS_ variables of this process are not passed on). */
export async function startDriver(home, extraEnv = {}, app = APP) {
  const port = await freePort();
  const nativePort = await freePort();
  const env = { ...process.env, HOME: home, XDG_CONFIG_HOME: path.join(home, '.config') };
  for (const name of Object.keys(env)) if (name.startsWith('AWS_')) delete env[name];
  Object.assign(env, extraEnv);
  const child = spawn(TAURI_DRIVER, ['--port', String(port), '--native-port', String(nativePort)], { env, stdio: ['ignore', 'inherit', 'inherit'] });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  const deadline = Date.now() + HANG_GUARD;
  // Wait for the driver to listen (it prints nothing when it does).
  while (!(await acceptsConnections(port))) {
    if (child.exitCode !== null) throw new Error(`tauri-driver exited with ${child.exitCode}; is it installed (scripts/setup)?`);
    if (Date.now() > deadline) throw new Error('tauri-driver did not start listening');
    await new Promise((r) => setImmediate(r));
  }
  return {
    port,
    pid: child.pid,
    async launch() {
      return remote({
        hostname: '127.0.0.1',
        port,
        logLevel: 'error',
        connectionRetryTimeout: HANG_GUARD,
        capabilities: { 'tauri:options': { application: app }, 'wdio:enforceWebDriverClassic': true },
      });
    },
    async stop() {
      child.kill();
      await exited;
    },
  };
}

/** Waits until `condition` holds; the message says what never happened. */
export async function until(browser, message, condition) {
  await browser.waitUntil(condition, { timeout: HANG_GUARD, interval: 100, timeoutMsg: `never happened: ${message}` });
}

export async function screenshot(browser, name) {
  mkdirSync(ARTIFACTS, { recursive: true });
  // WebKitGTK under Xvfb takes a snapshot at the next paint, and a page that does not change
  // never paints again: the request would wait forever. An invisible pixel that moves every
  // frame for a moment gives it that paint; it changes nothing a test reads.
  await browser.execute(() => {
    const pixel = document.createElement('div');
    pixel.style.cssText = 'position:fixed;left:0;top:0;width:1px;height:1px;opacity:0.01;pointer-events:none';
    document.body.append(pixel);
    let frames = 0;
    const tick = () => {
      pixel.style.transform = `translateX(${frames++ % 2}px)`;
      if (frames < 600) requestAnimationFrame(tick);
      else pixel.remove();
    };
    requestAnimationFrame(tick);
  });
  await browser.saveScreenshot(path.join(ARTIFACTS, `${name}.png`));
}

/** The rows a tab's terminal draws (xterm.js's DOM renderer), as a user sees them, trimmed:
 *  read from the page, so it works on the production build too (no test hooks). */
export async function terminalRows(browser, tabKey) {
  return browser.execute(
    (tab) => [...document.querySelectorAll(`.terminal-tab[data-tab="${tab}"] .xterm-rows > div`)].map((row) => row.textContent.trim()),
    tabKey,
  );
}

/** What a terminal tab shows, read from the terminal's buffer (the e2e build's hook). */
export async function screenText(browser, tabKey) {
  return browser.execute((key) => window.airlockScreens?.read(key) ?? '', tabKey);
}

/** Starts the `ssm-emulator` binary on a free port (with `args`, e.g. `--unpaced` or
 *  `--fleet FILE`), serving HTTPS and wss:// under the authority it makes; resolves with its
 *  URL, the file holding its CA certificate, the variables an app reaches it with (as it
 *  would reach AWS: AWS_ENDPOINT_URL and AWS_CA_BUNDLE), and a stop(). */
export async function emulator(args = []) {
  const caFile = path.join(mkdtempSync(path.join(os.tmpdir(), 'airlock-gui-ca-')), 'emulator-ca.pem');
  const child = spawn(EMULATOR, ['--listen', '127.0.0.1:0', '--ca-file', caFile, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  let text = '';
  const url = await new Promise((resolve, reject) => {
    child.stdout.on('data', (chunk) => {
      text += chunk;
      const match = text.match(/https:\/\/127\.0\.0\.1:\d+/);
      if (match) resolve(match[0]);
    });
    child.once('exit', (code) => reject(new Error(`ssm-emulator exited with ${code}`)));
  });
  return { url, caFile, env: { AWS_ENDPOINT_URL: url, AWS_CA_BUNDLE: caFile }, stop: () => child.kill() };
}

/** The demo fleet's (and the emulator's default fleet's) Linux web node. */
export const WEB = 'i-0a1b2c3d4e5f60001';

export async function nodeListShows(browser) {
  await until(browser, 'the demo fleet listed', async () => (await browser.$(`.node-row[data-node="${WEB}"]`)).isExisting());
}

export async function activeTabKey(browser) {
  return (await browser.$('.tab.active[data-tab]')).getAttribute('data-tab');
}

/** Opens the tunnel form on WEB for `remotePort`, with `localPort` (0: any free port). */
export async function openTunnelForm(browser, remotePort, localPort = '0') {
  await (await browser.$(`.node-row[data-node="${WEB}"]`)).click();
  await (await browser.$('button=Tunnel…')).click();
  await (await browser.$('input[aria-label="Remote port"]')).setValue(String(remotePort));
  await (await browser.$('input[aria-label="Local port"]')).setValue(localPort);
}

/** The local address the shown tunnel tab serves, once it runs. */
export async function tunnelAddress(browser) {
  let address = '';
  await until(browser, 'the tunnel tab shows its local address', async () => {
    const code = await browser.$('.tunnel-tab:not([hidden]) code[data-local-address]');
    address = (await code.isExisting()) ? await code.getAttribute('data-local-address') : '';
    return address.includes(':');
  });
  return address;
}

/** Starts a tunnel from WEB's `remotePort` to a free local port; resolves with its address. */
export async function startTunnel(browser, remotePort) {
  await openTunnelForm(browser, remotePort);
  await (await browser.$('button=Start tunnel')).click();
  return tunnelAddress(browser);
}
