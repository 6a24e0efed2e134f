// The app's benchmark (not a test; `scripts/bench-app`): the built app in WebKit under Xvfb,
// against an unpaced emulator it reaches through AWS_ENDPOINT_URL as it would reach AWS.
// Reports, each beside its baseline:
//  - memory (RSS of the app and its WebKit processes) with 10 shell tabs open, against the app
//    showing only its node list;
//  - the time to render 50 MB of shell output in a tab, against the same output through the
//    engine alone (`airlock shell` with a non-interactive command, to a pipe);
//  - keystroke echo latency in another tab while those 50 MB arrive, against the same tab idle.
// Latencies include WebDriver's round trips (the same in both columns). Prints a Markdown table.

import { spawnSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { emulator, freshHome, screenText, startDriver, until } from './harness.mjs';

const root = path.resolve(import.meta.dirname, '..', '..');
const target = process.env.CARGO_TARGET_DIR ?? path.join(process.env.HOME, '.cache', 'airlock-target');
const CLI = path.join(target, 'debug', 'airlock');
const WEB = 'i-0a1b2c3d4e5f60001';
const FLOOD_BYTES = 50 * 1024 * 1024;
const FLOOD = `yes 0123456789012345678901234567890123456789012345678901234567890123456789 | head -c ${FLOOD_BYTES}; echo; echo FLOOD-$((40+2))`;

/** Resident memory of `pid` and all its descendants, in MiB. */
function treeRss(pid) {
  const children = new Map();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const parent = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (!children.has(parent)) children.set(parent, []);
      children.get(parent).push(Number(entry));
    } catch {
      // The process ended while we looked.
    }
  }
  let kib = 0;
  const stack = [pid];
  while (stack.length) {
    const current = stack.pop();
    try {
      const status = readFileSync(`/proc/${current}/status`, 'utf8');
      kib += Number(status.match(/VmRSS:\s+(\d+)/)?.[1] ?? 0);
    } catch {
      // Gone.
    }
    stack.push(...(children.get(current) ?? []));
  }
  return kib / 1024;
}

const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

async function openShell(browser) {
  await (await browser.$('.tab.home')).click();
  await (await browser.$(`.node-row[data-node="${WEB}"]`)).doubleClick();
  const key = await (await browser.$('.tab.active[data-tab]')).getAttribute('data-tab');
  await until(browser, 'a shell connected', async () => (await browser.$(`.tab.connected[data-tab="${key}"]`)).isExisting());
  await until(browser, 'a prompt', async () => (await screenText(browser, key)).trim().length > 0);
  return key;
}

async function type(browser, key, text) {
  await (await browser.$(`.tab[data-tab="${key}"]`)).click();
  const input = await browser.$(`.terminal-tab[data-tab="${key}"] .xterm-helper-textarea`);
  await input.addValue(text);
  await browser.keys('Enter');
}

/** Milliseconds from typing `echo` of a fresh marker to its output on the screen. */
async function echoLatency(browser, key, n) {
  const marker = `echo-${n}`;
  const start = performance.now();
  await type(browser, key, `echo echo-$((${n - 1}+1))`);
  await until(browser, `${marker} echoed`, async () => (await screenText(browser, key)).split('\n').some((l) => l.trim() === marker));
  return performance.now() - start;
}

const { env: farSide, stop } = await emulator(['--unpaced']);
const awsEnv = {
  ...farSide,
  AWS_REGION: 'us-east-1',
  AWS_ACCESS_KEY_ID: 'AKIAEMULATORDEMO0001',
  AWS_SECRET_ACCESS_KEY: 'emulator/demo/secret/key/not/a/real/one/000',
};
const driver = await startDriver(freshHome('bench'), awsEnv);
const browser = await driver.launch();
const rows = [];
try {
  await until(browser, 'the nodes listed', async () => (await browser.$(`.node-row[data-node="${WEB}"]`)).isExisting());
  const idle = treeRss(driver.pid);
  const tabs = [];
  for (let i = 0; i < 10; i++) tabs.push(await openShell(browser));
  const ten = treeRss(driver.pid);
  rows.push(['memory, 10 shell tabs open', `${ten.toFixed(0)} MiB`, `${idle.toFixed(0)} MiB with the node list only`, `${(ten / idle).toFixed(2)}× (+${((ten - idle) / 10).toFixed(1)} MiB a tab)`]);

  const [quiet, flooded] = tabs;
  const idleLatencies = [];
  for (let n = 1; n <= 5; n++) idleLatencies.push(await echoLatency(browser, quiet, n));

  // The engine alone: the same output through `airlock shell`, to a pipe.
  const cliStart = performance.now();
  const again = spawnSync(CLI, ['shell', WEB, '--document', 'AWS-StartNonInteractiveCommand', '--parameter', `command=${FLOOD}`], {
    env: { ...process.env, ...awsEnv },
    maxBuffer: 2 * FLOOD_BYTES,
    encoding: 'buffer',
  });
  const engineMs = performance.now() - cliStart;
  if (again.status !== 0 || !again.stdout.includes('FLOOD-42')) throw new Error(`airlock shell did not finish the flood: ${again.stderr}`);

  // 50 MB into one tab while the quiet tab is typed into.
  await type(browser, flooded, FLOOD);
  const floodStart = performance.now();
  await (await browser.$(`.tab[data-tab="${quiet}"]`)).click();
  // One WebDriver command at a time: look at the flooded tab, then time one echo in the quiet one.
  const busyLatencies = [];
  let n = 100;
  let floodMs = null;
  const flooding = async () => !(await screenText(browser, flooded)).split('\n').some((l) => l.trim() === 'FLOOD-42');
  while (await flooding()) {
    busyLatencies.push(await echoLatency(browser, quiet, n++));
    if (performance.now() - floodStart > 600_000) throw new Error('the flood did not finish in 10 minutes');
  }
  floodMs = performance.now() - floodStart;
  if (busyLatencies.length === 0) throw new Error('the flood finished before any echo could be timed');
  rows.push(['50 MB of output rendered in a tab', `${(floodMs / 1000).toFixed(1)} s (${(FLOOD_BYTES / 1e6 / (floodMs / 1000)).toFixed(1)} MB/s)`, `${(engineMs / 1000).toFixed(1)} s through the engine alone (airlock CLI to a pipe)`, `${(floodMs / engineMs).toFixed(2)}×`]);
  rows.push([
    'keystroke echo in another tab during it (median)',
    `${median(busyLatencies).toFixed(0)} ms (${busyLatencies.length} samples, worst ${Math.max(...busyLatencies).toFixed(0)} ms)`,
    `${median(idleLatencies).toFixed(0)} ms with the window idle`,
    `${(median(busyLatencies) / median(idleLatencies)).toFixed(2)}×`,
  ]);
} finally {
  await browser.deleteSession();
  await driver.stop();
  stop();
}

console.log(`\nAirlock app benchmark (${new Date().toISOString().slice(0, 10)}, debug build, WebKitGTK under Xvfb, unpaced emulator)\n`);
console.log('| measure | Airlock app | baseline | ratio |');
console.log('|---|---|---|---|');
for (const row of rows) console.log(`| ${row.join(' | ')} |`);
