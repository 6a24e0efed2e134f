//! The emulator's APIs through the real `aws-sdk-ssm` and `aws-sdk-ec2` clients (SigV4 signing,
//! JSON and XML parsing, pagination, error codes), and the whole path from StartSession to a
//! shell over the data channel with Airlock's driver.

use std::time::Duration;

use airlock_core::aws::DirectEndpoint;
use airlock_core::datachannel::{
    self, Command, DriverConfig, Ending, Endpoint, Notice, Resume, ResumeFuture,
};
use airlock_core::network::Network;
use aws_credential_types::Credentials;
use aws_sdk_ssm::types::{InstanceInformationStringFilter, SessionState};
use ssm_emulator::fleet::{Fleet, DEMO_ACCESS_KEY_ID, DEMO_SECRET_ACCESS_KEY};
use ssm_emulator::{Emulator, EmulatorConfig, RunningEmulator};

/// A guard against a hung test, not a performance limit.
const HANG_GUARD: Duration = Duration::from_secs(120);

async fn start(extra_nodes: usize) -> RunningEmulator {
    let mut fleet = Fleet::default_fleet();
    fleet.extra_nodes = extra_nodes;
    Emulator::start(EmulatorConfig { fleet, paced: false, ..EmulatorConfig::default() })
        .await
        .unwrap()
}

/// The SDK reaching the emulator as it reaches AWS: HTTPS, trusting the emulator's own CA,
/// signing with the demo key id and `secret`; and the network its data channels use.
fn far_side(
    emulator: &RunningEmulator,
    key_id: &str,
    secret: &str,
) -> (aws_config::SdkConfig, Network) {
    DirectEndpoint::new(
        emulator.endpoint_url(),
        emulator.region(),
        (key_id, secret),
        emulator.ca_pem(),
    )
    .sdk_config()
    .unwrap()
}

fn sdk_config(emulator: &RunningEmulator, secret: &str) -> aws_config::SdkConfig {
    far_side(emulator, DEMO_ACCESS_KEY_ID, secret).0
}

fn driver(emulator: &RunningEmulator) -> DriverConfig {
    DriverConfig::new(far_side(emulator, DEMO_ACCESS_KEY_ID, DEMO_SECRET_ACCESS_KEY).1)
}

fn ssm(emulator: &RunningEmulator) -> aws_sdk_ssm::Client {
    aws_sdk_ssm::Client::new(&sdk_config(emulator, DEMO_SECRET_ACCESS_KEY))
}

fn ec2(emulator: &RunningEmulator) -> aws_sdk_ec2::Client {
    aws_sdk_ec2::Client::new(&sdk_config(emulator, DEMO_SECRET_ACCESS_KEY))
}

fn code<E: aws_sdk_ssm::error::ProvideErrorMetadata>(error: &E) -> String {
    error.code().unwrap_or("none").to_owned()
}

#[tokio::test]
async fn describe_instance_information_pages_and_filters() {
    let emulator = start(120).await;
    let client = ssm(&emulator);
    let mut ids = Vec::new();
    let mut pages = 0;
    let mut token = None;
    loop {
        let page = client
            .describe_instance_information()
            .max_results(50)
            .set_next_token(token)
            .send()
            .await
            .unwrap();
        pages += 1;
        ids.extend(
            page.instance_information_list()
                .iter()
                .filter_map(|i| i.instance_id().map(str::to_owned)),
        );
        token = page.next_token().map(str::to_owned);
        if token.is_none() {
            break;
        }
    }
    assert_eq!(pages, 3);
    let expected: Vec<String> = emulator.service().nodes().iter().map(|n| n.id.clone()).collect();
    assert_eq!(ids, expected);

    let lost = client
        .describe_instance_information()
        .filters(
            InstanceInformationStringFilter::builder()
                .key("PingStatus")
                .values("ConnectionLost")
                .build()
                .unwrap(),
        )
        .max_results(50)
        .send()
        .await
        .unwrap();
    assert!(lost
        .instance_information_list()
        .iter()
        .all(|i| i.ping_status().map(|p| p.as_str()) == Some("ConnectionLost")));
    assert!(lost
        .instance_information_list()
        .iter()
        .any(|i| i.instance_id() == Some("i-0a1b2c3d4e5f60003")));

    let tagged = client
        .describe_instance_information()
        .filters(
            InstanceInformationStringFilter::builder()
                .key("tag:team")
                .values("platform")
                .build()
                .unwrap(),
        )
        .max_results(50)
        .send()
        .await
        .unwrap();
    assert!(tagged
        .instance_information_list()
        .iter()
        .any(|i| i.instance_id() == Some("mi-0123456789abcdef0")));
    assert!(tagged
        .instance_information_list()
        .iter()
        .all(|i| i.instance_id() != Some("i-0a1b2c3d4e5f60001")));

    let onprem = client
        .list_tags_for_resource()
        .resource_type("ManagedInstance".into())
        .resource_id("mi-0123456789abcdef0")
        .send()
        .await
        .unwrap();
    assert!(onprem.tag_list().iter().any(|t| t.key() == "Name" && t.value() == "onprem-build"));

    let too_many = client.describe_instance_information().max_results(51).send().await.unwrap_err();
    assert_eq!(code(&too_many), "ValidationException");
    let bad_token =
        client.describe_instance_information().next_token("not-a-token").send().await.unwrap_err();
    assert_eq!(code(&bad_token), "InvalidNextToken");
    let bad_key = client
        .describe_instance_information()
        .filters(
            InstanceInformationStringFilter::builder()
                .key("Colour")
                .values("blue")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&bad_key), "InvalidFilterKey");
}

#[tokio::test]
async fn describe_instances_answers_in_ec2_xml_with_tags_and_pages() {
    let emulator = start(30).await;
    let client = ec2(&emulator);
    let mut instances = Vec::new();
    let mut token = None;
    let mut pages = 0;
    loop {
        let page =
            client.describe_instances().max_results(10).set_next_token(token).send().await.unwrap();
        pages += 1;
        instances.extend(page.reservations().iter().flat_map(|r| r.instances().to_vec()));
        token = page.next_token().map(str::to_owned);
        if token.is_none() {
            break;
        }
    }
    let ec2_nodes: Vec<_> =
        emulator.service().nodes().iter().filter(|n| n.id.starts_with("i-")).collect();
    assert_eq!(instances.len(), ec2_nodes.len(), "every EC2 node and no mi- node");
    assert_eq!(pages, ec2_nodes.len().div_ceil(10));
    let web = instances.iter().find(|i| i.instance_id() == Some("i-0a1b2c3d4e5f60001")).unwrap();
    assert_eq!(web.private_ip_address(), Some("10.0.1.10"));
    assert_eq!(web.state().and_then(|s| s.name()).map(|n| n.as_str()), Some("running"));
    let tag = |key: &str| {
        web.tags().iter().find(|t| t.key() == Some(key)).and_then(|t| t.value()).map(str::to_owned)
    };
    assert_eq!(tag("Name").as_deref(), Some("web-1"));
    assert_eq!(tag("env").as_deref(), Some("prod"));

    let by_tag = client
        .describe_instances()
        .filters(aws_sdk_ec2::types::Filter::builder().name("tag:Name").values("legacy-*").build())
        .send()
        .await
        .unwrap();
    let names: Vec<_> = by_tag
        .reservations()
        .iter()
        .flat_map(|r| r.instances())
        .filter_map(|i| i.instance_id())
        .collect();
    assert_eq!(names, ["i-0a1b2c3d4e5f60002"]);

    let by_id =
        client.describe_instances().instance_ids("i-0a1b2c3d4e5f60003").send().await.unwrap();
    assert_eq!(by_id.reservations().len(), 1);
    let missing =
        client.describe_instances().instance_ids("i-0fffffffffffffff0").send().await.unwrap_err();
    assert_eq!(
        aws_sdk_ec2::error::ProvideErrorMetadata::code(&missing),
        Some("InvalidInstanceID.NotFound")
    );

    let stranger = aws_sdk_ec2::Client::new(&sdk_config(&emulator, "wrong-secret"));
    let refused = stranger.describe_instances().send().await.unwrap_err();
    assert_eq!(
        aws_sdk_ec2::error::ProvideErrorMetadata::code(&refused),
        Some("SignatureDoesNotMatch")
    );
}

#[tokio::test]
async fn start_session_refuses_what_the_service_refuses() {
    let emulator = start(0).await;
    let client = ssm(&emulator);
    let lost = client.start_session().target("i-0a1b2c3d4e5f60003").send().await.unwrap_err();
    assert!(lost.as_service_error().is_some_and(|e| e.is_target_not_connected()), "{lost:?}");
    let unknown = client.start_session().target("i-0123456789abcdef9").send().await.unwrap_err();
    assert!(unknown.as_service_error().is_some_and(|e| e.is_target_not_connected()));
    let document = client
        .start_session()
        .target("i-0a1b2c3d4e5f60001")
        .document_name("No-Such-Document")
        .send()
        .await
        .unwrap_err();
    assert!(document.as_service_error().is_some_and(|e| e.is_invalid_document()), "{document:?}");
    let port = client
        .start_session()
        .target("i-0a1b2c3d4e5f60001")
        .document_name("AWS-StartPortForwardingSession")
        .parameters("portNumber", vec!["99999".into()])
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&port), "ValidationException");
    assert!(aws_sdk_ssm::error::ProvideErrorMetadata::message(&port)
        .unwrap()
        .contains("portNumber"));
    let host = client
        .start_session()
        .target("i-0a1b2c3d4e5f60001")
        .document_name("AWS-StartPortForwardingSessionToRemoteHost")
        .send()
        .await
        .unwrap_err();
    assert!(aws_sdk_ssm::error::ProvideErrorMetadata::message(&host).unwrap().contains("host"));
}

/// Changes the body after the SDK signed it, as a man in the middle would.
#[derive(Debug)]
struct Tamper;

impl aws_sdk_ssm::config::Intercept for Tamper {
    fn name(&self) -> &'static str {
        "Tamper"
    }

    fn modify_before_transmit(
        &self,
        context: &mut aws_sdk_ssm::config::interceptors::BeforeTransmitInterceptorContextMut<'_>,
        _: &aws_sdk_ssm::config::RuntimeComponents,
        _: &mut aws_sdk_ssm::config::ConfigBag,
    ) -> Result<(), aws_sdk_ssm::error::BoxError> {
        *context.request_mut().body_mut() =
            aws_smithy_types::body::SdkBody::from(r#"{"Target":"i-0a1b2c3d4e5f60002"}"#);
        Ok(())
    }
}

#[tokio::test]
async fn a_tampered_or_unknown_signature_is_refused() {
    let emulator = start(0).await;
    let tampering = aws_sdk_ssm::Client::from_conf(
        aws_sdk_ssm::config::Builder::from(&sdk_config(&emulator, DEMO_SECRET_ACCESS_KEY))
            .interceptor(Tamper)
            .build(),
    );
    let error = tampering.start_session().target("i-0a1b2c3d4e5f60001").send().await.unwrap_err();
    assert_eq!(code(&error), "InvalidSignatureException");
    assert!(emulator.service().sessions().is_empty(), "nothing was started");

    let wrong_secret = aws_sdk_ssm::Client::new(&sdk_config(&emulator, "not-the-secret"));
    assert_eq!(
        code(&wrong_secret.describe_instance_information().send().await.unwrap_err()),
        "InvalidSignatureException"
    );

    let stranger = far_side(&emulator, "AKIASTRANGER", "x").0;
    let error = aws_sdk_ssm::Client::new(&stranger)
        .describe_instance_information()
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&error), "UnrecognizedClientException");
}

#[tokio::test]
async fn documents_are_listed_and_described_with_their_parameters() {
    let mut fleet = Fleet::default_fleet();
    fleet.documents.push(ssm_emulator::fleet::DocumentSpec {
        name: "Team-Postgres".into(),
        content: r#"{"schemaVersion":"1.0","sessionType":"Port","parameters":{"portNumber":{"type":"String","default":"5432"}},"properties":{"portNumber":"{{ portNumber }}","type":"LocalPortForwarding","localPortNumber":"0"}}"#.into(),
    });
    let emulator =
        Emulator::start(EmulatorConfig { fleet, paced: false, ..EmulatorConfig::default() })
            .await
            .unwrap();
    let client = ssm(&emulator);
    let mut names = Vec::new();
    let mut token = None;
    loop {
        let page = client
            .list_documents()
            .filters(
                aws_sdk_ssm::types::DocumentKeyValuesFilter::builder()
                    .key("DocumentType")
                    .values("Session")
                    .build(),
            )
            .max_results(4)
            .set_next_token(token)
            .send()
            .await
            .unwrap();
        names
            .extend(page.document_identifiers().iter().filter_map(|d| d.name().map(str::to_owned)));
        token = page.next_token().map(str::to_owned);
        if token.is_none() {
            break;
        }
    }
    for name in [
        "SSM-SessionManagerRunShell",
        "AWS-StartPortForwardingSession",
        "AWS-StartPortForwardingSessionToRemoteHost",
        "AWS-StartSSHSession",
        "AWS-StartInteractiveCommand",
        "AWS-StartNonInteractiveCommand",
        "Team-Postgres",
    ] {
        assert!(names.iter().any(|n| n == name), "{name} missing from {names:?}");
    }
    let described = client
        .describe_document()
        .name("AWS-StartPortForwardingSessionToRemoteHost")
        .send()
        .await
        .unwrap();
    let parameters = described.document().unwrap().parameters();
    let host = parameters.iter().find(|p| p.name() == Some("host")).unwrap();
    assert_eq!(host.default_value(), None, "host is required");
    let port = parameters.iter().find(|p| p.name() == Some("portNumber")).unwrap();
    assert_eq!(port.default_value(), Some("80"));
    let custom = client.describe_document().name("Team-Postgres").send().await.unwrap();
    assert_eq!(custom.document().unwrap().parameters()[0].default_value(), Some("5432"));
    let missing = client.describe_document().name("Nope").send().await.unwrap_err();
    assert_eq!(code(&missing), "InvalidDocument");
}

/// ResumeSession through the SDK, for the driver.
struct SdkResume(aws_sdk_ssm::Client);

impl Resume for SdkResume {
    fn resume<'a>(&'a mut self, session_id: &'a str) -> ResumeFuture<'a> {
        Box::pin(async move {
            let output = self
                .0
                .resume_session()
                .session_id(session_id)
                .send()
                .await
                .map_err(|e| format!("{e:?}"))?;
            Ok(output.token_value().map(str::to_owned))
        })
    }
}

async fn read_until(
    notices: &mut tokio::sync::mpsc::Receiver<Notice>,
    screen: &mut String,
    needle: &str,
) {
    while !screen.contains(needle) {
        match notices.recv().await {
            Some(Notice::Data(bytes)) => screen.push_str(&String::from_utf8_lossy(&bytes)),
            Some(Notice::Ended(ending)) => panic!("ended before {needle:?}: {ending:?}\n{screen}"),
            Some(_) => {}
            None => panic!("the driver stopped"),
        }
    }
}

#[tokio::test]
async fn a_session_from_start_session_to_terminate() {
    tokio::time::timeout(HANG_GUARD, async {
        let emulator = start(0).await;
        let client = ssm(&emulator);
        let status =
            client.get_connection_status().target("i-0a1b2c3d4e5f60001").send().await.unwrap();
        assert_eq!(status.status().map(|s| s.as_str()), Some("connected"));

        let started = client
            .start_session()
            .target("i-0a1b2c3d4e5f60001")
            .reason("checking the disk")
            .send()
            .await
            .unwrap();
        let endpoint = Endpoint {
            session_id: started.session_id().unwrap().to_owned(),
            stream_url: started.stream_url().unwrap().to_owned(),
            token: started.token_value().unwrap().to_owned(),
            target: "i-0a1b2c3d4e5f60001".into(),
        };
        assert!(
            endpoint.stream_url.starts_with(&format!(
                "wss://{}/v1/data-channel/{}",
                emulator.addr(),
                endpoint.session_id
            )),
            "over TLS, as the service answers"
        );
        let mut channel = datachannel::connect(
            endpoint.clone(),
            Box::new(SdkResume(client.clone())),
            driver(&emulator),
        )
        .await
        .unwrap();
        let mut screen = String::new();
        channel.commands.send(Command::Data(b"echo $((6*7))\n".to_vec())).await.unwrap();
        read_until(&mut channel.notices, &mut screen, "42").await;

        let active = client.describe_sessions().state(SessionState::Active).send().await.unwrap();
        let session = active
            .sessions()
            .iter()
            .find(|s| s.session_id() == Some(endpoint.session_id.as_str()))
            .unwrap();
        assert_eq!(session.status().map(|s| s.as_str()), Some("Connected"));
        assert_eq!(session.reason(), Some("checking the disk"));
        assert_eq!(session.target(), Some("i-0a1b2c3d4e5f60001"));

        // A new token from ResumeSession is what a reconnect uses; the old one stops working.
        let resumed =
            client.resume_session().session_id(&endpoint.session_id).send().await.unwrap();
        assert_ne!(resumed.token_value(), Some(endpoint.token.as_str()));

        client.terminate_session().session_id(&endpoint.session_id).send().await.unwrap();
        let ending = loop {
            match channel.notices.recv().await {
                Some(Notice::Ended(ending)) => break ending,
                Some(_) => {}
                None => panic!("no ending"),
            }
        };
        assert!(matches!(ending, Ending::Closed { .. }), "{ending:?}");
        let history = client.describe_sessions().state(SessionState::History).send().await.unwrap();
        let session = history
            .sessions()
            .iter()
            .find(|s| s.session_id() == Some(endpoint.session_id.as_str()))
            .unwrap();
        assert_eq!(session.status().map(|s| s.as_str()), Some("Terminated"));
        assert!(session.end_date().is_some());
        let gone = client.resume_session().session_id(&endpoint.session_id).send().await.unwrap();
        assert_eq!(gone.token_value(), None, "a terminated session cannot be resumed");
        let unknown =
            client.resume_session().session_id("demo-00000000000000000").send().await.unwrap_err();
        assert_eq!(code(&unknown), "DoesNotExistException");
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn the_data_channel_checks_tokens_and_signed_upgrades() {
    use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
    use tokio_tungstenite::tungstenite::http::{HeaderName, HeaderValue};

    let emulator = start(0).await;
    let client = ssm(&emulator);
    let network = far_side(&emulator, DEMO_ACCESS_KEY_ID, DEMO_SECRET_ACCESS_KEY).1;
    let started = client.start_session().target("i-0a1b2c3d4e5f60001").send().await.unwrap();
    let url = started.stream_url().unwrap().to_owned();
    let host = emulator.addr().to_string();

    let signed_headers = |secret: &str| {
        let identity = Credentials::new(DEMO_ACCESS_KEY_ID, secret, None, None, "test").into();
        let params = aws_sigv4::sign::v4::SigningParams::builder()
            .identity(&identity)
            .region("us-east-1")
            .name("ssmmessages")
            .time(std::time::SystemTime::now())
            .settings(SigningSettings::default())
            .build()
            .unwrap()
            .into();
        let https_url = url.replacen("wss://", "https://", 1);
        let signable = SignableRequest::new(
            "GET",
            https_url,
            [("host", host.as_str())].into_iter(),
            SignableBody::Bytes(b""),
        )
        .unwrap();
        let (instructions, _) = sign(signable, &params).unwrap().into_parts();
        instructions
            .headers()
            .map(|(name, value)| {
                (
                    HeaderName::from_bytes(name.as_bytes()).unwrap(),
                    HeaderValue::from_str(value).unwrap(),
                )
            })
            .collect::<Vec<_>>()
    };
    let refused = network.websocket(&url, signed_headers("wrong")).await.unwrap_err();
    assert!(
        refused.to_string().contains("HTTP 403"),
        "a wrongly signed upgrade is refused: {refused}"
    );

    // A correctly signed upgrade is accepted; then a wrong token closes the socket with a reason.
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    let mut socket = network.websocket(&url, signed_headers(DEMO_SECRET_ACCESS_KEY)).await.unwrap();
    let open = serde_json::json!({"MessageSchemaVersion": "1.0", "RequestId": "4d5e6f70-0000-4000-8000-000000000001", "TokenValue": "forged"});
    socket.send(Message::Text(open.to_string().into())).await.unwrap();
    let closing = loop {
        match socket.next().await {
            Some(Ok(Message::Close(frame))) => break frame,
            Some(Ok(_)) => {}
            other => panic!("expected a close frame, got {other:?}"),
        }
    };
    assert!(closing.unwrap().reason.contains("token"));
}

/// Uploads through a port-forwarding session of a paced emulator to a local sink, 1 MiB at a
/// time, at least `min_size` bytes and then until `enough` says so (or `max_size`), and checks
/// that every byte arrived in order.
async fn upload_through_paced_tunnel(
    client_paces: bool,
    min_size: usize,
    max_size: usize,
    enough: fn(&ssm_emulator::metrics::Snapshot) -> bool,
) -> ssm_emulator::metrics::Snapshot {
    use airlock_core::tunnel::Tunnel;
    use sha2::{Digest, Sha256};
    use ssm_protocol::handshake::SessionKind;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let emulator = Emulator::start(EmulatorConfig::default()).await.unwrap();
    let sink = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let sink_port = sink.local_addr().unwrap().port();
    let received = tokio::spawn(async move {
        let (mut stream, _) = sink.accept().await.unwrap();
        let mut hash = Sha256::new();
        let mut buf = vec![0u8; 64 * 1024];
        let mut total = 0;
        loop {
            let n = stream.read(&mut buf).await.unwrap();
            if n == 0 {
                break (total, hash.finalize().to_vec());
            }
            total += n;
            hash.update(&buf[..n]);
        }
    });
    let client = ssm(&emulator);
    let started = client
        .start_session()
        .target("i-0a1b2c3d4e5f60001")
        .document_name("AWS-StartPortForwardingSession")
        .parameters("portNumber", vec![sink_port.to_string()])
        .send()
        .await
        .unwrap();
    let endpoint = Endpoint {
        session_id: started.session_id().unwrap().to_owned(),
        stream_url: started.stream_url().unwrap().to_owned(),
        token: started.token_value().unwrap().to_owned(),
        target: "i-0a1b2c3d4e5f60001".into(),
    };
    let mut config = driver(&emulator);
    if !client_paces {
        config.message_rate = None;
    }
    let mut channel =
        datachannel::connect(endpoint, Box::new(SdkResume(client.clone())), config).await.unwrap();
    let port = loop {
        match channel.notices.recv().await {
            Some(Notice::Ready(airlock_core::datachannel::Ready {
                kind: SessionKind::Port(port),
                ..
            })) => break port,
            Some(Notice::Ended(ending)) => panic!("{ending:?}"),
            Some(_) => {}
            None => panic!("the driver stopped"),
        }
    };
    let tunnel =
        Tunnel::start(tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap(), channel, &port)
            .unwrap();
    let mut local = tokio::net::TcpStream::connect(tunnel.local_addr()).await.unwrap();
    let mut sent = Sha256::new();
    let mut size = 0;
    while size < min_size || (size < max_size && !enough(&emulator.metrics().snapshot())) {
        let chunk: Vec<u8> = (size..size + (1 << 20)).map(|i| (i * 31 % 251) as u8).collect();
        local.write_all(&chunk).await.unwrap();
        sent.update(&chunk);
        size += chunk.len();
    }
    local.shutdown().await.unwrap();
    let (total, digest) = received.await.unwrap();
    assert_eq!(total, size);
    assert_eq!(digest, sent.finalize().to_vec(), "every byte, in order");
    emulator.metrics().snapshot()
}

#[tokio::test]
async fn the_service_closes_a_client_that_stays_above_its_message_rate() {
    tokio::time::timeout(HANG_GUARD, async {
        // Without pacing, a loopback client sends far more than 1000 messages a second.
        let metrics =
            upload_through_paced_tunnel(false, 1 << 20, 1 << 30, |m| m.links_rate_limited > 0)
                .await;
        assert!(metrics.links_rate_limited >= 1, "{metrics:?}");
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn airlocks_token_bucket_keeps_under_the_service_limit() {
    tokio::time::timeout(HANG_GUARD, async {
        let metrics = upload_through_paced_tunnel(true, 3 << 20, 3 << 20, |_| true).await;
        assert_eq!(metrics.links_rate_limited, 0, "{metrics:?}");
        assert_eq!(metrics.links_killed, 0);
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn kms_generates_data_keys_that_decrypt_only_with_their_context() {
    use aws_sdk_kms::primitives::Blob;
    let mut fleet = Fleet::default_fleet();
    fleet.kms_keys.push(ssm_emulator::fleet::KmsKeySpec {
        id: "1234abcd-12ab-34cd-56ef-1234567890ab".into(),
        alias: Some("alias/sessions".into()),
        enabled: true,
    });
    fleet.credentials.push(ssm_emulator::fleet::KeyPair {
        access_key_id: "AKIANOKMS00000000001".into(),
        secret_access_key: "no-kms-secret".into(),
        user: "nokms".into(),
        deny: vec!["kms:GenerateDataKey".into()],
        run_as: None,
    });
    let emulator =
        Emulator::start(EmulatorConfig { fleet, ..EmulatorConfig::default() }).await.unwrap();
    let kms = aws_sdk_kms::Client::new(&sdk_config(&emulator, DEMO_SECRET_ACCESS_KEY));
    let context = |session: &str| {
        std::collections::HashMap::from([
            ("aws:ssm:SessionId".to_owned(), session.to_owned()),
            ("aws:ssm:TargetId".to_owned(), "i-0a1b2c3d4e5f60001".to_owned()),
        ])
    };
    let key = kms
        .generate_data_key()
        .key_id("alias/sessions")
        .number_of_bytes(64)
        .set_encryption_context(Some(context("s-1")))
        .send()
        .await
        .unwrap();
    let plaintext = key.plaintext().unwrap().as_ref().to_vec();
    assert_eq!(plaintext.len(), 64);
    assert_eq!(
        key.key_id(),
        Some("arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab")
    );
    let blob = key.ciphertext_blob().unwrap().clone();
    let decrypted = kms
        .decrypt()
        .ciphertext_blob(blob.clone())
        .set_encryption_context(Some(context("s-1")))
        .send()
        .await
        .unwrap();
    assert_eq!(decrypted.plaintext().unwrap().as_ref(), &plaintext[..]);
    let wrong = kms
        .decrypt()
        .ciphertext_blob(blob)
        .set_encryption_context(Some(context("s-2")))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&wrong), "InvalidCiphertextException", "another context, another key");
    let garbage =
        kms.decrypt().ciphertext_blob(Blob::new(b"not a blob".to_vec())).send().await.unwrap_err();
    assert_eq!(code(&garbage), "InvalidCiphertextException");
    let described = kms.describe_key().key_id("alias/sessions").send().await.unwrap();
    assert_eq!(described.key_metadata().map(|m| m.enabled()), Some(true));
    let missing = kms.describe_key().key_id("alias/none").send().await.unwrap_err();
    assert_eq!(code(&missing), "NotFoundException");

    let refused = far_side(&emulator, "AKIANOKMS00000000001", "no-kms-secret").0;
    let error = aws_sdk_kms::Client::new(&refused)
        .generate_data_key()
        .key_id("alias/sessions")
        .number_of_bytes(64)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&error), "AccessDeniedException", "the per-caller refusal");
}
