//! The node inventory: every managed node of a profile and region, from every page of
//! DescribeInstanceInformation, joined with DescribeInstances (in batches) for the Name tag,
//! the other tags and the instance state; on-premises (`mi-`) nodes get their tags from
//! ListTagsForResource. [`NodeFilter`] narrows the list by text, tag, platform and ping status
//! without another call, so thousands of nodes filter as fast as the user types.
//!
//! Only DescribeInstanceInformation is needed. Many Session Manager policies grant it without
//! `ec2:DescribeInstances` or `ssm:ListTagsForResource`; then every node is still listed (with
//! its computer name as its name) and the listing says once, in an [`InventoryGap`], what is
//! missing and which permission would add it.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::aws::{classify, Aws, AwsError, Call};
use crate::network::Network;

/// One managed node as Airlock shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Node {
    /// `i-…` or `mi-…`.
    pub id: String,
    /// The Name tag, else the computer name, else empty.
    pub name: String,
    /// Linux, Windows or MacOS.
    pub platform_type: String,
    /// e.g. "Amazon Linux", "Ubuntu".
    pub platform_name: String,
    /// Online, ConnectionLost or Inactive.
    pub ping_status: String,
    /// The SSM agent's version.
    pub agent_version: String,
    /// The address the agent reports, else the EC2 private address.
    pub ip_address: String,
    /// EC2 state (running, stopped, …); empty for on-premises nodes.
    pub state: String,
    /// All tags, Name included.
    pub tags: BTreeMap<String, String>,
}

impl Node {
    /// Whether the node is on premises (not an EC2 instance).
    pub fn is_on_premises(&self) -> bool {
        self.id.starts_with("mi-")
    }
}

/// The node list and what it could not include.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct NodeListing {
    /// Every managed node, sorted by name then id.
    pub nodes: Vec<Node>,
    /// Details that could not be fetched, each said once.
    pub gaps: Vec<InventoryGap>,
}

/// Details the listing lacks, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InventoryGap {
    /// The call's IAM action, for example `ec2:DescribeInstances`.
    pub permission: String,
    /// What that call adds to the list.
    pub adds: String,
    /// Whether the permission was refused (else the call failed another way).
    pub denied: bool,
    /// The service's words (or the failure's).
    pub detail: String,
}

impl std::fmt::Display for InventoryGap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.denied {
            write!(f, "The node list lacks {} because these credentials may not call {}; add {} to your IAM policy to see them.", self.adds, self.permission, self.permission)
        } else {
            write!(
                f,
                "The node list lacks {} because {} failed: {}",
                self.adds, self.permission, self.detail
            )
        }
    }
}

/// What DescribeInstances adds.
const EC2_ADDS: &str = "Name tags, other tags and instance states of EC2 instances (names show the computer name instead)";
/// What ListTagsForResource adds.
const TAGS_ADDS: &str = "the tags (and Name tags) of on-premises nodes";

impl InventoryGap {
    /// The gap a failed call leaves, or the error itself when the whole listing must stop
    /// (credentials that need refreshing or asking for).
    fn from_error(permission: &str, adds: &str, error: AwsError) -> Result<InventoryGap, AwsError> {
        match error {
            AwsError::AccessDenied { code, message, .. } => Ok(InventoryGap {
                permission: permission.into(),
                adds: adds.into(),
                denied: true,
                detail: format!("{code}: {message}"),
            }),
            error @ (AwsError::Expired(_) | AwsError::Credentials(_) | AwsError::Profile(_)) => {
                Err(error)
            }
            other => Ok(InventoryGap {
                permission: permission.into(),
                adds: adds.into(),
                denied: false,
                detail: other.to_string(),
            }),
        }
    }
}

/// Why a target does not name one node.
#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    /// The node list could not be read.
    #[error(transparent)]
    Aws(#[from] AwsError),
    /// No node has that name.
    #[error("no node is named {0:?}: give its id (i-… or mi-…) or a name from the node list")]
    NoSuchName(String),
    /// Several nodes have it.
    #[error("{} nodes are named {name:?} ({}): give the id of one", ids.len(), ids.join(", "))]
    Ambiguous {
        /// The name.
        name: String,
        /// The nodes that have it.
        ids: Vec<String>,
    },
}

/// Whether `target` is a node id (or an ARN) as StartSession takes it, rather than a name.
pub fn is_node_id(target: &str) -> bool {
    target.starts_with("i-") || target.starts_with("mi-") || target.contains(':')
}

/// How many instance ids go into one DescribeInstances call.
const EC2_BATCH: usize = 200;

/// DescribeInstances calls in flight at once.
const EC2_CONCURRENCY: usize = 4;

impl Aws {
    /// The node `target` names: an id (or ARN) as it is, else the one node whose name (its Name
    /// tag, or the computer name) it is. Every front end resolves saved and typed targets here,
    /// so a profile saved with a name starts wherever it is started.
    pub async fn resolve_target(&self, target: &str) -> Result<String, TargetError> {
        if is_node_id(target) {
            return Ok(target.to_owned());
        }
        let nodes = self.list_nodes().await?.nodes;
        let ids: Vec<String> =
            nodes.into_iter().filter(|n| n.name == target).map(|n| n.id).collect();
        match ids.as_slice() {
            [id] => Ok(id.clone()),
            [] => Err(TargetError::NoSuchName(target.to_owned())),
            _ => Err(TargetError::Ambiguous { name: target.to_owned(), ids }),
        }
    }

    /// Lists every managed node, with what could not be added to them.
    pub async fn list_nodes(&self) -> Result<NodeListing, AwsError> {
        self.refreshing(|| self.list_nodes_once()).await
    }

    async fn list_nodes_once(&self) -> Result<NodeListing, AwsError> {
        let mut nodes = Vec::new();
        let mut pages =
            self.ssm.describe_instance_information().max_results(50).into_paginator().send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| {
                classify(e, Call::new("ssm:DescribeInstanceInformation"), self.network())
            })?;
            for info in page.instance_information_list.unwrap_or_default() {
                let Some(id) = info.instance_id else { continue };
                nodes.push(Node {
                    name: info.computer_name.clone().unwrap_or_default(),
                    platform_type: info
                        .platform_type
                        .map(|p| p.as_str().to_owned())
                        .unwrap_or_default(),
                    platform_name: info.platform_name.unwrap_or_default(),
                    ping_status: info
                        .ping_status
                        .map(|p| p.as_str().to_owned())
                        .unwrap_or_default(),
                    agent_version: info.agent_version.unwrap_or_default(),
                    ip_address: info.ip_address.unwrap_or_default(),
                    state: String::new(),
                    tags: BTreeMap::new(),
                    id,
                });
            }
        }
        let mut gaps = Vec::new();
        if let Err(error) = self.add_ec2_details(&mut nodes).await {
            gaps.push(InventoryGap::from_error("ec2:DescribeInstances", EC2_ADDS, error)?);
        }
        if let Err(error) = self.add_on_premises_tags(&mut nodes).await {
            gaps.push(InventoryGap::from_error("ssm:ListTagsForResource", TAGS_ADDS, error)?);
        }
        nodes.sort_by(|a, b| {
            a.name.to_lowercase().cmp(&b.name.to_lowercase()).then_with(|| a.id.cmp(&b.id))
        });
        Ok(NodeListing { nodes, gaps })
    }

    async fn add_ec2_details(&self, nodes: &mut [Node]) -> Result<(), AwsError> {
        use futures_util::StreamExt;
        let ids: Vec<String> =
            nodes.iter().filter(|n| n.id.starts_with("i-")).map(|n| n.id.clone()).collect();
        // Batches go out a few at a time: 10,000 nodes are 50 calls, not 50 round trips in a row.
        // Each call owns its client and ids: a future borrowing `self` across the stream would
        // not be Send for every lifetime (rustc #102211), and the app needs it Send.
        let ec2 = self.ec2.clone();
        let network = self.network().clone();
        let batches: Vec<Vec<String>> = ids.chunks(EC2_BATCH).map(<[String]>::to_vec).collect();
        let batches = futures_util::stream::iter(
            batches
                .into_iter()
                .map(move |batch| describe_instances(ec2.clone(), network.clone(), batch)),
        )
        .buffer_unordered(EC2_CONCURRENCY)
        .collect::<Vec<_>>()
        .await;
        let mut details = BTreeMap::new();
        for batch in batches {
            details.extend(batch?);
        }
        for node in nodes.iter_mut() {
            let Some(instance) = details.get(&node.id) else { continue };
            for tag in instance.tags() {
                if let (Some(k), Some(v)) = (tag.key(), tag.value()) {
                    node.tags.insert(k.to_owned(), v.to_owned());
                }
            }
            if let Some(name) = node.tags.get("Name") {
                node.name = name.clone();
            }
            if let Some(state) = instance.state().and_then(|s| s.name()) {
                node.state = state.as_str().to_owned();
            }
            if node.ip_address.is_empty() {
                node.ip_address = instance.private_ip_address().unwrap_or_default().to_owned();
            }
        }
        Ok(())
    }

    /// Tags of on-premises nodes. The first refusal stops the calls: the same policy refuses
    /// them all, and the listing says so once.
    async fn add_on_premises_tags(&self, nodes: &mut [Node]) -> Result<(), AwsError> {
        for node in nodes.iter_mut().filter(|n| n.is_on_premises()) {
            let output = self
                .ssm
                .list_tags_for_resource()
                .resource_type(aws_sdk_ssm::types::ResourceTypeForTagging::ManagedInstance)
                .resource_id(&node.id)
                .send()
                .await
                .map_err(|e| {
                    classify(
                        e,
                        Call { action: "ssm:ListTagsForResource", target: &node.id, document: "" },
                        self.network(),
                    )
                })?;
            for tag in output.tag_list.unwrap_or_default() {
                node.tags.insert(tag.key, tag.value);
            }
            if let Some(name) = node.tags.get("Name") {
                node.name = name.clone();
            }
        }
        Ok(())
    }
}

async fn describe_instances(
    ec2: aws_sdk_ec2::Client,
    network: Network,
    ids: Vec<String>,
) -> Result<Vec<(String, aws_sdk_ec2::types::Instance)>, AwsError> {
    let mut found = Vec::new();
    let mut pages = ec2
        .describe_instances()
        .filters(
            aws_sdk_ec2::types::Filter::builder().name("instance-id").set_values(Some(ids)).build(),
        )
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| classify(e, Call::new("ec2:DescribeInstances"), &network))?;
        for reservation in page.reservations.unwrap_or_default() {
            for instance in reservation.instances.unwrap_or_default() {
                if let Some(id) = instance.instance_id.clone() {
                    found.push((id, instance));
                }
            }
        }
    }
    Ok(found)
}

/// A filter over the node list. Empty fields match everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NodeFilter {
    /// Words that must each appear (case-insensitive) in the name, id, IP, platform or a tag.
    pub text: String,
    /// Tags that must be present: `key` alone, or `key=value`.
    pub tags: Vec<(String, Option<String>)>,
    /// Platform type (Linux, Windows, MacOS), case-insensitive.
    pub platform: Option<String>,
    /// Ping status (Online, ConnectionLost, Inactive), case-insensitive.
    pub ping_status: Option<String>,
}

impl NodeFilter {
    /// Parses `key` or `key=value`.
    pub fn parse_tag(spec: &str) -> (String, Option<String>) {
        match spec.split_once('=') {
            Some((k, v)) => (k.trim().to_owned(), Some(v.trim().to_owned())),
            None => (spec.trim().to_owned(), None),
        }
    }

    /// Whether `node` passes.
    pub fn matches(&self, node: &Node) -> bool {
        let eq = |a: &str, b: &str| a.eq_ignore_ascii_case(b);
        if self.platform.as_deref().is_some_and(|p| !eq(p, &node.platform_type)) {
            return false;
        }
        if self.ping_status.as_deref().is_some_and(|p| !eq(p, &node.ping_status)) {
            return false;
        }
        for (key, value) in &self.tags {
            match (node.tags.get(key), value) {
                (None, _) => return false,
                (Some(actual), Some(wanted)) if !eq(actual, wanted) => return false,
                _ => {}
            }
        }
        self.text.split_whitespace().all(|word| {
            let word = word.to_lowercase();
            let fields =
                [&node.name, &node.id, &node.ip_address, &node.platform_name, &node.platform_type];
            fields.iter().any(|f| f.to_lowercase().contains(&word))
                || node.tags.iter().any(|(k, v)| {
                    k.to_lowercase().contains(&word) || v.to_lowercase().contains(&word)
                })
        })
    }

    /// The nodes that pass, in order.
    pub fn apply<'a>(&'a self, nodes: &'a [Node]) -> impl Iterator<Item = &'a Node> + 'a {
        nodes.iter().filter(move |n| self.matches(n))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(id: &str, name: &str, platform: &str, ping: &str, tags: &[(&str, &str)]) -> Node {
        Node {
            id: id.into(),
            name: name.into(),
            platform_type: platform.into(),
            platform_name: "Ubuntu".into(),
            ping_status: ping.into(),
            agent_version: "3.3.1142.0".into(),
            ip_address: "10.0.0.1".into(),
            state: "running".into(),
            tags: tags.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        }
    }

    #[test]
    fn every_field_of_the_filter_narrows() {
        let nodes = vec![
            node("i-1", "web-1", "Linux", "Online", &[("env", "prod")]),
            node("i-2", "db-1", "Linux", "ConnectionLost", &[("env", "prod"), ("team", "data")]),
            node("mi-3", "build", "Windows", "Online", &[("env", "dev")]),
        ];
        let ids = |f: &NodeFilter| f.apply(&nodes).map(|n| n.id.clone()).collect::<Vec<_>>();
        assert_eq!(ids(&NodeFilter::default()).len(), 3);
        assert_eq!(ids(&NodeFilter { text: "WEB".into(), ..Default::default() }), ["i-1"]);
        assert_eq!(
            ids(&NodeFilter { text: "prod db".into(), ..Default::default() }),
            ["i-2"],
            "every word must match"
        );
        assert_eq!(
            ids(&NodeFilter { platform: Some("windows".into()), ..Default::default() }),
            ["mi-3"]
        );
        assert_eq!(
            ids(&NodeFilter { ping_status: Some("online".into()), ..Default::default() }),
            ["i-1", "mi-3"]
        );
        assert_eq!(
            ids(&NodeFilter { tags: vec![NodeFilter::parse_tag("team")], ..Default::default() }),
            ["i-2"]
        );
        assert_eq!(
            ids(&NodeFilter {
                tags: vec![NodeFilter::parse_tag("env=prod")],
                ..Default::default()
            }),
            ["i-1", "i-2"]
        );
    }
}
