// The built app against "AWS" (the emulator binary over HTTPS) whose Session Manager
// preferences encrypt sessions with a KMS key: a shell tab opens encrypted, is marked with a
// lock naming the key, and echoes.

import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { emulator, freshHome, screenText, screenshot, startDriver, until } from './harness.mjs';

const WEB = 'i-0a1b2c3d4e5f60001';
const ALIAS = 'alias/session-manager';

const FLEET = `
[preferences]
kmsKeyId = "${ALIAS}"

[[kms_keys]]
id = "1234abcd-12ab-34cd-56ef-1234567890ab"
alias = "${ALIAS}"

[[nodes]]
id = "${WEB}"
name = "web-1"
`;

describe('Airlock on a fleet whose sessions are KMS-encrypted', () => {
  it('opens an encrypted shell tab, marked with a lock that names the key', async () => {
    const home = freshHome('kms');
    const fleet = path.join(home, 'fleet.toml');
    writeFileSync(fleet, FLEET);
    const aws = await emulator(['--fleet', fleet]);
    const driver = await startDriver(home, {
      ...aws.env,
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: 'AKIAEMULATORDEMO0001',
      AWS_SECRET_ACCESS_KEY: 'emulator/demo/secret/key/not/a/real/one/000',
    });
    const browser = await driver.launch();
    try {
      await until(browser, 'the node listed', async () => (await browser.$(`.node-row[data-node="${WEB}"]`)).isExisting());
      await (await browser.$(`.node-row[data-node="${WEB}"]`)).doubleClick();
      const key = await (await browser.$('.tab.active[data-tab]')).getAttribute('data-tab');
      await until(browser, 'the shell connected', async () => (await browser.$(`.tab.connected[data-tab="${key}"]`)).isExisting());
      const lock = await browser.$(`.tab[data-tab="${key}"] .tab-lock`);
      assert.equal(await lock.getAttribute('data-encrypted-with'), ALIAS);
      assert.match(await lock.getAttribute('title'), new RegExp(`KMS key ${ALIAS}`));
      assert.match(await (await browser.$(`.tab[data-tab="${key}"]`)).getAttribute('title'), /This session is encrypted using AWS KMS\./, "the agent's message");
      await until(browser, 'a prompt', async () => (await screenText(browser, key)).trim().length > 0);
      const input = await browser.$(`.terminal-tab[data-tab="${key}"] .xterm-helper-textarea`);
      await input.addValue('echo sealed-$((6*7))');
      await browser.keys('Enter');
      await until(browser, 'the echo on the screen', async () => (await screenText(browser, key)).split('\n').some((line) => line.trim() === 'sealed-42'));
      await screenshot(browser, 'kms-shell');
    } finally {
      await browser.deleteSession();
      await driver.stop();
      aws.stop();
    }
  });
});
