//! The node list and the Session documents.

use airlock_core::documents::{DocumentDetails, SessionDocument};
use airlock_core::inventory::{Node, NodeListing};
use serde::Serialize;
use tauri::State;

use crate::error::UiError;
use crate::state::AppState;

#[derive(Debug, Serialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
#[ts(rename = "ManagedNode")]
pub struct NodeDto {
    id: String,
    name: String,
    platform_type: String,
    platform_name: String,
    ping_status: String,
    agent_version: String,
    ip_address: String,
    state: String,
    tags: std::collections::BTreeMap<String, String>,
}

impl From<Node> for NodeDto {
    fn from(n: Node) -> Self {
        NodeDto {
            id: n.id,
            name: n.name,
            platform_type: n.platform_type,
            platform_name: n.platform_name,
            ping_status: n.ping_status,
            agent_version: n.agent_version,
            ip_address: n.ip_address,
            state: n.state,
            tags: n.tags,
        }
    }
}

/// The nodes, and in words what the list lacks (permissions the credentials do not have).
#[derive(Debug, Serialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
#[ts(rename = "NodeListing")]
pub struct NodeListingDto {
    nodes: Vec<NodeDto>,
    notices: Vec<String>,
}

impl From<NodeListing> for NodeListingDto {
    fn from(listing: NodeListing) -> Self {
        NodeListingDto {
            notices: listing.gaps.iter().map(ToString::to_string).collect(),
            nodes: listing.nodes.into_iter().map(NodeDto::from).collect(),
        }
    }
}

#[tauri::command]
#[tracing::instrument(skip_all, err)]
pub async fn list_nodes(state: State<'_, AppState>) -> Result<NodeListingDto, UiError> {
    Ok(state.place()?.aws.list_nodes().await?.into())
}

#[tauri::command]
#[tracing::instrument(skip_all, err)]
pub async fn list_documents(state: State<'_, AppState>) -> Result<Vec<SessionDocument>, UiError> {
    Ok(state.place()?.aws.list_session_documents().await?)
}

#[tauri::command]
#[tracing::instrument(skip(state), err)]
pub async fn document_details(
    state: State<'_, AppState>,
    name: String,
) -> Result<DocumentDetails, UiError> {
    Ok(state.place()?.aws.document_details(&name).await?)
}
