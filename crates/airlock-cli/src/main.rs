//! `airlock`: the command-line front end of `airlock-core`. This file parses arguments and
//! turns each command into engine calls; [`terminal`] owns the raw terminal of `airlock shell`,
//! [`plugin`] the same binary run by the AWS CLI as `session-manager-plugin`, [`copy`] the
//! progress line of `airlock cp`.

mod copy;
mod credentials;
mod plugin;
mod terminal;

use std::collections::HashMap;
use std::future::Future;
use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use airlock_core::aws::{Aws, AwsError, SessionList, StartRequest};
use airlock_core::inventory::{Node, NodeFilter};
use airlock_core::profiles::{Profile, ProfileError, ProfileStore};
use airlock_core::session::{OpenError, TunnelSpec, KEEP_ALIVE_INTERVAL};
use clap::{Args, Parser, Subcommand};

/// Session Manager shells, tunnels and node inventory, without session-manager-plugin.
#[derive(Debug, Parser)]
#[command(name = "airlock", version, about)]
struct Cli {
    /// AWS profile from ~/.aws/config (default: the standard credential chain).
    #[arg(long, global = true)]
    profile: Option<String>,
    /// AWS region (default: the profile's or AWS_REGION).
    #[arg(long, global = true)]
    region: Option<String>,
    #[command(subcommand)]
    command: Commands,
}

#[derive(Debug, Subcommand)]
enum Commands {
    /// List managed nodes.
    Nodes {
        /// Words that must appear in the name, id, IP, platform or a tag.
        #[arg(long)]
        filter: Option<String>,
        /// A tag the node must have: KEY or KEY=VALUE (repeatable).
        #[arg(long = "tag")]
        tags: Vec<String>,
        /// Linux, Windows or MacOS.
        #[arg(long)]
        platform: Option<String>,
        /// Online, ConnectionLost or Inactive.
        #[arg(long)]
        ping: Option<String>,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Open a shell (or any Session document) on a node, by id or Name tag.
    Shell {
        /// Node id or Name tag.
        target: String,
        /// Session document (default: SSM-SessionManagerRunShell).
        #[arg(long)]
        document: Option<String>,
        /// Document parameter KEY=VALUE (repeatable; repeat a key for a list).
        #[arg(long = "parameter")]
        parameters: Vec<String>,
        /// Why, for the audit trail.
        #[arg(long)]
        reason: Option<String>,
    },
    /// Forward a local port to a port on the node or, through it, on another host.
    Forward {
        /// Node id or Name tag.
        target: String,
        #[command(flatten)]
        tunnel: TunnelArgs,
    },
    /// Serve SOCKS5 on a local port; each connection reaches its destination through the node
    /// (names resolved by the node), a session per destination, closed when idle.
    Socks {
        /// Node id or Name tag.
        target: String,
        /// The local port.
        #[arg(long, default_value_t = 1080)]
        port: u16,
        /// The local address to listen on.
        #[arg(long, default_value = "127.0.0.1")]
        bind: IpAddr,
        /// Seconds a destination's session is kept with no connection on it.
        #[arg(long, default_value_t = 60)]
        idle: u64,
    },
    /// Remote Desktop to a Windows node: a tunnel to its RDP port and the system's RDP client
    /// (FreeRDP or Remmina; mstsc on Windows; the Windows App on macOS) started on it.
    Rdp(RdpArgs),
    /// Copy a file to or from a node through Session Manager (no SSH, no S3): one of SOURCE
    /// and DESTINATION is NODE:PATH (NODE an id or Name tag), the other a local path.
    Cp {
        /// The file to copy: a local path, or NODE:PATH.
        source: String,
        /// Where to: NODE:PATH, or a local path (a directory keeps the file's name).
        destination: String,
        /// Why, for the audit trail.
        #[arg(long)]
        reason: Option<String>,
    },
    /// Carry an SSH connection (for ssh's ProxyCommand: `ProxyCommand airlock ssh-proxy %h`).
    SshProxy {
        /// Node id or Name tag.
        target: String,
        /// The SSH port on the node.
        #[arg(long, default_value_t = 22)]
        port: u16,
    },
    /// Saved tunnel profiles (shared with the desktop app).
    #[command(subcommand)]
    Profile(ProfileCommand),
    /// AWS access keys in the OS keyring, and the AWS profiles' kinds.
    #[command(subcommand)]
    Credentials(credentials::CredentialsCommand),
    /// Print PROFILE's keyring-held keys as AWS tools' credential_process expects.
    CredentialProcess {
        /// The AWS profile.
        profile: String,
    },
    /// Check, line by line, what works on the way to Session Manager and what to fix.
    Doctor {
        /// Also check this node (id or Name tag): its ping status and agent version.
        #[arg(long)]
        target: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// List the place's sessions (DescribeSessions): the active ones, or the history.
    Sessions {
        /// Ended sessions instead of active ones (the newest 200).
        #[arg(long)]
        history: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// End a session (TerminateSession), whoever started it.
    Terminate {
        /// The session id, as `airlock sessions` lists it.
        session_id: String,
    },
    /// Show the account and identity of the selected profile (STS GetCallerIdentity).
    Whoami {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Args)]
struct RdpArgs {
    /// Windows node id or Name tag.
    target: String,
    /// The RDP port on the node.
    #[arg(long, default_value_t = airlock_core::rdp::RDP_PORT)]
    port: u16,
    /// The local port (default: any free one).
    #[arg(long, default_value_t = 0)]
    local_port: u16,
    /// The key pair file the instance was launched with (.pem): shows the administrator
    /// password EC2 keeps (GetPasswordData), decrypted here.
    #[arg(long, value_name = "FILE")]
    key: Option<std::path::PathBuf>,
    /// The user the RDP client signs in as.
    #[arg(long, default_value = airlock_core::rdp::ADMINISTRATOR)]
    user: String,
    /// Start no RDP client: only the tunnel (and the password), for a client of your own.
    #[arg(long)]
    no_client: bool,
    /// Why, for the audit trail.
    #[arg(long)]
    reason: Option<String>,
}

#[derive(Debug, Args)]
struct TunnelArgs {
    /// The port on the node (or on --host).
    #[arg(long)]
    port: u16,
    /// The local port (default: any free one).
    #[arg(long, default_value_t = 0)]
    local_port: u16,
    /// A host to reach through the node, such as a database.
    #[arg(long)]
    host: Option<String>,
    /// Sessions to spread connections over (each is paced to about 1 MB/s by the agent).
    #[arg(long, default_value_t = 1)]
    sessions: usize,
    /// The local address to listen on.
    #[arg(long, default_value_t = IpAddr::V4(Ipv4Addr::LOCALHOST))]
    bind: IpAddr,
    /// Keep the tunnel from being closed for being idle (an smux NOP every 30 s; multiplexed
    /// tunnels only). Whoever can reach the local port can then use it for as long as it runs.
    #[arg(long)]
    keep_alive: bool,
}

#[derive(Debug, Subcommand)]
enum ProfileCommand {
    /// List saved profiles.
    List {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Save a tunnel profile (with the global --profile and --region).
    Add {
        /// The profile's name.
        name: String,
        /// Node id or Name tag.
        target: String,
        #[command(flatten)]
        tunnel: TunnelArgs,
        /// Start it when the desktop app starts.
        #[arg(long)]
        auto_start: bool,
        /// One more forward through the same node, started and stopped with the first (a
        /// tunnel group): `[LOCAL:]PORT` for a port on the node, `[LOCAL:]HOST:PORT` for a
        /// host reached through it. Repeat for more.
        #[arg(long = "also", value_name = "[LOCAL:][HOST:]PORT")]
        also: Vec<airlock_core::profiles::Forward>,
    },
    /// Remove a saved profile.
    Remove {
        /// The profile's name.
        name: String,
    },
    /// Start a saved profile's forwards (all of them, or none); Ctrl-C stops them together.
    Run {
        /// The profile's name.
        name: String,
    },
}

/// Anything that stops a command, shown as `airlock: <message>`.
#[derive(Debug)]
enum CliError {
    Aws(AwsError),
    Open(OpenError),
    Group(Box<airlock_core::group::GroupError>),
    Rdp(Box<airlock_core::rdp::RdpError>),
    Profile(ProfileError),
    Copy(airlock_core::transfer::CopyError),
    Usage(String),
    Io(std::io::Error),
}

impl std::fmt::Display for CliError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CliError::Aws(e) => e.fmt(f),
            CliError::Open(e) => e.fmt(f),
            CliError::Group(e) => e.fmt(f),
            CliError::Rdp(e) => e.fmt(f),
            CliError::Profile(e) => e.fmt(f),
            CliError::Copy(e) => e.fmt(f),
            CliError::Usage(m) => f.write_str(m),
            CliError::Io(e) => write!(f, "{e}"),
        }
    }
}

impl From<AwsError> for CliError {
    fn from(e: AwsError) -> Self {
        CliError::Aws(e)
    }
}
impl From<OpenError> for CliError {
    fn from(e: OpenError) -> Self {
        CliError::Open(e)
    }
}
impl From<airlock_core::group::GroupError> for CliError {
    fn from(e: airlock_core::group::GroupError) -> Self {
        CliError::Group(Box::new(e))
    }
}
impl From<airlock_core::rdp::RdpError> for CliError {
    fn from(e: airlock_core::rdp::RdpError) -> Self {
        CliError::Rdp(Box::new(e))
    }
}
impl From<ProfileError> for CliError {
    fn from(e: ProfileError) -> Self {
        CliError::Profile(e)
    }
}
impl From<std::io::Error> for CliError {
    fn from(e: std::io::Error) -> Self {
        CliError::Io(e)
    }
}

fn main() -> ExitCode {
    let mut args = std::env::args_os();
    let as_plugin = args.next().is_some_and(|argv0| plugin::invoked_as_plugin(&argv0));
    let cli = if as_plugin {
        let args: Vec<String> = args.map(|a| a.to_string_lossy().into_owned()).collect();
        Invocation::Plugin(args)
    } else {
        Invocation::Airlock(Cli::parse())
    };
    // AIRLOCK_LOG=debug (or any tracing filter) logs to stderr; quiet by default.
    let filter = airlock_core::logging::filter(std::env::var("AIRLOCK_LOG").ok().as_deref());
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("airlock: cannot start: {e}");
            return ExitCode::FAILURE;
        }
    };
    let outcome = match cli {
        Invocation::Airlock(cli) => runtime.block_on(run(cli)),
        Invocation::Plugin(args) => runtime.block_on(plugin::run(args)),
    };
    match outcome {
        Ok(code) => code,
        Err(error) => {
            eprintln!("airlock: {error}");
            ExitCode::FAILURE
        }
    }
}

/// Which program the binary is being.
enum Invocation {
    /// `airlock`, with its subcommands.
    Airlock(Cli),
    /// `session-manager-plugin`, with the AWS CLI's arguments.
    Plugin(Vec<String>),
}

async fn run(cli: Cli) -> Result<ExitCode, CliError> {
    match cli.command {
        Commands::Nodes { filter, tags, platform, ping, json } => {
            let aws = load(cli.profile.as_deref(), cli.region.as_deref(), false).await?;
            let listing = aws.list_nodes().await?;
            let filter = NodeFilter {
                text: filter.unwrap_or_default(),
                tags: tags.iter().map(|t| NodeFilter::parse_tag(t)).collect(),
                platform,
                ping_status: ping,
            };
            let shown: Vec<&Node> = filter.apply(&listing.nodes).collect();
            print_nodes(&shown, json)?;
            // What the list lacks goes to stderr, once, so a script reading stdout is not disturbed.
            for gap in &listing.gaps {
                eprintln!("airlock: note: {gap}");
            }
            Ok(ExitCode::SUCCESS)
        }
        Commands::Shell { target, document, parameters, reason } => {
            let aws = load(cli.profile.as_deref(), cli.region.as_deref(), false).await?;
            let target = resolve_target(&aws, &target).await?;
            let request = StartRequest {
                target,
                document,
                parameters: parse_parameters(&parameters)?,
                reason,
            };
            terminal::run_shell(aws, request, terminal::Voice::Airlock).await
        }
        Commands::Forward { target, tunnel } => {
            let aws = load(cli.profile.as_deref(), cli.region.as_deref(), false).await?;
            let target = resolve_target(&aws, &target).await?;
            let spec = TunnelSpec {
                target,
                remote_port: tunnel.port,
                remote_host: tunnel.host,
                local: SocketAddr::new(tunnel.bind, tunnel.local_port),
                sessions: tunnel.sessions,
                reason: None,
                document: None,
                keep_alive: tunnel.keep_alive.then_some(KEEP_ALIVE_INTERVAL),
            };
            forward(&aws, &spec).await
        }
        Commands::Socks { target, port, bind, idle } => {
            let aws = load(cli.profile.as_deref(), cli.region.as_deref(), false).await?;
            let spec = airlock_core::socks::SocksSpec {
                target,
                local: SocketAddr::new(bind, port),
                idle: Duration::from_secs(idle.max(1)),
            };
            socks(&aws, &spec).await
        }
        Commands::Rdp(args) => {
            let aws = load(cli.profile.as_deref(), cli.region.as_deref(), false).await?;
            rdp(&aws, args).await
        }
        Commands::Cp { source, destination, reason } => {
            let aws = load(cli.profile.as_deref(), cli.region.as_deref(), false).await?;
            copy::run(&aws, &source, &destination, reason).await
        }
        Commands::SshProxy { target, port } => {
            let aws = load(cli.profile.as_deref(), cli.region.as_deref(), true).await?;
            let target = resolve_target(&aws, &target).await?;
            let mut parameters = HashMap::new();
            parameters.insert("portNumber".to_owned(), vec![port.to_string()]);
            let request = StartRequest {
                target,
                document: Some("AWS-StartSSHSession".into()),
                parameters,
                reason: None,
            };
            let session = aws.open(&request, aws.driver_config()).await?;
            session.bridge(tokio::io::stdin(), tokio::io::stdout()).await?;
            Ok(ExitCode::SUCCESS)
        }
        Commands::Profile(command) => profile(cli.profile, cli.region, command).await,
        Commands::Credentials(command) => credentials::run(command).await,
        Commands::CredentialProcess { profile } => credentials::credential_process(profile).await,
        Commands::Doctor { target, json } => {
            doctor(cli.profile.as_deref(), cli.region.as_deref(), target, json).await
        }
        Commands::Sessions { history, json } => {
            let aws = load(cli.profile.as_deref(), cli.region.as_deref(), false).await?;
            let which = if history { SessionList::History } else { SessionList::Active };
            let sessions = aws.list_sessions(which, 200).await?;
            if json {
                let value: Vec<serde_json::Value> = sessions
                    .iter()
                    .map(|s| serde_json::json!({"id": s.id, "target": s.target, "owner": s.owner, "status": s.status, "document": s.document,
                        "reason": s.reason, "started": s.started_text(), "ended": s.ended_text()}))
                    .collect();
                println!("{}", serde_json::to_string_pretty(&value).unwrap_or_default());
            } else if sessions.is_empty() {
                eprintln!(
                    "No {} sessions in {}.",
                    if history { "ended" } else { "active" },
                    aws.region()
                );
            } else {
                println!(
                    "{:<40} {:<22} {:<12} {:<21} {:<30} REASON",
                    "SESSION", "TARGET", "STATUS", "STARTED", "OWNER"
                );
                for s in &sessions {
                    println!(
                        "{:<40} {:<22} {:<12} {:<21} {:<30} {}",
                        s.id,
                        s.target,
                        s.status,
                        s.started_text(),
                        s.owner,
                        s.reason.as_deref().unwrap_or("")
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Commands::Terminate { session_id } => {
            let aws = load(cli.profile.as_deref(), cli.region.as_deref(), false).await?;
            aws.terminate_session(&session_id).await?;
            eprintln!("Terminated {session_id}.");
            Ok(ExitCode::SUCCESS)
        }
        Commands::Whoami { json } => {
            let aws = load(cli.profile.as_deref(), cli.region.as_deref(), false).await?;
            let identity = aws.whoami().await?;
            if json {
                println!(
                    "{}",
                    serde_json::json!({"account": identity.account, "arn": identity.arn, "profile": aws.profile(), "region": aws.region()})
                );
            } else {
                println!(
                    "Account  {}\nARN      {}\nProfile  {}\nRegion   {}",
                    identity.account,
                    identity.arn,
                    aws.profile().unwrap_or("(default chain)"),
                    aws.region()
                );
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// AWS clients for the chosen profile and region; prompts are answered on the terminal
/// (`stdin_is_data`: stdin carries the session, so answers come from the terminal only).
async fn load(
    profile: Option<&str>,
    region: Option<&str>,
    stdin_is_data: bool,
) -> Result<Aws, AwsError> {
    Aws::load(profile, region, Arc::new(credentials::TerminalPrompter { stdin_is_data })).await
}

async fn forward(aws: &Aws, spec: &TunnelSpec) -> Result<ExitCode, CliError> {
    run_group(aws, std::slice::from_ref(spec)).await
}

/// Ctrl-C, listened for from now on (a future of `tokio::signal::ctrl_c` listens only once
/// polled, and a Ctrl-C before that would end the process).
fn ctrl_c_listened() -> std::pin::Pin<Box<impl Future<Output = std::io::Result<()>>>> {
    let mut interrupted = Box::pin(tokio::signal::ctrl_c());
    let _ =
        interrupted.as_mut().poll(&mut std::task::Context::from_waker(std::task::Waker::noop()));
    interrupted
}

/// Runs forwards (one, or a saved profile's group) until Ctrl-C, or until one ends (the rest
/// are then stopped with it).
async fn run_group(aws: &Aws, specs: &[TunnelSpec]) -> Result<ExitCode, CliError> {
    if let Some(spec) = specs.first() {
        warn_if_exposed(spec.local.ip());
    }
    let group = aws.forward_group(specs).await?;
    // Listening for Ctrl-C before the addresses are printed: whoever reads them may interrupt.
    let interrupted = ctrl_c_listened();
    for (local, destination) in group.lines() {
        println!("Listening on {local}");
        eprintln!("Forwarding {local} to {destination}.");
    }
    let sessions = specs.first().map_or(1, |s| s.sessions);
    match specs.len() {
        1 => eprintln!("Over {sessions} session(s). Press Ctrl-C to stop."),
        n => eprintln!(
            "{n} forwards, started together, over {sessions} session(s) each. Press Ctrl-C to stop them all."
        ),
    }
    if specs.first().is_some_and(|s| s.keep_alive.is_some()) {
        eprintln!("Keep-alive is on: the tunnels are not closed for being idle, so whoever can reach their local ports can use them until you stop them.");
    }
    std::io::stdout().flush()?;
    let reason = tokio::select! {
        _ = interrupted => None,
        reason = group.wait() => Some(reason),
    };
    let forwards = group.forward_figures();
    group.stop().await;
    for forward in &forwards {
        let figures = forward.figures;
        eprintln!(
            "Stopped {} ({}): {} connections, {} bytes up, {} bytes down.",
            forward.local_address,
            forward.destination,
            figures.total_connections,
            figures.bytes_up,
            figures.bytes_down
        );
        if figures.turned_away_connections > 0 {
            eprintln!(
                "{} connections were turned away: a session carries at most {} at once.",
                figures.turned_away_connections,
                airlock_core::tunnel::MAX_CONNECTIONS
            );
        }
    }
    match reason {
        None => Ok(ExitCode::SUCCESS),
        Some(reason) => Err(CliError::Usage(format!("the tunnel ended: {reason}"))),
    }
}

/// `airlock rdp`: the tunnel to the node's RDP port, the password when a key file is given,
/// and the RDP client started on the tunnel; runs until the client exits, or Ctrl-C.
async fn rdp(aws: &Aws, args: RdpArgs) -> Result<ExitCode, CliError> {
    use airlock_core::rdp::RdpClient;
    let node = aws.windows_node(&args.target).await?;
    let password = match &args.key {
        Some(key) => Some(aws.windows_password(&node.id, key).await?),
        None => None,
    };
    let client = if args.no_client { None } else { RdpClient::find() };
    let spec = TunnelSpec {
        target: node.id.clone(),
        remote_port: args.port,
        remote_host: None,
        local: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), args.local_port),
        sessions: 1,
        reason: args.reason.clone(),
        document: None,
        keep_alive: None,
    };
    let tunnel = aws.forward(&spec).await?;
    let interrupted = ctrl_c_listened();
    println!("Listening on {}", tunnel.local_addr());
    eprintln!("Forwarding {} to {} port {}.", tunnel.local_addr(), node.id, args.port);
    if let Some(password) = &password {
        eprintln!("Password for {}: {}", args.user, password.reveal());
    }
    let mut launched = None;
    match client {
        Some(client) => {
            let launch = client.launch(tunnel.local_addr(), &args.user);
            eprintln!("Starting {}: {}", client.name(), launch.display());
            match tokio::process::Command::new(&launch.program).args(&launch.args).spawn() {
                Ok(child) => launched = Some(child),
                Err(e) => eprintln!("Could not start {}: {e}. Connect your RDP client to {}.", launch.program.display(), tunnel.local_addr()),
            }
        }
        None if args.no_client => {}
        None => eprintln!(
            "No RDP client on the PATH (xfreerdp, remmina): install FreeRDP or Remmina, or connect yours to {}.",
            tunnel.local_addr()
        ),
    }
    eprintln!("Press Ctrl-C to stop the tunnel.");
    std::io::stdout().flush()?;
    let client_exited = async {
        match launched.as_mut() {
            Some(child) => child.wait().await.ok(),
            None => std::future::pending().await,
        }
    };
    let ended = tokio::select! {
        _ = interrupted => None,
        status = client_exited => {
            let status = status.map_or_else(|| "its status unknown".to_owned(), |s| s.to_string());
            eprintln!("The RDP client exited ({status}); stopping the tunnel.");
            None
        }
        reason = tunnel.wait() => Some(reason),
    };
    tunnel.stop().await;
    match ended {
        None => Ok(ExitCode::SUCCESS),
        Some(reason) => Err(CliError::Usage(format!("the tunnel ended: {reason}"))),
    }
}

async fn socks(aws: &Aws, spec: &airlock_core::socks::SocksSpec) -> Result<ExitCode, CliError> {
    use airlock_core::socks::SocksEvent;
    warn_if_exposed(spec.local.ip());
    let mut proxy = aws.socks(spec).await?;
    println!("SOCKS5 proxy on {}", proxy.local_addr());
    eprintln!(
        "Connections to {} reach their destinations through {} (names are resolved there). Press Ctrl-C to stop.",
        proxy.local_addr(),
        spec.target
    );
    std::io::stdout().flush()?;
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => break,
            event = proxy.next_event() => match event {
                Some(SocksEvent::Opened(to)) => eprintln!("{to}: session opened"),
                Some(SocksEvent::Failed(to, why)) => eprintln!("{to}: not reached: {why}"),
                Some(SocksEvent::Closed(to)) => eprintln!("{to}: idle, session closed"),
                None => break,
            },
        }
    }
    let figures = proxy.figures();
    proxy.stop().await;
    eprintln!(
        "Stopped: {} connections, {} bytes up, {} bytes down.",
        figures.total_connections, figures.bytes_up, figures.bytes_down
    );
    Ok(ExitCode::SUCCESS)
}

/// Says on stderr when a tunnel will listen where other machines can reach it.
fn warn_if_exposed(bind: IpAddr) {
    if let Some(warning) = airlock_core::tunnel::exposure_warning(bind) {
        eprintln!("Warning: {warning}");
    }
}

async fn profile(
    aws_profile: Option<String>,
    region: Option<String>,
    command: ProfileCommand,
) -> Result<ExitCode, CliError> {
    let store = ProfileStore::default_location()?;
    match command {
        ProfileCommand::List { json } => {
            let profiles = store.load()?;
            if json {
                let value: Vec<serde_json::Value> = profiles
                    .iter()
                    .map(|p| {
                        serde_json::json!({"name": p.name, "aws_profile": p.aws_profile, "region": p.region, "target": p.target,
                            "remote_port": p.remote_port, "remote_host": p.remote_host, "local_port": p.local_port,
                            "bind": p.bind.to_string(), "sessions": p.sessions, "auto_start": p.auto_start, "keep_alive": p.keep_alive,
                            "more_forwards": p.more_forwards.iter().map(|f| serde_json::json!({"remote_port": f.remote_port, "remote_host": f.remote_host, "local_port": f.local_port})).collect::<Vec<_>>()})
                    })
                    .collect();
                println!("{}", serde_json::to_string_pretty(&value).unwrap_or_default());
            } else if profiles.is_empty() {
                eprintln!("No saved profiles in {}. Add one with `airlock profile add NAME TARGET --port PORT`.", store.path().display());
            } else {
                println!(
                    "{:<20} {:<22} {:<28} {:<16} {:<8} AUTO",
                    "NAME", "TARGET", "DESTINATION", "LOCAL", "SESSIONS"
                );
                for p in &profiles {
                    for (i, forward) in p.forwards().iter().enumerate() {
                        let destination = format!(
                            "{}:{}",
                            forward.remote_host.as_deref().unwrap_or("(node)"),
                            forward.remote_port
                        );
                        let local = SocketAddr::new(p.bind, forward.local_port).to_string();
                        if i == 0 {
                            println!(
                                "{:<20} {:<22} {:<28} {:<16} {:<8} {}",
                                p.name,
                                p.target,
                                destination,
                                local,
                                p.sessions,
                                if p.auto_start { "yes" } else { "no" }
                            );
                        } else {
                            println!("{:<20} {:<22} {destination:<28} {local:<16}", "", "  + also");
                        }
                    }
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        ProfileCommand::Add { name, target, tunnel, auto_start, also } => {
            let profile = Profile {
                name,
                aws_profile,
                region,
                target,
                remote_port: tunnel.port,
                remote_host: tunnel.host,
                local_port: tunnel.local_port,
                bind: tunnel.bind,
                sessions: tunnel.sessions,
                auto_start,
                keep_alive: tunnel.keep_alive,
                more_forwards: also,
            };
            store.add(profile.clone())?;
            eprintln!("Saved profile {} in {}.", profile.name, store.path().display());
            warn_if_exposed(profile.bind);
            Ok(ExitCode::SUCCESS)
        }
        ProfileCommand::Remove { name } => {
            store.remove(&name)?;
            eprintln!("Removed profile {name}.");
            Ok(ExitCode::SUCCESS)
        }
        ProfileCommand::Run { name } => {
            let saved = store.get(&name)?;
            let aws = load(
                aws_profile.or(saved.aws_profile.clone()).as_deref(),
                region.or(saved.region.clone()).as_deref(),
                false,
            )
            .await?;
            let mut specs = saved.tunnel_specs();
            let target = resolve_target(&aws, &saved.target).await?;
            for spec in &mut specs {
                spec.target = target.clone();
            }
            run_group(&aws, &specs).await
        }
    }
}

async fn doctor(
    profile: Option<&str>,
    region: Option<&str>,
    target: Option<String>,
    json: bool,
) -> Result<ExitCode, CliError> {
    let report = match load(profile, region, false).await {
        Ok(aws) => {
            // A Name tag is resolved if the list can be read; else the check says what is wrong.
            let target = match target {
                Some(target) => Some(resolve_target(&aws, &target).await.unwrap_or(target)),
                None => None,
            };
            aws.doctor(target.as_deref()).await
        }
        Err(error) => airlock_core::doctor::Report {
            checks: vec![airlock_core::doctor::Check::from_load_error(&error)],
        },
    };
    if json {
        println!("{}", serde_json::to_string_pretty(&report).unwrap_or_default());
    } else {
        use airlock_core::doctor::Verdict;
        let width = report.checks.iter().map(|c| c.title.chars().count()).max().unwrap_or(0);
        for check in &report.checks {
            let mark = match check.verdict {
                Verdict::Ok => "ok  ",
                Verdict::Warning => "warn",
                Verdict::Failed => "FAIL",
                Verdict::Skipped => "skip",
            };
            println!("{mark}  {:<width$}  {}", check.title, check.detail);
            if let Some(fix) = &check.fix {
                println!("      {:<width$}  fix: {fix}", "");
            }
        }
    }
    Ok(if report.healthy() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

/// A node id as given, or the id of the node whose Name tag is `target`.
async fn resolve_target(aws: &Aws, target: &str) -> Result<String, CliError> {
    aws.resolve_target(target).await.map_err(|error| match error {
        airlock_core::inventory::TargetError::Aws(e) => CliError::Aws(e),
        other => CliError::Usage(format!("{other} (`airlock nodes` lists them)")),
    })
}

/// `KEY=VALUE` pairs into the document's parameter lists.
fn parse_parameters(pairs: &[String]) -> Result<HashMap<String, Vec<String>>, CliError> {
    let mut parameters: HashMap<String, Vec<String>> = HashMap::new();
    for pair in pairs {
        let (key, value) =
            pair.split_once('=').filter(|(k, _)| !k.is_empty()).ok_or_else(|| {
                CliError::Usage(format!(
                    "--parameter {pair:?} must be KEY=VALUE, for example --parameter portNumber=80"
                ))
            })?;
        parameters.entry(key.to_owned()).or_default().push(value.to_owned());
    }
    Ok(parameters)
}

fn print_nodes(nodes: &[&Node], json: bool) -> Result<(), CliError> {
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    if json {
        serde_json::to_writer_pretty(&mut out, nodes).map_err(|e| CliError::Io(e.into()))?;
        writeln!(out)?;
    } else {
        writeln!(
            out,
            "{:<24} {:<22} {:<8} {:<15} {:<12} {:<16} TAGS",
            "NAME", "ID", "PLATFORM", "PING", "AGENT", "IP"
        )?;
        for node in nodes {
            let tags: Vec<String> = node
                .tags
                .iter()
                .filter(|(k, _)| *k != "Name")
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            writeln!(
                out,
                "{:<24} {:<22} {:<8} {:<15} {:<12} {:<16} {}",
                node.name,
                node.id,
                node.platform_type,
                node.ping_status,
                node.agent_version,
                node.ip_address,
                tags.join(",")
            )?;
        }
    }
    out.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_group_repeated_keys() {
        let parsed =
            parse_parameters(&["portNumber=80".into(), "cmd=a=b".into(), "cmd=c".into()]).unwrap();
        assert_eq!(parsed["portNumber"], vec!["80"]);
        assert_eq!(parsed["cmd"], vec!["a=b", "c"]);
        assert!(parse_parameters(&["novalue".into()])
            .unwrap_err()
            .to_string()
            .contains("KEY=VALUE"));
        assert!(parse_parameters(&["=x".into()]).is_err());
    }
}
