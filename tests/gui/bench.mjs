// The app's benchmark (not a test; `scripts/bench-app`): the release build (AIRLOCK_APP) in
// WebKit under Xvfb, against an unpaced emulator it reaches through AWS_ENDPOINT_URL as it
// would reach AWS. Reports, each beside its baseline from the same run:
//  - launch to the node list on screen, against launch to the page loaded;
//  - memory (resident set of the app and its WebKit processes) with the node list only, one
//    shell tab and ten;
//  - the time to render 50 MB of shell output in the visible tab, against the same output
//    through the engine alone (`airlock shell` with a non-interactive command, to a pipe);
//  - keystroke echo in one tab while another tab's command prints 50 MB, against the same
//    window idle.
// Keystroke times are taken inside the page, without test hooks (the production UI): from the
// key's keydown event to the frame in which xterm.js puts the echoed character into its rows
// (a MutationObserver on the DOM renderer's rows). Launch is polled over WebDriver every
// 100 ms. Prints a Markdown table.

import { spawnSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { APP, WEB, activeTabKey, emulator, freshHome, startDriver, terminalRows, until } from './harness.mjs';

const CLI = process.env.AIRLOCK_CLI;
if (!CLI) throw new Error('AIRLOCK_CLI (the airlock binary of the same build) is not set: run scripts/bench-app');
const FLOOD_BYTES = 50 * 1024 * 1024;
const FLOOD = `yes 0123456789012345678901234567890123456789012345678901234567890123456789 | head -c ${FLOOD_BYTES}; echo; echo FLOOD-$((40+2))`;
const KEYS_PER_SAMPLE = 6;
const SAMPLES = 4;

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
const ms = (value) => `${value.toFixed(0)} ms`;

async function openShell(browser) {
  await (await browser.$('.tab.home')).click();
  await (await browser.$(`.node-row[data-node="${WEB}"]`)).doubleClick();
  const key = await activeTabKey(browser);
  await until(browser, 'a shell connected', async () => (await browser.$(`.tab.connected[data-tab="${key}"]`)).isExisting());
  await until(browser, 'a prompt', async () => (await terminalRows(browser, key)).some((row) => row.length > 0));
  return key;
}

async function show(browser, key) {
  await (await browser.$(`.tab[data-tab="${key}"]`)).click();
}

/** Watches a tab inside the page: keydown times, and when its rows first show a text, as a
 *  line of its own (`line`) or as what was typed after the prompt (`typed`: a row ending in a
 *  space and the text). */
async function watch(browser, key) {
  await browser.execute((tab) => {
    const root = document.querySelector(`.terminal-tab[data-tab="${tab}"]`);
    const rowsElement = root.querySelector('.xterm-rows');
    const watcher = { downs: [], waits: [] };
    root.querySelector('.xterm-helper-textarea').addEventListener('keydown', () => watcher.downs.push(performance.now()), true);
    new MutationObserver(() => {
      const now = performance.now();
      const lines = [...rowsElement.children].map((row) => row.textContent.trim());
      for (const wait of watcher.waits) {
        if (wait.at !== null) continue;
        if (wait.match === 'line' ? lines.includes(wait.text) : lines.some((l) => l.endsWith(` ${wait.text}`))) wait.at = now;
      }
    }).observe(rowsElement, { subtree: true, childList: true, characterData: true });
    window.airlockBench = { ...window.airlockBench, [tab]: watcher };
  }, key);
}

/** Types `text` into a watched tab one key at a time, each after the last one's echo is drawn;
 *  resolves with each key's echo latency in ms, measured in the page. */
async function typeTimed(browser, key, text) {
  const input = await browser.$(`.terminal-tab[data-tab="${key}"] .xterm-helper-textarea`);
  const latencies = [];
  for (let i = 0; i < text.length; i++) {
    const prefix = text.slice(0, i + 1);
    await browser.execute((tab, wanted) => window.airlockBench[tab].waits.push({ text: wanted, match: 'typed', at: null }), key, prefix);
    const before = await browser.execute((tab) => window.airlockBench[tab].downs.length, key);
    await input.addValue(text[i]);
    let latency = null;
    await until(browser, `the echo of ${prefix}`, async () => {
      latency = await browser.execute(
        (tab, wanted, index) => {
          const watcher = window.airlockBench[tab];
          const wait = watcher.waits.find((w) => w.match === 'typed' && w.text === wanted);
          const down = watcher.downs[index];
          return wait?.at != null && down !== undefined ? wait.at - down : null;
        },
        key,
        prefix,
        before,
      );
      return latency !== null;
    });
    latencies.push(latency);
  }
  // Clear the line for the next sample (Ctrl-U goes to the shell).
  await browser.keys(['Control', 'u']);
  await browser.keys('Control');
  return latencies;
}

/** SAMPLES words of random letters typed, every key timed. */
async function echoLatencies(browser, key) {
  const all = [];
  for (let s = 0; s < SAMPLES; s++) {
    const word = Array.from({ length: KEYS_PER_SAMPLE }, () => String.fromCharCode(97 + Math.floor(Math.random() * 26))).join('');
    all.push(...(await typeTimed(browser, key, word)));
  }
  return all;
}

/** Runs the flood in a watched tab: resolves with a promise of its render time in the page. */
async function startFlood(browser, key) {
  const input = await browser.$(`.terminal-tab[data-tab="${key}"] .xterm-helper-textarea`);
  await input.addValue('clear');
  await browser.keys('Enter');
  await until(browser, 'the screen cleared', async () => !(await terminalRows(browser, key)).includes('FLOOD-42'));
  await browser.execute((tab) => {
    const { waits } = window.airlockBench[tab];
    waits.splice(0, waits.length, { text: 'FLOOD-42', match: 'line', at: null });
  }, key);
  await input.addValue(FLOOD);
  const index = await browser.execute((tab) => window.airlockBench[tab].downs.length, key);
  await browser.keys('Enter');
  return async () => {
    let elapsed = null;
    await until(browser, 'FLOOD-42 drawn', async () => {
      elapsed = await browser.execute(
        (tab, at) => {
          const watcher = window.airlockBench[tab];
          const wait = watcher.waits.find((w) => w.match === 'line');
          return wait.at === null ? null : wait.at - watcher.downs[at];
        },
        key,
        index,
      );
      return elapsed !== null;
    });
    return elapsed;
  };
}

const { env: farSide, stop } = await emulator(['--unpaced']);
const awsEnv = {
  ...farSide,
  AWS_REGION: 'us-east-1',
  AWS_ACCESS_KEY_ID: 'AKIAEMULATORDEMO0001',
  AWS_SECRET_ACCESS_KEY: 'emulator/demo/secret/key/not/a/real/one/000',
};
const driver = await startDriver(freshHome('bench'), awsEnv);
const launched = Date.now();
const browser = await driver.launch();
const table = [];
try {
  await until(browser, 'the nodes listed', async () => (await browser.$(`.node-row[data-node="${WEB}"]`)).isExisting());
  const listed = Date.now() - launched;
  const loaded = await browser.execute(() => performance.timeOrigin + performance.getEntriesByType('navigation')[0].domContentLoadedEventEnd);
  table.push(['launch to the node list on screen', ms(listed), `${ms(loaded - launched)} to the page loaded`, `+${ms(listed - (loaded - launched))}`]);

  const idle = treeRss(driver.pid);
  const tabs = [await openShell(browser)];
  const one = treeRss(driver.pid);
  for (let i = 1; i < 10; i++) tabs.push(await openShell(browser));
  const ten = treeRss(driver.pid);
  table.push(['memory, 1 shell tab', `${one.toFixed(0)} MiB`, `${idle.toFixed(0)} MiB with the node list only`, `+${(one - idle).toFixed(0)} MiB`]);
  table.push([
    'memory, 10 shell tabs (goal: at most 250 MB)',
    `${ten.toFixed(0)} MiB`,
    `${idle.toFixed(0)} MiB with the node list only`,
    `+${((ten - idle) / 10).toFixed(1)} MiB a tab`,
  ]);

  const [quiet, flooded] = tabs;
  for (const key of [quiet, flooded]) {
    await show(browser, key);
    await watch(browser, key);
  }

  // The engine alone: the same output through `airlock shell`, to a pipe.
  const cliStart = performance.now();
  const again = spawnSync(CLI, ['shell', WEB, '--document', 'AWS-StartNonInteractiveCommand', '--parameter', `command=${FLOOD}`], {
    env: { ...process.env, ...awsEnv },
    maxBuffer: 2 * FLOOD_BYTES,
    encoding: 'buffer',
  });
  const engineMs = performance.now() - cliStart;
  if (again.status !== 0 || !again.stdout.includes('FLOOD-42')) throw new Error(`airlock shell did not finish the flood: ${again.stderr}`);

  // 50 MB in the visible tab, nothing else happening.
  await show(browser, flooded);
  const rendered = await (await startFlood(browser, flooded))();
  table.push([
    '50 MB of output rendered in the visible tab',
    `${(rendered / 1000).toFixed(1)} s (${(FLOOD_BYTES / 1e6 / (rendered / 1000)).toFixed(1)} MB/s)`,
    `${(engineMs / 1000).toFixed(1)} s through the engine alone (airlock CLI to a pipe)`,
    `${(rendered / engineMs).toFixed(2)}×`,
  ]);

  // Keystroke echo, idle, then while the other tab's command prints 50 MB.
  await show(browser, quiet);
  const idleLatencies = await echoLatencies(browser, quiet);
  await show(browser, flooded);
  const floodDone = await startFlood(browser, flooded);
  await show(browser, quiet);
  const busyLatencies = await echoLatencies(browser, quiet);
  await show(browser, flooded);
  await floodDone();
  table.push([
    'keystroke echo while another tab prints 50 MB (median; goal: under 50 ms)',
    `${ms(median(busyLatencies))} (${busyLatencies.length} keys, worst ${ms(Math.max(...busyLatencies))})`,
    `${ms(median(idleLatencies))} with the window idle (worst ${ms(Math.max(...idleLatencies))})`,
    `${(median(busyLatencies) / median(idleLatencies)).toFixed(2)}×`,
  ]);
} finally {
  await browser.deleteSession();
  await driver.stop();
  stop();
}

console.log(`\nAirlock app benchmark (${new Date().toISOString().slice(0, 10)}, ${APP.includes('/release/') ? 'release' : 'debug'} build, WebKitGTK under Xvfb, unpaced emulator)\n`);
console.log('| measure | Airlock app | baseline | difference |');
console.log('|---|---|---|---|');
for (const row of table) console.log(`| ${row.join(' | ')} |`);
