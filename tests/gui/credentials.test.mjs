// The built app against "AWS" (the emulator binary, reached through AWS_ENDPOINT_URL as AWS
// would be) with a profile that assumes an MFA-guarded role: the app asks for the code in a
// dialog, and then shows the assumed role and lists the nodes. The MFA session is kept in the
// OS keyring (the run's private GNOME Keyring), so the profile name is unique to the run.

import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { WEB, emulator, freshHome, screenshot, startDriver, until } from './harness.mjs';

describe('Airlock with an MFA role profile', () => {
  it('asks for the MFA code in a dialog, then shows the assumed role and the nodes', async () => {
    const aws = await emulator();
    const profile = `admin-${process.pid}-${Date.now()}`;
    const home = freshHome('mfa');
    mkdirSync(path.join(home, '.aws'));
    writeFileSync(
      path.join(home, '.aws', 'config'),
      [
        '[profile base]',
        'aws_access_key_id = AKIAEMULATORDEMO0001',
        'aws_secret_access_key = emulator/demo/secret/key/not/a/real/one/000',
        'region = us-east-1',
        `[profile ${profile}]`,
        'role_arn = arn:aws:iam::123456789012:role/Admin',
        'source_profile = base',
        'mfa_serial = arn:aws:iam::123456789012:mfa/demo',
        'role_session_name = gui',
        'region = us-east-1',
        '',
      ].join('\n'),
    );
    const driver = await startDriver(home, { ...aws.env, AWS_PROFILE: profile });
    const browser = await driver.launch();
    try {
      await until(browser, 'the MFA prompt', async () => (await browser.$('input[name="mfa-code"]')).isExisting());
      const dialog = await browser.$('[role="dialog"]');
      assert.equal(await dialog.getAttribute('aria-label'), `MFA code for ${profile}`);
      assert.equal(await (await browser.$('select[aria-label="AWS profile"]')).getValue(), profile, 'AWS_PROFILE is the profile shown');
      await (await browser.$('input[name="mfa-code"]')).setValue('12345');
      await (await browser.$('button=Continue')).click();
      assert.match(await (await browser.$('[role="dialog"] [role="alert"]')).getText(), /six digits/);
      await (await browser.$('input[name="mfa-code"]')).setValue('123456');
      await screenshot(browser, 'mfa-prompt');
      await (await browser.$('button=Continue')).click();
      await until(browser, 'the assumed role shown', async () => /:assumed-role\/Admin\/gui$/.test((await (await browser.$('.identity')).getAttribute('title')) ?? ''));
      await until(browser, 'the nodes listed', async () => (await browser.$(`.node-row[data-node="${WEB}"]`)).isExisting());
      assert.equal(await (await browser.$('[role="dialog"]')).isExisting(), false, 'one code was enough');
    } finally {
      await browser.deleteSession();
      await driver.stop();
      aws.stop();
    }
  });
});
