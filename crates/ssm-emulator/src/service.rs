//! What the service knows: the fleet's nodes and key pairs, the Session documents, and every
//! session started (its token, its agent task, its status for DescribeSessions). StartSession,
//! ResumeSession and TerminateSession change it; the data-channel socket finds sessions here
//! (it implements [`SessionDirectory`]).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, SystemTime};

use axum::http::HeaderMap;

use crate::agent::socket::{Attached, SessionDirectory};
use crate::agent::{self, AgentSpec, Ending, SessionHandle, SessionInput};
use crate::documents::{self, Document};
use crate::faults::Faults;
use crate::fleet::{Fleet, NodeSpec};
use crate::identity::Identities;
use crate::metrics::Metrics;
use crate::sigv4::{self, Caller};

/// An API error: AWS's type name, its message and the HTTP status it comes with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// For example `TargetNotConnected`.
    pub code: &'static str,
    /// The message.
    pub message: String,
    /// 400 for the caller's mistakes, 500 for faults.
    pub status: u16,
}

impl ApiError {
    /// A 400 error.
    pub fn client(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError { code, message: message.into(), status: 400 }
    }
}

/// A session's status, as DescribeSessions reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Started, no socket yet.
    Connecting,
    /// A socket is or was attached and the session runs.
    Connected,
    /// TerminateSession was called; the agent is closing it (as on AWS, this comes before
    /// Terminated, which follows once the agent's end has finished).
    Terminating,
    /// Ended normally, by TerminateSession or by the idle timeout.
    Terminated,
    /// The session could not run.
    Failed,
}

impl Status {
    /// The API's name for it.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Connecting => "Connecting",
            Status::Connected => "Connected",
            Status::Terminating => "Terminating",
            Status::Terminated => "Terminated",
            Status::Failed => "Failed",
        }
    }

    /// Whether DescribeSessions lists it under `Active` (else `History`).
    pub fn is_active(self) -> bool {
        matches!(self, Status::Connecting | Status::Connected)
    }
}

/// One session.
#[derive(Debug, Clone)]
pub struct SessionRecord {
    /// Its id.
    pub id: String,
    /// The node.
    pub target: String,
    /// The document.
    pub document: String,
    /// The caller's ARN.
    pub owner: String,
    /// The reason given.
    pub reason: Option<String>,
    /// Its status.
    pub status: Status,
    /// When it started.
    pub start: SystemTime,
    /// When it ended.
    pub end: Option<SystemTime>,
    /// Why it failed.
    pub details: Option<String>,
    token: String,
    spec: AgentSpec,
    handle: Option<SessionHandle>,
}

/// Where to connect: what StartSession and ResumeSession return.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// The session.
    pub session_id: String,
    /// The token for the first frame.
    pub token: String,
    /// The data-channel URL.
    pub stream_url: String,
}

/// The service.
pub struct Service {
    account: String,
    region: String,
    identities: Identities,
    nodes: Vec<NodeSpec>,
    documents: Vec<Document>,
    sessions: Mutex<Vec<SessionRecord>>,
    faults: Arc<Faults>,
    metrics: Arc<Metrics>,
    paced: bool,
    idle_timeout: Duration,
    handler_ready_delay: Duration,
    preferences: crate::fleet::Preferences,
    /// An emulated minute, for the preferences' timeouts.
    minute: Duration,
    kms: Arc<crate::kms::Kms>,
    /// `wss` when serving TLS, else `ws`.
    stream_scheme: &'static str,
    /// The fleet's override of where the data channel is.
    stream_url_base: Option<String>,
    /// Bumped whenever a session ends, for [`Service::session_ended`].
    endings: tokio::sync::watch::Sender<u64>,
    me: Weak<Service>,
}

impl std::fmt::Debug for Service {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Service")
            .field("nodes", &self.nodes.len())
            .field("documents", &self.documents.len())
            .finish_non_exhaustive()
    }
}

impl Service {
    /// The service for `fleet`. `paced` applies the agent's pacing and the message-rate limit;
    /// `tls` says the data channel is served as `wss://`.
    pub fn new(
        fleet: &Fleet,
        faults: Arc<Faults>,
        metrics: Arc<Metrics>,
        paced: bool,
        tls: bool,
    ) -> Arc<Service> {
        let mut documents = documents::standard(&fleet.preferences);
        for spec in &fleet.documents {
            if let Ok(mut document) = Document::parse(&spec.name, &spec.content) {
                document.owner = fleet.account.clone();
                documents.retain(|d| d.name != document.name);
                documents.push(document);
            }
        }
        Arc::new_cyclic(|me| Service {
            account: fleet.account.clone(),
            region: fleet.region.clone(),
            identities: Identities::new(fleet),
            nodes: fleet.all_nodes(),
            documents,
            sessions: Mutex::new(Vec::new()),
            faults,
            metrics,
            paced,
            idle_timeout: Duration::from_secs_f64(
                fleet.minute_seconds * fleet.preferences.idle_minutes() as f64,
            ),
            handler_ready_delay: Duration::from_millis(fleet.handler_ready_delay_ms),
            preferences: fleet.preferences.clone(),
            minute: Duration::from_secs_f64(fleet.minute_seconds),
            kms: Arc::new(crate::kms::Kms::new(&fleet.kms_keys, &fleet.region, &fleet.account)),
            stream_scheme: if tls { "wss" } else { "ws" },
            stream_url_base: fleet.stream_url_base.clone(),
            endings: tokio::sync::watch::Sender::new(0),
            me: me.clone(),
        })
    }

    /// The account id.
    pub fn account(&self) -> &str {
        &self.account
    }

    /// The region.
    pub fn region(&self) -> &str {
        &self.region
    }

    /// The managed nodes.
    pub fn nodes(&self) -> &[NodeSpec] {
        &self.nodes
    }

    /// The Session documents.
    pub fn documents(&self) -> &[Document] {
        &self.documents
    }

    /// A document by name or ARN.
    pub fn document(&self, name_or_arn: &str) -> Option<&Document> {
        let name = name_or_arn.rsplit_once(":document/").map_or(name_or_arn, |(_, n)| n);
        self.documents.iter().find(|d| d.name == name)
    }

    /// Verifies a request's signature for `service`.
    pub fn authenticate(
        &self,
        method: &str,
        path_and_query: &str,
        headers: &HeaderMap,
        body: &[u8],
        service: &str,
    ) -> Result<Caller, sigv4::AuthError> {
        sigv4::verify(
            method,
            path_and_query,
            headers,
            body,
            service,
            &|id| self.identities.key(id),
            self.faults.service_now(),
        )
    }

    /// The account's KMS keys.
    pub fn kms(&self) -> &crate::kms::Kms {
        &self.kms
    }

    /// Key pairs, temporary credentials, MFA devices, SSO logins and their clock.
    pub fn identities(&self) -> &Identities {
        &self.identities
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<SessionRecord>> {
        self.sessions.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// StartSession. `host` is the address the client reached us at (the stream URL's host).
    pub fn start_session(
        &self,
        caller: &Caller,
        target: &str,
        document_name: Option<&str>,
        parameters: &HashMap<String, Vec<String>>,
        reason: Option<String>,
        host: &str,
    ) -> Result<Grant, ApiError> {
        let node = self.nodes.iter().find(|n| n.id == target);
        let Some(node) = node.filter(|n| n.ping_status == "Online") else {
            return Err(ApiError::client(
                "TargetNotConnected",
                format!("{target} is not connected."),
            ));
        };
        let document_name = document_name.unwrap_or("SSM-SessionManagerRunShell");
        let document = self.document(document_name).ok_or_else(|| {
            ApiError::client(
                "InvalidDocument",
                format!("Document with name {document_name} does not exist."),
            )
        })?;
        let properties =
            document.resolve(parameters).map_err(|m| ApiError::client("ValidationException", m))?;
        if reason.as_ref().is_some_and(|r| r.is_empty() || r.chars().count() > 256) {
            return Err(ApiError::client(
                "ValidationException",
                "Reason must be 1 to 256 characters long.",
            ));
        }
        let id = format!("{}-{}", caller.user, &uuid::Uuid::new_v4().simple().to_string()[..17]);
        let spec = AgentSpec {
            session_id: id.clone(),
            agent_version: node.agent_version.clone(),
            session_type: document.session_type.clone(),
            properties,
            shell: node.shell.clone(),
            paced: self.paced,
            idle_timeout: self.idle_timeout,
            handler_ready_delay: self.handler_ready_delay,
            instance_id: node.kms_target_id.clone().unwrap_or_else(|| node.id.clone()),
            kms_key_id: Some(self.preferences.kms_key_id.trim().to_owned())
                .filter(|k| !k.is_empty() && document.session_type != "Port"),
            kms: Some(self.kms.clone()),
            // The caller's SSMSessionRunAs tag wins over the default user, as the service's does.
            run_as: self.preferences.run_as_enabled.then(|| {
                caller
                    .run_as
                    .clone()
                    .unwrap_or_else(|| self.preferences.run_as_default_user.clone())
            }),
            windows: node.platform == "Windows",
            shell_profile: if node.platform == "Windows" {
                self.preferences.shell_profile.windows.clone()
            } else {
                self.preferences.shell_profile.linux.clone()
            },
            max_duration: self
                .preferences
                .max_minutes()
                .map(|m| self.minute * u32::try_from(m).unwrap_or(u32::MAX)),
        };
        let token = new_token();
        self.lock().push(SessionRecord {
            id: id.clone(),
            target: target.to_owned(),
            document: document.name.clone(),
            owner: caller.arn.clone(),
            reason,
            status: Status::Connecting,
            start: SystemTime::now(),
            end: None,
            details: None,
            token: token.clone(),
            spec,
            handle: None,
        });
        Ok(Grant { stream_url: self.stream_url(host, &id), session_id: id, token })
    }

    /// ResumeSession: a new token for a live session, `Ok(None)` (no token) for one that ended.
    pub fn resume_session(&self, session_id: &str, host: &str) -> Result<Option<Grant>, ApiError> {
        if self.faults.get().refuse_resume {
            return Err(ApiError::client(
                "DoesNotExistException",
                format!("Session {session_id} does not exist (refused by fault injection)."),
            ));
        }
        let mut sessions = self.lock();
        let record = sessions.iter_mut().find(|r| r.id == session_id).ok_or_else(|| {
            ApiError::client(
                "DoesNotExistException",
                format!("Session {session_id} does not exist."),
            )
        })?;
        if !record.status.is_active() || record.handle.as_ref().is_some_and(|h| !h.is_running()) {
            return Ok(None);
        }
        record.token = new_token();
        Ok(Some(Grant {
            session_id: session_id.to_owned(),
            token: record.token.clone(),
            stream_url: self.stream_url(host, session_id),
        }))
    }

    /// TerminateSession: ends the session's agent task (which sends channel_closed).
    pub fn terminate_session(&self, session_id: &str) {
        let mut sessions = self.lock();
        if let Some(record) =
            sessions.iter_mut().find(|r| r.id == session_id && r.status.is_active())
        {
            match &record.handle {
                Some(handle) if handle.send(SessionInput::Terminate) => {
                    record.status = Status::Terminating
                }
                _ => {
                    record.status = Status::Terminated;
                    record.end = Some(SystemTime::now());
                }
            }
        }
    }

    /// A copy of every session, oldest first.
    pub fn sessions(&self) -> Vec<SessionRecord> {
        self.lock().clone()
    }

    /// Waits until the session `session_id` has ended on this side (the agent's end of it is
    /// over), and returns its record.
    pub async fn session_ended(&self, session_id: &str) -> SessionRecord {
        let mut endings = self.endings.subscribe();
        loop {
            if let Some(record) =
                self.sessions().into_iter().find(|r| r.id == session_id && !r.status.is_active())
            {
                return record;
            }
            if endings.changed().await.is_err() {
                // The service is gone with its sender; nothing can change any more.
                std::future::pending::<()>().await;
            }
        }
    }

    fn ended(&self, session_id: &str, ending: Ending) {
        self.record_ending(session_id, ending);
        // After the record changed (and its lock is released), so a waiter sees the change.
        self.endings.send_modify(|n| *n += 1);
    }

    fn record_ending(&self, session_id: &str, ending: Ending) {
        let mut sessions = self.lock();
        if let Some(record) = sessions.iter_mut().find(|r| r.id == session_id) {
            record.end = Some(SystemTime::now());
            match ending {
                Ending::Failed(why) => {
                    record.status = Status::Failed;
                    record.details = Some(why);
                }
                Ending::IdleTimeout => {
                    record.status = Status::Terminated;
                    record.details = Some("idle timeout".into());
                }
                Ending::MaxDuration => {
                    record.status = Status::Terminated;
                    record.details = Some("maximum session duration".into());
                }
                Ending::Finished | Ending::Terminated => record.status = Status::Terminated,
            }
        }
    }
}

impl SessionDirectory for Service {
    fn attach(&self, session_id: &str, token: &str) -> Result<Attached, String> {
        let mut sessions = self.lock();
        let record = sessions.iter_mut().find(|r| r.id == session_id).ok_or("no such session")?;
        if record.token != token {
            return Err("the token is not valid for this session".into());
        }
        if !record.status.is_active() {
            return Err("Session is already terminated".into());
        }
        let handle = match &record.handle {
            Some(handle) => handle.clone(),
            None => {
                let me = self.me.clone();
                let id = record.id.clone();
                let handle =
                    agent::spawn(record.spec.clone(), self.metrics.clone(), move |ending| {
                        if let Some(service) = me.upgrade() {
                            service.ended(&id, ending);
                        }
                    });
                record.handle = Some(handle.clone());
                record.status = Status::Connected;
                handle
            }
        };
        Ok(Attached { handle, rate_limited: self.paced })
    }

    fn verify_upgrade(&self, path_and_query: &str, headers: &HeaderMap) -> Result<(), String> {
        if !headers.contains_key("authorization") {
            return Ok(()); // older clients: the token in the first frame is the only credential
        }
        self.authenticate("GET", path_and_query, headers, b"", "ssmmessages")
            .map(|_| ())
            .map_err(|e| e.message())
    }
}

impl Service {
    /// The data channel's URL: on this server, with the scheme it serves, unless the fleet
    /// names another base.
    /// `https` when serving TLS, else `http`: the scheme of pages the service links to.
    pub fn web_scheme(&self) -> &'static str {
        if self.stream_scheme == "wss" {
            "https"
        } else {
            "http"
        }
    }

    fn stream_url(&self, host: &str, session_id: &str) -> String {
        // Reached by AWS's own name (through the AWS-hosts proxy), the data channel is where
        // the service puts it: ssmmessages.<region>.amazonaws.com, beside ssm.<region>.
        let host = match host
            .strip_prefix("ssm.")
            .filter(|rest| rest.ends_with(".amazonaws.com") || rest.ends_with(".amazonaws.com.cn"))
        {
            Some(rest) => format!("ssmmessages.{rest}"),
            None => host.to_owned(),
        };
        let base = self
            .stream_url_base
            .clone()
            .unwrap_or_else(|| format!("{}://{host}", self.stream_scheme));
        format!("{base}/v1/data-channel/{session_id}?role=publish_subscribe")
    }

    /// Refuses `action` on `resource` unless the caller's policies allow it, with the error
    /// the SSM JSON API gives.
    pub fn authorize(
        &self,
        caller: &Caller,
        action: &str,
        resource: Option<&str>,
    ) -> Result<(), ApiError> {
        if caller.allows(action) {
            Ok(())
        } else {
            Err(ApiError::client("AccessDeniedException", caller.refusal(action, resource)))
        }
    }
}

/// An opaque token of 64 characters.
fn new_token() -> String {
    format!("{}{}", uuid::Uuid::new_v4().simple(), uuid::Uuid::new_v4().simple())
}
