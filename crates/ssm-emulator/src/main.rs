//! `ssm-emulator`: serves the SSM and EC2 APIs and the data channel on one address, prints the
//! fleet and the key pair to use, and runs until interrupted.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use ssm_emulator::fleet::Fleet;
use ssm_emulator::{Emulator, EmulatorConfig};

/// The far side of AWS Systems Manager Session Manager, for tests and demos.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// Address to serve the APIs and the data channel on.
    #[arg(long, default_value = "127.0.0.1:8790")]
    listen: SocketAddr,
    /// Fleet file (TOML); the default fleet when absent.
    #[arg(long)]
    fleet: Option<PathBuf>,
    /// Remove the agent's pacing and the service's message-rate limit.
    #[arg(long)]
    unpaced: bool,
    /// Serve HTTPS and wss:// under a certificate authority made at start (the default).
    #[arg(long, conflicts_with = "plaintext")]
    tls: bool,
    /// Serve plain HTTP and ws://, for debugging (AWS itself is never reached this way).
    #[arg(long)]
    plaintext: bool,
    /// Where to write the CA certificate (PEM) for AWS_CA_BUNDLE [default: a file in the
    /// temporary directory, named after the port].
    #[arg(long)]
    ca_file: Option<PathBuf>,
    /// Also serve an HTTP proxy through which AWS's own host names (ssm.<region>.amazonaws.com,
    /// kms…, ssmmessages…) reach the emulator: for clients that take no endpoint override,
    /// such as the official plugin's KMS client.
    #[arg(long, conflicts_with = "plaintext")]
    aws_hosts_proxy: bool,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let fleet = match &args.fleet {
        Some(path) => match Fleet::from_file(path) {
            Ok(fleet) => fleet,
            Err(error) => {
                eprintln!("ssm-emulator: {error}");
                return ExitCode::from(2);
            }
        },
        None => Fleet::default_fleet(),
    };
    let nodes = fleet.all_nodes();
    let tls = !args.plaintext;
    let name = match args.listen.port() {
        0 => format!("ssm-emulator-pid{}-ca.pem", std::process::id()),
        port => format!("ssm-emulator-{port}-ca.pem"),
    };
    let ca_file = args.ca_file.clone().unwrap_or_else(|| std::env::temp_dir().join(name));
    let config = EmulatorConfig {
        listen: args.listen,
        fleet: fleet.clone(),
        paced: !args.unpaced,
        tls,
        ca_file: tls.then(|| ca_file.clone()),
        server_names: Vec::new(),
        aws_hosts_proxy: args.aws_hosts_proxy,
        ..EmulatorConfig::default()
    };
    let running = match Emulator::start(config).await {
        Ok(running) => running,
        Err(error) => {
            eprintln!("ssm-emulator: {error}");
            return ExitCode::from(1);
        }
    };
    println!(
        "ssm-emulator serving on {} ({})",
        running.endpoint_url(),
        if args.unpaced { "unpaced" } else { "paced like the agent" }
    );
    println!();
    println!("{:<22} {:<16} {:<14} {:<8} {:<12} TAGS", "NODE", "NAME", "PING", "PLATFORM", "AGENT");
    for node in nodes.iter().take(20) {
        let tags: Vec<String> = node.tags.iter().map(|(k, v)| format!("{k}={v}")).collect();
        println!(
            "{:<22} {:<16} {:<14} {:<8} {:<12} {}",
            node.id,
            node.name,
            node.ping_status,
            node.platform,
            node.agent_version,
            tags.join(",")
        );
    }
    if nodes.len() > 20 {
        println!("... and {} more", nodes.len() - 20);
    }
    println!();
    println!("Point AWS clients here with:");
    println!("  export AWS_ENDPOINT_URL={}", running.endpoint_url());
    if tls {
        println!("  export AWS_CA_BUNDLE={}", ca_file.display());
    }
    if let Some(proxy) = running.proxy_url() {
        println!("Or by AWS's own host names, with no AWS_ENDPOINT_URL:");
        println!(
            "  export HTTPS_PROXY={proxy} AWS_CA_BUNDLE={} SSL_CERT_FILE={}",
            ca_file.display(),
            ca_file.display()
        );
    }
    println!("  export AWS_REGION={}", fleet.region);
    for key in &fleet.credentials {
        println!("  export AWS_ACCESS_KEY_ID={}", key.access_key_id);
        println!("  export AWS_SECRET_ACCESS_KEY={}", key.secret_access_key);
    }
    println!(
        "Faults: curl -X POST {}/_emulator/faults -d '{{\"to_client\":{{\"drop\":0.01}}}}'",
        running.endpoint_url()
    );
    let _ = tokio::signal::ctrl_c().await;
    ExitCode::SUCCESS
}
