//! The credential commands of the `airlock` binary against the emulator and the real OS
//! keyring: `credentials add` stores keys and points the profile at `credential-process`,
//! whose output the AWS SDK's own profile provider accepts; `credentials import` moves keys
//! out of the credentials file with a backup; `whoami` names the caller; mistakes get errors
//! that say what to do. Keyring entries use names unique to the run and are removed at the end.

use std::path::Path;
use std::process::Stdio;

use airlock_core::aws::{Aws, DirectEndpoint};
use airlock_core::credentials::Vault;
use aws_credential_types::provider::ProvideCredentials;
use ssm_emulator::fleet::{Fleet, DEMO_ACCESS_KEY_ID, DEMO_SECRET_ACCESS_KEY};
use ssm_emulator::{Emulator, EmulatorConfig, RunningEmulator};
use tokio::io::AsyncWriteExt;

struct Cleanup(Vec<String>);

impl Drop for Cleanup {
    fn drop(&mut self) {
        for profile in &self.0 {
            let _ = Vault.remove(profile);
        }
    }
}

fn unique(prefix: &str) -> String {
    format!(
        "{prefix}-{}",
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos()
    )
}

/// Runs `airlock ARGS` with the AWS files in `dir`, pointed at the emulator; returns (success, stdout, stderr).
/// `setsid` detaches the child from any controlling terminal, so prompts read stdin as they
/// would in a script (a developer's terminal is never read by a test). The umask is 000, the
/// most permissive a user could have, so every file the command writes shows whether it is
/// private by itself.
async fn airlock(
    dir: &Path,
    emulator: &RunningEmulator,
    args: &[&str],
    stdin: &str,
) -> (bool, String, String) {
    // The emulator's CA, saved where AWS_CA_BUNDLE names it, as a user would trust a private CA.
    let ca_bundle = dir.join("emulator-ca.pem");
    std::fs::write(&ca_bundle, emulator.ca_pem().expect("the emulator serves TLS")).unwrap();
    let mut child = tokio::process::Command::new("sh")
        .args(["-c", "umask 000 && exec setsid --wait \"$@\"", "sh"])
        .arg(env!("CARGO_BIN_EXE_airlock"))
        .args(args)
        .env("AWS_CONFIG_FILE", dir.join("config"))
        .env("AWS_SHARED_CREDENTIALS_FILE", dir.join("credentials"))
        .env("AWS_ENDPOINT_URL", emulator.endpoint_url())
        .env("AWS_CA_BUNDLE", &ca_bundle)
        .env("AWS_REGION", emulator.region())
        .env("HOME", dir)
        // Everything the engine and the SDK log, for the scan of the run's logs for secrets.
        .env("AIRLOCK_LOG", "debug")
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    input.write_all(stdin.as_bytes()).await.unwrap();
    drop(input);
    let output = child.wait_with_output().await.unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    keep_log(args, &stderr);
    (output.status.success(), String::from_utf8_lossy(&output.stdout).into_owned(), stderr)
}

/// Appends a run's log (stderr) to `$AIRLOCK_TEST_LOGS/cli.log` when scripts/test asks for it.
fn keep_log(args: &[&str], stderr: &str) {
    use std::io::Write;
    let Some(dir) = std::env::var_os("AIRLOCK_TEST_LOGS") else { return };
    let _ = std::fs::create_dir_all(&dir);
    if let Ok(mut file) =
        std::fs::OpenOptions::new().create(true).append(true).open(Path::new(&dir).join("cli.log"))
    {
        let _ = writeln!(file, "== airlock {}\n{stderr}", args.join(" "));
    }
}

fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

async fn emulator() -> RunningEmulator {
    Emulator::start(EmulatorConfig { fleet: Fleet::default_fleet(), ..EmulatorConfig::default() })
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn added_keys_serve_the_sdk_through_credential_process() {
    let emulator = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("config"), "# mine\n[default]\nregion = us-east-1\n").unwrap();
    let profile = unique("airlock-cli-add");
    let _cleanup = Cleanup(vec![profile.clone()]);

    let (ok, out, err) = airlock(
        dir.path(),
        &emulator,
        &["credentials", "add", &profile],
        &format!("{DEMO_ACCESS_KEY_ID}\n{DEMO_SECRET_ACCESS_KEY}\n"),
    )
    .await;
    assert!(ok, "{err}");
    assert!(out.contains("OS keyring"), "{out}");
    let config = std::fs::read_to_string(dir.path().join("config")).unwrap();
    assert!(
        config.starts_with("# mine\n[default]\nregion = us-east-1\n"),
        "the rest of the file is kept: {config}"
    );
    assert!(
        config.contains(&format!(
            "[profile {profile}]\ncredential_process = {} credential-process {profile}",
            env!("CARGO_BIN_EXE_airlock")
        )),
        "{config}"
    );
    assert!(!config.contains(DEMO_SECRET_ACCESS_KEY), "the secret is not in the file");

    // The AWS SDK's own profile provider runs `airlock credential-process` and accepts its output.
    let files = aws_runtime::env_config::file::EnvConfigFiles::builder()
        .with_file(
            aws_runtime::env_config::file::EnvConfigFileKind::Config,
            dir.path().join("config"),
        )
        .build();
    let key = emulator.credentials();
    let (config, network) = DirectEndpoint::new(
        emulator.endpoint_url(),
        emulator.region(),
        (&key.access_key_id, &key.secret_access_key),
        emulator.ca_pem(),
    )
    .sdk_config()
    .unwrap();
    let providers = aws_config::provider_config::ProviderConfig::without_region()
        .with_http_client(network.sdk_http_client());
    let provider = aws_config::profile::ProfileFileCredentialsProvider::builder()
        .configure(&providers)
        .profile_files(files)
        .profile_name(&profile)
        .build();
    let credentials =
        provider.provide_credentials().await.expect("the SDK accepts credential_process output");
    assert_eq!(credentials.access_key_id(), DEMO_ACCESS_KEY_ID);
    let config = config
        .to_builder()
        .credentials_provider(aws_credential_types::provider::SharedCredentialsProvider::new(
            provider,
        ))
        .build();
    let identity = Aws::from_config(&config, network, None).unwrap().whoami().await.unwrap();
    assert!(identity.arn.ends_with(":user/demo"), "{}", identity.arn);

    // And `airlock whoami` says who that is.
    let (ok, out, err) =
        airlock(dir.path(), &emulator, &["whoami", "--profile", &profile], "").await;
    assert!(ok, "{err}");
    assert!(out.contains(&identity.arn) && out.contains(&profile), "{out}");
    let listed = airlock(dir.path(), &emulator, &["credentials", "list"], "").await.1;
    assert!(listed.lines().any(|l| l.starts_with(&profile) && l.contains("keyring")), "{listed}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn import_moves_keys_out_of_the_file_and_keeps_a_backup() {
    let emulator = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    let profile = unique("airlock-cli-import");
    let _cleanup = Cleanup(vec![profile.clone()]);
    let before = format!("[{profile}]\naws_access_key_id = {DEMO_ACCESS_KEY_ID}\naws_secret_access_key = {DEMO_SECRET_ACCESS_KEY}\n\n[other]\naws_access_key_id = AKIAOTHER00000000000\naws_secret_access_key = other-secret-0000000000\n");
    std::fs::write(dir.path().join("credentials"), &before).unwrap();
    std::fs::set_permissions(
        dir.path().join("credentials"),
        std::os::unix::fs::PermissionsExt::from_mode(0o644),
    )
    .unwrap();

    let (ok, out, err) =
        airlock(dir.path(), &emulator, &["credentials", "import", &profile, "--remove"], "").await;
    assert!(ok, "{err}");
    let after = std::fs::read_to_string(dir.path().join("credentials")).unwrap();
    assert_eq!(after, "[other]\naws_access_key_id = AKIAOTHER00000000000\naws_secret_access_key = other-secret-0000000000\n");
    let backup = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(Result::ok)
        .find(|e| e.file_name().to_string_lossy().starts_with("credentials.airlock-backup-"))
        .expect("a backup");
    assert_eq!(std::fs::read_to_string(backup.path()).unwrap(), before);
    assert!(out.contains(&backup.path().display().to_string()), "the backup is named: {out}");
    // The file still holds the other profile's secret: it and the backup are the owner's only,
    // though the file was 0644 before and the command ran under umask 000.
    assert_eq!(mode(&dir.path().join("credentials")), 0o600, "the rewritten credentials file");
    assert_eq!(mode(&backup.path()), 0o600, "the backup");
    assert!(
        std::fs::read_dir(dir.path())
            .unwrap()
            .filter_map(Result::ok)
            .all(|e| !e.file_name().to_string_lossy().ends_with(".tmp")),
        "no temporary file is left"
    );

    let (ok, out, err) =
        airlock(dir.path(), &emulator, &["whoami", "--profile", &profile, "--json"], "").await;
    assert!(ok, "{err}");
    let identity: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(identity["account"], Fleet::default_fleet().account);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_mfa_role_asks_for_its_code_on_the_terminal() {
    let emulator = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    let fleet = Fleet::default_fleet();
    let (base, admin) = (unique("airlock-cli-base"), unique("airlock-cli-admin"));
    let _cleanup = Cleanup(vec![base.clone(), admin.clone()]);
    std::fs::write(
        dir.path().join("config"),
        format!(
            "[profile {base}]\naws_access_key_id = {DEMO_ACCESS_KEY_ID}\naws_secret_access_key = {DEMO_SECRET_ACCESS_KEY}\n\
             [profile {admin}]\nrole_arn = arn:aws:iam::{account}:role/Admin\nsource_profile = {base}\nmfa_serial = {serial}\nrole_session_name = cli\n",
            account = fleet.account,
            serial = fleet.mfa_devices[0].serial
        ),
    )
    .unwrap();
    let (ok, out, err) =
        airlock(dir.path(), &emulator, &["whoami", "--profile", &admin], "123456\n").await;
    assert!(ok, "{err}");
    assert!(
        err.contains(&format!("MFA code for {admin} ({})", fleet.mfa_devices[0].serial)),
        "the prompt names the profile and device: {err}"
    );
    assert!(out.contains(":assumed-role/Admin/cli"), "{out}");
    // The session is kept in the keyring: the next run asks nothing (and has no stdin to answer).
    let (ok, out, err) = airlock(dir.path(), &emulator, &["whoami", "--profile", &admin], "").await;
    assert!(ok && !err.contains("MFA code"), "{err}");
    assert!(out.contains(":assumed-role/Admin/cli"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mistakes_say_what_to_do() {
    let emulator = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    let absent = unique("airlock-cli-absent");
    let cases: [(&[&str], &str, &str); 5] = [
        (&["credential-process", &absent], "", "airlock credentials add"),
        (&["whoami", "--profile", "nope"], "", "there is no profile nope"),
        (&["credentials", "import", &absent, "--keep"], "", "airlock credentials add"),
        (
            &["credentials", "add", &absent],
            "ASIATEMPORARY0000000\nsecret-secret-secret\n",
            "temporary",
        ),
        (&["credentials", "remove", &absent], "", "holds no keys"),
    ];
    for (args, stdin, expected) in cases {
        let (ok, _, err) = airlock(dir.path(), &emulator, args, stdin).await;
        assert!(!ok && err.contains(expected), "airlock {args:?}: {err}");
    }
}
