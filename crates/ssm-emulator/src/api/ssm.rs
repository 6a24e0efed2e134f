//! The SSM JSON 1.1 API (`X-Amz-Target: AmazonSSM.<Operation>`): the operations Session
//! Manager clients use, with the request validation and error types the service has.

use std::collections::HashMap;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

use crate::documents::Document;
use crate::fleet::NodeSpec;
use crate::service::{ApiError, Service, SessionRecord};
use crate::sigv4::Caller;

/// Runs `operation` with its JSON `body`; `host` is where the client reached us.
pub fn call(
    service: &Service,
    caller: &Caller,
    operation: &str,
    body: &[u8],
    host: &str,
) -> Result<Value, ApiError> {
    let request: Value = if body.is_empty() {
        json!({})
    } else {
        serde_json::from_slice(body).map_err(|e| {
            ApiError::client("SerializationException", format!("the request body is not JSON: {e}"))
        })?
    };
    let request = Request(&request);
    let resource = match operation {
        "ListTagsForResource" => request.0.get("ResourceId").and_then(Value::as_str).map(|id| {
            format!("arn:aws:ssm:{}:{}:managed-instance/{id}", service.region(), service.account())
        }),
        "StartSession" => request.0.get("Target").and_then(Value::as_str).map(|id| {
            format!("arn:aws:ec2:{}:{}:instance/{id}", service.region(), service.account())
        }),
        _ => None,
    };
    service.authorize(caller, &format!("ssm:{operation}"), resource.as_deref())?;
    match operation {
        "StartSession" => start_session(service, caller, &request, host),
        "ResumeSession" => {
            let id = request.required_str("SessionId")?;
            Ok(match service.resume_session(id, host)? {
                Some(grant) => {
                    json!({"SessionId": grant.session_id, "TokenValue": grant.token, "StreamUrl": grant.stream_url})
                }
                None => json!({"SessionId": id}),
            })
        }
        "TerminateSession" => {
            let id = request.required_str("SessionId")?;
            service.terminate_session(id);
            Ok(json!({"SessionId": id}))
        }
        "DescribeSessions" => describe_sessions(service, &request),
        "GetConnectionStatus" => {
            let target = request.required_str("Target")?;
            let online =
                service.nodes().iter().any(|n| n.id == target && n.ping_status == "Online");
            Ok(
                json!({"Target": target, "Status": if online { "connected" } else { "notconnected" }}),
            )
        }
        "DescribeInstanceInformation" => describe_instance_information(service, &request),
        "ListTagsForResource" => list_tags(service, &request),
        "DescribeDocument" => {
            let document = find_document(service, request.required_str("Name")?)?;
            Ok(json!({"Document": describe_document(service, document)}))
        }
        "GetDocument" => {
            let document = find_document(service, request.required_str("Name")?)?;
            Ok(
                json!({"Name": document.name, "Content": document.content, "DocumentType": "Session", "DocumentFormat": "JSON",
                      "Status": "Active", "DocumentVersion": "1", "CreatedDate": epoch(UNIX_EPOCH)}),
            )
        }
        "ListDocuments" => list_documents(service, &request),
        other => Err(ApiError::client(
            "UnknownOperationException",
            format!("the emulator does not implement AmazonSSM.{other}"),
        )),
    }
}

/// Typed access to a request's members.
struct Request<'a>(&'a Value);

impl Request<'_> {
    fn get(&self, key: &str) -> Option<&Value> {
        self.0.get(key).filter(|v| !v.is_null())
    }

    fn str(&self, key: &str) -> Result<Option<&str>, ApiError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => {
                Err(ApiError::client("SerializationException", format!("{key} must be a string")))
            }
        }
    }

    fn required_str(&self, key: &str) -> Result<&str, ApiError> {
        self.str(key)?.filter(|s| !s.is_empty()).ok_or_else(|| {
            validation(&format!(
                "Value null at '{}' failed to satisfy constraint: Member must not be null",
                lower_first(key)
            ))
        })
    }

    /// MaxResults within `min..=max`, or `default`.
    fn max_results(&self, min: u64, max: u64, default: u64) -> Result<usize, ApiError> {
        match self.get("MaxResults") {
            None => Ok(default as usize),
            Some(value) => {
                let n = value.as_u64().ok_or_else(|| {
                    ApiError::client("SerializationException", "MaxResults must be an integer")
                })?;
                if n < min || n > max {
                    return Err(validation(&format!("Value '{n}' at 'maxResults' failed to satisfy constraint: Member must have value between {min} and {max}")));
                }
                Ok(n as usize)
            }
        }
    }

    /// The offset a NextToken stands for.
    fn offset(&self) -> Result<usize, ApiError> {
        match self.str("NextToken")? {
            None => Ok(0),
            Some(token) => parse_token(token).ok_or_else(|| {
                ApiError::client("InvalidNextToken", "The specified token is not valid.")
            }),
        }
    }
}

fn validation(detail: &str) -> ApiError {
    ApiError::client("ValidationException", format!("1 validation error detected: {detail}"))
}

fn lower_first(key: &str) -> String {
    let mut chars = key.chars();
    chars.next().map(|c| c.to_ascii_lowercase().to_string() + chars.as_str()).unwrap_or_default()
}

/// Page tokens are opaque to clients; here they carry the offset of the next item.
fn page_token(offset: usize) -> String {
    format!("AAEAA{offset:08x}")
}

fn parse_token(token: &str) -> Option<usize> {
    usize::from_str_radix(token.strip_prefix("AAEAA")?, 16).ok()
}

/// One page of `items` and the token for the next.
fn page<T: Clone>(items: &[T], offset: usize, size: usize) -> (Vec<T>, Option<String>) {
    let end = (offset + size).min(items.len());
    let slice = items.get(offset..end).unwrap_or_default().to_vec();
    (slice, (end < items.len()).then(|| page_token(end)))
}

fn epoch(time: SystemTime) -> f64 {
    time.duration_since(UNIX_EPOCH).map_or(0.0, |d| d.as_millis() as f64 / 1000.0)
}

fn start_session(
    service: &Service,
    caller: &Caller,
    request: &Request<'_>,
    host: &str,
) -> Result<Value, ApiError> {
    let target = request.required_str("Target")?;
    let document = request.str("DocumentName")?;
    if let Some(name) = document {
        let ok = (3..=128).contains(&name.len())
            && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"_-.:/".contains(&b));
        if !ok {
            return Err(validation(&format!("Value '{name}' at 'documentName' failed to satisfy constraint: Member must satisfy regular expression pattern: ^[a-zA-Z0-9_\\-.:/]{{3,128}}$")));
        }
    }
    let mut parameters = HashMap::new();
    if let Some(given) = request.get("Parameters") {
        let given = given.as_object().ok_or_else(|| {
            ApiError::client("SerializationException", "Parameters must be a map of string lists")
        })?;
        for (key, values) in given {
            let list = values
                .as_array()
                .and_then(|vs| {
                    vs.iter().map(|v| v.as_str().map(str::to_owned)).collect::<Option<Vec<_>>>()
                })
                .ok_or_else(|| {
                    ApiError::client(
                        "SerializationException",
                        format!("Parameters.{key} must be a list of strings"),
                    )
                })?;
            parameters.insert(key.clone(), list);
        }
    }
    let reason = request.str("Reason")?.map(str::to_owned);
    let grant = service.start_session(caller, target, document, &parameters, reason, host)?;
    Ok(
        json!({"SessionId": grant.session_id, "TokenValue": grant.token, "StreamUrl": grant.stream_url}),
    )
}

fn describe_sessions(service: &Service, request: &Request<'_>) -> Result<Value, ApiError> {
    let state = request.required_str("State")?;
    let active = match state {
        "Active" => true,
        "History" => false,
        other => return Err(validation(&format!("Value '{other}' at 'state' failed to satisfy constraint: Member must satisfy enum value set: [Active, History]"))),
    };
    let size = request.max_results(1, 200, 200)?;
    let offset = request.offset()?;
    let mut filters = Vec::new();
    if let Some(list) = request.get("Filters").and_then(Value::as_array) {
        for filter in list {
            let key = filter.get("key").and_then(Value::as_str).unwrap_or_default();
            let value = filter.get("value").and_then(Value::as_str).unwrap_or_default().to_owned();
            if !["InvokedAfter", "InvokedBefore", "Target", "Owner", "Status", "SessionId"]
                .contains(&key)
            {
                return Err(ApiError::client(
                    "InvalidFilterKey",
                    format!("The filter key {key} is not valid."),
                ));
            }
            filters.push((key.to_owned(), value));
        }
    }
    let mut sessions: Vec<SessionRecord> = service
        .sessions()
        .into_iter()
        .filter(|s| s.status.is_active() == active)
        .filter(|s| {
            filters.iter().all(|(key, value)| match key.as_str() {
                "Target" => &s.target == value,
                "Owner" => &s.owner == value,
                "Status" => s.status.as_str() == value,
                "SessionId" => &s.id == value,
                "InvokedAfter" => parse_time(value).is_none_or(|t| s.start >= t),
                _ => parse_time(value).is_none_or(|t| s.start <= t),
            })
        })
        .collect();
    sessions.reverse(); // newest first
    let (items, next) = page(&sessions, offset, size);
    let items: Vec<Value> = items
        .iter()
        .map(|s| {
            let mut item = json!({"SessionId": s.id, "Target": s.target, "Status": s.status.as_str(), "StartDate": epoch(s.start),
                                  "DocumentName": s.document, "Owner": s.owner, "MaxSessionDuration": "1440"});
            if let Some(end) = s.end {
                item["EndDate"] = json!(epoch(end));
            }
            if let Some(reason) = &s.reason {
                item["Reason"] = json!(reason);
            }
            if let Some(details) = &s.details {
                item["Details"] = json!(details);
            }
            item
        })
        .collect();
    Ok(with_token(json!({"Sessions": items}), next))
}

fn parse_time(text: &str) -> Option<SystemTime> {
    let time =
        aws_smithy_types::DateTime::from_str(text, aws_smithy_types::date_time::Format::DateTime)
            .ok()?;
    SystemTime::try_from(time).ok()
}

fn with_token(mut value: Value, next: Option<String>) -> Value {
    if let Some(token) = next {
        value["NextToken"] = json!(token);
    }
    value
}

/// A node-side filter: a key and the values any of which may match.
type NodeFilter = (String, Vec<String>);

fn node_filters(request: &Request<'_>) -> Result<Vec<NodeFilter>, ApiError> {
    let mut filters = Vec::new();
    if let Some(list) = request.get("Filters").and_then(Value::as_array) {
        for filter in list {
            let key = filter.get("Key").and_then(Value::as_str).unwrap_or_default();
            let values: Vec<String> = filter
                .get("Values")
                .and_then(Value::as_array)
                .map(|v| v.iter().filter_map(|x| x.as_str().map(str::to_owned)).collect())
                .unwrap_or_default();
            let known = [
                "InstanceIds",
                "AgentVersion",
                "PingStatus",
                "PlatformTypes",
                "ResourceType",
                "SourceIds",
                "SourceTypes",
                "AssociationStatus",
                "IamRole",
                "ActivationIds",
                "tag-key",
            ];
            if !(known.contains(&key) || key.strip_prefix("tag:").is_some_and(|t| !t.is_empty())) {
                return Err(ApiError::client(
                    "InvalidFilterKey",
                    format!("The filter key {key} is not valid."),
                ));
            }
            if values.is_empty() || values.len() > 100 {
                return Err(ApiError::client(
                    "InvalidInstanceInformationFilterValue",
                    format!("The filter {key} needs 1 to 100 values."),
                ));
            }
            filters.push((key.to_owned(), values));
        }
    }
    if let Some(list) = request.get("InstanceInformationFilterList").and_then(Value::as_array) {
        for filter in list {
            let key = filter.get("key").and_then(Value::as_str).unwrap_or_default();
            let values: Vec<String> = filter
                .get("valueSet")
                .and_then(Value::as_array)
                .map(|v| v.iter().filter_map(|x| x.as_str().map(str::to_owned)).collect())
                .unwrap_or_default();
            if ![
                "InstanceIds",
                "AgentVersion",
                "PingStatus",
                "PlatformTypes",
                "ActivationIds",
                "IamRole",
                "ResourceType",
                "AssociationStatus",
            ]
            .contains(&key)
            {
                return Err(ApiError::client(
                    "InvalidFilterKey",
                    format!("The filter key {key} is not valid."),
                ));
            }
            filters.push((key.to_owned(), values));
        }
    }
    Ok(filters)
}

fn resource_type(node: &NodeSpec) -> &'static str {
    if node.id.starts_with("mi-") {
        "ManagedInstance"
    } else {
        "EC2Instance"
    }
}

fn node_matches(node: &NodeSpec, (key, values): &NodeFilter) -> bool {
    let any = |field: &str| values.iter().any(|v| v == field);
    match key.as_str() {
        "InstanceIds" | "SourceIds" => any(&node.id),
        "AgentVersion" => any(&node.agent_version),
        "PingStatus" => any(&node.ping_status),
        "PlatformTypes" => any(&node.platform),
        "ResourceType" => any(resource_type(node)),
        "SourceTypes" => any(if node.id.starts_with("mi-") {
            "AWS::SSM::ManagedInstance"
        } else {
            "AWS::EC2::Instance"
        }),
        "AssociationStatus" | "IamRole" | "ActivationIds" => false,
        "tag-key" => values.iter().any(|v| v == "Name" || node.tags.contains_key(v)),
        tag => {
            let name = tag.trim_start_matches("tag:");
            let value = if name == "Name" { Some(&node.name) } else { node.tags.get(name) };
            value.is_some_and(|v| any(v))
        }
    }
}

fn describe_instance_information(
    service: &Service,
    request: &Request<'_>,
) -> Result<Value, ApiError> {
    let size = request.max_results(5, 50, 10)?;
    let offset = request.offset()?;
    let filters = node_filters(request)?;
    let nodes: Vec<&NodeSpec> =
        service.nodes().iter().filter(|n| filters.iter().all(|f| node_matches(n, f))).collect();
    let (items, next) = page(&nodes, offset, size);
    let ping = epoch(SystemTime::now());
    let items: Vec<Value> = items
        .iter()
        .map(|n| {
            let managed = n.id.starts_with("mi-");
            let mut item = json!({
                "InstanceId": n.id, "PingStatus": n.ping_status, "LastPingDateTime": ping, "AgentVersion": n.agent_version,
                "IsLatestVersion": n.agent_version == "3.3.1142.0", "PlatformType": n.platform, "PlatformName": n.platform_name,
                "PlatformVersion": n.platform_version, "ResourceType": resource_type(n), "IPAddress": n.ip,
                "ComputerName": if managed { n.name.clone() } else { format!("ip-{}.ec2.internal", n.ip.replace('.', "-")) },
                "SourceId": n.id, "SourceType": if managed { "AWS::SSM::ManagedInstance" } else { "AWS::EC2::Instance" },
            });
            if managed {
                item["Name"] = json!(n.name);
                item["RegistrationDate"] = json!(epoch(UNIX_EPOCH + std::time::Duration::from_secs(1_750_000_000)));
                item["IamRole"] = json!("SSMServiceRole");
            }
            item
        })
        .collect();
    Ok(with_token(json!({"InstanceInformationList": items}), next))
}

fn list_tags(service: &Service, request: &Request<'_>) -> Result<Value, ApiError> {
    let kind = request.required_str("ResourceType")?;
    let id = request.required_str("ResourceId")?;
    let invalid = || {
        ApiError::client(
            "InvalidResourceId",
            format!("The resource ID \"{id}\" is not valid. Verify the ID and try again."),
        )
    };
    match kind {
        "ManagedInstance" => {
            let node = service
                .nodes()
                .iter()
                .find(|n| n.id == id && n.id.starts_with("mi-"))
                .ok_or_else(invalid)?;
            let mut tags = vec![json!({"Key": "Name", "Value": node.name})];
            tags.extend(node.tags.iter().map(|(k, v)| json!({"Key": k, "Value": v})));
            Ok(json!({"TagList": tags}))
        }
        "Document" => {
            service.document(id).ok_or_else(invalid)?;
            Ok(json!({"TagList": []}))
        }
        other => Err(ApiError::client(
            "InvalidResourceType",
            format!("The resource type {other} is not valid here."),
        )),
    }
}

fn find_document<'a>(service: &'a Service, name: &str) -> Result<&'a Document, ApiError> {
    service.document(name).ok_or_else(|| {
        ApiError::client("InvalidDocument", format!("Document with name {name} does not exist."))
    })
}

fn describe_document(service: &Service, document: &Document) -> Value {
    let parameters: Vec<Value> = document
        .parameters
        .iter()
        .map(|p| {
            let mut item = json!({"Name": p.name, "Type": p.kind, "Description": p.description});
            if let Some(default) = &p.default {
                item["DefaultValue"] = json!(default);
            }
            item
        })
        .collect();
    json!({
        "Name": document.name, "Owner": document.owner, "Description": document.description, "DocumentType": "Session",
        "DocumentFormat": "JSON", "SchemaVersion": "1.0", "Status": "Active", "DocumentVersion": "1", "LatestVersion": "1",
        "DefaultVersion": "1", "PlatformTypes": ["Windows", "Linux", "MacOS"], "Parameters": parameters,
        "CreatedDate": epoch(UNIX_EPOCH), "Hash": "", "HashType": "Sha256",
        "DocumentOwner": if document.owner == "Amazon" { "Amazon" } else { service.account() },
    })
}

fn list_documents(service: &Service, request: &Request<'_>) -> Result<Value, ApiError> {
    let size = request.max_results(1, 50, 50)?;
    let offset = request.offset()?;
    let mut filters: Vec<(String, Vec<String>)> = Vec::new();
    if let Some(list) = request.get("Filters").and_then(Value::as_array) {
        for filter in list {
            let key = filter.get("Key").and_then(Value::as_str).unwrap_or_default().to_owned();
            let values = filter
                .get("Values")
                .and_then(Value::as_array)
                .map(|v| v.iter().filter_map(|x| x.as_str().map(str::to_owned)).collect())
                .unwrap_or_default();
            filters.push((key, values));
        }
    }
    if let Some(list) = request.get("DocumentFilterList").and_then(Value::as_array) {
        for filter in list {
            let key = filter.get("key").and_then(Value::as_str).unwrap_or_default().to_owned();
            let value = filter.get("value").and_then(Value::as_str).unwrap_or_default().to_owned();
            filters.push((key, vec![value]));
        }
    }
    for (key, _) in &filters {
        if !["DocumentType", "Owner", "Name", "PlatformTypes", "SearchKeyword"]
            .contains(&key.as_str())
            && !key.starts_with("tag:")
        {
            return Err(ApiError::client(
                "InvalidFilterKey",
                format!("The filter key {key} is not valid."),
            ));
        }
    }
    let matches = |d: &Document| {
        filters.iter().all(|(key, values)| {
            values.iter().any(|v| match key.as_str() {
                "DocumentType" => v == "Session",
                "Owner" => match v.as_str() {
                    "Amazon" => d.owner == "Amazon",
                    "Self" | "Private" => d.owner != "Amazon",
                    _ => true,
                },
                "Name" => d.name.starts_with(v.as_str()),
                "SearchKeyword" => d.name.to_lowercase().contains(&v.to_lowercase()),
                "PlatformTypes" => ["Windows", "Linux", "MacOS"].contains(&v.as_str()),
                _ => false,
            })
        })
    };
    let documents: Vec<&Document> = service.documents().iter().filter(|d| matches(d)).collect();
    let (items, next) = page(&documents, offset, size);
    let items: Vec<Value> = items
        .iter()
        .map(|d| {
            json!({"Name": d.name, "Owner": d.owner, "DocumentType": "Session", "DocumentFormat": "JSON", "SchemaVersion": "1.0",
                   "DocumentVersion": "1", "PlatformTypes": ["Windows", "Linux", "MacOS"], "CreatedDate": epoch(UNIX_EPOCH)})
        })
        .collect();
    Ok(with_token(json!({"DocumentIdentifiers": items}), next))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_tokens_round_trip_and_strangers_are_refused() {
        assert_eq!(parse_token(&page_token(12345)), Some(12345));
        assert_eq!(parse_token("garbage"), None);
        let (items, next) = page(&[1, 2, 3, 4, 5], 0, 2);
        assert_eq!(items, vec![1, 2]);
        let (items, next) = page(&[1, 2, 3, 4, 5], parse_token(&next.unwrap()).unwrap(), 2);
        assert_eq!(items, vec![3, 4]);
        let (items, last) = page(&[1, 2, 3, 4, 5], parse_token(&next.unwrap()).unwrap(), 2);
        assert_eq!((items, last), (vec![5], None));
    }
}
