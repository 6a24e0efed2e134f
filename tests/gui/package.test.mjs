// The Debian package as a user gets it (scripts/package, a release build): installed with
// dpkg, its desktop entry found and the binary it names started under Xvfb, where it lists the
// demo fleet and runs a shell; then removed, leaving nothing outside the user's own files.
// Needs root (or sudo) for dpkg, as scripts/setup does for apt; it refuses to run where an
// Airlock package is already installed, rather than remove a user's install.

import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { WEB, activeTabKey, freshHome, nodeListShows, screenshot, startDriver, terminalRows, until } from './harness.mjs';

const DEB = process.env.AIRLOCK_DEB;
const PACKAGE = 'airlock';
const sudo = process.getuid() === 0 ? [] : ['sudo', '-n'];

function asRoot(command, ...args) {
  const [program, ...rest] = [...sudo, command, ...args];
  return execFileSync(program, rest, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

function installed() {
  const status = spawnSync('dpkg-query', ['-W', '-f=${Status}', PACKAGE], { encoding: 'utf8' });
  return status.status === 0 && status.stdout.includes('ok installed');
}

/** Every path under the directories a package may write to, to compare before and after. */
function systemPaths() {
  const found = execFileSync('find', ['/usr', '/etc', '/opt', '/var/lib/dpkg/info', '-xdev'], {
    encoding: 'utf8',
    maxBuffer: 512 << 20,
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  return new Set(found.split('\n').filter(Boolean));
}

function desktopEntry(file) {
  const entry = {};
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const match = line.match(/^([A-Za-z]+)=(.*)$/);
    if (match) entry[match[1]] = match[2];
  }
  return entry;
}

describe('the Debian package', () => {
  it('installs, runs the demo fleet and a shell from its desktop entry, and removes cleanly', async () => {
    assert.ok(DEB && existsSync(DEB), `no package at AIRLOCK_DEB=${DEB}: scripts/suites builds it with scripts/package`);
    assert.ok(!installed(), `a ${PACKAGE} package is already installed here; remove it (dpkg -r ${PACKAGE}) to run this test`);
    const before = systemPaths();

    asRoot('dpkg', '-i', DEB);
    let files = [];
    try {
      assert.ok(installed(), 'dpkg says the package is installed');
      files = asRoot('dpkg', '-L', PACKAGE).split('\n').filter(Boolean);
      const entryFile = files.find((f) => /^\/usr\/share\/applications\/[^/]+\.desktop$/.test(f));
      assert.ok(entryFile, `a desktop entry among the package's files: ${files.join(' ')}`);
      const validation = spawnSync('desktop-file-validate', [entryFile], { encoding: 'utf8' });
      assert.equal(validation.status, 0, `desktop-file-validate: ${validation.stdout}${validation.stderr}`);
      const entry = desktopEntry(entryFile);
      assert.equal(entry.Name, 'Airlock');
      assert.equal(entry.Terminal, 'false');
      assert.ok(
        files.some((f) => f.startsWith('/usr/share/icons/') && path.basename(f) === `${entry.Icon}.png`),
        `the icon ${entry.Icon} is installed`,
      );
      const binary = execFileSync('sh', ['-c', `command -v "${entry.Exec.split(' ')[0]}"`], { encoding: 'utf8' }).trim();
      assert.ok(files.includes(binary), `the entry's Exec (${entry.Exec}) is the package's binary, found at ${binary}`);

      const home = freshHome('package');
      const driver = await startDriver(home, {}, binary);
      const browser = await driver.launch();
      try {
        await nodeListShows(browser);
        assert.equal(await browser.execute(() => typeof window.airlockScreens), 'undefined', 'the installed app has no test hooks');
        await (await browser.$(`.node-row[data-node="${WEB}"]`)).doubleClick();
        const key = await activeTabKey(browser);
        await until(browser, 'the shell connected', async () => (await browser.$(`.tab.connected[data-tab="${key}"]`)).isExisting());
        await until(browser, 'a prompt drawn', async () => (await terminalRows(browser, key)).some((row) => row.length > 0));
        await (await browser.$(`.terminal-tab[data-tab="${key}"] .xterm-helper-textarea`)).addValue('echo installed-$((40+2))');
        await browser.keys('Enter');
        await until(browser, 'installed-42 drawn', async () => (await terminalRows(browser, key)).includes('installed-42'));
        await screenshot(browser, 'installed-package');
      } finally {
        await browser.deleteSession();
        await driver.stop();
      }
      // What the app kept in the user's home is the user's own: their settings and WebKit's
      // data for the app, each in the app's own directory, and GTK's settings cache (dconf,
      // the desktop's, which any GTK app opens).
      const kept = ['.config', '.local/share', '.cache']
        .flatMap((dir) => (existsSync(path.join(home, dir)) ? readdirSync(path.join(home, dir)).map((name) => `${dir}/${name}`) : []))
        .sort();
      assert.ok(kept.includes('.config/airlock'), `the user's configuration is there: ${kept.join(' ')}`);
      for (const dir of kept) assert.match(dir, /\/(airlock|dev\.airlock\.desktop)$|^\.cache\/dconf$/, `${dir} in the user's home is the user's own`);
    } finally {
      if (installed()) asRoot('dpkg', '-r', PACKAGE);
    }

    assert.ok(!installed(), 'dpkg says the package is gone');
    for (const file of files) {
      if (!before.has(file)) assert.ok(!existsSync(file), `${file}, installed by the package, is removed`);
    }
    const after = systemPaths();
    const left = [...after].filter((p) => !before.has(p));
    assert.deepEqual(left, [], 'nothing the package brought is left outside the home');
  });
});
